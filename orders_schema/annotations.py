"""GitHub Actions workflow commands (``::error file=F,line=L,title=T::message``): the one place
that escapes them. ``advise``, ``lint`` and ``check`` print their findings through it with
``--format github``, so each finding shows on the pull request, on the line concerned.

GitHub reads a file path relative to the repository's root (the workflow's working directory):
:func:`display_path` gives paths relative to the current directory when they are under it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Level = Literal["error", "warning", "notice"]


def escape_data(value: str) -> str:
    """A message: ``%``, CR and LF escaped (a message may span lines)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A property (file, title): also ``:`` and ``,``, which end it."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when it lies under it, else absolute."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()


def annotation(level: Level, message: str, *, file: Path | None = None, line: int | None = None,
               title: str | None = None) -> str:
    """One workflow command; without ``file`` GitHub shows it on the run, not on a file."""
    properties = []
    if file is not None:
        properties.append(f"file={escape_property(display_path(file))}")
        if line is not None:
            properties.append(f"line={line}")
    if title:
        properties.append(f"title={escape_property(title)}")
    head = f"::{level} {','.join(properties)}" if properties else f"::{level}"
    return f"{head}::{escape_data(message)}"


__all__ = ["Level", "annotation", "display_path", "escape_data", "escape_property"]
