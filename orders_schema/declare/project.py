"""A project: its head declarations, its versions, and the ``schema/`` folder that holds them.

``schema/`` holds one ``V<n>__<name>.sql`` file per version plus ``released.json``: the
SHA-256 of every released file and a snapshot of the schema as the released files leave it.
A released file is never rewritten: ``check`` fails when one was edited, and ``render`` refuses
to change one.
"""

from __future__ import annotations

import importlib
import re
import sysconfig
import traceback
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from orders_schema.declare import model as m
from orders_schema.declare.behaviour import Behaviour

ENGINE_FOLDERS = ("declare", "migrate", "store", "live", "tester", "advise", "review")
"""The engine's folders inside the package; everything else there (``walltrack/``) is a product."""


class ProjectError(ValueError):
    """A project that cannot be loaded or rendered."""




@dataclass(frozen=True)
class Project:
    """A declared project.

    ``schema``: the head declarations. ``versions``: the hand-declared versions, in order.
    ``queries``: the application's statements, each with the index that must serve it.
    ``synthetic_data``: SQL statements that fill the schema with realistic rows; ``%(rows)s`` is
    the number of rows of the main table, ``%(run)s`` a token unique to each load, to be written
    into every key the statements make so that a load never collides with rows already in the
    database (the tester loads them into live databases before EXPLAINing the queries, and rolls
    them back). Run them with the parameters of :func:`synthetic_parameters`, the same for every
    statement of one load.
    ``behaviours``: what triggers promise (``TouchesOnUpdate``, ``AuditsChange``) and rows tables
    must accept (``ValidRow``), from :mod:`orders_schema.declare.behaviour`; the tester proves each one.
    """

    schema: m.Schema
    versions: tuple[m.Version, ...]
    schema_dir: Path = field(default_factory=lambda: Path("schema"))
    queries: tuple[m.Query, ...] = ()
    synthetic_data: tuple[str, ...] = ()
    allow_destructive: tuple[str, ...] = ()
    """Destructive changes ``generate`` may write, e.g. ``"drop column walltrack.orders.legacy"``."""
    behaviours: tuple[Behaviour, ...] = ()
    other_schemas: tuple[m.Schema, ...] = ()
    """More schemas declared beside ``schema`` (``orders-schema init`` with several ``--schema``):
    one history, their changes generated into the same versions and planned together with
    ``schema``'s, ordered by the dependencies between schemas
    (:mod:`orders_schema.migrate.together`); their released snapshots are in ``released.json``
    (``other_schemas``). The hand-declared versions lay out ``schema`` only."""

    @property
    def schemas(self) -> tuple[m.Schema, ...]:
        """``schema`` then ``other_schemas``."""
        return (self.schema, *self.other_schemas)

    def with_dir(self, schema_dir: Path) -> Project:
        return replace(self, schema_dir=schema_dir)

    def query(self, name: str) -> m.Query:
        for q in self.queries:
            if q.name == name:
                return q
        raise KeyError(name)


def synthetic_parameters(rows: int, run: str | None = None) -> dict[str, int | str]:
    """The parameters of one load of a project's ``synthetic_data``: ``rows`` and ``run``.

    ``run`` is a new random token (16 hex digits) unless given; pass the same dictionary to every
    statement of the load, so that rows made by one statement can reference those of another.
    """
    if run is None:
        run = uuid.uuid4().hex[:16]
    elif not re.fullmatch(r"[a-z0-9]{1,32}", run):
        raise ValueError(f"synthetic data run token {run!r}: use 1 to 32 lower-case letters and digits")
    return {"rows": rows, "run": run}


def load(spec: str, schema_dir: Path | None = None) -> Project:
    """Load ``"package.module:ATTRIBUTE"``, e.g. ``orders_schema.walltrack:PROJECT``.

    Every way this can fail raises :class:`ProjectError` with one line naming the spec: a module
    that cannot be imported or raises while it builds its declarations (with the file and line
    that raised), a missing attribute, an attribute that is not a :class:`Project`.
    """
    project = load_object(spec, "project")
    if not isinstance(project, Project):
        module_name, _, attr = spec.partition(":")
        raise ProjectError(
            f"project {spec!r}: {module_name}.{attr or 'PROJECT'} is a {type(project).__name__}, "
            "not an orders_schema Project"
        )
    return project.with_dir(schema_dir) if schema_dir is not None else project


def load_object(spec: str, what: str = "project") -> object:
    """The attribute ``"package.module:ATTRIBUTE"`` names (``PROJECT`` when none is given); every
    failure to import it is one :class:`ProjectError` line naming the spec (``what`` calls it)."""
    module_name, _, attr = spec.partition(":")
    attr = attr or "PROJECT"
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise ProjectError(f"{what} {spec!r}: expected module:ATTRIBUTE, e.g. orders_schema.walltrack:PROJECT")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProjectError(f"{what} {spec!r}: cannot import {module_name!r}: {exc}") from None
    except ValueError as exc:  # a declaration error raised while the module builds its objects
        raise ProjectError(f"{what} {spec!r}: {_one_line(exc)}{_where(exc)}") from None
    except Exception as exc:  # the project's own code is input here: one line, not a traceback
        raise ProjectError(
            f"{what} {spec!r}: importing {module_name!r} raised {type(exc).__name__}: {_one_line(exc)}{_where(exc)}"
        ) from None
    if not hasattr(module, attr):
        raise ProjectError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
    return getattr(module, attr)


def _where(exc: BaseException) -> str:
    """`` (file:line)`` in the project's code where ``exc`` was raised (or of a syntax error): the
    innermost frame outside this library's own modules, the import machinery and the standard library."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}:{exc.lineno})"
    package = Path(__file__).resolve().parents[1]
    engine = {package, *(package / name for name in ENGINE_FOLDERS)}
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()

    def ours(filename: str) -> bool:
        path = Path(filename).resolve()
        return filename.startswith("<") or path.parent in engine or stdlib in path.parents

    frames = traceback.extract_tb(exc.__traceback__)
    project = [f for f in frames if not ours(f.filename)] or frames
    return f" ({project[-1].filename}:{project[-1].lineno})" if project else ""


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
        except Exception:  # pragma: no cover - defensive: fall back to the plain message
            pass
    return str(exc).splitlines()[0]




































# ---------------------------------------------------------------------------------------------
# generate: the next version from the difference between the released schema and the head
# ---------------------------------------------------------------------------------------------











