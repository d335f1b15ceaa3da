"""The base of every declared object: :class:`Node` (a frozen pydantic model whose errors name the
object), :class:`DeclarationError`, and the checked string types (:data:`Name`,
:data:`QualifiedName`, :data:`CommentText`, :data:`Description`). Re-exported by
:mod:`orders_schema.declare.model`; the declaration modules (the model, the queries) build on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import Self

from orders_schema.declare import fragments
from orders_schema.declare.quoting import check_identifier, comment_problem, identifier_problem

ScalarValue = str | int | bool | None
Row = tuple[tuple[str, ScalarValue], ...]
"""An example row for a CHECK: column -> value pairs; values are bound as text or numbers."""


class DeclarationError(ValueError):
    """A declaration that PostgreSQL would reject or that does not mean what it says."""


def _valid_name(value: str) -> str:
    problem = identifier_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _valid_qualified_name(value: str) -> str:
    parts = value.split(".")
    if len(parts) > 2:
        raise ValueError("is not of the form name or schema.name")
    for part in parts:
        problem = identifier_problem(part)
        if problem is not None:
            raise ValueError(problem if len(parts) == 1 else f"has a part {part!r} that {problem}")
    return value


def _valid_comment(value: str) -> str:
    problem = comment_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Name = Annotated[str, AfterValidator(_valid_name)]
"""A PostgreSQL name: not empty, no NUL or control character, at most 63 bytes (rendered quoted)."""
QualifiedName = Annotated[str, AfterValidator(_valid_qualified_name)]
"""``name`` or ``schema.name``, each part a :data:`Name`."""
CommentText = Annotated[str, AfterValidator(_valid_comment)]
"""One line of a SQL comment: no line break or control character, no ``/*`` or ``*/``."""


def _valid_description(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty: PostgreSQL stores an empty comment as none; leave comment unset instead")
    return value


Description = Annotated[str, AfterValidator(_valid_description)]
"""The text of a ``COMMENT ON`` (any text but empty; rendered as a quoted literal). See
:mod:`orders_schema.kinds.comment`."""


def _described(default: None = None) -> Any:
    """A ``comment`` field, left out of snapshots while unset (so released snapshots keep their bytes)."""
    return Field(default=default, exclude_if=lambda value: value is None)


def _nul_free(value: Any) -> bool:
    if type(value) is str:
        return "\x00" not in value
    if type(value) is tuple:
        return all(_nul_free(v) for v in value)
    return True  # a nested object checks its own fields


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ClassVar[str] = ""
    """How messages call this kind of object (``"foreign key"``); the class name when empty."""

    def __init__(self, **data: Any) -> None:
        """Build the object; a bad declaration raises :class:`DeclarationError` naming the object."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise DeclarationError(_explain(type(self), data, exc)) from None

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        for field, value in self.__dict__.items():
            if not _nul_free(value):
                name = getattr(self, "name", None)
                subject = f"{self.kind or type(self).__name__}{f' {name}' if field != 'name' and name else ''}"
                raise DeclarationError(
                    f"{subject}: {field} {value!r} contains a NUL character, which PostgreSQL text cannot hold"
                )
        return self

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed, validated like a new declaration.

        Use it to derive declarations (``story.ORDERS.replace(checks=...)``): pydantic's
        ``model_copy(update=...)`` skips validation, so a CHECK naming a missing column would pass.
        """
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise DeclarationError(f"{type(self).__name__}: no field(s) {unknown}")
        return type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields}, **changes})


def _explain(cls: type[Node], data: dict[str, Any], exc: ValidationError) -> str:
    """pydantic's errors as one readable sentence naming the object: our own messages verbatim,
    a field's value error after the object and the field (``trigger trg: referencing_new 'x' is
    70 bytes long; ...``), others located by class and field."""
    kind = cls.kind or cls.__name__
    name = data.get("name")
    named = isinstance(name, str) and identifier_problem(name) is None
    subject = f"{kind} {name}" if named and all(tuple(e["loc"]) != ("name",) for e in exc.errors()) else kind
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "value_error" and not loc:
            parts.append(msg)
        elif err.get("type") == "value_error":
            field = ".".join(str(x) for x in loc if not isinstance(x, int))
            head = f"{kind} name" if loc == ("name",) else f"{subject}: {field}"
            parts.append(f"{head} {err.get('input')!r} {msg}")
        else:
            field = ".".join(str(x) for x in loc)
            parts.append(f"{subject}: {field + ': ' if field else ''}{msg} (got {err.get('input')!r})")
    return "; ".join(parts)


def _name(value: str, what: str) -> str:
    """Check one name outside a :data:`Name` field (e.g. a derived one), naming the object."""
    try:
        return check_identifier(value, what)
    except ValueError as exc:
        raise DeclarationError(str(exc)) from None


def _fragment(check: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return check(*args, **kwargs)
    except fragments.FragmentError as exc:
        raise DeclarationError(str(exc)) from None


def _duplicates(names: Iterable[str]) -> list[str]:
    return sorted(n for n, count in Counter(names).items() if count > 1)


def _rows(value: Any) -> Any:
    """Accept dicts for example rows; store them as sorted tuples (hashable, stable)."""
    if isinstance(value, (list, tuple)):
        return tuple(tuple(sorted(r.items())) if isinstance(r, dict) else r for r in value)
    return value
