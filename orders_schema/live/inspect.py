"""Inspect: a live schema read from PostgreSQL's catalog, in PostgreSQL's own stored forms.

:func:`inspect_schema` returns a :class:`Catalog`: plain immutable data holding what the server
itself says about each object (``format_type``, ``pg_get_expr``, ``pg_get_constraintdef``,
``pg_get_indexdef``, ``pg_get_triggerdef``, ``pg_get_functiondef``, ``pg_get_viewdef``), never
text the user wrote. Comparing two catalogs read from the same server is then a plain equality
test (see :mod:`orders_schema.live.compare`).

The catalog is read in one transaction with ``search_path`` set to ``pg_catalog`` only, so every
name outside ``pg_catalog`` comes back schema-qualified whatever the caller's ``search_path`` is;
the transaction is rolled back, so the connection is left as it was. One query per kind of
object, from its kind in :mod:`orders_schema.kinds` (tables with their columns, constraints,
triggers, indexes, functions, views, comments), the schema name always a bound parameter. Objects
that belong to an extension are left out, and so are NOT NULL constraints (PostgreSQL 18 keeps
them in ``pg_constraint``; here NOT NULL is a column property on every version).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from orders_schema.kinds import KINDS
from orders_schema.kinds.comment import CommentInfo
from orders_schema.kinds.composite import CompositeInfo
from orders_schema.kinds.constraint import ConstraintInfo, ConstraintKind
from orders_schema.kinds.default_privilege import DefaultPrivilegeInfo
from orders_schema.kinds.domain import DomainInfo
from orders_schema.kinds.enum import EnumInfo
from orders_schema.kinds.extension import ExtensionInfo
from orders_schema.kinds.function import FunctionInfo
from orders_schema.kinds.grant import ObjectAcl
from orders_schema.kinds.index import IndexInfo
from orders_schema.kinds.owner import OwnerInfo
from orders_schema.kinds.policy import PolicyInfo
from orders_schema.kinds.range import RangeInfo
from orders_schema.kinds.role import RoleInfo
from orders_schema.kinds.row_security import RowSecurityInfo
from orders_schema.kinds.schema import SchemaInfo
from orders_schema.kinds.sequence import SequenceInfo
from orders_schema.kinds.table import ColumnInfo, TableInfo
from orders_schema.kinds.trigger import TriggerInfo
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
    "SequenceInfo",
    "TableInfo",
    "TriggerInfo",
    "ViewInfo",
    "inspect_schema",
    "snapshot",
]

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
    constraints: tuple[ConstraintInfo, ...] = ()
    """Every table's constraints, by table and name (each table's also in its :attr:`TableInfo.constraints`)."""
    triggers: tuple[TriggerInfo, ...] = ()
    """Every table's triggers, by table and name (each table's also in its :attr:`TableInfo.triggers`)."""
    sequences: tuple[SequenceInfo, ...] = ()
    """The schema's sequences (a ``serial`` column's included; an identity column's is the column's)."""
    roles: tuple[RoleInfo, ...] = ()
    """The roles the schema's privileges and policies name."""
    row_security: tuple[RowSecurityInfo, ...] = ()
    """Each table's row-level security (enabled, forced)."""
    policies: tuple[PolicyInfo, ...] = ()
    """Row-security policies, by table and name."""
    owners: tuple[OwnerInfo, ...] = ()
    """The tables not owned by the schema's owner, with their owner."""
    default_privileges: tuple[DefaultPrivilegeInfo, ...] = ()
    """``pg_default_acl`` of the schema (the creating role ``""`` when it is the schema's owner)."""
    privileges: tuple[ObjectAcl, ...] = ()
    """The schema's, its relations' (their columns' included), sequences' and functions' non-owner
    privileges (``aclexplode``), one per object."""
    schemas: tuple[SchemaInfo, ...] = ()
    """The database's other non-system schemas."""
    extensions: tuple[ExtensionInfo, ...] = ()
    """The database's extensions (but plpgsql), wherever they live."""
    enums: tuple[EnumInfo, ...] = ()
    domains: tuple[DomainInfo, ...] = ()
    composites: tuple[CompositeInfo, ...] = ()
    ranges: tuple[RangeInfo, ...] = ()

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


_T = TypeVar("_T", TableInfo, IndexInfo, ViewInfo)


def _find(items: Iterable[_T], name: str) -> _T:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(name)


def inspect_schema(conn: psycopg.Connection[Any], schema: str) -> Catalog:
    """Read one schema's tables, columns, constraints, indexes, triggers, functions and views.

    ``conn`` may be idle or inside a transaction; it is left as it was (the reads happen in a
    transaction or savepoint that is rolled back). A schema that does not exist gives an empty
    :class:`Catalog`.
    """
    with conn.transaction(force_rollback=True), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT set_config('search_path', 'pg_catalog', true)")

        kinds: dict[str, Any] = {}
        for kind in KINDS:
            cur.execute(kind.query, {"schema": schema})
            kinds[kind.catalog_field] = kind.stored(cur.fetchall())

    # each table also holds its constraints and triggers (the constraint and trigger kinds' forms)
    constraints: dict[str, list[ConstraintInfo]] = {}
    triggers: dict[str, list[TriggerInfo]] = {}
    for constraint in kinds["constraints"]:
        constraints.setdefault(constraint.table, []).append(constraint)
    for trigger in kinds["triggers"]:
        triggers.setdefault(trigger.table, []).append(trigger)
    kinds["tables"] = tuple(
        replace(t, constraints=tuple(constraints.get(t.name, ())), triggers=tuple(triggers.get(t.name, ())))
        for t in kinds["tables"]
    )
    # each materialized view also holds its indexes (the index kind's forms), each view its triggers
    kinds["views"] = tuple(replace(v, indexes=tuple(i for i in kinds["indexes"] if i.table == v.name))
                           if v.materialized else replace(v, triggers=tuple(triggers.get(v.name, ())))
                           for v in kinds["views"])
    return Catalog(schema=schema, **kinds)


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
    """SELECT format('relation %%I.%%I kind=%%s persistence=%%s rls=%%s options=%%s acl=%%s%%s',
        n.nspname, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.reloptions, c.relacl,
        concat(' partition by ' || pg_get_partkeydef(c.oid),
               ' partition of ' || (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid)
                   || ' ' || pg_get_expr(c.relpartbound, c.oid),
               ' inherits ' || (SELECT string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno)
                                FROM pg_inherits i WHERE i.inhrelid = c.oid AND NOT c.relispartition
                                  AND c.relkind IN ('r', 'p'))))
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
        t.typtype,
        COALESCE(NULLIF(t.typbasetype, 0), (SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid))::regtype,
        t.typnotnull, t.typdefault,
        (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'c', 'r') AND (t.typrelid = 0 OR
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
