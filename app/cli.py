"""The `backroom` command: serve, web, worker, db upgrade, users create, demo-data."""

from __future__ import annotations

import argparse
import atexit
import gc
import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from app.config import Config, ConfigError, env_int, load_config
from app.db import Database, WalCheckpointer, database_path
from app.errors import DomainError
from app.logs import configure_logging
from app.migrations import upgrade_database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("backroom.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging()
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    handler = args.handler
    return int(handler(config, args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backroom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="upgrade, seed, and serve web + scheduler (make run)")
    serve.add_argument("--workers", type=int, default=None, help="web processes (one per core)")
    serve.add_argument("--threads", type=int, default=None, help="threads per web process")
    serve.set_defaults(handler=cmd_serve)
    web = sub.add_parser("web", help="HTTP only, under gunicorn (scaled deployment)")
    web.add_argument("--bind", default=None)
    web.add_argument("--workers", type=int, default=None)
    web.set_defaults(handler=cmd_web)
    worker = sub.add_parser("worker", help="the scheduler only (one leader across processes)")
    worker.set_defaults(handler=cmd_worker)
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to the newest schema").set_defaults(
        handler=cmd_db_upgrade
    )
    users = sub.add_parser("users", help="accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create a user (password asked or from stdin)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True)
    create.add_argument("--email", default="")
    create.add_argument("--name", default="")
    create.set_defaults(handler=cmd_users_create)
    sub.add_parser("demo-data", help="seed demo data into an empty database").set_defaults(
        handler=cmd_demo_data
    )
    return parser


def prepare(config: Config, *, seed: bool) -> None:
    """Upgrade the schema, create the configured admin, seed demo data if empty."""
    from app.services.demo import seed_demo_data
    from app.services.workflows import RMA, ensure_shipped

    upgrade_database(config.database_url)
    database = Database(config.database_url, pool_size=2)
    session = database.session()
    try:
        ensure_shipped(session, RMA)
        _create_configured_admin(config, session)
        if seed and config.demo_data and seed_demo_data(session):
            log.info("seeded demo data into an empty database")
    finally:
        session.close()
        database.dispose()


def _create_configured_admin(config: Config, session: Session | None = None) -> None:
    """BACKROOM_ADMIN_USERNAME/_PASSWORD: create that admin unless a user of that name
    exists (CONTRACT §2: at start-up, whichever command starts)."""
    from app.services.users import ensure_admin

    admin, password = config.admin_username, config.admin_password
    if not (admin and password):
        return
    database = None
    if session is None:
        database = Database(config.database_url, pool_size=1)
        session = database.session()
    try:
        if ensure_admin(session, admin, password):
            log.info("created admin %s", admin)
    finally:
        if database is not None:
            session.close()
            database.dispose()


def _job_context(config: Config) -> Any:
    from app import build_payments, connect_redis
    from app.services.monitoring import install_log_store
    from jobs import JobContext
    from jobs.runner import holder_name

    database = Database(config.database_url, pool_size=4)
    # The scheduler's lines (jobs, refunds sent under their request's id) reach the store
    # that /monitoring/logs reads, as the web processes' lines do.
    install_log_store(database, enabled=config.log_store)
    redis_client = connect_redis(config.redis_url) if config.redis_url else None
    payments = build_payments(config, database, redis_client)
    return JobContext(config=config, db=database, payments=payments, holder=holder_name())


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    """The embedded default: granian's native HTTP server in front of `--workers` web
    processes (one per core unless WEB_WORKERS says) of one thread each (WEB_THREADS); the
    scheduler runs in whichever of them leads (a file lock), and the rate limiter's and the
    payment breaker's state lives in this process's memory, shared by all of them
    (`app.shared_state`), so there is one limiter and one breaker. On SQLite this process
    also checkpoints the write-ahead log, so that no request waits for it."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    from app.shared_state import serve_state

    default_workers = min(MAX_SERVE_WORKERS, os.cpu_count() or 1)
    try:
        workers = args.workers or env_int("WEB_WORKERS", default_workers, minimum=1)
        threads = args.threads or env_int("WEB_THREADS", SERVE_THREADS, minimum=1)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    workers, threads = max(1, workers), max(1, threads)
    # Before anything imports prometheus_client: every worker writes its series there.
    _fresh_metrics_dir(Path(config.data_dir) / "metrics")
    prepare(config, seed=True)
    os.environ[SERVE_SCHEDULER] = "1" if config.scheduler_enabled else "0"
    os.environ.update(serve_state())
    sqlite_file = database_path(config.database_url)
    if sqlite_file is not None:
        WalCheckpointer(sqlite_file).start()  # a daemon thread: it ends with this process
    print(
        f"Backroom serving on http://127.0.0.1:{config.port} with {workers} web process(es) "
        f"of {threads} thread(s)  (Ctrl-C to stop)",
        flush=True,
    )
    Granian(
        "app.cli:serving_app",
        factory=True,
        address=os.environ.get("HOST", "127.0.0.1"),
        port=config.port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        http=HTTPModes.http1,
        websockets=False,
        backlog=2048,
        log_access=False,
        static_path_route=["/static"],
        static_path_mount=[STATIC_DIR],
        # A web process that dies (the OOM killer, a crash in a native library) is replaced
        # while the others keep serving; without this granian stops them all.
        respawn_failed_workers=True,
        respawn_interval=RESPAWN_SECONDS,
    ).serve()
    return 0


# One request thread per web process, one process per core: a thread holding SQLite's write
# lock then never waits for its own process's interpreter, nor (mostly) for a core. Measured
# with `make bench` on 2 cores, configurations taking turns: 2 x 1 beat 4 x 1 and 3 x 1 on
# the flash-sale stampede (medians of 6 runs: 574 against 486 and 504 holds/s, p99 282
# against 306 and 323 ms) and matched or beat 4 x 1 on every other scenario (orders @50:
# 1,049 against 829/s); 2 x 2 did no better than 4 x 1. With more processes the accepted
# connections are also shared less evenly (one had 64 of the stampede's 200, another 31),
# and a process's clients wait in proportion. Requests that wait on slow outside calls
# want more threads.
SERVE_THREADS = 1
MAX_SERVE_WORKERS = 8
RESPAWN_SECONDS = 1.0


def _fresh_metrics_dir(default: Path) -> None:
    """prometheus_client's multiprocess directory: PROMETHEUS_MULTIPROC_DIR or `default`,
    emptied of a previous run's files."""
    path = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(default)))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


SERVE_SCHEDULER = "BACKROOM_SERVE_SCHEDULER"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def serving_app() -> Any:
    """`backroom serve`'s worker: the web app, and the scheduler sharing its database
    and payments when serve asked for it."""
    from app import create_app
    from jobs import JobContext
    from jobs.runner import Scheduler, holder_name

    configure_logging()
    config = load_config()
    app = create_app(config=config)
    if os.environ.get(SERVE_SCHEDULER) == "1":
        ctx = JobContext(
            config=config,
            db=app.extensions["backroom.db"],
            payments=app.extensions["backroom.payments"],
            holder=holder_name(),
        )
        scheduler = Scheduler(ctx)
        scheduler.start()
        atexit.register(scheduler.stop)
    return settled(app)


def settled(app: Any) -> Any:
    """`app`, after moving everything built so far (modules, the app, its mappers) out of
    the garbage collector's way: it lives as long as the process, and a full collection
    would otherwise walk it all, stalling the requests queued behind it (66-88 ms per web
    process, measured during the flash-sale stampede). Called in each web process."""
    gc.freeze()
    return app


def cmd_web(config: Config, args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from app import create_app

    # Without a shared store the limiter is only exact inside one process.
    try:
        workers = args.workers or env_int("WEB_WORKERS", 4 if config.redis_url else 1, minimum=1)
        threads = env_int("WEB_THREADS", 8, minimum=1)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    options = {
        "bind": args.bind or f"{os.environ.get('HOST', '0.0.0.0')}:{config.port}",  # noqa: S104
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": None,
        "backlog": 2048,
        "keepalive": 5,
    }

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return settled(create_app(config=config))

    # Once, in the arbiter: the schema is `backroom db upgrade`'s (compose runs it first).
    try:
        _create_configured_admin(config)
    except SQLAlchemyError as exc:
        print(f"cannot create the configured admin ({type(exc).__name__}); is the schema there? "
              "run `backroom db upgrade` first", file=sys.stderr)  # fmt: skip
        return 2
    _App().run()
    return 0


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    from jobs.runner import Scheduler

    prepare(config, seed=False)
    scheduler = Scheduler(_job_context(config))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler.start()
    print("Backroom scheduler running (Ctrl-C to stop)", flush=True)
    stop.wait()
    scheduler.stop()
    return 0


def cmd_db_upgrade(config: Config, args: argparse.Namespace) -> int:
    prepare(config, seed=False)
    print("database schema is up to date")
    return 0


def cmd_users_create(config: Config, args: argparse.Namespace) -> int:
    from app.services.users import create_user

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            print("passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    upgrade_database(config.database_url)
    database = Database(config.database_url, pool_size=1)
    session = database.session()
    try:
        user = create_user(
            session,
            username=args.username,
            password=password,
            role=args.role,
            email=args.email,
            name=args.name,
        )
    except DomainError as exc:
        print(f"cannot create user: {exc.message}", file=sys.stderr)
        return 1
    finally:
        session.close()
        database.dispose()
    print(f"created {user.role} {user.username} (id {user.id})")
    return 0


def cmd_demo_data(config: Config, args: argparse.Namespace) -> int:
    from app.services.demo import seed_demo_data

    if not config.demo_data:
        print("BACKROOM_DEMO_DATA=0: demo data is never seeded")
        return 0
    upgrade_database(config.database_url)
    database = Database(config.database_url, pool_size=1)
    session = database.session()
    try:
        seeded = seed_demo_data(session)
    finally:
        session.close()
        database.dispose()
    print("seeded demo data" if seeded else "the database is not empty; nothing seeded")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
