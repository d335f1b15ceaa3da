"""The declared schema: immutable objects, validated when built, with no SQL generation inside.

Every class is a frozen pydantic model (hashable, comparable, JSON-serialisable for snapshots).
SQL fragments are kept as declared text and parsed with sqlglot at construction, so a typo or a
reference to a column that does not exist fails where it is written, naming the object.
Rendering lives in :mod:`orders_schema.render`; comparison with a live database in
:mod:`orders_schema.inspect` and :mod:`orders_schema.compare`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from typing_extensions import Self

from . import fragments
from .quoting import check_identifier, literal

ScalarValue = str | int | bool | None
Row = tuple[tuple[str, ScalarValue], ...]
"""An example row for a CHECK: column -> value pairs; values are bound as text or numbers."""


class DeclarationError(ValueError):
    """A declaration that PostgreSQL would reject or that does not mean what it says."""


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        """Build the object; a bad declaration raises :class:`DeclarationError` naming the object."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise DeclarationError(_explain(type(self).__name__, exc)) from None

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed, validated like a new declaration.

        Use it to derive declarations (``story.ORDERS.replace(checks=...)``): pydantic's
        ``model_copy(update=...)`` skips validation, so a CHECK naming a missing column would pass.
        """
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise DeclarationError(f"{type(self).__name__}: no field(s) {unknown}")
        return type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields}, **changes})


def _explain(kind: str, exc: ValidationError) -> str:
    """pydantic's errors as one readable sentence: our own messages verbatim, others located."""
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        loc = ".".join(str(x) for x in err.get("loc", ()))
        if err.get("type") == "value_error":
            parts.append(msg)
        else:
            where = f"{kind}.{loc}" if loc else kind
            parts.append(f"{where}: {msg} (got {err.get('input')!r})")
    return "; ".join(parts)


def _name(value: str, what: str) -> str:
    try:
        return check_identifier(value, what)
    except ValueError as exc:
        raise DeclarationError(str(exc)) from None


def _fragment(check: Any, *args: Any) -> Any:
    try:
        return check(*args)
    except fragments.FragmentError as exc:
        raise DeclarationError(str(exc)) from None


def _duplicates(names: Iterable[str]) -> list[str]:
    return sorted(n for n, count in Counter(names).items() if count > 1)


def _rows(value: Any) -> Any:
    """Accept dicts for example rows; store them as sorted tuples (hashable, stable)."""
    if isinstance(value, (list, tuple)):
        return tuple(tuple(sorted(r.items())) if isinstance(r, dict) else r for r in value)
    return value


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

    name: str
    type: SqlType
    nullable: bool = True
    default: str | None = None
    section: str | None = None
    renamed_from: str | None = None
    """Declares a rename: the migration renames this column instead of dropping and adding it."""

    @model_validator(mode="after")
    def _valid(self) -> Column:
        _name(self.name, f"column {self.name!r}")
        if self.default is not None:
            _fragment(fragments.parse_expression, self.default, f"default of column {self.name}")
        return self


class PrimaryKey(Node):
    columns: tuple[str, ...]
    name: str | None = None
    """Defaults to PostgreSQL's own ``<table>_pkey``."""


class Check(Node):
    """A named CHECK constraint.

    ``column`` makes it a column constraint (rendered on the column's line). ``accepts`` and
    ``rejects`` are example rows (column -> value) that the migration tester inserts: each
    accepted row must insert, each rejected row must fail with SQLSTATE 23514. IN-list checks
    need no examples: the tester enumerates every allowed value plus outsiders.
    """

    name: str
    expression: str
    column: str | None = None
    accepts: tuple[Row, ...] = ()
    rejects: tuple[Row, ...] = ()

    _v_accepts = field_validator("accepts", "rejects", mode="before")(_rows)

    @classmethod
    def one_of(cls, name: str, column: str, values: Iterable[str], *, inline: bool = True) -> Check:
        """``column IN ('a', 'b', ...)`` with every value quoted by the one quoting helper."""
        from .quoting import ident

        body = ", ".join(literal(v) for v in values)
        return cls(name=name, expression=f"{ident(column)} IN ({body})", column=column if inline else None)

    def allowed_values(self) -> tuple[str, tuple[str, ...]] | None:
        """For an IN-list check, the column and its allowed values."""
        return fragments.in_list(fragments.parse_expression(self.expression, self.name))

    @model_validator(mode="after")
    def _valid(self) -> Check:
        _name(self.name, f"check {self.name!r}")
        _fragment(fragments.parse_expression, self.expression, f"check {self.name}")
        return self


class ForeignKey(Node):
    name: str
    columns: tuple[str, ...]
    ref_table: str
    """A table of the same schema, or ``"schema.table"``."""
    ref_columns: tuple[str, ...]
    on_delete: Literal["NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"] = "NO ACTION"

    @model_validator(mode="after")
    def _valid(self) -> ForeignKey:
        _name(self.name, f"foreign key {self.name!r}")
        if len(self.columns) != len(self.ref_columns) or not self.columns:
            raise DeclarationError(f"foreign key {self.name}: columns and ref_columns must pair up")
        return self


class Unique(Node):
    name: str
    columns: tuple[str, ...]


_INDEX_COLUMN = re.compile(
    r"^(?P<expr>.+?)(?:\s+(?P<dir>ASC|DESC))?(?:\s+NULLS\s+(?P<nulls>FIRST|LAST))?\s*$", re.IGNORECASE
)


class IndexColumn(Node):
    """A key of an index: a column name or a parenthesised expression, its order and NULLS place."""

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

    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    method: Literal["btree", "hash", "gin", "gist", "brin"] = "btree"
    where: str | None = None
    include: tuple[str, ...] = ()

    @field_validator("columns", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return tuple(IndexColumn.parse(v) if isinstance(v, str) else v for v in value)
        return value

    @model_validator(mode="after")
    def _valid(self) -> Index:
        _name(self.name, f"index {self.name!r}")
        if not self.columns:
            raise DeclarationError(f"index {self.name}: needs at least one key")
        for key in self.columns:
            _fragment(fragments.parse_expression, key.expression, f"index {self.name} key")
        if self.where is not None:
            _fragment(fragments.parse_expression, self.where, f"index {self.name} WHERE")
        return self

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

    name: str
    timing: Literal["BEFORE", "AFTER"]
    events: tuple[TriggerEvent, ...]
    function: str
    """A function declared in the same schema."""
    update_of: tuple[str, ...] = ()
    for_each: Literal["ROW", "STATEMENT"] = "ROW"
    when: str | None = None
    referencing_old: str | None = None
    """Name of the OLD transition table (statement-level AFTER triggers)."""
    referencing_new: str | None = None
    """Name of the NEW transition table (statement-level AFTER triggers)."""

    @model_validator(mode="after")
    def _valid(self) -> Trigger:
        _name(self.name, f"trigger {self.name!r}")
        if not self.events or len(set(self.events)) != len(self.events):
            raise DeclarationError(f"trigger {self.name}: events must be listed once each")
        if self.update_of and "UPDATE" not in self.events:
            raise DeclarationError(f"trigger {self.name}: update_of needs the UPDATE event")
        if self.when is not None:
            tree = _fragment(fragments.parse_expression, self.when, f"trigger {self.name} WHEN")
            if self.for_each == "STATEMENT":
                raise DeclarationError(f"trigger {self.name}: WHEN needs FOR EACH ROW")
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
    name: str
    columns: tuple[Column, ...]
    primary_key: PrimaryKey | None = None
    checks: tuple[Check, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    uniques: tuple[Unique, ...] = ()
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    renamed_from: str | None = None
    """Declares a rename: the migration renames this table instead of dropping and adding it."""
    populate: str | None = None
    """SQL run once when a migration adds this table to an existing database (e.g. a backfill of a
    summary table); it runs after the table's triggers on other tables exist, in the same transaction."""

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
        _name(self.name, f"table {self.name!r}")
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
            if _name(self.pkey_name, "primary key") and not self.primary_key.columns:
                raise DeclarationError(f"{what}: primary key needs columns")
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
        return self


class Function(Node):
    """A function whose body is kept verbatim (PostgreSQL stores ``prosrc`` as written).

    ``settings`` are ``SET`` clauses, e.g. ``(("search_path", "pg_catalog, walltrack"),)``.
    """

    name: str
    body: str
    returns: str = "trigger"
    language: Literal["plpgsql", "sql"] = "plpgsql"
    arguments: tuple[str, ...] = ()
    volatility: Literal["VOLATILE", "STABLE", "IMMUTABLE"] = "VOLATILE"
    security_definer: bool = False
    settings: tuple[tuple[str, str], ...] = ()

    @model_validator(mode="after")
    def _valid(self) -> Function:
        _name(self.name, f"function {self.name!r}")
        if not self.body.strip():
            raise DeclarationError(f"function {self.name}: the body is empty")
        for key, _ in self.settings:
            if not re.fullmatch(r"[a-z_][a-z0-9_.]*", key):
                raise DeclarationError(f"function {self.name}: {key!r} is not a setting name")
        return self


class View(Node):
    name: str
    query: str

    @model_validator(mode="after")
    def _valid(self) -> View:
        _name(self.name, f"view {self.name!r}")
        _fragment(fragments.parse_query, self.query, f"view {self.name}")
        return self




class Schema(Node):
    """One PostgreSQL schema: its tables (with their indexes and triggers), functions and views."""

    name: str
    tables: tuple[Table, ...] = ()
    functions: tuple[Function, ...] = ()
    views: tuple[View, ...] = ()
    external_tables: tuple[str, ...] = Field(default=(), description="tables outside this schema views may read")

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
        _name(self.name, f"schema {self.name!r}")
        # Tables, views, indexes and the indexes behind PRIMARY KEY / UNIQUE share one namespace.
        relations = [t.name for t in self.tables] + [v.name for v in self.views]
        relations += [i.name for _, i in self.indexes()]
        relations += [t.pkey_name for t in self.tables if t.primary_key]
        relations += [u.name for t in self.tables for u in t.uniques]
        if dup := _duplicates(relations):
            raise DeclarationError(
                f"{what}: duplicate relation names {dup} (tables, views and indexes share one namespace)"
            )
        if dup := _duplicates(f.name for f in self.functions):
            raise DeclarationError(f"{what}: duplicate function names {dup}")
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
        for view in self.views:
            self._check_view(view, tables)
        return self

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

    text: str


PhaseItem = Comment | Table | Index | Trigger | Function | View


class Phase(Node):
    """A titled block of a version file; items are created in the order listed."""

    title: str
    items: tuple[PhaseItem, ...]


class Version(Node):
    """A hand-declared version: the schema as it stands after it, and how its file is laid out.

    The phases must list exactly the objects this version adds to the previous version's schema.
    Every statement is idempotent (IF NOT EXISTS, OR REPLACE, DROP ... IF EXISTS), so the file
    can be applied twice.
    """

    number: int = Field(ge=1)
    name: str
    header: tuple[str, ...] = ()
    create_schema: bool = False
    state: Schema
    """The schema as it stands after this version."""
    phases: tuple[Phase, ...]

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]+", value):
            raise DeclarationError(f"version name {value!r}: use lower-case letters, digits and _ only")
        return value

    @property
    def filename(self) -> str:
        return f"V{self.number}__{self.name}.sql"

    def objects(self) -> list[PhaseItem]:
        return [item for phase in self.phases for item in phase.items if not isinstance(item, Comment)]


# ---------------------------------------------------------------------------------------------
# Query patterns: the application's statements, declared beside the indexes that serve them
# ---------------------------------------------------------------------------------------------


class Query(Node):
    """A statement the application sends, with psycopg named placeholders (``%(id)s``).

    The repository executes ``sql`` as declared; the migration tester EXPLAINs it with
    ``example`` parameters on realistic data and asserts that ``uses_index`` serves it.
    ``uses_index=None`` declares that no index is expected (e.g. an INSERT), unless
    ``served_by_table`` names the small table that answers it.
    """

    name: str
    sql: str
    example: Row = ()
    uses_index: str | None = None
    served_by_table: str | None = None
    """For a query answered from a small table whose size does not grow with the data (a summary
    kept by triggers): the tester asserts the plan reads that table and nothing else."""

    _v_example = field_validator("example", mode="before")(
        lambda value: tuple(sorted(value.items())) if isinstance(value, dict) else value
    )

    @property
    def params(self) -> dict[str, ScalarValue]:
        return dict(self.example)
