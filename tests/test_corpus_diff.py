"""`orders-schema diff` on a table of cases, each on a real PostgreSQL.

Each case declares a schema A and a schema B. A and B are each created on an empty database
(whole-schema creation: order by dependency, not declaration); ``diff`` from the live A to the
declared B gives a script; applied with psql (no ``-1``, stop at the first error) to A it leaves
A equal to B in stored form (nothing left); applied again it changes nothing; and ``diff`` between
the two live databases then finds nothing (``--exit-code`` exits 0).

Cases 1-4 of "order, always by dependency" (issue 13) are the rows named ``order_*``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from orders_schema import cli
from orders_schema.declare import model as m
from orders_schema.live.compare import compare
from orders_schema.live.inspect import inspect_schema, snapshot
from orders_schema.live.schema_diff import Side, diff_sides, render
from orders_schema.migrate.plan import create_statements
from orders_schema.migrate.render import RENDERER
from orders_schema.tester.harness import Databases
from tests.conftest import psql

S = "corpus"


def col(name: str, type_: m.SqlType = m.INTEGER, **kw: object) -> m.Column:
    return m.Column(name=name, type=type_, **kw)  # type: ignore[arg-type]


def pk(*columns: str, name: str | None = None) -> m.PrimaryKey:
    return m.PrimaryKey(columns=columns, name=name)


ID = col("id", nullable=False)
R = m.Table(name="r", columns=(ID, col("name", m.TEXT)), primary_key=pk("id"))
TOUCH = m.Function(name="touch", body="BEGIN NEW.n = NEW.n + 1; RETURN NEW; END", returns="trigger")

PURGE = m.Function(name="purge", procedure=True, arguments=("keep integer",), language="plpgsql",
                   body=f"BEGIN DELETE FROM {S}.r WHERE id < keep; END", security_definer=True,
                   settings=(("search_path", "pg_catalog, pg_temp"),))


APP, READER = m.Role(name="corpus_app"), m.Role(name="corpus_reader")
ITEMS = m.Table(name="items", columns=(ID, col("name", m.TEXT), col("owner_id", m.INTEGER)), primary_key=pk("id"))
LOOKUP = m.Function(name="lookup", body=f"SELECT count(*)::integer FROM {S}.r", returns="integer", language="sql",
                    volatility="STABLE")
PLAIN = m.Schema(name=S, tables=(R, ITEMS), functions=(LOOKUP,),
                 views=(m.View(name="names", query=f"SELECT id, name FROM {S}.items"),))
GUARDED = PLAIN.replace(
    roles=(APP, READER),
    tables=(R.replace(owner=APP.name),
            ITEMS.replace(row_security="enabled", policies=(
                m.Policy(name="app_reads", command="SELECT", roles=(APP.name,), using="owner_id > 0"),
                m.Policy(name="app_writes", command="INSERT", roles=(APP.name,), with_check="owner_id = 1"),
            ))),
    grants=(m.Grant(to=APP.name, privileges=("USAGE",), on="schema"),
            m.Grant(to=APP.name, privileges=("SELECT", "INSERT"), on="table", name="items"),
            m.Grant(to=APP.name, privileges=("UPDATE",), on="table", name="items", columns=("name",)),
            m.Grant(to=READER.name, privileges=("SELECT",), on="table", name="names"),
            m.Grant(to=APP.name, privileges=("EXECUTE",), on="function", name="lookup")),
    revokes=(m.Revoke(on="function", name="lookup"),),
    default_privileges=(m.DefaultPrivilege(on="tables", privileges=("SELECT",), to=READER.name),),
)
GUARDED_CHANGED = GUARDED.replace(
    tables=(R, ITEMS.replace(row_security="forced", policies=(
        m.Policy(name="app_reads", command="SELECT", roles=(APP.name, READER.name), using="owner_id > 1"),
        m.Policy(name="app_writes", command="INSERT", roles=(APP.name,), with_check="owner_id = 1"),
        m.Policy(name="app_updates", command="UPDATE", permissive=False, roles=(APP.name,), using="true",
                 with_check="owner_id > 0"),
    ))),
    grants=(m.Grant(to=APP.name, privileges=("USAGE",), on="schema"),
            m.Grant(to=READER.name, privileges=("USAGE",), on="schema"),
            m.Grant(to=APP.name, privileges=("SELECT",), on="table", name="items"),
            m.Grant(to=APP.name, privileges=("UPDATE", "INSERT"), on="table", name="items",
                    columns=("name", "owner_id")),
            m.Grant(to="PUBLIC", privileges=("SELECT",), on="table", name="names")),
    revokes=(),
    default_privileges=(m.DefaultPrivilege(on="functions", privileges=("EXECUTE",), to=APP.name),),
)


@dataclass(frozen=True)
class Case:
    id: str
    a: m.Schema
    b: m.Schema


def schema(*tables: m.Table, **kw: object) -> m.Schema:
    return m.Schema(name=S, tables=tables, **kw)  # type: ignore[arg-type]


TOTALS = (m.Function(name="total", arguments=("n integer",), returns="integer", language="sql", body="SELECT n"),
          m.Function(name="total", arguments=("n numeric",), returns="numeric", language="sql", body="SELECT n"))
PURGES = (PURGE, PURGE.replace(arguments=("keep text",), body=f"BEGIN DELETE FROM {S}.r WHERE id::text < keep; END"))
OVERLOADED = schema(R, roles=(APP, READER), functions=(*TOTALS, *PURGES))
"""Overloaded functions and procedures, their privileges PostgreSQL's defaults."""
OVERLOADED_GRANTED = OVERLOADED.replace(
    grants=(m.Grant(to=APP.name, privileges=("EXECUTE",), on="function", name="total(integer)"),
            m.Grant(to=READER.name, privileges=("EXECUTE",), on="function", name="total( NUMERIC )"),
            m.Grant(to=APP.name, privileges=("EXECUTE",), on="function", name="purge(text)")),
    revokes=(m.Revoke(on="function", name="total(numeric)"), m.Revoke(on="function", name="purge(text)")))
"""Each overload its own privileges, named by signature (loosely written: the declared one is meant)."""


STATUS = m.EnumType(name="status", labels=("new", "paid"))
POSITIVE = m.Domain(name="positive", base="integer", nullable=False, default="1",
                    checks=(m.DomainCheck(name="positive_check", expression="VALUE > 0"),))
PAIR = m.CompositeType(name="money_pair", attributes=(m.Attribute(name="amount", type="numeric(12,2)"),
                                                      m.Attribute(name="Currency", type="varchar(3)")))
TYPED_TABLE = m.Table(name="typed", columns=(
    ID, col("state", m.sql_type("status"), default="'new'"), col("history", m.sql_type("status[]")),
    col("qty", m.sql_type("positive")),
    col("price", m.sql_type("money_pair")), col("wait", m.sql_type("interval")), col("grid", m.sql_type("int[][]")),
    col("tags", m.sql_type("varchar(40)[]")), col("code", m.TEXT, collation="C"),
    col("at", m.sql_type("timestamptz(3)")), col("ratio", m.sql_type("double precision")),
    col("span", m.sql_type("tstzrange")), col("addr", m.sql_type("inet"))), primary_key=pk("id"))
TYPED = schema(R, TYPED_TABLE, enums=(STATUS,), domains=(POSITIVE,), composites=(PAIR,))
TYPED_CHANGED = schema(
    R, TYPED_TABLE.replace(columns=tuple(c.replace(collation="POSIX") if c.name == "code" else c
                                         for c in TYPED_TABLE.columns)),
    enums=(STATUS.replace(labels=("new", "paid", "void")),),
    domains=(POSITIVE.replace(checks=(m.DomainCheck(name="positive_check", expression="VALUE > 0 AND VALUE < 100"),)),),
    composites=(PAIR.replace(attributes=(*PAIR.attributes, m.Attribute(name="note", type="text"))),))
SPANS = (m.RangeType(name="status_span", subtype="status", comment="From one status to another"),
         m.RangeType(name="float_span", subtype="double precision", subtype_diff="float8mi"),
         m.RangeType(name="code_span", subtype="text", collation="C"))
RANGED = schema(R, m.Table(name="booked", columns=(
    ID, col("states", m.sql_type("status_span")), col("spans", m.sql_type("float_span[]")),
    col("codes", m.sql_type("code_span"))), primary_key=pk("id")), enums=(STATUS,), ranges=SPANS)
NEW_NAMES = {"status": "state", "positive": "positive_int", "money_pair": "pair", "float_span": "Float Span"}


def renamed_types(declared: m.Schema) -> m.Schema:
    """``declared`` with its types renamed (``renamed_from``) and its columns using the new names."""
    def new(t: m.SqlType) -> m.SqlType:
        return t.replace(name=NEW_NAMES[t.name]) if t.in_schema == S and t.name in NEW_NAMES else t

    def renamed(items: tuple[m.Node, ...]) -> tuple[m.Node, ...]:
        return tuple(x.replace(name=NEW_NAMES[x.name], renamed_from=x.name)  # type: ignore[attr-defined]
                     if x.name in NEW_NAMES else x for x in items)  # type: ignore[attr-defined]

    return declared.replace(
        tables=tuple(t.replace(columns=tuple(c.replace(type=new(c.type)) for c in t.columns)) for t in declared.tables),
        enums=renamed(declared.enums), domains=renamed(declared.domains), composites=renamed(declared.composites),
        ranges=tuple(r.replace(subtype=new(r.subtype)) for r in renamed(declared.ranges)))  # type: ignore[attr-defined]


WITH_EXTENSIONS = schema(
    R, m.Table(name="people", columns=(ID, col("email", m.sql_type("ext.citext"), nullable=False),
                                       col("emails", m.sql_type("ext.citext[]")),
                                       col("attrs", m.sql_type("public.hstore"))), primary_key=pk("id")),
    schemas=("ext",), extensions=(m.Extension(name="citext", in_schema="ext"), m.Extension(name="hstore")))

EVENTS = m.Table(name="events", columns=(col("id", m.BIGINT, nullable=False), col("at", m.DATE, nullable=False),
                                        col("kind", m.TEXT, default="'x'")),
                 primary_key=pk("id", "at"), partition_by="RANGE (at)", partitions=(
                     m.Partition(name="events_2024", bound="FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"),
                     m.Partition(name="events_2025", bound="FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')")))
CODES = m.Table(name="codes", columns=(col("code", m.TEXT),), partition_by="LIST (lower(code))", partitions=(
    m.Partition(name="codes_ab", bound="FOR VALUES IN ('a', 'b')"), m.Partition(name="codes_rest", bound="DEFAULT")))
BASE = m.Table(name="base", columns=(ID, col("note", m.TEXT)))
PARTITIONED = schema(R, EVENTS, CODES, BASE, m.Table(name="child", columns=(col("extra"),), inherits=("base",)),
                     m.Table(name="cache", columns=(col("k", m.TEXT),), unlogged=True))
PARTITIONED_CHANGED = PARTITIONED.replace(tables=(
    R, EVENTS.replace(partitions=(EVENTS.partitions[1], m.Partition(
        name="events_2026", bound="FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")),
        indexes=(m.Index(name="events_kind", columns=("kind",)),)),
    CODES.replace(partitions=(CODES.partitions[1], m.Partition(name="codes_c", bound="FOR VALUES IN ('c')"))),
    BASE, PARTITIONED.tables[4], PARTITIONED.tables[5].replace(unlogged=False)))
WRITES = m.Function(name="names_write", returns="trigger", body=(
    f"BEGIN IF TG_OP = 'DELETE' THEN DELETE FROM {S}.items WHERE id = OLD.id; RETURN OLD; END IF; "
    f"INSERT INTO {S}.items (id, name) VALUES (NEW.id, NEW.name) ON CONFLICT (id) DO UPDATE SET name = NEW.name; "
    "RETURN NEW; END"))
INSTEAD = m.Trigger(name="names_write", timing="INSTEAD OF", events=("INSERT", "UPDATE"), function=WRITES.name)
NAMES = m.View(name="names", query=f"SELECT id, name FROM {S}.items")
WRITABLE = schema(R, ITEMS, functions=(WRITES,), views=(NAMES.replace(triggers=(INSTEAD,)),))



def commented(on: bool, query: str = f"SELECT id, name FROM {S}.items", check: str = "owner_id > 0") -> m.Schema:
    """One object of every kind a comment can be on, commented when ``on``."""
    def c(text: str) -> str | None:
        return text if on else None
    items = ITEMS.replace(
        checks=(m.Check(name="items_owner", expression=check, comment=c("Owned rows")),),
        uniques=(m.Unique(name="items_name", columns=("name",), comment=c("One row per name")),),
        indexes=(m.Index(name="items_owner_idx", columns=("owner_id",), comment=c("By owner")),),
        triggers=(m.Trigger(name="items_touch", timing="BEFORE", events=("UPDATE",), function="touch",
                            comment=c("Touches it's row")),))
    return schema(
        R, items, comment=c("The corpus"),
        functions=(TOUCH.replace(comment=c("Bumps n")), LOOKUP.replace(comment=c("Counts r")), WRITES),
        views=(NAMES.replace(query=query, comment=c("Names"), column_comments=(("name", "A name"),) if on else (),
                             triggers=(INSTEAD.replace(comment=c("Writes through")),)),
               m.View(name="mv", query=query, materialized=True, comment=c("Stored names"),
                      indexes=(m.Index(name="mv_id", columns=("id",), unique=True, comment=c("By id")),))),
        sequences=(m.Sequence(name="counter", comment=c("Counts")),),
        enums=(STATUS.replace(comment=c("A status")),), domains=(POSITIVE.replace(comment=c("Over 0")),),
        composites=(PAIR.replace(comment=c("Amount and currency")),))


CASES = [
    # -- order, always by dependency (issue 13, known failures 1-4) ----------------------------
    Case("order_1_drop_not_null_after_the_primary_key_goes",
         schema(m.Table(name="t", columns=(ID,), primary_key=pk("id"))),
         schema(m.Table(name="t", columns=(col("id"),)))),
    Case("order_1_drop_not_null_after_the_primary_key_moves_online",
         schema(m.Table(name="t", columns=(ID, col("k", nullable=False)), primary_key=pk("id"))),
         schema(m.Table(name="t", columns=(col("id"), col("k", nullable=False)), primary_key=pk("k")))),
    Case("order_2_new_tables_fk_after_the_key_it_references",
         schema(m.Table(name="r", columns=(ID,))),
         schema(m.Table(name="r", columns=(ID,), primary_key=pk("id")),
                m.Table(name="c", columns=(col("rid"),), foreign_keys=(
                    m.ForeignKey(name="c_r", columns=("rid",), ref_table="r", ref_columns=("id",)),)))),
    Case("order_3_table_replaced_by_a_view_of_the_same_name",
         schema(m.Table(name="data", columns=(col("id"),)), R),
         schema(R, views=(m.View(name="data", query=f"SELECT id FROM {S}.r"),))),
    Case("order_3_view_replaced_by_a_table_of_the_same_name",
         schema(R, views=(m.View(name="data", query=f"SELECT id FROM {S}.r"),)),
         schema(m.Table(name="data", columns=(col("id"),)), R)),
    Case("order_4_views_on_views_declared_out_of_order",
         schema(R),
         schema(R, views=(m.View(name="v2", query=f"SELECT id FROM {S}.v1"),
                          m.View(name="v1", query=f"SELECT id, name FROM {S}.r")))),
    Case("order_4_views_on_views_dropped_in_reverse_order",
         schema(R, views=(m.View(name="v2", query=f"SELECT id FROM {S}.v1"),
                          m.View(name="v1", query=f"SELECT id, name FROM {S}.r"))),
         schema(R)),
    Case("order_4_sql_function_reads_a_view",
         schema(R),
         schema(R, functions=(m.Function(name="n_rows", body=f"SELECT count(*) FROM {S}.v1", returns="bigint",
                                         language="sql"),),
                views=(m.View(name="v1", query=f"SELECT id FROM {S}.r"),))),
    # -- everyday changes ------------------------------------------------------------------------
    Case("create_from_nothing", m.Schema(name=S), schema(R)),
    Case("drop_everything", schema(R, views=(m.View(name="v", query=f"SELECT id FROM {S}.r"),)), m.Schema(name=S)),
    Case("add_and_drop_columns",
         schema(m.Table(name="t", columns=(ID, col("old", m.TEXT)), primary_key=pk("id"))),
         schema(m.Table(name="t", columns=(ID, col("new", m.varchar(20), nullable=False, default="'x'")),
                        primary_key=pk("id")))),
    Case("widen_a_type_and_change_a_default",
         schema(m.Table(name="t", columns=(ID, col("n", default="0")))),
         schema(m.Table(name="t", columns=(ID, col("n", m.BIGINT, default="1"))))),
    Case("checks_uniques_and_foreign_keys",
         schema(R, m.Table(name="t", columns=(ID, col("rid"), col("status", m.varchar(10))))),
         schema(R, m.Table(
             name="t", columns=(ID, col("rid"), col("status", m.varchar(10))),
             checks=(m.Check.one_of("t_status", "status", ("new", "done")),),
             uniques=(m.Unique(name="t_id_rid", columns=("id", "rid")),),
             foreign_keys=(m.ForeignKey(name="t_r", columns=("rid",), ref_table="r", ref_columns=("id",),
                                        on_delete="CASCADE"),)))),
    Case("indexes_partial_descending_and_gin",
         schema(m.Table(name="t", columns=(ID, col("at", m.TIMESTAMPTZ), col("doc", m.JSONB)))),
         schema(m.Table(name="t", columns=(ID, col("at", m.TIMESTAMPTZ), col("doc", m.JSONB)), indexes=(
             m.Index(name="t_at", columns=("at DESC NULLS LAST",), where="id > 0"),
             m.Index(name="t_doc", columns=("doc",), method="gin"),
             m.Index(name="t_lower", columns=("lower(doc ->> 'k')",), unique=True))))),
    Case("primary_key_added_online",
         schema(m.Table(name="t", columns=(ID, col("k", nullable=False)))),
         schema(m.Table(name="t", columns=(ID, col("k", nullable=False)), primary_key=pk("id", "k")))),
    Case("triggers_and_their_function",
         schema(m.Table(name="t", columns=(ID, col("n")))),
         schema(m.Table(name="t", columns=(ID, col("n")), triggers=(
             m.Trigger(name="t_touch", timing="BEFORE", events=("UPDATE",), function="touch", update_of=("n",),
                       when="OLD.n IS DISTINCT FROM NEW.n"),)), functions=(TOUCH,))),
    Case("view_changed_and_comments",
         schema(R, views=(m.View(name="v", query=f"SELECT id FROM {S}.r"),)),
         schema(R.replace(comment="the r table", columns=(ID, col("name", m.TEXT, comment="its name"))),
                views=(m.View(name="v", query=f"SELECT id, upper(name) AS name FROM {S}.r WHERE id > 0"),))),
    Case("column_type_change_under_a_view",
         schema(R, views=(m.View(name="v", query=f"SELECT id, name FROM {S}.r"),)),
         schema(R.replace(columns=(ID, col("name", m.varchar(200)))),
                views=(m.View(name="v", query=f"SELECT id, name FROM {S}.r"),))),
    Case("function_replaced_and_signature_changed",
         schema(functions=(m.Function(name="f", body="SELECT 1", returns="integer", language="sql"),
                           m.Function(name="g", body="SELECT $1", returns="integer", language="sql",
                                      arguments=("integer",)))),
         schema(functions=(m.Function(name="f", body="SELECT 2", returns="integer", language="sql",
                                      volatility="IMMUTABLE"),
                           m.Function(name="g", body="SELECT $1::bigint", returns="bigint", language="sql",
                                      arguments=("bigint",))))),
    # -- functions: identity is the signature; attributes; RETURNS TABLE ----------------------
    Case("function_overloads",
         schema(functions=(m.Function(name="f", body="SELECT $1", returns="integer", language="sql",
                                      arguments=("integer",)),)),
         schema(functions=(m.Function(name="f", body="SELECT $1 + 1", returns="integer", language="sql",
                                      arguments=("integer",)),
                           m.Function(name="f", body="SELECT upper($1)", returns="text", language="sql",
                                      arguments=("x text",)),
                           m.Function(name="f", body="SELECT $1 * 2", returns="double precision", language="sql",
                                      arguments=("double precision",))))),
    Case("function_strict_leakproof_parallel_cost",
         schema(functions=(m.Function(name="f", body="SELECT $1 > 0", returns="boolean", language="sql",
                                      arguments=("integer",)),)),
         schema(functions=(m.Function(name="f", body="SELECT $1 > 0", returns="boolean", language="sql",
                                      arguments=("integer",), volatility="IMMUTABLE", strict=True, leakproof=True,
                                      parallel="SAFE", cost=5),))),
    Case("function_returns_table_with_quoted_names",
         m.Schema(name=S),
         schema(functions=(m.Function(name="pairs", body="SELECT 1, 'one'::text", language="sql",
                                      returns='TABLE("Id" integer, "Full Name" text)'),
                           m.Function(name="guarded", body="SELECT 1", returns="integer", language="sql",
                                      security_definer=True, settings=(("search_path", "pg_catalog, pg_temp"),))))),
    # -- procedures: created, body changed, dropped (with their comment and privileges) ---------
    Case("procedure_created",
         schema(R, roles=(APP,)),
         schema(R, roles=(APP,), functions=(PURGE,), grants=(
             m.Grant(to=APP.name, privileges=("EXECUTE",), on="function", name="purge"),))),
    Case("procedure_body_changed",
         schema(R, functions=(PURGE.replace(comment="Purges"),)),
         schema(R, functions=(PURGE.replace(body=f"BEGIN DELETE FROM {S}.r WHERE id > keep; END",
                                            comment="Purges more"),))),
    Case("procedure_dropped",
         schema(R, functions=(PURGE, LOOKUP), default_privileges=(
             m.DefaultPrivilege(on="functions", privileges=("EXECUTE",), to=APP.name),), roles=(APP,)),
         schema(R, functions=(LOOKUP,), default_privileges=(
             m.DefaultPrivilege(on="functions", privileges=("EXECUTE",), to=APP.name),), roles=(APP,))),
    # -- views' features -------------------------------------------------------------------------
    Case("materialized_view_with_indexes",
         schema(R),
         schema(R, views=(m.View(name="mv", query=f"SELECT id, name FROM {S}.r", materialized=True, indexes=(
             m.Index(name="mv_id", columns=("id",), unique=True), m.Index(name="mv_name", columns=("name",)))),
                          m.View(name="on_mv", query=f"SELECT id FROM {S}.mv")))),
    Case("materialized_view_query_and_indexes_change",
         schema(R, views=(m.View(name="mv", query=f"SELECT id FROM {S}.r", materialized=True),)),
         schema(R, views=(m.View(name="mv", query=f"SELECT id, name FROM {S}.r", materialized=True,
                                 indexes=(m.Index(name="mv_id", columns=("id",), unique=True),)),))),
    Case("view_becomes_materialized",
         schema(R, views=(m.View(name="v", query=f"SELECT id FROM {S}.r"),)),
         schema(R, views=(m.View(name="v", query=f"SELECT id FROM {S}.r", materialized=True),))),
    Case("view_becomes_security_invoker",
         schema(R, views=(m.View(name="v", query=f"SELECT id FROM {S}.r"),)),
         schema(R, views=(m.View(name="v", query=f"SELECT id FROM {S}.r", security_invoker=True),))),
    # -- access (issue 15): roles, grants, revokes, default privileges, owner, row security, policies --
    Case("access_declared_on_a_plain_schema", PLAIN, GUARDED),
    Case("access_changed", GUARDED, GUARDED_CHANGED),
    Case("access_taken_away", GUARDED, PLAIN),
    # -- privileges of overloaded functions and procedures, by signature ----------------------------
    Case("overloads_granted_and_revoked_by_signature", OVERLOADED, OVERLOADED_GRANTED),
    Case("overloads_privileges_swapped", OVERLOADED_GRANTED, OVERLOADED.replace(
        grants=(m.Grant(to=READER.name, privileges=("EXECUTE",), on="function", name="total(integer)"),
                m.Grant(to=APP.name, privileges=("EXECUTE",), on="function", name="purge(integer)")),
        revokes=(m.Revoke(on="function", name="total(integer)"), m.Revoke(on="function", name="purge(integer)")))),
    Case("function_becomes_overloaded_keeping_its_privileges",
         schema(R, roles=(APP, READER), functions=(TOTALS[0],),
                grants=(m.Grant(to=APP.name, privileges=("EXECUTE",), on="function", name="total"),),
                revokes=(m.Revoke(on="function", name="total"),)),
         OVERLOADED_GRANTED.replace(revokes=(*OVERLOADED_GRANTED.revokes,
                                             m.Revoke(on="function", name="total(integer)")))),
    Case("overload_dropped_the_other_keeps_its_privileges", OVERLOADED_GRANTED,
         schema(R, roles=(APP, READER), functions=(TOTALS[1], PURGES[1]),
                grants=(m.Grant(to=READER.name, privileges=("EXECUTE",), on="function", name="total"),
                        m.Grant(to=APP.name, privileges=("EXECUTE",), on="function", name="purge")),
                revokes=(m.Revoke(on="function", name="total"), m.Revoke(on="function", name="purge")))),
    # -- types: enums, domains, composite types, extensions, any column type, collations -------
    Case("types_enum_domain_composite_and_any_column_type_created", schema(R), TYPED),
    Case("types_enum_value_added_domain_check_changed_attribute_added_collation_changed",
         TYPED, TYPED_CHANGED),
    Case("types_dropped_with_the_columns_using_them", TYPED, schema(R)),
    Case("range_types_created_with_the_columns_using_them", schema(R), RANGED),
    Case("range_types_dropped_with_the_columns_using_them", RANGED, schema(R)),
    Case("extensions_in_their_own_schema_and_in_public_created", schema(R), WITH_EXTENSIONS),
    Case("extensions_dropped_with_the_columns_using_them", WITH_EXTENSIONS, schema(R)),
    # -- partitioned, inheriting and unlogged tables (issue 13) ------------------------------------
    Case("partitioned_inheriting_and_unlogged_tables_created", schema(R), PARTITIONED),
    Case("partitions_added_and_dropped_index_on_a_partitioned_table_unlogged_toggled",
         PARTITIONED, PARTITIONED_CHANGED),
    Case("partitioned_inheriting_and_unlogged_tables_dropped", PARTITIONED_CHANGED, schema(R)),
    Case("partitioned_table_gains_a_foreign_key_a_check_and_a_new_primary_key",
         PARTITIONED,
         PARTITIONED.replace(tables=(R, EVENTS.replace(
             columns=(*EVENTS.columns, col("rid")), primary_key=pk("at", "id", name="events_key"),
             checks=(m.Check(name="events_kind", expression="kind <> ''"),),
             foreign_keys=(m.ForeignKey(name="events_r", columns=("rid",), ref_table="r", ref_columns=("id",)),)),
             *PARTITIONED.tables[2:]))),
    # -- views' INSTEAD OF triggers (issue 13) ---------------------------------------------------
    Case("view_instead_of_trigger_added", schema(R, ITEMS, functions=(WRITES,), views=(NAMES,)), WRITABLE),
    Case("view_instead_of_trigger_changed_and_one_added", WRITABLE, WRITABLE.replace(views=(NAMES.replace(triggers=(
        INSTEAD.replace(events=("INSERT",)), INSTEAD.replace(name="names_delete", events=("DELETE",)))),))),
    Case("view_re_created_keeps_its_instead_of_trigger", WRITABLE, WRITABLE.replace(views=(NAMES.replace(
        query=f"SELECT id, name, owner_id FROM {S}.items", triggers=(INSTEAD,)),))),
    Case("view_re_created_when_its_table_loses_a_column_keeps_its_trigger",
         schema(R, ITEMS.replace(columns=(*ITEMS.columns, col("gone"))), functions=(WRITES,),
                views=(NAMES.replace(query=f"SELECT * FROM {S}.items", triggers=(INSTEAD,)),)),
         schema(R, ITEMS, functions=(WRITES,), views=(NAMES.replace(query=f"SELECT * FROM {S}.items",
                                                                    triggers=(INSTEAD,)),))),
    # -- COMMENT ON every kind (issue 13) ---------------------------------------------------------
    Case("comments_on_every_kind_added", commented(False), commented(True)),
    Case("comments_kept_when_views_and_a_check_are_re_created", commented(True), commented(
        True, query=f"SELECT id, name, owner_id FROM {S}.items", check="owner_id > 1")),
    Case("comments_removed", commented(True), commented(False)),
    Case("comment_kept_on_a_trigger_re_created_for_a_retyped_column", *(schema(m.Table(
        name="counted", columns=(ID, col("n", type_)), primary_key=pk("id"),
        triggers=(m.Trigger(name="bump", timing="BEFORE", events=("UPDATE",), update_of=("n",), function="touch",
                            comment="Bumps n"),)), functions=(TOUCH,)) for type_ in (m.INTEGER, m.BIGINT))),
    Case("view_instead_of_trigger_dropped", WRITABLE, schema(R, ITEMS, functions=(WRITES,), views=(NAMES,))),
]


def test_an_overload_s_privileges_render_on_its_signature_a_plain_name_as_before() -> None:
    script = RENDERER.script(create_statements(OVERLOADED_GRANTED))
    assert "GRANT EXECUTE ON FUNCTION corpus.total(integer) TO corpus_app;" in script, script
    assert "GRANT EXECUTE ON FUNCTION corpus.total(numeric) TO corpus_reader;" in script, script
    assert "REVOKE EXECUTE ON FUNCTION corpus.total(numeric) FROM PUBLIC;" in script, script
    assert "GRANT EXECUTE ON PROCEDURE corpus.purge(text) TO corpus_app;" in script, script
    assert "REVOKE EXECUTE ON PROCEDURE corpus.purge(text) FROM PUBLIC;" in script, script
    plain = RENDERER.script(create_statements(GUARDED))
    assert "GRANT EXECUTE ON FUNCTION corpus.lookup TO corpus_app;" in plain, plain
    assert "REVOKE EXECUTE ON FUNCTION corpus.lookup FROM PUBLIC;" in plain, plain


def test_security_definer_must_pin_search_path() -> None:
    with pytest.raises(m.DeclarationError, match=r"function f: SECURITY DEFINER .* must pin search_path"):
        m.Function(name="f", body="SELECT 1", returns="integer", language="sql", security_definer=True)


def test_overloads_are_distinct_functions_and_a_repeated_signature_is_refused() -> None:
    one = m.Function(name="f", body="SELECT 1", returns="integer", language="sql", arguments=("a integer",))
    assert one.signature == "f(integer)"
    assert m.Function(name="f", body="SELECT 1", returns="integer", language="sql",
                      arguments=("OUT r integer", "double precision", "VARIADIC v text[]")).signature == (
        "f(double precision, text[])")
    with pytest.raises(m.DeclarationError, match=r"duplicate functions \['f\(integer\)'\]"):
        schema(functions=(one, one.replace(arguments=("b integer",))))


@pytest.mark.parametrize(("build", "message"), [
    (lambda: schema(R.replace(triggers=(m.Trigger(name="w", timing="INSTEAD OF", events=("INSERT",),
                                                  function="touch"),)), functions=(TOUCH,)),
     r"trigger w on table r: INSTEAD OF triggers are for views \(declare it in View.triggers\)"),
    (lambda: m.Trigger(name="w", timing="INSTEAD OF", events=("INSERT",), function="f", for_each="STATEMENT"),
     r"trigger w: an INSTEAD OF trigger is FOR EACH ROW on INSERT, UPDATE or DELETE"),
    (lambda: NAMES.replace(triggers=(INSTEAD.replace(timing="AFTER"),)),
     r"trigger names_write on view names: a view's triggers are INSTEAD OF \(not AFTER\)"),
    (lambda: NAMES.replace(materialized=True, triggers=(INSTEAD,)), r"view names: a materialized view has no triggers"),
    (lambda: schema(R, ITEMS, views=(NAMES.replace(triggers=(INSTEAD,)),)),
     r"trigger names_write on view names: unknown function 'names_write'"),
    (lambda: NAMES.replace(column_comments=(("nmae", "A name"),)),
     r"view names: column_comments name \['nmae'\], which the view does not have \(its columns: \['id', 'name'\]\)"),
    (lambda: NAMES.replace(comment=""), r"view names: comment '' is empty"),
    (lambda: m.Schema(name="public", comment="Ours"), r"schema public: public's comment is the server's"),
    (lambda: schema(ranges=(m.RangeType(name="span", subtype="nosuch"),)),
     r"range type span: subtype 'nosuch' is neither a built-in type nor a type of schema corpus"),
    (lambda: m.RangeType(name="span", subtype="int; DROP TABLE x"), r"range type span: subtype"),
    (lambda: OVERLOADED.replace(grants=(m.Grant(to=APP.name, privileges=("EXECUTE",), on="function", name="total"),)),
     r"^grant to corpus_app on function total: total is overloaded \(total\(integer\), total\(numeric\)\): name one "
     r"by its signature$"),
    (lambda: OVERLOADED.replace(revokes=(m.Revoke(on="function", name="purge"),)),
     r"^revoke on function purge: purge is overloaded \(purge\(integer\), purge\(text\)\): name one by its "
     r"signature$"),
    (lambda: OVERLOADED.replace(grants=(m.Grant(to=APP.name, privileges=("EXECUTE",), on="function",
                                                name="total(text)"),)),
     r"^grant to corpus_app on function total\(text\): no function 'total\(text\)' in schema corpus \(the "
     r"signatures of total: total\(integer\), total\(numeric\)\)$"),
    (lambda: OVERLOADED.replace(revokes=(m.Revoke(on="function", name="totals(integer)"),)),
     r"^revoke on function totals\(integer\): no function 'totals\(integer\)' in schema corpus \(no function "
     r"named 'totals'\)$"),
    (lambda: m.Revoke(on="function", name="total(integer"), r"neither a name nor a function's signature"),
    (lambda: m.Revoke(on="function", name="total(integer); DROP TABLE t; --)"),
     r"neither a name nor a function's signature"),
    (lambda: PURGE.replace(returns="integer", volatility="STABLE", strict=True, cost=5),
     r"procedure purge: a procedure has no return type, volatility, STRICT, COST \(only functions do\)"),
    (lambda: PURGE.replace(security_definer=True, settings=()), r"procedure purge: SECURITY DEFINER .* search_path"),
    (lambda: schema(R.replace(triggers=(m.Trigger(name="t", timing="BEFORE", events=("UPDATE",),
                                                  function="purge"),)), functions=(PURGE,)),
     r"trigger t on table r: purge is a procedure, not a trigger function"),
])
def test_bad_view_triggers_comments_and_ranges_are_refused_naming_the_object(build: object, message: str) -> None:
    with pytest.raises(m.DeclarationError, match=message):
        build()  # type: ignore[operator]


def test_a_changed_range_type_is_refused_with_the_way_out() -> None:
    from orders_schema.migrate import diff
    from orders_schema.migrate.plan import PlanError, migration_plan

    changed = RANGED.replace(ranges=(SPANS[0], SPANS[1].replace(subtype_diff=None), SPANS[2]))
    with pytest.raises(PlanError, match=r"range type corpus.float_span: PostgreSQL cannot alter .* declare a new"):
        migration_plan(RANGED, changed, diff.diff(RANGED, changed))


@pytest.fixture
def two_databases(dbs: Databases) -> Iterator[tuple[str, str]]:
    a, b = dbs.empty("orders_schema_da"), dbs.empty("orders_schema_db")
    yield dbs.server.dsn(a), dbs.server.dsn(b)
    dbs.drop(a)
    dbs.drop(b)


def create(dsn: str, declared: m.Schema) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(RENDERER.script(create_statements(declared)))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_diff_migrates_a_to_b_and_settles(case: Case, dbs: Databases, two_databases: tuple[str, str]) -> None:
    dsn_a, dsn_b = two_databases
    create(dsn_a, case.a)
    create(dsn_b, case.b)

    script = render(diff_sides(Side("FROM", {}, dsn=dsn_a), Side("TO", {S: case.b})), "A", "B")
    assert "-- no differences" not in script, script
    name_a = dsn_a.rsplit("dbname=", 1)[-1].split()[0]
    done = psql(dbs, name_a, script)
    assert done.returncode == 0, f"{done.stderr}\n--- script:\n{script}"

    with psycopg.connect(dsn_a) as conn_a, psycopg.connect(dsn_b) as conn_b:
        left = compare(inspect_schema(conn_b, S), inspect_schema(conn_a, S))
        assert left == [], "\n".join(map(str, left)) + f"\n--- script:\n{script}"
        before = snapshot(conn_a)
        again = psql(dbs, name_a, script)
        assert again.returncode == 0, f"re-run failed: {again.stderr}\n--- script:\n{script}"
        assert snapshot(conn_a) == before

    settled = diff_sides(Side("FROM", {}, dsn=dsn_a), Side("TO", {}, dsn=dsn_b))
    assert all(d.empty for d in settled), render(settled, "A", "B")
    assert cli.main(["diff", dsn_a, dsn_b, "--exit-code"]) == 0


def test_walltrack_from_its_last_hand_declared_version_to_its_head_through_the_command(
    dbs: Databases, orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """FROM a live database at the last hand-declared version (applied from the version files), TO
    the project's head as declared (``module:ATTR``): the script applied with psql leaves nothing
    to do."""
    from orders_schema.live.apply import migrate

    last = max(v.number for v in dbs.project.versions)
    migrate(orders_empty_dsn, dbs.project.schema_dir, target=last)
    head = "orders_schema.walltrack:PROJECT"
    assert cli.main(["diff", orders_empty_dsn, head, "--exit-code"]) == 1
    script, _ = capsys.readouterr()
    assert "BEGIN;" in script and "CONCURRENTLY" in script
    done = psql(dbs, orders_empty_dsn.rsplit("dbname=", 1)[-1].split()[0], script)
    assert done.returncode == 0, f"{done.stderr}\n--- script:\n{script}"
    assert cli.main(["diff", orders_empty_dsn, head, "--exit-code"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("declared", [TYPED, RANGED], ids=["enum_domain_composite", "range_and_the_enum_it_spans"])
def test_renamed_types_are_renamed_and_named_back_by_the_down_script(
    declared: m.Schema, dbs: Databases, two_databases: tuple[str, str]
) -> None:
    """A declared rename (``renamed_from``; a live database has none, so this goes through the
    planner as ``generate`` does): applied twice, the database is the renamed declaration's; the
    down script brings the old names back; no column is converted, no type dropped."""
    from orders_schema.migrate import diff
    from orders_schema.migrate.plan import migration_plan

    dsn_a, dsn_b = two_databases
    new = renamed_types(declared)
    changes = diff.diff(declared, new)
    assert {type(c).__name__ for c in changes} == {"RenameType"}, changes  # the columns keep their type
    up = RENDERER.script(migration_plan(declared, new, changes).transactional)
    down = RENDERER.script(migration_plan(new, declared, diff.reverse(changes)).transactional)
    assert "ALTER TYPE corpus.status RENAME TO state;" in up and "ALTER TYPE corpus.state RENAME TO status;" in down
    assert "DROP" not in up + down and "ALTER TABLE" not in up + down, up + down
    create(dsn_a, declared)
    create(dsn_b, new)
    name_a = dsn_a.rsplit("dbname=", 1)[-1].split()[0]
    with psycopg.connect(dsn_a, autocommit=True) as conn_a, psycopg.connect(dsn_b) as conn_b:
        before = inspect_schema(conn_a, S)
        for script in (up, up):  # the second run skips the done renames
            done = psql(dbs, name_a, script)
            assert done.returncode == 0, f"{done.stderr}\n--- script:\n{script}"
        assert compare(inspect_schema(conn_b, S), inspect_schema(conn_a, S)) == []
        done = psql(dbs, name_a, down)
        assert done.returncode == 0, f"{done.stderr}\n--- script:\n{down}"
        assert compare(before, inspect_schema(conn_a, S)) == []


@pytest.mark.parametrize(("source", "extra", "message"), [
    ("host=/nonexistent dbname=x", (), "cannot connect: "),
    ("no_such_module:PROJECT", (), "declarations 'no_such_module:PROJECT': cannot import 'no_such_module'"),
    ("orders_schema.walltrack:NOPE", (), "module 'orders_schema.walltrack' has no attribute 'NOPE'"),
    ("orders_schema.walltrack:__all__", (), "is a list, not a Schema, Version or Project"),
    ("EMPTY", ("--schema", "nope"), "unknown schema 'nope': neither side has it"),
    ("host=x = y", (), "not a connection string libpq can parse"),
])
def test_bad_input_is_one_line_and_exit_2(
    source: str, extra: tuple[str, ...], message: str, orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = orders_empty_dsn if source == "EMPTY" else source
    assert cli.main(["diff", source, orders_empty_dsn, *extra]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err, err


@pytest.mark.parametrize(("name", "message"), [
    ("total", "grant to app on function total: total is overloaded (total(integer), total(numeric)): "
              "name one by its signature"),
    ("total(text)", "grant to app on function total(text): no function 'total(text)' in schema corpus "
                    "(the signatures of total: total(integer), total(numeric))"),
])
def test_a_grant_on_an_overloaded_name_or_an_unknown_signature_is_one_line_and_exit_2(
    name: str, message: str, orders_empty_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "overloads_bad.py").write_text(
        "from orders_schema.model import Function, Grant, Role, Schema\n"
        "F = Function(name='total', arguments=('n integer',), returns='integer', language='sql', body='SELECT n')\n"
        f"SCHEMA = Schema(name={S!r}, roles=(Role(name='app'),), functions=(F, F.replace(arguments=('n numeric',))),\n"
        f"                grants=(Grant(to='app', privileges=('EXECUTE',), on='function', name={name!r}),))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "overloads_bad", raising=False)
    assert cli.main(["diff", "overloads_bad:SCHEMA", orders_empty_dsn]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err, err
