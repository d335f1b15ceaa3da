"""SQL fragments (CHECK and WHERE expressions, defaults, view queries) parsed with sqlglot.

A fragment is kept as the text the user declared (that text is what gets rendered, so the DBA
reads what was written); sqlglot is used to prove it parses as one expression or one query, to find
the columns and tables it names, and to read IN-lists. Regenerated sqlglot SQL is never rendered:
it differs from the input in ways PostgreSQL sometimes rejects (see FACTS.md).

The rules a declared fragment must follow live here, one function per place a fragment is
rendered: :func:`expression` (CHECK, DEFAULT, index keys and predicates, trigger WHEN),
:func:`query` (a view body), :func:`insert` (a table's backfill), :func:`argument` and
:func:`return_type` (a function's signature). Each refuses what the server would refuse or what
could end the statement it is pasted into, naming the object. Statement-sized fragments (a view
body, a backfill) may end in a ``--`` comment: the renderer asks :func:`ends_in_line_comment` and
puts the terminator on a line of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.errors import ParseError, TokenError

from orders_schema.declare.quoting import ident, literal

__all__ = [
    "DIALECT",
    "FragmentError",
    "ParseError",
    "TableRef",
    "TokenError",
    "argument",
    "column_name",
    "ends_in_line_comment",
    "exp",
    "expression",
    "in_list",
    "insert",
    "non_immutable_builtins",
    "normal",
    "one_of",
    "parse_expression",
    "parse_query",
    "query",
    "referenced_columns",
    "referenced_tables",
    "return_type",
    "sqlglot",
]

DIALECT = "postgres"


class FragmentError(ValueError):
    """A SQL fragment that does not parse, or that names something that does not exist."""


def _first_line(message: str) -> str:
    return " ".join(message.strip().splitlines()[0:1]) or "syntax error"


@lru_cache(maxsize=16384)
def _parse(text: str) -> exp.Expr | str:
    """The parse tree of ``text``, or the parser's complaint. Cached: declarations repeat fragments
    (every ``now()`` default, every ``amount > 0``), and objects re-read their own fragments.
    The trees are shared, so callers must only read them."""
    try:
        return sqlglot.parse_one(text, read=DIALECT)
    except (ParseError, TokenError) as exc:
        return _first_line(str(exc))


def parse_expression(text: str, what: str) -> exp.Expr:
    """Parse one scalar SQL expression, e.g. a CHECK body, an index predicate or a default."""
    if not text.strip():
        raise FragmentError(f"{what}: the expression is empty")
    tree = _parse(text)
    if isinstance(tree, str):
        raise FragmentError(f"{what}: {text!r} does not parse: {tree}")
    statement = isinstance(tree, (exp.Block, exp.Query, exp.Command, exp.DDL, exp.DML))
    if statement or (";" in text and ";" in _tokens(text)):
        raise FragmentError(f"{what}: {text!r} must be a single expression, not a statement")
    return tree


def parse_query(text: str, what: str) -> exp.Query:
    """Parse one SELECT query (a view body)."""
    tree = _parse(text)
    if isinstance(tree, str):
        raise FragmentError(f"{what}: the query does not parse: {tree}")
    if not isinstance(tree, exp.Query):
        raise FragmentError(f"{what}: the view body must be one SELECT query, got {tree.key.upper()}")
    return tree


def _tokens(text: str) -> list[str]:
    return [t.text for t in _lex(text)]


@lru_cache(maxsize=16384)
def _lex(text: str) -> tuple[Token, ...]:
    try:
        return tuple(sqlglot.tokenize(text, read=DIALECT))
    except TokenError:
        return ()


# ---------------------------------------------------------------------------------------------
# The rules of declared fragments, by the place they are rendered in
# ---------------------------------------------------------------------------------------------


def _has_line_comment(gap: str) -> bool:
    """True when ``gap`` (text between two tokens: blanks and comments) holds a ``--`` comment.

    Block comments nest in PostgreSQL; a ``--`` inside one is part of it."""
    depth, i = 0, 0
    while i < len(gap):
        if gap.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif depth and gap.startswith("*/", i):
            depth, i = depth - 1, i + 2
        elif not depth and gap.startswith("--", i):
            return True
        else:
            i += 1
    return False


def _line_comment_at(text: str, *, trailing_only: bool) -> bool:
    """Does ``text`` hold a ``--`` comment (anywhere, or after its last token)?"""
    tokens = _lex(text)
    ends = [-1, *(t.end for t in tokens)]
    starts = [*(t.start for t in tokens), len(text)]
    gaps = [text[e + 1 : s] for e, s in zip(ends, starts, strict=True)]
    return any(_has_line_comment(g) for g in (gaps[-1:] if trailing_only else gaps))


def expression(text: str, what: str, *, immutable: bool = False) -> exp.Expr:
    """A declared expression (CHECK, DEFAULT, index key or predicate, trigger WHEN), checked.

    Refused: anything but one expression; a ``--`` comment (it would swallow the closing
    parenthesis or terminator rendered after it); a subquery, an aggregate or a window function
    (PostgreSQL refuses them in all of these places); with ``immutable`` (index keys and
    predicates), a call of a built-in function that is never IMMUTABLE. Functions declared in the
    schema are checked by the schema, which knows their volatility.
    """
    tree = parse_expression(text, what)
    problem = _expression_problem(text, immutable)
    if problem is not None:
        raise FragmentError(f"{what}: {text!r} {problem}")
    return tree


@lru_cache(maxsize=16384)
def _expression_problem(text: str, immutable: bool) -> str | None:
    """What is wrong with a parsed expression, as the end of a sentence (cached: declarations
    repeat their fragments)."""
    tree = _parse(text)
    assert not isinstance(tree, str)
    if _line_comment_at(text, trailing_only=False):
        return "holds a -- comment, which would swallow what is rendered after it; use /* ... */"
    if tree.find(exp.Query, exp.Values, exp.Exists):
        return "holds a subquery, which PostgreSQL refuses here"
    if tree.find(exp.AggFunc, exp.Window):
        return "holds an aggregate or window function, which PostgreSQL refuses here"
    calls = non_immutable_builtins(text) if immutable else []
    if calls:
        return (
            f"calls {', '.join(calls)}, which PostgreSQL does not mark IMMUTABLE; index keys and "
            "predicates may only call IMMUTABLE functions"
        )
    return None


def condition(text: str, what: str) -> exp.Expr:
    """A row-security policy's ``USING`` or ``WITH CHECK``: one boolean expression; unlike a CHECK it
    may hold a subquery (``EXISTS (SELECT ...)``), which PostgreSQL runs with the caller's rights.
    Refused: anything but one expression, and a ``--`` comment (it would swallow the closing
    parenthesis rendered after it)."""
    tree = parse_expression(text, what)
    if _line_comment_at(text, trailing_only=False):
        raise FragmentError(f"{what}: {text!r} holds a -- comment, which would swallow what is rendered after it; "
                            "use /* ... */")
    return tree


def query(text: str, what: str) -> exp.Query:
    """A declared view body: one SELECT query. It may hold ``--`` comments, also on its last line:
    the renderer then puts the terminating ``;`` on a line of its own (:func:`ends_in_line_comment`)."""
    return parse_query(text, what)


def output_columns(text: str) -> tuple[str, ...] | None:
    """The names of a view body's output columns, or None when sqlglot cannot tell them all
    (``*``, an unnamed expression): PostgreSQL then decides."""
    tree = parse_query(text, "view")
    while isinstance(tree, exp.SetOperation):
        tree = tree.this
    if not isinstance(tree, exp.Select):
        return None
    names: list[str] = []
    for item in tree.expressions:
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
            return None
        ident = item.args.get("alias") if isinstance(item, exp.Alias) else item.this
        if not isinstance(item, (exp.Alias, exp.Column)) or not isinstance(ident, exp.Identifier):
            return None
        names.append(ident.name if ident.quoted else ident.name.lower())  # PostgreSQL folds unquoted names
    return tuple(names)


def ends_in_line_comment(text: str) -> bool:
    """Does a ``--`` comment follow the last token of ``text``? A terminator rendered right after
    it would be swallowed."""
    return _line_comment_at(text, trailing_only=True)


def insert(text: str, what: str) -> exp.Insert:
    """A declared backfill: exactly one INSERT statement (the caller checks its target). It may end
    in a ``--`` comment, like a view body."""
    if not text.strip():
        raise FragmentError(f"{what}: the statement is empty")
    tree = _parse(text)
    if isinstance(tree, str):
        raise FragmentError(f"{what}: the statement does not parse: {tree}")
    if not isinstance(tree, exp.Insert):
        raise FragmentError(f"{what}: must be one INSERT statement, got {tree.key.upper()}")
    if [t for t in _lex(text.strip().rstrip(";")) if t.token_type == TokenType.SEMICOLON]:
        raise FragmentError(f"{what}: must be one INSERT statement, not several")
    return tree


# Function signatures: a strict grammar of names and types (bare identifiers only).
_WORD = r"[A-Za-z_][A-Za-z0-9_]*"
_TYPE = (
    rf"(?:double\s+precision|character\s+varying|bit\s+varying|national\s+character(?:\s+varying)?"
    rf"|{_WORD}(?:\.{_WORD})?)"
    r"(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\s+with(?:out)?\s+time\s+zone)?(?:\s*\[\s*\d*\s*\])*"
)
_ARGUMENT = re.compile(rf"\s*(?:(?:IN|OUT|INOUT|VARIADIC)\s+)?(?:{_WORD}\s+)?{_TYPE}\s*", re.IGNORECASE)
_COLUMN_NAME = rf'(?:{_WORD}|"(?:[^"\x00-\x1f]|"")+")'
_RETURN_TYPE = re.compile(
    rf"\s*(?:(?:SETOF\s+)?{_TYPE}|TABLE\s*\(\s*{_COLUMN_NAME}\s+{_TYPE}(?:\s*,\s*{_COLUMN_NAME}\s+{_TYPE})*\s*\))\s*",
    re.IGNORECASE,
)
_UNNAMED = re.compile(rf"\s*(?:(?P<mode>IN|OUT|INOUT|VARIADIC)\s+)?(?P<type>{_TYPE})\s*", re.IGNORECASE)
_NAMED = re.compile(rf"\s*(?:(?P<mode>IN|OUT|INOUT|VARIADIC)\s+)?{_WORD}\s+(?P<type>{_TYPE})\s*", re.IGNORECASE)


def identity_types(arguments: tuple[str, ...]) -> list[str]:
    """The types of the input arguments (``IN``, ``INOUT``, ``VARIADIC``: what identifies a function),
    lower-cased with single spaces; an argument is read without a name when it can be (``double
    precision`` is a type, not ``double`` named ``precision``)."""
    types = []
    for argument in arguments:
        match = _UNNAMED.fullmatch(argument) or _NAMED.fullmatch(argument)
        if match is None:
            types.append(" ".join(argument.lower().split()))
        elif (match["mode"] or "IN").upper() != "OUT":
            types.append(" ".join(match["type"].lower().split()))
    return types
_TYPE_HELP = "(a type name, optionally schema-qualified, with (n[, m]) and [] suffixes)"


def _signature_part(text: str, grammar: re.Pattern[str], what: str, shape: str) -> str:
    if not grammar.fullmatch(text):
        raise FragmentError(f"{what} {text!r} is not of the form {shape}")
    for word in re.findall(_WORD, text):
        if len(word) > 63:
            raise FragmentError(
                f"{what} {text!r}: {word!r} is {len(word)} bytes long; PostgreSQL keeps only 63 bytes"
            )
    return text


def argument(text: str, what: str) -> str:
    """One declared function argument: ``[IN|OUT|INOUT|VARIADIC] [name] type``; nothing else
    (no DEFAULT, no quoted names)."""
    return _signature_part(text, _ARGUMENT, what, f"[IN|OUT|INOUT|VARIADIC] [name] type {_TYPE_HELP}")


def return_type(text: str, what: str) -> str:
    """A declared return type: ``[SETOF] type`` (``trigger``, ``uuid``, ``numeric(10, 2)``, ...) or
    ``TABLE(name type, ...)`` (names bare or double-quoted)."""
    return _signature_part(text, _RETURN_TYPE, what, f"[SETOF] type or TABLE(name type, ...) {_TYPE_HELP}")


# Volatility of the built-in functions, without a server.
NON_IMMUTABLE_FILE = "pg_non_immutable_functions.txt"
NON_IMMUTABLE_QUERY = """SELECT p.proname FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
GROUP BY p.proname HAVING pg_catalog.bool_and(p.provolatile <> 'i') ORDER BY 1"""
"""The names the shipped list holds, as one server sees them: pg_catalog functions none of whose
overloads is IMMUTABLE. The list is the union of PostgreSQL 15 and 18 (the test suite proves it
against the server it runs on)."""

SQL_VALUE_FUNCTIONS = frozenset(
    """current_date current_time current_timestamp localtime localtimestamp current_role current_user
    session_user user current_catalog current_schema system_user""".split()  # noqa: SIM905
)
"""Keywords that call a STABLE function without parentheses (``CURRENT_TIMESTAMP``)."""


@lru_cache(maxsize=1)
def non_immutable_names() -> frozenset[str]:
    """Built-in function names that are never IMMUTABLE (shipped data, read from pg_proc)."""
    text = resources.files(__package__).joinpath(NON_IMMUTABLE_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=16384)
def function_calls(text: str) -> tuple[tuple[str | None, str], ...]:
    """``(schema, name)`` of every function an expression calls, as written: a name followed by
    ``(`` that is not a type (after ``::`` or ``AS``); unquoted names folded to lower case."""
    tokens = _lex(text)
    calls: list[tuple[str | None, str]] = []
    for i, tok in enumerate(tokens):
        if i + 1 >= len(tokens) or tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", tok.text) and tok.token_type != TokenType.IDENTIFIER:
            continue
        before = tokens[i - 1].token_type if i else None
        if before in (TokenType.DCOLON, TokenType.ALIAS):
            continue
        schema = None
        if before == TokenType.DOT and i >= 2:
            schema = _word(tokens[i - 2])
        calls.append((schema, _word(tok)))
    return tuple(calls)


def _word(tok: Token) -> str:
    return tok.text if tok.token_type == TokenType.IDENTIFIER else tok.text.lower()


def non_immutable_builtins(text: str) -> list[str]:
    """Built-in functions (and SQL value functions) an expression calls that are never IMMUTABLE."""
    found = [
        f"{name}()" for schema, name in function_calls(text)
        if schema in (None, "pg_catalog") and name in non_immutable_names()
    ]
    tokens = _lex(text)
    for i, tok in enumerate(tokens):
        after_dot = i > 0 and tokens[i - 1].token_type == TokenType.DOT
        if tok.token_type != TokenType.IDENTIFIER and tok.text.lower() in SQL_VALUE_FUNCTIONS and not after_dot:
            found.append(tok.text.upper())
    return sorted(set(found))


def column_name(column: exp.Column) -> str:
    """The name PostgreSQL resolves: a quoted identifier as written, an unquoted one folded to lower case."""
    identifier = column.this
    quoted = isinstance(identifier, exp.Identifier) and bool(identifier.args.get("quoted"))
    return column.name if quoted else column.name.lower()


def referenced_columns(tree: exp.Expr) -> set[str]:
    """Names of the columns an expression reads (unqualified), as PostgreSQL resolves them."""
    return {column_name(c) for c in tree.find_all(exp.Column) if c.name and not isinstance(c.this, exp.Star)}


@dataclass(frozen=True)
class TableRef:
    schema: str | None
    name: str
    alias: str


def referenced_tables(tree: exp.Expr) -> list[TableRef]:
    """Tables a query reads, with the alias each is known by inside the query."""
    refs = []
    for table in tree.find_all(exp.Table):
        if not table.name:
            continue
        refs.append(TableRef(table.db or None, table.name, table.alias_or_name))
    return refs


def relations_read(body: str) -> set[str] | None:
    """Names of the relations a SQL function body's statements name; None when it does not parse."""
    try:
        trees = sqlglot.parse(body, read=DIALECT)
    except (ParseError, TokenError):
        return None
    return {t.name for tree in trees if tree is not None for t in tree.find_all(exp.Table) if t.name}


def called_functions(tree: exp.Expr) -> set[str]:
    """Lower-case names of the user functions an expression calls (``walltrack.uuid_v7()`` ->
    ``uuid_v7``); functions sqlglot knows as built-ins are not user functions."""
    return {f.name.lower() for f in tree.find_all(exp.Anonymous) if f.name}


def in_list(tree: exp.Expr) -> tuple[str, tuple[str, ...]] | None:
    """For ``col IN ('a', 'b')`` return ``("col", ("a", "b"))``; None for any other shape."""
    if not isinstance(tree, exp.In) or not isinstance(tree.this, exp.Column):
        return None
    values = []
    for item in tree.expressions:
        if (isinstance(item, exp.Literal) and item.is_string) or isinstance(item, exp.ByteString):
            values.append(item.this)  # sqlglot has already decoded '' and E'\\' escapes
        else:
            return None
    return column_name(tree.this), tuple(values)


@lru_cache(maxsize=65536)
def normal(text: str | None) -> str | None:
    """Canonical form of a SQL fragment: parsed and regenerated, comments and case folded.

    Used only to compare two declared fragments (``NOW()`` and ``now()`` are the same), never
    rendered."""
    if text is None:
        return None
    try:
        tree = sqlglot.parse_one(text, read=DIALECT)
    except (ParseError, TokenError):
        return " ".join(text.split())
    while isinstance(tree, exp.Paren):
        tree = tree.this
    return tree.sql(dialect=DIALECT, normalize=True, comments=False)


def one_of(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b', ...)``: the column and every value quoted by the one quoting helper."""
    return f"{ident(column)} IN ({', '.join(literal(v) for v in values)})"
