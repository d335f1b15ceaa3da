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
    _rows,
)
from orders_schema.declare.query import Query
from orders_schema.declare.quoting import identifier_problem, literal

# ---------------------------------------------------------------------------------------------
# Column types
# ---------------------------------------------------------------------------------------------

TypeName = Literal[
    "uuid", "varchar", "text", "smallint", "integer", "bigint", "boolean", "decimal", "numeric",
    "timestamptz", "timestamp", "date", "jsonb",
]
_TYPE_ARITY: dict[str, tuple[int, ...]] = {
    "varchar": (1,), "decimal": (0, 1, 2), "numeric": (0, 1, 2),
}


class SqlType(Node):
    """A column type: ``SqlType(name="numeric", args=(20, 8))``. Use the helpers below."""

    kind = "type"

    name: TypeName
    args: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _arity(self) -> SqlType:
        allowed = _TYPE_ARITY.get(self.name, (0,))
        if len(self.args) not in allowed:
            raise DeclarationError(f"type {self.name}: takes {allowed} arguments, got {self.args}")
        if self.name == "varchar" and not 1 <= self.args[0] <= 10_485_760:
            raise DeclarationError(f"type varchar({self.args[0]}): length must be 1..10485760")
        if self.name in ("decimal", "numeric") and self.args:
            precision, scale = self.args[0], self.args[1] if len(self.args) > 1 else 0
            if not 1 <= precision <= 1000 or not 0 <= scale <= precision:
                raise DeclarationError(
                    f"type {self.name}{self.args}: need 1 <= precision <= 1000 and 0 <= scale <= precision"
                )
        return self


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


class Column(Node):
    """One column. ``default`` is a SQL expression (``"NOW()"``, ``lit("pending")``, ``"0"``).

    ``section`` is an optional comment line rendered above the column in CREATE TABLE.
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

    @model_validator(mode="after")
    def _valid(self) -> Column:
        if self.default is not None:
            _fragment(fragments.expression, self.default, f"default of column {self.name}")
        return self


class PrimaryKey(Node):
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


class ForeignKey(Node):
    kind = "foreign key"

    name: Name
    columns: tuple[Name, ...]
    ref_table: QualifiedName
    """A table of the same schema, or ``"schema.table"``."""
    ref_columns: tuple[Name, ...]
    on_delete: Literal["NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"] = "NO ACTION"

    @model_validator(mode="after")
    def _valid(self) -> ForeignKey:
        if len(self.columns) != len(self.ref_columns) or not self.columns:
            raise DeclarationError(f"foreign key {self.name}: columns and ref_columns must pair up")
        return self


class Unique(Node):
    kind = "unique"

    name: Name
    columns: tuple[Name, ...]

    @model_validator(mode="after")
    def _valid(self) -> Unique:
        if not self.columns:
            raise DeclarationError(f"unique {self.name}: needs at least one column")
        return self


_INDEX_COLUMN = re.compile(
    r"^(?P<expr>.+?)(?:\s+(?P<dir>ASC|DESC))?(?:\s+NULLS\s+(?P<nulls>FIRST|LAST))?\s*$", re.IGNORECASE
)


class IndexColumn(Node):
    """A key of an index: a column name or a parenthesised expression, its order and NULLS place."""

    kind = "index key"

    expression: str
    descending: bool = False
    nulls: Literal["FIRST", "LAST"] | None = None

    @classmethod
    def parse(cls, text: str) -> IndexColumn:
        """``"created_at DESC NULLS LAST"`` -> IndexColumn."""
        m = _INDEX_COLUMN.match(text.strip())
        if not m:
            raise DeclarationError(f"index key {text!r} is empty")
        nulls = m.group("nulls")
        return cls(
            expression=m.group("expr"),
            descending=(m.group("dir") or "").upper() == "DESC",
            nulls=nulls.upper() if nulls else None,
        )

    @property
    def column(self) -> str | None:
        """The column's declared name when the key is a plain column, None for an expression.

        A bare key names a column exactly as declared (``UPPER`` is the column ``UPPER``); a quoted
        key is unquoted. Either way the renderer quotes the name with the one helper.
        """
        tree = fragments.parse_expression(self.expression, "index key")
        return tree.name if isinstance(tree, fragments.exp.Column) and not tree.table else None


class Index(Node):
    """``Index(name="idx_orders_active", columns=("created_at DESC",), where="status <> 'x'")``."""

    kind = "index"

    name: Name
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    method: Literal["btree", "hash", "gin", "gist", "brin"] = "btree"
    where: str | None = None
    include: tuple[Name, ...] = ()

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
    """``Trigger(name=..., timing="BEFORE", events=("UPDATE",), function="touch_updated_at")``."""

    kind = "trigger"

    name: Name
    timing: Literal["BEFORE", "AFTER"]
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

    @model_validator(mode="after")
    def _valid(self) -> Trigger:
        if not self.events or len(set(self.events)) != len(self.events):
            raise DeclarationError(f"trigger {self.name}: events must be listed once each")
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


class Table(Node):
    kind = "table"

    name: Name
    columns: tuple[Column, ...]
    primary_key: PrimaryKey | None = None
    checks: tuple[Check, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    uniques: tuple[Unique, ...] = ()
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

    def constraint_names(self) -> list[str]:
        names = [c.name for c in self.checks] + [f.name for f in self.foreign_keys] + [u.name for u in self.uniques]
        return [self.pkey_name, *names] if self.primary_key else names

    @model_validator(mode="after")
    def _valid(self) -> Table:
        what = f"table {self.name}"
        if not self.columns:
            raise DeclarationError(f"{what}: needs at least one column")
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
        for index in self.indexes:
            need(index.referenced_columns(), f"index {index.name}")
        for trigger in self.triggers:
            need(trigger.update_of, f"trigger {trigger.name}")
            if trigger.when is not None:
                tree = fragments.parse_expression(trigger.when, trigger.name)
                need(fragments.referenced_columns(tree), f"trigger {trigger.name} WHEN")
        return self


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

    @property
    def signature(self) -> str:
        """Its identity, as PostgreSQL's: ``name(type, ...)`` of its input arguments (overloads
        are distinct functions)."""
        return f"{self.name}({', '.join(fragments.identity_types(self.arguments))})"

    @model_validator(mode="after")
    def _valid(self) -> Function:
        what = f"function {self.name}"
        if not self.body.strip():
            raise DeclarationError(f"{what}: the body is empty")
        for argument in self.arguments:
            _fragment(fragments.argument, argument, f"{what}: argument")
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

    @model_validator(mode="after")
    def _valid(self) -> View:
        _fragment(fragments.query, self.query, f"view {self.name}")
        if self.indexes and not self.materialized:
            raise DeclarationError(f"view {self.name}: only a materialized view has indexes")
        if self.security_invoker and self.materialized:
            raise DeclarationError(f"view {self.name}: security_invoker is for views, not materialized views")
        if dup := _duplicates(i.name for i in self.indexes):
            raise DeclarationError(f"view {self.name}: duplicate index names {dup}")
        return self




class Schema(Node):
    """One PostgreSQL schema: its tables (with their indexes and triggers), functions and views."""

    kind = "schema"

    name: Name
    tables: tuple[Table, ...] = ()
    functions: tuple[Function, ...] = ()
    views: tuple[View, ...] = ()
    external_tables: tuple[QualifiedName, ...] = Field(
        default=(), description="tables outside this schema views may read"
    )

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
        relations += [i.name for _, i in self.indexes()] + [i.name for v in self.views for i in v.indexes]
        relations += [t.pkey_name for t in self.tables if t.primary_key]
        relations += [u.name for t in self.tables for u in t.uniques]
        if dup := _duplicates(relations):
            raise DeclarationError(
                f"{what}: duplicate relation names {dup} (tables, views and indexes share one namespace)"
            )
        if dup := _duplicates(f.signature for f in self.functions):
            raise DeclarationError(f"{what}: duplicate functions {dup} (same name and argument types)")
        tables = {t.name: t for t in self.tables}
        functions = {f.name for f in self.functions}
        for table in self.tables:
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
                if trigger.function not in functions:
                    raise DeclarationError(
                        f"trigger {trigger.name} on table {table.name}: unknown function {trigger.function!r}"
                    )
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
        return self

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
    "Check",
    "Column",
    "Comment",
    "CommentText",
    "DeclarationError",
    "Description",
    "ForeignKey",
    "Function",
    "Index",
    "IndexColumn",
    "Name",
    "Node",
    "Phase",
    "PhaseItem",
    "PrimaryKey",
    "QualifiedName",
    "Query",
    "Row",
    "ScalarValue",
    "Schema",
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
    "varchar",
]
