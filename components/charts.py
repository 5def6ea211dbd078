"""The chart lock: every Helm chart Meridian installs, pinned by repository, version and digest.

`components/charts.lock.yaml` is the one place a chart's version lives. Components take
chart, repository and version from here (`locked`); the policy pack reads the allowed
repositories and pins from here; the resolver (`scripts/upstream.py`) finds the chart's
files and verifies them against the digest; tests read versions from here only.

The digest covers the chart's files, as the chart unpacks (`helm pull --untar`): the
SHA-256 of the sorted list of `<sha256 of the file>  <path relative to the chart>` lines
(`tree_digest`), so it does not depend on archive timestamps or compression. The lock
also names the upstream CRD files tests validate custom resources against (`crds`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LOCK_FILE = Path(__file__).with_name("charts.lock.yaml")


@dataclass(frozen=True)
class LockedChart:
    """One pinned chart."""

    name: str
    repository: str
    version: str
    #: None only for a chart no verified copy of which could be had (`unverified` says why): it is
    #: installed from its repository at the pinned version, but never rendered offline.
    digest: str | None
    #: What installs it, for people reading the lock.
    purpose: str
    unverified: str = ""
    #: Such a chart's files that could be had (Chart.yaml, values.yaml, its values schema), by name,
    #: with their digests: what its values are checked against (scripts/upstream.py chart_reference).
    reference_files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LockedFile:
    """One pinned upstream file (a CRD), by its path in the mirror's `crds/` folder."""

    path: str
    digest: str
    source: str


@dataclass(frozen=True)
class ChartLock:
    """The whole lock."""

    charts: dict[str, LockedChart]
    crds: dict[str, LockedFile]


@cache
def chart_lock(path: Path = LOCK_FILE) -> ChartLock:
    """The lock file, read once per process."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    charts = {
        name: LockedChart(
            name=name,
            repository=str(entry["repository"]),
            version=str(entry["version"]),
            digest=None if entry.get("digest") is None else str(entry["digest"]),
            purpose=str(entry.get("purpose", "")),
            unverified=str(entry.get("unverified", "")),
            reference_files=tuple((str(k), str(v)) for k, v in (entry.get("reference_files") or {}).items()),
        )
        for name, entry in (data.get("charts") or {}).items()
    }
    files = [
        LockedFile(path=str(entry["path"]), digest=str(entry["digest"]), source=str(entry["source"]))
        for entry in (data.get("crds") or [])
    ]
    crds = {entry.path: entry for entry in files}
    return ChartLock(charts=charts, crds=crds)


def locked(name: str) -> LockedChart:
    """The pinned chart `name`; KeyError naming the lock file when it is not there."""
    try:
        return chart_lock().charts[name]
    except KeyError:
        raise KeyError(f"chart {name!r} is not in {LOCK_FILE.name}") from None


def file_digest(path: Path) -> str:
    """SHA-256 of one file, as `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(root: Path) -> str:
    """SHA-256 over every file under `root` (sorted relative paths and their own SHA-256), as `sha256:<hex>`."""
    lines = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        lines.append(f"{hashlib.sha256(file.read_bytes()).hexdigest()}  {file.relative_to(root).as_posix()}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()
