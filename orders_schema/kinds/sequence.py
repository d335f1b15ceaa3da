"""The sequence kind: ``CREATE SEQUENCE`` with its options and its owning column.

* declaration: :class:`Sequence` (here; a field of the schema, ``Schema.sequences``), built on
  :class:`SequenceOptions`, which an identity column's options share
  (:class:`~orders_schema.declare.model.Identity`);
* identity: its name (one namespace with the schema's relations);
* sameness: attribute for attribute;
* changes: :class:`AddSequence`, :class:`DropSequence` and :class:`AlterSequence` (options or
  owner changed: ``ALTER SEQUENCE``, which keeps the sequence's current value);
* statements: ``CREATE SEQUENCE IF NOT EXISTS`` before the tables (a default calls ``nextval``),
  ``ALTER SEQUENCE ... OWNED BY`` once the tables exist, ``DROP SEQUENCE IF EXISTS`` at the end,
  once no default reads it; every statement re-runnable;
* stored form: ``pg_sequence`` with ``format_type`` and the owning column (``pg_depend``, deptype
  ``a``), as :class:`SequenceInfo`; an identity column's sequence (deptype ``i``) is the column's,
  compared with it (:mod:`orders_schema.kinds.table`). A ``serial`` column's sequence is an
  ordinary sequence owned by the column, read back as what it is.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from collections.abc import Sequence as Seq
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from orders_schema.declare.base import DeclarationError, Description, Name, Node, _described
from orders_schema.declare.quoting import qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared, uncommented
from orders_schema.live.difference import Difference, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

SequenceType = Literal["smallint", "integer", "bigint"]
_RANGE: dict[str, tuple[int, int]] = {
    "smallint": (-(2**15), 2**15 - 1), "integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1),
}


def _unset(value: Any) -> bool:
    return value is None


# -- declaration -------------------------------------------------------------------------------


class SequenceOptions(Node):
    """The options a sequence and an identity column share; unset ones are PostgreSQL's defaults
    (``INCREMENT 1``, ``MINVALUE 1`` or the type's minimum for a descending one, ``CACHE 1``)."""

    kind = "sequence"

    increment: int | None = Field(default=None, exclude_if=_unset)
    minvalue: int | None = Field(default=None, exclude_if=_unset)
    maxvalue: int | None = Field(default=None, exclude_if=_unset)
    start: int | None = Field(default=None, exclude_if=_unset)
    cache: int | None = Field(default=None, exclude_if=_unset)
    cycle: bool = Field(default=False, exclude_if=lambda v: v is False)

    def _check_options(self, what: str, data_type: str) -> None:
        low, high = _RANGE[data_type]
        for option in ("increment", "minvalue", "maxvalue", "start", "cache"):
            value = getattr(self, option)
            if value is not None and not low <= value <= high:
                raise DeclarationError(f"{what}: {option} {value} is out of range for {data_type}")
        if self.increment == 0:
            raise DeclarationError(f"{what}: increment must not be zero")
        if self.cache is not None and self.cache < 1:
            raise DeclarationError(f"{what}: cache must be at least 1")
        ascending = (self.increment or 1) > 0
        lowest = self.minvalue if self.minvalue is not None else (1 if ascending else low)
        highest = self.maxvalue if self.maxvalue is not None else (high if ascending else -1)
        if lowest >= highest:
            raise DeclarationError(f"{what}: minvalue {lowest} must be less than maxvalue {highest}")
        if self.start is not None and not lowest <= self.start <= highest:
            raise DeclarationError(f"{what}: start {self.start} is not between {lowest} and {highest}")


class Sequence(SequenceOptions):
    """``Sequence(name="order_no", start=1000, owned_by=("orders", "no"))``: a sequence of the schema.

    ``owned_by`` (a column of a table of the schema) drops the sequence with its column."""

    name: Name
    data_type: SequenceType = Field(default="bigint", exclude_if=lambda v: v == "bigint")
    owned_by: tuple[Name, Name] | None = Field(default=None, exclude_if=_unset)
    comment: Description | None = _described()
    """``COMMENT ON SEQUENCE`` (:mod:`orders_schema.kinds.comment`)."""

    @model_validator(mode="after")
    def _valid(self) -> Sequence:
        self._check_options(f"sequence {self.name}", self.data_type)
        return self


def options_sql(opts: SequenceOptions, *, alter: bool = False) -> list[str]:
    """The declared options as SQL clauses; ``alter`` states every option, the unset ones as their
    defaults (``NO MINVALUE``), so an ALTER brings back what a declaration no longer sets."""
    out: list[str] = []
    if opts.increment is not None or alter:
        out.append(f"INCREMENT BY {opts.increment if opts.increment is not None else 1}")
    if opts.minvalue is not None:
        out.append(f"MINVALUE {opts.minvalue}")
    elif alter:
        out.append("NO MINVALUE")
    if opts.maxvalue is not None:
        out.append(f"MAXVALUE {opts.maxvalue}")
    elif alter:
        out.append("NO MAXVALUE")
    if opts.start is not None:
        out.append(f"START WITH {opts.start}")
    elif alter:  # PostgreSQL's default start: the minimum ascending, the maximum descending
        ascending = (opts.increment or 1) > 0
        bound = opts.minvalue if ascending else opts.maxvalue
        out.append(f"START WITH {bound if bound is not None else (1 if ascending else -1)}")
    if opts.cache is not None or alter:
        out.append(f"CACHE {opts.cache if opts.cache is not None else 1}")
    if opts.cycle:
        out.append("CYCLE")
    elif alter:
        out.append("NO CYCLE")
    return out


# -- changes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddSequence(Change):
    sequence: Sequence

    def reverse(self) -> Change:
        return DropSequence(self.sequence)


@dataclass(frozen=True)
class DropSequence(Change):
    sequence: Sequence

    def reverse(self) -> Change:
        return AddSequence(self.sequence)


@dataclass(frozen=True)
class AlterSequence(Change):
    old: Sequence
    new: Sequence

    def reverse(self) -> Change:
        return AlterSequence(self.new, self.old)


# -- statements and their rendering ------------------------------------------------------------


@dataclass(frozen=True)
class CreateSequence(Statement):
    schema: str
    sequence: Sequence
    if_not_exists: bool = False


@dataclass(frozen=True)
class AlterSequenceStatement(Statement):
    """The options (all of them, unset ones as their defaults) and the type; the current value is kept."""

    schema: str
    sequence: Sequence


@dataclass(frozen=True)
class SequenceOwnedBy(Statement):
    schema: str
    name: str
    owned_by: tuple[str, str] | None


@dataclass(frozen=True)
class DropSequenceStatement(Statement):
    schema: str
    name: str


@renders(CreateSequence)
def create_sequence_sql(s: CreateSequence) -> str:
    seq = s.sequence
    head = f"CREATE SEQUENCE{' IF NOT EXISTS' if s.if_not_exists else ''} {qualified(s.schema, seq.name)}"
    parts = ([f"AS {seq.data_type}"] if seq.data_type != "bigint" else []) + options_sql(seq)
    return " ".join([head, *parts]) + ";"


@renders(AlterSequenceStatement)
def alter_sequence_sql(s: AlterSequenceStatement) -> str:
    seq = s.sequence
    return " ".join([f"ALTER SEQUENCE {qualified(s.schema, seq.name)} AS {seq.data_type}",
                     *options_sql(seq, alter=True)]) + ";"


@renders(SequenceOwnedBy)
def sequence_owned_by_sql(s: SequenceOwnedBy) -> str:
    owner = "NONE" if s.owned_by is None else qualified(s.schema, *s.owned_by)
    return f"ALTER SEQUENCE {qualified(s.schema, s.name)} OWNED BY {owner};"


@renders(DropSequenceStatement)
def drop_sequence_sql(s: DropSequenceStatement) -> str:
    return f"DROP SEQUENCE IF EXISTS {qualified(s.schema, s.name)};"


# -- stored form -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceInfo:
    name: str
    data_type: str
    """``format_type(seqtypid, NULL)``: ``smallint``, ``integer`` or ``bigint``."""
    start: int
    increment: int
    minvalue: int
    maxvalue: int
    cache: int
    cycle: bool
    owned_by: str | None
    """``table.column`` of the owning column (``OWNED BY``; a ``serial`` column's sequence), if any."""


QUERY = """
SELECT c.relname AS name, format_type(s.seqtypid, NULL) AS data_type, s.seqstart AS start,
       s.seqincrement AS increment, s.seqmin AS minvalue, s.seqmax AS maxvalue, s.seqcache AS cache,
       s.seqcycle AS cycle,
       (SELECT t.relname || '.' || a.attname FROM pg_depend d
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
          AND d.refclassid = 'pg_class'::regclass) AS owned_by
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'i'))
ORDER BY c.relname"""
"""Every sequence of the schema but an identity column's (deptype ``i``) and an extension's."""


def _text(seq: SequenceInfo) -> str:
    text = (f"AS {seq.data_type} INCREMENT BY {seq.increment} MINVALUE {seq.minvalue} MAXVALUE {seq.maxvalue} "
            f"START WITH {seq.start} CACHE {seq.cache}{' CYCLE' if seq.cycle else ' NO CYCLE'}")
    return text + (f" OWNED BY {seq.owned_by}" if seq.owned_by else "")


def declared_options(data_type: str, increment: int, minvalue: int, maxvalue: int, start: int, cache: int,
                     cycle: bool) -> dict[str, Any]:
    """Stored sequence options as declaration fields, leaving out PostgreSQL's defaults."""
    low, high = _RANGE[data_type]
    ascending = increment > 0
    default_min, default_max = (1, high) if ascending else (low, -1)
    out: dict[str, Any] = {}
    if increment != 1:
        out["increment"] = increment
    if minvalue != default_min:
        out["minvalue"] = minvalue
    if maxvalue != default_max:
        out["maxvalue"] = maxvalue
    if start != (minvalue if ascending else maxvalue):
        out["start"] = start
    if cache != 1:
        out["cache"] = cache
    if cycle:
        out["cycle"] = True
    return out


def sequence_of(info: SequenceInfo, owner: tuple[str, str] | None) -> Sequence:
    if info.data_type not in _RANGE:
        raise DeclarationError(f"sequence {info.name}: type {info.data_type} is not declarable")
    options = declared_options(info.data_type, info.increment, info.minvalue, info.maxvalue, info.start,
                               info.cache, info.cycle)
    return Sequence(name=info.name, data_type=info.data_type, owned_by=owner, **options)


# -- the kind ----------------------------------------------------------------------------------


class SequenceKind(Kind[Sequence, SequenceInfo]):
    """Rank 12: after the table kind, so in the ``last`` stage a sequence is dropped after the
    columns whose default read it."""

    name = "sequence"
    rank = 12
    catalog_field = "sequences"
    query = QUERY
    create_stage = "before_tables"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[Sequence]]:
        return {seq.name: Declared(None, seq) for seq in schema.sequences}

    def same(self, a: Sequence, b: Sequence) -> bool:
        return bool(uncommented(a) == uncommented(b))

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddSequence(b.obj))
            elif b is None and a is not None:
                changes.append(DropSequence(a.obj))
            elif a is not None and b is not None and not self.same(a.obj, b.obj):
                changes.append(AlterSequence(a.obj, b.obj))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[Sequence]) -> list[Statement]:
        return [CreateSequence(schema, item.obj)]

    def create_after_tables(self, schema: str, key: Hashable, item: Declared[Sequence]) -> list[Statement]:
        owner = item.obj.owned_by
        return [] if owner is None else [SequenceOwnedBy(schema, item.obj.name, owner)]

    def plan(self, ctx: PlanContext) -> Planned:
        """``early``: new sequences (a default may call them) and changed options; ``after``: the
        owners, once every column exists (before a column's drop, which then drops its sequence);
        ``last``: the dropped sequences, once no default reads them."""
        s = ctx.schema
        out = Planned()
        for add in ctx.of(AddSequence):
            out.early.append(CreateSequence(s, add.sequence, if_not_exists=True))
            if add.sequence.owned_by is not None:
                out.after.append(SequenceOwnedBy(s, add.sequence.name, add.sequence.owned_by))
        for alt in ctx.of(AlterSequence):
            if alt.old.model_copy(update={"owned_by": None}) != alt.new.model_copy(update={"owned_by": None}):
                out.early.append(AlterSequenceStatement(s, alt.new))
            if alt.old.owned_by != alt.new.owned_by:
                out.after.append(SequenceOwnedBy(s, alt.new.name, alt.new.owned_by))
        out.last += [DropSequenceStatement(s, drop.sequence.name) for drop in ctx.of(DropSequence)]
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[SequenceInfo, ...]:
        return tuple(SequenceInfo(**r) for r in rows)

    def declare(self, schema: m.Schema, stored: Seq[SequenceInfo]) -> Declaration:
        """Each sequence with the options that differ from PostgreSQL's defaults and its owner (a
        serial column's sequence too: with the column's ``nextval`` default, it is what the serial
        was); one owned by a column not declared is reported."""
        columns = {(t.name, c.name) for t in schema.tables for c in t.columns}
        sequences: list[Sequence] = []
        undeclared: list[Undeclared] = []
        for info in stored:
            owner = tuple(info.owned_by.split(".", 1)) if info.owned_by else None
            if owner is not None and owner not in columns:
                undeclared.append(Undeclared(self.name, info.name, f"owned by {info.owned_by}, which is not declared"))
                continue
            try:
                sequences.append(sequence_of(info, owner))
            except DeclarationError as exc:
                undeclared.append(Undeclared(self.name, info.name, str(exc)))
        return Declaration(schema.model_copy(update={"sequences": tuple(sequences)}), tuple(undeclared))

    def compare(self, schema: str, declared: Seq[SequenceInfo], live: Seq[SequenceInfo]) -> Iterator[Difference]:
        for name, d, x in pair({q.name: q for q in declared}, {q.name: q for q in live}):
            where = qualified(schema, name)
            if d is None or x is None:
                yield presence("sequence", where, _text(d) if d else None, _text(x) if x else None)
                continue
            for f in fields(SequenceInfo):
                a, b = getattr(d, f.name), getattr(x, f.name)
                if a != b:
                    yield Difference("sequence", where, f"{f.name.replace('_', ' ')} differs", str(a), str(b))


SEQUENCE = SequenceKind()

__all__ = [
    "SEQUENCE", "AddSequence", "AlterSequence", "AlterSequenceStatement", "CreateSequence", "DropSequence",
    "DropSequenceStatement", "Sequence", "SequenceInfo", "SequenceKind", "SequenceOptions", "SequenceOwnedBy",
    "options_sql",
]
