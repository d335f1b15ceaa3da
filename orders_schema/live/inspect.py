"""Inspect: a live schema read from PostgreSQL's catalog, in PostgreSQL's own stored forms.

:func:`inspect_schema` returns a :class:`Catalog`: plain immutable data holding what the server
itself says about each object (``format_type``, ``pg_get_expr``, ``pg_get_constraintdef``,
``pg_get_indexdef``, ``pg_get_triggerdef``, ``pg_get_functiondef``, ``pg_get_viewdef``), never
text the user wrote. Comparing two catalogs read from the same server is then a plain equality
test (see :mod:`orders_schema.live.compare`).

The catalog is read in one transaction with ``search_path`` set to ``pg_catalog`` only, so every
name outside ``pg_catalog`` comes back schema-qualified whatever the caller's ``search_path`` is;
the transaction is rolled back, so the connection is left as it was. One query per kind of
object (tables, columns, constraints, triggers here; indexes, functions, views and comments from
their kinds in :mod:`orders_schema.kinds`), the schema name always a bound parameter. Objects
that belong to an extension are left out, and so are NOT NULL constraints (PostgreSQL 18 keeps
them in ``pg_constraint``; here NOT NULL is a column property on every version) and triggers on
views.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from orders_schema.kinds import KINDS
from orders_schema.kinds.comment import CommentInfo
from orders_schema.kinds.function import FunctionInfo
from orders_schema.kinds.index import IndexInfo
from orders_schema.kinds.view import ViewInfo

__all__ = [
    "SYSTEM_SCHEMAS",
    "Catalog",
    "ColumnInfo",
    "CommentInfo",
    "ConstraintInfo",
    "ConstraintKind",
    "FunctionInfo",
    "IndexInfo",
    "TableInfo",
    "TriggerInfo",
    "ViewInfo",
    "inspect_schema",
    "snapshot",
]

ConstraintKind = Literal["check", "foreign key", "unique", "primary key", "exclusion"]
_CONSTRAINT_KINDS: dict[str, ConstraintKind] = {
    "c": "check", "f": "foreign key", "u": "unique", "p": "primary key", "x": "exclusion",
}
_NOT_VALID = " NOT VALID"


@dataclass(frozen=True)
class ColumnInfo:
    """A column. ``ordinal`` counts live columns from 1 (dropped columns leave no gap)."""

    name: str
    type: str
    """``format_type(atttypid, atttypmod)``, e.g. ``character varying(20)``."""
    not_null: bool
    default: str | None
    """``pg_get_expr(adbin, adrelid)``, e.g. ``'pending'::character varying``; the generation
    expression for a generated column."""
    ordinal: int
    identity: str = ""
    """``attidentity``: ``a`` (ALWAYS), ``d`` (BY DEFAULT) or empty."""
    generated: str = ""
    """``attgenerated``: ``s`` (STORED), ``v`` (VIRTUAL, PostgreSQL 18) or empty."""


@dataclass(frozen=True)
class ConstraintInfo:
    """A table constraint (NOT NULL is a column property here, on every PostgreSQL version)."""

    name: str
    kind: ConstraintKind
    definition: str
    """``pg_get_constraintdef(oid)``, e.g. ``CHECK (((side)::text = ANY (...)))``."""
    validated: bool
    columns: tuple[str, ...] = ()
    """The constrained columns (``conkey``), in key order."""

    @property
    def body(self) -> str:
        """The definition without the `` NOT VALID`` that PostgreSQL appends while unvalidated."""
        if not self.validated and self.definition.endswith(_NOT_VALID):
            return self.definition[: -len(_NOT_VALID)]
        return self.definition


@dataclass(frozen=True)
class TriggerInfo:
    name: str
    definition: str
    """``pg_get_triggerdef(oid)``."""
    enabled: str
    """``tgenabled``: ``O`` (origin and local), ``D`` (disabled), ``R`` (replica), ``A`` (always)."""


@dataclass(frozen=True)
class TableInfo:
    """A table with its columns (in ordinal order), constraints and triggers (by name)."""

    name: str
    columns: tuple[ColumnInfo, ...] = ()
    constraints: tuple[ConstraintInfo, ...] = ()
    triggers: tuple[TriggerInfo, ...] = ()

    def column(self, name: str) -> ColumnInfo:
        return _find(self.columns, name)

    def constraint(self, name: str) -> ConstraintInfo:
        return _find(self.constraints, name)

    def trigger(self, name: str) -> TriggerInfo:
        return _find(self.triggers, name)

    def checks(self) -> tuple[ConstraintInfo, ...]:
        return tuple(c for c in self.constraints if c.kind == "check")


@dataclass(frozen=True)
class Catalog:
    """One schema as PostgreSQL stores it. Every tuple is sorted by the objects' keys."""

    schema: str
    tables: tuple[TableInfo, ...] = ()
    indexes: tuple[IndexInfo, ...] = ()
    functions: tuple[FunctionInfo, ...] = ()
    views: tuple[ViewInfo, ...] = ()
    comments: tuple[CommentInfo, ...] = ()
    """``COMMENT ON TABLE`` / ``COLUMN`` texts, by table and column."""

    def table(self, name: str) -> TableInfo:
        return _find(self.tables, name)

    def index(self, name: str) -> IndexInfo:
        return _find(self.indexes, name)

    def view(self, name: str) -> ViewInfo:
        return _find(self.views, name)

    def function(self, signature: str) -> FunctionInfo:
        """By signature, e.g. ``"touch()"`` or ``"add(integer, integer)"``."""
        for fn in self.functions:
            if fn.signature == signature:
                return fn
        raise KeyError(signature)


_T = TypeVar("_T", ColumnInfo, ConstraintInfo, TriggerInfo, TableInfo, IndexInfo, ViewInfo)


def _find(items: Iterable[_T], name: str) -> _T:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Catalogue queries: one per kind of object, the schema name always the bound parameter %s.
# ``NOT EXISTS (... deptype = 'e')`` leaves out objects that belong to an extension.
# ---------------------------------------------------------------------------------------------

_RELATIONS = """
SELECT c.relname AS name, c.relkind::text AS kind
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname"""

_COLUMNS = """
SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(ad.adbin, ad.adrelid) AS default,
       row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)::int AS ordinal,
       a.attidentity::text AS identity, a.attgenerated::text AS generated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname, a.attnum"""

_CONSTRAINTS = """
SELECT c.relname AS table, k.conname AS name, k.contype::text AS kind,
       pg_get_constraintdef(k.oid) AS definition, k.convalidated AS validated,
       ARRAY(SELECT a.attname::text
             FROM unnest(k.conkey) WITH ORDINALITY u(attnum, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
             ORDER BY u.i) AS columns
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND k.contype IN ('c', 'f', 'u', 'p', 'x')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname, k.conname"""

_TRIGGERS = """
SELECT c.relname AS table, t.tgname AS name, pg_get_triggerdef(t.oid) AS definition,
       t.tgenabled::text AS enabled
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT t.tgisinternal
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname, t.tgname"""

def inspect_schema(conn: psycopg.Connection[Any], schema: str) -> Catalog:
    """Read one schema's tables, columns, constraints, indexes, triggers, functions and views.

    ``conn`` may be idle or inside a transaction; it is left as it was (the reads happen in a
    transaction or savepoint that is rolled back). A schema that does not exist gives an empty
    :class:`Catalog`.
    """
    with conn.transaction(force_rollback=True), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT set_config('search_path', 'pg_catalog', true)")

        def rows(query: str) -> list[dict[str, Any]]:
            cur.execute(query, (schema,))
            return cur.fetchall()

        relations = rows(_RELATIONS)
        columns = rows(_COLUMNS)
        constraints = rows(_CONSTRAINTS)
        triggers = rows(_TRIGGERS)
        kinds: dict[str, Any] = {}
        for kind in KINDS:
            cur.execute(kind.query, {"schema": schema})
            kinds[kind.catalog_field] = kind.stored(cur.fetchall())

    by_table: dict[str, dict[str, list[Any]]] = {}

    def parts(table: str) -> dict[str, list[Any]]:
        return by_table.setdefault(table, {"columns": [], "constraints": [], "triggers": []})

    for r in relations:
        parts(r["name"])
    for r in columns:
        parts(r.pop("table"))["columns"].append(ColumnInfo(**r))
    for r in constraints:
        r["kind"], r["columns"] = _CONSTRAINT_KINDS[r["kind"]], tuple(r["columns"])
        parts(r.pop("table"))["constraints"].append(ConstraintInfo(**r))
    for r in triggers:
        parts(r.pop("table"))["triggers"].append(TriggerInfo(**r))
    return Catalog(
        schema=schema,
        tables=tuple(
            TableInfo(name, tuple(p["columns"]), tuple(p["constraints"]), tuple(p["triggers"]))
            for name, p in sorted(by_table.items())
        ),
        **kinds,
    )


# ---------------------------------------------------------------------------------------------
# The whole catalogue as lines (every non-system schema, every kind of object)
# ---------------------------------------------------------------------------------------------

SYSTEM_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast"]

# One query per kind of object; each returns one text column. Schemas are filtered with a bound
# parameter; everything is rendered by the server's own pg_get_*def / format_type functions.
_SNAPSHOT_QUERIES: tuple[str, ...] = (
    """SELECT 'schema ' || n.nspname
    FROM pg_namespace n WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT 'extension ' || e.extname || ' ' || e.extversion || ' in ' || n.nspname
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace""",
    """SELECT format('relation %%I.%%I kind=%%s persistence=%%s rls=%%s options=%%s acl=%%s',
        n.nspname, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.reloptions, c.relacl)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('column %%I.%%I.%%I %%s notnull=%%s default=%%s identity=%%s generated=%%s collation=%%s',
        n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
        pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation::regcollation)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
      AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('constraint %%I.%%s %%I %%s validated=%%s deferrable=%%s',
        n.nspname, COALESCE(c.relname, 'type ' || t.typname), k.conname, pg_get_constraintdef(k.oid),
        k.convalidated, k.condeferrable)
    FROM pg_constraint k
    JOIN pg_namespace n ON n.oid = k.connamespace
    LEFT JOIN pg_class c ON c.oid = k.conrelid
    LEFT JOIN pg_type t ON t.oid = k.contypid
    WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('index %%I.%%I %%s valid=%%s', n.nspname, c.relname, pg_get_indexdef(i.indexrelid),
        i.indisvalid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('trigger %%I.%%I %%s enabled=%%s', n.nspname, c.relname, pg_get_triggerdef(t.oid),
        t.tgenabled)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('function %%I.%%I(%%s) md5=%%s acl=%%s', n.nspname, p.proname,
        pg_get_function_identity_arguments(p.oid), md5(pg_get_functiondef(p.oid)), p.proacl)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prokind IN ('f', 'p') AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('view %%I.%%I md5=%%s', n.nspname, c.relname, md5(pg_get_viewdef(c.oid)))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('v', 'm') AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('sequence %%I.%%I %%s start=%%s increment=%%s min=%%s max=%%s cache=%%s cycle=%%s',
        n.nspname, c.relname, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
        s.seqcache, s.seqcycle)
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('type %%I.%%I kind=%%s base=%%s notnull=%%s default=%%s labels=%%s', n.nspname, t.typname,
        t.typtype, NULLIF(t.typbasetype, 0)::regtype, t.typnotnull, t.typdefault,
        (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'c') AND (t.typrelid = 0 OR
          (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
      AND NOT n.nspname = ANY(%(system)s) AND n.nspname NOT LIKE 'pg\\_%%'""",
    """SELECT format('policy %%I.%%I %%I cmd=%%s permissive=%%s using=%%s check=%%s', n.nspname, c.relname,
        p.polname, p.polcmd, p.polpermissive, pg_get_expr(p.polqual, p.polrelid),
        pg_get_expr(p.polwithcheck, p.polrelid))
    FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT n.nspname = ANY(%(system)s)""",
    """SELECT format('comment %%s %%s md5=%%s', o.type, o.identity, md5(d.description))
    FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
    WHERE o.schema IS NOT NULL AND NOT o.schema = ANY(%(system)s) AND o.schema NOT LIKE 'pg\\_%%'""",
)


def snapshot(conn: psycopg.Connection[Any]) -> tuple[str, ...]:
    """The catalogue of every non-system schema, one sorted line per object (no OIDs), each in the
    server's own rendering; the migration tester judges "unchanged" on it."""
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    lines: list[str] = []
    for text in _SNAPSHOT_QUERIES:
        lines += [str(r[0]) for r in conn.execute(sql.SQL(text), {"system": SYSTEM_SCHEMAS}).fetchall()]
    if idle and not conn.autocommit:
        conn.rollback()  # end the read-only transaction the snapshot opened (apply needs none open)
    return tuple(sorted(lines))
