"""`orders-schema verify --dsn`: exit 0 on a database at head, non-zero on each of eight mutations."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from orders_schema.cli import main

MUTATIONS: dict[str, str | tuple[str, ...]] = {
    "index dropped": "DROP INDEX walltrack.idx_orders_active",
    "index redefined under the same name": (
        "DROP INDEX walltrack.idx_orders_created",
        "CREATE INDEX idx_orders_created ON walltrack.orders (created_at)",
    ),
    "value removed from the status CHECK": (
        "ALTER TABLE walltrack.orders DROP CONSTRAINT orders_status_check",
        "ALTER TABLE walltrack.orders ADD CONSTRAINT orders_status_check "
        "CHECK (status IN ('pending', 'submitted', 'confirming', 'filled', 'failed'))",
    ),
    "audit trigger function does nothing":
        "CREATE OR REPLACE FUNCTION walltrack.log_order_status_change() RETURNS trigger LANGUAGE plpgsql "
        "SET search_path = pg_catalog, pg_temp AS $$BEGIN RETURN NEW; END$$",
    "column default dropped": "ALTER TABLE walltrack.orders ALTER COLUMN max_attempts DROP DEFAULT",
    "column type changed": "ALTER TABLE walltrack.config_audit_log ALTER COLUMN config_key TYPE varchar(200)",
    "updated_at trigger dropped": "DROP TRIGGER trg_orders_updated ON walltrack.orders",
    "view redefined":
        "CREATE OR REPLACE VIEW walltrack.order_stats AS SELECT is_simulated, order_type, status, COUNT(*) AS count, "
        "0::numeric AS avg_attempts, 0::numeric AS avg_slippage_bps, MIN(created_at) AS first_order, "
        "MAX(created_at) AS last_order FROM walltrack.orders GROUP BY is_simulated, order_type, status",
}


def verify(dsn: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["verify", "--dsn", dsn, "--rows", "3000"])
    return code, capsys.readouterr().out


def test_verify_passes_on_a_database_with_every_version(
    orders_clone_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(orders_clone_dsn, capsys)
    assert code == 0, out
    assert "verify: ok" in out


@pytest.mark.parametrize("mutation", list(MUTATIONS), ids=list(MUTATIONS))
def test_verify_fails_on_a_mutated_copy(
    mutation: str, orders_clone_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    statements = MUTATIONS[mutation]
    with psycopg.connect(orders_clone_dsn, autocommit=True) as conn:
        for statement in (statements,) if isinstance(statements, str) else statements:
            conn.execute(statement.encode())
    code, out = verify(orders_clone_dsn, capsys)
    assert code == 1, out
    assert "verify: FAILED" in out


def test_verify_leaves_no_rows_behind(orders_clone_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    verify(orders_clone_dsn, capsys)
    with psycopg.connect(orders_clone_dsn) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM walltrack.orders), (SELECT count(*) FROM walltrack.config_audit_log), "
            "(SELECT count(*) FROM walltrack.positions), (SELECT count(*) FROM walltrack.signals)"
        ).fetchone()
        databases = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'orders_schema_scratch%%' "
                                 "OR datname LIKE 'orders_schema_declared%%'").fetchone()
    assert counts == (0, 0, 0, 0)
    assert databases == (0,)


def test_verify_with_an_unreachable_database_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--dsn", "host=127.0.0.1 port=1 dbname=nope connect_timeout=2"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot connect" in err and "Traceback" not in err


# A live database already holding orders: the keys the story's data uses (``sig-1``...), the
# positions an earlier synthetic load left (md5('pos-1')...), orders of both kinds, their audit rows
# and status counters, signal ids shaped like the probes'. verify writes rows of every one of these
# tables, all rolled back.
LIVE_ROWS = (
    "INSERT INTO walltrack.signals (id, score) SELECT 'sig-' || g, 50 FROM generate_series(1, 300) AS g",
    "INSERT INTO walltrack.positions (id, entry_price, entry_amount_sol) "
    "SELECT md5('pos-' || g)::uuid, 0.001, 1 FROM generate_series(1, 200) AS g",
    "INSERT INTO walltrack.orders (order_type, side, signal_id, position_id, token_address, amount_sol, "
    "expected_price, is_simulated) "
    "SELECT 'entry', 'buy', 'sig-' || g, NULL, 'Tok' || g, 1.5, 0.0001, g % 10 = 0 FROM generate_series(1, 300) AS g "
    "UNION ALL SELECT 'exit', 'sell', NULL, md5('pos-' || g)::uuid, 'Tok' || g, 2, 0.0002, false "
    "FROM generate_series(1, 200) AS g",
    "UPDATE walltrack.orders SET status = 'submitted', attempt_count = 1 WHERE token_address LIKE 'Tok1%'",
    "UPDATE walltrack.orders SET status = 'failed', last_error = 'rpc timeout' WHERE token_address LIKE 'Tok11%'",
    "INSERT INTO walltrack.config_audit_log (config_table, config_key, old_value, new_value, changed_by) "
    "VALUES ('orders', 'sig-1', 'pending', 'cancelled', 'ops')",
    # ids shaped like the constraint probes' text keys ('p' and 12 hex digits)
    "INSERT INTO walltrack.signals (id) SELECT 'p' || lpad(to_hex(g), 12, '0') FROM generate_series(1, 2000) AS g",
)


def fingerprint(dsn: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of every row (as text, sorted) of each table of schema walltrack."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'walltrack'::regnamespace AND relkind = 'r' "
            "ORDER BY relname"
        ).fetchall()]
        for table in tables:
            row = conn.execute(
                sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                        "FROM walltrack.{} AS t").format(sql.Identifier(table))
            ).fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


def test_verify_passes_on_a_database_holding_orders_and_leaves_them_exactly_as_they_were(
    orders_clone_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(orders_clone_dsn) as conn:
        for statement in LIVE_ROWS:
            conn.execute(statement.encode())
    before = fingerprint(orders_clone_dsn)
    assert before["signals"][0] == 2300 and before["positions"][0] == 200 and before["orders"][0] == 500
    assert before["config_audit_log"][0] > 1 and before["order_settled_counts"][0] > 0
    code, out = verify(orders_clone_dsn, capsys)
    assert code == 0, out
    assert "verify: ok" in out
    assert fingerprint(orders_clone_dsn) == before
