"""The function kind: identity (its name: the model allows no overloads), sameness (every
attribute; the body verbatim, as PostgreSQL stores it), changes (add, drop, replace), CREATE OR
REPLACE / DROP FUNCTION statements and their rendering, the ``pg_get_functiondef`` catalogue query
(overloads read by signature) and the comparison of stored forms.

The declaration, :class:`~orders_schema.declare.model.Function`, stays in the model (triggers and
index expressions refer to it). In a migration, functions are created before the tables and
columns (a default may call one) and dropped last; a changed signature or return type is dropped
and created, anything else replaced in place. When a whole schema is created, the functions a
default calls come before the tables and the others after them (``plan.create_statements``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from orders_schema.declare.quoting import dollar_quote, literal, qualified
from orders_schema.kinds.base import Declaration, Declared, Kind, PlanContext, Planned, Undeclared, uncommented
from orders_schema.live import catalog_text as ct
from orders_schema.live.difference import Difference, definition, pair, presence
from orders_schema.migrate.change import Change
from orders_schema.migrate.statement import Statement, renders

if TYPE_CHECKING:  # the kinds need no model at run time, so the model may import them
    from orders_schema.declare import model as m

# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddFunction(Change):
    function: m.Function

    def reverse(self) -> Change:
        return DropFunction(self.function)


@dataclass(frozen=True)
class DropFunction(Change):
    function: m.Function

    def reverse(self) -> Change:
        return AddFunction(self.function)


@dataclass(frozen=True)
class ReplaceFunction(Change):
    old: m.Function
    new: m.Function

    def reverse(self) -> Change:
        return ReplaceFunction(self.new, self.old)


# -- statements and their rendering ----------------------------------------------------------


@dataclass(frozen=True)
class CreateFunction(Statement):
    schema: str
    function: m.Function
    or_replace: bool = True


@dataclass(frozen=True)
class DropFunctionStatement(Statement):
    schema: str
    function: m.Function
    if_exists: bool = True


def setting_value_sql(value: str) -> str:
    return ", ".join(literal(part.strip()) for part in value.split(","))


@renders(CreateFunction)
def create_function_sql(s: CreateFunction) -> str:
    fn = s.function
    what = "PROCEDURE" if fn.procedure else "FUNCTION"
    head = f"CREATE OR REPLACE {what}" if s.or_replace else f"CREATE {what}"
    args = ", ".join(fn.arguments)
    returns = "" if fn.procedure else f"RETURNS {_upper_outside_quotes(fn.returns)} "
    lines = [
        f"{head} {qualified(s.schema, fn.name)}({args})",
        f"{returns}AS {dollar_quote(fn.body)} LANGUAGE {fn.language}",
    ]
    extras: list[str] = []
    if fn.volatility != "VOLATILE":
        extras.append(fn.volatility)
    if fn.strict:
        extras.append("STRICT")
    if fn.security_definer:
        extras.append("SECURITY DEFINER")
    if fn.leakproof:
        extras.append("LEAKPROOF")
    if fn.parallel != "UNSAFE":
        extras.append(f"PARALLEL {fn.parallel}")
    if fn.cost is not None:
        extras.append(f"COST {fn.cost}")
    extras += [f"SET {key} = {setting_value_sql(value)}" for key, value in fn.settings]
    return "\n".join(lines) + "".join(f"\n{e}" for e in extras) + ";"


def _upper_outside_quotes(text: str) -> str:
    """The return type upper-cased as it always was (``RETURNS TRIGGER``), but for double-quoted
    names (``TABLE("Id" integer)``), which keep their case."""
    return "".join(part if part.startswith('"') else part.upper() for part in re.split(r'("(?:[^"]|"")*")', text))


@renders(DropFunctionStatement)
def drop_function_sql(s: DropFunctionStatement) -> str:
    fn = s.function
    exists = " IF EXISTS" if s.if_exists else ""
    what = "PROCEDURE" if fn.procedure else "FUNCTION"
    return f"DROP {what}{exists} {qualified(s.schema, fn.name)}({', '.join(fn.arguments)});"


# -- stored form -----------------------------------------------------------------------------

_VOLATILITY: dict[str, Literal["IMMUTABLE", "STABLE", "VOLATILE"]] = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}


@dataclass(frozen=True)
class FunctionInfo:
    """A function or procedure, keyed by :attr:`signature` (overloads are distinct objects)."""

    name: str
    argument_types: tuple[str, ...]
    """The input argument types: with the name, what identifies a function in PostgreSQL."""
    arguments: str
    """``pg_get_function_arguments(oid)``, e.g. ``a integer, b text DEFAULT 'x'::text``."""
    returns: str | None
    """``pg_get_function_result(oid)``, e.g. ``trigger``, ``SETOF text``; None for a procedure."""
    language: str
    source: str
    """``prosrc``: the body exactly as written."""
    config: tuple[str, ...]
    """``proconfig``, e.g. ``("search_path=pg_catalog, walltrack",)``."""
    volatility: Literal["IMMUTABLE", "STABLE", "VOLATILE"]
    security_definer: bool
    definition: str
    """``pg_get_functiondef(oid)``: the whole CREATE OR REPLACE statement."""

    @property
    def signature(self) -> str:
        """``name(type, ...)``, e.g. ``add(integer, integer)``."""
        return f"{self.name}({', '.join(self.argument_types)})"


QUERY = """
SELECT p.proname AS name,
       ARRAY(SELECT format_type(u.t, NULL)
             FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY u.i) AS argument_types,
       pg_get_function_arguments(p.oid) AS arguments, pg_get_function_result(p.oid) AS returns,
       l.lanname AS language, p.prosrc AS source, coalesce(p.proconfig, '{}') AS config,
       p.provolatile::text AS volatility, p.prosecdef AS security_definer,
       pg_get_functiondef(p.oid) AS definition
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)"""


def _function_changes(declared: FunctionInfo, live: FunctionInfo) -> list[str]:
    fields = (
        ("arguments", "arguments"), ("returns", "return type"), ("language", "language"),
        ("source", "body"), ("config", "settings"), ("volatility", "volatility"),
        ("security_definer", "security definer"),
    )
    return [label for attr, label in fields if getattr(declared, attr) != getattr(live, attr)]


# -- the kind --------------------------------------------------------------------------------


class FunctionKind(Kind["m.Function", FunctionInfo]):
    name = "function"
    rank = 30
    catalog_field = "functions"
    query = QUERY
    create_stage = "own"

    def declared(self, schema: m.Schema) -> dict[Hashable, Declared[m.Function]]:
        """By signature: overloads are distinct functions."""
        return {fn.signature: Declared(None, fn) for fn in schema.functions}

    def same(self, a: m.Function, b: m.Function) -> bool:
        return bool(uncommented(a) == uncommented(b))

    def diff(self, old: m.Schema, new: m.Schema) -> list[Change]:
        changes: list[Change] = []
        for _, a, b in self.matched(old, new):
            if a is None and b is not None:
                changes.append(AddFunction(b.obj))
            elif b is None and a is not None:
                changes.append(DropFunction(a.obj))
            elif a is not None and b is not None and not self.same(a.obj, b.obj):
                changes.append(ReplaceFunction(a.obj, b.obj))
        return changes

    def create(self, schema: str, key: Hashable, item: Declared[m.Function]) -> list[Statement]:
        return [CreateFunction(schema, item.obj, or_replace=False)]

    def plan(self, ctx: PlanContext) -> Planned:
        s = ctx.schema
        out = Planned()
        out.early += [CreateFunction(s, c.function, or_replace=True) for c in ctx.of(AddFunction)]
        for rf in ctx.of(ReplaceFunction):
            if (rf.old.arguments != rf.new.arguments or rf.old.returns != rf.new.returns
                    or rf.old.procedure != rf.new.procedure):
                out.early += [DropFunctionStatement(s, rf.old), CreateFunction(s, rf.new, or_replace=True)]
            else:
                out.early.append(CreateFunction(s, rf.new, or_replace=True))
        out.last += [DropFunctionStatement(s, c.function) for c in ctx.of(DropFunction)]
        return out

    def stored(self, rows: list[dict[str, Any]]) -> tuple[FunctionInfo, ...]:
        return tuple(
            FunctionInfo(**{**r, "argument_types": tuple(r["argument_types"]), "config": tuple(r["config"]),
                            "volatility": _VOLATILITY[r["volatility"]]})
            for r in rows
        )

    def compare(
        self, schema: str, declared: Sequence[FunctionInfo], live: Sequence[FunctionInfo]
    ) -> Iterator[Difference]:
        for _, d, x in pair({f.signature: f for f in declared}, {f.signature: f for f in live}):
            fn = d or x
            where = f"{qualified(schema, fn.name)}({', '.join(fn.argument_types)})" if fn else ""
            if d is None or x is None:
                kind = "procedure" if fn and fn.returns is None else "function"
                yield presence(kind, where, definition(d), definition(x))
            elif (changed := _function_changes(d, x)) or d.definition != x.definition:
                what = f"definition differs ({', '.join(changed or ['other attributes'])})"
                yield Difference("function", where, what, d.definition, x.definition)

    def declare(self, schema: m.Schema, stored: Sequence[FunctionInfo]) -> Declaration:
        """Functions and procedures the model can declare; overloads (the first one is declared), other
        languages, argument defaults, ``RETURNS TABLE`` and STRICT / LEAKPROOF / PARALLEL / COST
        are reported."""
        from orders_schema.declare.model import DeclarationError

        functions: list[m.Function] = []
        undeclared: list[Undeclared] = []
        for info in stored:
            try:
                fn = declared_function(info)
            except DeclarationError as exc:
                fn = str(exc)
            if isinstance(fn, str):
                undeclared.append(Undeclared(self.name, info.signature, fn))
            else:
                functions.append(fn)
        return Declaration(schema.model_copy(update={"functions": (*schema.functions, *functions)}),
                           tuple(undeclared))


_ATTRIBUTES = re.compile(
    r"^ (?P<line>(?:IMMUTABLE|STABLE|VOLATILE|STRICT|LEAKPROOF|SECURITY DEFINER|PARALLEL \w+|COST \d+|[A-Z]+)"
    r"(?: (?:IMMUTABLE|STABLE|VOLATILE|STRICT|LEAKPROOF|SECURITY DEFINER|PARALLEL \w+|COST \d+|[A-Z]+))*)$",
    re.MULTILINE,
)
_DECLARABLE = re.compile(r"IMMUTABLE|STABLE|VOLATILE|STRICT|LEAKPROOF|SECURITY DEFINER|PARALLEL (\w+)|COST (\d+)")


def declared_function(info: FunctionInfo) -> m.Function | str:
    """One stored function as the model declares it, or why it cannot be (a sentence)."""
    from orders_schema.declare.model import Function

    procedure = info.definition.startswith("CREATE OR REPLACE PROCEDURE")
    if info.language not in ("plpgsql", "sql"):
        return f"language {info.language} is not declarable yet"
    head = info.definition.split("\nAS ", 1)[0]
    extras: dict[str, Any] = {}
    for line in _ATTRIBUTES.finditer(head):
        rest = _DECLARABLE.sub("", line["line"]).strip()
        if rest:
            return f"{rest} is not declarable yet"
        for attribute in _DECLARABLE.finditer(line["line"]):
            if attribute[0] in ("STRICT", "LEAKPROOF"):
                extras[attribute[0].lower()] = True
            elif attribute[1]:
                extras["parallel"] = attribute[1]
            elif attribute[2] and int(attribute[2]) != 100:
                extras["cost"] = int(attribute[2])
    settings = tuple(tuple(entry.split("=", 1)) for entry in info.config)
    arguments = tuple(ct.split_top(info.arguments))
    if procedure:  # a procedure's arguments read ``IN a integer``: IN is the default mode
        extras["procedure"] = True
        arguments = tuple(a.removeprefix("IN ") for a in arguments)
    else:
        extras.update(returns=info.returns, volatility=info.volatility)
    return Function(name=info.name, body=info.source, language=info.language, arguments=arguments,
                    security_definer=info.security_definer, settings=settings, **extras)


FUNCTION = FunctionKind()
