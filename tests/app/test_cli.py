"""The `backroom` command's one-shot subcommands, run as an operator would."""

from __future__ import annotations

import gc
import io

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.cli import main, prepare, settled
from app.config import load_config
from app.models.catalog import Product
from app.models.users import User


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKROOM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("BACKROOM_DEMO_DATA", raising=False)
    monkeypatch.delenv("BACKROOM_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("BACKROOM_ADMIN_PASSWORD", raising=False)
    return tmp_path


def _count(tmp_path, model) -> int:
    engine = create_engine(f"sqlite:///{tmp_path / 'backroom.db'}")
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


def test_it_upgrades_the_database(env, capsys):
    assert main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (env / "backroom.db").exists()


def test_it_seeds_demo_data_only_into_an_empty_database(env, capsys):
    assert main(["demo-data"]) == 0
    assert main(["demo-data"]) == 0
    out = capsys.readouterr().out
    assert "seeded demo data" in out
    assert "not empty" in out
    assert _count(env, Product) >= 50
    assert _count(env, User) == 6


def test_it_never_seeds_when_demo_data_is_off(env, monkeypatch, capsys):
    monkeypatch.setenv("BACKROOM_DEMO_DATA", "0")
    assert main(["demo-data"]) == 0
    assert "never seeded" in capsys.readouterr().out


def test_it_creates_a_user_with_a_password_from_stdin(env, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["users", "create", "--username", "ops", "--role", "support"]) == 0
    assert "created support ops" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["users", "create", "--username", "ops", "--role", "support"]) == 1
    assert "username is taken" in capsys.readouterr().err


def test_it_refuses_a_short_password_or_unknown_role(env, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "create", "--username", "x1", "--role", "wizard"]) == 1
    err = capsys.readouterr().err
    assert "password" in err
    assert "role" in err


def test_it_exits_2_on_a_configuration_error(env, monkeypatch, capsys):
    monkeypatch.setenv("PORT", "not-a-port")
    assert main(["db", "upgrade"]) == 2
    assert "configuration error: PORT" in capsys.readouterr().err


def test_it_creates_the_configured_admin_at_start_up(env, monkeypatch):
    monkeypatch.setenv("BACKROOM_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("BACKROOM_ADMIN_PASSWORD", "boss-password")
    monkeypatch.setenv("BACKROOM_DEMO_DATA", "0")
    prepare(load_config(), seed=True)
    prepare(load_config(), seed=True)  # a second start keeps the one admin
    assert _count(env, User) == 1
    assert _count(env, Product) == 0


def admin_env(monkeypatch) -> None:
    monkeypatch.setenv("BACKROOM_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("BACKROOM_ADMIN_PASSWORD", "boss-password")


def test_db_upgrade_creates_the_configured_admin(env, monkeypatch):
    admin_env(monkeypatch)
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "upgrade"]) == 0
    assert _count(env, User) == 1


def test_the_worker_creates_the_configured_admin_before_it_schedules(env, monkeypatch):
    admin_env(monkeypatch)
    started = []

    class Scheduler:
        def __init__(self, ctx):
            started.append(_count(env, User))  # the admin is there before any job runs

        def start(self):
            raise SystemExit(0)  # stands for the scheduler running until stopped

    monkeypatch.setattr("jobs.runner.Scheduler", Scheduler)
    with pytest.raises(SystemExit):
        main(["worker"])
    assert started == [1]


def test_web_creates_the_configured_admin_once_before_serving(env, monkeypatch):
    admin_env(monkeypatch)
    assert main(["db", "upgrade"]) == 0
    monkeypatch.setenv("BACKROOM_ADMIN_USERNAME", "second-boss")
    served = []
    monkeypatch.setattr("gunicorn.app.base.BaseApplication.run",
                        lambda self: served.append(_count(env, User)))  # fmt: skip
    assert main(["web"]) == 0
    assert served == [2]


def test_web_says_what_to_do_when_the_schema_is_missing(env, monkeypatch, capsys):
    admin_env(monkeypatch)
    assert main(["web"]) == 2
    assert "run `backroom db upgrade` first" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "web"])
@pytest.mark.parametrize(("name", "value"), [("WEB_WORKERS", "many"), ("WEB_THREADS", "0")])
def test_it_refuses_a_bad_process_setting_before_starting(
    env, monkeypatch, capsys, command, name, value
):
    monkeypatch.setenv(name, value)
    assert main([command]) == 2
    assert f"configuration error: {name} must be" in capsys.readouterr().err
    assert not (env / "backroom.db").exists()  # nothing was started or migrated


def test_a_web_process_moves_what_it_built_at_start_out_of_the_collectors_way():
    """`serve`'s and `web`'s processes freeze their start-up objects: a full collection then
    walks only what requests made since (it once stalled a process for 66-88 ms)."""
    app = object()
    gc.unfreeze()
    try:
        assert settled(app) is app
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
