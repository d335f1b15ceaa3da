"""The trigger kind: identity (its table and name: a trigger's name is unique per table),
sameness (every attribute, the WHEN condition normalised), changes (add, drop; a changed trigger is
dropped and added; a view's ``INSTEAD OF`` triggers too, by view and name), CREATE/DROP TRIGGER
statements and their rendering, the ``pg_get_triggerdef``
catalogue query and the comparison of stored definitions and enabled states.

The declaration, :class:`~orders_schema.declare.model.Trigger`, stays in the model (a table holds
its triggers; the schema checks the function each one calls). In a migration a trigger is dropped
before the renames (under its table's old name) and created ``late``: once every table, column,
function and view exists, and before the backfills of derived tables, so those fire it. Every
creation is preceded by ``DROP TRIGGER IF EXISTS`` (there is no CREATE TRIGGER IF NOT EXISTS), so a
version applies a second time. When a whole schema is created,
triggers come once every function exists.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orders_schema.declare import fragments
from orders_schema.declare.quoting import ident, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared, on_a_partition
from orders_schema.live import catalog_text as ct
from orders_schema.live.difference import Difference, definition, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddTrigger(Change):
    table: str
    trigger: m.Trigger

    def reverse(self) -> Change:
        return DropTrigger(self.table, self.trigger)


@dataclass(frozen=True)
class DropTrigger(Change):
    table: str
    trigger: m.Trigger

    def reverse(self) -> Change:
        return AddTrigger(self.table, self.trigger)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CreateTrigger(Statement):
    schema: str
    table: str
    trigger: m.Trigger


@dataclass(frozen=True)
class DropTriggerStatement(Statement):
    schema: str
    table: str
    name: str
    if_exists: bool = True


@renders(CreateTrigger)
def create_trigger_sql(s: CreateTrigger) -> str:
    t = s.trigger
    events = []
    for event in t.events:
        if event == "UPDATE" and t.update_of:
            events.append(f"UPDATE OF {', '.join(ident(n) for n in t.update_of)}")
        else:
            events.append(event)
    lines = [
        f"CREATE TRIGGER {ident(t.name)}",
        f"    {t.timing} {' OR '.join(events)} ON {qualified(s.schema, s.table)}",
    ]
    transition = [f"OLD TABLE AS {ident(t.referencing_old)}"] if t.referencing_old else []
    transition += [f"NEW TABLE AS {ident(t.referencing_new)}"] if t.referencing_new else []
    if transition:
        lines.append(f"    REFERENCING {' '.join(transition)}")
    call = f"EXECUTE FUNCTION {qualified(s.schema, t.function)}()"
    if t.when:
        lines += [f"    FOR EACH {t.for_each}", f"    WHEN ({t.when})", f"    {call};"]
    else:
        lines.append(f"    FOR EACH {t.for_each} {call};")
    return "\n".join(lines)


@renders(DropTriggerStatement)
def drop_trigger_sql(s: DropTriggerStatement) -> str:
    exists = " IF EXISTS" if s.if_exists else ""
    return f"DROP TRIGGER{exists} {ident(s.name)} ON {qualified(s.schema, s.table)};"


def columns_named(trigger: m.Trigger) -> set[str]:
    """The columns a trigger's definition names (UPDATE OF, WHEN): PostgreSQL records them as
    dependencies, so their type cannot change while the trigger exists."""
    named = {c.lower() for c in trigger.update_of}
    if trigger.when is not None:
        named |= fragments.referenced_columns(fragments.parse_expression(trigger.when, trigger.name))
    return named


def replace_trigger(schema: str, table: str, trigger: m.Trigger) -> list[Statement]:
    """``DROP TRIGGER IF EXISTS`` then ``CREATE TRIGGER``: re-runnable."""
    return [DropTriggerStatement(schema, table, trigger.name, if_exists=True), CreateTrigger(schema, table, trigger)]


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerInfo:
    name: str
    definition: str
    """``pg_get_triggerdef(oid)``."""
    enabled: str
    """``tgenabled``: ``O`` (origin and local), ``D`` (disabled), ``R`` (replica), ``A`` (always)."""
    table: str = ""
    """The table it fires on."""


QUERY = """
SELECT c.relname AS table, t.tgname AS name, pg_get_triggerdef(t.oid) AS definition,
       t.tgenabled::text AS enabled
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v') AND NOT t.tgisinternal AND t.tgparentid = 0
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname, t.tgname"""

ENABLED = {"O": "enabled", "D": "disabled", "R": "enabled on replica only", "A": "enabled always"}


# -- the kind --------------------------------------------------------------------------------


def _normal(trigger: m.Trigger) -> m.Trigger:
    return trigger.model_copy(update={"when": fragments.normal(trigger.when), "comment": None})


def view_triggers(schema: m.Schema) -> dict[tuple[str, str], m.Trigger]:
    """The ``INSTEAD OF`` triggers of the schema's views, by ``(view, name)``."""
    return {(view.name, trigger.name): trigger for view in schema.views for trigger in view.triggers}


def _view_trigger_changes(old: m.Schema, new: m.Schema, same: Any) -> list[Change]:
    """The changes of the triggers of views both schemas have (a new view's triggers come with
    it, a dropped view's go with it)."""
    both = {v.name for v in old.views} & {v.name for v in new.views}
    before, after = view_triggers(old), view_triggers(new)
    out: list[Change] = []
    for key in [*after, *(k for k in before if k not in after)]:
        view, _ = key
        a, b = before.get(key), after.get(key)
        if view not in both:
            continue
        if a is not None and (b is None or not same(a, b)):
            out.append(DropTrigger(view, a))
        if b is not None and (a is None or not same(a, b)):
            out.append(AddTrigger(view, b))
    return out


class TriggerKind(Kind["m.Trigger", TriggerInfo]):
    name = "trigger"
    rank = 15
    catalog_field = "triggers"
    query = QUERY
    create_stage = "after_functions"
    of_tables = True

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[m.Trigger]]:
        return {(table.name, trigger.name): Declared(table.name, trigger) for table, trigger in schema.triggers()}

    def same(self, a: m.Trigger, b: m.Trigger) -> bool:
        return bool(_normal(a) == _normal(b))

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        # Table by table, as the tables are declared: a table's adds and changes in its new
        # order, then its drops in its old order.
        adds: dict[str, list[Change]] = {}
        drops: dict[str, list[Change]] = {}
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                adds.setdefault(str(b.owner), []).append(AddTrigger(str(b.owner), b.obj))
            elif b is None and a is not None:
                drops.setdefault(str(a.owner), []).append(DropTrigger(str(a.owner), a.obj))
            elif a is not None and b is not None and not self.same(a.obj, b.obj):
                adds.setdefault(str(b.owner), []).extend([DropTrigger(str(a.owner), a.obj),
                                                          AddTrigger(str(b.owner), b.obj)])
        changes = [c for t in new.tables for c in [*adds.get(t.name, []), *drops.get(t.name, [])]]
        return changes + _view_trigger_changes(old, new, self.same)

    def create(self, schema: str, key: Hashable, item: Declared[m.Trigger]) -> list[Statement]:
        return [CreateTrigger(schema, str(item.owner), item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        """A view's triggers go with it when a migration re-creates it (``view.dropped_views``):
        the view kind creates them again after the view; the others are dropped before the
        renames and created ``late``."""
        from orders_schema.kinds.view import dropped_views

        s = ctx.schema
        out = Planned()
        recreated = dropped_views(ctx)
        out.drop += [DropTriggerStatement(s, ctx.was.get(c.table, c.table), c.trigger.name)
                     for c in ctx.of(DropTrigger) if c.table not in recreated]
        for table in ctx.new.tables:  # a new table's triggers, in the order its creation comes
            if table.name in ctx.added:
                for trigger in table.triggers:
                    out.late += replace_trigger(s, table.name, trigger)
        for add in ctx.of(AddTrigger):
            if add.table not in recreated:
                out.late += replace_trigger(s, add.table, add.trigger)
        # PostgreSQL refuses to change the type of a column a trigger's UPDATE OF or WHEN names:
        # such a trigger is dropped before the change and created again after it.
        changed = {(c.table, c.trigger.name) for c in ctx.of(AddTrigger)}
        for table in ctx.new.tables:
            for trigger in table.triggers:
                if (table.name, trigger.name) not in changed and table.name not in ctx.added and any(
                        (table.name, column) in ctx.retyped_columns for column in columns_named(trigger)):
                    out.drop.append(DropTriggerStatement(s, ctx.was.get(table.name, table.name), trigger.name))
                    out.late += replace_trigger(s, table.name, trigger)
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[TriggerInfo, ...]:
        return tuple(TriggerInfo(**r) for r in rows)

    def compare(
        self, schema: str, declared: Sequence[TriggerInfo], live: Sequence[TriggerInfo]
    ) -> Iterator[Difference]:
        for (table, name), d, x in pair({(t.table, t.name): t for t in declared},
                                        {(t.table, t.name): t for t in live}):
            where = qualified(schema, table, name)
            if d is None or x is None:
                yield presence("trigger", where, definition(d), definition(x))
            elif d.definition != x.definition:
                yield Difference("trigger", where, "definition differs", d.definition, x.definition)
            elif d.enabled != x.enabled:
                yield Difference("trigger", where, "enabled differs", ENABLED[d.enabled], ENABLED[x.enabled])

    def declare(self, schema: m.Schema, stored: Sequence[TriggerInfo]) -> Declaration:
        """The triggers of the tables declared so far; constraint triggers, triggers calling a
        function of another schema or with arguments, and disabled ones are reported. A view's
        triggers are the view kind's (``ViewInfo.triggers``)."""
        from orders_schema.declare.model import DeclarationError

        found: dict[str, list[m.Trigger]] = {}
        undeclared: list[Undeclared] = []
        tables = {t.name for t in schema.tables}
        for info in stored:
            if info.table not in tables:
                if found_on := on_a_partition(schema, self.name, info.table, info.name):
                    undeclared.append(found_on)
                continue
            try:
                trigger = declared_trigger(schema.name, info)
            except DeclarationError as exc:
                trigger = str(exc)
            if isinstance(trigger, str):
                undeclared.append(Undeclared(self.name, f"{info.table}.{info.name}", trigger))
            else:
                found.setdefault(info.table, []).append(trigger)
        out: list[m.Table] = []
        for table in schema.tables:
            triggers = found.get(table.name)
            try:
                out.append(table.replace(triggers=(*table.triggers, *triggers)) if triggers else table)
            except DeclarationError as exc:
                undeclared.append(Undeclared("table", table.name, str(exc)))
        return Declaration(schema.model_copy(update={"tables": tuple(out)}), tuple(undeclared))


_TRIGGERDEF = re.compile(
    r"^CREATE TRIGGER .+? (?P<timing>BEFORE|AFTER|INSTEAD OF) (?P<events>.+?) ON .+?"
    r"(?: REFERENCING (?P<ref>.+?))? FOR EACH (?P<each>ROW|STATEMENT)(?: WHEN \((?P<when>.*)\))?"
    r" EXECUTE FUNCTION (?P<fn>.+?)\(\)$", re.DOTALL,
)
_REFERENCING = re.compile(r"^(?:OLD TABLE AS (?P<old>\S+))? ?(?:NEW TABLE AS (?P<new>\S+))?$")


def declared_trigger(schema: str, info: TriggerInfo) -> m.Trigger | str:
    """One stored trigger as the model declares it, or why it cannot be (a sentence)."""
    from orders_schema.declare.model import Trigger

    match = _TRIGGERDEF.match(info.definition)
    if match is None:
        return f"{info.definition}: not declarable yet (constraint trigger or function arguments)"
    if info.enabled != "O":
        return f"it is {ENABLED[info.enabled]}; only enabled triggers are declarable"
    function = ct.qualified_name(match["fn"])
    if function is None or function[0] not in (None, schema):
        return f"it calls {match['fn']}, a function outside schema {schema}"
    events: list[str] = []
    update_of: tuple[str, ...] | None = ()
    for event in match["events"].split(" OR "):
        if event.startswith("UPDATE OF "):
            update_of = ct.ident_list(event[len("UPDATE OF "):])
            event = "UPDATE"
        events.append(event)
    ref = _REFERENCING.match(match["ref"] or "")
    if update_of is None or ref is None:
        return f"{info.definition}: not declarable yet"
    old = ct.unquote(ref["old"]) if ref["old"] else None
    new = ct.unquote(ref["new"]) if ref["new"] else None
    return Trigger(name=info.name, timing=match["timing"], events=tuple(events), function=function[1],
                   update_of=update_of, for_each=match["each"], when=match["when"],
                   referencing_old=old, referencing_new=new)


TRIGGER = TriggerKind()
