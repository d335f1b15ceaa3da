"""The row-security kind: whether a table's row-level security is off, enabled, or enabled and
forced on its owner too (``Table.row_security``).

* declaration: ``Table.row_security``, one of :data:`RowSecurity` (``disabled`` by default);
* identity: the table;
* changes: :class:`SetRowSecurity` (old mode -> new mode), its reverse swaps them;
* statements: :class:`AlterRowSecurity` (``ALTER TABLE ... ENABLE`` / ``DISABLE`` / ``FORCE`` /
  ``NO FORCE ROW LEVEL SECURITY``): a brief ACCESS EXCLUSIVE lock, no scan; re-runnable; placed
  once every table exists (``after``), so a version enabling it and adding policies is one
  transaction: no moment where the table is open, or closed without its policies;
* stored form: ``pg_class.relrowsecurity`` and ``relforcerowsecurity`` of every table.

Row security binds every role but the table's owner (unless forced), superusers and roles with
``BYPASSRLS``; with it enabled and no policy for a role, that role sees and changes no row.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from orders_schema.declare.quoting import qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.live.difference import Difference, pair
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

RowSecurity = Literal["disabled", "enabled", "forced"]
"""``enabled`` binds every role but the owner; ``forced`` binds the owner too."""

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetRowSecurity(Change):
    table: str
    old: RowSecurity
    new: RowSecurity

    def reverse(self) -> Change:
        return SetRowSecurity(self.table, self.new, self.old)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class AlterRowSecurity(Statement):
    schema: str
    table: str
    action: Literal["ENABLE", "DISABLE", "FORCE", "NO FORCE"]


@renders(AlterRowSecurity)
def alter_row_security_sql(s: AlterRowSecurity) -> str:
    return f"ALTER TABLE {qualified(s.schema, s.table)} {s.action} ROW LEVEL SECURITY;"


def actions(schema: str, table: str, old: RowSecurity, new: RowSecurity) -> list[Statement]:
    """The statements taking a table from ``old`` to ``new`` (forcing is kept apart from enabling)."""
    out: list[Statement] = []
    if (old == "disabled") != (new == "disabled"):
        out.append(AlterRowSecurity(schema, table, "DISABLE" if new == "disabled" else "ENABLE"))
    if (old == "forced") != (new == "forced"):
        out.append(AlterRowSecurity(schema, table, "FORCE" if new == "forced" else "NO FORCE"))
    return out


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RowSecurityInfo:
    table: str
    enabled: bool
    forced: bool

    @property
    def mode(self) -> RowSecurity:
        return "forced" if self.enabled and self.forced else "enabled" if self.enabled else "disabled"


QUERY = """
SELECT c.relname AS table, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1"""


# -- the kind --------------------------------------------------------------------------------


class RowSecurityKind(Kind["RowSecurity", RowSecurityInfo]):
    name = "row security"
    rank = 55
    catalog_field = "row_security"
    query = QUERY
    create_stage = "last"
    of_tables = True

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[RowSecurity]]:
        return {t.name: Declared(t.name, t.row_security) for t in schema.tables if t.row_security != "disabled"}

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for key, a, b in self.matched(old, new):
            before: RowSecurity = a.obj if a else "disabled"
            after: RowSecurity = b.obj if b else "disabled"
            if before != after:
                changes.append(SetRowSecurity(str(key), before, after))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[RowSecurity]) -> list[Statement]:
        return actions(schema, str(key), "disabled", item.obj)

    def plan(self, ctx: PlanContext) -> Planned:
        out = Planned()
        for c in ctx.of(SetRowSecurity):
            out.after += actions(ctx.schema, c.table, c.old, c.new)
        for key, item in self.declared(ctx.new).items():
            if key in ctx.added:
                out.after += self.create(ctx.schema, key, item)
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[RowSecurityInfo, ...]:
        return tuple(RowSecurityInfo(**r) for r in rows)

    def compare(
        self, schema: str, declared: Sequence[RowSecurityInfo], live: Sequence[RowSecurityInfo]
    ) -> Iterator[Difference]:
        for table, d, x in pair({r.table: r for r in declared}, {r.table: r for r in live}):
            if d is not None and x is not None and d.mode != x.mode:
                yield Difference("row security", qualified(schema, table), "mode differs", d.mode, x.mode)

    def declare(self, schema: m.Schema, stored: Sequence[RowSecurityInfo]) -> Declaration:
        """Each table's mode onto its declaration; a table not declared (listed already) lists it too."""
        modes = {r.table: r.mode for r in stored if r.mode != "disabled"}
        names = {t.name for t in schema.tables}
        tables = tuple(t.model_copy(update={"row_security": modes[t.name]}) if t.name in modes else t
                       for t in schema.tables)
        undeclared = tuple(Undeclared(self.name, table, f"{mode}; its table is not declared")
                           for table, mode in modes.items() if table not in names)
        return Declaration(schema.model_copy(update={"tables": tables}), undeclared)


ROW_SECURITY = RowSecurityKind()
