"""Every setting is documented where a person looks for it: the README's settings table and `.env.example`, kept
in step with what `bot/settings.py` reads; and `.env.example` names every variable docker-compose.yml reads
(issue 18: EXIT_INTERVIEW_READERS and CHURN_CHANNEL were in neither)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


class Recording(dict[str, str]):
    """An empty environment that remembers every name asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked.add(key)
        return default

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return False


def settings_read() -> set[str]:
    """The environment variables `load_settings` reads."""
    env = Recording()
    load_settings(env_file=None, environ=env)
    return env.asked


def readme_settings() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def env_example() -> set[str]:
    """The variables `.env.example` names: set (NAME=) or shown commented out (# NAME=)."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.M))


def test_every_setting_read_is_documented_in_the_readme_and_env_example() -> None:
    read = settings_read()
    assert {"EXIT_INTERVIEW_READERS", "CHURN_CHANNEL", "DATABASE_URL", "WORK_DAYS"} <= read  # the recording works
    assert read - readme_settings() == set(), "settings missing from the README's settings table"
    assert read - env_example() == set(), "settings missing from .env.example"
    assert readme_settings() - read == set(), "the README documents settings healthbot does not read"


def test_every_field_of_the_settings_class_comes_from_a_documented_variable() -> None:
    """A new field in Settings is read from a variable of its own name (or one listed here), so the test above
    sees it."""
    from_other = {"calendar": {"TIMEZONE", "WORK_DAYS", "WORK_HOURS", "HOLIDAYS"}}
    read = settings_read()
    for field in dataclasses.fields(Settings):
        names = from_other.get(field.name, {field.name.upper()})
        assert names <= read, f"Settings.{field.name}: load_settings reads no {names - read}"


def test_env_example_names_every_variable_docker_compose_reads() -> None:
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    body = "\n".join(line.split("#", 1)[0] for line in compose.splitlines())  # not the comments
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", body)) | set(re.findall(r"\$([A-Z][A-Z0-9_]*)", body))
    assert interpolated, "docker-compose.yml reads no variables: the test reads it wrongly"
    assert interpolated - env_example() == set(), ".env.example does not name every variable docker-compose reads"
    # every env_file it names is the one `cp .env.example .env` makes
    assert set(re.findall(r"^\s+-\s+(\S*\.env\S*)$", body, re.M)) <= {".env"}


COMPOSE_RUN = re.compile(
    r"^ *docker compose run --rm (?:-v \S+ )*(\w+) (?:healthbot (.+)|sh -c '(healthbot .+)')$", re.M
)


def test_the_readme_shows_import_demo_and_jobs_inside_the_compose_stack() -> None:
    """Each `docker compose run` the README shows names the compose service and a command line healthbot takes;
    a CSV it imports is read from a folder it mounts."""
    import shlex

    from bot.cli import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    services = set(re.findall(r"^  (\w+):$", compose, re.M))
    shown = COMPOSE_RUN.findall(readme)
    commands = []
    for service, args, shell in shown:
        assert service in services, f"docker compose run {service}: no such service in docker-compose.yml"
        argv = shlex.split(args or shell)[1 if shell else 0 :]
        build_parser().parse_args(argv)  # exits (fails the test) on a command line healthbot refuses
        commands.append(argv)
    assert {a[0] for a in commands} >= {"import", "demo", "jobs"}, shown
    for line in re.findall(r"^ *docker compose run .* import .*$", readme, re.M):
        mount = re.search(r"-v \S+:(/\w+):ro", line)
        assert mount and f" {mount.group(1)}/" in line, f"the CSV is not read from the mounted folder: {line}"
