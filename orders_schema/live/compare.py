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
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import psycopg
from psycopg import conninfo

from orders_schema.declare import model as m
from orders_schema.declare.project import Project
from orders_schema.declare.quoting import ident, qualified
from orders_schema.kinds import KINDS, Kind
from orders_schema.live.difference import Difference, definition, pair, presence
from orders_schema.live.inspect import (
    Catalog,
    ColumnInfo,
    ConstraintInfo,
    TableInfo,
    inspect_schema,
)
from orders_schema.migrate import plan
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
    The scratch database is dropped whatever happens.
    """
    schema = declared.schema if isinstance(declared, Project) else declared
    admin = _connector(server)
    script = RENDERER.script(plan.create_statements(schema))
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
        return inspect_schema(conn, schema.name)


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
    constraints, which are matched by their stored definition first. Order: tables (with their
    columns, constraints and triggers), indexes, functions, views, comments (by the kinds' rank);
    each by name.
    """
    if declared.schema != live.schema:
        raise ValueError(
            f"compare: declared schema {declared.schema!r} and live schema {live.schema!r} differ; stored "
            "definitions name their schema, so only catalogs of the same schema compare"
        )
    s = declared.schema
    parts: list[tuple[int, Callable[[], Iterable[Difference]]]] = [
        (10, lambda: _compare_tables(s, declared, live)),
    ]
    parts += [(kind.rank, _kind_part(kind, s, declared, live)) for kind in KINDS]
    out: list[Difference] = []
    for _, part in sorted(parts, key=lambda p: p[0]):
        out += part()
    return out


def _kind_part(
    kind: Kind[Any, Any], s: str, declared: Catalog, live: Catalog
) -> Callable[[], Iterable[Difference]]:
    return lambda: kind.compare(s, getattr(declared, kind.catalog_field), getattr(live, kind.catalog_field))


def _compare_tables(s: str, declared: Catalog, live: Catalog) -> Iterator[Difference]:
    for name, d_table, l_table in _pair({t.name: t for t in declared.tables}, {t.name: t for t in live.tables}):
        if d_table is None or l_table is None:
            yield _presence("table", qualified(s, name), _table_text(d_table), _table_text(l_table))
        else:
            yield from _compare_table(s, d_table, l_table)


_pair = pair
_presence = presence
_definition = definition


def _table_text(table: TableInfo | None) -> str | None:
    if table is None:
        return None
    return "columns: " + ", ".join(str(_column_text(c)) for c in table.columns)


def _compare_table(s: str, declared: TableInfo, live: TableInfo) -> list[Difference]:
    return [
        *_compare_columns(s, declared, live),
        *_compare_checks(s, declared.name, declared.checks(), live.checks()),
        *_compare_other_constraints(s, declared, live),
        *_compare_triggers(s, declared, live),
    ]


def _compare_columns(s: str, declared: TableInfo, live: TableInfo) -> Iterator[Difference]:
    for name, d, x in _pair({c.name: c for c in declared.columns}, {c.name: c for c in live.columns}):
        where = qualified(s, declared.name, name)
        if d is None or x is None:
            yield _presence("column", where, _column_text(d), _column_text(x))
            continue
        for what, render in _COLUMN_ATTRIBUTES:
            if render(d) != render(x):
                yield Difference("column", where, what, render(d), render(x))
    common = {c.name for c in declared.columns} & {c.name for c in live.columns}
    d_order = [c.name for c in declared.columns if c.name in common]
    l_order = [c.name for c in live.columns if c.name in common]
    if d_order != l_order:
        yield Difference(
            "table", qualified(s, declared.name), "column order differs (the columns match; only their order)",
            ", ".join(map(ident, d_order)), ", ".join(map(ident, l_order)),
        )


def _compare_other_constraints(s: str, declared: TableInfo, live: TableInfo) -> Iterator[Difference]:
    """PRIMARY KEY, UNIQUE, FOREIGN KEY and EXCLUDE constraints, matched by name."""
    pairs = _pair(
        {c.name: c for c in declared.constraints if c.kind != "check"},
        {c.name: c for c in live.constraints if c.kind != "check"},
    )
    for name, d, x in pairs:
        where = qualified(s, declared.name, name)
        if d is None or x is None:
            kind = d.kind if d is not None else x.kind if x is not None else ""
            yield _presence(kind, where, _definition(d), _definition(x))
        else:
            yield from _compare_constraint(where, d, x)


def _compare_triggers(s: str, declared: TableInfo, live: TableInfo) -> Iterator[Difference]:
    for name, d, x in _pair({t.name: t for t in declared.triggers}, {t.name: t for t in live.triggers}):
        where = qualified(s, declared.name, name)
        if d is None or x is None:
            yield _presence("trigger", where, _definition(d), _definition(x))
        elif d.definition != x.definition:
            yield Difference("trigger", where, "definition differs", d.definition, x.definition)
        elif d.enabled != x.enabled:
            yield Difference("trigger", where, "enabled differs", _ENABLED[d.enabled], _ENABLED[x.enabled])


def _column_text(col: ColumnInfo | None) -> str | None:
    if col is None:
        return None
    text = f"{ident(col.name)} {col.type}{' NOT NULL' if col.not_null else ''}"
    return text + (f" DEFAULT {col.default}" if col.default is not None and not col.generated else "")


_IDENTITY = {"a": "GENERATED ALWAYS AS IDENTITY", "d": "GENERATED BY DEFAULT AS IDENTITY", "": "(not identity)"}
_GENERATED = {"s": "STORED", "v": "VIRTUAL", "": "(not generated)"}
_ENABLED = {"O": "enabled", "D": "disabled", "R": "enabled on replica only", "A": "enabled always"}
_COLUMN_ATTRIBUTES: tuple[tuple[str, Callable[[ColumnInfo], str]], ...] = (
    ("type differs", lambda c: c.type),
    ("NOT NULL differs", lambda c: "NOT NULL" if c.not_null else "NULL allowed"),
    ("default differs", lambda c: "(no default)" if c.default is None else c.default),
    ("identity differs", lambda c: _IDENTITY.get(c.identity, c.identity)),
    ("generated differs", lambda c: _GENERATED.get(c.generated, c.generated)),
)


def _compare_constraint(where: str, declared: ConstraintInfo, live: ConstraintInfo) -> list[Difference]:
    if declared.kind != live.kind or declared.body != live.body:
        return [Difference(declared.kind, where, "definition differs", declared.definition, live.definition)]
    if declared.validated != live.validated:
        return [Difference(declared.kind, where, "validation differs", _valid(declared), _valid(live))]
    return []


def _valid(con: ConstraintInfo) -> str:
    return "validated" if con.validated else "NOT VALID (rows present before it was added were never checked)"


def _check_text(con: ConstraintInfo) -> str:
    return f"{ident(con.name)} {con.definition}"


def _compare_checks(
    s: str, table: str, declared: Sequence[ConstraintInfo], live: Sequence[ConstraintInfo]
) -> list[Difference]:
    """Match CHECK constraints by meaning, in four passes: same name and definition; same
    definition under another name (a rename); same name, other definition; and the only declared
    and the only live check left on the same columns (renamed and changed). The rest is missing
    or extra."""
    d_left, l_left = list(declared), list(live)
    out: list[Difference] = []

    def where(con: ConstraintInfo) -> str:
        return qualified(s, table, con.name)

    def alone_on_same_columns(d: ConstraintInfo, x: ConstraintInfo) -> bool:
        cols = set(d.columns)
        return (set(x.columns) == cols and sum(set(o.columns) == cols for o in d_left) == 1
                and sum(set(o.columns) == cols for o in l_left) == 1)

    for d, x in _take(d_left, l_left, lambda d, x: d.name == x.name and d.body == x.body):
        out += _compare_constraint(where(d), d, x)
    for d, x in _take(d_left, l_left, lambda d, x: d.body == x.body):
        what = f"renamed to {ident(x.name)} (same definition)"
        out.append(Difference("check", where(d), what, _check_text(d), _check_text(x)))
        out += _compare_constraint(where(d), d, x)
    for d, x in _take(d_left, l_left, lambda d, x: d.name == x.name):
        out += _compare_constraint(where(d), d, x)
    for d, x in _take(d_left, l_left, alone_on_same_columns):
        what = f"renamed to {ident(x.name)} and definition differs"
        out.append(Difference("check", where(d), what, _check_text(d), _check_text(x)))
    out += [Difference("check", where(d), "missing", _check_text(d), None) for d in d_left]
    out += [Difference("check", where(x), "extra", None, _check_text(x)) for x in l_left]
    return out


def _take(
    declared: list[ConstraintInfo], live: list[ConstraintInfo],
    same: Callable[[ConstraintInfo, ConstraintInfo], bool],
) -> list[tuple[ConstraintInfo, ConstraintInfo]]:
    """Remove and return the pairs ``same`` matches (each declared check with the first live one)."""
    pairs = []
    for d in list(declared):
        x = next((x for x in live if same(d, x)), None)
        if x is not None:
            declared.remove(d)
            live.remove(x)
            pairs.append((d, x))
    return pairs
