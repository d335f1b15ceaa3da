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
from orders_schema.declare.quoting import dollar_quote, literal, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.kinds.index import CreateIndex, IndexInfo, declared_index, index_keys
from orders_schema.kinds.trigger import CreateTrigger, TriggerInfo, declared_trigger, replace_trigger
from orders_schema.live import catalog_text as ct
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
    materialized: bool = False
    guarded: bool = False
    """Drop it only while it is a view: its name becomes a table's, so a re-run must skip it
    (``DROP VIEW IF EXISTS`` fails on a table)."""


@renders(CreateView)
def create_view_sql(s: CreateView) -> str:
    view = s.view
    if view.materialized:  # no OR REPLACE: a changed one is dropped first
        head = f"CREATE MATERIALIZED VIEW{' IF NOT EXISTS' if s.or_replace else ''}"
        return f"{head} {qualified(s.schema, view.name)} AS\n{view.query}\nWITH DATA;"
    head = "CREATE OR REPLACE VIEW" if s.or_replace else "CREATE VIEW"
    options = " WITH (security_invoker = true)" if view.security_invoker else ""
    return f"{head} {qualified(s.schema, view.name)}{options} AS\n{terminated(view.query)}"


@renders(DropViewStatement)
def drop_view_sql(s: DropViewStatement) -> str:
    what = "MATERIALIZED VIEW" if s.materialized else "VIEW"
    drop = f"DROP {what}{' IF EXISTS' if s.if_exists else ''} {qualified(s.schema, s.name)};"
    return guarded_drop(s.schema, s.name, "m" if s.materialized else "v", drop) if s.guarded else drop


def guarded_drop(schema: str, name: str, relkind: str, drop: str) -> str:
    """``drop`` run only while ``schema.name`` is a relation of ``relkind``: re-runnable when a
    view's name becomes a table's or a table's a view's (``DROP ... IF EXISTS`` fails on the
    other kind)."""
    body = (
        "BEGIN\n    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c\n"
        "               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
        f"               WHERE n.nspname = {literal(schema)} AND c.relname = {literal(name)}"
        f" AND c.relkind = {literal(relkind)}) THEN\n        {drop}\n    END IF;\nEND"
    )
    return f"DO {dollar_quote(body)};"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewInfo:
    name: str
    definition: str
    """``pg_get_viewdef(oid, true)``."""
    materialized: bool = False
    options: tuple[str, ...] = ()
    """``reloptions``, e.g. ``("security_invoker=true",)``."""
    indexes: tuple[IndexInfo, ...] = ()
    """A materialized view's indexes (its entries of :attr:`Catalog.indexes`, filled by ``inspect_schema``)."""
    triggers: tuple[TriggerInfo, ...] = ()
    """A view's ``INSTEAD OF`` triggers (its entries of :attr:`Catalog.triggers`, filled by ``inspect_schema``)."""


QUERY = """
SELECT c.relname AS name, pg_get_viewdef(c.oid, true) AS definition, c.relkind = 'm' AS materialized,
       coalesce(c.reloptions, '{}') AS options
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


def in_dependency_order(views: Sequence[m.View]) -> list[m.View]:
    """Views ordered so that each comes after the views it reads (declaration order otherwise);
    the one place views are ordered: creation, re-creation, and drops (reversed)."""
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


def dropped_views(ctx: PlanContext) -> set[str]:
    """The views a migration drops (and creates again when they are still declared): those
    dropped or replaced, those reading a table that gains columns through ``*`` (their stored
    definition lists the columns the table had), and every view depending on a reshaped table or
    on one of those."""
    replaced = {c.old.name for c in ctx.of(ReplaceView)} | {c.view.name for c in ctx.of(DropView)}
    widened = {ctx.was.get(table, table) for table, _ in ctx.added_columns}
    star = {v.name for v in ctx.old.views if read_through_star(v) & widened}
    return replaced | star | dependent_views(ctx.old, set(ctx.reshaped) | replaced | star)


class ViewKind(Kind["m.View", ViewInfo]):
    name = "view"
    rank = 40
    catalog_field = "views"
    query = QUERY
    create_stage = "last"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[m.View]]:
        """By name, in dependency order (a view after the views it reads), so that a schema
        created from nothing creates them in an order PostgreSQL accepts."""
        try:
            views = in_dependency_order(schema.views)
        except ViewCycleError:
            views = list(schema.views)  # the plan reports the cycle
        return {view.name: Declared(None, view) for view in views}

    def same(self, a: m.View, b: m.View) -> bool:
        return (fragments.normal(a.query), a.materialized, a.security_invoker) == (
            fragments.normal(b.query), b.materialized, b.security_invoker
        ) and [index_keys(i) for i in a.indexes] == [index_keys(i) for i in b.indexes]

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
        view = item.obj
        return [CreateView(schema, view, or_replace=False), *(CreateIndex(schema, view.name, i) for i in view.indexes),
                *(CreateTrigger(schema, view.name, t) for t in view.triggers)]

    def plan(self, ctx: PlanContext) -> Planned:
        """Views dropped (in ``drop``, dependents first), then created in dependency order once
        what they read exists: in ``after``, or in ``last`` when they read (directly or through
        other views) a table that loses columns or is dropped in this migration, so that they
        are created after the table kind's drops (a view taking ``o.*`` would otherwise depend
        on the column about to go). A view reading a table that gains columns through ``*`` is
        created again too: its stored definition lists the columns the table had."""
        to_drop = dropped_views(ctx)
        old_views = {v.name: v for v in ctx.old.views}
        new_views = {v.name: v for v in ctx.new.views}
        # Declaration order, not set order: the plan (and so a generated file) must not depend on
        # Python's hash seed when two views are independent.
        dropped = [old_views[v.name] for v in ctx.old.views if v.name in to_drop]
        recreate = [new_views[v.name] for v in dropped if v.name in new_views] + [c.view for c in ctx.of(AddView)]
        shrunk = set(ctx.dropped) | {table for table, _ in ctx.dropped_columns}
        after_drops = dependent_views(ctx.new, shrunk) if shrunk else set()
        out = Planned()
        tables = {t.name for t in ctx.new.tables}
        for view in reversed(in_dependency_order(dropped)):
            # the name becomes a table's or another kind of view's: a re-run must skip the drop
            becomes = view.name in tables or (view.name in new_views
                                               and new_views[view.name].materialized != view.materialized)
            out.drop.append(DropViewStatement(ctx.schema, view.name, guarded=becomes, materialized=view.materialized))
        # A view taking the name of a table this version drops comes once that table is gone; so
        # does every view reading a table that loses columns or is dropped (after_drops).
        all_last = any(view.name in ctx.dropped for view in recreate)
        for view in in_dependency_order(recreate):
            creates: list[Statement] = [CreateView(ctx.schema, view, or_replace=True)]
            creates += [CreateIndex(ctx.schema, view.name, i, if_not_exists=True) for i in view.indexes]
            creates += [stmt for t in view.triggers for stmt in replace_trigger(ctx.schema, view.name, t)]
            (out.last if all_last or view.name in after_drops else out.after).extend(creates)
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[ViewInfo, ...]:
        return tuple(ViewInfo(**{**r, "options": tuple(sorted(r["options"]))}) for r in rows)

    def compare(self, schema: str, declared: Sequence[ViewInfo], live: Sequence[ViewInfo]) -> Iterator[Difference]:
        for name, d, x in pair({v.name: v for v in declared}, {v.name: v for v in live}):
            where = qualified(schema, name)
            if d is None or x is None:
                yield presence("view", where, definition(d), definition(x))
            elif d.materialized != x.materialized:
                yield Difference("view", where, "materialized differs", _kind(d.materialized), _kind(x.materialized))
            elif d.definition != x.definition:
                yield Difference("view", where, "definition differs", d.definition, x.definition)
            elif d.options != x.options:
                yield Difference("view", where, "options differ", ", ".join(d.options) or "(none)",
                                 ", ".join(x.options) or "(none)")

    def declare(self, schema: m.Schema, stored: Sequence[ViewInfo]) -> Declaration:
        """Views with their stored query (``pg_get_viewdef``, which PostgreSQL re-reads as the same
        view) and their ``INSTEAD OF`` triggers; the tables of other schemas they read become
        ``external_tables``."""
        from orders_schema.declare.model import DeclarationError, View

        views: list[m.View] = []
        external = list(schema.external_tables)
        undeclared: list[Undeclared] = []
        for info in stored:
            other = [o for o in info.options if o != "security_invoker=true"]
            indexes = [declared_index(i) for i in info.indexes]
            problems = [f"option {', '.join(other)} is not declarable yet"] if other else []
            problems += [f"index {i}" for i in indexes if isinstance(i, str)]
            triggers: list[m.Trigger] = []
            for t in info.triggers:
                try:
                    trigger = declared_trigger(schema.name, t)
                except DeclarationError as exc:
                    trigger = str(exc)
                if isinstance(trigger, str):
                    undeclared.append(Undeclared("trigger", f"{info.name}.{t.name}", trigger))
                else:
                    triggers.append(trigger)
            try:
                query = ct.varchar_in_lists(info.definition.strip().removesuffix(";").rstrip())
                view = View(name=info.name, query=query, materialized=info.materialized,
                            security_invoker="security_invoker=true" in info.options,
                            indexes=tuple(i for i in indexes if not isinstance(i, str)), triggers=tuple(triggers))
            except DeclarationError as exc:
                problems.append(str(exc))
            if problems:
                undeclared.append(Undeclared(_kind(info.materialized), info.name, "; ".join(problems)))
                continue
            views.append(view)
            for ref in fragments.referenced_tables(fragments.parse_query(view.query, view.name)):
                if ref.schema not in (None, schema.name) and f"{ref.schema}.{ref.name}" not in external:
                    external.append(f"{ref.schema}.{ref.name}")
        return Declaration(schema.model_copy(update={"views": (*schema.views, *views),
                                                     "external_tables": tuple(external)}), tuple(undeclared))


VIEW = ViewKind()
