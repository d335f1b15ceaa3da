"""`orders-schema advise` on real databases: each rule on a database weakened in that one way (the
finding names the object), then the finding's own fix applied (the finding is gone); exit codes;
each output format's shape (SARIF validated against the SARIF 2.1.0 JSON schema).

Roles are cluster-wide: the ``api_roles`` fixture creates ``advise_anon`` and
``advise_authenticated`` on the session's throwaway server and drops them after each test; the
default-role test creates ``anon``/``authenticated`` and drops them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import psycopg
import pytest

from orders_schema.advise import RULES, Report, advise
from orders_schema.cli import main
from orders_schema.declare.project import Project
from orders_schema.tester.checks.explain import load_synthetic_data

ANON, AUTH = "advise_anon", "advise_authenticated"
SARIF_SCHEMA = Path(__file__).resolve().parent / "sarif" / "sarif-schema-2.1.0.json"


def execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _drop_roles(dsn: str, roles: tuple[str, ...]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for role in roles:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f'DROP OWNED BY "{role}"'.encode())
                conn.execute(f'DROP ROLE "{role}"'.encode())


@pytest.fixture
def api_roles(orders_empty_dsn: str) -> Iterator[str]:
    """Two API roles for the test's empty database (dropped after it); yields the database's DSN."""
    _drop_roles(orders_empty_dsn, (ANON, AUTH))
    execute(orders_empty_dsn, f"CREATE ROLE {ANON} NOLOGIN", f"CREATE ROLE {AUTH} NOLOGIN")
    yield orders_empty_dsn
    _drop_roles(orders_empty_dsn, (ANON, AUTH))


def run(dsn: str, schemas: tuple[str, ...] = ("app",)) -> Report:
    return advise(dsn, roles=[ANON, AUTH], schemas=list(schemas))


def objects(report: Report, rule: str) -> list[str]:
    return [f.object for f in report.findings if f.rule.id == rule]


@dataclass(frozen=True)
class Case:
    rule: str
    setup: tuple[str, ...]
    object: str
    before_fix: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ("app",)


TABLE = ("CREATE SCHEMA app", f"GRANT USAGE ON SCHEMA app TO {ANON}, {AUTH}",
         "CREATE TABLE app.items (id int PRIMARY KEY, owner text)")

CASES = [
    Case("rls_disabled_api_table", (*TABLE, f"GRANT SELECT ON app.items TO {ANON}"), "app.items"),
    Case("rls_disabled_api_table", (*TABLE, f"GRANT UPDATE (owner) ON app.items TO {AUTH}"), "app.items"),
    Case("policy_exists_rls_disabled", (*TABLE, "CREATE POLICY own ON app.items USING (owner = current_user)"),
         "app.items"),
    Case("rls_enabled_no_policy", (*TABLE, "ALTER TABLE app.items ENABLE ROW LEVEL SECURITY"), "app.items"),
    Case("rls_policy_always_true",
         (*TABLE, "ALTER TABLE app.items ENABLE ROW LEVEL SECURITY",
          f"CREATE POLICY ins ON app.items FOR INSERT TO {ANON} WITH CHECK (true)"), "ins ON app.items"),
    Case("rls_policy_always_true",
         (*TABLE, "ALTER TABLE app.items ENABLE ROW LEVEL SECURITY",
          "CREATE POLICY upd ON app.items FOR UPDATE USING (owner = current_user) WITH CHECK (true)"),
         "upd ON app.items"),
    Case("api_role_bypasses_rls", (*TABLE, f"ALTER ROLE {AUTH} BYPASSRLS"), AUTH),
    Case("api_role_can_truncate", (*TABLE, f"GRANT TRUNCATE ON app.items TO {ANON}"), "app.items"),
    Case("function_search_path_mutable",
         ("CREATE SCHEMA app", "CREATE FUNCTION app.f() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$"),
         "app.f()"),
    Case("sql_function_search_path_mutable",
         ("CREATE SCHEMA app", "CREATE FUNCTION app.g(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1'"),
         "app.g(x integer)"),
    Case("security_definer_function_executable",
         ("CREATE SCHEMA app", "CREATE FUNCTION app.h() RETURNS int LANGUAGE sql SECURITY DEFINER "
          "SET search_path = pg_catalog AS 'SELECT 1'"), "app.h()"),
    Case("security_definer_view",
         (*TABLE, "ALTER TABLE app.items ENABLE ROW LEVEL SECURITY",
          "CREATE VIEW app.v AS SELECT id FROM app.items", f"GRANT SELECT ON app.v TO {ANON}"), "app.v"),
    Case("materialized_view_in_api",
         (*TABLE, "CREATE MATERIALIZED VIEW app.m AS SELECT id FROM app.items",
          f"GRANT SELECT ON app.m TO {AUTH}"), "app.m"),
    Case("extension_in_public", ("CREATE EXTENSION citext SCHEMA public",), "citext", schemas=("public",)),
    Case("no_primary_key", ("CREATE SCHEMA app", "CREATE TABLE app.t (a int)"), "app.t"),
    Case("no_primary_key",
         ("CREATE SCHEMA app", "CREATE TABLE app.t (a int NOT NULL)", "CREATE UNIQUE INDEX t_a ON app.t (a)"),
         "app.t"),
    Case("unindexed_foreign_key",
         ("CREATE SCHEMA app", "CREATE TABLE app.parent (id int PRIMARY KEY)",
          'CREATE TABLE app."Child" (id int PRIMARY KEY, parent_id int REFERENCES app.parent)'),
         'app."Child"."Child_parent_id_fkey"'),
    Case("duplicate_index",
         ("CREATE SCHEMA app", "CREATE TABLE app.t (id int PRIMARY KEY, a int)", "CREATE INDEX t_a1 ON app.t (a)",
          "CREATE INDEX t_a2 ON app.t (a)"), "app.t_a2"),
    Case("duplicate_index",
         ("CREATE SCHEMA app", "CREATE TABLE app.t (id int PRIMARY KEY)", "CREATE INDEX t_id ON app.t (id)"),
         "app.t_id"),
    Case("redundant_index",
         ("CREATE SCHEMA app", "CREATE TABLE app.t (id int PRIMARY KEY, a int, b int)",
          "CREATE INDEX t_a ON app.t (a)", "CREATE INDEX t_a_b ON app.t (a, b)", "CREATE INDEX t_b_a ON app.t (b, a)",
          "CREATE INDEX t_a_desc ON app.t (a DESC)", "CREATE INDEX t_a_part ON app.t (a) WHERE b > 0"), "app.t_a"),
    Case("unused_index",
         ("CREATE SCHEMA app", "CREATE TABLE app.t (id int PRIMARY KEY, b int)", "CREATE INDEX t_b ON app.t (b)"),
         "app.t_b"),
    Case("invalid_index",
         ("CREATE SCHEMA app", "CREATE TABLE app.t (id int PRIMARY KEY, x int)", "INSERT INTO app.t VALUES (1, 0)"),
         "app.t_inv", before_fix=("DELETE FROM app.t WHERE x = 0",)),
]


def test_every_rule_has_a_case() -> None:
    assert {r.id for r in RULES} == {c.rule for c in CASES} | {"index_unused_by_declared_queries"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}-{i}" for i, c in enumerate(CASES)])
def test_rule_finds_the_weakness_and_its_fix_removes_it(case: Case, api_roles: str) -> None:
    dsn = api_roles
    execute(dsn, *case.setup)
    if case.rule == "invalid_index":
        with pytest.raises(psycopg.errors.DivisionByZero):
            execute(dsn, "CREATE INDEX CONCURRENTLY t_inv ON app.t ((1 / x))")
    report = run(dsn, case.schemas)
    found = [f for f in report.findings if f.rule.id == case.rule and f.object == case.object]
    assert found, f"{case.rule} did not name {case.object}: {[(f.rule.id, f.object) for f in report.findings]}"
    finding = found[0]
    assert case.object in finding.message
    assert finding.fix and finding.rule.why
    execute(dsn, *case.before_fix, *finding.fix)
    assert case.object not in objects(run(dsn, case.schemas), case.rule)


def test_partial_foreign_key_index_on_not_null_rows_covers_it(api_roles: str) -> None:
    execute(api_roles, "CREATE SCHEMA app", "CREATE TABLE app.parent (id int PRIMARY KEY)",
            "CREATE TABLE app.child (id int PRIMARY KEY, parent_id int REFERENCES app.parent)",
            "CREATE INDEX child_parent ON app.child (parent_id) WHERE parent_id IS NOT NULL",
            "CREATE INDEX child_other ON app.child (id) WHERE id > 5")
    assert objects(run(api_roles), "unindexed_foreign_key") == []
    execute(api_roles, "DROP INDEX app.child_parent", "CREATE INDEX child_parent ON app.child (parent_id) WHERE id > 5")
    assert objects(run(api_roles), "unindexed_foreign_key") == ["app.child.child_parent_id_fkey"]


def test_redundant_index_needs_the_same_leading_columns_in_order(api_roles: str) -> None:
    execute(api_roles, "CREATE SCHEMA app", "CREATE TABLE app.t (id int PRIMARY KEY, a int, b int)",
            "CREATE INDEX t_b ON app.t (b)", "CREATE INDEX t_a_b ON app.t (a, b)",
            "CREATE INDEX t_a_desc ON app.t (a DESC)", "CREATE INDEX t_a_part ON app.t (a) WHERE b > 0",
            "CREATE INDEX t_b_incl ON app.t (b) INCLUDE (a)", "CREATE UNIQUE INDEX t_id_a ON app.t (id, a)")
    assert objects(run(api_roles), "redundant_index") == []


def test_a_role_with_no_privilege_can_run_it(api_roles: str) -> None:
    execute(api_roles, *TABLE, f"GRANT SELECT ON app.items TO {ANON}", "CREATE ROLE advise_reader LOGIN")
    try:
        reader = api_roles.replace("user=postgres", "user=advise_reader")
        assert reader != api_roles
        report = advise(reader, roles=[ANON, AUTH], schemas=["app"])
        assert report.user == "advise_reader"
        assert objects(report, "rls_disabled_api_table") == ["app.items"]
    finally:
        _drop_roles(api_roles, ("advise_reader",))


def test_tables_the_api_cannot_reach_and_invoker_views_are_not_findings(api_roles: str) -> None:
    execute(api_roles, *TABLE, "ALTER TABLE app.items ENABLE ROW LEVEL SECURITY",
            "CREATE POLICY own ON app.items FOR SELECT USING (owner = current_user)",
            "CREATE TABLE app.private (id int PRIMARY KEY)",
            "CREATE VIEW app.v WITH (security_invoker = true) AS SELECT id FROM app.items",
            f"GRANT SELECT ON app.items, app.v TO {ANON}")
    report = run(api_roles)
    assert [f.rule.id for f in report.findings] == [], report.findings
    assert advise(api_roles, roles=[ANON], schemas=["app"]).api_roles == (ANON,)


# ---------------------------------------------------------------------------------------------
# exit codes and bad input
# ---------------------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["advise", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes(api_roles: str, capsys: pytest.CaptureFixture[str]) -> None:
    roles = ["--api-role", ANON, "--api-role", AUTH]
    code, out, _ = cli(capsys, "--dsn", api_roles, *roles)
    assert (code, out.splitlines()[-1]) == (0, "no findings")
    execute(api_roles, "CREATE SCHEMA app", "CREATE TABLE app.t (id int PRIMARY KEY, b int)",
            "CREATE INDEX t_b ON app.t (b)")
    code, out, _ = cli(capsys, "--dsn", api_roles, *roles)
    assert code == 0 and "INFO    unused_index  index app.t_b" in out, out
    execute(api_roles, "CREATE INDEX t_b2 ON app.t (b)")
    code, out, _ = cli(capsys, "--dsn", api_roles, *roles)
    assert code == 1 and "WARNING duplicate_index  index app.t_b2" in out, out
    assert "    DROP INDEX CONCURRENTLY IF EXISTS app.t_b2;" in out
    code, out, _ = cli(capsys, "--dsn", api_roles, *roles, "--schema", "public")
    assert code == 0, out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dsn", "not a dsn"), "not a connection string libpq can parse (missing \"=\" after \"not\""),
        (("--dsn", "host=/nonexistent-advise dbname=x"), "cannot connect:"),
        (("--format", "xml"), "unknown format 'xml'"),
        (("--schema", "nope"), "schema 'nope' does not exist"),
        (("--api-role", "nobody_here"), "role 'nobody_here' given with --api-role does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: tuple[str, ...], message: str, orders_empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    full = args if args[0] == "--dsn" else ("--dsn", orders_empty_dsn, *args)
    code, out, err = cli(capsys, *full)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err, err


# ---------------------------------------------------------------------------------------------
# API roles by default, and without any
# ---------------------------------------------------------------------------------------------


def test_default_api_roles_are_anon_and_authenticated_when_they_exist(orders_empty_dsn: str) -> None:
    before = advise(orders_empty_dsn)
    assert before.api_roles == () and "rls_disabled_api_table" in before.skipped
    _drop_roles(orders_empty_dsn, ("anon", "authenticated"))
    execute(orders_empty_dsn, "CREATE ROLE anon NOLOGIN", "CREATE ROLE authenticated NOLOGIN")
    try:
        execute(orders_empty_dsn, "CREATE TABLE public.notes (id int PRIMARY KEY)",
                "GRANT SELECT ON public.notes TO anon")
        report = advise(orders_empty_dsn)
        assert report.api_roles == ("anon", "authenticated") and report.skipped == ()
        assert objects(report, "rls_disabled_api_table") == ["public.notes"]
    finally:
        _drop_roles(orders_empty_dsn, ("anon", "authenticated"))


def test_history_schema_is_not_examined(orders_clone_dsn: str) -> None:
    execute(orders_clone_dsn, "CREATE SCHEMA IF NOT EXISTS orders_schema",
            "CREATE TABLE orders_schema.scratch (a int)")
    report = advise(orders_clone_dsn)
    assert "orders_schema" not in report.schemas and "walltrack" in report.schemas
    assert not [f for f in report.findings if f.object.startswith("orders_schema.")]


# ---------------------------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def weakened(api_roles: str) -> str:
    """One error, one warning, one info."""
    execute(api_roles, *TABLE, f"GRANT SELECT ON app.items TO {ANON}",
            "CREATE TABLE app.t (id int PRIMARY KEY, b int)", "CREATE INDEX t_b ON app.t (b)",
            "CREATE FUNCTION app.f() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$")
    return api_roles


def fmt(capsys: pytest.CaptureFixture[str], dsn: str, name: str) -> tuple[int, str]:
    code, out, err = cli(capsys, "--dsn", dsn, "--api-role", ANON, "--schema", "app", "--format", name)
    assert err == ""
    return code, out


def test_json_format(weakened: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = fmt(capsys, weakened, "json")
    doc = json.loads(out)
    assert code == 1 and doc["summary"] == {"error": 1, "warning": 1, "info": 1, "failing": True}
    assert doc["schemas"] == ["app"] and doc["api_roles"] == [ANON]
    first = doc["findings"][0]
    assert (first["rule"], first["level"], first["object"]) == ("rls_disabled_api_table", "error", "app.items")
    assert first["fix"] == "ALTER TABLE app.items ENABLE ROW LEVEL SECURITY;"
    assert first["fix_statements"] == ["ALTER TABLE app.items ENABLE ROW LEVEL SECURITY"]


def test_github_format(weakened: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = fmt(capsys, weakened, "github")
    lines = out.splitlines()
    assert code == 1 and len(lines) == 4
    assert lines[0].startswith("::error title=rls_disabled_api_table%3A app.items::row-level security is disabled")
    assert "%0Afix:%0AALTER TABLE app.items ENABLE ROW LEVEL SECURITY;" in lines[0]
    assert lines[1].startswith("::warning title=function_search_path_mutable%3A app.f()::")
    assert lines[2].startswith("::notice title=unused_index%3A app.t_b::")
    assert lines[3] == "orders-schema advise: 3 finding(s): 1 error, 1 warning, 1 info"


def test_sarif_format_is_valid_sarif_2_1_0(weakened: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = fmt(capsys, weakened, "sarif")
    log = json.loads(out)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(log))
    assert errors == [], [e.message for e in errors]
    assert code == 1 and log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "orders-schema advise"
    assert [r["id"] for r in driver["rules"]] == [r.id for r in RULES]
    results = log["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("rls_disabled_api_table", "error"), ("function_search_path_mutable", "warning"), ("unused_index", "note"),
    ]
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
    names = [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results]
    database = log["runs"][0]["properties"]["database"]
    assert names == [f"{database}/app.items", f"{database}/app.f()", f"{database}/app.t_b"]


def test_sarif_validation_catches_a_broken_log() -> None:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    broken = {"version": "2.0.0", "runs": [{"tool": {"driver": {}}, "results": [{"level": "fatal"}]}]}
    assert len(list(jsonschema.Draft4Validator(schema).iter_errors(broken))) >= 2


def test_text_format_explains_each_rule_once(weakened: str, capsys: pytest.CaptureFixture[str]) -> None:
    execute(weakened, "CREATE INDEX t_id_b ON app.t (b, id)")
    code, out = fmt(capsys, weakened, "text")
    assert code == 1
    assert out.splitlines()[0].startswith("orders-schema advise: database ")
    assert "schemas: app; API roles: advise_anon" in out.splitlines()[0]
    assert out.count("INFO    unused_index  index app.") == 2
    assert out.count("  why: An index no query has scanned") == 1
    assert "  fix:\n    ALTER ROUTINE app.f() SET search_path = pg_catalog, app, pg_temp;\n" in out
    assert "INFO    redundant_index  index app.t_b\n  index app.t_b on app.t is a leading part of app.t_id_b" in out
    assert out.splitlines()[-1] == "5 finding(s): 1 error, 1 warning, 3 info"


def test_declared_index_no_declared_query_uses(
    orders_clone_dsn: str, orders_schema_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """--queries: the tester's EXPLAIN evidence on the database's data (here 3,000 synthetic orders); the weakening
    redefines a declared index on a column no query reads."""
    with psycopg.connect(orders_clone_dsn) as conn:
        load_synthetic_data(conn, orders_schema_project, rows=3000)
        conn.commit()
    before = advise(orders_clone_dsn, project=orders_schema_project)
    assert objects(before, "index_unused_by_declared_queries") == []
    execute(orders_clone_dsn, "DROP INDEX walltrack.idx_orders_signal",
            "CREATE INDEX idx_orders_signal ON walltrack.orders (last_error)")
    code, out, _ = cli(capsys, "--dsn", orders_clone_dsn, "--queries", "--format", "json")
    found = [f for f in json.loads(out)["findings"] if f["rule"] == "index_unused_by_declared_queries"]
    assert [f["object"] for f in found] == ["walltrack.idx_orders_signal"], found
    assert "declared for" in found[0]["message"] and code == 0
    execute(orders_clone_dsn, *found[0]["fix_statements"])
    assert objects(advise(orders_clone_dsn, project=orders_schema_project), "index_unused_by_declared_queries") == []
    assert objects(advise(orders_clone_dsn), "index_unused_by_declared_queries") == []
