"""verify: the tester's structure and behaviour checks against one database.

Structure: the live catalogue equals the declarations in PostgreSQL's stored form (the
declarations are applied to a scratch database on the same server and read back). Behaviour:
every case of :mod:`orders_schema.tester.checks`, each inside a transaction that is rolled back. Cases
that must commit run only on a throwaway database; migration cases run in scratch databases
created beside the one verified (never in it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psycopg

from orders_schema.declare.project import Project
from orders_schema.live.apply import migrate
from orders_schema.live.compare import Difference, compare, declared_catalogs
from orders_schema.live.inspect import inspect_schema
from orders_schema.tester import checks
from orders_schema.tester.server import Choice, admin_dsn, create_database, scratch_database, throwaway_server


@dataclass(frozen=True)
class Verification:
    differences: list[Difference]
    behaviour: checks.Report

    @property
    def ok(self) -> bool:
        return not self.differences and self.behaviour.ok()

    def report(self) -> str:
        lines = []
        if self.differences:
            lines.append(f"structure: {len(self.differences)} difference(s) between the declarations and the database")
            lines += [f"  - {str(d).replace(chr(10), chr(10) + '    ')}" for d in self.differences]
        else:
            lines.append("structure: the database matches the declarations (PostgreSQL's stored form)")
        lines.append("behaviour:")
        lines += ["  " + line for line in self.behaviour.summary().splitlines()]
        lines.append("verify: " + ("ok" if self.ok else "FAILED"))
        return "\n".join(lines)


def scratch_databases(dsn: str) -> contextlib.AbstractContextManager[str]:
    """A context manager yielding the DSN of a new empty database beside ``dsn``, dropped on exit."""
    return scratch_database(dsn)


def verify(project: Project, dsn: str, *, rows: int = 20_000, commits: bool = False,
           migrations: bool = True) -> Verification:
    """Structure and behaviour of the database at ``dsn`` against the project's head declarations."""
    with psycopg.connect(dsn) as conn:
        live = [inspect_schema(conn, s.name) for s in project.schemas]
    declared = declared_catalogs(project.schemas, admin_dsn(dsn))
    differences = [d for want, got in zip(declared, live, strict=True) for d in compare(want, got)]
    behaviour = checks.run_project(
        project, dsn, rows=rows, commits=commits,
        empty_database=(lambda: scratch_databases(dsn)) if migrations else None,
    )
    return Verification(differences, behaviour)


def verify_throwaway(project: Project, pg: str | Choice | None = None, rows: int = 20_000) -> Verification:
    """Start a private PostgreSQL (``pg``: a :class:`Choice` or a selector for :func:`choose`),
    apply every version, verify everything (commit cases included)."""
    with throwaway_server(pg) as server:
        create_database(server.dsn(), "orders_schema_verify")
        dsn = server.dsn("orders_schema_verify")
        migrate(dsn, project.schema_dir)
        return verify(project, dsn, rows=rows, commits=True)
