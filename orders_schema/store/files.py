"""The ``schema/`` folder: version files, ``released.json`` (the manifest) and their checksums.

``schema/`` holds one ``V<n>__<name>.sql`` file per version plus ``released.json``: the SHA-256
of every released file (and down script) and a snapshot of the schema as the released files leave
it. Everything that reads or names those files lives here; what writes them is
:mod:`orders_schema.migrate.workflow`, what runs them :mod:`orders_schema.live.apply`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from typing_extensions import Self

from orders_schema.declare.project import ProjectError

NO_TRANSACTION_MARK = "-- orders-schema: no-transaction"

LOSES_DATA_MARK = "-- orders-schema: loses-data "
"""A generated down script's header line, one per thing undoing loses (``... drop column s.t.c``);
``orders-schema undo`` refuses such a script unless told to accept the loss."""
LOSES_NO_DATA_MARK = "-- orders-schema: loses-no-data"
"""The header line of a generated down script that loses nothing."""


def down_losses(text: str) -> list[str] | None:
    """What a down script's marker lines say undoing it loses; None when it carries no marker
    (written before generate wrote them, or by hand)."""
    lines = text.splitlines()
    lost = [line.removeprefix(LOSES_DATA_MARK).strip() for line in lines if line.startswith(LOSES_DATA_MARK)]
    if lost:
        return lost
    return [] if LOSES_NO_DATA_MARK in lines else None


MANIFEST = "released.json"


VERSION_FILE = re.compile(r"V(?P<number>\d+)__(?P<name>[a-z0-9_]+)\.sql\Z")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _generated(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in manifest.get("versions", []) if e.get("generated")]


SHA256_HEX = r"^[0-9a-f]{64}$"


DOWN_FILE = re.compile(r"down/U\d+__[a-z0-9_]+\.sql\Z")


class ManifestEntry(BaseModel):
    """One released version as ``released.json`` records it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: int = Field(ge=1)
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    file: str
    sha256: str = Field(pattern=SHA256_HEX)
    generated: bool = False
    transactional: bool = True
    down: str | None = None
    """The down script undoing this version's generation, ``down/U<n>__<name>.sql``."""
    down_sha256: str | None = Field(default=None, pattern=SHA256_HEX)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        expected = f"V{self.version}__{self.name}.sql"
        if self.file != expected:
            raise ValueError(f"file {self.file!r} does not match version {self.version} and name {self.name!r} "
                             f"(expected {expected!r})")
        if (self.down is None) != (self.down_sha256 is None):
            raise ValueError("'down' and 'down_sha256' go together")
        if self.down is not None and not DOWN_FILE.match(self.down):
            raise ValueError(f"down {self.down!r} is not of the form down/U<n>__<name>.sql")
        return self


class Manifest(BaseModel):
    """The whole of ``released.json``: the released versions in order and the released schema."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    versions: list[ManifestEntry]
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    other_schemas: list[dict[str, Any]] | None = None
    """The released snapshots of a project's other schemas (``Project.other_schemas``), if it has any."""

    @field_validator("versions")
    @classmethod
    def _increasing(cls, versions: list[ManifestEntry]) -> list[ManifestEntry]:
        for before, after in itertools.pairwise(versions):
            if after.version <= before.version:
                raise ValueError(f"V{after.version} follows V{before.version}: versions must increase")
        return versions


def read_manifest(schema_dir: Path) -> dict[str, Any]:
    """``released.json`` as written (``{"versions": []}`` when there is none), its whole shape
    validated: a malformed manifest raises :class:`ProjectError` naming the file and the field."""
    path = schema_dir / MANIFEST
    if not path.exists():
        return {"versions": []}
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path}: not valid JSON ({exc})") from None
    try:
        Manifest.model_validate(data)
    except ValidationError as exc:
        raise ProjectError(f"{path}: {_manifest_error(exc)}") from None
    assert isinstance(data, dict)
    return data


def _manifest_error(exc: ValidationError) -> str:
    """The first of pydantic's errors as ``field versions[2].sha256: <what is wrong> (got ...)``."""
    err = exc.errors()[0]
    loc = ""
    for part in err["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    msg = "must be a JSON object" if err["type"] == "model_type" else str(err["msg"]).removeprefix("Value error, ")
    where = f"field {loc}" if loc else "the top level"
    got = "" if err["type"] in ("value_error", "missing") else f" (got {json.dumps(err['input'])[:60]})"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {msg}{got}{more}"


def read_text(path: Path) -> str:
    """A file's text; one that cannot be read or is not UTF-8 raises :class:`ProjectError` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start]
        raise ProjectError(f"{path}: not UTF-8 text (byte 0x{bad:02x} at offset {exc.start})") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def require_schema_dir(schema_dir: Path) -> None:
    """Raise :class:`ProjectError` unless ``schema_dir`` is a folder holding versions (``released.json``
    or a ``V<n>__<name>.sql`` file): a wrong folder must not read as "nothing released"."""
    hint = (
        "(wrong --schema-dir, or not run from the project's root? "
        "`orders-schema render --init` starts a new project)"
    )
    if not schema_dir.exists():
        raise ProjectError(f"schema folder {schema_dir}/ does not exist {hint}")
    if not schema_dir.is_dir():
        raise ProjectError(f"schema folder {schema_dir} is a file, not a folder")
    if not (schema_dir / MANIFEST).exists() and not any(
        VERSION_FILE.match(path.name) for path in schema_dir.glob("V*__*.sql")
    ):
        raise ProjectError(f"schema folder {schema_dir}/ holds no {MANIFEST} and no V<n>__<name>.sql file {hint}")


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
@dataclass(frozen=True)
class VersionFile:
    number: int
    name: str
    path: Path

    @property
    def text(self) -> str:
        return read_text(self.path)

    @property
    def transactional(self) -> bool:
        return not self.text.startswith(NO_TRANSACTION_MARK)


def version_files(schema_dir: Path) -> list[VersionFile]:
    """The ``V<n>__<name>.sql`` files of a folder in version order."""
    files = []
    for path in schema_dir.glob("V*__*.sql"):
        match = VERSION_FILE.match(path.name)
        if match:
            files.append(VersionFile(int(match["number"]), match["name"], path))
    return sorted(files, key=lambda f: f.number)


def known_versions(schema_dir: Path) -> list[int]:
    return [f.number for f in version_files(schema_dir)]


def check_version(schema_dir: Path, number: int | None, what: str = "--target") -> None:
    """Raise ValueError unless ``number`` is None or the number of a version file.

    ``what`` names where the number came from (``--target``, ``--version``, ``version``); the
    message lists the known versions.
    """
    if number is not None and number not in known_versions(schema_dir):
        raise ValueError(unknown_version(schema_dir, number, what))


def unknown_version(schema_dir: Path, number: int, what: str = "--target") -> str:
    """The message for a version number that names no file of ``schema_dir``, listing the known ones."""
    listed = ", ".join(f"V{n}" for n in known_versions(schema_dir)) or "none"
    return f"{what} {number}: no such version in {schema_dir}/ (known: {listed})"
