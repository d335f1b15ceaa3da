"""The view kind: identity (its name), sameness on the normalised query, changes (add, drop,
replace), CREATE OR REPLACE / DROP VIEW statements and their rendering, the ``pg_get_viewdef``
catalogue query and the comparison of stored definitions.

The declaration, :class:`~orders_schema.declare.model.View`, stays in the model (the schema
checks what a view reads). In a migration every view that is dropped, replaced, or reads (directly
or through other views) a relation whose columns change shape, or takes ``*`` of a table that gains
columns, is dropped before the renames, in reverse dependency order, and created again in
dependency order once every table and column exists, or, when it reads a table that loses
columns or is dropped, after those drops.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from orders_schema.declare import fragments
from orders_schema.declare.quoting import qualified
from orders_schema.kinds.base import Declared, Kind, PlanContext, Planned
from orders_schema.live.difference import Difference, definition, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders, terminated

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddView(Change):
    view: m.View

    def reverse(self) -> Change:
        return DropView(self.view)


@dataclass(frozen=True)
class DropView(Change):
    view: m.View

    def reverse(self) -> Change:
        return AddView(self.view)


@dataclass(frozen=True)
class ReplaceView(Change):
    old: m.View
    new: m.View

    def reverse(self) -> Change:
        return ReplaceView(self.new, self.old)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CreateView(Statement):
    schema: str
    view: m.View
    or_replace: bool = True


@dataclass(frozen=True)
class DropViewStatement(Statement):
    schema: str
    name: str
    if_exists: bool = True


@renders(CreateView)
def create_view_sql(s: CreateView) -> str:
    head = "CREATE OR REPLACE VIEW" if s.or_replace else "CREATE VIEW"
    return f"{head} {qualified(s.schema, s.view.name)} AS\n{terminated(s.view.query)}"


@renders(DropViewStatement)
def drop_view_sql(s: DropViewStatement) -> str:
    return f"DROP VIEW{' IF EXISTS' if s.if_exists else ''} {qualified(s.schema, s.name)};"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewInfo:
    name: str
    definition: str
    """``pg_get_viewdef(oid, true)``."""
    materialized: bool = False


QUERY = """
SELECT c.relname AS name, pg_get_viewdef(c.oid, true) AS definition, c.relkind = 'm' AS materialized
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('v', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname"""


# -- dependencies ----------------------------------------------------------------------------


def reads(view: m.View) -> set[str]:
    """The relations a view's query names."""
    return {ref.name for ref in fragments.referenced_tables(fragments.parse_query(view.query, view.name))}


class ViewCycleError(ValueError):
    """Views that read each other in a cycle."""


def in_dependency_order(views: list[m.View]) -> list[m.View]:
    """Views ordered so that each comes after the views it reads."""
    names = {v.name for v in views}
    ordered: list[m.View] = []
    done: set[str] = set()
    pending = list(views)
    while pending:
        progress = False
        for view in list(pending):
            if (reads(view) & names) - done - {view.name} <= set():
                ordered.append(view)
                done.add(view.name)
                pending.remove(view)
                progress = True
        if not progress:
            raise ViewCycleError(f"views {[v.name for v in pending]} depend on each other in a cycle")
    return ordered


def read_through_star(view: m.View) -> set[str]:
    """The tables a view's query takes every column of with ``*`` or ``alias.*``, at any depth.

    PostgreSQL expands a star when the view is created: the stored view lists the columns the
    table had then, so a column added later is not in it until the view is created again, and
    the view depends on every column it took (dropping one fails while the view exists)."""
    tree = fragments.parse_query(view.query, view.name)
    by_alias = {ref.alias.lower(): ref.name for ref in fragments.referenced_tables(tree)}
    found: set[str] = set()
    for select in tree.find_all(exp.Select):
        for item in select.expressions:
            if isinstance(item, exp.Star):  # a bare *: every table of this SELECT's FROM and JOINs
                sources = [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]
                found |= {t.name for src in sources if src is not None for t in [src.this] if isinstance(t, exp.Table)}
            elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star) and item.table:
                name = by_alias.get(item.table.lower())
                if name is not None:
                    found.add(name)
    return found


def dependent_views(schema: m.Schema, relations: set[str]) -> set[str]:
    """Names of the views of ``schema`` that read any of ``relations``, directly or through other views."""
    found: set[str] = set()
    frontier = set(relations)
    while frontier:
        nxt = {v.name for v in schema.views if reads(v) & frontier and v.name not in found}
        found |= nxt
        frontier = nxt
    return found


# -- the kind --------------------------------------------------------------------------------


def _kind(materialized: bool) -> str:
    return "materialized view" if materialized else "view"


class ViewKind(Kind["m.View", ViewInfo]):
    name = "view"
    rank = 40
    catalog_field = "views"
    query = QUERY
    create_stage = "last"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[m.View]]:
        return {view.name: Declared(None, view) for view in schema.views}

    def same(self, a: m.View, b: m.View) -> bool:
        return fragments.normal(a.query) == fragments.normal(b.query)

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddView(b.obj))
            elif b is None and a is not None:
                changes.append(DropView(a.obj))
            elif a is not None and b is not None and not self.same(a.obj, b.obj):
                changes.append(ReplaceView(a.obj, b.obj))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[m.View]) -> list[Statement]:
        return [CreateView(schema, item.obj, or_replace=False)]

    def plan(self, ctx: PlanContext) -> Planned:
        """Views dropped (in ``drop``, dependents first), then created in dependency order once
        what they read exists: in ``after``, or in ``last`` when they read (directly or through
        other views) a table that loses columns or is dropped in this migration, so that they
        are created after the table kind's drops (a view taking ``o.*`` would otherwise depend
        on the column about to go). A view reading a table that gains columns through ``*`` is
        created again too: its stored definition lists the columns the table had."""
        replaced = {c.old.name for c in ctx.of(ReplaceView)} | {c.view.name for c in ctx.of(DropView)}
        widened = {ctx.was.get(table, table) for table, _ in ctx.added_columns}
        star = {v.name for v in ctx.old.views if read_through_star(v) & widened}
        to_drop = replaced | star | dependent_views(ctx.old, set(ctx.reshaped) | replaced | star)
        old_views = {v.name: v for v in ctx.old.views}
        new_views = {v.name: v for v in ctx.new.views}
        # Declaration order, not set order: the plan (and so a generated file) must not depend on
        # Python's hash seed when two views are independent.
        dropped = [old_views[v.name] for v in ctx.old.views if v.name in to_drop]
        recreate = [new_views[v.name] for v in dropped if v.name in new_views] + [c.view for c in ctx.of(AddView)]
        shrunk = set(ctx.dropped) | {table for table, _ in ctx.dropped_columns}
        after_drops = dependent_views(ctx.new, shrunk) if shrunk else set()
        out = Planned()
        for view in reversed(in_dependency_order(dropped)):
            out.drop.append(DropViewStatement(ctx.schema, view.name))
        for view in in_dependency_order(recreate):
            (out.last if view.name in after_drops else out.after).append(CreateView(ctx.schema, view, or_replace=True))
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[ViewInfo, ...]:
        return tuple(ViewInfo(**r) for r in rows)

    def compare(self, schema: str, declared: Sequence[ViewInfo], live: Sequence[ViewInfo]) -> Iterator[Difference]:
        for name, d, x in pair({v.name: v for v in declared}, {v.name: v for v in live}):
            where = qualified(schema, name)
            if d is None or x is None:
                yield presence("view", where, definition(d), definition(x))
            elif d.materialized != x.materialized:
                yield Difference("view", where, "materialized differs", _kind(d.materialized), _kind(x.materialized))
            elif d.definition != x.definition:
                yield Difference("view", where, "definition differs", d.definition, x.definition)


VIEW = ViewKind()
