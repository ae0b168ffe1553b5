"""`python -m bot run | serve | demo | migrate | export | retention`.

Every way in stops with one line and exit code 2 on a bad setting: an admin reads the
line, fixes .env, and tries again, with no traceback to dig through.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn, Protocol

from bot.domain.parsing import EXPORT_PERIODS
from bot.domain.playbook import PlaybookError
from bot.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.socket_mode import SocketLink

EXIT_BAD_SETTING = 2
log = logging.getLogger("recovery.cli")


class _Closable(Protocol):
    def close(self) -> None: ...


class _OneLineParser(argparse.ArgumentParser):
    """A subcommand's bad option is one line and exit code 2, like a bad setting."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_SETTING, f"recovery-bot: {self.prog.removeprefix('python -m bot ')}: {message}\n")


class _Stop(Exception):
    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="recovery-bot: service recovery in Slack")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    commands.add_parser("run", help="connect to Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP)")
    serve = commands.add_parser("serve", help="serve Slack's HTTP requests under waitress")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--threads", type=int, default=8)
    demo = commands.add_parser("demo", help="play a whole recovery offline against a local Slack double")
    demo.add_argument("--blocks", action="store_true", help="also print each message's Block Kit JSON")
    commands.add_parser("migrate", help="bring the database to the newest schema")
    baseline = commands.add_parser("baseline", help="load the survey baseline insights compare recovery with")
    baseline.add_argument("--csv", required=True, metavar="FILE", help="one row per survey period (see README)")
    export = commands.add_parser("export", help="write the incidents (or their timeline) to stdout for a data team")
    export.add_argument("--since", choices=list(EXPORT_PERIODS), default="30d")
    export.add_argument("--format", choices=["csv", "jsonl"])
    export.add_argument("--timeline", action="store_true", help="the timeline events as JSON lines instead")
    commands.add_parser("retention", help="erase now what RETENTION_DAYS says is due")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            from bot.devkit.demo import run_demo
            return run_demo(blocks=args.blocks)
        settings = load_settings()
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "baseline":
            return _baseline(settings, args.csv)
        if args.command == "export":
            return _export(settings, since=args.since, output=args.format, timeline=args.timeline)
        if args.command == "retention":
            return _retention(settings)
        if args.command == "serve":
            return _serve(settings, host=args.host, port=args.port, threads=args.threads)
        return _run(settings)
    except (SettingsError, PlaybookError, _Stop) as error:
        print(f"recovery-bot: {error}", file=sys.stderr)
        return EXIT_BAD_SETTING
    except OSError as error:
        print(f"recovery-bot: {error.strerror or error}", file=sys.stderr)
        return 1


def _require_slack(settings: Settings, *, socket_mode: bool) -> None:
    """What a real run needs before anything starts: the credentials, and someone to approve
    remedies over the limit and to be escalated to (without, both would silently go nowhere)."""
    missing = settings.missing_for_slack(socket_mode=socket_mode)
    if missing:
        raise _Stop(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
                    "put them in .env to talk to Slack (`python -m bot demo` runs offline and needs none)")
    if not settings.names_leads:
        raise _Stop("LEAD_USER_IDS is not set (nor LEAD_GROUP); name at least one support lead, like "
                    "LEAD_USER_IDS=U012AB3CD: leads approve remedies over the limit and get escalations")


def _migrate(settings: Settings) -> int:
    from sqlalchemy.engine import make_url

    from bot.runtime import migrate_database

    migrate_database(settings.database_url)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"recovery-bot: database at {shown} is up to date")
    return 0


def _baseline(settings: Settings, path: str) -> int:
    """The whole file checked first: with a bad row, every bad line is named and nothing is loaded."""
    from bot.clock import SystemClock
    from bot.insights import BadRows, load_baseline, parse_baseline_csv
    from bot.runtime import migrate_database
    from storage.db import Database

    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise _Stop(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        rows = parse_baseline_csv(text)
    except BadRows as bad:
        for problem in bad.problems:
            print(f"recovery-bot: {path} {problem}", file=sys.stderr)
        print(f"recovery-bot: nothing was loaded from {path}; fix the lines above and run it again", file=sys.stderr)
        return EXIT_BAD_SETTING
    migrate_database(settings.database_url)
    db = Database.from_url(settings.database_url)
    try:
        load_baseline(db, rows, now=SystemClock().now())
    finally:
        db.dispose()
    workspaces = sorted({workspace or "every workspace" for workspace, _ in rows})
    print(f"recovery-bot: loaded {len(rows)} baseline period{'' if len(rows) == 1 else 's'} for "
          f"{', '.join(workspaces)} from {path}")
    return 0


def _serve(settings: Settings, *, host: str, port: int, threads: int) -> int:
    """Acks in this process, the outbox and the scheduler in a forked one (bot/background.py)."""
    import waitress

    from bot.acks_first import AcksInFlight
    from bot.background import fork_background
    from bot.runtime import build, freeze_startup_heap, load_playbook_file, migrate_database
    from bot.web import make_wsgi

    _require_slack(settings, socket_mode=False)
    playbook = load_playbook_file(settings.playbook_file)  # a bad file stops us here, with one line
    migrate_database(settings.database_url)
    acks = AcksInFlight()
    background = fork_background(settings, playbook, acks)
    runtime = build(settings, playbook=playbook, migrate=False, wake=background.wake)
    runtime.confirm_identity()

    def take_over(status: int) -> None:
        log.error("background process ended unasked (wait status %s); this process sends and ticks now", status)
        runtime.start_background()

    background.watch(take_over)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        server = waitress.create_server(make_wsgi(runtime.app, runtime.db,
                                                  signing_secret=runtime.settings.slack_signing_secret,
                                                  identity=runtime.identity, acks=acks),
                                        host=host, port=port, threads=threads, ident="recovery-bot")
        server.print_listen("Serving on http://{}:{}")
        freeze_startup_heap()
        try:
            server.run()  # returns on SIGTERM once the requests in hand are answered
        finally:
            # Waitress leaves its socket listening when it stops: refuse connections now, or
            # Slack's requests (and a load balancer's health checks) would hang unanswered
            # while the background finishes, instead of going to another replica at once.
            server.close()
    finally:
        background.stop()
        runtime.stop()
    return 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM (docker stop, systemd) stops the server in order: the background finishes what it has in hand."""
    raise SystemExit(0)


def _run(settings: Settings) -> int:
    if not settings.slack_app_token:
        return _serve(settings, host="0.0.0.0", port=3000, threads=8)
    import threading

    from bot import socket_mode
    from bot.runtime import build, freeze_startup_heap

    _require_slack(settings, socket_mode=True)
    runtime = build(settings)
    runtime.confirm_identity()
    runtime.start_background()
    freeze_startup_heap()
    stop = threading.Event()
    link = socket_mode.SocketLink(runtime.app, settings.slack_app_token,
                                  ping_seconds=settings.socket_mode_ping.total_seconds(), stop=stop)
    health = _health_server(settings, runtime, link) if settings.health_port else None
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        if link.connect():
            stop.wait()
    except socket_mode.AppTokenRefused as refused:
        raise _Stop(str(refused)) from None
    finally:
        # In order: no new envelopes, then the ones in hand finish, then the outbox and the tick.
        link.close()
        if health is not None:
            health.close()
        runtime.stop()
    return 0


def _health_server(settings: Settings, runtime: Runtime, link: SocketLink) -> _Closable:
    """GET /healthz on HEALTH_PORT, served in a daemon thread."""
    import threading
    import time

    import waitress

    from bot.web import make_health_wsgi

    server = waitress.create_server(
        make_health_wsgi(runtime.db, runtime.identity, lambda: link.state().report(time.time())),
        host="0.0.0.0", port=settings.health_port, threads=2, ident="recovery-bot")
    threading.Thread(target=server.run, name="healthz", daemon=True).start()
    log.info("health check on http://0.0.0.0:%d/healthz", settings.health_port)
    return server


def _export(settings: Settings, *, since: str, output: str | None, timeline: bool) -> int:
    """Every workspace's incidents flagged in the period, to stdout as they are read; what
    the data holds goes to stderr, so that stdout is the data alone."""
    from bot import export
    from bot.clock import SystemClock
    from bot.domain.types import Policy
    from bot.runtime import load_playbook_file
    from bot.views import export as export_view
    from storage.db import Database

    if timeline and output == "csv":
        raise _Stop("export: --timeline writes JSON lines; leave out --format csv")
    period = export.Period.named(since, until=SystemClock().now())
    policy = Policy(work_hours=settings.work_hours, tz=settings.tz, currency=settings.currency)
    playbook = load_playbook_file(settings.playbook_file)
    db = Database.from_url(settings.database_url)
    try:
        with _readable(settings), db.read() as session:
            if timeline:
                lines = export_view.timeline_lines(export.timeline(session, workspace_id=None, period=period))
            else:
                rows = export.rows(session, workspace_id=None, period=period, playbook=playbook, policy=policy)
                lines = (export_view.jsonl_lines if output == "jsonl" else export_view.csv_lines)(rows)
            print(export_view.cli_note(period, timeline=timeline), file=sys.stderr)
            sys.stdout.writelines(lines)
    finally:
        db.dispose()
    return 0


def _retention(settings: Settings) -> int:
    from bot.clock import SystemClock
    from bot.retention import days_words, erase_due
    from storage.db import Database

    if settings.retention_days is None:
        raise _Stop("RETENTION_DAYS is not set, so nothing is due for erasure; set it, like RETENTION_DAYS=365")
    db = Database.from_url(settings.database_url)
    try:
        with _readable(settings):
            erased = erase_due(db, days=settings.retention_days, now=SystemClock().now())
    finally:
        db.dispose()
    print(f"recovery-bot: erased the customer's name and words from {erased} "
          f"incident{'' if erased == 1 else 's'} closed or cancelled over {days_words(settings.retention_days)} ago")
    return 0


@contextmanager
def _readable(settings: Settings) -> Iterator[None]:
    """A database these commands cannot read (a wrong URL, one never migrated) is one line."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.engine import make_url

    try:
        yield
    except SQLAlchemyError as error:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        raise _Stop(f"the database at {shown} could not be read ({error.__class__.__name__}); check DATABASE_URL, "
                    "and run `python -m bot migrate` on a new one") from None
