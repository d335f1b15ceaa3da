"""Bad declarations fail where they are written, with an error that names the object."""

from __future__ import annotations

import pydantic
import pytest

from orders_schema.declare import model as m
from orders_schema.migrate import plan
from orders_schema.walltrack import HEAD, PROJECT

ID = m.Column(name="id", type=m.UUID, nullable=False)


def table(**kw: object) -> m.Table:
    kw.setdefault("columns", (ID, m.Column(name="status", type=m.TEXT)))
    return m.Table(name="orders", **kw)  # type: ignore[arg-type]


def error_of(make: object) -> str:
    with pytest.raises((pydantic.ValidationError, m.DeclarationError)) as info:
        make()  # type: ignore[operator]
    return str(info.value)


BAD: list[tuple[str, object, list[str]]] = [
    ("unknown column in an index",
     lambda: table(indexes=(m.Index(name="idx_x", columns=("nope",)),)), ["index idx_x", "orders", "nope"]),
    ("unknown column in an index predicate",
     lambda: table(indexes=(m.Index(name="idx_x", columns=("id",), where="nope IS NULL"),)), ["idx_x", "nope"]),
    ("unknown column in a CHECK",
     lambda: table(checks=(m.Check(name="chk", expression="amount > 0"),)), ["check chk", "amount"]),
    ("CHECK that does not parse",
     lambda: m.Check(name="chk_bad", expression="amount >"), ["check chk_bad", "does not parse"]),
    ("CHECK that is a statement",
     lambda: m.Check(name="chk_stmt", expression="true); DROP TABLE x; --"), ["chk_stmt"]),
    ("default that does not parse",
     lambda: m.Column(name="c", type=m.TEXT, default="'unterminated"), ["default of column c"]),
    ("duplicate column names",
     lambda: table(columns=(ID, ID)), ["table orders", "duplicate column", "id"]),
    ("duplicate constraint names",
     lambda: table(checks=(m.Check(name="c", expression="id IS NOT NULL"), m.Check(name="c", expression="true"))),
     ["table orders", "duplicate constraint", "'c'"]),
    ("name over 63 bytes",
     lambda: m.Column(name="x" * 64, type=m.TEXT), ["column", "64 bytes", "63"]),
    ("unicode name over 63 bytes",
     lambda: m.Index(name="é" * 32, columns=("id",)), ["index", "64 bytes"]),
    ("empty name", lambda: m.Column(name="", type=m.TEXT), ["empty"]),
    ("varchar without length", lambda: m.SqlType(name="varchar"), ["varchar"]),
    ("numeric scale above precision", lambda: m.numeric(4, 6), ["precision"]),
    ("a type that is not a type name", lambda: m.Column(name="c", type="int; drop table x"), ["int; drop table x"]),
    ("a serial pseudo-type", lambda: m.sql_type("bigserial"), ["bigserial", "identity"]),
    ("trigger calling an unknown function",
     lambda: m.Schema(name="s", tables=(table(triggers=(m.Trigger(name="trg", timing="BEFORE", events=("UPDATE",),
                                                                    function="nope"),)),)),
     ["trigger trg", "nope"]),
    ("duplicate relation names across tables and indexes",
     lambda: m.Schema(name="s", tables=(table(indexes=(m.Index(name="orders", columns=("id",)),)),)),
     ["duplicate relation", "orders"]),
    ("view reading an unknown column",
     lambda: m.Schema(name="s", tables=(table(),), views=(m.View(name="v", query="SELECT o.nope FROM s.orders o"),)),
     ["view v", "nope"]),
    ("view that is not a query", lambda: m.View(name="v", query="DELETE FROM x"), ["view v", "SELECT"]),
    ("foreign key to an unknown table",
     lambda: m.Schema(name="s", tables=(table(foreign_keys=(m.ForeignKey(name="fk", columns=("id",), ref_table="nope",
                                                                            ref_columns=("id",)),)),)),
     ["foreign key fk", "nope"]),
    ("trigger WHEN on a statement trigger",
     lambda: m.Trigger(name="trg", timing="AFTER", events=("UPDATE",), function="f", for_each="STATEMENT",
                       when="true"), ["trigger trg", "WHEN"]),
    ("WHEN reading OLD on an INSERT trigger",
     lambda: m.Trigger(name="trg", timing="AFTER", events=("INSERT",), function="f", when="OLD.a <> 1"),
     ["trigger trg", "OLD"]),
    ("same name for both transition tables",
     lambda: m.Trigger(name="trg", timing="AFTER", events=("UPDATE",), function="f", for_each="STATEMENT",
                       referencing_old="t", referencing_new="t"), ["trigger trg", "different names"]),
    ("example row naming an unknown column",
     lambda: table(checks=(m.Check(name="chk", expression="id IS NOT NULL", accepts=({"amount": 1},)),)),
     ["chk", "amount"]),
]


@pytest.mark.parametrize(("case", "make", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_declaration_names_the_object(case: str, make: object, words: list[str]) -> None:
    message = error_of(make)
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"


def test_declared_objects_are_immutable_and_hashable() -> None:
    orders = HEAD.table("orders")
    with pytest.raises(pydantic.ValidationError):
        orders.name = "x"  # type: ignore[misc]
    assert hash(orders) == hash(HEAD.table("orders"))


def test_snapshot_round_trips_through_json() -> None:
    assert m.Schema.model_validate_json(HEAD.model_dump_json()) == HEAD


def test_in_list_check_exposes_its_values() -> None:
    check = m.Check.one_of("c", "status", ["a", "it's", "back\\slash"])
    assert check.allowed_values() == ("status", ("a", "it's", "back\\slash"))


def test_index_keys_parse_order_and_nulls() -> None:
    key = m.IndexColumn.parse("created_at DESC NULLS LAST")
    assert (key.expression, key.descending, key.nulls, key.column) == ("created_at", True, "LAST", "created_at")


def test_a_version_must_list_every_object_it_adds() -> None:
    v9 = PROJECT.versions[1]
    phases = (v9.phases[0].model_copy(update={"items": ()}), *v9.phases[1:])
    broken = v9.model_copy(update={"phases": phases})
    with pytest.raises(plan.PlanError, match=r"table orders.*listed in none of its phases"):
        plan.baseline_statements(broken, PROJECT.versions[0].state)


def test_a_version_cannot_change_an_object_it_inherits() -> None:
    v1, v9 = PROJECT.versions
    positions = v9.state.table("positions")
    changed = positions.model_copy(update={"columns": positions.columns[:-1]})
    schema = v9.state.model_copy(update={"tables": (changed, *v9.state.tables[1:])})
    with pytest.raises(plan.PlanError, match="table positions changed"):
        plan.baseline_statements(v9.model_copy(update={"state": schema}), v1.state)


def test_replace_validates_like_a_new_declaration() -> None:
    orders = HEAD.table("orders")
    with pytest.raises(m.DeclarationError, match=r"check x on table orders: unknown column\(s\) \['nope'\]"):
        orders.replace(checks=(m.Check(name="x", expression="nope > 0"),))
    with pytest.raises(m.DeclarationError, match="no field"):
        orders.replace(colour="blue")
    assert orders.replace(name="orders_copy").name == "orders_copy"


def test_fragments_resolve_names_as_postgresql_does() -> None:
    """Unquoted identifiers in SQL fragments fold to lower case; quoted ones keep their case."""
    lower = m.Column(name="amount", type=m.INTEGER)
    mixed = m.Column(name="Amount", type=m.INTEGER)
    table(columns=(ID, lower), checks=(m.Check(name="c", expression="Amount > 0"),))
    table(columns=(ID, mixed), checks=(m.Check(name="c", expression='"Amount" > 0'),))
    with pytest.raises(m.DeclarationError, match=r"unknown column\(s\) \['amount'\]"):
        table(columns=(ID, mixed), checks=(m.Check(name="c", expression="Amount > 0"),))
