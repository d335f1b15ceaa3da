"""The one place where identifiers and literals become SQL text.

Every name and every value that reaches rendered SQL goes through :func:`ident`, :func:`qualified`
or :func:`literal`, every function body through :func:`dollar_quote` and every comment line
through :func:`comment`. Nothing else in the package concatenates user text into SQL.

The rules are PostgreSQL's own (``quote_ident`` / ``quote_literal``): an identifier stays bare only
when it is lower case ASCII, starts with a letter or underscore, holds only letters, digits and
``_``, and is not a keyword PostgreSQL reserves in any position. The test suite compares these
functions with the server's ``quote_ident()`` and ``quote_literal()`` on every keyword the server
knows (``pg_get_keywords()``) and on hostile names.
"""

from __future__ import annotations

import re
from decimal import Decimal

from psycopg import sql

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated by the server."""

# Keywords whose category is not "unreserved" in PostgreSQL 15 to 18 (pg_get_keywords() where
# catcode <> 'U'): a bare identifier spelled like one of these must be quoted.
NON_UNRESERVED_KEYWORDS = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
    boolean both case cast char character check coalesce collate collation column concurrently
    constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user dec decimal default deferrable desc distinct do
    else end except exists extract false fetch float for foreign freeze from full grant greatest
    group grouping having ilike in initially inner inout int integer intersect interval into is
    isnull join json json_array json_arrayagg json_exists json_object json_objectagg json_query
    json_scalar json_serialize json_table json_value lateral leading least left like limit
    localtime localtimestamp merge_action national natural nchar none normalize not notnull null
    nullif numeric offset on only or order out outer overlaps overlay placing position precision
    primary real references returning right row select session_user setof similar smallint some
    substring symmetric system_user table tablesample then time timestamp to trailing treat trim
    true union unique user using values varchar variadic verbose when where window with
    xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot
    xmlserialize xmltable
    """.split()  # noqa: SIM905
)

_BARE = re.compile(r"[a-z_][a-z0-9_]*\Z")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
"""Unicode's control characters (category Cc): line breaks, tab, NUL, ..."""
_LINE_BREAK = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters but tab, and Unicode's line and paragraph separators."""


class IdentifierError(ValueError):
    """A name PostgreSQL cannot hold as declared."""


def identifier_problem(name: str) -> str | None:
    """What keeps PostgreSQL from storing ``name`` unchanged, as the end of a sentence; None if nothing.

    The rules: not empty, no NUL or other control character (PostgreSQL refuses NUL and would
    keep a line break inside a name, where no reader sees it), at most 63 bytes in UTF-8
    (PostgreSQL silently truncates longer names).
    """
    if not name:
        return "is empty"
    if "\x00" in name:
        return "contains a NUL character"
    if _CONTROL.search(name):
        return "contains a control character (a line break, tab, ...)"
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        return (
            f"is {size} bytes long; PostgreSQL keeps only {MAX_IDENTIFIER_BYTES} bytes and would "
            "silently truncate it"
        )
    return None


def check_identifier(name: str, what: str) -> str:
    """Return ``name`` if PostgreSQL can store it unchanged, else raise :class:`IdentifierError`.

    ``what`` names the object for the message, e.g. ``"column walltrack.orders.status"``.
    """
    problem = identifier_problem(name)
    if problem is not None:
        raise IdentifierError(f"{what}: name {name!r} {problem}")
    return name


def ident(name: str) -> str:
    """Quote one identifier the way PostgreSQL's ``quote_ident`` does."""
    if _BARE.match(name) and name not in NON_UNRESERVED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    """Quote a dotted name: ``qualified("walltrack", "orders")`` -> ``walltrack.orders``."""
    return ".".join(ident(p) for p in parts)


def literal(value: str | int | Decimal | bool | None) -> str:
    """Render a Python value as a SQL literal, like PostgreSQL's ``quote_nullable``.

    Strings holding a backslash use the ``E'...'`` form so that they mean the same whatever
    ``standard_conforming_strings`` is set to.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if "\x00" in value:
        raise ValueError(f"literal {value!r}: PostgreSQL text cannot hold a NUL character")
    body = value.replace("'", "''")
    if "\\" in body:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"


def dollar_quote(body: str, tag: str = "") -> str:
    """Wrap a function body in dollar quotes that the body cannot end.

    The closing delimiter must first occur where the body ends: a tag is chosen so that it occurs
    neither inside the body nor across its end (a body ending in ``$`` would close ``$$`` early).
    """
    candidate = tag
    n = 0
    while (body + f"${candidate}$").find(f"${candidate}$") != len(body):
        n += 1
        candidate = f"{tag or 'body'}{n if n > 1 else ''}"
    return f"${candidate}${body}${candidate}$"


def comment_problem(text: str) -> str | None:
    """What keeps ``text`` from being one SQL comment line that no reader can end early; None if nothing.

    A ``--`` comment ends at a line break (``\\n`` or ``\\r`` for PostgreSQL, more for other
    readers), so the text must hold no control character; ``/*`` and ``*/`` are refused too, so the
    text stays a comment whatever tool re-wraps it.
    """
    if _LINE_BREAK.search(text):
        return "must be one line (no line break or other control character)"
    if "*/" in text or "/*" in text:
        return "cannot hold /* or */"
    return None


def comment(text: str) -> str:
    """One ``-- text`` comment line; raise ValueError for text that could end the comment."""
    problem = comment_problem(text)
    if problem is not None:
        raise ValueError(f"comment {text!r} {problem}")
    return f"-- {text}".rstrip()


def q(*parts: str) -> str:
    """A name quoted by :func:`qualified`, for statement text with ``%s`` placeholders.

    psycopg reads ``%`` as a placeholder, so a ``%`` inside a (quoted) name is doubled.
    """
    return qualified(*parts).replace("%", "%%")


def query(text: str) -> sql.SQL:
    """A statement assembled from names quoted by :func:`q`; values go as bound parameters."""
    return sql.SQL(text)
