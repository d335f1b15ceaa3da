"""The declared schema: immutable objects, validated when built, with no SQL generation inside.

Every class is a frozen pydantic model (hashable, comparable, JSON-serialisable for snapshots).
SQL fragments are kept as declared text and parsed with sqlglot at construction, so a typo or a
reference to a column that does not exist fails where it is written, naming the object.

No declared text reaches SQL unchecked. Each string field is one of:

* a :data:`Name` (or :data:`QualifiedName`): PostgreSQL's name rules (not empty, no NUL or
  control character, at most 63 bytes; :func:`orders_schema.declare.quoting.identifier_problem`), and
  quoted by :func:`orders_schema.declare.quoting.ident` wherever it is rendered;
* a :data:`CommentText`: one line that cannot end its comment
  (:func:`orders_schema.declare.quoting.comment_problem`), rendered by :func:`orders_schema.declare.quoting.comment`;
* a SQL fragment (CHECK, DEFAULT, index key and predicate, trigger WHEN, view query, backfill,
  function argument and return type): validated by the rules of :mod:`orders_schema.declare.fragments`
  for the place it is rendered in;
* a value the renderer quotes (a function body: :func:`~orders_schema.declare.quoting.dollar_quote`;
  a setting's value: :func:`~orders_schema.declare.quoting.literal`).

No string field may hold a NUL character (PostgreSQL text cannot).

Rendering lives in :mod:`orders_schema.migrate.render`; comparison with a live database in
:mod:`orders_schema.live.inspect` and :mod:`orders_schema.live.compare`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from orders_schema.declare import fragments
from orders_schema.declare.base import (
    CommentText,
    DeclarationError,
    Description,
    Name,
    Node,
    QualifiedName,
    Row,
    ScalarValue,
    _described,
    _duplicates,
    _fragment,
    _name,
    _rows,
)
from orders_schema.declare.query import Query
from orders_schema.declare.quoting import identifier_problem, literal
from orders_schema.declare.sqltype import SqlType, coerce_type, sql_type
from orders_schema.kinds.composite import Attribute, CompositeType
from orders_schema.kinds.default_privilege import DefaultPrivilege
from orders_schema.kinds.domain import Domain, DomainCheck
from orders_schema.kinds.enum import EnumType
from orders_schema.kinds.extension import Extension
from orders_schema.kinds.grant import Grant, Revoke, function_named
from orders_schema.kinds.policy import Policy
from orders_schema.kinds.range import RangeType
from orders_schema.kinds.role import PUBLIC, Role
from orders_schema.kinds.row_security import RowSecurity
from orders_schema.kinds.sequence import Sequence, SequenceOptions
from orders_schema.live.catalog_text import split_top


def _opt(default: Any) -> Any:
    """An optional field, left out of snapshots while it has its default (released snapshots keep their bytes)."""
    return Field(default=default, exclude_if=lambda value: value == default)


# ---------------------------------------------------------------------------------------------
# Column types
# ---------------------------------------------------------------------------------------------

TypeName = str
"""A built-in type's canonical name or a user type's name (see :mod:`orders_schema.declare.sqltype`)."""


UUID = SqlType(name="uuid")
TEXT = SqlType(name="text")
SMALLINT = SqlType(name="smallint")
INTEGER = SqlType(name="integer")
BIGINT = SqlType(name="bigint")
BOOLEAN = SqlType(name="boolean")
TIMESTAMPTZ = SqlType(name="timestamptz")
TIMESTAMP = SqlType(name="timestamp")
DATE = SqlType(name="date")
JSONB = SqlType(name="jsonb")


def varchar(length: int) -> SqlType:
    return SqlType(name="varchar", args=(length,))


def decimal(precision: int, scale: int = 0) -> SqlType:
    return SqlType(name="decimal", args=(precision, scale))


def numeric(precision: int | None = None, scale: int = 0) -> SqlType:
    return SqlType(name="numeric", args=() if precision is None else (precision, scale))


def lit(value: str | int | Decimal | bool | None) -> str:
    """A SQL literal for use inside declared fragments: ``default=lit("it's")``."""
    return literal(value)


# ---------------------------------------------------------------------------------------------
# Table parts
# ---------------------------------------------------------------------------------------------


class Identity(SequenceOptions):
    """``GENERATED {ALWAYS | BY DEFAULT} AS IDENTITY (options)``: a column's own sequence."""

    kind = "identity"

    generated: Literal["ALWAYS", "BY DEFAULT"] = "BY DEFAULT"

    @property
    def clause(self) -> str:
        return f"GENERATED {self.generated} AS IDENTITY"


SERIAL_TYPES = {"smallint": "smallserial", "integer": "serial", "bigint": "bigserial"}
"""The integer types a ``serial`` column may have, and the pseudo-type it is declared with."""


class Column(Node):
    """One column. ``default`` is a SQL expression (``"NOW()"``, ``lit("pending")``, ``"0"``).

    ``section`` is an optional comment line rendered above the column in CREATE TABLE.
    ``identity`` makes it an identity column, ``generated`` a generated column
    (``GENERATED ALWAYS AS (expression) STORED``), ``serial`` a ``serial`` / ``bigserial`` /
    ``smallserial`` column (its type says which): a sequence ``<table>_<column>_seq`` owned by the
    column and a ``nextval`` default, which is how PostgreSQL stores it and reads it back.
    """

    kind = "column"

    name: Name
    type: SqlType
    nullable: bool = True
    default: str | None = None
    section: CommentText | None = None
    renamed_from: Name | None = None
    """Declares a rename: the migration renames this column instead of dropping and adding it."""
    comment: Description | None = _described()
    """``COMMENT ON COLUMN``: what the column means, stored in the catalogue (``col_description``)."""
    identity: Identity | None = _opt(None)
    generated: str | None = _opt(None)
    """The expression of a generated column (``GENERATED ALWAYS AS (...) STORED``)."""
    serial: bool = _opt(False)

    @property
    def integer_type(self) -> Literal["smallint", "integer", "bigint"] | None:
        """The column's type when it is smallint, integer or bigint (what identity and serial need)."""
        integers: dict[str, Literal["smallint", "integer", "bigint"]] = {
            "smallint": "smallint", "integer": "integer", "bigint": "bigint"}
        t = self.type
        return integers.get(t.name) if t.builtin and not t.array and t.in_schema is None else None

    def serial_sequence(self, table: str) -> str:
        """The sequence PostgreSQL creates for a serial column: ``<table>_<column>_seq``."""
        return f"{table}_{self.name}_seq"
    collation: Name | None = Field(default=None, exclude_if=lambda v: v is None)
    """``COLLATE "C"``: the column's collation when not its type's default (compared in stored form)."""

    _v_type = field_validator("type", mode="before")(coerce_type)

    @model_validator(mode="after")
    def _valid(self) -> Column:
        what = f"column {self.name}"
        if self.default is not None:
            _fragment(fragments.expression, self.default, f"default of column {self.name}")
        features = [f for f, on in (("default", self.default is not None), ("identity", self.identity),
                                    ("generated", self.generated is not None), ("serial", self.serial)) if on]
        if len(features) > 1:
            raise DeclarationError(f"{what}: {' and '.join(features)} exclude each other; declare one")
        if self.identity is not None or self.serial:
            if self.integer_type is None:
                raise DeclarationError(
                    f"{what}: {'identity' if self.identity else 'serial'} needs smallint, integer or bigint, "
                    f"not {self.type.name}"
                )
            if self.nullable:
                raise DeclarationError(
                    f"{what}: an {'identity' if self.identity else 'serial'} column is NOT NULL; declare nullable=False"
                )
        if self.identity is not None and self.integer_type is not None:
            self.identity._check_options(f"{what} identity", self.integer_type)
        if self.generated is not None:
            _fragment(fragments.expression, self.generated, f"{what} generated", immutable=True)
        return self


class Deferrable(Node):
    """``DEFERRABLE`` / ``INITIALLY DEFERRED`` of a UNIQUE, PRIMARY KEY, FOREIGN KEY or EXCLUDE constraint."""

    deferrable: bool = _opt(False)
    initially_deferred: bool = _opt(False)

    @model_validator(mode="after")
    def _deferral(self) -> Deferrable:
        if self.initially_deferred and not self.deferrable:
            name = getattr(self, "name", None) or ""
            raise DeclarationError(f"{self.kind} {name}: initially_deferred needs deferrable=True".replace("  ", " "))
        return self

    @property
    def deferral_sql(self) -> str:
        """`` DEFERRABLE INITIALLY DEFERRED``, `` DEFERRABLE`` or nothing."""
        return (" DEFERRABLE" if self.deferrable else "") + (" INITIALLY DEFERRED" if self.initially_deferred else "")


class PrimaryKey(Deferrable):
    kind = "primary key"

    columns: tuple[Name, ...]
    name: Name | None = None
    """Defaults to PostgreSQL's own ``<table>_pkey``."""


class Check(Node):
    """A named CHECK constraint.

    ``column`` makes it a column constraint (rendered on the column's line). ``accepts`` and
    ``rejects`` are example rows (column -> value) that the migration tester inserts: each
    accepted row must insert, each rejected row must fail with SQLSTATE 23514. IN-list checks
    need no examples: the tester enumerates every allowed value plus outsiders.
    """

    kind = "check"

    name: Name
    expression: str
    column: Name | None = None
    accepts: tuple[Row, ...] = ()
    rejects: tuple[Row, ...] = ()
    no_inherit: bool = _opt(False)
    """``NO INHERIT``: the check does not pass to tables that inherit this one."""
    comment: Description | None = _described()
    """``COMMENT ON CONSTRAINT`` (:mod:`orders_schema.kinds.comment`)."""

    _v_accepts = field_validator("accepts", "rejects", mode="before")(_rows)

    @classmethod
    def one_of(cls, name: str, column: str, values: Iterable[str], *, inline: bool = True) -> Check:
        """``column IN ('a', 'b', ...)`` with every value quoted by the one quoting helper
        (:func:`orders_schema.declare.fragments.one_of`)."""
        return cls(name=name, expression=fragments.one_of(column, values), column=column if inline else None)

    def allowed_values(self) -> tuple[str, tuple[str, ...]] | None:
        """For an IN-list check, the column and its allowed values."""
        return fragments.in_list(fragments.parse_expression(self.expression, self.name))

    @model_validator(mode="after")
    def _valid(self) -> Check:
        _fragment(fragments.expression, self.expression, f"check {self.name}")
        return self


FkAction = Literal["NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"]


class ForeignKey(Deferrable):
    kind = "foreign key"

    name: Name
    columns: tuple[Name, ...]
    ref_table: QualifiedName
    """A table of the same schema, or ``"schema.table"``."""
    ref_columns: tuple[Name, ...]
    on_delete: FkAction = "NO ACTION"
    on_update: FkAction = _opt("NO ACTION")
    match: Literal["SIMPLE", "FULL"] = _opt("SIMPLE")
    comment: Description | None = _described()
    """``COMMENT ON CONSTRAINT`` (:mod:`orders_schema.kinds.comment`)."""

    @model_validator(mode="after")
    def _valid(self) -> ForeignKey:
        if len(self.columns) != len(self.ref_columns) or not self.columns:
            raise DeclarationError(f"foreign key {self.name}: columns and ref_columns must pair up")
        return self


class Unique(Deferrable):
    kind = "unique"

    name: Name
    columns: tuple[Name, ...]
    nulls_distinct: bool = _opt(True)
    """False: ``NULLS NOT DISTINCT`` (PostgreSQL 15+), two rows with NULLs in the same columns collide."""
    comment: Description | None = _described()
    """``COMMENT ON CONSTRAINT`` (:mod:`orders_schema.kinds.comment`)."""

    @model_validator(mode="after")
    def _valid(self) -> Unique:
        if not self.columns:
            raise DeclarationError(f"unique {self.name}: needs at least one column")
        return self


_OPERATOR = re.compile(r"[+\-*/<>=~!@#%^&|`?]{1,63}")


class ExcludeElement(Node):
    """One element of an exclusion constraint: a column or expression, and the operator two rows
    must not both satisfy (``("room", "=")``, ``("tsrange(starts, ends)", "&&")``)."""

    kind = "exclusion element"

    expression: str
    operator: str

    @model_validator(mode="after")
    def _valid(self) -> ExcludeElement:
        _fragment(fragments.expression, self.expression, "exclusion element", immutable=True)
        if not _OPERATOR.fullmatch(self.operator) or "--" in self.operator or "/*" in self.operator:
            raise DeclarationError(f"exclusion element {self.expression!r}: {self.operator!r} is not an operator")
        return self

    @property
    def column(self) -> str | None:
        tree = fragments.parse_expression(self.expression, "exclusion element")
        return tree.name if isinstance(tree, fragments.exp.Column) and not tree.table else None


class Exclude(Deferrable):
    """``EXCLUDE USING gist (room WITH =, tsrange(starts, ends) WITH &&)``: no two rows may match on
    every element. A scalar ``=`` under gist needs the ``btree_gist`` extension."""

    kind = "exclusion"

    name: Name
    elements: tuple[ExcludeElement, ...]
    using: Literal["gist", "spgist", "btree", "hash"] = "gist"
    include: tuple[Name, ...] = ()
    where: str | None = None
    comment: Description | None = _described()
    """``COMMENT ON CONSTRAINT`` (:mod:`orders_schema.kinds.comment`)."""

    @field_validator("elements", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return tuple(ExcludeElement(expression=v[0], operator=v[1]) if isinstance(v, (list, tuple)) else v
                         for v in value)
        return value

    @model_validator(mode="after")
    def _valid(self) -> Exclude:
        if not self.elements:
            raise DeclarationError(f"exclusion {self.name}: needs at least one element")
        if self.where is not None:
            _fragment(fragments.expression, self.where, f"exclusion {self.name} WHERE", immutable=True)
        return self

    def referenced_columns(self) -> set[str]:
        cols: set[str] = set(self.include)
        for text in [e.expression for e in self.elements] + ([self.where] if self.where else []):
            cols |= fragments.referenced_columns(fragments.parse_expression(text, self.name))
        return cols


_INDEX_COLUMN = re.compile(
    r"^(?P<expr>.+?)(?:\s+(?P<dir>ASC|DESC))?(?:\s+NULLS\s+(?P<nulls>FIRST|LAST))?\s*$", re.IGNORECASE
)


_WORD = r"[A-Za-z_][A-Za-z0-9_$]*"
_OPCLASS_TAIL = re.compile(rf"(?P<rest>.+?)\s+(?P<opclass>{_WORD}(?:\.{_WORD})?)", re.DOTALL)
_COLLATE_TAIL = re.compile(
    rf'(?P<rest>.+?)\s+COLLATE\s+(?P<collation>"(?:[^"]|"")+"|{_WORD})', re.DOTALL | re.IGNORECASE
)


def _plain_expression(text: str) -> bool:
    """Does ``text`` parse as one expression that is not ``expr alias`` or ``expr COLLATE x``?"""
    try:
        tree = fragments.parse_expression(text, "index key")
    except fragments.FragmentError:
        return False
    return not isinstance(tree, (fragments.exp.Alias, fragments.exp.Collate))


def _key_parts(text: str) -> tuple[str, str | None, str | None]:
    """An index key's text -> (expression, collation, operator class): ``email text_pattern_ops``,
    ``name COLLATE "C"``; a trailing word is an operator class only when what precedes it is an
    expression on its own."""
    text = text.strip()
    if _plain_expression(text):
        return text, None, None
    opclass = None
    tail = _OPCLASS_TAIL.fullmatch(text)
    if tail and tail["opclass"].upper() != "COLLATE" and (
        _plain_expression(tail["rest"]) or _COLLATE_TAIL.fullmatch(tail["rest"])
    ):
        text, opclass = tail["rest"].strip(), tail["opclass"]
        opclass = ".".join(p.lower() for p in opclass.split("."))
    collation = None
    coll = _COLLATE_TAIL.fullmatch(text)
    if coll and _plain_expression(coll["rest"]):
        text, name = coll["rest"].strip(), coll["collation"]
        collation = name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
    return text, collation, opclass


class IndexColumn(Node):
    """A key of an index: a column name or a parenthesised expression, its order and NULLS place."""

    kind = "index key"

    expression: str
    descending: bool = False
    nulls: Literal["FIRST", "LAST"] | None = None
    collation: Name | None = _opt(None)
    """``COLLATE "C"``: the key's collation (quoted when rendered)."""
    opclass: QualifiedName | None = _opt(None)
    """The operator class, e.g. ``text_pattern_ops``, ``jsonb_path_ops`` (quoted when rendered)."""

    @classmethod
    def parse(cls, text: str) -> IndexColumn:
        """``"created_at DESC NULLS LAST"``, ``"lower(email) COLLATE \"C\" text_pattern_ops"`` -> IndexColumn."""
        m = _INDEX_COLUMN.match(text.strip())
        if not m:
            raise DeclarationError(f"index key {text!r} is empty")
        nulls = m.group("nulls")
        expression, collation, opclass = _key_parts(m.group("expr"))
        return cls(
            expression=expression,
            descending=(m.group("dir") or "").upper() == "DESC",
            nulls=nulls.upper() if nulls else None,
            collation=collation,
            opclass=opclass,
        )

    @model_validator(mode="after")
    def _valid(self) -> IndexColumn:
        if not _plain_expression(self.expression):
            _fragment(fragments.expression, self.expression, "index key")
            raise DeclarationError(
                f"index key {self.expression!r} is not one expression (an operator class or collation goes in "
                "opclass / collation, or after the expression: 'email text_pattern_ops')"
            )
        return self

    @property
    def column(self) -> str | None:
        """The column's declared name when the key is a plain column, None for an expression.

        A bare key names a column exactly as declared (``UPPER`` is the column ``UPPER``); a quoted
        key is unquoted. Either way the renderer quotes the name with the one helper.
        """
        tree = fragments.parse_expression(self.expression, "index key")
        return tree.name if isinstance(tree, fragments.exp.Column) and not tree.table else None


class Index(Node):
    """``Index(name="idx_orders_active", columns=("created_at DESC",), where="status <> 'x'")``.

    Without a name, the index gets the one PostgreSQL would choose (``orders_status_idx``), filled in
    by its table (:func:`orders_schema.kinds.index.default_index_name`)."""

    kind = "index"

    name: Name = ""
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    method: Literal["btree", "hash", "gin", "gist", "brin"] = "btree"
    where: str | None = None
    include: tuple[Name, ...] = ()
    nulls_distinct: bool = _opt(True)
    """False: ``NULLS NOT DISTINCT`` (a unique index, PostgreSQL 15+)."""
    comment: Description | None = _described()
    """``COMMENT ON INDEX`` (:mod:`orders_schema.kinds.comment`)."""

    @field_validator("columns", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return tuple(IndexColumn.parse(v) if isinstance(v, str) else v for v in value)
        return value

    @model_validator(mode="after")
    def _valid(self) -> Index:
        if not self.columns:
            raise DeclarationError(f"index {self.name}: needs at least one key")
        for key in self.columns:
            _fragment(fragments.expression, key.expression, f"index {self.name} key", immutable=True)
        if self.where is not None:
            _fragment(fragments.expression, self.where, f"index {self.name} WHERE", immutable=True)
        if not self.nulls_distinct and not self.unique:
            raise DeclarationError(f"index {self.name}: NULLS NOT DISTINCT needs a unique index")
        return self

    def fragments(self) -> tuple[str, ...]:
        """The SQL text of its keys that are expressions and of its predicate."""
        keys = tuple(k.expression for k in self.columns if k.column is None)
        return keys + ((self.where,) if self.where else ())

    def referenced_columns(self) -> set[str]:
        cols: set[str] = set(self.include)
        for key in self.columns:
            if key.column is not None:
                cols.add(key.column)
            else:
                cols |= fragments.referenced_columns(fragments.parse_expression(key.expression, self.name))
        if self.where:
            cols |= fragments.referenced_columns(fragments.parse_expression(self.where, self.name))
        return cols


TriggerEvent = Literal["INSERT", "UPDATE", "DELETE", "TRUNCATE"]


class Trigger(Node):
    """``Trigger(name=..., timing="BEFORE", events=("UPDATE",), function="touch_updated_at")``.

    ``timing="INSTEAD OF"`` is for a view's triggers (``View.triggers``): row-level, on INSERT,
    UPDATE or DELETE, without WHEN or UPDATE OF; they make a view writable."""

    kind = "trigger"

    name: Name
    timing: Literal["BEFORE", "AFTER", "INSTEAD OF"]
    events: tuple[TriggerEvent, ...]
    function: Name
    """A function declared in the same schema."""
    update_of: tuple[Name, ...] = ()
    for_each: Literal["ROW", "STATEMENT"] = "ROW"
    when: str | None = None
    referencing_old: Name | None = None
    """Name of the OLD transition table (statement-level AFTER triggers)."""
    referencing_new: Name | None = None
    """Name of the NEW transition table (statement-level AFTER triggers)."""
    comment: Description | None = _described()
    """``COMMENT ON TRIGGER`` (:mod:`orders_schema.kinds.comment`)."""
    @model_validator(mode="after")
    def _valid(self) -> Trigger:
        if not self.events or len(set(self.events)) != len(self.events):
            raise DeclarationError(f"trigger {self.name}: events must be listed once each")
        if self.timing == "INSTEAD OF" and (
                self.for_each != "ROW" or self.when is not None or self.update_of or "TRUNCATE" in self.events):
            raise DeclarationError(
                f"trigger {self.name}: an INSTEAD OF trigger is FOR EACH ROW on INSERT, UPDATE or DELETE, "
                "without WHEN or UPDATE OF"
            )
        if self.update_of and "UPDATE" not in self.events:
            raise DeclarationError(f"trigger {self.name}: update_of needs the UPDATE event")
        if self.when is not None:
            tree = _fragment(fragments.expression, self.when, f"trigger {self.name} WHEN")
            if self.for_each == "STATEMENT":
                raise DeclarationError(f"trigger {self.name}: WHEN needs FOR EACH ROW")
            columns = tree.find_all(fragments.exp.Column)
            bare = sorted({c.sql() for c in columns if c.table.lower() not in ("old", "new")})
            if bare:
                raise DeclarationError(
                    f"trigger {self.name} WHEN: {', '.join(bare)} must name a column as OLD.column or NEW.column"
                )
            rows = {c.table.lower() for c in tree.find_all(fragments.exp.Column) if c.table}
            if "old" in rows and "INSERT" in self.events:
                raise DeclarationError(f"trigger {self.name}: WHEN reads OLD, which an INSERT does not have")
            if "new" in rows and "DELETE" in self.events:
                raise DeclarationError(f"trigger {self.name}: WHEN reads NEW, which a DELETE does not have")
        if self.referencing_old is not None and self.referencing_old == self.referencing_new:
            raise DeclarationError(f"trigger {self.name}: the OLD and NEW transition tables need different names")
        if self.referencing_old or self.referencing_new:
            if self.timing != "AFTER" or len(self.events) != 1 or self.update_of:
                raise DeclarationError(
                    f"trigger {self.name}: transition tables need an AFTER trigger on one event, without UPDATE OF"
                )
            if self.referencing_old and self.events[0] == "INSERT":
                raise DeclarationError(f"trigger {self.name}: INSERT has no OLD transition table")
            if self.referencing_new and self.events[0] == "DELETE":
                raise DeclarationError(f"trigger {self.name}: DELETE has no NEW transition table")
        return self


_BOUND = re.compile(
    r"(?P<default>DEFAULT)|FOR\s+VALUES\s+(?:FROM\s*(?P<from>\(.*\))\s*TO\s*(?P<to>\(.*\))"
    r"|IN\s*(?P<in>\(.*\))|WITH\s*\(\s*MODULUS\s+(?P<modulus>\d+)\s*,\s*REMAINDER\s+(?P<remainder>\d+)\s*\))",
    re.IGNORECASE | re.DOTALL)
_PARTITION_BY = re.compile(r"(?P<method>RANGE|LIST|HASH)\s*\((?P<keys>.*)\)", re.IGNORECASE | re.DOTALL)


def _bound_values(text: str, what: str) -> None:
    """``(v, ...)`` of a partition bound: each value a SQL expression (``MINVALUE``/``MAXVALUE`` too)."""
    inner = text.strip()[1:-1]
    if not inner.strip():
        raise DeclarationError(f"{what}: empty value list {text}")
    for value in split_top(inner):
        if value.strip().upper() in ("MINVALUE", "MAXVALUE"):
            continue
        _fragment(fragments.parse_expression, value, what)


class Partition(Node):
    """One declared partition of a partitioned table (``Table.partition_by``), created
    ``PARTITION OF`` its table: ``bound`` is what follows the partition's name, as PostgreSQL's
    ``pg_get_expr(relpartbound)`` prints it: ``FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')``
    (RANGE), ``FOR VALUES IN ('a', 'b')`` (LIST), ``FOR VALUES WITH (modulus 4, remainder 0)``
    (HASH) or ``DEFAULT`` (the rows no other partition takes; RANGE and LIST only). Its columns,
    constraints, indexes and row triggers are its table's."""

    kind = "partition"

    name: Name
    bound: str

    @property
    def is_default(self) -> bool:
        return self.bound.strip().upper() == "DEFAULT"

    def method(self) -> str:
        """The partitioning method the bound is for (``RANGE``, ``LIST``, ``HASH``), ``""`` for DEFAULT."""
        match = _BOUND.fullmatch(self.bound.strip())
        if match is None or match["default"]:
            return ""
        return "RANGE" if match["from"] else "LIST" if match["in"] else "HASH"

    def bound_values(self) -> dict[str, tuple[str, ...]]:
        """The bound's value lists by clause, each value's SQL text as written: ``{"from": (...),
        "to": (...)}`` (RANGE, ``MINVALUE``/``MAXVALUE`` included), ``{"in": (...)}`` (LIST), ``{}``
        for HASH and DEFAULT."""
        match = _BOUND.fullmatch(self.bound.strip())
        if match is None:
            return {}
        return {group: tuple(v.strip() for v in split_top(match[group].strip()[1:-1]))
                for group in ("from", "to", "in") if match[group] is not None}

    @model_validator(mode="after")
    def _valid(self) -> Partition:
        what = f"partition {self.name}: bound {self.bound!r}"
        match = _BOUND.fullmatch(self.bound.strip())
        if match is None:
            raise DeclarationError(f"{what} does not parse: expected FOR VALUES FROM (...) TO (...), "
                                   "FOR VALUES IN (...), FOR VALUES WITH (MODULUS m, REMAINDER r) or DEFAULT")
        for group in ("from", "to", "in"):
            if match[group] is not None:
                _bound_values(match[group], what)
        if match["modulus"] is not None and not 0 <= int(match["remainder"]) < int(match["modulus"]):
            raise DeclarationError(f"{what}: the remainder must be at least 0 and less than the modulus")
        return self


class Table(Node):
    kind = "table"

    name: Name
    columns: tuple[Column, ...]
    primary_key: PrimaryKey | None = None
    checks: tuple[Check, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    uniques: tuple[Unique, ...] = ()
    excludes: tuple[Exclude, ...] = _opt(())
    """Exclusion constraints (``EXCLUDE USING gist (...)``)."""
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    renamed_from: Name | None = None
    """Declares a rename: the migration renames this table instead of dropping and adding it."""
    comment: Description | None = _described()
    """``COMMENT ON TABLE``: what the table holds, stored in the catalogue (``obj_description``)."""
    populate: str | None = None
    """One INSERT into this table, run once when a migration adds the table to an existing database
    (e.g. a backfill of a summary table); it runs after the table's triggers on other tables exist,
    in the same transaction."""
    row_security: RowSecurity = Field(default="disabled", exclude_if=lambda value: value == "disabled")
    """Row-level security: ``enabled`` binds every role but the owner, ``forced`` the owner too
    (:mod:`orders_schema.kinds.row_security`)."""
    policies: tuple[Policy, ...] = Field(default=(), exclude_if=lambda value: not value)
    """Row-security policies (:mod:`orders_schema.kinds.policy`); they apply while row security is on."""
    owner: Name | None = Field(default=None, exclude_if=lambda value: value is None)
    """A role of ``Schema.roles`` that owns the table (:mod:`orders_schema.kinds.owner`); None: the
    schema's owner, the role applying the migrations."""
    partition_by: str | None = _opt(None)
    """``RANGE (at)``, ``LIST (lower(region))``, ``HASH (id)``: a partitioned table, whose rows live in
    its ``partitions`` (each key a column or an expression). Its primary key and unique constraints
    must include every partition key column."""
    partitions: tuple[Partition, ...] = _opt(())
    """The partitions of a partitioned table (:class:`Partition`), each its own table in the catalogue."""
    unlogged: bool = _opt(False)
    """``CREATE UNLOGGED TABLE``: not written to the WAL (faster writes; emptied after a crash, not
    replicated). Changing it later rewrites the table."""
    inherits: tuple[QualifiedName, ...] = _opt(())
    """``INHERITS (parent, ...)``: the parents' columns come first (declare only the table's own);
    a parent of this schema must be declared before the table."""

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def pkey_name(self) -> str:
        return (self.primary_key.name if self.primary_key else None) or f"{self.name}_pkey"

    def _name_indexes(self) -> None:
        """Give each unnamed index the name PostgreSQL chooses, in declaration order."""
        from orders_schema.kinds.index import default_index_name

        taken = {self.name, *self.constraint_names(), *(i.name for i in self.indexes if i.name)}
        named = []
        for index in self.indexes:
            if not index.name:
                index = index.model_copy(update={"name": default_index_name(self.name, index, taken)})
                taken.add(index.name)
            named.append(index)
        object.__setattr__(self, "indexes", tuple(named))  # the model is frozen; this is its own validation

    def constraint_names(self) -> list[str]:
        names = [c.name for c in self.checks] + [f.name for f in self.foreign_keys] + [u.name for u in self.uniques]
        names += [x.name for x in self.excludes]
        return [self.pkey_name, *names] if self.primary_key else names

    @model_validator(mode="after")
    def _valid(self) -> Table:
        what = f"table {self.name}"
        if not self.columns and not self.inherits:
            raise DeclarationError(f"{what}: needs at least one column (or a parent it inherits them from)")
        if any(not index.name for index in self.indexes):
            self._name_indexes()
        if dup := _duplicates(self.column_names):
            raise DeclarationError(f"{what}: duplicate column names {dup}")
        if dup := _duplicates(self.constraint_names()):
            raise DeclarationError(f"{what}: duplicate constraint names {dup}")
        if dup := _duplicates(t.name for t in self.triggers):
            raise DeclarationError(f"{what}: duplicate trigger names {dup}")
        known = set(self.column_names)

        def need(columns: Iterable[str], owner: str) -> None:
            missing = sorted(set(columns) - known)
            if missing:
                raise DeclarationError(
                    f"{owner} on table {self.name}: unknown column(s) {missing}; "
                    f"the table has {sorted(known)}"
                )

        if self.primary_key:
            need(self.primary_key.columns, f"primary key {self.pkey_name}")
            if (problem := identifier_problem(self.pkey_name)) is not None:
                raise DeclarationError(f"{what}: primary key name {self.pkey_name!r} {problem}")
            if not self.primary_key.columns:
                raise DeclarationError(f"{what}: primary key needs columns")
        if self.populate is not None:
            target = _fragment(fragments.insert, self.populate, f"{what}: populate").this
            target = target.this if isinstance(target, fragments.exp.Schema) else target
            if not isinstance(target, fragments.exp.Table) or target.name != self.name:
                raise DeclarationError(f"{what}: populate must INSERT INTO the table itself")
        for check in self.checks:
            tree = _fragment(fragments.parse_expression, check.expression, f"check {check.name}")
            need(fragments.referenced_columns(tree), f"check {check.name}")
            if check.column is not None:
                need([check.column], f"check {check.name}")
            for row in (*check.accepts, *check.rejects):
                need([k for k, _ in row], f"check {check.name} example row")
        for fk in self.foreign_keys:
            need(fk.columns, f"foreign key {fk.name}")
        for uq in self.uniques:
            need(uq.columns, f"unique {uq.name}")
        for ex in self.excludes:
            need(ex.referenced_columns(), f"exclusion {ex.name}")
        for col in self.columns:
            if col.generated is not None:
                tree = fragments.parse_expression(col.generated, col.name)
                need(fragments.referenced_columns(tree), f"column {col.name} (generated)")
                gen = sorted(fragments.referenced_columns(tree) & {c.name for c in self.columns if c.generated})
                if gen:
                    raise DeclarationError(
                        f"column {col.name} on table {self.name}: its generation expression reads generated "
                        f"column(s) {gen}, which PostgreSQL refuses"
                    )
            if col.serial:
                _name(col.serial_sequence(self.name), f"serial column {col.name} on table {self.name}: sequence")
        for index in self.indexes:
            need(index.referenced_columns(), f"index {index.name}")
        for trigger in self.triggers:
            if trigger.timing == "INSTEAD OF":
                raise DeclarationError(
                    f"trigger {trigger.name} on table {self.name}: INSTEAD OF triggers are for views "
                    "(declare it in View.triggers); a table's trigger is BEFORE or AFTER"
                )
            need(trigger.update_of, f"trigger {trigger.name}")
            if trigger.when is not None:
                tree = fragments.parse_expression(trigger.when, trigger.name)
                need(fragments.referenced_columns(tree), f"trigger {trigger.name} WHEN")
        self._check_partitions(need)
        return self

    def partition_keys(self) -> tuple[str, tuple[str, ...]] | None:
        """``partition_by`` taken apart: the method (upper case) and each key's text."""
        if self.partition_by is None:
            return None
        match = _PARTITION_BY.fullmatch(self.partition_by.strip())
        if match is None:
            return None
        return match["method"].upper(), tuple(k.strip() for k in split_top(match["keys"]))

    def _check_partitions(self, need: Any) -> None:
        what = f"table {self.name}"
        if self.partitions and self.partition_by is None:
            raise DeclarationError(f"{what}: has partitions {[p.name for p in self.partitions]} but is not "
                                   "partitioned (declare partition_by)")
        if self.partition_by is None:
            return
        keys = self.partition_keys()
        if keys is None or not keys[1] or not all(keys[1]):
            raise DeclarationError(f"{what}: partition_by {self.partition_by!r} does not parse: expected "
                                   "RANGE (key, ...), LIST (key) or HASH (key, ...)")
        method, exprs = keys
        columns: set[str] = set()
        plain = True
        for key in exprs:
            tree = _fragment(fragments.parse_expression, key, f"{what}: partition key")
            used = fragments.referenced_columns(tree)
            need(used, f"partition key {key!r}")
            columns |= used
            plain = plain and isinstance(tree, fragments.exp.Column)
        if method == "LIST" and len(exprs) > 1:
            raise DeclarationError(f"{what}: LIST partitioning takes one key, not {len(exprs)}")
        if self.unlogged:
            raise DeclarationError(f"{what}: a partitioned table cannot be unlogged (its partitions may be)")
        if self.inherits:
            raise DeclarationError(f"{what}: a partitioned table cannot inherit")
        uniques = [(f"primary key {self.pkey_name}", self.primary_key.columns)] if self.primary_key else []
        uniques += [(f"unique {u.name}", u.columns) for u in self.uniques]
        uniques += [(f"unique index {i.name}", tuple(k.column or "" for k in i.columns)) for i in self.indexes
                    if i.unique]
        for name, cols in uniques:
            if not plain:
                raise DeclarationError(f"{what}: {name}: PostgreSQL allows no primary key or unique constraint "
                                       f"on a table partitioned by an expression ({self.partition_by})")
            if missing := sorted(columns - set(cols)):
                raise DeclarationError(f"{what}: {name} must include the partition key column(s) {missing} "
                                       f"(partition_by {self.partition_by})")
        if dup := _duplicates(p.name for p in self.partitions):
            raise DeclarationError(f"{what}: duplicate partition names {dup}")
        if sum(p.is_default for p in self.partitions) > 1:
            raise DeclarationError(f"{what}: more than one DEFAULT partition")
        for p in self.partitions:
            if p.is_default and method == "HASH":
                raise DeclarationError(f"{what}: partition {p.name}: a HASH-partitioned table has no DEFAULT partition")
            if not p.is_default and p.method() != method:
                raise DeclarationError(f"{what}: partition {p.name}: bound {p.bound!r} is not a {method} bound "
                                       f"(partition_by {self.partition_by})")


_NOT_ON_PROCEDURES: tuple[tuple[str, str, object], ...] = (
    ("returns", "return type", "trigger"), ("volatility", "volatility", "VOLATILE"), ("strict", "STRICT", False),
    ("leakproof", "LEAKPROOF", False),
    ("parallel", "PARALLEL", "UNSAFE"), ("cost", "COST", None),
)


class Function(Node):
    """A function whose body is kept verbatim (PostgreSQL stores ``prosrc`` as written).

    ``settings`` are ``SET`` clauses, e.g. ``(("search_path", "pg_catalog, walltrack"),)``.
    """

    kind = "function"

    name: Name
    body: str
    returns: str = "trigger"
    language: Literal["plpgsql", "sql"] = "plpgsql"
    arguments: tuple[str, ...] = ()
    volatility: Literal["VOLATILE", "STABLE", "IMMUTABLE"] = "VOLATILE"
    security_definer: bool = False
    settings: tuple[tuple[str, str], ...] = ()
    strict: bool = Field(default=False, exclude_if=lambda v: v is False)
    """``STRICT``: returns NULL, without running, when an argument is NULL."""
    leakproof: bool = Field(default=False, exclude_if=lambda v: v is False)
    parallel: Literal["UNSAFE", "RESTRICTED", "SAFE"] = Field(default="UNSAFE", exclude_if=lambda v: v == "UNSAFE")
    cost: int | None = Field(default=None, ge=0, exclude_if=lambda v: v is None)
    """The planner's estimate in units of cpu_operator_cost; None: PostgreSQL's default (100)."""
    procedure: bool = Field(default=False, exclude_if=lambda v: v is False)
    """``CREATE PROCEDURE`` (run by ``CALL``): no return type, volatility, STRICT, LEAKPROOF, PARALLEL
    or COST; SECURITY DEFINER (with a pinned search_path) and SET are allowed."""
    comment: Description | None = _described()
    """``COMMENT ON FUNCTION`` / ``PROCEDURE`` (by its signature) (:mod:`orders_schema.kinds.comment`)."""

    @property
    def signature(self) -> str:
        """Its identity, as PostgreSQL's: ``name(type, ...)`` of its input arguments (overloads
        are distinct functions)."""
        return f"{self.name}({', '.join(fragments.identity_types(self.arguments))})"

    @model_validator(mode="after")
    def _valid(self) -> Function:
        what = f"{'procedure' if self.procedure else 'function'} {self.name}"
        if not self.body.strip():
            raise DeclarationError(f"{what}: the body is empty")
        for argument in self.arguments:
            _fragment(fragments.argument, argument, f"{what}: argument")
        if self.procedure:
            refused = [label for attr, label, default in _NOT_ON_PROCEDURES if getattr(self, attr) != default]
            if refused:
                raise DeclarationError(
                    f"{what}: a procedure has no {', '.join(refused)} (only functions do); "
                    "drop them, or declare a function"
                )
        else:
            _fragment(fragments.return_type, self.returns, f"{what}: return type")
        for key, _ in self.settings:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?", key):
                raise DeclarationError(f"{what}: {key!r} is not a setting name")
        if self.security_definer and "search_path" not in {key for key, _ in self.settings}:
            raise DeclarationError(
                f"{what}: SECURITY DEFINER runs with its owner's rights, so it must pin search_path "
                "(settings=((\"search_path\", \"pg_catalog, pg_temp\"),)); otherwise a caller's objects can "
                "shadow the ones it means"
            )
        return self


class View(Node):
    """A view; ``materialized`` stores its rows (filled when created, then by REFRESH MATERIALIZED
    VIEW) and may carry ``indexes``; ``security_invoker`` (PostgreSQL 15+) checks the tables'
    privileges and row-level security as the querying role, not the view's owner."""

    kind = "view"

    name: Name
    query: str
    materialized: bool = Field(default=False, exclude_if=lambda v: v is False)
    security_invoker: bool = Field(default=False, exclude_if=lambda v: v is False)
    indexes: tuple[Index, ...] = Field(default=(), exclude_if=lambda v: v == ())
    triggers: tuple[Trigger, ...] = Field(default=(), exclude_if=lambda v: v == ())
    """``INSTEAD OF`` triggers (:mod:`orders_schema.kinds.trigger`), created with the view and again
    whenever a migration re-creates it."""
    comment: Description | None = _described()
    """``COMMENT ON VIEW`` / ``MATERIALIZED VIEW``, set again whenever a migration re-creates the view."""
    column_comments: tuple[tuple[Name, Description], ...] = _opt(())
    """``COMMENT ON COLUMN`` of the view's columns: ``(("total", "Sum of the order's fills"),)``."""

    @model_validator(mode="after")
    def _valid(self) -> View:
        _fragment(fragments.query, self.query, f"view {self.name}")
        if self.indexes and not self.materialized:
            raise DeclarationError(f"view {self.name}: only a materialized view has indexes")
        if self.security_invoker and self.materialized:
            raise DeclarationError(f"view {self.name}: security_invoker is for views, not materialized views")
        if dup := _duplicates(i.name for i in self.indexes):
            raise DeclarationError(f"view {self.name}: duplicate index names {dup}")
        if self.triggers and self.materialized:
            raise DeclarationError(f"view {self.name}: a materialized view has no triggers")
        for trigger in self.triggers:
            if trigger.timing != "INSTEAD OF":
                raise DeclarationError(
                    f"trigger {trigger.name} on view {self.name}: a view's triggers are INSTEAD OF "
                    f"(not {trigger.timing})"
                )
        if dup := _duplicates(t.name for t in self.triggers):
            raise DeclarationError(f"view {self.name}: duplicate trigger names {dup}")
        if dup := _duplicates(c for c, _ in self.column_comments):
            raise DeclarationError(f"view {self.name}: duplicate column comments {dup}")
        columns = fragments.output_columns(self.query) if self.column_comments else None
        if columns is not None and (missing := sorted({c for c, _ in self.column_comments} - set(columns))):
            raise DeclarationError(
                f"view {self.name}: column_comments name {missing}, which the view does not have "
                f"(its columns: {list(columns)})"
            )
        return self


def _check_trigger_function(trigger: Trigger, owner: str, functions: set[str], procedures: set[str]) -> None:
    """A trigger's function is declared in its schema and is a function, not a procedure."""
    if trigger.function not in functions:
        raise DeclarationError(f"trigger {trigger.name} on {owner}: unknown function {trigger.function!r}")
    if trigger.function in procedures:
        raise DeclarationError(
            f"trigger {trigger.name} on {owner}: {trigger.function} is a procedure, not a trigger function"
        )


class Schema(Node):
    """One PostgreSQL schema: its tables (with their indexes and triggers), functions and views,
    and what they use: extensions, enum / domain / composite types, other schemas the project owns.

    ``owned=False`` (and always for ``public``): the schema exists before the project and is used,
    never created or dropped. A column type naming one of the schema's own types unqualified is
    qualified with the schema's name.
    """

    kind = "schema"

    name: Name
    owned: bool = Field(default=True, exclude_if=lambda v: v is True)
    schemas: tuple[Name, ...] = Field(default=(), exclude_if=lambda v: not v)
    """Other schemas this project creates (e.g. one for extensions); removing one drops it (a hazard)."""
    extensions: tuple[Extension, ...] = Field(default=(), exclude_if=lambda v: not v)
    enums: tuple[EnumType, ...] = Field(default=(), exclude_if=lambda v: not v)
    domains: tuple[Domain, ...] = Field(default=(), exclude_if=lambda v: not v)
    composites: tuple[CompositeType, ...] = Field(default=(), exclude_if=lambda v: not v)
    ranges: tuple[RangeType, ...] = Field(default=(), exclude_if=lambda v: not v)
    """Range types (:mod:`orders_schema.kinds.range`)."""
    tables: tuple[Table, ...] = ()
    functions: tuple[Function, ...] = ()
    views: tuple[View, ...] = ()
    sequences: tuple[Sequence, ...] = _opt(())
    external_tables: tuple[QualifiedName, ...] = Field(
        default=(), description="tables outside this schema views may read"
    )
    roles: tuple[Role, ...] = Field(default=(), exclude_if=lambda value: not value)
    """Roles the privileges and policies name, created NOLOGIN when missing (:mod:`orders_schema.kinds.role`)."""
    grants: tuple[Grant, ...] = Field(default=(), exclude_if=lambda value: not value)
    """Privileges on the schema and its objects (:mod:`orders_schema.kinds.grant`)."""
    revokes: tuple[Revoke, ...] = Field(default=(), exclude_if=lambda value: not value)
    """Default privileges of PUBLIC taken away (EXECUTE on a function)."""
    default_privileges: tuple[DefaultPrivilege, ...] = Field(default=(), exclude_if=lambda value: not value)
    """Privileges objects created later get (:mod:`orders_schema.kinds.default_privilege`)."""
    comment: Description | None = _described()
    """``COMMENT ON SCHEMA`` (:mod:`orders_schema.kinds.comment`)."""

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    def function(self, name: str) -> Function:
        for fn in self.functions:
            if fn.name == name:
                return fn
        raise KeyError(name)

    def view(self, name: str) -> View:
        for view in self.views:
            if view.name == name:
                return view
        raise KeyError(name)

    def indexes(self) -> Iterator[tuple[Table, Index]]:
        for table in self.tables:
            for index in table.indexes:
                yield table, index

    def triggers(self) -> Iterator[tuple[Table, Trigger]]:
        for table in self.tables:
            for trigger in table.triggers:
                yield table, trigger

    def owner_of(self, obj: Index | Trigger) -> Table:
        for table in self.tables:
            if obj in table.indexes or obj in table.triggers:
                return table
        raise KeyError(getattr(obj, "name", obj))

    @model_validator(mode="after")
    def _valid(self) -> Schema:
        what = f"schema {self.name}"
        # Tables, views, indexes and the indexes behind PRIMARY KEY / UNIQUE share one namespace.
        relations = [t.name for t in self.tables] + [v.name for v in self.views]
        relations += [p.name for t in self.tables for p in t.partitions]
        relations += [i.name for _, i in self.indexes()] + [i.name for v in self.views for i in v.indexes]
        relations += [t.pkey_name for t in self.tables if t.primary_key]
        relations += [u.name for t in self.tables for u in t.uniques]
        relations += [x.name for t in self.tables for x in t.excludes]
        relations += [q.name for q in self.sequences]
        relations += [c.serial_sequence(t.name) for t in self.tables for c in t.columns if c.serial]
        if dup := _duplicates(relations):
            raise DeclarationError(
                f"{what}: duplicate relation names {dup} (tables, views and indexes share one namespace)"
            )
        if dup := _duplicates(f.signature for f in self.functions):
            raise DeclarationError(f"{what}: duplicate functions {dup} (same name and argument types)")
        types = [e.name for e in self.enums] + [d.name for d in self.domains] + [c.name for c in self.composites]
        types += [r.name for r in self.ranges]
        if dup := _duplicates(types + [t.name for t in self.tables] + [v.name for v in self.views]):
            raise DeclarationError(
                f"{what}: duplicate type names {dup} (enums, domains, composite, range types, and the row types "
                "of tables and views share one namespace)"
            )
        if dup := _duplicates(e.name for e in self.extensions):
            raise DeclarationError(f"{what}: duplicate extensions {dup}")
        if self.name in self.schemas:
            raise DeclarationError(f"{what}: schemas lists the declared schema itself")
        if self.name == "public" and self.comment is not None:
            raise DeclarationError(f"{what}: public's comment is the server's; comment the schema's objects instead")
        self._qualify_types(set(types))
        for r in self.ranges:
            if not r.subtype.builtin and r.subtype.in_schema in (None, self.name) and r.subtype.name not in types:
                raise DeclarationError(
                    f"range type {r.name}: subtype {r.subtype.name!r} is neither a built-in type nor a type of "
                    f"schema {self.name} (qualify a type of another schema: 'ext.citext')"
                )
        tables = {t.name: t for t in self.tables}
        functions = {f.name for f in self.functions}
        procedures = {f.name for f in self.functions if f.procedure} - {f.name for f in self.functions
                                                                         if not f.procedure}
        seen: set[str] = set()
        for table in self.tables:
            for parent in table.inherits:
                schema, _, name = parent.rpartition(".")
                if schema in ("", self.name) and name not in seen:
                    where = "is declared after it" if name in tables else "is not a table of this schema"
                    raise DeclarationError(f"table {table.name}: inherits {parent!r}, which {where} (declare the "
                                           "parent first)")
                if schema in ("", self.name) and tables[name].partition_by is not None:
                    raise DeclarationError(f"table {table.name}: inherits {parent!r}, a partitioned table (declare "
                                           "it as one of its partitions instead)")
            seen.add(table.name)
            for fk in table.foreign_keys:
                schema, _, name = fk.ref_table.rpartition(".")
                if schema in ("", self.name):
                    if name not in tables:
                        raise DeclarationError(f"foreign key {fk.name} on table {table.name}: unknown table {name!r}")
                    missing = sorted(set(fk.ref_columns) - set(tables[name].column_names))
                    if missing:
                        raise DeclarationError(
                            f"foreign key {fk.name} on table {table.name}: {name} has no column(s) {missing}"
                        )
            for trigger in table.triggers:
                _check_trigger_function(trigger, f"table {table.name}", functions, procedures)
            if table.populate is not None:
                target = fragments.insert(table.populate, table.name).this
                target = target.this if isinstance(target, fragments.exp.Schema) else target
                if target.db not in ("", self.name):
                    raise DeclarationError(
                        f"table {table.name}: populate must INSERT INTO {self.name}.{table.name}, "
                        f"not {target.db}.{table.name}"
                    )
            for index in table.indexes:
                self._check_index_calls(table, index)
        for view in self.views:
            self._check_view(view, tables)
            for trigger in view.triggers:
                _check_trigger_function(trigger, f"view {view.name}", functions, procedures)
        for seq in self.sequences:
            if seq.owned_by is not None:
                table_name, column = seq.owned_by
                if table_name not in tables or column not in tables[table_name].column_names:
                    raise DeclarationError(
                        f"sequence {seq.name}: owned_by names {table_name}.{column}, which is not a column of "
                        f"schema {self.name}"
                    )
        self._check_access(tables)
        return self

    def _check_access(self, tables: dict[str, Table]) -> None:
        """Grants, revokes and policies name declared roles (or PUBLIC) and objects of this schema."""
        roles = {r.name for r in self.roles}
        if dup := _duplicates(roles):
            raise DeclarationError(f"schema {self.name}: duplicate roles {dup}")
        views = {v.name for v in self.views}

        def role(name: str, what: str, public: bool = True) -> None:
            if name.upper() == PUBLIC and not public:
                raise DeclarationError(f"{what}: PUBLIC is not a role that can own or create objects")
            if name.upper() != PUBLIC and name not in roles:
                raise DeclarationError(f"{what}: role {name!r} is not declared in Schema.roles")

        for g in self.grants:
            what = f"grant to {g.to} on {g.object_text}"
            role(g.to, what)
            if g.on == "table" and g.name not in tables and g.name not in views:
                raise DeclarationError(f"{what}: no table or view {g.name!r} in schema {self.name}")
            if g.on == "function":
                function_named(self.functions, str(g.name), what, self.name)
            if g.columns:
                if g.name not in tables:
                    raise DeclarationError(f"{what}: column privileges need a table")
                if missing := sorted(set(g.columns) - set(tables[str(g.name)].column_names)):
                    raise DeclarationError(f"{what}: table {g.name} has no column(s) {missing}")
        for r in self.revokes:
            function_named(self.functions, r.name, f"revoke on function {r.name}", self.name)
        for d in self.default_privileges:
            what = f"default privilege on {d.on} to {d.to}"
            role(d.to, what)
            if d.for_role is not None:
                role(d.for_role, what, public=False)
        for table in self.tables:
            if table.owner is not None:
                role(table.owner, f"table {table.name}: owner", public=False)
            for p in table.policies:
                for name in p.roles:
                    role(name, f"policy {p.name} on table {table.name}")
            if dup := _duplicates(p.name for p in table.policies):
                raise DeclarationError(f"table {table.name}: duplicate policy names {dup}")

    def _qualify_types(self, own: set[str]) -> None:
        """Qualify the unqualified uses of this schema's own types (columns, domains' base types,
        composite types' attributes) with the schema, so they render ``schema.type``."""

        def q(t: SqlType) -> SqlType:
            return t.model_copy(update={"in_schema": self.name}) if t.in_schema is None and t.name in own else t

        tables = tuple(t.model_copy(update={"columns": tuple(c.model_copy(update={"type": q(c.type)})
                                                              for c in t.columns)}) for t in self.tables)
        domains = tuple(d.model_copy(update={"base": q(d.base)}) for d in self.domains)
        composites = tuple(c.model_copy(update={"attributes": tuple(a.model_copy(update={"type": q(a.type)})
                                                                    for a in c.attributes)})
                           for c in self.composites)
        ranges = tuple(r.model_copy(update={"subtype": q(r.subtype)}) for r in self.ranges)
        if (tables, domains, composites, ranges) != (self.tables, self.domains, self.composites, self.ranges):
            object.__setattr__(self, "tables", tables)  # frozen: qualified once, while being built
            object.__setattr__(self, "domains", domains)
            object.__setattr__(self, "composites", composites)
            object.__setattr__(self, "ranges", ranges)

    def _check_index_calls(self, table: Table, index: Index) -> None:
        """Functions of this schema called by an index's keys or predicate must be IMMUTABLE."""
        declared = {f.name: f for f in self.functions}
        for text in index.fragments():
            for schema, name in fragments.function_calls(text):
                fn = declared.get(name) if schema in (None, self.name) else None
                if fn is not None and fn.volatility != "IMMUTABLE":
                    raise DeclarationError(
                        f"index {index.name} on table {table.name}: calls {self.name}.{name}(), which is "
                        f"declared {fn.volatility}; index keys and predicates may only call IMMUTABLE functions"
                    )

    def _check_view(self, view: View, tables: dict[str, Table]) -> None:
        tree = fragments.parse_query(view.query, view.name)
        views = {v.name for v in self.views}
        aliases: dict[str, Table] = {}
        for ref in fragments.referenced_tables(tree):
            if ref.schema not in (None, self.name):
                if f"{ref.schema}.{ref.name}" not in self.external_tables:
                    raise DeclarationError(
                        f"view {view.name}: reads {ref.schema}.{ref.name}, which is not in schema "
                        f"{self.name} (declare it in external_tables)"
                    )
                continue
            if ref.name in tables:
                aliases[ref.alias] = tables[ref.name]
            elif ref.name not in views and ref.schema is not None:
                raise DeclarationError(f"view {view.name}: unknown table {ref.schema}.{ref.name}")
        for col in tree.find_all(fragments.exp.Column):
            owner = aliases.get(col.table) if col.table else None
            if isinstance(col.this, fragments.exp.Star):
                continue
            name = fragments.column_name(col)
            if owner is not None and name and name not in owner.column_names:
                raise DeclarationError(f"view {view.name}: table {owner.name} has no column {name!r}")


# ---------------------------------------------------------------------------------------------
# Versions declared by hand (baselines): the state after the version plus the layout of its file
# ---------------------------------------------------------------------------------------------


class Comment(Node):
    """A comment line in a version file, e.g. ``Comment(text="Primary lookups")``."""

    kind = "comment"

    text: CommentText


PhaseItem = Comment | Table | Index | Trigger | Function | View


class Phase(Node):
    """A titled block of a version file; items are created in the order listed."""

    kind = "phase"

    title: CommentText
    items: tuple[PhaseItem, ...]


class Version(Node):
    """A hand-declared version: the schema as it stands after it, and how its file is laid out.

    The phases must list exactly the objects this version adds to the previous version's schema.
    Every statement is idempotent (IF NOT EXISTS, OR REPLACE, DROP ... IF EXISTS), so the file
    can be applied twice.
    """

    kind = "version"

    number: int = Field(ge=1)
    name: str
    header: tuple[CommentText, ...] = ()
    create_schema: bool = False
    state: Schema
    """The schema as it stands after this version."""
    phases: tuple[Phase, ...]

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]+", value):
            raise ValueError("is not a file name: use lower-case letters, digits and _ only")
        return value

    @property
    def filename(self) -> str:
        return f"V{self.number}__{self.name}.sql"

    def objects(self) -> list[PhaseItem]:
        return [item for phase in self.phases for item in phase.items if not isinstance(item, Comment)]


# The application's statements (Query) have their own module, orders_schema.declare.query; they
# are re-exported here, so ``orders_schema.model`` still exports every declaration class.

__all__ = [
    "BIGINT",
    "BOOLEAN",
    "DATE",
    "INTEGER",
    "JSONB",
    "SMALLINT",
    "TEXT",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "UUID",
    "Attribute",
    "Check",
    "Column",
    "Comment",
    "CommentText",
    "CompositeType",
    "DeclarationError",
    "DefaultPrivilege",
    "Deferrable",
    "Description",
    "Domain",
    "DomainCheck",
    "EnumType",
    "Exclude",
    "ExcludeElement",
    "Extension",
    "ForeignKey",
    "Function",
    "Grant",
    "Identity",
    "Index",
    "IndexColumn",
    "Name",
    "Node",
    "Partition",
    "Phase",
    "PhaseItem",
    "Policy",
    "PrimaryKey",
    "QualifiedName",
    "Query",
    "RangeType",
    "Revoke",
    "Role",
    "Row",
    "RowSecurity",
    "ScalarValue",
    "Schema",
    "Sequence",
    "SqlType",
    "Table",
    "Trigger",
    "TriggerEvent",
    "TypeName",
    "Unique",
    "Version",
    "View",
    "decimal",
    "lit",
    "numeric",
    "sql_type",
    "varchar",
]
