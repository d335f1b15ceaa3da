"""``orders-schema advise``: check a live database against security and performance rules.

:func:`advise` connects read-only, decides which schemas and API roles it examines, runs every rule
of :data:`orders_schema.advise.rules.RULES` and returns a :class:`Report`; :mod:`.formats` renders it.
The command exits 1 when a finding is at warning level or above, 0 otherwise (``info`` findings
never fail), 2 on bad input (one line). See ``docs/advise.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import psycopg

from orders_schema.advise.formats import FORMATS
from orders_schema.advise.model import FAILING_LEVELS, LEVELS, Context, Finding, Report, Rule, sort_findings
from orders_schema.advise.rules import RULES
from orders_schema.declare.project import Project, load
from orders_schema.live.apply import HISTORY_SCHEMA

__all__ = [
    "DEFAULT_API_ROLES",
    "FAILING_LEVELS",
    "FORMATS",
    "LEVELS",
    "RULES",
    "AdviseInputError",
    "Finding",
    "Report",
    "Rule",
    "advise",
    "register",
]

DEFAULT_API_ROLES = ("anon", "authenticated")
"""The roles an HTTP API (PostgREST, Supabase) switches to per request, examined when they exist."""


class AdviseInputError(ValueError):
    """Bad input: an unreachable or unparsable DSN, an unknown schema, role or format."""


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def examined_schemas(conn: psycopg.Connection, only: Sequence[str] | None) -> tuple[str, ...]:
    """Every non-system schema but the tool's own history schema, or exactly ``only``."""
    if only:
        found = {
            row[0]
            for row in conn.execute(
                "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY(%(names)s::text[])", {"names": list(only)}
            )
        }
        missing = [s for s in only if s not in found]
        if missing:
            raise AdviseInputError(f"schema {missing[0]!r} does not exist in this database")
        return tuple(dict.fromkeys(only))
    rows = conn.execute(
        """
        SELECT nspname::text FROM pg_namespace
        WHERE nspname <> 'information_schema' AND NOT starts_with(nspname, 'pg_') AND nspname <> %(own)s
        ORDER BY 1
        """,
        {"own": HISTORY_SCHEMA},
    )
    return tuple(row[0] for row in rows)


def api_roles(conn: psycopg.Connection, named: Sequence[str] | None) -> tuple[str, ...]:
    """The roles named with ``--api-role`` (each must exist), else those of the defaults that exist."""
    wanted = list(dict.fromkeys(named)) if named else list(DEFAULT_API_ROLES)
    found = {
        row[0]
        for row in conn.execute(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY(%(names)s::text[])", {"names": wanted}
        )
    }
    if named:
        missing = [r for r in wanted if r not in found]
        if missing:
            raise AdviseInputError(f"role {missing[0]!r} given with --api-role does not exist")
    return tuple(r for r in wanted if r in found)


def advise(
    dsn: str,
    *,
    roles: Sequence[str] | None = None,
    schemas: Sequence[str] | None = None,
    rules: Sequence[Rule] | None = None,
    project: Project | None = None,
) -> Report:
    """Run the rules on the database at ``dsn`` in a read-only transaction that is rolled back."""
    try:
        conn = psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        raise AdviseInputError(f"cannot connect: {_one_line(exc)}") from None
    with conn:
        conn.read_only = True
        try:
            examined = examined_schemas(conn, schemas)
            chosen = api_roles(conn, roles)
            info = conn.execute(
                "SELECT current_database()::text, current_user::text, current_setting('server_version'),"
                " current_setting('server_version_num')::int"
            ).fetchone()
            assert info is not None
            ctx = Context(conn, examined, chosen, int(info[3]), project)
            selected = tuple(rules if rules is not None else RULES)
            findings: list[Finding] = []
            skipped: list[str] = []
            for rule in selected:
                if rule.needs_api_roles and not chosen:
                    skipped.append(rule.id)
                    continue
                try:
                    findings.extend(rule.check(ctx))
                except psycopg.Error as exc:  # e.g. a role that may not read a catalogue view
                    raise AdviseInputError(f"rule {rule.id} cannot read the catalogue: {_one_line(exc)}") from None
        finally:
            conn.rollback()
    return Report(
        database=str(info[0]),
        user=str(info[1]),
        server_version=str(info[2]),
        schemas=examined,
        api_roles=chosen,
        rules=selected,
        findings=sort_findings(findings),
        skipped=tuple(skipped),
    )


def cmd_advise(args: argparse.Namespace) -> int:
    """``orders-schema advise``: print the report in the chosen format; exit 1 on warning or error."""
    from orders_schema.cli import UsageError

    if args.format not in FORMATS:
        raise UsageError(f"unknown format {args.format!r} (choose from {', '.join(FORMATS)})")
    from orders_schema.cli import project_spec

    project = load(*project_spec(args)) if args.queries else None
    try:
        report = advise(args.dsn, roles=args.api_role, schemas=args.advise_schema, project=project)
    except AdviseInputError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(FORMATS[args.format](report))
    return 1 if report.failing else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``advise`` subcommand (called by ``orders_schema.cli.build_parser``)."""
    from orders_schema.cli import dsn

    parser = sub.add_parser(
        "advise",
        help="check a live database against security and performance rules (exit 1 on a warning or error)",
        description="Check a live database against security and performance rules. Exit 0 when no finding is "
        "at warning level or above, 1 when one is, 2 for bad input. See docs/advise.md.",
    )
    parser.add_argument("--dsn", type=dsn, required=True, help="libpq connection string or URI")
    parser.add_argument(
        "--format", default="text", metavar="FORMAT", help=f"{'|'.join(FORMATS)} (default text)"
    )
    parser.add_argument(
        "--api-role",
        action="append",
        default=None,
        metavar="ROLE",
        help=f"a role the API acts as (repeatable; replaces the default: {', '.join(DEFAULT_API_ROLES)} "
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
