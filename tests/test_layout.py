"""The layout the README promises is the layout of the tree, and the layers import only downwards."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LAYOUT = README[README.index("## How the code is laid out") : README.index("## Benchmarks")]
FEATURES = sorted(p.name for p in (ROOT / "bot").iterdir() if p.is_dir() and (p / "__init__.py").exists())


def _row(folder: str) -> str:
    rows = [line for line in LAYOUT.splitlines() if line.startswith(f"| `{folder}/`")]
    assert len(rows) == 1, f"the README's layout table has no single row for {folder}/"
    return rows[0]


@pytest.mark.parametrize("package", FEATURES)
def test_every_package_of_bot_has_its_row_naming_exactly_its_modules(package: str) -> None:
    row = _row(f"bot/{package}")
    named = set(re.findall(r"`([a-z_]+\.(?:py|toml))`", row))
    on_disk = {p.name for p in (ROOT / "bot" / package).iterdir() if p.suffix in (".py", ".toml")} - {"__init__.py"}
    assert named == on_disk


def test_top_level_folders_have_rows() -> None:
    for folder in ("handlers", "jobs", "storage", "prompts", "tests", "bench"):
        _row(folder)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_scoring_has_no_slack_in_it() -> None:
    for path in _modules("bot/scoring"):
        slack = {
            i for i in _imports(path) if i.startswith(("slack", "bot.slack", "bot.health", "bot.home", "handlers"))
        }
        assert not slack, f"{path.relative_to(ROOT)} imports {slack}"


def test_storage_imports_nothing_of_ours_above_it() -> None:
    for path in _modules("storage"):
        ours = {i for i in _imports(path) if i.split(".")[0] in ("bot", "handlers", "jobs", "prompts")}
        assert not ours, f"{path.relative_to(ROOT)} imports {ours}"


def test_only_the_composition_roots_import_handlers_and_jobs() -> None:
    roots = {ROOT / "bot" / "app.py", ROOT / "bot" / "cli.py", *_modules("bot/commands")}
    for path in _modules("bot"):
        if path in roots:
            continue
        adapters = {i for i in _imports(path) if i.split(".")[0] in ("handlers", "jobs")}
        assert not adapters, f"{path.relative_to(ROOT)} imports {adapters}"


def test_handlers_do_not_import_each_other() -> None:
    for path in _modules("handlers"):
        assert not {i for i in _imports(path) if i.startswith("handlers")}, path.name


_SQL_MODULES = ("sqlalchemy", "sqlmodel")
# Statement builders: flagged when imported from SQLAlchemy/SQLModel (a Block Kit helper named `text` is not SQL).
_SQL_BUILDERS = {"select", "update", "insert", "delete", "text", "func", "or_", "and_", "exists", "literal_column"}
# Methods that run SQL or read it into a frame, whoever the receiver is.
_SQL_METHODS = {"execute", "exec", "exec_driver_sql", "read_sql", "read_sql_query", "read_sql_table", "with_for_update"}


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _from_sql_library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in (*_SQL_MODULES, "pandas")


def _sql_calls(path: Path) -> list[str]:
    """`file:line call` for every statement built or run in this module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    builders: set[str] = set()  # local names of SQL builders
    libraries: set[str] = set()  # local names of sqlalchemy/sqlmodel modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _from_sql_library(node.module):
            builders |= {a.asname or a.name for a in node.names if a.name in _SQL_BUILDERS | _SQL_METHODS}
        elif isinstance(node, ast.Import):
            libraries |= {a.asname or a.name for a in node.names if a.name.split(".")[0] in _SQL_MODULES}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in builders:
            name = f.id
        elif isinstance(f, ast.Attribute) and f.attr in _SQL_METHODS:
            name = f".{f.attr}"
        elif isinstance(f, ast.Attribute) and f.attr in _SQL_BUILDERS and ast.unparse(f.value) in libraries:
            name = ast.unparse(f)
        else:
            continue
        found.append((node.lineno, f"{_label(path)}:{node.lineno} {name}("))
    return [hit for _, hit in sorted(found)]


def test_sql_lives_only_in_storage() -> None:
    """A newcomer looking for a query finds it in storage/: nothing above it builds or runs SQL."""
    found = [hit for folder in ("bot", "handlers", "jobs") for path in _modules(folder) for hit in _sql_calls(path)]
    assert not found, "SQL outside storage/:\n" + "\n".join(found)


def test_the_layout_check_sees_sql_and_only_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlalchemy as sa\nimport pandas as pd\nfrom sqlmodel import select as pick\n"
        "from bot.slack.blocks import text\n"
        "pick(1)\nsa.update(2)\npd.read_sql(3)\nconn.execute(4)\ntext('a block, not SQL')\n",
        encoding="utf-8",
    )
    found = [hit.split(" ", 1)[1] for hit in _sql_calls(sample)]
    assert found == ["pick(", "sa.update(", ".read_sql(", ".execute("]


# The only places in storage/ allowed to commit: the unit of work itself, and the advisory unlock of job_lock
# (a session lock on its own connection, outside any unit of work). Migrations run under alembic.
_MAY_COMMIT = {("db.py", "unit_of_work"), ("db.py", "job_lock")}


def _commits(path: Path) -> list[str]:
    """`file:line` of every `.commit(` in this module outside the functions allowed to."""
    found = []
    for statement in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (path.name, statement.name) in _MAY_COMMIT
        ):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                found.append(f"{_label(path)}:{node.lineno}")
    return found


def test_storage_functions_never_commit() -> None:
    """A click's writes succeed or fail together: only the unit of work commits."""
    found = [hit for path in _modules("storage") if "migrations" not in path.parts for hit in _commits(path)]
    assert not found, "commits outside storage.db.unit_of_work:\n" + "\n".join(found)


def test_the_commit_check_sees_any_commit(tmp_path: Path) -> None:
    sample = tmp_path / "db.py"
    sample.write_text(
        "def unit_of_work(s):\n    s.commit()\n\ndef save(conn):\n    conn.commit()\n\n"
        "class Repo:\n    def put(self):\n        self.session.commit()\n",
        encoding="utf-8",
    )
    assert _commits(sample) == ["db.py:5", "db.py:9"]


def test_no_private_bolt_apis() -> None:
    for folder in ("bot", "handlers", "jobs"):
        for path in _modules(folder):
            private = {i for i in _imports(path) if i.startswith("slack_bolt") and "._" in i or ".internals" in i}
            assert not private, f"{path.relative_to(ROOT)} imports {private}"


ARROWS: dict[str, set[str]] = {
    # Which packages of bot/ each may import, top to bottom; anything not named is forbidden, module-level or
    # inside a function. The features meet in an alert's thread: exits and health redraw it, alerts give it its
    # tasks (retention); what more than one of them draws (a time, a mention, an override, the thread's address)
    # lives in bot/slack, below them all.
    # the command line's root
    "commands": {"demo", "alerts", "health", "churn", "forecast", "scoring", "slack", "connectors"},
    "demo": {"alerts", "retention", "health", "exits", "churn", "scoring", "slack", "connectors"},
    "assistant": {"health", "alerts", "retention", "exits", "churn", "forecast", "scoring", "slack", "llm"},
    "home": {"health", "retention", "scoring", "slack"},
    "digest": {"alerts", "health", "retention", "scoring", "slack"},
    "health": {"exits", "alerts", "retention", "churn", "scoring", "slack"},
    "exits": {"alerts", "retention", "scoring", "slack", "llm"},
    "alerts": {"retention", "scoring", "slack"},
    "churn": {"exits", "retention", "forecast", "scoring", "slack", "llm"},
    "forecast": {"scoring", "slack"},
    "retention": {"scoring", "slack"},
    "connectors": {"scoring"},
    "llm": set(),
    "slack": {"scoring"},
    "scoring": set(),
}


def test_the_arrows_between_packages_of_bot_have_no_cycle() -> None:
    from graphlib import TopologicalSorter

    assert set(ARROWS) == set(FEATURES), "every package of bot/ has its row in ARROWS (and only those)"
    TopologicalSorter(ARROWS).static_order()  # raises CycleError naming the cycle


@pytest.mark.parametrize("package", FEATURES)
def test_packages_of_bot_import_only_along_the_arrows(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / "bot" / package).rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 and parts[0] == "bot" else None
            if target in ARROWS and target != package and target not in ARROWS[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name} ({package} -> {target})")
    assert not wrong, "\n".join(sorted(wrong))


MAX_LINES = 500  # a product module longer than this holds more than one thing: split it by what each part does


def _long_modules(paths: list[Path]) -> list[str]:
    counts = ((path, len(path.read_text(encoding="utf-8").splitlines())) for path in paths)
    return [f"{_label(path)}: {n} lines" for path, n in counts if n > MAX_LINES]


def test_no_product_module_is_over_500_lines() -> None:
    product = [path for folder in ("bot", "handlers", "jobs", "storage", "prompts") for path in _modules(folder)]
    long = _long_modules([path for path in product if "migrations" not in path.parts])
    assert not long, f"over {MAX_LINES} lines:\n" + "\n".join(long)


def test_the_length_check_sees_a_long_module(tmp_path: Path) -> None:
    short, long = tmp_path / "short.py", tmp_path / "long.py"
    short.write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    long.write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    assert _long_modules([short, long]) == [f"long.py: {MAX_LINES + 1} lines"]
