"""The ownership kind: a table owned by a declared role instead of the schema's owner
(``Table.owner``).

* declaration: ``Table.owner``, a role of ``Schema.roles`` (None: the schema's owner, the role
  applying the migrations, which owns whatever they create);
* identity: the table;
* changes: :class:`SetOwner` (old -> new), its reverse swaps them;
* statements: :class:`AlterOwner` (``ALTER TABLE ... OWNER TO role``, or ``OWNER TO
  CURRENT_USER`` to give it back to the applying role): a brief ACCESS EXCLUSIVE lock; the
  applying role must be a member of the new owner (or a superuser). An owner may alter and drop
  its table and is not bound by its row security unless it is forced;
* stored form: the tables whose owner is not the schema's owner (so the declarations compare
  equal whoever applies them), by name.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orders_schema.declare.quoting import ident, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared
from orders_schema.kinds.role import with_roles
from orders_schema.live.difference import Difference, pair
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

SCHEMA_OWNER = "(the schema's owner)"

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetOwner(Change):
    table: str
    old: str | None
    new: str | None

    def reverse(self) -> Change:
        return SetOwner(self.table, self.new, self.old)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class AlterOwner(Statement):
    schema: str
    table: str
    owner: str | None
    """None: the role running the migration (``CURRENT_USER``)."""


@renders(AlterOwner)
def alter_owner_sql(s: AlterOwner) -> str:
    owner = "CURRENT_USER" if s.owner is None else ident(s.owner)
    return f"ALTER TABLE {qualified(s.schema, s.table)} OWNER TO {owner};"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerInfo:
    table: str
    owner: str


QUERY = """
SELECT c.relname AS table, pg_get_userbyid(c.relowner)::text AS owner
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND c.relowner <> n.nspowner
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1"""


# -- the kind --------------------------------------------------------------------------------


class OwnerKind(Kind[str, OwnerInfo]):
    name = "owner"
    rank = 58
    catalog_field = "owners"
    query = QUERY
    create_stage = "last"
    of_tables = True

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[str]]:
        return {t.name: Declared(t.name, t.owner) for t in schema.tables if t.owner is not None}

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for key, a, b in self.matched(old, new):
            before, after = (a.obj if a else None), (b.obj if b else None)
            if before != after:
                changes.append(SetOwner(str(key), before, after))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[str]) -> list[Statement]:
        return [AlterOwner(schema, str(key), item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        out = Planned()
        out.after += [AlterOwner(ctx.schema, c.table, c.new) for c in ctx.of(SetOwner)]
        out.after += [AlterOwner(ctx.schema, str(k), i.obj) for k, i in self.declared(ctx.new).items()
                      if k in ctx.added]
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[OwnerInfo, ...]:
        return tuple(OwnerInfo(**r) for r in rows)

    def compare(self, schema: str, declared: Sequence[OwnerInfo], live: Sequence[OwnerInfo]) -> Iterator[Difference]:
        for table, d, x in pair({o.table: o for o in declared}, {o.table: o for o in live}):
            if (d.owner if d else None) != (x.owner if x else None):
                yield Difference("owner", qualified(schema, table), "owner differs",
                                 d.owner if d else SCHEMA_OWNER, x.owner if x else SCHEMA_OWNER)

    def declare(self, schema: m.Schema, stored: Sequence[OwnerInfo]) -> Declaration:
        """Each table's owner (a role other than the schema's owner) onto its declaration, the role
        declared too; a reserved ``pg_`` role, or a table not declared, is listed."""
        owners = {o.table: o.owner for o in stored}
        names = {t.name for t in schema.tables}
        undeclared = [Undeclared(self.name, t, f"owned by {o}; its table is not declared")
                      for t, o in owners.items() if t not in names]
        undeclared += [Undeclared(self.name, t, f"owned by {o}, a reserved pg_ role")
                       for t, o in owners.items() if t in names and o.startswith("pg_")]
        owners = {t: o for t, o in owners.items() if t in names and not o.startswith("pg_")}
        schema = with_roles(schema, *owners.values())
        tables = tuple(t.model_copy(update={"owner": owners[t.name]}) if t.name in owners else t
                       for t in schema.tables)
        return Declaration(schema.model_copy(update={"tables": tables}), tuple(undeclared))


OWNER = OwnerKind()
