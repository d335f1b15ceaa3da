"""The one server layer: which PostgreSQL runs (one rule for pytest and verify), the one server
type, and scratch databases (quoted names, dropped whatever happens)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import conninfo

from orders_schema.tester import server as srv
from orders_schema.tester.harness import Databases


def databases(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}


def test_the_choice_rule_option_then_environment_then_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(srv.PG_ENV, raising=False)
    default = srv.choose(None)
    assert (default.source, default.selector) == ("default", None)
    assert default.bindir == srv.find_bindir(None)
    assert f"PostgreSQL {default.major} (" in default.describe()

    major = str(default.major)
    monkeypatch.setenv(srv.PG_ENV, major)
    from_env = srv.choose(None)
    assert (from_env.source, from_env.selector, from_env.major) == (srv.PG_ENV, major, default.major)
    assert from_env.describe().endswith(f"chosen by {srv.PG_ENV} {major})")

    monkeypatch.setenv(srv.PG_ENV, "3")  # the option wins: the environment is not even looked at
    from_option = srv.choose(major, "--orders-schema-pg")
    assert (from_option.source, from_option.selector) == ("--orders-schema-pg", major)
    with pytest.raises(srv.ServerError, match="no PostgreSQL 3 binaries found"):
        srv.choose(None)


def test_an_unknown_selector_is_refused() -> None:
    with pytest.raises(srv.ServerError, match="unknown PostgreSQL selector 'newest'"):
        srv.choose("newest")


def test_the_session_server_is_one_server_type_with_its_major(
    orders_databases: Databases, orders_pg_major: int
) -> None:
    server = orders_databases.server
    assert isinstance(server, srv.Server) and server.major == orders_pg_major
    with psycopg.connect(server.dsn()) as conn:
        assert conn.info.server_version // 10000 == orders_pg_major
    params = conninfo.conninfo_to_dict(srv.dsn_for(server.dsn("a"), "b"))
    assert (params["dbname"], params["host"], params["port"]) == ("b", server.host, str(server.port))
    assert conninfo.conninfo_to_dict(srv.admin_dsn(server.dsn("x")))["dbname"] == "postgres"


def test_a_scratch_database_is_quoted_and_dropped_whatever_happens(orders_databases: Databases) -> None:
    admin = orders_databases.server.dsn()
    before = databases(admin)
    prefix = 'Odd "name% '
    with srv.scratch_database(admin, prefix) as dsn, psycopg.connect(dsn) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None and name[0].startswith(prefix)
        assert name[0] in databases(admin)
    assert databases(admin) == before
    with pytest.raises(ZeroDivisionError), srv.scratch_database(admin) as dsn:
        psycopg.connect(dsn).close()
        1 / 0  # noqa: B018
    assert databases(admin) == before


def test_the_harness_makes_and_drops_its_databases_through_the_layer(orders_databases: Databases) -> None:
    admin = orders_databases.server.dsn()
    clone, empty = orders_databases.clone("layer_clone_"), orders_databases.empty("layer_empty_")
    try:
        with psycopg.connect(orders_databases.server.dsn(clone)) as conn:
            assert conn.execute("SELECT to_regclass('walltrack.orders') IS NOT NULL").fetchone() == (True,)
        with psycopg.connect(orders_databases.server.dsn(empty)) as conn:
            assert conn.execute("SELECT to_regnamespace('walltrack') IS NULL").fetchone() == (True,)
    finally:
        orders_databases.drop(clone)
        orders_databases.drop(empty)
    assert {clone, empty}.isdisjoint(databases(admin))
