"""Where a project's settings come from: the ``[tool.orders-schema]`` section of ``pyproject.toml``.

The command line, the pytest plugin and the benchmark find the project as pytest, ruff and mypy
find their settings: the nearest ``pyproject.toml`` holding the section, walking up from the
current directory::

    [tool.orders-schema]
    project = "package.module:PROJECT"   # the declarations (a Project), module:ATTRIBUTE
    schema-dir = "schema"                # the versioned SQL files, relative to this pyproject.toml

The folder of that pyproject.toml is put on ``sys.path``, so the project's package imports without
being installed. Precedence, per setting: the command line (``--project``, ``--schema-dir``) over the section; for
pytest, the ini options (``orders_schema_project``, ``orders_schema_dir``) over the section. There
is no built-in default project: with neither, a command that needs one stops with
:data:`NOT_CONFIGURED`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

SECTION = "orders-schema"
KEYS = ("project", "schema-dir")
NOT_CONFIGURED = (
    "no project configured: add [tool.orders-schema] with project = \"package.module:PROJECT\" "
    "(and schema-dir = \"schema\") to your pyproject.toml, or pass --project MODULE:ATTR"
)


class ConfigError(ValueError):
    """A ``[tool.orders-schema]`` section that cannot be used (one line, naming the file)."""


class NotConfigured(ConfigError):
    """No project named anywhere (no section, no flag, no ini option)."""


@dataclass(frozen=True)
class Settings:
    """What the section says. ``pyproject`` is None when no ``pyproject.toml`` up the tree has it."""

    project: str | None = None
    schema_dir: Path | None = None
    pyproject: Path | None = None


def find_pyproject(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (default: the current directory) that
    has a ``[tool.orders-schema]`` section, with that section; None when there is none."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{candidate}: not readable TOML: {exc}") from None
        section = data.get("tool", {}).get(SECTION)
        if section is not None:
            return candidate, section
    return None


def read_settings(start: Path | None = None) -> Settings:
    """The settings of the nearest configured ``pyproject.toml`` (empty :class:`Settings` if none)."""
    found = find_pyproject(start)
    if found is None:
        return Settings()
    path, section = found
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.{SECTION}] must be a table")
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: [tool.{SECTION}] has unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    project = section.get("project")
    if project is not None and (not isinstance(project, str) or not project.strip()):
        raise ConfigError(f"{path}: [tool.{SECTION}] project must be a string such as \"package.module:PROJECT\"")
    folder = section.get("schema-dir", "schema")
    if not isinstance(folder, str) or not folder.strip():
        raise ConfigError(f"{path}: [tool.{SECTION}] schema-dir must be a folder name such as \"schema\"")
    return Settings(project=project, schema_dir=path.parent / folder, pyproject=path)


def resolve(project: str | None, schema_dir: str | Path | None, start: Path | None = None) -> tuple[str, Path]:
    """The project spec and schema folder to use: each given value wins over the section.

    A given ``schema_dir`` is taken as is (relative to the current directory); the section's is
    relative to its ``pyproject.toml``; with neither, ``schema``. Raises :class:`NotConfigured`
    (:data:`NOT_CONFIGURED`) when no project is named anywhere.
    """
    settings = read_settings(start)
    spec = project or settings.project
    if not spec:
        raise NotConfigured(NOT_CONFIGURED)
    if settings.pyproject is not None:
        importable(settings.pyproject.parent)
    if schema_dir is not None:
        folder = Path(schema_dir)
    elif settings.schema_dir is not None:
        folder = display_path(settings.schema_dir)
    else:
        folder = Path("schema")
    return spec, folder


def importable(folder: Path) -> None:
    """Put the folder of the configured pyproject.toml first on ``sys.path`` (once), so that its
    project imports without being installed, as ``python -m`` and pytest's rootdir would."""
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def display_path(path: Path) -> Path:
    """``path`` relative to the current directory when it is below it (shorter messages), else as is."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path
