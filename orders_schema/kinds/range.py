"""The range type kind: ``CREATE TYPE ... AS RANGE (SUBTYPE = ..., ...)``.

* declaration: :class:`RangeType` (``Schema.ranges``): its subtype (a built-in type or one of the
  schema's, e.g. an enum), and optionally the subtype's operator class, its collation and the
  ``subtype_diff`` function (a function of ``pg_catalog`` such as ``float8mi``, or of the schema);
  a column, a domain or a composite type's attribute may then be of the range type;
* identity: the name;
* changes: :class:`AddRange` / :class:`DropRange`; PostgreSQL cannot alter a range type's
  definition, so a changed one is refused (declare a new type and convert the columns);
* placement: created before the tables (after the enums its subtype may be), dropped after them;
  ``CREATE TYPE`` is guarded by a catalogue check, so a version re-runs. PostgreSQL creates its
  constructor functions and its multirange type with it (and drops them with it): they are not
  declared;
* stored form: ``pg_range`` (``format_type`` of the subtype, the operator class when it is not the
  subtype's default, the collation, ``subtype_diff``), compared field by field.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from orders_schema.declare.base import Description, Name, Node, QualifiedName, _described
from orders_schema.declare.quoting import ident, qualified
from orders_schema.declare.sqltype import SqlType, coerce_type
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Refused, Undeclared
from orders_schema.kinds.enum import DropType
from orders_schema.kinds.guard import guarded, type_missing
from orders_schema.kinds.type_rename import planned as planned_renames
from orders_schema.live.difference import Difference, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:
    from orders_schema.declare import model as m


class RangeType(Node):
    """``RangeType(name="price_range", subtype="numeric(20, 8)")``, ``RangeType(name="floatrange",
    subtype="double precision", subtype_diff="float8mi")``."""

    kind = "range type"

    name: Name
    subtype: SqlType
    subtype_opclass: QualifiedName | None = None
    """An operator class of the subtype's btree family other than its default."""
    collation: QualifiedName | None = None
    subtype_diff: QualifiedName | None = None
    """A function ``(subtype, subtype) -> double precision``: ``float8mi`` or ``schema.function``."""
    comment: Description | None = _described()
    """``COMMENT ON TYPE`` (:mod:`orders_schema.kinds.comment`)."""
    renamed_from: Name | None = Field(default=None, exclude_if=lambda v: v is None)
    """Declares a rename: the migration renames the type (:mod:`orders_schema.kinds.type_rename`)."""

    _v_subtype = field_validator("subtype", mode="before")(coerce_type)


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddRange(Change):
    type: RangeType

    def reverse(self) -> Change:
        return DropRange(self.type)


@dataclass(frozen=True)
class DropRange(Change):
    type: RangeType

    def reverse(self) -> Change:
        return AddRange(self.type)


@dataclass(frozen=True)
class ChangeRange(Change):
    old: RangeType
    new: RangeType

    def reverse(self) -> Change:
        return ChangeRange(self.new, self.old)


# -- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRange(Statement):
    schema: str
    type: RangeType
    if_not_exists: bool = False


def _name(text: str) -> str:
    """``name`` or ``schema.name``, each part quoted."""
    return ".".join(ident(part) for part in text.split("."))


@renders(CreateRange)
def create_range_sql(s: CreateRange) -> str:
    from orders_schema.kinds.table import type_sql

    r = s.type
    options = [f"SUBTYPE = {type_sql(r.subtype)}"]
    options += [f"SUBTYPE_OPCLASS = {_name(r.subtype_opclass)}"] if r.subtype_opclass else []
    options += [f"COLLATION = {_name(r.collation)}"] if r.collation else []
    options += [f"SUBTYPE_DIFF = {_name(r.subtype_diff)}"] if r.subtype_diff else []
    body = ",\n    ".join(options)
    create = f"CREATE TYPE {qualified(s.schema, r.name)} AS RANGE (\n    {body}\n);"
    return guarded(type_missing(s.schema, r.name), create) if s.if_not_exists else create


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeInfo:
    name: str
    subtype: str
    """``format_type`` of the subtype."""
    opclass: str | None
    """The operator class, when it is not the subtype's default btree one."""
    collation: str | None
    """The collation, when it is not the subtype's."""
    subtype_diff: str | None

    @property
    def definition(self) -> str:
        parts = [f"subtype = {self.subtype}"]
        parts += [f"subtype_opclass = {self.opclass}"] if self.opclass else []
        parts += [f"collation = {self.collation}"] if self.collation else []
        parts += [f"subtype_diff = {self.subtype_diff}"] if self.subtype_diff else []
        return ", ".join(parts)


QUERY = """
SELECT t.typname AS name, format_type(r.rngsubtype, NULL) AS subtype,
       CASE WHEN o.opcdefault THEN NULL
            ELSE CASE WHEN on_.nspname = 'pg_catalog' THEN quote_ident(o.opcname)
                      ELSE quote_ident(on_.nspname) || '.' || quote_ident(o.opcname) END END AS opclass,
       CASE WHEN r.rngcollation = 0 OR r.rngcollation = s.typcollation THEN NULL
            ELSE r.rngcollation::regcollation::text END AS collation,
       NULLIF(r.rngsubdiff, 0)::regproc::text AS subtype_diff
FROM pg_range r
JOIN pg_type t ON t.oid = r.rngtypid
JOIN pg_type s ON s.oid = r.rngsubtype
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_opclass o ON o.oid = r.rngsubopc
JOIN pg_namespace on_ ON on_.oid = o.opcnamespace
WHERE n.nspname = %(schema)s
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY 1"""


# -- the kind --------------------------------------------------------------------------------


def _bare(text: str | None) -> str | None:
    """A stored name (``public.mine``, ``"C"``, ``float8mi``) as the model declares it."""
    if text is None:
        return None
    return ".".join(part[1:-1].replace('""', '"') if part.startswith('"') else part for part in text.split("."))


class RangeKind(Kind[RangeType, RangeInfo]):
    name = "range type"
    rank = 3.5
    catalog_field = "ranges"
    query = QUERY
    create_stage = "first"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[RangeType]]:
        return {t.name: Declared(None, t) for t in schema.ranges}

    def same(self, a: RangeType, b: RangeType) -> bool:
        return (a.subtype, a.subtype_opclass, a.collation, a.subtype_diff) == (
            b.subtype, b.subtype_opclass, b.collation, b.subtype_diff)

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddRange(b.obj))
            elif b is None and a is not None:
                changes.append(DropRange(a.obj))
            elif a is not None and b is not None and not self.same(a.obj, b.obj):
                changes.append(ChangeRange(a.obj, b.obj))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[RangeType]) -> list[Statement]:
        return [CreateRange(schema, item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        s = ctx.schema
        for c in ctx.of(ChangeRange):
            raise Refused(
                f"range type {s}.{c.new.name}: PostgreSQL cannot alter a range type's subtype, operator class, "
                "collation or subtype_diff; declare a new range type, convert the columns to it, then drop this one"
            )
        out = Planned()
        out.rename += planned_renames(ctx, 'range type')
        out.early += [CreateRange(s, c.type, if_not_exists=True) for c in ctx.of(AddRange)]
        out.final += [DropType(s, c.type.name) for c in ctx.of(DropRange)]
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[RangeInfo, ...]:
        return tuple(RangeInfo(**r) for r in rows)

    def compare(self, schema: str, declared: Sequence[RangeInfo], live: Sequence[RangeInfo]) -> Iterator[Difference]:
        for name, d, x in pair({t.name: t for t in declared}, {t.name: t for t in live}):
            where = qualified(schema, name)
            if d is None or x is None:
                yield presence("range type", where, d.definition if d else None, x.definition if x else None)
            elif d.definition != x.definition:
                yield Difference("range type", where, "definition differs", d.definition, x.definition)

    def declare(self, schema: m.Schema, stored: Sequence[RangeInfo]) -> Declaration:
        """Each range type with its subtype (``format_type`` form) and its options."""
        from orders_schema.declare.model import DeclarationError
        from orders_schema.kinds.table import sql_type_of

        types: list[RangeType] = []
        undeclared: list[Undeclared] = []
        for info in stored:
            subtype = sql_type_of(info.subtype)
            if subtype is None:
                undeclared.append(Undeclared(self.name, info.name, f"subtype {info.subtype} cannot be read back"))
                continue
            try:
                types.append(RangeType(name=info.name, subtype=subtype, subtype_opclass=_bare(info.opclass),
                                       collation=_bare(info.collation), subtype_diff=_bare(info.subtype_diff)))
            except DeclarationError as exc:
                undeclared.append(Undeclared(self.name, info.name, str(exc)))
        return Declaration(schema.model_copy(update={"ranges": (*schema.ranges, *types)}), tuple(undeclared))


RANGE = RangeKind()
