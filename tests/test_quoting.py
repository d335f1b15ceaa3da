"""The one quoting helper agrees with PostgreSQL's own quote_ident / quote_literal."""

from __future__ import annotations

import psycopg
import pytest

from orders_schema.declare import model as m
from orders_schema.declare.quoting import comment, dollar_quote, ident, identifier_problem, literal, qualified

HOSTILE_NAMES = [
    "orders", "Orders", "order", "user", "select", "with space", 'quo"te', "semi;colon", "ünïcødé", "日本",
    "a$b", "_x", "1abc", "drop table x; --", "back\\slash", "x" * 63, "é" * 31,
]
HOSTILE_VALUES = ["plain", "it's", "back\\slash", "both\\'s", "", " ", "ünïcødé", "new\nline", "$$", "%s", "%(x)s"]


def test_every_server_keyword_is_quoted_like_quote_ident(orders_db: psycopg.Connection) -> None:
    words = [w for (w,) in orders_db.execute("SELECT word FROM pg_get_keywords()").fetchall()]
    assert len(words) > 400
    rows = orders_db.execute("SELECT w, quote_ident(w) FROM unnest(%s::text[]) AS w", [words]).fetchall()
    mismatched = {w: (ident(w), q) for w, q in rows if ident(w) != q}
    assert mismatched == {}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_quoted_like_quote_ident(orders_db: psycopg.Connection, name: str) -> None:
    row = orders_db.execute("SELECT quote_ident(%s)", [name]).fetchone()
    assert row is not None and ident(name) == row[0]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_literals_read_back_as_the_same_value(orders_db: psycopg.Connection, value: str) -> None:
    row = orders_db.execute("SELECT " + literal(value)).fetchone()  # type: ignore[arg-type]
    assert row == (value,)


@pytest.mark.parametrize("standard_strings", ["on", "off"])
def test_backslash_literals_mean_the_same_whatever_standard_conforming_strings(
    orders_db: psycopg.Connection, standard_strings: str
) -> None:
    orders_db.execute("SELECT set_config('standard_conforming_strings', %s, true)", [standard_strings])
    row = orders_db.execute("SELECT " + literal("a\\b'c")).fetchone()  # type: ignore[arg-type]
    assert row == ("a\\b'c",)


def test_scalar_literals() -> None:
    assert [literal(None), literal(True), literal(False), literal(42)] == ["NULL", "TRUE", "FALSE", "42"]
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")


DOLLAR_BODIES = ["x", "a $$ b", "$$ $body$", "ends in $", "ends in $body", "$", "$body$body2$", "$$; DROP TABLE x; $$"]


@pytest.mark.parametrize("body", DOLLAR_BODIES)
def test_dollar_quoted_bodies_read_back_unchanged(orders_db: psycopg.Connection, body: str) -> None:
    """No body can end its dollar quote early, not even one ending in ``$`` (``$$x$$$`` closes at x)."""
    row = orders_db.execute("SELECT " + dollar_quote(body)).fetchone()  # type: ignore[arg-type]
    assert row == (body,)


def test_comment_lines_cannot_be_ended_by_their_text() -> None:
    assert comment("Primary lookups") == "-- Primary lookups"
    assert comment("") == "--"
    for text in ["a\nDROP TABLE x;", "a\rDROP TABLE x;", "a\x00", "a */ b", "a /* b", "a\u2028b"]:
        with pytest.raises(ValueError, match="comment"):
            comment(text)


def test_names_with_control_characters_are_refused() -> None:
    assert identifier_problem("ok name; \"quoted\"") is None
    assert identifier_problem("a\nb") is not None and "control character" in str(identifier_problem("a\tb"))
    assert identifier_problem("") == "is empty"
    assert "64 bytes" in str(identifier_problem("x" * 64))


def test_qualified_and_dollar_quote() -> None:
    assert qualified("walltrack", "Order") == 'walltrack."Order"'
    assert dollar_quote("x") == "$$x$$"
    assert dollar_quote("a $$ b") == "$body$a $$ b$body$"
    assert dollar_quote("$$ $body$") == "$body2$$$ $body$$body2$"


def test_hostile_schema_applies_and_is_stored_exactly_as_declared(orders_db: psycopg.Connection) -> None:
    """Names and IN-list literals with quotes, backslashes, spaces, unicode: rendered, applied, read back."""
    from orders_schema.migrate import plan
    from orders_schema.migrate.render import RENDERER

    values = ["it's", "back\\slash", "semi;colon", "ünï", 'dq"x']
    table = m.Table(
        name='Tab "le"; x',
        columns=(
            m.Column(name="select", type=m.TEXT, nullable=False, default=m.lit("it's\\")),
            m.Column(name="Mixed Case", type=m.TEXT),
        ),
        checks=(m.Check.one_of("chk ünï'", "select", [*values, "it's\\"]),),
        indexes=(m.Index(name='idx "x"', columns=('"Mixed Case" DESC',), where="\"select\" <> 'it''s'"),),
    )
    schema = m.Schema(name="Hostile Schema", tables=(table,))
    orders_db.execute(RENDERER.script(plan.create_statements(schema)))  # type: ignore[arg-type]
    names = orders_db.execute(
        "SELECT c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 WHERE n.nspname = %s AND c.relkind = 'r' "
            "ORDER BY a.attnum",
        ["Hostile Schema"],
    ).fetchall()
    assert names == [('Tab "le"; x', "select"), ('Tab "le"; x', "Mixed Case")]
    idx = orders_db.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'i'", ["Hostile Schema"]
    ).fetchall()
    assert idx == [('idx "x"',)]
    target = qualified("Hostile Schema", 'Tab "le"; x')
    for value in [*values, "it's\\"]:
        orders_db.execute(f"INSERT INTO {target} (\"select\") VALUES (%s)", [value])  # type: ignore[arg-type]
    stored = orders_db.execute(f'SELECT DISTINCT "select" FROM {target} ORDER BY 1').fetchall()  # type: ignore[arg-type]
    assert sorted(v for (v,) in stored) == sorted([*values, "it's\\"])
    default = orders_db.execute(f"INSERT INTO {target} DEFAULT VALUES RETURNING \"select\"").fetchone()  # type: ignore[arg-type]
    assert default == ("it's\\",)
    with pytest.raises(psycopg.errors.CheckViolation), orders_db.transaction():
        orders_db.execute(f"INSERT INTO {target} (\"select\") VALUES ('its')")  # type: ignore[arg-type]
