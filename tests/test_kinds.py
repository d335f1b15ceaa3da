"""The kinds registry: every kind is complete (identity, changes that reverse, statements that
render, a catalogue query with a bound schema, a Catalog field), without a database."""

from __future__ import annotations

import dataclasses
import re

import pytest

from orders_schema.declare import model as m
from orders_schema.kinds import KINDS, Kind
from orders_schema.live.inspect import Catalog
from orders_schema.migrate import diff as d
from orders_schema.migrate.render import RENDERER
from orders_schema.migrate.statement import RENDERERS

T = m.Table(name="t", columns=(m.Column(name="id", type=m.INTEGER, comment="the id"),
                               m.Column(name="n", type=m.INTEGER, nullable=False, default="0")), comment="a table",
            indexes=(m.Index(name="i", columns=("id",)),), checks=(m.Check(name="c", expression="id > 0"),),
            triggers=(m.Trigger(name="g", timing="BEFORE", events=("UPDATE",), function="touch"),),
            row_security="forced", policies=(m.Policy(name="p", roles=("app",), using="id > 0"),), owner="app")
TOUCH = m.Function(name="touch", body="BEGIN RETURN NEW; END", returns="trigger", language="plpgsql")
SCHEMA = m.Schema(name="s", tables=(T,), views=(m.View(name="v", query="SELECT id FROM s.t"),),
                  functions=(m.Function(name="f", body="SELECT 1", returns="integer", language="sql"), TOUCH),
                  sequences=(m.Sequence(name="q", start=5, owned_by=("t", "id")),),
                  roles=(m.Role(name="app"),),
                  grants=(m.Grant(to="app", privileges=("USAGE",), on="schema"),
                          m.Grant(to="app", privileges=("SELECT", "UPDATE"), on="table", name="t", columns=("id",)),
                          m.Grant(to="app", privileges=("EXECUTE",), on="function", name="touch")),
                  revokes=(m.Revoke(on="function", name="touch"),),
                  default_privileges=(m.DefaultPrivilege(on="tables", privileges=("SELECT",), to="app"),),
                  schemas=("ext",), extensions=(m.Extension(name="citext", in_schema="ext"),),
                  enums=(m.EnumType(name="e", labels=("a", "b")),),
                  domains=(m.Domain(name="d", base="e",
                                    checks=(m.DomainCheck(name="dc", expression="VALUE <> 'b'"),)),),
                  composites=(m.CompositeType(name="c2", attributes=(m.Attribute(name="x", type="d"),)),),
                  ranges=(m.RangeType(name="r", subtype="e"),))
EMPTY = m.Schema(name="s", tables=(
    T.replace(indexes=(), triggers=(), checks=(), comment=None, policies=(), row_security="disabled", owner=None,
              columns=(m.Column(name="id", type=m.INTEGER),)),
), functions=(TOUCH,))


def test_kinds_have_distinct_names_ranks_and_catalog_fields() -> None:
    assert len({k.name for k in KINDS}) == len({k.rank for k in KINDS}) == len({k.catalog_field for k in KINDS})
    assert len(KINDS) == len({k.name for k in KINDS})
    assert [k.rank for k in KINDS] == sorted(k.rank for k in KINDS)
    fields = {f.name for f in dataclasses.fields(Catalog)}
    assert {k.catalog_field for k in KINDS} <= fields


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_catalogue_query_binds_the_schema(kind: Kind[object, object]) -> None:
    assert "%(schema)s" in kind.query and not re.search(r"\{[a-z_]+\}", kind.query)  # no format fields


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_kind_declares_creates_renders_and_reverses(kind: Kind[object, object]) -> None:
    declared = kind.declared(SCHEMA)
    assert declared, f"{kind.name}: the test schema declares one"
    for key, item in declared.items():
        for stmt in kind.create("s", key, item):
            assert type(stmt) in RENDERERS and RENDERER.statement(stmt).endswith(";")
    changes = kind.diff(EMPTY, SCHEMA)
    assert changes and kind.diff(SCHEMA, SCHEMA) == []
    assert [c.reverse().reverse() for c in changes] == changes
    assert sorted(map(repr, d.reverse(changes))) == sorted(map(repr, kind.diff(SCHEMA, EMPTY)))


def test_the_kinds_need_no_model_at_import_so_the_model_may_import_a_kinds_declaration() -> None:
    import subprocess
    import sys

    code = "import sys, orders_schema.kinds; assert 'orders_schema.declare.model' not in sys.modules, 'model'"
    subprocess.run([sys.executable, "-c", code], check=True)
