"""baseline: adopt a database that was built without ``apply`` (e.g. ``psql -f`` of every file).

Such a database holds the project's objects but no history, so ``apply`` refuses it (it would run
every version again on top). :func:`baseline` checks that the live schema is exactly what version
N leaves, in PostgreSQL's stored form like ``verify``'s structure check, and only then records
versions 1..N as applied, with their checksums, without running them.

What "the schema version N leaves" is, for each N:

* a hand-declared version (``Project.versions``): its declared ``state``;
* the last released version: the snapshot in ``released.json`` (the head declarations once
  released; ``check`` keeps it in step with the files);
* an intermediate generated version: no declaration of it is kept, so the released files 1..N
  themselves (their SHA-256 checked against ``released.json``) are applied to a scratch database
  beside the live one and read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.live.apply import (
    HISTORY_SCHEMA,
    HISTORY_TABLE,
    ApplyRefused,
    _create_history,
    _lock,
    _unlock,
    apply_files,
    connect,
    read_history,
    record,
    released_problems,
)
from orders_schema.live.compare import Difference, compare, declared_catalog, declared_catalogs
from orders_schema.live.inspect import Catalog, inspect_schema
from orders_schema.migrate.workflow import released_others, released_schema
from orders_schema.store.files import check_version, read_manifest, sha256, version_files


class BaselineRefused(ApplyRefused):
    """The live schema does not match version N (or the database already has history); nothing recorded."""

    def __init__(self, message: str, differences: list[Difference] | None = None) -> None:
        super().__init__(message)
        self.differences = differences or []


@dataclass(frozen=True)
class Baselined:
    versions: list[int]
    source: str
    """What the live schema was compared with, in words."""


def last_released(schema_dir: Path) -> int | None:
    numbers = [int(e["version"]) for e in read_manifest(schema_dir).get("versions", []) if "version" in e]
    return max(numbers, default=None)


def _expected(project: Project, number: int, dsn: str) -> tuple[Catalog, str]:
    from orders_schema.tester.server import admin_dsn, scratch_database

    declared: m.Schema | None = None
    source = ""
    hand = {v.number: v for v in project.versions}
    if number in hand:
        declared, source = hand[number].state, f"the declarations of V{number}"
    elif number == last_released(project.schema_dir):
        declared, source = released_schema(project), f"the released schema snapshot ({number} is the last release)"
    if declared is not None:
        if number == last_released(project.schema_dir) and (others := released_others(project)):
            return declared_catalogs([declared, *others.values()], admin_dsn(dsn))[0], source
        return declared_catalog(declared, admin_dsn(dsn)), source
    files = [f for f in version_files(project.schema_dir) if f.number <= number]
    with scratch_database(dsn) as scratch, psycopg.connect(scratch) as conn:
        apply_files(conn, files)
        conn.commit()
        return inspect_schema(conn, project.schema.name), f"V1..V{number} applied to a scratch database"


def _expected_others(project: Project, number: int, dsn: str) -> list[Catalog]:
    """The other schemas (:attr:`Project.other_schemas`) as the last release leaves them, created
    beside the schema; at an earlier version, as its files leave them."""
    from orders_schema.tester.server import admin_dsn, scratch_database

    if not project.other_schemas:
        return []
    if number == last_released(project.schema_dir):
        released = released_schema(project)
        others = released_others(project)
        if released is not None:
            return declared_catalogs([released, *others.values()], admin_dsn(dsn))[1:]
    files = [f for f in version_files(project.schema_dir) if f.number <= number]
    with scratch_database(dsn) as scratch, psycopg.connect(scratch) as conn:
        apply_files(conn, files)
        conn.commit()
        return [inspect_schema(conn, o.name) for o in project.other_schemas]


def _invalid_in(conn: psycopg.Connection[Any], schema: str) -> list[Difference]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT i.indisvalid ORDER BY 1",
        (schema,),
    ).fetchall()
    return [Difference("index", f"{schema}.{r[0]}", "INVALID (left by a failed CONCURRENTLY build)") for r in rows]


def baseline(dsn: str, project: Project, version: int | None = None) -> Baselined:
    """Record versions 1..``version`` (default: the last released) as applied, after checking that the
    live schema matches what they leave. Raises ValueError for an unknown version,
    :class:`~orders_schema.live.apply.Unreachable`, or :class:`BaselineRefused` (nothing recorded)."""
    schema_dir = project.schema_dir
    problems = released_problems(schema_dir)
    if problems:
        raise BaselineRefused(f"{problems[0]}; nothing was recorded")
    number = version if version is not None else last_released(schema_dir)
    if number is None:
        raise ValueError(f"nothing is released in {schema_dir}/: no version to record")
    check_version(schema_dir, number, "--version")
    files = [f for f in version_files(schema_dir) if f.number <= number]
    with connect(dsn) as conn:
        _lock(conn, 600)
        try:
            history = read_history(conn)
            if history:
                listed = ", ".join(f"V{v}" for v in sorted(history))
                raise BaselineRefused(
                    f"{HISTORY_SCHEMA}.{HISTORY_TABLE} already records {listed}: baseline only adopts a "
                    "database with no history (use apply)"
                )
            expected, source = _expected(project, number, dsn)
            differences = compare(expected, inspect_schema(conn, expected.schema))
            differences += _invalid_in(conn, expected.schema)
            for other in _expected_others(project, number, dsn):  # a project's other schemas
                differences += compare(other, inspect_schema(conn, other.schema)) + _invalid_in(conn, other.schema)
            if differences:
                raise BaselineRefused(
                    f"the live schema {expected.schema} does not match V{number} ({source}): "
                    f"{len(differences)} difference(s); nothing was recorded",
                    differences,
                )
            with conn.transaction():
                _create_history(conn)
                for file in files:
                    record(conn, file, sha256(file.text), 0)
        finally:
            _unlock(conn)
    return Baselined([f.number for f in files], source)
