"""Column types: :class:`SqlType`, any type PostgreSQL has, validated when declared.

A type is a built-in (``integer``, ``timestamptz(3)``, ``numeric(20, 8)``, ``varchar(40)[]``,
``double precision``, ``interval``, ``inet``, ...) or a user type: one of the schema's enums,
domains or composite types, or an extension's (``citext``, ``hstore``), optionally qualified
(``extensions.citext``). :func:`sql_type` reads the text form with a strict grammar (a name, its
modifiers in parentheses, ``with[out] time zone``, array brackets); anything else (``int; drop
table x``) is refused, naming the text. A built-in's name is canonical (``int4`` is ``integer``,
``timestamp with time zone`` is ``timestamptz``) so two spellings of one type never differ; a user
type's name is quoted by :func:`orders_schema.declare.quoting.ident` wherever it is rendered.

Declared types are compared with the live ones in PostgreSQL's stored form (``format_type``),
read back from a scratch database, never as text.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, model_validator

from orders_schema.declare.base import DeclarationError, Name, Node

BUILTIN_TYPES = frozenset({
    "uuid", "varchar", "text", "smallint", "integer", "bigint", "boolean", "decimal", "numeric",
    "timestamptz", "timestamp", "date", "jsonb", "json", "interval", "time", "timetz", "inet", "cidr",
    "macaddr", "macaddr8", "bytea", "real", "double precision", "char", "bit", "varbit", "money", "xml",
    "tsvector", "tsquery", "point", "line", "lseg", "box", "path", "polygon", "circle", "int4range",
    "int8range", "numrange", "tsrange", "tstzrange", "daterange", "int4multirange", "int8multirange",
    "nummultirange", "tsmultirange", "tstzmultirange", "datemultirange", "oid", "regclass", "name",
    "pg_lsn", "jsonpath", "txid_snapshot", "pg_snapshot",
})
"""Built-in (``pg_catalog``) type names, canonical; rendered upper-case and unquoted."""

ALIASES = {
    "int": "integer", "int4": "integer", "int2": "smallint", "int8": "bigint", "bool": "boolean",
    "character varying": "varchar", "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp", "time with time zone": "timetz",
    "time without time zone": "time", "float8": "double precision", "float4": "real", "character": "char",
    "bpchar": "char", "bit varying": "varbit",
}
"""Other spellings of the built-ins, and what they are."""

PSEUDO_TYPES = frozenset({"serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"})

_ARITY: dict[str, tuple[int, ...]] = {
    "varchar": (1,), "decimal": (0, 1, 2), "numeric": (0, 1, 2), "char": (0, 1), "bit": (0, 1),
    "varbit": (0, 1), "timestamp": (0, 1), "timestamptz": (0, 1), "time": (0, 1), "timetz": (0, 1),
    "interval": (0, 1),
}
_PRECISION = frozenset({"timestamp", "timestamptz", "time", "timetz", "interval"})

_IDENT = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"\x00]|"")+")'
_GRAMMAR = re.compile(
    rf"""\s*(?:(?P<schema>{_IDENT})\s*\.\s*)?
    (?P<name>{_IDENT}(?:\s+(?:precision|varying))?)\s*
    (?:\(\s*(?P<args>\d{{1,9}}(?:\s*,\s*\d{{1,9}})*)\s*\))?
    (?P<tz>\s+with(?:out)?\s+time\s+zone)?\s*
    (?P<array>(?:\[\s*\d{{0,9}}\s*\]\s*)*)""",
    re.VERBOSE | re.IGNORECASE,
)


def _unquote(part: str) -> str:
    return part[1:-1].replace('""', '"') if part.startswith('"') else part.lower()


def _canonical(name: str) -> str:
    folded = " ".join(name.lower().split())
    return ALIASES.get(folded, folded)


class SqlType(Node):
    """A column type: ``SqlType(name="numeric", args=(20, 8))``, or :func:`sql_type` from its text
    (``sql_type("timestamptz(3)")``, ``sql_type("varchar(40)[]")``, ``sql_type("extensions.citext")``).

    ``name`` is a built-in's canonical name (:data:`BUILTIN_TYPES`) or a user type's name;
    ``in_schema`` qualifies a user type (a type of the declared schema is qualified with it when the
    schema is declared); ``array`` counts array dimensions.
    """

    kind = "type"

    name: str
    args: tuple[int, ...] = ()
    in_schema: Name | None = Field(default=None, exclude_if=lambda v: v is None)
    array: int = Field(default=0, ge=0, le=6, exclude_if=lambda v: v == 0)

    @model_validator(mode="before")
    @classmethod
    def _spelling(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("in_schema") is None and isinstance(data.get("name"), str):
            canonical = _canonical(data["name"])
            if canonical in BUILTIN_TYPES:
                data = {**data, "name": canonical}
        return data

    @property
    def builtin(self) -> bool:
        return self.in_schema is None and self.name in BUILTIN_TYPES

    @model_validator(mode="after")
    def _arity(self) -> SqlType:
        shown = sql_text(self)
        if self.name.lower() in PSEUDO_TYPES and self.in_schema is None:
            raise DeclarationError(
                f"type {self.name}: serial types are not types (an integer column, a sequence and its default); "
                "declare an integer column with an identity or a default instead"
            )
        if not self.builtin:
            if not self.name or "\x00" in self.name or len(self.name.encode()) > 63:
                raise DeclarationError(f"type {self.name!r}: a type name must be 1..63 bytes without NUL")
            return self
        allowed = _ARITY.get(self.name, (0,))
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
        if self.name in _PRECISION and self.args and not 0 <= self.args[0] <= 6:
            raise DeclarationError(f"type {shown}: the precision must be 0..6")
        if self.name in ("char", "bit", "varbit") and self.args and not 1 <= self.args[0] <= 10_485_760:
            raise DeclarationError(f"type {shown}: the length must be 1..10485760")
        return self


def sql_text(t: SqlType) -> str:
    """The type as a user would write it (for messages)."""
    name = f"{t.in_schema}.{t.name}" if t.in_schema else t.name
    return name + (f"({', '.join(map(str, t.args))})" if t.args else "") + "[]" * t.array


def sql_type(text: str) -> SqlType:
    """A :class:`SqlType` from its SQL text: ``"timestamp(3) with time zone"``, ``"numeric(20,8)"``,
    ``"varchar(40)[]"``, ``"inet"``, ``"public.citext"``, ``'"My Type"'``. Only a type name with
    its modifiers and array brackets is accepted; anything else raises :class:`DeclarationError`."""
    m = _GRAMMAR.fullmatch(text) if isinstance(text, str) and "\x00" not in text else None
    if m is None:
        raise DeclarationError(
            f"type {text!r} is not a type: write a type name, optionally schema-qualified, with its "
            "modifiers and array brackets, e.g. numeric(20, 8), timestamptz(3), varchar(40)[], extensions.citext"
        )
    schema = _unquote(m["schema"]) if m["schema"] else None
    raw = m["name"]
    name = raw if schema is None and not raw.startswith('"') else _unquote(raw)
    if m["tz"]:
        base = _canonical(name)
        if schema is not None or base not in ("timestamp", "time"):
            raise DeclarationError(f"type {text!r}: only timestamp and time take WITH/WITHOUT TIME ZONE")
        name = _canonical(f"{base} {' '.join(m['tz'].lower().split())}")
    elif schema is None and not raw.startswith('"'):
        name = _canonical(name)
        if name not in BUILTIN_TYPES:
            if " " in name:
                raise DeclarationError(f"type {text!r} is not a type PostgreSQL knows")
            name = name.lower()
    args = tuple(int(a) for a in m["args"].split(",")) if m["args"] else ()
    return SqlType(name=name, args=args, in_schema=schema, array=m["array"].count("["))


def coerce_type(value: Any) -> Any:
    """For a ``type`` field: its text form is read with :func:`sql_type` (a bad one is reported
    after the field, ``column c: type 'int; drop table x' is not a type: ...``)."""
    if not isinstance(value, str):
        return value
    try:
        return sql_type(value)
    except DeclarationError as exc:
        message = str(exc)
        prefix = f"type {value!r} "
        why = (message.removeprefix(prefix) if message.startswith(prefix)
               else f"is not valid: {message.partition(': ')[2]}")
        raise ValueError(why) from None
