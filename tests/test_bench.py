"""The benchmark runs end to end (at a tiny size) and reports every figure the issue asks for
next to its baseline. Speed is never asserted here: figures are read, not judged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest

from orders_schema.walltrack import bench, head, story
from orders_schema.walltrack.queries import QUERIES


def test_every_part_reports_its_figures_with_their_baselines(
    tmp_path: Path, pytestconfig: pytest.Config, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    pg = pytestconfig.getoption("orders_schema_pg") or os.environ.get("ORDERS_SCHEMA_PG")
    args = ["--rows", "2000", "--repeat", "3", "--singles", "20", "--rounds", "1",
            "--pgbench-seconds", "1", "--out", str(out)]
    assert bench.main(args + (["--pg", pg] if pg else [])) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text(encoding="utf-8"))

    assert set(figures) == {"run", "scale", "isolation", "migrate", "queries", "writes", "pgbench"}
    assert set(figures["scale"]) == {"100_tables_s", "1000_tables_s", "5000_tables_s"}
    assert figures["isolation"]["rollback_ms"] > 0 and figures["isolation"]["template_clone_ms"] > 0
    assert {"empty_to_head_ms", "v9_to_head_2000"} <= set(figures["migrate"])
    upgrade = figures["migrate"]["v9_to_head_2000"]
    assert upgrade["longest_blocking_lock_s"] > 0 and set(upgrade["files_s"]) >= {"V10__story_fixes.sql"}

    by_rows = figures["queries"]["by_rows"]
    assert set(by_rows) == {"1000", "2000"}  # the flatness check needs both sizes
    for schema in ("v9", "head"):
        assert set(by_rows["2000"][schema]) == {q.name for q in QUERIES}, schema
    for query in QUERIES:
        if query.uses_index:
            # count_by_status also reads the small settled summary (V15): nothing else may show up
            plan = by_rows["2000"]["head"][query.name]["plan"]
            assert query.uses_index in plan, query.name
            assert set(plan) <= {query.uses_index, "seq scan order_settled_counts", "order_settled_counts_pkey"}, (
                query.name, plan)

    writes = figures["writes"]["2000"]
    assert set(writes) == set(bench.WRITE_SCHEMAS)
    for label, row in writes.items():
        assert row["set_insert_rows_s"] > 0 and row["single_insert_rows_s"] > 0, label
        assert row["batch_insert_rows_s"] > 0, label
        assert (row["status_update_rows_s"] is None) == (label == "bare"), label  # no key, no update
    assert writes["v9"]["indexes"] == 10 and writes["head"]["indexes"] == 7
    concurrent = figures["writes"]["concurrent"]
    for label, _ in bench.CONCURRENT_SCHEMAS:
        assert concurrent[label]["one_writer_rows_s"] > 0 and concurrent[label]["8_writers_rows_s"] > 0, label

    pgb = figures["pgbench"]["2000"]
    patterns = {f"{p}, {c} client{'s' if c > 1 else ''}" for p, _, c in bench.PGBENCH_PATTERNS}
    # head-app: head written by a login role in the app role (grants and row security apply, as in
    # production); pgbench fails, and so does the bench, if the role may not run a pattern
    for label in ("v9", "head", "head-app"):
        assert set(pgb["tps"][label]) == patterns, label
        assert all(v > 0 for v in pgb["tps"][label].values()), (label, pgb["tps"][label])
        assert pgb["count_by_status_ms"][label] > 0, label
    for label in ("head", "head-app"):
        assert set(pgb["paired_ratio"][label]) == patterns, label
        assert all(r is not None and r > 0 for r in pgb["paired_ratio"][label].values()), pgb["paired_ratio"]

    for baseline in ("(goal <= 5 ms)", "faster (goal >= 20x)", "head / V9: set INSERT x", "(goal >= 2)",
                     "head / V9 with 8 writers: x", "insert, 8 clients", "count_by_status median: V9",
                     "head / V9 paired (median of the per-round ratios): insert, 1 client x"):
        assert baseline in printed, baseline


def test_pgbench_ablations_undo_exactly_what_they_name_at_head(orders_db: psycopg.Connection) -> None:
    """The ablations name head's own objects: the FK, and the CHECKs head declares beyond V9's."""
    added = {c.name for c in head.CHECKS} - {c.name for c in story.CHECKS}
    assert f"DROP CONSTRAINT {sorted(added)[0]}" in bench.PGBENCH_ABLATIONS["head-checks"][1]
    assert bench.PGBENCH_ABLATIONS["head-checks"][1].count("DROP CONSTRAINT") == len(added)

    def constraints() -> set[tuple[str, str]]:
        rows = orders_db.execute(
            "SELECT conname, contype::text FROM pg_constraint WHERE conrelid = 'walltrack.orders'::regclass"
        ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def definers() -> set[str]:
        rows = orders_db.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'walltrack' AND p.prosecdef").fetchall()
        return {r[0] for r in rows}

    before = constraints()
    assert definers() == set(head.DEFINERS)
    for label, (_, undo) in bench.PGBENCH_ABLATIONS.items():
        with orders_db.transaction(force_rollback=True):
            orders_db.execute(undo.encode())
            gone = before - constraints()
            # head-invoker: the hardening version's SECURITY DEFINER trigger functions run as the caller
            assert definers() == (set() if label == "head-invoker" else set(head.DEFINERS)), label
            came = constraints() - before
        expected = {("orders_position_id_fkey", "f")} if label in ("head-fk", "head-noafter", "head-bare") else set()
        if label in ("head-checks", "head-merged", "head-bare"):
            expected |= {(name, "c") for name in added}
        if label == "head-domains":  # the one-column CHECKs become domain types; the rest stay
            expected |= {(name, "c") for *_, name in bench._DOMAINS}
            assert {name for *_, name in bench._DOMAINS} < added
        assert gone == expected, label
        # head-merged: the same conditions as one CHECK
        assert came == ({("orders_rules", "c")} if label == "head-merged" else set()), label


def test_the_roundtrip_part_reports_each_step_of_the_changes_named(
    tmp_path: Path, pytestconfig: pytest.Config, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    pg = pytestconfig.getoption("orders_schema_pg") or os.environ.get("ORDERS_SCHEMA_PG")
    args = ["--only", "roundtrip", "--rows", "300", "--roundtrip-changes", "add_note", "--out", str(out)]
    assert bench.main(args + (["--pg", pg] if pg else [])) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text(encoding="utf-8"))["roundtrip"]["300"]
    assert set(figures) == {"load_s", "add_note"}
    steps = figures["add_note"]["steps_ms"]
    assert list(steps) == [name for name, _ in bench.ROUNDTRIP_STEPS]  # add_note loses data: refused first
    assert all(ms > 0 for ms in steps.values()), steps
    assert "round trip of every everyday change on 300 orders" in printed
    assert any(line.split()[:1] == ["add_note"] for line in printed.splitlines()), printed
