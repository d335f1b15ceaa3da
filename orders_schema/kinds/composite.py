"""The composite type kind: ``CREATE TYPE ... AS (attribute type, ...)``.

* declaration: :class:`CompositeType` (``Schema.composites``) and its :class:`Attribute` tuple;
* identity: the name; an attribute by its name within its type;
* changes: :class:`AddComposite` / :class:`DropComposite`; :class:`AddAttribute` (appended: a
  new attribute declared before existing ones is refused, PostgreSQL only appends);
  :class:`DropAttribute` (a hazard: the values of that attribute in every column of the type go;
  it needs the allowance ``drop attribute <schema>.<type>.<attribute>``); :class:`AlterAttribute`
  (``ALTER ATTRIBUTE ... TYPE``; PostgreSQL refuses it while a table column uses the type);
* placement: created before the tables that use it, dropped after them; ``ADD ATTRIBUTE`` is
  guarded by a catalogue check (``DROP ATTRIBUTE IF EXISTS`` is native), so a version re-runs;
* stored form: each attribute's name and ``format_type``, in order.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from orders_schema.declare.base import DeclarationError, Description, Name, Node, _described, _duplicates
from orders_schema.declare.quoting import ident, literal, qualified
from orders_schema.declare.sqltype import SqlType, coerce_type
from orders_schema.kinds.base import (
    Declaration,
    Declared,
    Kind,
    PlanContext,
    Planned,
    Refused,
    Undeclared,
    by_dependency,
)
from orders_schema.kinds.enum import DropType
from orders_schema.kinds.guard import guarded, type_missing
from orders_schema.kinds.table import type_sql
from orders_schema.kinds.type_rename import planned as planned_renames
from orders_schema.live.difference import Difference, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:
    from orders_schema.declare import model as m


class Attribute(Node):
    kind = "attribute"

    name: Name
    type: SqlType

    _v_type = field_validator("type", mode="before")(coerce_type)


class CompositeType(Node):
    """``CompositeType(name="money_amount", attributes=(Attribute(name="amount", type="numeric(20, 8)"), ...))``."""

    kind = "composite type"

    name: Name
    attributes: tuple[Attribute, ...]
    renamed_from: Name | None = Field(default=None, exclude_if=lambda v: v is None)
    """Declares a rename: the migration renames the type (:mod:`orders_schema.kinds.type_rename`)."""
    comment: Description | None = _described()
    """``COMMENT ON TYPE`` (:mod:`orders_schema.kinds.comment`)."""

    @model_validator(mode="after")
    def _valid(self) -> CompositeType:
        if not self.attributes:
            raise DeclarationError(f"composite type {self.name}: needs at least one attribute")
        if dup := _duplicates(a.name for a in self.attributes):
            raise DeclarationError(f"composite type {self.name}: duplicate attribute names {dup}")
        return self


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddComposite(Change):
    type: CompositeType

    def reverse(self) -> Change:
        return DropComposite(self.type)


@dataclass(frozen=True)
class DropComposite(Change):
    type: CompositeType

    def reverse(self) -> Change:
        return AddComposite(self.type)


@dataclass(frozen=True)
class AddAttribute(Change):
    type: str
    attribute: Attribute
    appended: bool = True

    def reverse(self) -> Change:
        return DropAttribute(self.type, self.attribute)


@dataclass(frozen=True)
class DropAttribute(Change):
    type: str
    attribute: Attribute

    def reverse(self) -> Change:
        return AddAttribute(self.type, self.attribute)

    def destructive(self, schema: str) -> str | None:
        return f"drop attribute {schema}.{self.type}.{self.attribute.name}"


@dataclass(frozen=True)
class AlterAttribute(Change):
    type: str
    old: Attribute
    new: Attribute

    def reverse(self) -> Change:
        return AlterAttribute(self.type, self.new, self.old)


# -- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateComposite(Statement):
    schema: str
    type: CompositeType
    if_not_exists: bool = False


@dataclass(frozen=True)
class AlterAttributeStatement(Statement):
    schema: str
    type: str
    attribute: Attribute
    action: str
    """``add``, ``drop`` or ``type``."""


@renders(CreateComposite)
def create_composite_sql(s: CreateComposite) -> str:
    attributes = ",\n    ".join(f"{ident(a.name)} {type_sql(a.type)}" for a in s.type.attributes)
    create = f"CREATE TYPE {qualified(s.schema, s.type.name)} AS (\n    {attributes}\n);"
    return guarded(type_missing(s.schema, s.type.name), create) if s.if_not_exists else create


@renders(AlterAttributeStatement)
def alter_attribute_sql(s: AlterAttributeStatement) -> str:
    name, a = qualified(s.schema, s.type), s.attribute
    if s.action == "drop":
        return f"ALTER TYPE {name} DROP ATTRIBUTE IF EXISTS {ident(a.name)};"
    if s.action == "type":
        return f"ALTER TYPE {name} ALTER ATTRIBUTE {ident(a.name)} TYPE {type_sql(a.type)};"
    condition = (f"NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = "
                 f"(SELECT typrelid FROM pg_catalog.pg_type WHERE oid = {literal(name)}::regtype) "
                 f"AND attname = {literal(a.name)} AND NOT attisdropped)")
    return guarded(condition, f"ALTER TYPE {name} ADD ATTRIBUTE {ident(a.name)} {type_sql(a.type)};")


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CompositeInfo:
    name: str
    attributes: tuple[str, ...]
    """``name type`` per attribute, in order."""


QUERY = """
SELECT t.typname AS name,
       ARRAY(SELECT quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum) AS attributes
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_class c ON c.oid = t.typrelid
WHERE n.nspname = %(schema)s AND t.typtype = 'c' AND c.relkind = 'c'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY 1"""


# -- the kind --------------------------------------------------------------------------------


class CompositeKind(Kind[CompositeType, CompositeInfo]):
    name = "composite type"
    rank = 5
    catalog_field = "composites"
    query = QUERY
    create_stage = "first"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[CompositeType]]:
        return {t.name: Declared(None, t) for t in schema.composites}

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddComposite(b.obj))
            elif b is None and a is not None:
                changes.append(DropComposite(a.obj))
            elif a is not None and b is not None and a.obj != b.obj:
                changes += _attribute_changes(a.obj, b.obj)
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[CompositeType]) -> list[Statement]:
        return [CreateComposite(schema, item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        s = ctx.schema
        for c in ctx.of(AddAttribute):
            if not c.appended:
                raise Refused(
                    f"composite type {s}.{c.type}: attribute {c.attribute.name} is declared before existing "
                    "ones; PostgreSQL only appends attributes (ADD ATTRIBUTE): declare it last"
                )
        out = Planned()
        out.rename += planned_renames(ctx, 'composite type')
        out.early += [CreateComposite(s, c.type, if_not_exists=True) for c in ctx.of(AddComposite)]
        out.early += [AlterAttributeStatement(s, c.type, c.new, "type") for c in ctx.of(AlterAttribute)]
        out.early += [AlterAttributeStatement(s, c.type, c.attribute, "add") for c in ctx.of(AddAttribute)]
        out.last += [AlterAttributeStatement(s, c.type, c.attribute, "drop") for c in ctx.of(DropAttribute)]
        out.final += [DropType(s, c.type.name) for c in ctx.of(DropComposite)]
        return out

    def declare(self, schema: m.Schema, stored: Sequence[CompositeInfo]) -> Declaration:
        """Each composite type with its attributes (types in ``format_type`` form), in order."""
        from orders_schema.kinds.table import sql_type_of

        types: list[CompositeType] = []
        undeclared: list[Undeclared] = []
        for info in stored:
            attributes: list[Attribute] = []
            problems: list[str] = []
            for text in info.attributes:
                match = re.fullmatch(r'("(?:[^"]|"")+"|\S+) (.+)', text, re.S)
                sql_type = sql_type_of(match[2]) if match else None
                if match is None or sql_type is None:
                    problems.append(f"attribute {text} cannot be read back")
                    continue
                name = match[1][1:-1].replace('""', '"') if match[1].startswith('"') else match[1]
                attributes.append(Attribute(name=name, type=sql_type))
            try:
                if not problems:
                    types.append(CompositeType(name=info.name, attributes=tuple(attributes)))
            except (DeclarationError, ValueError) as exc:
                problems.append(str(exc))
            if problems:
                undeclared.append(Undeclared(self.name, info.name, "; ".join(problems)))
        own = schema.name
        types = by_dependency(types, lambda c: c.name,
                              lambda c: {a.type.name for a in c.attributes if a.type.in_schema == own})
        return Declaration(schema.model_copy(update={"composites": (*schema.composites, *types)}),
                           tuple(undeclared))

    def stored(self, rows: list[dict[str, Any]]) -> tuple[CompositeInfo, ...]:
        return tuple(CompositeInfo(r["name"], tuple(r["attributes"])) for r in rows)

    def compare(
        self, schema: str, declared: Sequence[CompositeInfo], live: Sequence[CompositeInfo]
    ) -> Iterator[Difference]:
        def text(t: CompositeInfo | None) -> str | None:
            return None if t is None else ", ".join(t.attributes)

        for name, d, x in pair({t.name: t for t in declared}, {t.name: t for t in live}):
            where = qualified(schema, name)
            if d is None or x is None:
                yield presence("composite type", where, text(d), text(x))
            elif d.attributes != x.attributes:
                yield Difference("composite type", where, "attributes differ", text(d), text(x))


def _attribute_changes(a: CompositeType, b: CompositeType) -> list[Change]:
    old = {x.name: x for x in a.attributes}
    new_names = [x.name for x in b.attributes]
    kept = [n for n in new_names if n in old]
    out: list[Change] = [DropAttribute(b.name, x) for x in a.attributes if x.name not in new_names]
    for i, attr in enumerate(b.attributes):
        if attr.name not in old:
            out.append(AddAttribute(b.name, attr, appended=all(new_names.index(k) < i for k in kept)))
        elif old[attr.name].type != attr.type:
            out.append(AlterAttribute(b.name, old[attr.name], attr))
    return out


COMPOSITE = CompositeKind()
