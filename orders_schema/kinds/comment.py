"""The comment kind: ``COMMENT ON`` every object kind the model declares.

* declaration: the ``comment`` field of the object (a :data:`~orders_schema.declare.model.Description`):
  :class:`~orders_schema.declare.model.Schema`, ``Table``, ``Column``, ``View`` (a view or a
  materialized view, and ``View.column_comments`` for its columns), ``Index`` (of a table or a
  materialized view), ``Check`` / ``ForeignKey`` / ``Unique`` / ``Exclude`` (constraints), ``Trigger``
  (of a table or a view), ``Function`` (by its signature), ``Sequence``, ``EnumType`` /
  ``CompositeType`` (``COMMENT ON TYPE``) and ``Domain``;
* identity: :data:`Target`, ``(on, name, sub)``: ``("table", table, None)``, ``("table", table,
  column)`` for a column, ``("view", view, column or None)``, ``("materialized view", ...)``,
  ``("index", index, None)``, ``("constraint", table, name)``, ``("trigger", relation, name)``,
  ``("function", name, "type, ...")``, ``("sequence" | "type" | "domain" | "schema", name, None)``;
* sameness: the text, verbatim (PostgreSQL stores it as written);
* changes: :class:`SetComment` (old text -> new text; None is no comment) on an object both schemas
  have, its reverse swaps them; a comment goes with its object, so a dropped one needs no statement
  and a renamed one keeps its comment;
* statements: :class:`CommentOn` (``COMMENT ON ... IS 'text'`` or ``IS NULL``); it takes a SHARE
  UPDATE EXCLUSIVE lock, which blocks neither reads nor writes, so it runs in the transaction
  (a table's and its columns' once they exist; the others ``last``, once views are re-created; an
  index built ``CONCURRENTLY`` online, after it); it is re-runnable. An object a migration creates
  or creates again (a new function, a view dropped and re-created because its query or a table it
  reads changed, its ``INSTEAD OF`` triggers, a changed constraint) gets its comment again, since
  PostgreSQL drops a comment with its object;
* stored form: ``obj_description`` / ``col_description`` with the object's catalogue, read with the
  schema a bound parameter, compared text for text.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orders_schema.declare.quoting import ident, literal, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.live.difference import Difference, pair
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

Target = tuple[str, str, str | None]
"""``(on, name, sub)``: what a comment is on (see the module's docstring)."""

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetComment(Change):
    table: str
    """The object's name (a table's, a view's, an index's, a function's, ...)."""
    column: str | None
    """A column's name, a constraint's or trigger's (on ``table``), a function's argument types; None
    for the object itself."""
    old: str | None
    new: str | None
    on: str = "table"
    """What the comment is on (:data:`Target`)."""

    def reverse(self) -> Change:
        return SetComment(self.table, self.column, self.new, self.old, self.on)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CommentOn(Statement):
    schema: str
    table: str
    column: str | None
    text: str | None
    """None removes the comment."""
    on: str = "table"


@renders(CommentOn)
def comment_on_sql(s: CommentOn) -> str:
    text = "NULL" if s.text is None else literal(s.text)
    return f"COMMENT ON {target_sql(s.schema, (s.on, s.table, s.column))} IS {text};"


def target_sql(schema: str, target: Target) -> str:
    """The object of a ``COMMENT ON``, e.g. ``TRIGGER "w" ON s.v`` or ``FUNCTION s.f(integer)``."""
    on, name, sub = target
    if on in ("table", "view", "materialized view") and sub is not None:
        return f"COLUMN {qualified(schema, name, sub)}"
    if on in ("constraint", "trigger"):
        return f"{on.upper()} {ident(str(sub))} ON {qualified(schema, name)}"
    if on in ("function", "procedure"):
        return f"{on.upper()} {qualified(schema, name)}({sub or ''})"  # argument types: validated declared text
    if on == "schema":
        return f"SCHEMA {ident(name)}"
    return f"{on.upper()} {qualified(schema, name)}"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CommentInfo:
    table: str
    column: str | None
    text: str
    on: str = "table"

    @property
    def target(self) -> Target:
        return (self.on, self.table, self.column)


QUERY = """
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                      WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' ELSE 'table' END AS on,
       c.relname AS table, NULL::text AS column, obj_description(c.oid, 'pg_class') AS text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'I')
  AND obj_description(c.oid, 'pg_class') IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END,
       c.relname, a.attname::text, col_description(c.oid, a.attnum)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
  AND col_description(c.oid, a.attnum) IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT 'constraint', c.relname, k.conname::text, obj_description(k.oid, 'pg_constraint')
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND obj_description(k.oid, 'pg_constraint') IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT 'trigger', c.relname, t.tgname::text, obj_description(t.oid, 'pg_trigger')
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND NOT t.tgisinternal AND obj_description(t.oid, 'pg_trigger') IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, p.proname,
       array_to_string(ARRAY(SELECT format_type(u.t, NULL)
                             FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY u.i), ', '),
       obj_description(p.oid, 'pg_proc')
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p') AND obj_description(p.oid, 'pg_proc') IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END, t.typname, NULL, obj_description(t.oid, 'pg_type')
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = %(schema)s AND t.typtype IN ('e', 'd', 'r', 'c')
  AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND obj_description(t.oid, 'pg_type') IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT 'schema', n.nspname, NULL, obj_description(n.oid, 'pg_namespace')
FROM pg_namespace n
WHERE n.nspname = %(schema)s AND n.nspname <> 'public' AND obj_description(n.oid, 'pg_namespace') IS NOT NULL
ORDER BY 1, 2, 3 NULLS FIRST"""


# -- the declared side -----------------------------------------------------------------------


def targets(schema: m.Schema) -> dict[Target, tuple[str | None, str | None]]:
    """Every object of ``schema`` a comment can be on, with its owning table (None for a
    schema-level object) and its declared comment (None: none)."""
    out: dict[Target, tuple[str | None, str | None]] = {}
    if schema.name != "public":  # public's comment is the server's
        out[("schema", schema.name, None)] = (None, schema.comment)
    for table in schema.tables:
        out[("table", table.name, None)] = (table.name, table.comment)
        out.update({("table", table.name, c.name): (table.name, c.comment) for c in table.columns})
        out.update({("index", i.name, None): (table.name, i.comment) for i in table.indexes})
        for group in (table.checks, table.foreign_keys, table.uniques, table.excludes):
            out.update({("constraint", table.name, c.name): (table.name, c.comment) for c in group})
        out.update({("trigger", table.name, t.name): (table.name, t.comment) for t in table.triggers})
    for view in schema.views:
        on = "materialized view" if view.materialized else "view"
        out[(on, view.name, None)] = (None, view.comment)
        out.update({(on, view.name, column): (None, text) for column, text in view.column_comments})
        out.update({("index", i.name, None): (None, i.comment) for i in view.indexes})
        out.update({("trigger", view.name, t.name): (None, t.comment) for t in view.triggers})
    out.update({(routine(f), f.name, function_arguments(f)): (None, f.comment) for f in schema.functions})
    out.update({("sequence", q.name, None): (None, q.comment) for q in schema.sequences})
    for types, on in ((schema.enums, "type"), (schema.composites, "type"), (schema.ranges, "type"),
                      (schema.domains, "domain")):
        out.update({(on, t.name, None): (None, t.comment) for t in types})
    return out


def routine(fn: m.Function) -> str:
    """What a ``COMMENT ON`` calls it: ``function`` or ``procedure``."""
    return "procedure" if fn.procedure else "function"


def function_arguments(fn: m.Function) -> str:
    """A function's input argument types, as its signature lists them."""
    return fn.signature[len(fn.name) + 1:-1]


def _recreated(ctx: PlanContext) -> set[Target]:
    """The objects this migration creates or creates again (so without their comment): those of
    the kinds below new or changed, the views it (re-)creates with their columns, indexes and
    triggers."""
    from orders_schema.kinds.composite import COMPOSITE
    from orders_schema.kinds.constraint import CONSTRAINT
    from orders_schema.kinds.domain import DOMAIN
    from orders_schema.kinds.enum import ENUM
    from orders_schema.kinds.function import FUNCTION
    from orders_schema.kinds.index import INDEX
    from orders_schema.kinds.range import RANGE
    from orders_schema.kinds.sequence import SEQUENCE
    from orders_schema.kinds.trigger import TRIGGER, columns_named, view_triggers
    from orders_schema.kinds.view import AddView, dropped_views

    out: set[Target] = set()
    kinds: tuple[tuple[Kind[Any, Any], str], ...] = (
        (INDEX, "index"), (CONSTRAINT, "constraint"), (TRIGGER, "trigger"), (FUNCTION, "function"),
        (SEQUENCE, "sequence"), (ENUM, "type"), (COMPOSITE, "type"), (RANGE, "type"), (DOMAIN, "domain"))
    for kind, on in kinds:
        before = kind.declared(ctx.old)
        for key, item in kind.declared(ctx.new).items():
            a = before.get(key)
            if a is None or not kind.same(a.obj, item.obj):
                if on == "function":
                    out.add((routine(item.obj), item.obj.name, function_arguments(item.obj)))
                elif isinstance(key, tuple):
                    out.add((on, str(key[0]), str(key[1])))
                else:
                    out.add((on, str(key), None))
    # a trigger naming a column whose type changes is dropped and created again (kinds/trigger.py)
    out |= {("trigger", t.name, g.name) for t in ctx.new.tables for g in t.triggers
            if any((t.name, column) in ctx.retyped_columns for column in columns_named(g))}
    old_triggers = view_triggers(ctx.old)
    out |= {("trigger", view, name) for (view, name), t in view_triggers(ctx.new).items()
            if (view, name) not in old_triggers or not TRIGGER.same(old_triggers[(view, name)], t)}
    views = dropped_views(ctx) | {c.view.name for c in ctx.of(AddView)}
    for view in ctx.new.views:
        if view.name in views:
            on = "materialized view" if view.materialized else "view"
            out |= {(on, view.name, None), *((on, view.name, c) for c, _ in view.column_comments)}
            out |= {("index", i.name, None) for i in view.indexes}
            out |= {("trigger", view.name, t.name) for t in view.triggers}
    return out


# -- the kind --------------------------------------------------------------------------------


class CommentKind(Kind[str, CommentInfo]):
    name = "comment"
    rank = 50
    catalog_field = "comments"
    query = QUERY
    create_stage = "last"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[str]]:
        return {target: Declared(owner, text) for target, (owner, text) in targets(schema).items() if text is not None}

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        """A changed comment on an object both schemas have (a new object carries its comment)."""
        before, after = targets(old), targets(new)
        changes: list[Change] = []
        for key, _, _ in self.matched(old, new):
            target = _target(key)
            on, name, sub = target
            if not (_has(before, target) and _has(after, target)):
                continue  # the object is added (it carries its comment) or dropped (with it)
            old_text, new_text = before.get(target, (None, None))[1], after.get(target, (None, None))[1]
            if old_text != new_text:
                changes.append(SetComment(name, sub, old_text, new_text, on))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[str]) -> list[Statement]:
        on, name, sub = _target(key)
        return [CommentOn(schema, name, sub, item.obj, on)]

    def plan(self, ctx: PlanContext) -> Planned:
        """A table's and its columns' comments ``after`` (once they exist), the others ``last``
        (once views are created again), an index built online after it; an object created or
        created again gets its comment again."""
        from orders_schema.kinds.index import AddIndex

        online = {("index", c.index.name, None) for c in ctx.of(AddIndex) if c.table in ctx.existing}
        out = Planned()
        done: set[Target] = set()

        def place(target: Target, text: str | None) -> None:
            on, name, sub = target
            stage = out.after if on == "table" else out.online if target in online else out.last
            stage.append(CommentOn(ctx.schema, name, sub, text, on))
            done.add(target)

        for c in ctx.of(SetComment):
            place((c.on, c.table, c.column), c.new)
        recreated = _recreated(ctx)
        for key, item in self.declared(ctx.new).items():
            target = _target(key)
            on, name, sub = target
            new_table = on == "table" and (name in ctx.added or (sub is not None and (name, sub) in ctx.added_columns))
            if target not in done and (new_table or target in recreated):
                place(target, item.obj)
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[CommentInfo, ...]:
        return tuple(CommentInfo(**r) for r in rows)

    def compare(
        self, schema: str, declared: Sequence[CommentInfo], live: Sequence[CommentInfo]
    ) -> Iterator[Difference]:
        for (on, table, column), d, x in pair(
            {(c.on, c.table, c.column or ""): c for c in declared}, {(c.on, c.table, c.column or ""): c for c in live}
        ):
            where = _where(schema, (on, table, column or None))
            dt, lt = (d.text if d else None), (x.text if x else None)
            if d is None or x is None:
                yield Difference("comment", where, "missing" if x is None else "extra", dt, lt)
            elif dt != lt:
                yield Difference("comment", where, "text differs", dt, lt)

    def declare(self, schema: m.Schema, stored: Sequence[CommentInfo]) -> Declaration:
        """Each comment onto its object (those declared so far); one on an object not declared
        (a primary key, an index behind a constraint, a policy, ...) is reported."""
        from orders_schema.declare.model import DeclarationError

        found = {c.target: c.text for c in stored}
        known = targets(schema)
        undeclared = [Undeclared(f"comment on {on}", _where(schema.name, (on, name, sub)).removeprefix(f"{on} "),
                                 "its object is not declared (a primary key's index, a constraint trigger, ...)")
                      for (on, name, sub) in found if not _has(known, (on, name, sub))]
        try:
            schema = _with_comments(schema, found)
        except DeclarationError as exc:
            undeclared.append(Undeclared(self.name, schema.name, str(exc)))
        return Declaration(schema, tuple(undeclared))


def _with_comments(schema: m.Schema, found: dict[Target, str]) -> m.Schema:
    """``schema`` with the comments ``found`` on its objects."""

    def each(items: Sequence[Any], on: str, owner: str | None = None) -> tuple[Any, ...]:
        """Objects named on their own (``owner`` None) or by name on ``owner`` (a constraint, a trigger)."""
        return tuple(x.replace(comment=found.get((on, x.name, None) if owner is None else (on, owner, x.name),
                                                 x.comment)) for x in items)

    tables = []
    for t in schema.tables:
        tables.append(t.replace(
            comment=found.get(("table", t.name, None), t.comment),
            columns=tuple(c.replace(comment=found.get(("table", t.name, c.name), c.comment)) for c in t.columns),
            indexes=each(t.indexes, "index"), checks=each(t.checks, "constraint", t.name),
            foreign_keys=each(t.foreign_keys, "constraint", t.name), uniques=each(t.uniques, "constraint", t.name),
            excludes=each(t.excludes, "constraint", t.name), triggers=each(t.triggers, "trigger", t.name)))
    views = []
    for v in schema.views:
        on = "materialized view" if v.materialized else "view"
        columns = tuple((column, body) for (o, name, column), body in found.items()
                        if o == on and name == v.name and column is not None)
        views.append(v.replace(comment=found.get((on, v.name, None), v.comment),
                               column_comments=columns or v.column_comments,
                               indexes=each(v.indexes, "index"), triggers=each(v.triggers, "trigger", v.name)))
    functions = tuple(f.replace(comment=found.get((routine(f), f.name, function_arguments(f)), f.comment))
                      for f in schema.functions)
    # each object was validated by its replace(); the schema as a whole is checked once every kind has
    # declared its objects (a view may still read a table left out)
    return schema.model_copy(update=dict(
        comment=found.get(("schema", schema.name, None), schema.comment), tables=tuple(tables), views=tuple(views),
        functions=functions, sequences=each(schema.sequences, "sequence"), enums=each(schema.enums, "type"),
        composites=each(schema.composites, "type"), domains=each(schema.domains, "domain"),
        ranges=each(schema.ranges, "type")))


def _has(objects: dict[Target, Any], target: Target) -> bool:
    """Whether ``target`` is one of ``objects``; a view's column is, when its view is (the model
    lists only the commented columns of a view)."""
    on, name, _ = target
    return target in objects or (on in ("view", "materialized view") and (on, name, None) in objects)


def _where(schema: str, target: Target) -> str:
    """How a difference names the commented object: a table or column as before, the others
    with what they are (``view walltrack.v``, ``trigger w on walltrack.v``)."""
    on, name, sub = target
    if on == "table":
        return qualified(schema, name, sub) if sub else qualified(schema, name)
    if on in ("view", "materialized view") and sub:
        return f"{on} column {qualified(schema, name, sub)}"
    if on in ("constraint", "trigger"):
        return f"{on} {ident(str(sub))} on {qualified(schema, name)}"
    if on in ("function", "procedure"):
        return f"{on} {qualified(schema, name)}({sub or ''})"
    if on == "schema":
        return f"schema {ident(name)}"
    return f"{on} {qualified(schema, name)}"


def _target(key: Hashable) -> Target:
    assert isinstance(key, tuple)
    on, name, sub = key
    return str(on), str(name), None if sub is None else str(sub)


COMMENT = CommentKind()
