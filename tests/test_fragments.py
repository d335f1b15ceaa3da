"""orders_schema.declare.fragments, the helpers the rules (tests/test_fragments_rules.py) do not
cover: the normal form two declared fragments compare by, and the IN-list a CHECK is built from."""

from __future__ import annotations

import pytest

from orders_schema.declare import fragments

# (a, b, same?): declared spellings the diff must treat as one fragment, and near misses it must not.
NORMAL: list[tuple[str, str, bool]] = [
    ("NOW()", "now()", True),
    ("status IN ('a', 'b')", "(status in ('a','b'))", True),
    ("select  id\nfrom s.t -- note", "SELECT id FROM s.t", True),
    ("amount > 0", "((amount > 0))", True),
    ("status IN ('a', 'b')", "status IN ('b', 'a')", False),
    ("'Pending'", "'pending'", False),
    ("amount > 0", "amount >= 0", False),
]


@pytest.mark.parametrize(("a", "b", "same"), NORMAL, ids=[f"{a!r}~{b!r}" for a, b, _ in NORMAL])
def test_normal(a: str, b: str, same: bool) -> None:
    assert (fragments.normal(a) == fragments.normal(b)) is same


def test_normal_of_nothing_and_of_what_does_not_parse() -> None:
    assert fragments.normal(None) is None
    assert fragments.normal("not ) valid   sql") == "not ) valid sql"


ONE_OF: list[tuple[str, tuple[str, ...], str]] = [
    ("status", ("a", "b"), "status IN ('a', 'b')"),
    ("select", ("it's",), "\"select\" IN ('it''s')"),
    ("Side", ("back\\slash",), "\"Side\" IN (E'back\\\\slash')"),
]


@pytest.mark.parametrize(("column", "values", "want"), ONE_OF, ids=[c[0] for c in ONE_OF])
def test_one_of_quotes_the_column_and_every_value(column: str, values: tuple[str, ...], want: str) -> None:
    text = fragments.one_of(column, values)
    assert text == want
    assert fragments.in_list(fragments.parse_expression(text, "check")) == (column, values)
