"""The enum kind: ``CREATE TYPE ... AS ENUM``.

* declaration: :class:`EnumType` (``Schema.enums``): its labels in order, and the labels renamed
  since the previous version (``renamed``: ``(old, new)`` pairs, like ``renamed_from``);
* identity: the name;
* changes: :class:`AddEnum` / :class:`DropEnum`; :class:`AddEnumLabel` (``ALTER TYPE ... ADD VALUE
  IF NOT EXISTS ... BEFORE/AFTER``: no table is rewritten or locked for long);
  :class:`RenameEnumLabel` (``RENAME VALUE``, declared); labels removed or reordered are refused
  (:class:`ReorderEnum`): PostgreSQL cannot drop or move an enum value; it takes a new type, every
  column converted to it (a table rewrite under an ACCESS EXCLUSIVE lock) and the old one dropped,
  which this planner does not do online;
* placement: created before the tables and functions that use it, dropped after them. A value is
  added in the transactional part, before everything else: PostgreSQL 12+ allows ``ADD VALUE``
  in a transaction, but the value cannot be used until that transaction commits, so a version
  whose new defaults, CHECKs, index predicates, views or domains use a value it adds is refused
  (add the value in one version, use it in the next). Its down script cannot remove the value
  (a comment says so: the value stays);
* stored form: ``pg_enum`` labels in ``enumsortorder``; compared label list for label list.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from orders_schema.declare.base import DeclarationError, Description, Name, Node, _described, _duplicates
from orders_schema.declare.quoting import comment, literal, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Refused, Undeclared
from orders_schema.kinds.guard import guarded, type_missing
from orders_schema.kinds.type_rename import planned as planned_renames
from orders_schema.live.difference import Difference, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:
    from orders_schema.declare import model as m


class EnumType(Node):
    """``EnumType(name="order_status", labels=("pending", "filled", "cancelled"))``.

    ``renamed``: ``(("canceled", "cancelled"),)`` renames a label instead of refusing its removal."""

    kind = "enum"

    name: Name
    labels: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...] = ()
    renamed_from: Name | None = Field(default=None, exclude_if=lambda v: v is None)
    """Declares a rename: the migration renames the type (:mod:`orders_schema.kinds.type_rename`)."""
    comment: Description | None = _described()
    """``COMMENT ON TYPE`` (:mod:`orders_schema.kinds.comment`)."""

    @model_validator(mode="after")
    def _valid(self) -> EnumType:
        what = f"enum {self.name}"
        if not self.labels:
            raise DeclarationError(f"{what}: needs at least one label")
        for label in self.labels:
            if not label or len(label.encode()) > 63:
                raise DeclarationError(f"{what}: label {label!r} must be 1..63 bytes")
        if dup := _duplicates(self.labels):
            raise DeclarationError(f"{what}: duplicate labels {dup}")
        for old, new in self.renamed:
            if new not in self.labels or old in self.labels:
                raise DeclarationError(
                    f"{what}: renamed ({old!r}, {new!r}) must name an old label no longer declared and a declared one"
                )
        return self


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddEnum(Change):
    enum: EnumType

    def reverse(self) -> Change:
        return DropEnum(self.enum)


@dataclass(frozen=True)
class DropEnum(Change):
    enum: EnumType

    def reverse(self) -> Change:
        return AddEnum(self.enum)


@dataclass(frozen=True)
class AddEnumLabel(Change):
    type: str
    label: str
    before: str | None = None
    after: str | None = None

    def reverse(self) -> Change:
        return KeepEnumLabel(self.type, self.label, self.before, self.after)


@dataclass(frozen=True)
class KeepEnumLabel(Change):
    """The reverse of an added label: PostgreSQL cannot remove it, so the down script keeps it."""

    type: str
    label: str
    before: str | None = None
    after: str | None = None

    def reverse(self) -> Change:
        return AddEnumLabel(self.type, self.label, self.before, self.after)


@dataclass(frozen=True)
class RenameEnumLabel(Change):
    type: str
    old: str
    new: str

    def reverse(self) -> Change:
        return RenameEnumLabel(self.type, self.new, self.old)


@dataclass(frozen=True)
class ReorderEnum(Change):
    """Labels removed or moved: refused when planned (see the module)."""

    type: str
    old: tuple[str, ...]
    new: tuple[str, ...]

    def reverse(self) -> Change:
        return ReorderEnum(self.type, self.new, self.old)


def label_changes(old: EnumType, new: EnumType) -> list[Change]:
    renames = {a: b for a, b in new.renamed if a in old.labels}
    kept = [renames.get(label, label) for label in old.labels]
    changes: list[Change] = [RenameEnumLabel(new.name, a, b) for a, b in renames.items()]
    order = [label for label in new.labels if label in kept]
    if order != kept:
        return [*changes, ReorderEnum(new.name, tuple(kept), new.labels)]
    present = set(kept)
    first = new.labels.index(kept[0])
    for i in reversed(range(first)):  # labels before the first kept one: each BEFORE its successor
        changes.append(AddEnumLabel(new.name, new.labels[i], before=new.labels[i + 1]))
        present.add(new.labels[i])
    for i, label in enumerate(new.labels):
        if label not in present:
            changes.append(AddEnumLabel(new.name, label, after=new.labels[i - 1]))
            present.add(label)
    return changes


# -- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateEnum(Statement):
    schema: str
    enum: EnumType
    if_not_exists: bool = False


@dataclass(frozen=True)
class AddEnumValue(Statement):
    schema: str
    type: str
    label: str
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class RenameEnumValue(Statement):
    schema: str
    type: str
    old: str
    new: str


@dataclass(frozen=True)
class KeepEnumValue(Statement):
    schema: str
    type: str
    label: str


@dataclass(frozen=True)
class DropType(Statement):
    """``DROP TYPE IF EXISTS`` (enums and composite types; RESTRICT: refused while a column uses it)."""

    schema: str
    name: str


@renders(CreateEnum)
def create_enum_sql(s: CreateEnum) -> str:
    labels = ", ".join(literal(label) for label in s.enum.labels)
    create = f"CREATE TYPE {qualified(s.schema, s.enum.name)} AS ENUM ({labels});"
    return guarded(type_missing(s.schema, s.enum.name), create) if s.if_not_exists else create


@renders(AddEnumValue)
def add_enum_value_sql(s: AddEnumValue) -> str:
    where = f" BEFORE {literal(s.before)}" if s.before else f" AFTER {literal(s.after)}" if s.after else ""
    return f"ALTER TYPE {qualified(s.schema, s.type)} ADD VALUE IF NOT EXISTS {literal(s.label)}{where};"


@renders(RenameEnumValue)
def rename_enum_value_sql(s: RenameEnumValue) -> str:
    name = qualified(s.schema, s.type)
    condition = (f"EXISTS (SELECT 1 FROM pg_catalog.pg_enum WHERE enumtypid = {literal(name)}::regtype "
                 f"AND enumlabel = {literal(s.old)})")
    return guarded(condition, f"ALTER TYPE {name} RENAME VALUE {literal(s.old)} TO {literal(s.new)};")


@renders(KeepEnumValue)
def keep_enum_value_sql(s: KeepEnumValue) -> str:
    return comment(f"HAZARD: value {s.label!r} of {s.schema}.{s.type} stays: PostgreSQL cannot remove an enum value")


@renders(DropType)
def drop_type_sql(s: DropType) -> str:
    return f"DROP TYPE IF EXISTS {qualified(s.schema, s.name)};"


# -- stored form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EnumInfo:
    name: str
    labels: tuple[str, ...]


QUERY = """
SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = %(schema)s AND t.typtype = 'e'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
GROUP BY t.typname
ORDER BY 1"""


def used_labels(old: m.Schema, new: m.Schema) -> dict[str, str]:
    """SQL fragments new in ``new`` (column defaults, CHECKs, index predicates, views, domains), by
    what holds them; the planner looks for a label added in the same version among them."""
    def fragments_of(schema: m.Schema) -> dict[str, str]:
        out: dict[str, str] = {}
        for table in schema.tables:
            for col in table.columns:
                if col.default is not None:
                    out[col.default] = f"the default of column {table.name}.{col.name}"
            for check in table.checks:
                out[check.expression] = f"check {check.name}"
            for index in table.indexes:
                for text in index.fragments():
                    out[text] = f"index {index.name}"
        for view in schema.views:
            out[view.query] = f"view {view.name}"
        for domain in schema.domains:
            if domain.default is not None:
                out[domain.default] = f"the default of domain {domain.name}"
            for dc in domain.checks:
                out[dc.expression] = f"check {dc.name} of domain {domain.name}"
        return out

    before = fragments_of(old)
    return {text: where for text, where in fragments_of(new).items() if text not in before}


# -- the kind --------------------------------------------------------------------------------


class EnumKind(Kind[EnumType, EnumInfo]):
    name = "enum"
    rank = 3
    catalog_field = "enums"
    query = QUERY
    create_stage = "first"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[EnumType]]:
        return {e.name: Declared(None, e) for e in schema.enums}

    def same(self, a: EnumType, b: EnumType) -> bool:
        return a.labels == b.labels

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddEnum(b.obj))
            elif b is None and a is not None:
                changes.append(DropEnum(a.obj))
            elif a is not None and b is not None and not self.same(a.obj, b.obj):
                changes += label_changes(a.obj, b.obj)
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[EnumType]) -> list[Statement]:
        return [CreateEnum(schema, item.obj)]

    def plan(self, ctx: PlanContext) -> Planned:
        s = ctx.schema
        for c in ctx.of(ReorderEnum):
            raise Refused(
                f"enum {s}.{c.type}: labels {list(c.old)} -> {list(c.new)} removes or reorders a value, which "
                "PostgreSQL cannot do in place: it needs a new type, every column converted to it (a table "
                "rewrite under an ACCESS EXCLUSIVE lock) and the old type dropped. Keep the old labels in their "
                "order (new ones may go anywhere), or declare a new enum type and migrate the columns yourself"
            )
        added = ctx.of(AddEnumLabel)
        if added:
            used = used_labels(ctx.old, ctx.new)
            for c in added:
                users = sorted(where for text, where in used.items() if literal(c.label) in text)
                if users:
                    raise Refused(
                        f"enum {s}.{c.type}: value {c.label!r} is added by this version and used by {users[0]}; "
                        "PostgreSQL cannot use an enum value in the transaction that adds it: add the value "
                        "in one version (generate), use it in the next"
                    )
        out = Planned()
        out.rename += planned_renames(ctx, 'enum')
        out.early += [CreateEnum(s, c.enum, if_not_exists=True) for c in ctx.of(AddEnum)]
        out.early += [RenameEnumValue(s, c.type, c.old, c.new) for c in ctx.of(RenameEnumLabel)]
        out.early += [AddEnumValue(s, c.type, c.label, c.before, c.after) for c in added]
        out.early += [KeepEnumValue(s, c.type, c.label) for c in ctx.of(KeepEnumLabel)]
        out.final += [DropType(s, c.enum.name) for c in ctx.of(DropEnum)]
        return out

    def declare(self, schema: m.Schema, stored: Sequence[EnumInfo]) -> Declaration:
        """Each enum with its labels in their order."""
        enums: list[EnumType] = []
        undeclared: list[Undeclared] = []
        for info in stored:
            try:
                enums.append(EnumType(name=info.name, labels=info.labels))
            except (DeclarationError, ValueError) as exc:
                undeclared.append(Undeclared(self.name, info.name, str(exc)))
        return Declaration(schema.model_copy(update={"enums": (*schema.enums, *enums)}), tuple(undeclared))

    def stored(self, rows: list[dict[str, Any]]) -> tuple[EnumInfo, ...]:
        return tuple(EnumInfo(r["name"], tuple(r["labels"])) for r in rows)

    def compare(self, schema: str, declared: Sequence[EnumInfo], live: Sequence[EnumInfo]) -> Iterator[Difference]:
        def text(e: EnumInfo | None) -> str | None:
            return None if e is None else ", ".join(literal(label) for label in e.labels)

        for name, d, x in pair({e.name: e for e in declared}, {e.name: e for e in live}):
            where = qualified(schema, name)
            if d is None or x is None:
                yield presence("enum", where, text(d), text(x))
            elif d.labels != x.labels:
                yield Difference("enum", where, "labels differ", text(d), text(x))


ENUM = EnumKind()
