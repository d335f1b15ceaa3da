"""Access cases: one per (role, object, command), derived from the declared privileges, row
security and policies, run as that role (``SET LOCAL ROLE``) inside the rolled-back transaction.

The roles are the schema's declared roles and the API roles (``anon``, ``authenticated``: an
HTTP API's per-request roles, which hold what ``PUBLIC`` holds); a role the server lacks is
skipped if it is an API role, failed if it is declared. The objects: every table (SELECT,
INSERT, UPDATE, DELETE, TRUNCATE), every view (SELECT) and every function a caller may call
directly (EXECUTE; trigger functions cannot be). What each expects:

``denied``
    the role lacks USAGE on the schema or the privilege the statement needs: it fails with
    42501 (insufficient privilege);
``no rows``
    it holds the privilege, but the table's row security is on and no permissive policy for the
    role (or PUBLIC) covers the command: SELECT sees no row, UPDATE and DELETE change none (a
    row is put there first), INSERT fails with 42501;
``allowed``
    the statement succeeds, and where row security is off or every policy for the command is
    ``true`` it reaches the row put there first (SELECT counts it, UPDATE and DELETE change it).

The statements: ``SELECT count(*) FROM t``; an INSERT of a valid row (its parents inserted
first, as the connecting user); ``UPDATE t SET c = c WHERE key = ...`` (``c`` a column the role
may update; it needs SELECT on ``c`` and the key); ``DELETE FROM t WHERE key = ...`` (SELECT on
the key); ``TRUNCATE t`` (under a 1 s lock timeout); ``SELECT f()``. The connecting user must be
able to ``SET ROLE`` to each role (a superuser, or a member): otherwise the case is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import psycopg

from orders_schema.declare import fragments
from orders_schema.declare.quoting import ident, q, query
from orders_schema.kinds.role import PUBLIC
from orders_schema.tester.checks import Case, CheckResult, failed, passed, skipped
from orders_schema.tester.checks.rows import RowFactory, valid_rows

if TYPE_CHECKING:
    from orders_schema.declare import model as m
    from orders_schema.declare.project import Project

API_ROLES = ("anon", "authenticated")
"""An HTTP API's per-request roles (PostgREST, Supabase), checked when the server has them."""

Command = Literal["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "EXECUTE"]
Expected = Literal["denied", "no rows", "allowed"]
TABLE_COMMANDS: tuple[Command, ...] = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")


@dataclass(frozen=True)
class Access:
    """What the declarations give one role (directly or through PUBLIC)."""

    schema: m.Schema
    role: str

    def _holders(self) -> set[str]:
        return {self.role, PUBLIC}

    def usage(self) -> bool:
        return any(g.on == "schema" and "USAGE" in g.privileges and _grantee(g.to) in self._holders()
                   for g in self.schema.grants)

    def columns(self, relation: str, privilege: str) -> set[str] | None:
        """The columns ``privilege`` covers on ``relation``; None: the whole relation."""
        cols: set[str] = set()
        for g in self.schema.grants:
            mine = _grantee(g.to) in self._holders()
            if g.on == "table" and g.name == relation and privilege in g.privileges and mine:
                if not g.columns:
                    return None
                cols |= set(g.columns)
        return cols

    def may(self, relation: str, privilege: str, columns: tuple[str, ...] = ()) -> bool:
        """Whether the role may use ``privilege`` on ``relation`` (on every column of ``columns``;
        on at least one column when ``columns`` is empty)."""
        held = self.columns(relation, privilege)
        if held is None:
            return True
        return bool(held) and (set(columns) <= held if columns else True)

    def executes(self, function: str) -> bool:
        revoked = any(r.name == function and "EXECUTE" in r.privileges for r in self.schema.revokes)
        granted = any(g.on == "function" and g.name == function and _grantee(g.to) in self._holders()
                      for g in self.schema.grants)
        return granted or not revoked

    def policies(self, table: m.Table, command: Command) -> list[m.Policy]:
        """The permissive policies that let the role run ``command`` on ``table``."""
        return [p for p in table.policies if p.permissive and p.command in ("ALL", command)
                and set(p.role_names) & self._holders()]


def _grantee(name: str) -> str:
    return PUBLIC if name.upper() == PUBLIC else name


def expected(access: Access, table: m.Table | None, relation: str, command: Command,
             needs: dict[str, tuple[str, ...]]) -> Expected:
    """``needs``: privilege -> the columns the statement uses with it."""
    if not access.usage() or not all(access.may(relation, p, cols) for p, cols in needs.items()):
        return "denied"
    rls = table is not None and command != "TRUNCATE" and table.row_security != "disabled"
    if rls and table is not None and not access.policies(table, command):
        return "no rows"
    return "allowed"


def _every_row(access: Access, table: m.Table, command: Command) -> bool:
    """Whether the role's policies for ``command`` let it reach every row (all are ``true``)."""
    if table.row_security == "disabled":
        return True
    found = access.policies(table, command)
    return bool(found) and all(fragments.normal(p.using or "true") == fragments.normal("true") for p in found)


# -- running one case ----------------------------------------------------------------------------


class _Denied(Exception):
    pass


def _as_role(conn: psycopg.Connection, role: str, action: Callable[[], Any]) -> Any:
    """Run ``action`` as ``role`` (then back to the connecting user); raises :class:`_Denied` on 42501."""
    if conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
        raise LookupError(role)
    try:
        with conn.transaction():
            conn.execute(query(f"SET LOCAL ROLE {ident(role).replace('%', '%%')}"))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PermissionError(str(exc).splitlines()[0]) from None
    try:
        with conn.transaction():
            return action()
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _Denied(str(exc).splitlines()[0]) from None
    finally:
        conn.execute("RESET ROLE")


@dataclass(frozen=True)
class _AccessCase:
    project: Project
    role: str
    declared: bool
    kind: Literal["table", "view", "function"]
    name: str
    command: Command

    @property
    def id(self) -> str:
        return f"access:{self.role}.{self.name}.{self.command}"

    def __call__(self, conn: psycopg.Connection) -> CheckResult:
        schema = self.project.schema
        access = Access(schema, self.role)
        subject = f"{self.role} {self.command} on {schema.name}.{self.name}"
        row = conn.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s", (self.role,)).fetchone()
        if row is not None and row[0]:  # e.g. the owner of a schema read by `init`
            return skipped(f"{subject}: {self.role} is a superuser, which no privilege or policy restricts")
        try:
            return self._run(conn, access, subject)
        except LookupError:
            if self.declared:
                return failed(f"{subject}: the declared role {self.role} does not exist on this server")
            return skipped(f"{subject}: no role {self.role} on this server")
        except PermissionError as exc:
            return skipped(f"{subject}: the connecting user cannot SET ROLE {self.role} ({exc})")

    def _run(self, conn: psycopg.Connection, access: Access, subject: str) -> CheckResult:
        schema = self.project.schema
        target = q(schema.name, self.name)
        if self.kind == "function":
            want: Expected = "allowed" if access.usage() and access.executes(self.name) else "denied"
            return self._judge(conn, subject, want, lambda: conn.execute(query(f"SELECT {target}()")).fetchone(), None)
        if self.kind == "view":
            want = expected(access, None, self.name, "SELECT", {"SELECT": ()})
            return self._judge(conn, subject, want, lambda: _count(conn, target), None)
        table = schema.table(self.name)
        factory = RowFactory(conn, schema, valid_rows(self.project), others=self.project.other_schemas)
        key = table.primary_key.columns if table.primary_key else ()
        if self.command == "SELECT":
            factory.insert_valid(table)  # a row to hide (or to see)
            want = expected(access, table, self.name, "SELECT", {"SELECT": ()})
            every = 1 if _every_row(access, table, "SELECT") else None
            return self._judge(conn, subject, want, lambda: _count(conn, target), every)
        if self.command == "INSERT":
            values = factory.valid(table)
            want = expected(access, table, self.name, "INSERT", {"INSERT": tuple(values)})
            names = ", ".join(q(c) for c in values)
            text = (f"INSERT INTO {target} ({names}) VALUES ({', '.join('%s' for _ in values)})" if values
                    else f"INSERT INTO {target} DEFAULT VALUES")
            return self._judge(conn, subject, want,
                               lambda: conn.execute(query(text), list(values.values())).rowcount, None)
        if self.command == "TRUNCATE":
            want = expected(access, table, self.name, "TRUNCATE", {"TRUNCATE": ()})
            conn.execute("SET LOCAL lock_timeout = '1s'")
            return self._judge(conn, subject, want, lambda: conn.execute(query(f"TRUNCATE {target}")).rowcount, None)
        if not key:
            return skipped(f"{subject}: the table has no primary key to single out a row")
        row = factory.insert_valid(table)
        where = " AND ".join(f"{q(c)} = %s" for c in key)
        params = [row[c] for c in key]
        if self.command == "UPDATE":
            held = access.columns(self.name, "UPDATE")
            # a column PostgreSQL computes (GENERATED ALWAYS: identity or stored) takes only DEFAULT
            computed = {c.name for c in table.columns
                        if c.generated is not None or (c.identity is not None and c.identity.generated == "ALWAYS")}
            allowed = [c.name for c in table.columns if held is None or c.name in held]
            choices = ([c for c in allowed if c not in key and c not in computed]
                       or [c for c in allowed if c not in key] or allowed or [table.columns[0].name])
            column = choices[0]
            want = expected(access, table, self.name, "UPDATE",
                            {"UPDATE": (column,), "SELECT": (column, *key)})
            value = "DEFAULT" if column in computed else q(column)
            text = f"UPDATE {target} SET {q(column)} = {value} WHERE {where}"
        else:
            want = expected(access, table, self.name, "DELETE", {"DELETE": (), "SELECT": key})
            text = f"DELETE FROM {target} WHERE {where}"
        every = 1 if _every_row(access, table, self.command) else None
        return self._judge(conn, subject, want, lambda: conn.execute(query(text), params).rowcount, every)

    def _judge(self, conn: psycopg.Connection, subject: str, want: Expected, action: Callable[[], Any],
               every: int | None) -> CheckResult:
        try:
            got = _as_role(conn, self.role, action)
        except _Denied as exc:
            if want == "denied" or (want == "no rows" and self.command == "INSERT"):
                return passed(f"{subject}: refused as declared ({exc})")
            return failed(f"{subject}: expected {want}, but refused: {exc}")
        if want == "denied":
            return failed(f"{subject}: expected to be refused (42501), but it ran (result {got!r}): "
                          "a privilege the declarations do not give")
        if want == "no rows" and self.command == "INSERT":
            return failed(f"{subject}: expected row security to refuse the row, but it was inserted")
        if want == "no rows":
            if got != 0:
                return failed(f"{subject}: expected to see no row (row security, no policy), got {got}")
            return passed(f"{subject}: sees no row, as declared")
        if every is not None and (got < every if self.command == "SELECT" else got != every):
            return failed(f"{subject}: expected allowed, but it did not reach the row put there (got {got})")
        return passed(f"{subject}: allowed as declared")


def _count(conn: psycopg.Connection, target: str) -> int:
    row = conn.execute(query(f"SELECT count(*) FROM {target}")).fetchone()
    return int(row[0]) if row else 0


def roles(schema: m.Schema) -> list[tuple[str, bool]]:
    """``(role, declared)``: the declared roles, then the API roles not declared."""
    declared = [r.name for r in schema.roles]
    return [(r, True) for r in declared] + [(r, False) for r in API_ROLES if r not in declared]


def cases(project: Project) -> list[Case]:
    """One case per (role, object, command); none when the schema declares no privileges."""
    schema = project.schema
    if not schema.roles and not schema.grants and not schema.revokes:
        return []
    out: list[Case] = []
    for role, declared in roles(schema):
        targets: list[tuple[Literal["table", "view", "function"], str, Command]] = [
            ("table", t.name, c) for t in schema.tables for c in TABLE_COMMANDS
        ]
        targets += [("view", v.name, "SELECT") for v in schema.views]
        targets += [("function", f.name, "EXECUTE") for f in schema.functions
                    if f.returns.lower() != "trigger" and not f.arguments]
        for kind, name, command in targets:
            run = _AccessCase(project, role, declared, kind, name, command)
            out.append(Case(run.id, run, "rollback", f"{role}: {command} on {schema.name}.{name} as declared"))
    return out
