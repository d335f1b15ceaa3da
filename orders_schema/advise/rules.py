"""The advisor's rules: one check per rule, each a catalogue query with bound parameters.

Every identifier in a fix goes through :mod:`orders_schema.declare.quoting`. Argument lists of functions
(``pg_get_function_identity_arguments``) and index definitions are PostgreSQL's own rendering.
Rules are listed in :data:`RULES` in the order they are documented in ``docs/advise.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from orders_schema.advise.model import Category, Check, Context, Finding, Level, Rule
from orders_schema.declare.quoting import MAX_IDENTIFIER_BYTES, ident, qualified

RULES: list[Rule] = []

_TRUE_WORDS = frozenset({"true", "on", "yes", "1", "t", "y"})


def rule(
    id: str,
    level: Level,
    category: Category,
    title: str,
    why: str,
    *,
    needs_api_roles: bool = False,
    splinter: str = "",
) -> Callable[[Check], Check]:
    """Register the decorated check as a rule."""

    def register(check: Check) -> Check:
        RULES.append(Rule(id, level, category, title, why, check, needs_api_roles, splinter))
        return check

    return register


def _rule(id: str) -> Rule:
    return next(r for r in RULES if r.id == id)


def _roles(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(ident(n) for n in names)


def _routine(row: dict[str, Any]) -> str:
    return f"{qualified(row['schema'], row['name'])}({row['args']})"


def _name(*parts: str) -> str:
    """An index or policy name from parts, cut to PostgreSQL's 63 bytes without splitting a character."""
    raw = "_".join(parts).encode("utf-8")[:MAX_IDENTIFIER_BYTES]
    return raw.decode("utf-8", errors="ignore")


# ---------------------------------------------------------------------------------------------
# Security: row-level security
# ---------------------------------------------------------------------------------------------


@rule(
    "rls_disabled_api_table",
    "error",
    "security",
    "RLS disabled on a table an API role can reach",
    "Without row-level security, an API role that holds a privilege on a table reads or writes every "
    "row of it: the API's only row filter is the one its client chooses to send.",
    needs_api_roles=True,
    splinter="rls_disabled_in_public",
)
def rls_disabled_api_table(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name, r.rolname AS role,
               ARRAY(SELECT pr FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS pr
                     WHERE CASE WHEN pr = 'DELETE' THEN has_table_privilege(r.rolname, c.oid, pr)
                                ELSE has_any_column_privilege(r.rolname, c.oid, pr) END) AS privileges
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN unnest(%(roles)s::text[]) AS r(rolname)
        WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
          AND n.nspname = ANY(%(schemas)s::text[])
          AND has_schema_privilege(r.rolname, n.oid, 'USAGE')
          AND (has_table_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
               OR has_any_column_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE'))
        ORDER BY 1, 2, 3
        """
    )
    by_table: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_table.setdefault((row["schema"], row["name"]), []).append(row)
    for (schema, name), grants in by_table.items():
        table = qualified(schema, name)
        who = "; ".join(f"{r['role']} can {', '.join(r['privileges'])}" for r in grants)
        roles = [r["role"] for r in grants]
        yield Finding(
            _rule("rls_disabled_api_table"),
            table,
            "table",
            f"row-level security is disabled on {table} and the API reaches it ({who}): every row is exposed",
            (f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",),
            "then add one policy per access path (CREATE POLICY ... TO role USING (...)); until then the API "
            f"roles see no row. If the API must not reach the table at all: REVOKE ALL ON TABLE {table} "
            f"FROM {_roles(roles)}",
        )


@rule(
    "policy_exists_rls_disabled",
    "error",
    "security",
    "Policies exist but RLS is disabled",
    "Policies do nothing until row-level security is enabled on their table: whoever wrote them believes "
    "the rows are filtered, and they are not.",
    splinter="policy_exists_rls_disabled",
)
def policy_exists_rls_disabled(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name, array_agg(p.polname::text ORDER BY p.polname) AS policies
        FROM pg_policy p
        JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT c.relrowsecurity AND n.nspname = ANY(%(schemas)s::text[])
        GROUP BY n.nspname, c.relname
        ORDER BY 1, 2
        """
    )
    for row in rows:
        table = qualified(row["schema"], row["name"])
        yield Finding(
            _rule("policy_exists_rls_disabled"),
            table,
            "table",
            f"{table} has policies ({', '.join(ident(p) for p in row['policies'])}) but row-level security is "
            "disabled, so none of them applies",
            (f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",),
        )


@rule(
    "rls_enabled_no_policy",
    "info",
    "security",
    "RLS enabled with no policy",
    "Row-level security with no policy denies every row to every role but the owner: safe, but a grant "
    "on the table then promises access that never happens, which is usually a forgotten policy.",
    splinter="rls_enabled_no_policy",
)
def rls_enabled_no_policy(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND n.nspname = ANY(%(schemas)s::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
        ORDER BY 1, 2
        """
    )
    to = f" TO {_roles(ctx.api_roles)}" if ctx.api_roles else ""
    for row in rows:
        table = qualified(row["schema"], row["name"])
        yield Finding(
            _rule("rls_enabled_no_policy"),
            table,
            "table",
            f"row-level security is enabled on {table} but it has no policy: every row is denied to every role "
            "except the owner",
            (f"CREATE POLICY {ident(_name(row['name'], 'select'))} ON {table} FOR SELECT{to} USING (false)",),
            "replace false with the condition on the rows each role may see; if deny-all is intended, "
            "nothing to do",
        )


_COMMANDS = {"a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}


@rule(
    "rls_policy_always_true",
    "warning",
    "security",
    "Always-true write policy for an API role",
    "A permissive INSERT, UPDATE, DELETE or ALL policy whose condition is `true` lets the roles it names "
    "write every row: row-level security is on in name only.",
    splinter="rls_policy_always_true",
)
def rls_policy_always_true(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name, p.polname AS policy, p.polcmd::text AS cmd,
               pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS check,
               0 = ANY(p.polroles) AS to_public,
               ARRAY(SELECT r FROM unnest(%(roles)s::text[]) AS r
                     WHERE EXISTS (SELECT 1 FROM unnest(p.polroles) AS pr(oid)
                                   WHERE pr.oid <> 0 AND pg_has_role(r, pr.oid, 'MEMBER'))) AS api_roles
        FROM pg_policy p
        JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE p.polpermissive AND p.polcmd IN ('a', 'w', 'd', '*') AND n.nspname = ANY(%(schemas)s::text[])
        ORDER BY 1, 2, 3
        """
    )
    for row in rows:
        if not row["to_public"] and not row["api_roles"]:
            continue
        cmd = row["cmd"]
        qual = row["qual"]
        check = row["check"] if row["check"] is not None else qual
        open_using = cmd in ("w", "d", "*") and qual == "true"
        open_check = cmd in ("a", "w", "*") and check == "true"
        if not (open_using or open_check):
            continue
        table = qualified(row["schema"], row["name"])
        policy = f"{ident(row['policy'])} ON {table}"
        who = "PUBLIC (every role)" if row["to_public"] else ", ".join(row["api_roles"])
        clauses = []
        if cmd in ("w", "d", "*"):
            clauses.append("USING (false)")
        if cmd in ("a", "w", "*"):
            clauses.append("WITH CHECK (false)")
        yield Finding(
            _rule("rls_policy_always_true"),
            policy,
            "policy",
            f"policy {policy} lets {who} {_COMMANDS[cmd]} any row: its "
            f"{'USING' if open_using else 'WITH CHECK'} condition is true",
            (f"ALTER POLICY {policy} {' '.join(clauses)}",),
            f"replace false with the condition on the rows the roles may write (for example owner_id = the "
            f"caller's id), or drop it: DROP POLICY {policy}",
        )


@rule(
    "api_role_bypasses_rls",
    "error",
    "security",
    "An API role bypasses RLS",
    "A superuser or a role with BYPASSRLS ignores every policy: the API would read and write all rows.",
    needs_api_roles=True,
)
def api_role_bypasses_rls(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT rolname AS name, rolsuper, rolbypassrls FROM pg_roles
        WHERE rolname = ANY(%(roles)s::text[]) AND (rolsuper OR rolbypassrls)
        ORDER BY 1
        """
    )
    for row in rows:
        attribute = "SUPERUSER" if row["rolsuper"] else "BYPASSRLS"
        yield Finding(
            _rule("api_role_bypasses_rls"),
            ident(row["name"]),
            "role",
            f"API role {ident(row['name'])} is {attribute}: row-level security does not apply to it",
            (f"ALTER ROLE {ident(row['name'])} NOSUPERUSER NOBYPASSRLS",),
        )


@rule(
    "api_role_can_truncate",
    "info",
    "security",
    "An API role holds TRUNCATE",
    "TRUNCATE ignores row-level security: a role that holds it empties the table whatever the policies say. "
    "The HTTP API does not issue TRUNCATE, so this matters where the role runs SQL by another path.",
    needs_api_roles=True,
)
def api_role_can_truncate(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name, array_agg(r.rolname ORDER BY r.rolname) AS roles
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN unnest(%(roles)s::text[]) AS r(rolname)
        WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%(schemas)s::text[])
          AND has_schema_privilege(r.rolname, n.oid, 'USAGE') AND has_table_privilege(r.rolname, c.oid, 'TRUNCATE')
        GROUP BY n.nspname, c.relname
        ORDER BY 1, 2
        """
    )
    for row in rows:
        table = qualified(row["schema"], row["name"])
        yield Finding(
            _rule("api_role_can_truncate"),
            table,
            "table",
            f"{', '.join(row['roles'])} can TRUNCATE {table}, which row-level security does not restrict",
            (f"REVOKE TRUNCATE ON TABLE {table} FROM {_roles(row['roles'])}",),
        )


# ---------------------------------------------------------------------------------------------
# Security: functions, views, extensions
# ---------------------------------------------------------------------------------------------

def _mutable_search_path_functions(ctx: Context) -> list[dict[str, Any]]:
    return ctx.rows(
        """
        SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS args,
               p.prosecdef AS definer, l.lanname AS language
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        JOIN pg_language l ON l.oid = p.prolang
        WHERE n.nspname = ANY(%(schemas)s::text[]) AND p.prokind IN ('f', 'p')
          AND l.lanname NOT IN ('c', 'internal')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
          AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS cfg WHERE starts_with(cfg, 'search_path='))
        ORDER BY 1, 2, 3
        """
    )


def _pin_search_path(row: dict[str, Any]) -> str:
    return f"ALTER ROUTINE {_routine(row)} SET search_path = pg_catalog, {ident(row['schema'])}, pg_temp"


def _inlinable(row: dict[str, Any]) -> bool:
    return bool(row["language"] == "sql" and not row["definer"])


@rule(
    "function_search_path_mutable",
    "warning",
    "security",
    "Function with a mutable search_path",
    "A function that does not pin search_path resolves every unqualified name (tables, now(), operators) "
    "through the caller's search_path, so a caller who can create objects in a schema listed earlier can "
    "make it run their code, with the function owner's rights if it is SECURITY DEFINER.",
    splinter="function_search_path_mutable",
)
def function_search_path_mutable(ctx: Context) -> Iterator[Finding]:
    for row in _mutable_search_path_functions(ctx):
        if _inlinable(row):
            continue
        routine = _routine(row)
        definer = " SECURITY DEFINER" if row["definer"] else ""
        yield Finding(
            _rule("function_search_path_mutable"),
            routine,
            "function",
            f"{row['language']}{definer} function {routine} runs with the caller's search_path",
            (_pin_search_path(row),),
            "pg_catalog first so built-ins cannot be shadowed, pg_temp last; or SET search_path = '' and "
            "schema-qualify every name in the body",
        )


@rule(
    "sql_function_search_path_mutable",
    "info",
    "security",
    "SQL function with a mutable search_path",
    "A SECURITY INVOKER SQL function runs with the caller's rights and search_path, so shadowing gains the "
    "caller nothing they could not do already; pinning search_path (a SET clause) also stops PostgreSQL "
    "from inlining the function into the calling query. Schema-qualify every name in its body instead.",
    splinter="function_search_path_mutable",
)
def sql_function_search_path_mutable(ctx: Context) -> Iterator[Finding]:
    for row in _mutable_search_path_functions(ctx):
        if not _inlinable(row):
            continue
        routine = _routine(row)
        yield Finding(
            _rule("sql_function_search_path_mutable"),
            routine,
            "function",
            f"SQL function {routine} runs with the caller's search_path",
            (_pin_search_path(row),),
            "the SET clause stops inlining; if the function is hot, schema-qualify every name in its body "
            "(pg_catalog.now(), schema.table) and leave it unpinned",
        )


@rule(
    "security_definer_function_executable",
    "warning",
    "security",
    "SECURITY DEFINER function executable by PUBLIC or an API role",
    "A SECURITY DEFINER function runs with its owner's rights. PostgreSQL grants EXECUTE to PUBLIC on every "
    "new function, so unless it was revoked every role, API roles included, can call it.",
    splinter="anon_security_definer_function_executable",
)
def security_definer_function_executable(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS args,
               pg_get_userbyid(p.proowner) AS owner,
               (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) AS a
                                            WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')) AS public_exec,
               ARRAY(SELECT r FROM unnest(%(roles)s::text[]) AS r
                     WHERE has_function_privilege(r, p.oid, 'EXECUTE')
                       AND has_schema_privilege(r, n.oid, 'USAGE')) AS api_exec
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prosecdef AND n.nspname = ANY(%(schemas)s::text[])
          AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
        ORDER BY 1, 2, 3
        """
    )
    for row in rows:
        if not row["public_exec"] and not row["api_exec"]:
            continue
        routine = _routine(row)
        who = ["PUBLIC (every role)"] if row["public_exec"] else []
        who += row["api_exec"]
        fix = [f"REVOKE EXECUTE ON ROUTINE {routine} FROM PUBLIC"]
        if row["api_exec"]:
            fix.append(f"REVOKE EXECUTE ON ROUTINE {routine} FROM {_roles(row['api_exec'])}")
        yield Finding(
            _rule("security_definer_function_executable"),
            routine,
            "function",
            f"SECURITY DEFINER function {routine} runs as {ident(row['owner'])} and can be executed by "
            f"{', '.join(who)}",
            tuple(fix),
            "then GRANT EXECUTE to the one role that needs it; if an API role must call it, make sure it checks "
            "the caller itself and pins search_path",
        )


def _option_true(options: list[str] | None, name: str) -> bool:
    for option in options or []:
        key, _, value = option.partition("=")
        if key == name:
            return value.lower() in _TRUE_WORDS
    return False


@rule(
    "security_definer_view",
    "error",
    "security",
    "Security-definer view readable by an API role",
    "A view reads its tables with its owner's rights, not the reader's (unless security_invoker = true, "
    "PostgreSQL 15+). When the owner bypasses row-level security (a superuser, BYPASSRLS, or the owner of a "
    "table whose RLS is not forced), an API role that reads the view sees every row of those tables.",
    needs_api_roles=True,
    splinter="security_definer_view",
)
def security_definer_view(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name, o.rolname AS owner, o.rolsuper, o.rolbypassrls,
               c.reloptions::text[] AS options,
               ARRAY(SELECT r FROM unnest(%(roles)s::text[]) AS r
                     WHERE has_schema_privilege(r, n.oid, 'USAGE') AND has_table_privilege(r, c.oid, 'SELECT'))
                 AS readers,
               (SELECT coalesce(json_agg(DISTINCT jsonb_build_array(tn.nspname, t.relname)), '[]'::json)
                FROM pg_rewrite rw
                JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                                AND d.refclassid = 'pg_class'::regclass
                JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> c.oid
                JOIN pg_namespace tn ON tn.oid = t.relnamespace
                WHERE rw.ev_class = c.oid AND t.relkind IN ('r', 'p') AND t.relrowsecurity
                  AND NOT t.relforcerowsecurity AND t.relowner = c.relowner) AS bypassed
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_roles o ON o.oid = c.relowner
        WHERE c.relkind = 'v' AND n.nspname = ANY(%(schemas)s::text[])
        ORDER BY 1, 2
        """
    )
    for row in rows:
        if not row["readers"] or _option_true(row["options"], "security_invoker"):
            continue
        if row["rolsuper"] or row["rolbypassrls"]:
            how = f"its owner {ident(row['owner'])} is {'a superuser' if row['rolsuper'] else 'BYPASSRLS'}"
        elif row["bypassed"]:
            tables = ", ".join(qualified(s, t) for s, t in row["bypassed"])
            how = f"its owner {ident(row['owner'])} owns {tables}, whose row-level security it skips"
        else:
            continue
        view = qualified(row["schema"], row["name"])
        if ctx.server_version >= 150000:
            fix = (f"ALTER VIEW {view} SET (security_invoker = true)",)
            note = "readers then need SELECT on the tables beneath, and those tables' policies apply to them"
        else:
            fix = (f"REVOKE SELECT ON {view} FROM {_roles(row['readers'])}",)
            note = "PostgreSQL 15 adds security_invoker views; before it, keep such views away from API roles"
        yield Finding(
            _rule("security_definer_view"),
            view,
            "view",
            f"view {view} is readable by {', '.join(row['readers'])} and runs with its owner's rights: {how}",
            fix,
            note,
        )


@rule(
    "materialized_view_in_api",
    "warning",
    "security",
    "Materialized view readable by an API role",
    "Row-level security does not apply to materialized views: an API role that can SELECT one reads every "
    "row it stores, whatever the policies of the tables it was built from.",
    needs_api_roles=True,
    splinter="materialized_view_in_api",
)
def materialized_view_in_api(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name, array_agg(r.rolname ORDER BY r.rolname) AS roles
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN unnest(%(roles)s::text[]) AS r(rolname)
        WHERE c.relkind = 'm' AND n.nspname = ANY(%(schemas)s::text[])
          AND has_schema_privilege(r.rolname, n.oid, 'USAGE') AND has_table_privilege(r.rolname, c.oid, 'SELECT')
        GROUP BY n.nspname, c.relname
        ORDER BY 1, 2
        """
    )
    for row in rows:
        view = qualified(row["schema"], row["name"])
        yield Finding(
            _rule("materialized_view_in_api"),
            view,
            "materialized view",
            f"materialized view {view} is readable by {', '.join(row['roles'])}, and no row-level security applies "
            "to it",
            (f"REVOKE SELECT ON {view} FROM {_roles(row['roles'])}",),
            "serve it through a function or a security_invoker view that filters rows, or move it to a schema "
            "the API does not expose",
        )


@rule(
    "extension_in_public",
    "warning",
    "security",
    "Extension installed in public",
    "An extension's functions, operators and types in public are on every role's search_path and exposed "
    "wherever public is: an API exposing public exposes them, and a role that can create in public can "
    "shadow them.",
    splinter="extension_in_public",
)
def extension_in_public(ctx: Context) -> Iterator[Finding]:
    if "public" not in ctx.schemas:
        return
    rows = ctx.rows(
        """
        SELECT e.extname AS name, e.extrelocatable AS relocatable
        FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE n.nspname = 'public'
        ORDER BY 1
        """
    )
    for row in rows:
        name = ident(row["name"])
        if row["relocatable"]:
            fix: tuple[str, ...] = (
                "CREATE SCHEMA IF NOT EXISTS extensions",
                f"ALTER EXTENSION {name} SET SCHEMA extensions",
            )
            note = "add extensions to the search_path of the roles that call the extension unqualified"
        else:
            fix = (
                "CREATE SCHEMA IF NOT EXISTS extensions",
                f"DROP EXTENSION {name}",
                f"CREATE EXTENSION {name} SCHEMA extensions",
            )
            note = ("the extension is not relocatable: dropping it drops what depends on it (DROP refuses without "
                    "CASCADE); plan the move")
        yield Finding(
            _rule("extension_in_public"),
            name,
            "extension",
            f"extension {name} is installed in schema public",
            fix,
            note,
        )


# ---------------------------------------------------------------------------------------------
# Performance and integrity
# ---------------------------------------------------------------------------------------------


@rule(
    "no_primary_key",
    "warning",
    "performance",
    "Table without a primary key",
    "Without a primary key rows have no stable identity: duplicates creep in, logical replication cannot "
    "replicate UPDATE or DELETE, and tools that edit rows by key cannot.",
    splinter="no_primary_key",
)
def no_primary_key(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
               ARRAY(SELECT a.attname::text FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
               (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                  AND i.indpred IS NULL AND i.indexprs IS NULL
                  AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                                  WHERE a.attrelid = c.oid AND a.attnum = ANY(i.indkey::int2[]) AND NOT a.attnotnull)
                ORDER BY i.indnatts, ic.relname LIMIT 1) AS candidate
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%(schemas)s::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1, 2
        """
    )
    for row in rows:
        table = qualified(row["schema"], row["name"])
        if row["candidate"] and row["kind"] == "r":
            fix = f"ALTER TABLE {table} ADD PRIMARY KEY USING INDEX {ident(row['candidate'])}"
            note = "the unique index on NOT NULL columns becomes the key (brief ACCESS EXCLUSIVE lock, no rebuild)"
        else:
            column = "id" if "id" not in row["columns"] else _name(row["name"], "id")
            fix = f"ALTER TABLE {table} ADD COLUMN {ident(column)} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            note = ("rewrites the table under an ACCESS EXCLUSIVE lock; on a big table prefer a key over existing "
                    "NOT NULL columns (CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX)")
        yield Finding(
            _rule("no_primary_key"), table, "table", f"table {table} has no primary key", (fix,), note
        )


def _covers(predicate: str | None, columns: list[str]) -> bool:
    """A partial index still serves a foreign key's lookups when it only drops rows whose key is NULL."""
    if predicate is None:
        return True
    allowed = {f"{ident(c)} IS NOT NULL" for c in columns}
    parts = [p.strip().strip("()").strip() for p in re.split(r"\)\s+AND\s+\(", predicate.strip())]
    return all(p in allowed for p in parts)


def _foreign_keys(ctx: Context) -> list[dict[str, Any]]:
    """Every foreign key of the examined schemas with the indexes whose leading columns are its columns."""
    return ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, k.conname AS constraint,
               ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
                     ORDER BY u.ord) AS columns,
               rn.nspname AS ref_schema, rc.relname AS ref_name,
               (SELECT coalesce(json_agg(json_build_array(i.indexrelid::int8, pg_get_expr(i.indpred, i.indrelid))),
                                '[]'::json)
                FROM pg_index i
                WHERE i.indrelid = k.conrelid AND i.indisvalid
                  AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
                  AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] <@ k.conkey) AS indexes
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_class rc ON rc.oid = k.confrelid
        JOIN pg_namespace rn ON rn.oid = rc.relnamespace
        WHERE k.contype = 'f' AND k.conparentid = 0 AND n.nspname = ANY(%(schemas)s::text[])
        ORDER BY 1, 2, 4
        """
    )


def _covering_indexes(fk: dict[str, Any]) -> list[int]:
    return [int(oid) for oid, pred in fk["indexes"] if _covers(pred, fk["columns"])]


@rule(
    "unindexed_foreign_key",
    "warning",
    "performance",
    "Foreign key without a covering index",
    "Every DELETE or key UPDATE on the referenced table looks up the referencing rows; without an index "
    "whose leading columns are the foreign key's, each lookup scans the whole referencing table, under the "
    "referenced row's lock. Joins along the key lose the index too.",
    splinter="unindexed_foreign_keys",
)
def unindexed_foreign_key(ctx: Context) -> Iterator[Finding]:
    for fk in _foreign_keys(ctx):
        if _covering_indexes(fk):
            continue
        table = qualified(fk["schema"], fk["name"])
        columns = ", ".join(ident(c) for c in fk["columns"])
        index = ident(_name(fk["name"], *fk["columns"], "idx"))
        concurrently = " CONCURRENTLY" if fk["kind"] == "r" else ""
        name = f"{table}.{ident(fk['constraint'])}"
        yield Finding(
            _rule("unindexed_foreign_key"),
            name,
            "foreign key",
            f"foreign key {name} ({columns}) -> {qualified(fk['ref_schema'], fk['ref_name'])} has no index led "
            "by its columns",
            (f"CREATE INDEX{concurrently} IF NOT EXISTS {index} ON {table} ({columns})",),
            "CONCURRENTLY cannot run in a transaction block; if it fails it leaves an INVALID index to drop"
            if concurrently else "",
        )


def _drop_index(schema: str, table: str, index: str, constraint: str | None) -> str:
    if constraint:
        return f"ALTER TABLE {qualified(schema, table)} DROP CONSTRAINT {ident(constraint)}"
    return f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(schema, index)}"


@rule(
    "duplicate_index",
    "warning",
    "performance",
    "Duplicate index",
    "Two indexes with the same method, columns, operator classes, expressions and predicate serve the same "
    "queries; the second only costs every write and its share of memory and disk.",
    splinter="duplicate_index",
)
def duplicate_index(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS table_name, ic.relname AS name, i.indisunique AS unique,
               k.conname AS constraint,
               concat_ws(' | ', ic.relam::text, i.indkey::text, i.indclass::text, i.indcollation::text,
                         i.indoption::text, coalesce(pg_get_expr(i.indexprs, i.indrelid), '-'),
                         coalesce(pg_get_expr(i.indpred, i.indrelid), '-')) AS signature
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
        WHERE i.indisvalid AND n.nspname = ANY(%(schemas)s::text[])
        ORDER BY 1, 2, (k.conname IS NULL), (NOT i.indisunique), 3
        """
    )
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["schema"], row["table_name"], row["signature"]), []).append(row)
    for (schema, table_name, _), members in groups.items():
        keep = members[0]
        for extra in members[1:]:
            index = qualified(schema, extra["name"])
            table = qualified(schema, table_name)
            yield Finding(
                _rule("duplicate_index"),
                index,
                "index",
                f"index {index} on {table} duplicates {qualified(schema, keep['name'])}",
                (_drop_index(schema, table_name, extra["name"], extra["constraint"]),),
                f"it backs constraint {ident(extra['constraint'])}: check that nothing references it by name"
                if extra["constraint"] else "",
            )


@rule(
    "redundant_index",
    "info",
    "performance",
    "Index made redundant by a wider one",
    "A btree index whose columns are the leading columns of another btree index on the same table (same "
    "operator classes, no expressions, no predicates) serves no lookup the wider one cannot; it still costs "
    "every write. The narrower one is smaller, so a hot query may still prefer it: look before dropping.",
)
def redundant_index(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS table_name, ic.relname AS name, wc.relname AS wider
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
        JOIN LATERAL (
            SELECT w.indexrelid FROM pg_index w JOIN pg_class wic ON wic.oid = w.indexrelid
            WHERE w.indrelid = i.indrelid AND w.indexrelid <> i.indexrelid AND w.indisvalid
              AND wic.relam = ic.relam AND w.indnkeyatts > i.indnkeyatts
              AND w.indpred IS NULL AND w.indexprs IS NULL
              AND (w.indkey::int2[])[0:i.indnkeyatts - 1] = (i.indkey::int2[])[0:i.indnkeyatts - 1]
              AND (w.indclass::oid[])[0:i.indnkeyatts - 1] = (i.indclass::oid[])[0:i.indnkeyatts - 1]
              AND (w.indcollation::oid[])[0:i.indnkeyatts - 1] = (i.indcollation::oid[])[0:i.indnkeyatts - 1]
              AND (w.indoption::int2[])[0:i.indnkeyatts - 1] = (i.indoption::int2[])[0:i.indnkeyatts - 1]
            ORDER BY w.indnkeyatts, wic.relname LIMIT 1
        ) AS wide ON true
        JOIN pg_class wc ON wc.oid = wide.indexrelid
        WHERE i.indisvalid AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
          AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnatts = i.indnkeyatts
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
          AND n.nspname = ANY(%(schemas)s::text[])
        ORDER BY 1, 2, 3
        """
    )
    for row in rows:
        index = qualified(row["schema"], row["name"])
        wider = qualified(row["schema"], row["wider"])
        yield Finding(
            _rule("redundant_index"),
            index,
            "index",
            f"index {index} on {qualified(row['schema'], row['table_name'])} is a leading part of {wider}",
            (f"DROP INDEX CONCURRENTLY IF EXISTS {index}",),
            f"check with EXPLAIN that the queries it serves use {wider} once it is gone",
        )


@rule(
    "unused_index",
    "info",
    "performance",
    "Index never used",
    "An index no query has scanned since statistics began costs every write. Statistics may be young "
    "(a new database, a reset, a replica that serves the reads): confirm over a full business cycle, or "
    "with the migration tester's unused-index report, before dropping.",
    splinter="unused_index",
)
def unused_index(ctx: Context) -> Iterator[Finding]:
    since = ctx.rows(
        """
        SELECT coalesce(to_char(stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), 'never reset') AS reset
        FROM pg_stat_database WHERE datname = current_database()
        """
    )
    reset = since[0]["reset"] if since else "unknown"
    covering = {oid for fk in _foreign_keys(ctx) for oid in _covering_indexes(fk)}
    rows = ctx.rows(
        """
        SELECT s.schemaname AS schema, s.relname AS table_name, s.indexrelname AS name,
               s.indexrelid::int8 AS oid, pg_size_pretty(pg_relation_size(s.indexrelid)) AS size
        FROM pg_stat_user_indexes s
        JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND s.schemaname = ANY(%(schemas)s::text[])
          AND i.indisvalid AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
        ORDER BY 1, 2, 3
        """
    )
    for row in rows:
        if row["oid"] in covering:
            continue
        index = qualified(row["schema"], row["name"])
        yield Finding(
            _rule("unused_index"),
            index,
            "index",
            f"index {index} on {qualified(row['schema'], row['table_name'])} ({row['size']}) has never been "
            f"scanned (statistics: {reset})",
            (f"DROP INDEX CONCURRENTLY IF EXISTS {index}",),
            "only if it stays unused over a full business cycle; statistics are per server, so check replicas too",
        )


@rule(
    "index_unused_by_declared_queries",
    "info",
    "performance",
    "Declared index no declared query uses (--queries)",
    "The migration tester's evidence, on this database's data and statistics: every query the project "
    "declares is EXPLAINed (never executed), and a declared index that no plan reads serves none of them. "
    "Primary keys and UNIQUE constraints are left out: they enforce.",
)
def index_unused_by_declared_queries(ctx: Context) -> Iterator[Finding]:
    project = ctx.project
    if project is None or project.schema.name not in ctx.schemas:
        return
    from orders_schema.tester.checks.explain import index_usage

    schema = project.schema.name
    present = {
        row["name"]
        for row in ctx.rows(
            """
            SELECT ic.relname AS name FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            JOIN pg_namespace n ON n.oid = ic.relnamespace
            WHERE n.nspname = %(schema)s AND i.indisvalid
            """,
            schema=schema,
        )
    }
    usage = index_usage(ctx.conn, project)
    failures = sorted(name for name, plan in usage.plans.items() if plan.startswith("EXPLAIN failed"))
    caveat = f"; {len(failures)} queries could not be EXPLAINed: {', '.join(failures)}" if failures else ""
    for name in usage.unused:
        if name not in present:
            continue
        index = qualified(schema, name)
        declared = usage.declared_by.get(name)
        why = f" (declared for {', '.join(declared)}, but its plan does not use it)" if declared else ""
        yield Finding(
            _rule("index_unused_by_declared_queries"),
            index,
            "index",
            f"index {index} is read by no plan of the {len(project.queries)} queries project "
            f"{schema} declares{why}",
            (f"DROP INDEX CONCURRENTLY IF EXISTS {index}",),
            "plans follow this database's statistics: on empty or young tables the planner may prefer other "
            "paths; drop it in the declarations (orders-schema generate), not by hand" + caveat,
        )


@rule(
    "invalid_index",
    "warning",
    "performance",
    "INVALID index",
    "An index left INVALID by a failed CREATE INDEX CONCURRENTLY or REINDEX serves no query, yet every write "
    "may still maintain it, and a UNIQUE one may still reject rows.",
)
def invalid_index(ctx: Context) -> Iterator[Finding]:
    rows = ctx.rows(
        """
        SELECT n.nspname AS schema, c.relname AS table_name, ic.relname AS name, i.indisready AS ready
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT i.indisvalid AND ic.relkind = 'i' AND n.nspname = ANY(%(schemas)s::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
        ORDER BY 1, 2, 3
        """
    )
    for row in rows:
        index = qualified(row["schema"], row["name"])
        cost = "every write still maintains it" if row["ready"] else "writes do not maintain it"
        yield Finding(
            _rule("invalid_index"),
            index,
            "index",
            f"index {index} on {qualified(row['schema'], row['table_name'])} is INVALID: no query uses it, {cost}",
            (f"REINDEX INDEX CONCURRENTLY {index}",),
            "first remove what made the build fail (duplicate keys, an expression that errors on some row); "
            f"or drop it: DROP INDEX CONCURRENTLY IF EXISTS {index}",
        )
