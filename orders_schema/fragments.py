"""SQL fragments (CHECK and WHERE expressions, defaults, view queries) parsed with sqlglot.

A fragment is kept as the text the user declared (that text is what gets rendered, so the DBA
reads what was written); sqlglot is used to prove it parses as one expression or one query, to find
the columns and tables it names, and to read IN-lists. Regenerated sqlglot SQL is never rendered:
it differs from the input in ways PostgreSQL sometimes rejects (see FACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

__all__ = [
    "DIALECT",
    "FragmentError",
    "ParseError",
    "TableRef",
    "TokenError",
    "column_name",
    "exp",
    "in_list",
    "parse_expression",
    "parse_query",
    "referenced_columns",
    "referenced_tables",
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
    try:
        return [t.text for t in sqlglot.tokenize(text, read=DIALECT)]
    except TokenError:
        return []


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
