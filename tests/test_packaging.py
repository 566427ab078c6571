"""What ships beside the code: `.env.example`, the Dockerfile, `docker-compose.yml` and the Slack app manifest.

No Docker daemon here: the files are read and checked for what a team relies on. The YAML files
are parsed with PyYAML when it is installed, else with the small block-YAML reader below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from slack_sdk import WebClient
from sqlalchemy.engine import make_url

from bot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SOURCE_FOLDERS = ("bot", "handlers", "jobs", "storage")

# Every Slack Web API method the code may call, and the bot scope it needs (None: no scope).
# A call to a method not listed here fails the test: add it with its scope from its docs page.
SCOPE_OF_METHOD: dict[str, str | tuple[str, ...] | None] = {
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "chat_delete": "chat:write",
    "files_upload_v2": "files:write",  # files.getUploadURLExternal + files.completeUploadExternal
    "files_getUploadURLExternal": "files:write",
    "files_completeUploadExternal": "files:write",
    "conversations_open": "im:write",
    # the outbox reconciles a post of unknown outcome by reading the channel back: public, private, DM
    "conversations_history": ("channels:history", "groups:history", "im:history"),
    "conversations_replies": ("channels:history", "groups:history", "im:history"),  # ... and a reply, in its thread
    "users_info": "users:read",
    "usergroups_users_list": "usergroups:read",  # who is in the CS_LEAD group (alert Release/Reassign/Resolve)
    "views_publish": None,
    "views_open": None,
    "views_push": None,
    "views_update": None,
    "auth_test": None,
    # the assistant pane (Bolt's set_status / set_suggested_prompts / set_title call these)
    "assistant_threads_setStatus": "assistant:write",
    "assistant_threads_setSuggestedPrompts": "assistant:write",
    "assistant_threads_setTitle": "assistant:write",
}
SCOPE_OF_EVENT: dict[str, str | None] = {
    "app_home_opened": None,
    "assistant_thread_started": "assistant:write",
    "assistant_thread_context_changed": "assistant:write",
    "message.im": "im:history",
    "app_mention": "app_mentions:read",
}


# --- a reader for the block YAML these files use (mappings, sequences, scalars, JSON-style lists) --------------


def parse_yaml(source: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        pass
    else:
        return yaml.safe_load(source)
    lines = []
    for raw in source.splitlines():
        line = _strip_comment(raw).rstrip()
        if line.strip() and line.strip() != "---":
            lines.append((len(line) - len(line.lstrip()), line.strip()))
    value, pos = _block(lines, 0)
    assert pos == len(lines), f"could not read the YAML from: {lines[pos][1]!r}"
    return value


def _strip_comment(line: str) -> str:
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _block(lines: list[tuple[int, str]], pos: int) -> tuple[Any, int]:
    indent, first = lines[pos]
    if first == "-" or first.startswith("- "):
        items: list[Any] = []
        while pos < len(lines) and lines[pos][0] == indent and (lines[pos][1] + " ").startswith("- "):
            item = lines[pos][1][1:].strip()
            if not item:
                value, pos = _block(lines, pos + 1)
            elif re.match(r"[\w.\-]+:(\s|$)", item):  # "- key: value" starts a mapping two columns in
                lines[pos] = (indent + 2, item)
                value, pos = _block(lines, pos)
            else:
                value, pos = _scalar(item), pos + 1
            items.append(value)
        return items, pos
    mapping: dict[str, Any] = {}
    while pos < len(lines) and lines[pos][0] == indent:
        match = re.fullmatch(r"([\w.\-]+|\"[^\"]*\"):(?:\s+(.*))?", lines[pos][1])
        assert match, f"not a 'key: value' line: {lines[pos][1]!r}"
        key, rest = match.group(1).strip('"'), match.group(2)
        pos += 1
        if rest:
            mapping[key] = _scalar(rest)
        elif pos < len(lines) and (
            lines[pos][0] > indent or (lines[pos][0] == indent and lines[pos][1].startswith("-"))
        ):
            mapping[key], pos = _block(lines, pos)
        else:
            mapping[key] = None
    return mapping, pos


def _scalar(text: str) -> Any:
    if text.startswith("[") or text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return {"true": True, "false": False, "null": None, "~": None}.get(text, text)


def test_the_yaml_reader_reads_what_these_files_use() -> None:
    text = (
        "a: 1  # a comment\n"
        'b: "#x: y"\n'
        "c:\n  - one\n  - name: two\n    n: 3\n"
        'd: ["CMD", "x y"]\n'
        "e:\n  f:\n    g: true\n"
        "h:\n- i\n"
    )
    assert parse_yaml(text) == {
        "a": 1, "b": "#x: y", "c": ["one", {"name": "two", "n": 3}], "d": ["CMD", "x y"],
        "e": {"f": {"g": True}}, "h": ["i"],
    }  # fmt: skip


# --- Docker ------------------------------------------------------------------------------------------------------


def _interpolate(value: str) -> str:
    """Compose's ${NAME:-default}, with the defaults (what a .env without NAME gives)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: _interpolate(str(v)) for k, v in env.items()}


def test_env_example_leaves_the_database_to_the_image() -> None:
    """Copied to .env and passed with --env-file, the example must not move the database out of /data."""
    example = ROOT / ".env.example"
    assert "DATABASE_URL" not in dotenv_values(example)
    assert re.search(r"^#\s*DATABASE_URL=", example.read_text(), re.M)  # still there to uncomment


def test_dockerfile_keeps_the_database_in_the_volume() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    url = re.search(r"^ENV .*\bDATABASE_URL=(\S+)", dockerfile, re.M)
    assert url, "the image sets no default DATABASE_URL"
    volumes = re.search(r"^VOLUME (.+)$", dockerfile, re.M)
    assert volumes and "/data" in json.loads(volumes.group(1))
    database = make_url(url.group(1)).database or ""
    assert url.group(1).startswith("sqlite:") and database.startswith("/data/")


def test_compose_runs_replicas_on_postgres() -> None:
    compose = parse_yaml((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    bot, db = services["healthbot"], services["postgres"]

    assert bot.get("build") or bot.get("image")
    assert ".env" in (bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]])
    assert bot["deploy"]["replicas"] >= 2
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"

    url = _env(bot)["DATABASE_URL"]  # `environment` wins over env_file, so a DATABASE_URL in .env cannot move it
    load_settings(env_file=None, environ={"DATABASE_URL": url})  # a URL healthbot accepts
    parsed, pg = make_url(url), _env(db)
    assert parsed.get_backend_name() == "postgresql" and parsed.host == "postgres"
    assert (parsed.username, parsed.password, parsed.database) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]
    )  # fmt: skip

    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    mounts = dict(v.split(":", 1) for v in db["volumes"])
    volume = next(name for name, target in mounts.items() if target == "/var/lib/postgresql/data")
    assert volume in compose["volumes"]


# --- the Slack app manifest asks for exactly the scopes the code uses --------------------------------------------


def _source() -> str:
    return "\n".join(p.read_text() for folder in SOURCE_FOLDERS for p in sorted((ROOT / folder).rglob("*.py")))


def web_api_methods_called(source: str) -> set[str]:
    """WebClient methods the code calls (`client.chat_postMessage(...)` and the like)."""
    methods = {name for name in dir(WebClient) if re.fullmatch(r"[a-z]+(_[a-zA-Z0-9]+)+", name)}
    return {name for name in re.findall(r"\.(\w+)\(", source) if name in methods}


def test_manifest_bot_scopes_are_what_the_code_uses() -> None:
    manifest = parse_yaml((ROOT / "manifest.yml").read_text())
    source = _source()
    called = web_api_methods_called(source)
    unknown = called - set(SCOPE_OF_METHOD)
    assert not unknown, f"Web API methods without a scope in SCOPE_OF_METHOD: {sorted(unknown)}"
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events <= set(SCOPE_OF_EVENT), f"bot events without a scope in SCOPE_OF_EVENT: {sorted(events)}"

    scopes = [SCOPE_OF_METHOD[m] for m in called] + [SCOPE_OF_EVENT[e] for e in events]
    needed = {s for scope in scopes for s in (scope if isinstance(scope, tuple) else (scope,))}
    if re.search(r"\bSay\b", source):  # Bolt's say() posts with chat.postMessage
        needed.add("chat:write")
    if manifest["features"].get("slash_commands"):
        assert re.search(r"\.command\(", source), "the manifest declares a slash command the code does not handle"
        needed.add("commands")
    needed.discard(None)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


def test_the_method_scan_sees_calls() -> None:
    assert web_api_methods_called("client.chat_postMessage(channel=c)\nx.files_upload_v2(\n  file=f)") == {
        "chat_postMessage", "files_upload_v2"
    }  # fmt: skip
