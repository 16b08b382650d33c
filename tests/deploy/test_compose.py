"""compose.yaml describes the scaled deployment, and every command it names exists."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import _parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _command_exists(argv: list[str]) -> bool:
    """True when `backroom <argv>` parses: every subcommand and option is real."""
    assert argv[0] == "backroom", argv
    try:
        args = _parser().parse_args(argv[1:])
    except SystemExit:
        return False
    return callable(getattr(args, "handler", None))


def test_it_has_postgres_redis_web_and_one_worker(compose):
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["worker"]["deploy"]["replicas"] == 1
    schedulers = [n for n, s in services.items() if s.get("command", [])[1:2] == ["worker"]]
    assert schedulers == ["worker"]


def test_it_runs_web_under_gunicorn_with_several_workers(compose):
    command = compose["services"]["web"]["command"]
    assert command[:2] == ["backroom", "web"]
    assert int(command[command.index("--workers") + 1]) > 1


def test_it_points_every_backroom_service_at_postgres_and_redis(compose):
    for name in ("web", "worker", "migrate"):
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["REDIS_URL"].startswith("redis://")
        assert "SECRET_KEY" in env


def test_it_names_only_commands_that_exist(compose):
    commands = [s["command"] for s in compose["services"].values() if "command" in s]
    ours = [c for c in commands if c[0] == "backroom"]
    assert len(ours) >= 3
    for command in ours:
        assert _command_exists(command), command


def test_it_has_a_dockerfile_that_installs_the_project():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile
    for folder in ("app", "workflows", "views", "jobs", "templates"):
        assert f"COPY {folder} " in dockerfile


def test_the_cli_offers_every_contract_command():
    commands = _subcommands(_parser())
    assert {"serve", "web", "worker", "db", "users", "demo-data"} <= set(commands)
    assert "upgrade" in _subcommands(commands["db"])
    assert "create" in _subcommands(commands["users"])
    assert _command_exists(["backroom", "users", "create", "--username", "u", "--role", "admin"])
    assert not _command_exists(["backroom", "nonsense"])


def test_it_is_secure_by_default(compose):
    services = compose["services"]
    for name in ("web", "worker", "migrate"):
        env = services[name]["environment"]
        assert env["BACKROOM_DEMO_DATA"] == "0", name  # no published demo passwords
        assert env["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?"), name  # required
        assert env["SESSION_COOKIE_SECURE"] == "${SESSION_COOKIE_SECURE:-1}", name
        assert env["TRUSTED_PROXIES"].startswith("${TRUSTED_PROXIES:-"), name
        assert {"BACKROOM_ADMIN_USERNAME", "BACKROOM_ADMIN_PASSWORD"} <= set(env), name


def test_it_seeds_demo_accounts_only_in_the_demo_profile(compose):
    seeders = [name for name, service in compose["services"].items()
               if service.get("command", [])[1:2] == ["demo-data"]]  # fmt: skip
    assert seeders == ["seed"]
    seed = compose["services"]["seed"]
    assert seed["profiles"] == ["demo"]
    assert seed["environment"]["BACKROOM_DEMO_DATA"] == "1"


def test_its_migrate_service_creates_the_configured_admin(compose):
    # `backroom db upgrade` creates BACKROOM_ADMIN_* (tests/app/test_cli.py shows it does).
    assert compose["services"]["migrate"]["command"] == ["backroom", "db", "upgrade"]
