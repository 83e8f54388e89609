"""The `gigdesk` command: serve, chat, kb check, kb eval, user add/list/disable/password,
rider forget, purge, backup, stations import/export."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiohttp import web

from bot.settings import Settings, SettingsError, load_settings, validate_settings
from knowledge import KnowledgeError


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, host=getattr(args, "host", None), port=getattr(args, "port", None),
                         data_dir=args.data_dir, demo=getattr(args, "demo", None) or None,
                         knowledge_dir=getattr(args, "knowledge_dir", None))


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import STORE, create_app
    from bot.logs import configure_logging

    settings = _settings(args)
    validate_settings(settings)
    configure_logging(settings.log_format)  # riders hashed, phone and ID numbers masked
    workers = settings.workers if args.workers is None else args.workers
    if workers < 1:
        raise SettingsError(f"--workers must be at least 1, got {workers}")
    if workers > 1:
        return _serve_workers(args, settings, workers)
    app = create_app(settings)
    if not args.reuse_port:  # a worker of --workers N: its supervisor has said all this
        _say_serving(settings)
        if settings.demo:
            _demo_account(app[STORE].store)
            _demo_stations(app[STORE].store)
    # On SIGTERM or SIGINT run_app stops listening, runs on_shutdown (bot.health), gives requests
    # in progress shutdown_timeout seconds, then runs cleanup, and returns: exit status 0.
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None,
                shutdown_timeout=settings.shutdown_timeout, reuse_port=args.reuse_port or None)
    return 0


def _say_serving(settings: Settings, workers: int = 1) -> None:
    print(f"gigdesk serving: web chat at http://{settings.host}:{settings.port}/chat, "
          f"console at /console, WeChat webhook at /wechat; data in "
          # never the URL itself: it may carry a password
          f"{'PostgreSQL (database_url)' if settings.database_url else settings.db_path}"
          + (f"; {workers} workers" if workers > 1 else "")
          + (" [demo mode: token gigdesk-demo]" if settings.demo else ""), flush=True)


def _serve_workers(args: argparse.Namespace, settings: Settings, workers: int) -> int:
    """bot.workers: a supervisor starting `workers` processes on one address."""
    from bot.workers import Supervisor, port_free_for_workers, worker_argv
    from storage import open_store

    problem = port_free_for_workers(settings.host, settings.port)
    if problem:
        raise SettingsError(problem)
    # The schema is made (or upgraded) here, once, before the workers open the database together.
    store = open_store(settings.database_url, settings.db_path)
    try:
        _say_serving(settings, workers)
        if settings.demo:
            _demo_account(store)
            _demo_stations(store)
    finally:
        store.close()
    return Supervisor(workers, worker_argv(args), settings.shutdown_timeout).run()


def _demo_account(store) -> None:
    """So that trying gigdesk shows the console too: a one-off admin when there is no account."""
    import secrets

    from bot.console.auth import hash_password

    if store.users():
        return
    password = secrets.token_urlsafe(12)
    store.add_user("demo", "admin", hash_password(password), time.time())
    print(f"demo console account: demo / {password} (create real ones with `gigdesk user add`)", flush=True)


def _demo_stations(store) -> None:
    """Demo mode only: a few example stations, marked so every reply naming them says 示例数据."""
    from stations.csvfile import parse_csv
    from stations.samples import SAMPLE_CSV

    rows = [r.fields() for r in parse_csv(SAMPLE_CSV).rows]
    if store.load_sample_stations(rows, time.time()):
        print(f"demo stations: {len(rows)} example stations near 上海人民广场 (marked 示例数据)", flush=True)


def cmd_chat(args: argparse.Namespace) -> int:
    """A terminal conversation with the bot, through the real engine and a real database."""
    from bot.app import load_or_fail, template_context
    from bot.brain import build_brain
    from bot.delivery import handle_delivery
    from bot.conversation import Engine, Inbound
    from storage import open_store

    settings = _settings(args)
    engine = Engine(build_brain(load_or_fail(settings.knowledge_dir)), template_context(settings))
    # A throw-away database unless asked: a terminal test once showed up in the caseworkers'
    # queue of a running server as an urgent web-chat rider.
    scratch = None if args.keep else tempfile.TemporaryDirectory(prefix="gigdesk-chat-")
    db_path = settings.db_path if args.keep else Path(scratch.name) / "gigdesk.db"
    # --keep writes where the server does (PostgreSQL when database_url is set); else a scratch file.
    store = open_store(settings.database_url if args.keep else "", db_path)
    visitor = f"terminal-{uuid.uuid4().hex[:12]}"
    kept_in = "PostgreSQL（database_url）" if settings.database_url else db_path
    where = f"写入 {kept_in}，工作人员会在队列里看到（标为终端测试）" if args.keep else "用的是临时数据库，退出后删除"
    print(f"和机器人对话（输入 q 退出）。{where}。", flush=True)
    try:
        for line in sys.stdin if not sys.stdin.isatty() else iter(lambda: input("你：") + "\n", None):
            text = line.strip()
            if text in ("q", "quit", "exit"):
                break
            if not text:
                continue
            inbound = Inbound("web", visitor, "text", time.time(), text=text)
            outcome = handle_delivery(store, engine, f"t:{uuid.uuid4().hex}", inbound)
            reply = outcome.reply
            detail = f"  [{reply.outcome} {reply.intent} {reply.score if reply.score is not None else ''}]" \
                if reply and args.verbose else ""
            print(f"机器人：{outcome.reply_text or ''}{detail}\n", flush=True)
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        store.close()
        if scratch is not None:
            scratch.cleanup()
    return 0


def cmd_kb_check(args: argparse.Namespace) -> int:
    from knowledge.check import run_check

    settings = _settings(args)
    return run_check(settings.knowledge_dir, max_age_days=args.max_age_days)


def cmd_kb_eval(args: argparse.Namespace) -> int:
    from knowledge.evaluate import run_eval
    from knowledge.understanding import run_set

    settings = _settings(args)
    if args.set:
        return run_set(settings.knowledge_dir, args.set, misses=args.misses)
    return run_eval(settings.knowledge_dir, args.heldout, baselines=args.baselines, threshold=args.threshold)


def _read_password(prompt: str) -> str:
    """From standard input for scripts (first line), or asked twice at a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass
    first = getpass.getpass(prompt)
    if getpass.getpass("再输入一次：") != first:
        raise UserError("两次输入的密码不一样")
    return first


class UserError(Exception):
    """A `gigdesk user` command cannot be done; the message says why in one line."""


def cmd_user(args: argparse.Namespace) -> int:
    from bot.console.auth import PasswordError, account_name_problem, hash_password
    from storage import open_store
    from storage.accounts import ROLES

    settings = _settings(args)
    store = open_store(settings.database_url, settings.db_path)
    now = time.time()
    try:
        if args.user_command == "list":
            for user in store.users():
                print(f"{user['name']}\t{user['role']}\t{'active' if user['active'] else 'disabled'}")
            return 0
        user = store.user_by_name(args.name)
        if args.user_command == "add":
            if any(u["name"].lower() == args.name.lower() for u in store.users()):
                raise UserError(f"user {args.name} already exists (names are compared ignoring case)")
            if problem := account_name_problem(args.name, []):
                raise UserError(problem)
            if args.role not in ROLES:
                raise UserError(f"role must be one of {', '.join(ROLES)}")
            store.add_user(args.name, args.role, hash_password(_read_password("密码：")), now)
            store.audit("cli", "user_add", f"user:{args.name}", now, role=args.role)
            print(f"added {args.name} ({args.role})")
            return 0
        if user is None:
            raise UserError(f"no user called {args.name}")
        if args.user_command == "disable":
            store.update_user(user["id"], active=0)
        else:  # password
            store.update_user(user["id"], password_hash=hash_password(_read_password("新密码：")), active=1)
        store.audit("cli", f"user_{args.user_command}", f"user:{args.name}", now)
        print(f"{args.user_command}: {args.name} (logged out everywhere)")
        return 0
    except (UserError, PasswordError) as exc:
        print(f"gigdesk: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


# --- privacy: `gigdesk rider forget` and `gigdesk purge` --------------------------------------
RIDER_CHANNELS = ("wechat", "web")
MAX_RETENTION_DAYS = 36500


class PrivacyError(Exception):
    """`gigdesk rider forget` or `gigdesk purge` cannot be done; the message says why in one line."""


def _rider_ids(openid: str) -> list[str]:
    """The rider ids to forget: "wechat:X" or "web:X" as given, a bare X in both channels."""
    openid = openid.strip()
    channel, colon, rest = openid.partition(":")
    if colon and channel in RIDER_CHANNELS:
        if not rest:
            raise PrivacyError(f"no openid after {channel}:")
        return [openid]
    if not openid:
        raise PrivacyError("OPENID is empty")
    return [f"{c}:{openid}" for c in RIDER_CHANNELS]


def _existing_store(settings: Settings):
    """The database, which must already exist: forgetting in a new, empty one would only hide a
    wrong --data-dir."""
    from storage import open_store

    if not settings.database_url and not settings.db_path.is_file():
        raise PrivacyError(f"no database at {settings.db_path} (wrong --data-dir?)")
    return open_store(settings.database_url, settings.db_path)


def _delete_evidence(data_dir: str, files: list[str]) -> tuple[int, list[str]]:
    """Delete evidence files named relative to <data_dir>/evidence; refuse any that resolve
    (through "..", an absolute path or a symlink) outside that folder. Files already gone are
    fine. Returns how many were deleted and the problems, one short phrase each."""
    from pathlib import Path

    folder = (Path(data_dir) / "evidence").resolve()
    deleted, problems = 0, []
    for name in files:
        path = (folder / name).resolve()
        if path == folder or not path.is_relative_to(folder):
            problems.append(f"refused {name!r} (outside {folder})")
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"could not delete {name!r} ({exc.strerror or exc})")
            continue
        deleted += 1
        for parent in path.parents:  # a folder per case, say, goes once empty
            if parent == folder or not parent.is_relative_to(folder):
                break
            try:
                parent.rmdir()
            except OSError:
                break
    return deleted, problems


def _removed(result: dict, files_deleted: int) -> str:
    from storage.retention import TABLES

    return " ".join(f"{table}={result[table]}" for table in TABLES) + f" files={files_deleted}"


def _privacy_command(run) -> int:
    """run(), with what can go wrong as one line on stderr and exit status 2."""
    import sqlite3

    try:
        return run()
    except (PrivacyError, OSError) as exc:
        print(f"gigdesk: {exc}", file=sys.stderr)
    except sqlite3.Error as exc:
        print(f"gigdesk: database error: {exc}", file=sys.stderr)
    return 2


def _report_evidence_problems(problems: list[str]) -> int:
    if not problems:
        return 0
    print(f"gigdesk: evidence files left in place: {'; '.join(problems)}", file=sys.stderr)
    return 2


def cmd_rider_forget(args: argparse.Namespace) -> int:
    def run() -> int:
        settings = _settings(args)
        rider_ids = _rider_ids(args.openid)
        store = _existing_store(settings)
        try:
            now = time.time()
            results = [store.forget_rider(rider_id, "cli", now) for rider_id in rider_ids]
        finally:
            store.close()
        from storage.retention import TABLES

        total = {table: sum(r[table] for r in results) for table in TABLES}
        files = [f for r in results for f in r["files"]]
        if not any(total.values()):
            print(f"nothing found for {' or '.join(rider_ids)}")
            return 1
        deleted, problems = _delete_evidence(settings.data_dir, files)
        print(f"forgot: {_removed(total, deleted)}")
        return _report_evidence_problems(problems)
    return _privacy_command(run)


def _retention_days(value: object, name: str) -> int:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_RETENTION_DAYS:
        raise PrivacyError(f"{name} must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, got {text!r}")
    return int(text)


def cmd_purge(args: argparse.Namespace) -> int:
    def run() -> int:
        settings = _settings(args)
        days = (_retention_days(args.older_than, "--older-than") if args.older_than is not None
                else _retention_days(settings.retention_days, "retention_days"))
        store = _existing_store(settings)
        try:
            now = time.time()
            result = store.purge(now - days * 86400, now, actor="cli")
        finally:
            store.close()
        deleted, problems = _delete_evidence(settings.data_dir, result["files"])
        print(f"purged what ended more than {days} days ago: {_removed(result, deleted)}")
        return _report_evidence_problems(problems)
    return _privacy_command(run)


def _add_privacy_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    riders = sub.add_parser("rider", help="a rider's data").add_subparsers(dest="rider_command", required=True)
    forget = riders.add_parser("forget", parents=[common],
                               help="delete everything about a rider, with their evidence files")
    forget.add_argument("openid", metavar="OPENID",
                        help='"wechat:OPENID", "web:VISITOR", or a bare id to look in both channels')
    forget.set_defaults(func=cmd_rider_forget)
    purge = sub.add_parser("purge", parents=[common], help="delete what ended longer ago than the retention period")
    purge.add_argument("--older-than", metavar="DAYS",
                       help="days to keep what has ended (default: the retention_days setting)")
    purge.set_defaults(func=cmd_purge)


def cmd_backup(args: argparse.Namespace) -> int:
    """An online copy of the database, safe while the server runs (SQLite's backup API)."""
    from pathlib import Path

    from storage.ops import BackupError, backup_database, backup_postgres

    settings = _settings(args)
    target = Path(args.file)
    if target.is_dir():  # a folder: a dated name, so a daily timer keeps a series
        target = target / time.strftime("gigdesk-%Y%m%d-%H%M%S" + (".pgdump" if settings.database_url else ".db"))
    try:
        if settings.database_url:
            result = backup_postgres(settings.database_url, target)
            print(f"backed up the PostgreSQL database to {result['path']} ({result['bytes']} bytes, "
                  f"{result['tables']} tables, read back by pg_restore)")
            return 0
        result = backup_database(settings.db_path, target)
    except (BackupError, OSError) as exc:
        print(f"gigdesk: backup failed: {exc}", file=sys.stderr)
        return 2
    print(f"backed up {settings.db_path} to {result['path']} ({result['bytes']} bytes, integrity ok)")
    return 0


def cmd_stations_import(args: argparse.Namespace) -> int:
    """All rows or none: a file with errors is refused, every problem listed (or, with
    --good-rows-only, the good rows are imported and the bad ones listed)."""
    from stations.csvfile import parse_csv
    from storage import open_store

    settings = _settings(args)
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"gigdesk: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    parsed = parse_csv(data)
    for problem in parsed.problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if parsed.ignored_columns:
        print(f"{args.file}: 这些列没有用上：{'、'.join(parsed.ignored_columns)}", file=sys.stderr)
    if parsed.problems and not (args.good_rows_only and parsed.rows):
        print(f"gigdesk: nothing imported: {len(parsed.problems)} problem(s)"
              + ("" if args.good_rows_only else "; fix them, or import the good rows with --good-rows-only"),
              file=sys.stderr)
        return 1
    store = open_store(settings.database_url, settings.db_path)
    try:
        diff = store.import_stations([r.fields() for r in parsed.rows], "cli", time.time(), replace=args.replace)
    finally:
        store.close()
    print(f"imported {len(parsed.rows)} station(s): {len(diff['added'])} added, {len(diff['changed'])} changed, "
          f"{diff['unchanged']} unchanged, {len(diff['disabled'])} disabled"
          + (f"; {len(parsed.problems)} bad row(s) left out" if parsed.problems else ""))
    return 0


def cmd_stations_export(args: argparse.Namespace) -> int:
    from stations.csvfile import write_csv
    from storage import open_store

    settings = _settings(args)
    store = open_store(settings.database_url, settings.db_path)
    try:
        text = write_csv(store.all_stations(), chinese=args.chinese)
    finally:
        store.close()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8", newline="")
    else:
        sys.stdout.write(text)
    return 0


def _add_station_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    stations = sub.add_parser("stations", help="the union's rest-station directory (工会驿站)").add_subparsers(
        dest="stations_command", required=True)
    imp = stations.add_parser("import", parents=[common], help="import stations from a CSV file (UTF-8, header row)")
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--good-rows-only", action="store_true", help="import the good rows of a file with errors")
    imp.add_argument("--replace", action="store_true", help="disable the stations that are not in the file")
    imp.set_defaults(func=cmd_stations_import)
    exp = stations.add_parser("export", parents=[common], help="the directory as CSV (standard output or --out)")
    exp.add_argument("--out", metavar="FILE.csv")
    exp.add_argument("--chinese", action="store_true", help="Chinese column names (名称, 地址, …)")
    exp.set_defaults(func=cmd_stations_export)


def cmd_migrate_db(args: argparse.Namespace) -> int:
    """Copy the SQLite database of --data-dir into the empty PostgreSQL of database_url."""
    from storage.migrate import MigrateError, copy_sqlite_to_postgres

    settings = _settings(args)
    url = args.to or settings.database_url
    if not url:
        print("gigdesk: migrate-db needs the PostgreSQL database: --to URL or GIGDESK_DATABASE_URL", file=sys.stderr)
        return 2
    try:
        counts = copy_sqlite_to_postgres(settings.db_path, url)
    except MigrateError as exc:
        print(f"gigdesk: migrate-db: {exc}", file=sys.stderr)
        return 1
    print(f"copied {settings.db_path} into PostgreSQL, every count checked: "
          + " ".join(f"{table}={n}" for table, n in counts.items()))
    return 0


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="settings file (default: ./gigdesk.toml if present)")
    common.add_argument("--data-dir", help="folder for the SQLite database")
    common.add_argument("--knowledge-dir", help="folder with the FAQ files")

    p = argparse.ArgumentParser(prog="gigdesk", description="A trade union's help desk for gig workers.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", parents=[common], help="run the webhook, web chat and console")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true", help="demo token, no WeChat credentials needed")
    serve.add_argument("--workers", type=int, help="processes serving the address (default: the workers setting, 1)")
    # Set by the supervisor of --workers N on each worker: bind with SO_REUSEPORT (bot.workers).
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    chat = sub.add_parser("chat", parents=[common], help="talk to the bot in the terminal")
    chat.add_argument("-v", "--verbose", action="store_true", help="show which entry answered and its score")
    chat.add_argument("--keep", action="store_true",
                      help="write into the data directory's database (a running server's queue sees it)")
    chat.set_defaults(func=cmd_chat)

    kb = sub.add_parser("kb", help="check and measure the FAQ files").add_subparsers(dest="kb_command",
                                                                                    required=True)
    check = kb.add_parser("check", parents=[common], help="validate every FAQ file")
    check.add_argument("--max-age-days", type=int, default=365,
                       help="warn when an entry's reviewed date is older than this")
    check.set_defaults(func=cmd_kb_check)
    evaluate = kb.add_parser("eval", parents=[common], help="accuracy on the held-out questions")
    evaluate.add_argument("--heldout", default="tests/data/heldout.yaml")
    evaluate.add_argument("--set", help="a folder of rider messages (questions, danger, conversations) to run through"
                                        " the whole bot, e.g. tests/data/understanding/test")
    evaluate.add_argument("--misses", action="store_true", help="with --set: list every message it got wrong")
    evaluate.add_argument("--baselines", action="store_true", help="compare with TF-IDF and BM25")
    evaluate.add_argument("--threshold", type=float, default=0.0,
                          help="exit non-zero when top-1 accuracy is below this (0-1)")
    evaluate.set_defaults(func=cmd_kb_eval)

    users = sub.add_parser("user", help="console accounts").add_subparsers(dest="user_command", required=True)
    add = users.add_parser("add", parents=[common], help="create an account (password from standard input)")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="caseworker, editor or admin")
    users.add_parser("list", parents=[common], help="list accounts")
    for name, text in (("disable", "disable an account and end its sessions"),
                       ("password", "set a new password (from standard input) and enable the account")):
        action = users.add_parser(name, parents=[common], help=text)
        action.add_argument("name")
    for action in users.choices.values():
        action.set_defaults(func=cmd_user)
    _add_privacy_commands(sub, common)
    _add_station_commands(sub, common)
    backup = sub.add_parser("backup", parents=[common],
                            help="copy the database while the server runs (file, or folder for a dated name)")
    backup.add_argument("file", metavar="FILE")
    backup.set_defaults(func=cmd_backup)
    migrate = sub.add_parser("migrate-db", parents=[common],
                             help="copy the SQLite database into an empty PostgreSQL one and check the counts")
    migrate.add_argument("--to", metavar="URL", help="the PostgreSQL database (default: the database_url setting)")
    migrate.set_defaults(func=cmd_migrate_db)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (SettingsError, KnowledgeError) as exc:
        print(f"gigdesk: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
