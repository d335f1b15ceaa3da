"""Declared renames of the schema's types (enums, domains, composite and range types).

A type declared with ``renamed_from="old_name"`` (the name it has in the previous version) is
renamed (``ALTER TYPE old RENAME TO new``, ``ALTER DOMAIN`` for a domain) instead of dropped and
created again, which PostgreSQL would refuse while a column uses it. Like a table's rename it is
never guessed. :func:`type_renames` applies the renames to the old schema before every kind diffs
it (with every use of the type: columns, domains' base types, composite types' attributes, range
types' subtypes), so nothing else changes; the statement runs in the ``rename`` stage, before
anything uses the new name, guarded so that a version applies a second time; its reverse renames
it back in the down script. PostgreSQL keeps the type's comment, privileges and uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orders_schema.declare.quoting import ident, qualified
from orders_schema.kinds.base import PlanContext
from orders_schema.kinds.guard import guarded, type_missing
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:
    from orders_schema.declare import model as m
    from orders_schema.declare.sqltype import SqlType

_FIELDS = {"enum": "enums", "domain": "domains", "composite type": "composites", "range type": "ranges"}
"""Each type kind's name and its field on the schema."""


@dataclass(frozen=True)
class RenameType(Change):
    what: str
    """The type's kind: ``enum``, ``domain``, ``composite type`` or ``range type``."""
    old: str
    new: str

    def reverse(self) -> Change:
        return RenameType(self.what, self.new, self.old)


@dataclass(frozen=True)
class RenameTypeStatement(Statement):
    schema: str
    domain: bool
    old: str
    new: str


@renders(RenameTypeStatement)
def rename_type_sql(s: RenameTypeStatement) -> str:
    alter = f"ALTER {'DOMAIN' if s.domain else 'TYPE'} {qualified(s.schema, s.old)} RENAME TO {ident(s.new)};"
    # renamed once, the new name is taken and the old one gone: a re-run skips it
    return guarded(f"{type_missing(s.schema, s.new)} AND NOT {type_missing(s.schema, s.old)}", alter)


def planned(ctx: PlanContext, what: str) -> list[Statement]:
    """The ``rename`` stage's statements of one type kind."""
    return [RenameTypeStatement(ctx.schema, what == "domain", c.old, c.new)
            for c in ctx.of(RenameType) if c.what == what]


def type_renames(old: m.Schema, new: m.Schema) -> tuple[list[Change], m.Schema]:
    """The declared renames of types, and ``old`` with them applied (the types and their uses)."""
    changes: list[Change] = []
    moves: dict[str, str] = {}
    for what, field in _FIELDS.items():
        before = {t.name for t in getattr(old, field)}
        for t in getattr(new, field):
            if t.renamed_from and t.renamed_from in before and t.name not in before:
                changes.append(RenameType(what, t.renamed_from, t.name))
                moves[t.renamed_from] = t.name
    if not moves:
        return changes, old

    def q(t: SqlType) -> SqlType:
        renamed = t.in_schema == old.name and t.name in moves
        return t.model_copy(update={"name": moves[t.name]}) if renamed else t

    def named(items: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(x.model_copy(update={"name": moves.get(x.name, x.name)}) for x in items)

    tables = tuple(t.model_copy(update={"columns": tuple(c.model_copy(update={"type": q(c.type)}) for c in t.columns)})
                   for t in old.tables)
    domains = tuple(d.model_copy(update={"base": q(d.base)}) for d in named(old.domains))
    composites = tuple(c.model_copy(update={"attributes": tuple(a.model_copy(update={"type": q(a.type)})
                                                                for a in c.attributes)})
                       for c in named(old.composites))
    ranges = tuple(r.model_copy(update={"subtype": q(r.subtype)}) for r in named(old.ranges))
    return changes, old.model_copy(update={"tables": tables, "enums": named(old.enums), "domains": domains,
                                           "composites": composites, "ranges": ranges})
