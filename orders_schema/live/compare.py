"""Compare: the declarations, in PostgreSQL's stored form, against a live schema.

Declared text and stored text never compare equal (PostgreSQL stores ``status IN ('a', 'b')`` as
``((status)::text = ANY (...))``, ``NOW()`` as ``now()``). So the declarations are first turned
into stored form by PostgreSQL itself: :func:`declared_catalog` creates the declared schema in a
scratch database on the server under test, reads it back with
:func:`~orders_schema.live.inspect.inspect_schema`, and drops the database (Atlas's "dev database").
:func:`compare` then compares two :class:`~orders_schema.live.inspect.Catalog` objects and lists every
:class:`Difference`, each naming the object and showing both sides::

    index walltrack.idx_orders_status: definition differs
      declared: CREATE INDEX idx_orders_status ON walltrack.orders USING btree (status)
      live:     CREATE INDEX idx_orders_status ON walltrack.orders USING btree (status, side)

CHECK constraints are matched by meaning (their stored definition), not by name: a declared check
found under another name is reported once, as a rename.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import psycopg
from psycopg import conninfo

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.kinds import KINDS, Kind
from orders_schema.live.difference import Difference
from orders_schema.live.inspect import Catalog, inspect_schema
from orders_schema.migrate import plan, together
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.server import scratch_database

__all__ = ["DeclaredCatalogError", "Difference", "DsnFactory", "HasServer", "compare", "declared_catalog"]


class DeclaredCatalogError(RuntimeError):
    """The declarations could not be read back in stored form (no CREATE DATABASE, or they fail)."""


# ---------------------------------------------------------------------------------------------
# The declarations in stored form
# ---------------------------------------------------------------------------------------------


class DsnFactory(Protocol):
    """Gives the DSN of a database on one server (``tester.server.Server`` is one)."""

    def dsn(self, dbname: str) -> str: ...


@runtime_checkable
class HasServer(Protocol):
    """Anything with a ``server`` :class:`DsnFactory` (``harness.Databases`` is one)."""

    @property
    def server(self) -> DsnFactory: ...


def declared_catalog(declared: Project | m.Schema, server: str | DsnFactory | HasServer) -> Catalog:
    """The declared schema as PostgreSQL stores it, read from a scratch database on ``server``.

    ``server`` is an admin DSN (any database of the server; the role needs CREATEDB), or a
    :class:`DsnFactory` / :class:`HasServer` such as a ``tester.server.Server`` or the
    harness's ``Databases``, whose ``postgres`` database is used for CREATE / DROP DATABASE. Use the server
    the live schema is on: stored forms can differ between PostgreSQL versions.
    The scratch database is dropped whatever happens. A project's other schemas
    (:attr:`~orders_schema.declare.project.Project.other_schemas`) are created beside its schema
    (see :func:`declared_catalogs`).
    """
    schemas = declared.schemas if isinstance(declared, Project) else (declared,)
    return declared_catalogs(schemas, server)[0]


def declared_catalogs(schemas: Sequence[m.Schema], server: str | DsnFactory | HasServer) -> list[Catalog]:
    """Several declared schemas created together on one scratch database (ordered by the
    dependencies between them), each read back in stored form (see :func:`declared_catalog`)."""
    schema = schemas[0]
    admin = _connector(server)
    created = plan.create_statements(schema) if len(schemas) == 1 else together.create_statements(schemas)
    script = RENDERER.script(created)
    with contextlib.ExitStack() as stack:
        try:
            dsn = stack.enter_context(scratch_database(admin, "orders_schema_declared"))
        except psycopg.errors.InsufficientPrivilege as exc:
            params = conninfo.conninfo_to_dict(admin)
            raise DeclaredCatalogError(
                f"cannot read the declarations in stored form: role {params.get('user')!r} may not "
                f"CREATE DATABASE on {params.get('host')}:{params.get('port')} ({exc.diag.message_primary}). "
                "The tester creates a scratch database on the server under test, applies the "
                "declarations there and drops it. Grant the role CREATEDB (ALTER ROLE ... CREATEDB) "
                "or give an admin DSN of a role that has it."
            ) from None
        conn = stack.enter_context(psycopg.connect(dsn))
        try:
            conn.execute(script)
        except psycopg.Error as exc:
            raise DeclaredCatalogError(
                f"the declarations of schema {schema.name!r} do not apply on an empty database: "
                f"{exc.diag.sqlstate} {exc.diag.message_primary}. Objects outside the schema "
                "(external tables, extensions) must exist in template1 of the server."
            ) from exc
        return [inspect_schema(conn, s.name) for s in schemas]


def _connector(server: str | DsnFactory | HasServer) -> str:
    """An admin DSN of the server (its ``postgres`` database for a factory; a DSN as given)."""
    if isinstance(server, str):
        return server
    factory = server.server if isinstance(server, HasServer) else server
    return factory.dsn("postgres")


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------


def compare(declared: Catalog, live: Catalog) -> list[Difference]:
    """Every difference between the declared and the live catalog; ``[]`` when they agree.

    Objects are matched by name (functions by name and argument types), except CHECK
    constraints, which are matched by their stored definition first. Order: by the kinds' rank:
    tables (with their columns), triggers, constraints, indexes, functions, views, comments;
    each by name.
    """
    if declared.schema != live.schema:
        raise ValueError(
            f"compare: declared schema {declared.schema!r} and live schema {live.schema!r} differ; stored "
            "definitions name their schema, so only catalogs of the same schema compare"
        )
    s = declared.schema
    parts = [(kind.rank, _kind_part(kind, s, declared, live)) for kind in KINDS]
    out: list[Difference] = []
    for _, part in sorted(parts, key=lambda p: p[0]):
        out += part()
    return out


def _kind_part(
    kind: Kind[Any, Any], s: str, declared: Catalog, live: Catalog
) -> Callable[[], Iterable[Difference]]:
    d_items, l_items = getattr(declared, kind.catalog_field), getattr(live, kind.catalog_field)
    if kind.of_tables:  # a table missing on one side is one difference, not one per object it holds
        both = ({t.name for t in declared.tables} | {v.name for v in declared.views if not v.materialized}) & (
            {t.name for t in live.tables} | {v.name for v in live.views if not v.materialized})
        d_items = tuple(x for x in d_items if x.table in both)
        l_items = tuple(x for x in l_items if x.table in both)
    return lambda: kind.compare(s, d_items, l_items)
