"""A project: its head declarations, its versions, and the ``schema/`` folder that holds them.

``schema/`` holds one ``V<n>__<name>.sql`` file per version plus ``released.json``: the
SHA-256 of every released file and a snapshot of the schema as the released files leave it.
A released file is never rewritten: ``check`` fails when one was edited, and ``render`` refuses
to change one.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import model as m
from . import plan
from .behaviour import Behaviour
from .render import RENDERER

MANIFEST = "released.json"
VERSION_FILE = re.compile(r"V(?P<number>\d+)__(?P<name>[a-z0-9_]+)\.sql\Z")


class ProjectError(ValueError):
    """A project that cannot be loaded or rendered."""


@dataclass(frozen=True)
class Project:
    """A declared project.

    ``schema``: the head declarations. ``versions``: the hand-declared versions, in order.
    ``queries``: the application's statements, each with the index that must serve it.
    ``synthetic_data``: SQL statements that fill the schema with realistic rows; ``%(rows)s`` is
    the number of rows of the main table (the tester loads them before EXPLAINing the queries).
    ``behaviours``: what triggers promise (``TouchesOnUpdate``, ``AuditsChange``) and rows tables
    must accept (``ValidRow``), from :mod:`orders_schema.behaviour`; the tester proves each one.
    """

    schema: m.Schema
    versions: tuple[m.Version, ...]
    schema_dir: Path = field(default_factory=lambda: Path("schema"))
    queries: tuple[m.Query, ...] = ()
    synthetic_data: tuple[str, ...] = ()
    behaviours: tuple[Behaviour, ...] = ()

    def with_dir(self, schema_dir: Path) -> Project:
        return replace(self, schema_dir=schema_dir)

    def query(self, name: str) -> m.Query:
        for q in self.queries:
            if q.name == name:
                return q
        raise KeyError(name)


def load(spec: str, schema_dir: Path | None = None) -> Project:
    """Load ``"package.module:ATTRIBUTE"``, e.g. ``orders_schema.walltrack:PROJECT``."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProjectError(f"project {spec!r}: cannot import {module_name!r}: {exc}") from None
    except ValueError as exc:  # a declaration error raised while the module builds its objects
        raise ProjectError(f"project {spec!r}: {_one_line(exc)}") from None
    project = getattr(module, attr or "PROJECT", None)
    if not isinstance(project, Project):
        raise ProjectError(f"project {spec!r}: {module_name}.{attr or 'PROJECT'} is not an orders_schema Project")
    return project.with_dir(schema_dir) if schema_dir is not None else project


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
        except Exception:  # pragma: no cover - defensive: fall back to the plain message
            pass
    return str(exc).splitlines()[0]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rendered_versions(project: Project) -> dict[str, str]:
    """File name -> text for every hand-declared version, in version order."""
    files: dict[str, str] = {}
    previous: m.Schema | None = None
    last = 0
    for version in project.versions:
        if version.number <= last:
            raise ProjectError(f"V{version.number} follows V{last}: version numbers must increase")
        statements = plan.baseline_statements(version, previous)
        files[version.filename] = RENDERER.script(statements, version.header)
        previous, last = version.state, version.number
    return files


def released_schema(project: Project) -> m.Schema | None:
    """The schema the released versions leave (the last version's declared state)."""
    return project.versions[-1].state if project.versions else None


def read_manifest(schema_dir: Path) -> dict[str, Any]:
    path = schema_dir / MANIFEST
    if not path.exists():
        return {"versions": []}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path}: not valid JSON ({exc})") from None
    return data


def manifest_for(project: Project, files: dict[str, str]) -> dict[str, Any]:
    entries = []
    for name, text in files.items():
        match = VERSION_FILE.match(name)
        assert match is not None
        entries.append(
            {"version": int(match["number"]), "name": match["name"], "file": name, "sha256": sha256(text)}
        )
    snapshot = released_schema(project)
    return {
        "versions": entries,
        "schema": snapshot.model_dump(mode="json", by_alias=True) if snapshot else None,
    }


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def render(project: Project) -> list[str]:
    """Write every version file and the manifest; return the names of files written.

    A file the manifest records as released is never rewritten with different text.
    """
    files = rendered_versions(project)
    recorded = {e["file"]: e["sha256"] for e in read_manifest(project.schema_dir).get("versions", [])}
    for name, text in files.items():
        if name in recorded and recorded[name] != sha256(text):
            raise ProjectError(
                f"{name} is released and its declaration changed: released files are never rewritten. "
                "Put the change in the head declarations and let `orders-schema generate` write the "
                "next version."
            )
    project.schema_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = project.schema_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(name)
    manifest = _dump(manifest_for(project, files))
    path = project.schema_dir / MANIFEST
    if not path.exists() or path.read_text(encoding="utf-8") != manifest:
        path.write_text(manifest, encoding="utf-8")
        written.append(MANIFEST)
    return written


def check(project: Project) -> list[str]:
    """Every way ``schema/`` differs from the declarations; empty when they agree."""
    problems: list[str] = []
    files = rendered_versions(project)
    manifest = read_manifest(project.schema_dir)
    recorded = {e["file"]: e["sha256"] for e in manifest.get("versions", [])}
    on_disk = {p.name for p in project.schema_dir.glob("*.sql")} if project.schema_dir.exists() else set()

    for name, sha in recorded.items():
        path = project.schema_dir / name
        if not path.exists():
            problems.append(f"{name}: released but missing from {project.schema_dir}/")
            continue
        actual = sha256(path.read_text(encoding="utf-8"))
        if actual != sha:
            problems.append(
                f"{name}: released file was edited (recorded sha256 {sha[:12]}, file has {actual[:12]}); "
                "released files are immutable: restore it and put the change in a new version"
            )
    for name, text in files.items():
        path = project.schema_dir / name
        if name not in recorded:
            problems.append(f"{name}: declared but not released (run `orders-schema render`)")
        if not path.exists():
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(
                text.splitlines(), current.splitlines(), f"{name} (declared)", f"{name} (on disk)", lineterm="", n=1
            )
            problems.append(f"{name}: differs from its declaration:\n" + "\n".join("    " + d for d in diff))
    for name in sorted(on_disk - set(files) - set(recorded)):
        problems.append(f"{name}: in {project.schema_dir}/ but neither declared nor released")
    expected_manifest = manifest_for(project, files)
    if manifest.get("schema") != expected_manifest["schema"] and not problems:
        problems.append(f"{MANIFEST}: the released schema snapshot is stale (run `orders-schema render`)")
    released = released_schema(project)
    if released is not None and released != project.schema:
        problems.append(
            "the head declarations have changes that no version contains "
            "(run `orders-schema generate NAME` to write the next version)"
        )
    return problems
