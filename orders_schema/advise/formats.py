"""Render a :class:`Report`: ``text`` for people, ``json`` for scripts, ``github`` workflow
annotations, and ``sarif`` 2.1.0 for code scanning."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from orders_schema import __version__
from orders_schema.advise.model import Finding, Report, Rule
from orders_schema.annotations import escape_data as _escape_data
from orders_schema.annotations import escape_property as _escape_property

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
_LOGICAL_KIND = {"function": "function", "role": "resource", "extension": "module"}


def _header(report: Report) -> str:
    roles = ", ".join(report.api_roles) or "none"
    schemas = ", ".join(report.schemas) or "none"
    return (
        f"orders-schema advise: database {report.database} as {report.user}, PostgreSQL {report.server_version}; "
        f"schemas: {schemas}; API roles: {roles}"
    )


def text(report: Report) -> str:
    lines = [_header(report)]
    if report.skipped:
        lines.append(
            "no API role exists (name them with --api-role): skipped " + ", ".join(report.skipped)
        )
    explained: set[str] = set()
    for f in report.findings:
        lines += ["", f"{f.level.upper():7} {f.rule.id}  {f.kind} {f.object}", f"  {f.message}"]
        if f.rule.id not in explained:  # why it matters: once per rule
            lines.append(f"  why: {f.rule.why}")
            explained.add(f.rule.id)
        lines.append("  fix:")
        lines += [f"    {line}" for line in f.fix_sql().splitlines()]
        if f.note:
            lines.append(f"  note: {f.note}")
    lines += ["", report.summary()]
    return "\n".join(lines) + "\n"


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule.id,
        "level": f.level,
        "category": f.rule.category,
        "kind": f.kind,
        "object": f.object,
        "message": f.message,
        "why": f.rule.why,
        "fix": f.fix_sql(),
        "fix_statements": list(f.fix),
        "note": f.note,
    }


def as_json(report: Report) -> str:
    doc = {
        "database": report.database,
        "user": report.user,
        "server_version": report.server_version,
        "schemas": list(report.schemas),
        "api_roles": list(report.api_roles),
        "skipped_rules": list(report.skipped),
        "findings": [_finding_json(f) for f in report.findings],
        "summary": {
            "error": report.count("error"),
            "warning": report.count("warning"),
            "info": report.count("info"),
            "failing": report.failing,
        },
    }
    return json.dumps(doc, indent=2) + "\n"


def github(report: Report) -> str:
    """GitHub Actions workflow commands: one annotation per finding, then the summary as a plain line."""
    lines = []
    for f in report.findings:
        title = _escape_property(f"{f.rule.id}: {f.object}")
        body = f"{f.message}\nfix:\n{f.fix_sql()}"
        if f.note:
            body += f"\nnote: {f.note}"
        lines.append(f"::{_GITHUB_LEVEL[f.level]} title={title}::{_escape_data(body)}")
    lines.append(f"orders-schema advise: {report.summary()}")
    return "\n".join(lines) + "\n"


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    properties: dict[str, Any] = {"tags": [rule.category]}
    if rule.splinter:
        properties["splinter"] = rule.splinter
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in rule.id.split("_")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why},
        "help": {"text": f"{rule.why} See docs/advise.md, rule {rule.id}."},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.level]},
        "properties": properties,
    }


def _fingerprint(report: Report, f: Finding) -> str:
    return hashlib.sha256(f"{report.database}\x00{f.rule.id}\x00{f.object}".encode()).hexdigest()


def sarif(report: Report) -> str:
    """A SARIF 2.1.0 log: one run, every rule in ``tool.driver.rules``, logical locations only."""
    index = {rule.id: i for i, rule in enumerate(report.rules)}
    results = []
    for f in report.findings:
        message = f"{f.message}. Fix:\n{f.fix_sql()}"
        if f.note:
            message += f"\nNote: {f.note}"
        results.append(
            {
                "ruleId": f.rule.id,
                "ruleIndex": index[f.rule.id],
                "level": _SARIF_LEVEL[f.level],
                "message": {"text": message},
                "locations": [
                    {
                        "logicalLocations": [
                            {
                                "fullyQualifiedName": f"{report.database}/{f.object}",
                                "name": f.object,
                                "kind": _LOGICAL_KIND.get(f.kind, "object"),
                            }
                        ]
                    }
                ],
                "partialFingerprints": {"orders-schema/v1": _fingerprint(report, f)},
                "properties": {"fix": f.fix_sql(), "category": f.rule.category, "objectKind": f.kind},
            }
        )
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "orders-schema advise",
                        "version": __version__,
                        "rules": [_sarif_rule(r) for r in report.rules],
                    }
                },
                "results": results,
                "properties": {
                    "database": report.database,
                    "schemas": list(report.schemas),
                    "apiRoles": list(report.api_roles),
                    "skippedRules": list(report.skipped),
                },
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


FORMATS: dict[str, Callable[[Report], str]] = {"text": text, "json": as_json, "github": github, "sarif": sarif}
