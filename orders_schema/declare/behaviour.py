"""Declared behaviour: what triggers promise, and rows a table must accept.

The structure comparison proves that a trigger and its function exist as declared; these
declarations say what they *do*, and the migration tester (:mod:`orders_schema.tester.checks.triggers`)
proves it on a real server by inserting and updating rows inside a transaction it rolls back.

* :class:`TouchesOnUpdate`: a timestamp column advances whenever a row is updated.
* :class:`AuditsChange`: changing a column writes exactly one audit row (old value, new value,
  reason, constants); an update that leaves the column unchanged writes none.
* :class:`ValidRow`: a row the table accepts. The tester derives a valid row for every table from
  the declarations (defaults, IN-lists, foreign keys, CHECK examples); declare one when that
  derivation cannot satisfy a constraint (e.g. a CHECK tying two columns together).

Like the rest of the model these are frozen pydantic models: hashable, comparable, no SQL inside.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from orders_schema.declare.base import DeclarationError, Node, Row, ScalarValue, _name


class ValidRow(Node):
    """A row ``table`` accepts: ``ValidRow(table="orders", values={"order_type": "exit", ...})``.

    Columns not listed take their default, or the value the tester derives. Every probe row of the
    table (constraint and trigger checks) starts from this one, and the tester checks that it
    inserts.
    """

    table: str
    values: Row

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, value: Any) -> Any:
        return tuple(sorted(value.items())) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _valid(self) -> ValidRow:
        _name(self.table, f"valid row for table {self.table!r}")
        for column, _ in self.values:
            _name(column, f"valid row for table {self.table}: column {column!r}")
        return self


class TouchesOnUpdate(Node):
    """``column`` advances to the time of the update whenever a row of ``table`` is updated.

    ``via``: the column the probe UPDATE writes (``SET via = via``); by default the first column
    that is neither ``column`` nor part of the primary key. ``even_when_set``: the column also
    advances when the UPDATE writes an old value into it itself (as a repository that saves the
    whole row does); set it to False for a trigger that lets callers set the column explicitly.
    """

    table: str
    column: str
    via: str | None = None
    even_when_set: bool = True

    @model_validator(mode="after")
    def _valid(self) -> TouchesOnUpdate:
        _name(self.table, f"touches-on-update table {self.table!r}")
        _name(self.column, f"touches-on-update column {self.column!r}")
        if self.via == self.column:
            raise DeclarationError(f"touches-on-update {self.table}.{self.column}: via must be another column")
        return self


class New(Node):
    """The updated row's value of ``column`` (``NEW.column``), compared as text: ``New("id")``."""

    source: Literal["new"] = "new"
    column: str

    def __init__(self, column: str | None = None, /, **data: Any) -> None:
        super().__init__(**({"column": column} if column is not None else {}), **data)


class Old(Node):
    """The row's value of ``column`` before the update (``OLD.column``), compared as text."""

    source: Literal["old"] = "old"
    column: str

    def __init__(self, column: str | None = None, /, **data: Any) -> None:
        super().__init__(**({"column": column} if column is not None else {}), **data)


class Const(Node):
    """A constant the trigger writes: ``Const("system")``; ``Const(None)`` means NULL."""

    source: Literal["const"] = "const"
    value: str | None

    def __init__(self, value: str | None = None, /, **data: Any) -> None:
        super().__init__(**({} if "value" in data else {"value": value}), **data)


AuditValue = Annotated[New | Old | Const, Field(discriminator="source")]


class AuditsChange(Node):
    """Changing ``table.column`` writes one row into ``audit_table``; other updates write none.

    ``writes`` maps every audit column the trigger fills to where its value comes from, e.g.
    ``{"config_key": New("id"), "old_value": Old("status"), "new_value": New("status"),
    "changed_by": Const("system")}``. Values are compared as text (``value::text``).
    ``audit_table`` is a table of the same schema, or ``"schema.table"``.

    ``values``: the change the probe makes (from, to). By default the first two allowed values of
    the column's IN-list CHECK.
    """

    table: str
    column: str
    audit_table: str
    writes: tuple[tuple[str, AuditValue], ...]
    values: tuple[ScalarValue, ScalarValue] | None = None

    @field_validator("writes", mode="before")
    @classmethod
    def _writes(cls, value: Any) -> Any:
        return tuple(value.items()) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _valid(self) -> AuditsChange:
        what = f"audits-change {self.table}.{self.column}"
        _name(self.table, f"{what}: table")
        _name(self.column, f"{what}: column")
        for part in self.audit_table.split("."):
            _name(part, f"{what}: audit table")
        if not self.writes:
            raise DeclarationError(f"{what}: declare at least one audit column in writes")
        names = [name for name, _ in self.writes]
        if len(set(names)) != len(names):
            raise DeclarationError(f"{what}: an audit column is listed twice in writes")
        for name in names:
            _name(name, f"{what}: audit column")
        if self.values is not None and self.values[0] == self.values[1]:
            raise DeclarationError(f"{what}: values must be two different values (from, to)")
        return self

    def source_columns(self) -> list[str]:
        """Columns of ``table`` the audit row reads (New/Old sources), in declaration order."""
        out: list[str] = []
        for _, value in self.writes:
            if isinstance(value, (New, Old)) and value.column not in out:
                out.append(value.column)
        return out


Behaviour = ValidRow | TouchesOnUpdate | AuditsChange
"""Anything a :class:`~orders_schema.declare.project.Project` lists in ``behaviours``."""

__all__ = [
    "AuditValue",
    "AuditsChange",
    "Behaviour",
    "Const",
    "New",
    "Old",
    "TouchesOnUpdate",
    "ValidRow",
]
