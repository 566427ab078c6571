"""metric_observation.account_id: on PostgreSQL, the foreign key to account.id replaced by statement-level triggers

The foreign key checked every inserted row on its own (a trigger call and an index probe per row): 60-70 % of a
first import's write (issue 24). The triggers check once per statement, once per distinct account, and keep what
the key guaranteed:
- an insert, or an update that moves rows to another account, is refused while a row's account does not exist, with
  the key's SQLSTATE 23503 (foreign_key_violation), constraint name and words: psycopg raises ForeignKeyViolation,
  SQLAlchemy IntegrityError, as before;
- the accounts a statement writes rows for are locked `FOR KEY SHARE` (in id order) until its transaction ends, as
  the key's check did: an account delete (or a change of its id) begun after waits for the writer and then deletes
  its rows too; one begun before makes the writer wait and then fail. No observation outlives its account.
- deleting accounts deletes their observations (ON DELETE CASCADE), at the end of the statement as the key did;
  changing an account id that has observations is refused (the key's NO ACTION); TRUNCATE account (which needs
  CASCADE for the other tables' keys) empties metric_observation too.
Like the key's own triggers they do not fire for a session in replica mode (a bulk load that skips key checks,
logical replication applying the publisher's own cascade). The cascade reads the rows it deletes with a statement's
snapshot: at READ COMMITTED (the default, all the bot uses) that includes rows committed by the writer it waited
for; a REPEATABLE READ or SERIALIZABLE transaction deleting accounts while another imports their metrics could miss
those rows (the key rechecked with a newer snapshot, which PL/pgSQL cannot).

SQLite keeps the foreign key: nothing changes there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 22:40:00.000000
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

FK_NAME = "metric_observation_account_id_fkey"  # the name PostgreSQL gave the key (0001 left it unnamed)

# The key's refusal, word for word (RI_FKey_check's message and detail).
_REFUSE = (
    "RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',"
    f' MESSAGE = \'insert or update on table "metric_observation" violates foreign key constraint "{FK_NAME}"\','
    " DETAIL = format('Key (account_id)=(%s) is not present in table \"account\".', missing),"
    f" CONSTRAINT = '{FK_NAME}', TABLE = 'metric_observation', SCHEMA = TG_TABLE_SCHEMA;"
)

PG_FUNCTIONS = {
    # the accounts of the statement's rows: each distinct one locked once, any one missing refused
    "metric_observation_account_check": f"""
DECLARE
    ids integer[];
    locked integer;
    missing integer;
BEGIN
    SELECT array_agg(account_id) INTO ids FROM (SELECT DISTINCT account_id FROM new_rows) d;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM account a WHERE a.id = ANY (ids) ORDER BY a.id FOR KEY SHARE OF a
    ) l;
    IF locked < cardinality(ids) THEN
        SELECT min(i) INTO missing FROM unnest(ids) AS i WHERE NOT EXISTS (SELECT 1 FROM account WHERE id = i);
        {_REFUSE}
    END IF;
    RETURN NULL;
END""",
    # ON DELETE CASCADE
    "account_delete_observations": """
BEGIN
    DELETE FROM metric_observation WHERE account_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END""",
    # the key's ON UPDATE NO ACTION: an account's id does not change while it has observations
    "account_id_change_check": f"""
BEGIN
    IF EXISTS (SELECT 1 FROM metric_observation WHERE account_id = OLD.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'update or delete on table "account" violates foreign key constraint "{FK_NAME}"'
                || ' on table "metric_observation"',
            DETAIL = format('Key (id)=(%s) is still referenced from table "metric_observation".', OLD.id),
            CONSTRAINT = '{FK_NAME}', TABLE = 'metric_observation', SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    RETURN NULL;
END""",
    # TRUNCATE account ... CASCADE used to empty metric_observation as well
    "account_truncate_observations": """
BEGIN
    DELETE FROM metric_observation;
    RETURN NULL;
END""",
}

PG_TRIGGERS = (  # name, table, when, the function
    ("metric_observation_account_insert", "metric_observation",
     "AFTER INSERT ON metric_observation REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
     "metric_observation_account_check"),
    ("metric_observation_account_update", "metric_observation",
     "AFTER UPDATE ON metric_observation REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
     "metric_observation_account_check"),
    ("account_delete_observations", "account",
     "AFTER DELETE ON account REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
     "account_delete_observations"),
    ("account_id_change_check", "account",
     "AFTER UPDATE OF id ON account FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)",
     "account_id_change_check"),
    ("account_truncate_observations", "account",
     "AFTER TRUNCATE ON account FOR EACH STATEMENT",
     "account_truncate_observations"),
)  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, body in PG_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}\n$$")
    for trigger, _, when, function in PG_TRIGGERS:
        op.execute(f"CREATE TRIGGER {trigger} {when} EXECUTE FUNCTION {function}()")
    op.drop_constraint(FK_NAME, "metric_observation", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_foreign_key(FK_NAME, "metric_observation", "account", ["account_id"], ["id"], ondelete="CASCADE")
    for trigger, table, *_ in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    for name in PG_FUNCTIONS:
        op.execute(f"DROP FUNCTION {name}()")
