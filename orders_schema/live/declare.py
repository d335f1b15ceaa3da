"""Catalogue -> declarations: a live schema read back as model objects.

:func:`declare_catalog` turns a :class:`~orders_schema.live.inspect.Catalog` (PostgreSQL's stored
forms) into a :class:`~orders_schema.declare.model.Schema`: each kind of
:data:`~orders_schema.kinds.KINDS`, in rank order, folds its stored forms into the schema built so
far (:meth:`~orders_schema.kinds.Kind.declare`: tables with their columns first, then their
triggers, constraints, indexes, then functions, views, comments). The result is exact enough that
creating it on an empty database gives back the same stored forms.

Nothing is dropped silently: what a kind cannot declare yet, and what no kind reads at all
(:func:`census`: range types, aggregates, foreign tables, ...),
is listed by name in :attr:`LiveDeclarations.undeclared`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from orders_schema.declare import fragments
from orders_schema.declare import model as m
from orders_schema.kinds import KINDS, Undeclared
from orders_schema.live.inspect import Catalog, inspect_schema

__all__ = ["CENSUS_QUERY", "LiveDeclarations", "census", "declare_catalog", "read_declarations"]


@dataclass(frozen=True)
class LiveDeclarations:
    """One live schema as declarations, and every object of it they leave out."""

    schema: m.Schema
    undeclared: tuple[Undeclared, ...] = ()

    def report(self) -> list[str]:
        """One line per object not declared, sorted."""
        return sorted(str(u) for u in self.undeclared)


def declare_catalog(catalog: Catalog, others: Sequence[Undeclared] = ()) -> LiveDeclarations:
    """The catalogue's objects as declarations (see the module's docstring). ``others`` are objects
    no kind reads (:func:`census`); a table among them (partitioned, a partition, inherited,
    unlogged) is left out with its objects, since the model would declare it as a plain table."""
    skipped_tables = {u.name for u in others if u.kind in _NOT_PLAIN_TABLES}
    schema = m.Schema(name=catalog.schema)
    undeclared: list[Undeclared] = list(others)
    for kind in KINDS:
        stored = getattr(catalog, kind.catalog_field)
        if kind.name == "table":
            stored = tuple(t for t in stored if t.name not in skipped_tables)
        result = kind.declare(schema, stored)
        schema, undeclared = result.schema, undeclared + list(result.undeclared)
    schema, dangling = _without_dangling(schema)
    return LiveDeclarations(m.Schema(**{f: getattr(schema, f) for f in m.Schema.model_fields}),
                            tuple(undeclared + dangling))


def _without_dangling(schema: m.Schema) -> tuple[m.Schema, list[Undeclared]]:
    """Triggers whose function and views whose relations were not declared are left out (and
    listed): the objects they need are listed already."""
    out: list[Undeclared] = []
    functions = {f.name for f in schema.functions}
    tables: list[m.Table] = []
    for table in schema.tables:
        kept = tuple(t for t in table.triggers if t.function in functions)
        out += [Undeclared("trigger", f"{table.name}.{t.name}", f"its function {t.function} is not declared")
                for t in table.triggers if t not in kept]
        tables.append(table.replace(triggers=kept) if kept != table.triggers else table)
    relations = {t.name for t in tables}
    views: list[m.View] = []
    for view in schema.views:
        kept = tuple(t for t in view.triggers if t.function in functions)
        out += [Undeclared("trigger", f"{view.name}.{t.name}", f"its function {t.function} is not declared")
                for t in view.triggers if t not in kept]
        views.append(view.replace(triggers=kept) if kept != view.triggers else view)
    changed = True
    while changed:  # a view reading a view left out is left out too
        changed = False
        names = relations | {v.name for v in views}
        for view in list(views):
            reads = fragments.referenced_tables(fragments.parse_query(view.query, view.name))
            missing = sorted({r.name for r in reads if r.schema == schema.name and r.name not in names})
            if missing:
                views.remove(view)
                out.append(Undeclared("view", view.name, f"it reads {', '.join(missing)}, not declared"))
                changed = True
    return schema.model_copy(update={"tables": tuple(tables), "views": tuple(views)}), out


def read_declarations(conn: psycopg.Connection[Any], schema: str) -> LiveDeclarations:
    """A live schema as declarations, with the report of what they leave out."""
    return declare_catalog(inspect_schema(conn, schema), census(conn, schema))


# ---------------------------------------------------------------------------------------------
# What no kind reads
# ---------------------------------------------------------------------------------------------

_NOT_PLAIN_TABLES = ("partitioned table", "partition", "inheriting table", "unlogged table")
"""Tables the model once could not declare (the table kind now reads partitioned, unlogged and
inheriting tables; the census no longer lists them)."""

CENSUS_QUERY = """
SELECT kind, name, reason FROM (
  SELECT CASE WHEN c.relkind = 'S' THEN 'sequence'
              WHEN c.relkind = 'f' THEN 'foreign table'
              WHEN c.relkind = 'c' THEN 'composite type' END AS kind,
         c.relname::text AS name, 'not declarable yet' AS reason
  FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
    AND c.relkind IN ('r', 'p', 'S', 'f', 'c')
  UNION ALL
  SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type'
                        WHEN 'm' THEN 'multirange type' END, t.typname::text, 'not declarable yet'
  FROM pg_type t
  WHERE t.typnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) AND t.typtype IN ('e', 'd', 'r')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                    AND d.deptype = 'e')
  UNION ALL
  SELECT CASE p.prokind WHEN 'a' THEN 'aggregate' ELSE 'window function' END,
         p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', 'not declarable yet'
  FROM pg_proc p
  WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) AND p.prokind IN ('a', 'w')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                    AND d.deptype = 'e')
  UNION ALL
  SELECT 'policy', c.relname || '.' || p.polname, 'row-level security is not declarable yet'
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
  UNION ALL
  SELECT 'row security', c.relname::text, 'enabled; not declarable yet'
  FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) AND c.relrowsecurity
  UNION ALL
  SELECT 'privilege', c.relname::text, array_to_string(c.relacl, ' ')
  FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) AND c.relacl IS NOT NULL
  UNION ALL
  SELECT 'privilege', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
         array_to_string(p.proacl, ' ')
  FROM pg_proc p
  WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) AND p.proacl IS NOT NULL
  UNION ALL
  SELECT 'privilege', 'schema ' || n.nspname, array_to_string(n.nspacl, ' ')
  FROM pg_namespace n WHERE n.nspname = %(schema)s AND n.nspacl IS NOT NULL
  UNION ALL
  SELECT 'default privilege', pg_get_userbyid(d.defaclrole)::text || ' on ' || d.defaclobjtype::text,
         array_to_string(d.defaclacl, ' ')
  FROM pg_default_acl d WHERE d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
  UNION ALL
  SELECT 'extension', e.extname::text, 'installed in this schema; not declarable yet'
  FROM pg_extension e WHERE e.extnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
  UNION ALL
  SELECT 'storage option', c.relname::text, array_to_string(c.reloptions, ', ')
  FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) AND c.relkind IN ('r', 'p', 'i', 'm')
    AND c.reloptions IS NOT NULL
  UNION ALL
  SELECT 'comment on ' || o.type, o.identity, 'not declarable yet'
  FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
  WHERE o.schema = %(schema)s AND d.classoid NOT IN ('pg_class'::regclass, 'pg_constraint'::regclass,
                                                    'pg_trigger'::regclass, 'pg_type'::regclass)
    AND NOT (d.classoid = 'pg_proc'::regclass AND o.type IN ('function', 'procedure'))
) found
WHERE kind IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'e' AND d.objid IN (
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relname = found.name))
ORDER BY kind, name"""
"""Objects of one schema no kind reads, with why (the schema name bound as ``%(schema)s``); those
belonging to an extension are left out (the extension is listed)."""


def census(conn: psycopg.Connection[Any], schema: str) -> tuple[Undeclared, ...]:
    """Objects of ``schema`` that no registered kind reads. A category a registered kind has since
    taken over (its ``name``: ``policy``, ``row security``, ``privilege``, ``default privilege``
    are the access kinds') is not listed: that kind reads and reports its objects itself."""
    taken = {kind.name for kind in KINDS}
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute("SELECT set_config('search_path', 'pg_catalog', true)")
        rows = cur.execute(CENSUS_QUERY, {"schema": schema}).fetchall()
    return tuple(Undeclared(str(kind), str(name), str(reason)) for kind, name, reason in rows if kind not in taken)
