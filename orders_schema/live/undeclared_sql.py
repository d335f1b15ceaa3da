"""The SQL of the live objects the declarations leave out, so that ``init`` loses none of them.

For each :class:`~orders_schema.kinds.Undeclared` object, its statement as PostgreSQL renders it
(``pg_get_viewdef``, ``pg_get_functiondef``, ``pg_get_triggerdef``, ``pg_get_indexdef``,
``pg_get_constraintdef``) or rebuilt from the catalogue (a table's columns, a sequence's options,
a type's labels or attributes, a policy, a comment, an extension). Read-only, one bound-parameter
query per object; an object it cannot rebuild gets ``None`` (its line in the report still names it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from orders_schema.declare.quoting import ident, literal, qualified
from orders_schema.kinds import Undeclared

__all__ = ["undeclared_sql"]

_NS = "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = %(schema)s)"

_RELATION = f"""
SELECT c.oid, c.relkind::text, c.relpersistence::text, c.relispartition,
       CASE WHEN c.relispartition THEN (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid)
       END AS parent,
       pg_get_expr(c.relpartbound, c.oid) AS bound,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partkey,
       ARRAY(SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid AND NOT c.relispartition
             ORDER BY i.inhseqno) AS inherits,
       ARRAY(SELECT quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                    || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                    || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attislocal
             ORDER BY a.attnum) AS columns,
       ARRAY(SELECT format('CONSTRAINT %%I %%s', n.conname, pg_get_constraintdef(n.oid))
             FROM pg_constraint n WHERE n.conrelid = c.oid AND n.conislocal ORDER BY n.contype DESC, n.conname)
         AS constraints,
       array_to_string(c.reloptions, ', ') AS options
FROM pg_class c WHERE c.relnamespace = {_NS} AND c.relname = %(name)s
"""

_VIEW = f"SELECT pg_get_viewdef(c.oid, true) FROM pg_class c WHERE c.relnamespace = {_NS} AND c.relname = %(name)s"

_FUNCTION = f"""
SELECT CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END
FROM pg_proc p
WHERE p.pronamespace = {_NS}
  AND (p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' = %(name)s
       OR p.proname || '(' || array_to_string(ARRAY(SELECT format_type(u.t, NULL)
            FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY u.i), ', ') || ')' = %(name)s)
"""

_ON_TABLE = {
    "trigger": f"""SELECT pg_get_triggerdef(t.oid, true) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                   WHERE c.relnamespace = {_NS} AND c.relname = %(table)s AND t.tgname = %(name)s""",
    "index": f"""SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                 JOIN pg_class x ON x.oid = i.indexrelid
                 WHERE c.relnamespace = {_NS} AND c.relname = %(table)s AND x.relname = %(name)s""",
    "constraint": f"""SELECT pg_get_constraintdef(n.oid, true) FROM pg_constraint n
                      JOIN pg_class c ON c.oid = n.conrelid
                      WHERE c.relnamespace = {_NS} AND c.relname = %(table)s AND n.conname = %(name)s""",
    "policy": """SELECT p.permissive, p.cmd, p.roles::text[], p.qual, p.with_check FROM pg_policies p
                  WHERE p.schemaname = %(schema)s AND p.tablename = %(table)s AND p.policyname = %(name)s""",
}

_AGGREGATE = f"""
SELECT p.proname::text, pg_get_function_identity_arguments(p.oid), a.aggtransfn::regproc::text,
       format_type(a.aggtranstype, NULL), NULLIF(a.aggfinalfn, 0)::regproc::text,
       NULLIF(a.aggcombinefn, 0)::regproc::text, a.agginitval
FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid
WHERE p.pronamespace = {_NS} AND a.aggkind = 'n'
  AND p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' = %(name)s
"""

_TYPE = f"""
SELECT t.typtype::text,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base,
       t.typnotnull, t.typdefault,
       ARRAY(SELECT format('CONSTRAINT %%I %%s', n.conname, pg_get_constraintdef(n.oid))
             FROM pg_constraint n WHERE n.contypid = t.oid ORDER BY n.conname) AS checks,
       (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid) AS subtype,
       ARRAY(SELECT quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS attributes
FROM pg_type t WHERE t.typnamespace = {_NS} AND t.typname = %(name)s
"""

_SEQUENCE = """
SELECT data_type::text, start_value, min_value, max_value, increment_by, cycle, cache_size
FROM pg_sequences WHERE schemaname = %(schema)s AND sequencename = %(name)s
"""

_EXTENSION = "SELECT extversion FROM pg_extension WHERE extname = %(name)s"

_COMMENT = """
SELECT o.type, o.identity, d.description
FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
WHERE o.schema = %(schema)s AND o.identity IN (%(name)s, %(qualified)s) AND 'comment on ' || o.type = %(kind)s
"""

_CONSTRAINT_KINDS = ("check", "foreign key", "unique", "primary key", "exclude", "exclusion", "constraint")
_TABLE_KINDS = ("table", "partitioned table", "partition", "inheriting table", "unlogged table", "foreign table")


def undeclared_sql(
    conn: psycopg.Connection[Any], schema: str, objects: Sequence[Undeclared]
) -> dict[Undeclared, str | None]:
    """Each object's SQL (``None`` when it cannot be rebuilt), read in one rolled-back transaction."""
    out: dict[Undeclared, str | None] = {}
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute("SELECT set_config('search_path', 'pg_catalog', true)")
        for u in objects:
            try:
                with conn.transaction():
                    out[u] = _one(cur, schema, u)
            except psycopg.Error:
                out[u] = None
    return out


def _one(cur: psycopg.Cursor[Any], schema: str, u: Undeclared) -> str | None:
    kind, name = u.kind, u.name
    table, _, member = name.partition(".")
    where = {"schema": schema, "name": name}
    if kind in _TABLE_KINDS or kind in ("view", "materialized view"):
        if kind in ("view", "materialized view"):
            row = cur.execute(_VIEW, where).fetchone()
            return None if row is None else f"CREATE {kind.upper()} {qualified(schema, name)} AS\n{row[0].rstrip(';')};"
        return _table(cur, schema, name)
    if kind == "aggregate":
        return _aggregate(cur, schema, name)
    if kind in ("function", "procedure", "window function"):
        row = cur.execute(_FUNCTION, where).fetchone()
        return None if row is None or row[0] is None else f"{row[0].rstrip()};"
    if kind in ("trigger", "index") or kind in _CONSTRAINT_KINDS or kind == "policy":
        if not member:
            return None
        family = kind if kind in _ON_TABLE else "constraint"
        row = cur.execute(_ON_TABLE[family], {"schema": schema, "table": table, "name": member}).fetchone()
        if row is None:
            return None
        if family == "constraint":
            return f"ALTER TABLE {qualified(schema, table)} ADD CONSTRAINT {ident(member)} {row[0]};"
        if family == "policy":
            permissive, cmd, roles, qual, check = row
            text = f"CREATE POLICY {ident(member)} ON {qualified(schema, table)} AS {permissive} FOR {cmd}"
            text += " TO " + ", ".join("PUBLIC" if r == "public" else ident(r) for r in roles)
            text += f" USING ({qual})" if qual else ""
            return text + (f" WITH CHECK ({check})" if check else "") + ";"
        return f"{row[0]};"
    if kind in ("enum", "domain", "range type", "multirange type", "composite type", "composite"):
        return _type(cur, schema, name)
    if kind == "sequence":
        row = cur.execute(_SEQUENCE, where).fetchone()
        if row is None:
            return None
        data_type, start, lo, hi, step, cycle, cache = row
        return (f"CREATE SEQUENCE {qualified(schema, name)} AS {data_type} INCREMENT BY {step} MINVALUE {lo} "
                f"MAXVALUE {hi} START WITH {start} CACHE {cache}{' CYCLE' if cycle else ''};")
    if kind == "extension":
        row = cur.execute(_EXTENSION, where).fetchone()
        return None if row is None else (
            f"CREATE EXTENSION IF NOT EXISTS {ident(name)} WITH SCHEMA {ident(schema)} VERSION {literal(row[0])};")
    if kind == "row security":
        return f"ALTER TABLE {qualified(schema, name)} ENABLE ROW LEVEL SECURITY;"
    if kind == "storage option":
        return _table_options(cur, schema, name)
    if kind.startswith("comment on "):
        row = cur.execute(_COMMENT, {**where, "qualified": f"{schema}.{name}", "kind": kind}).fetchone()
        if row is None:
            return None
        what, identity, text = row
        if what == "table constraint":
            constraint, _, on = identity.partition(" on ")
            return f"COMMENT ON CONSTRAINT {constraint} ON {on} IS {literal(text)};"
        return f"COMMENT ON {what.upper()} {identity} IS {literal(text)};"
    return None


def _table(cur: psycopg.Cursor[Any], schema: str, name: str) -> str | None:
    row = cur.execute(_RELATION, {"schema": schema, "name": name}).fetchone()
    if row is None:
        return None
    _, relkind, persistence, is_partition, parent, bound, partkey, inherits, columns, constraints, options = row
    head = "CREATE " + ("UNLOGGED " if persistence == "u" else "") + ("FOREIGN " if relkind == "f" else "")
    head += f"TABLE {qualified(schema, name)}"
    if is_partition:
        text = f"{head} PARTITION OF {parent} {bound}"
    else:
        parts = [*columns, *constraints]
        text = f"{head} (\n    " + ",\n    ".join(parts) + "\n)"
        if inherits:
            text += f" INHERITS ({', '.join(inherits)})"
    if partkey:
        text += f" PARTITION BY {partkey}"
    if options:
        text += f" WITH ({options})"
    return text + ";"


def _table_options(cur: psycopg.Cursor[Any], schema: str, name: str) -> str | None:
    row = cur.execute(_RELATION, {"schema": schema, "name": name}).fetchone()
    if row is None or not row[-1]:
        return None
    what = "INDEX" if row[1] == "i" else "TABLE"
    return f"ALTER {what} {qualified(schema, name)} SET ({row[-1]});"


def _aggregate(cur: psycopg.Cursor[Any], schema: str, name: str) -> str | None:
    row = cur.execute(_AGGREGATE, {"schema": schema, "name": name}).fetchone()
    if row is None:  # an ordered-set or hypothetical-set aggregate is not rebuilt
        return None
    proname, arguments, transition, state, final, combine, initial = row
    parts = [f"SFUNC = {transition}", f"STYPE = {state}"]
    parts += [f"FINALFUNC = {final}"] if final else []
    parts += [f"COMBINEFUNC = {combine}"] if combine else []
    parts += [f"INITCOND = {literal(initial)}"] if initial is not None else []
    return f"CREATE AGGREGATE {qualified(schema, proname)}({arguments}) ({', '.join(parts)});"


def _type(cur: psycopg.Cursor[Any], schema: str, name: str) -> str | None:
    row = cur.execute(_TYPE, {"schema": schema, "name": name}).fetchone()
    if row is None:
        return None
    typtype, labels, base, not_null, default, checks, subtype, attributes = row
    target = qualified(schema, name)
    if typtype == "e":
        return f"CREATE TYPE {target} AS ENUM ({', '.join(literal(label) for label in labels)});"
    if typtype == "d":
        text = f"CREATE DOMAIN {target} AS {base}"
        text += f" DEFAULT {default}" if default else ""
        text += " NOT NULL" if not_null else ""
        return text + "".join(f" {c}" for c in checks) + ";"
    if typtype == "r":
        return f"CREATE TYPE {target} AS RANGE (SUBTYPE = {subtype});"
    if typtype == "c":
        return f"CREATE TYPE {target} AS ({', '.join(attributes)});"
    return None
