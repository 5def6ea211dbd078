"""The resolver: a locked chart from the mirror, else the cache, else its repository, always digest-checked.

Each test builds its own mirror and cache in a temporary directory from the real mirror's
chart (found through the resolver itself), so the order of the sources, the digest check and
the one message naming the three places are shown without touching the real ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.charts import chart_lock, file_digest, locked, tree_digest
from scripts import upstream
from scripts.harness import REPO
from scripts.upstream import UpstreamUnavailableError, chart_dir, crd_file

CHART = "gpu-operator"
CRD = "monitoring.coreos.com_servicemonitors.yaml"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An empty mirror and cache of this test's own, and no helm to pull with."""
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    monkeypatch.setenv(upstream.MIRROR_VARIABLE, str(mirror))
    monkeypatch.setenv(upstream.CACHE_VARIABLE, str(cache))
    monkeypatch.setattr(upstream, "helm_binary", lambda: None)
    return mirror, cache


def test_the_lock_holds_the_real_charts_digest() -> None:
    # The digest is over the unpacked chart's files: what `helm pull --untar` gives.
    assert tree_digest(chart_dir(CHART)) == locked(CHART).digest
    assert file_digest(crd_file(CRD)) == chart_lock().crds[CRD].digest


def test_nothing_anywhere_names_the_chart_its_version_and_the_three_places(places: tuple[Path, Path]) -> None:
    mirror, cache = places
    with pytest.raises(UpstreamUnavailableError) as caught:
        chart_dir(CHART)
    message = str(caught.value)
    assert message.startswith(f"chart {CHART} {locked(CHART).version} is not available; looked in ")
    assert f"mirror {mirror}/charts/{CHART}/chart: absent" in message
    assert f"cache {cache}/{CHART}-{locked(CHART).version}: absent" in message
    assert f"{locked(CHART).repository}: no helm to pull with" in message


def test_the_mirror_comes_first(places: tuple[Path, Path]) -> None:
    mirror, cache = places
    source = _real_chart_from_default()
    shutil.copytree(source, mirror / "charts" / CHART / "chart")
    shutil.copytree(source, cache / f"{CHART}-{locked(CHART).version}")
    assert chart_dir(CHART) == mirror / "charts" / CHART / "chart"


def test_the_cache_serves_when_the_mirror_has_nothing(places: tuple[Path, Path]) -> None:
    _, cache = places
    shutil.copytree(_real_chart_from_default(), cache / f"{CHART}-{locked(CHART).version}")
    assert chart_dir(CHART) == cache / f"{CHART}-{locked(CHART).version}"


def test_a_changed_file_is_refused_wherever_it_is(places: tuple[Path, Path]) -> None:
    mirror, cache = places
    for root in (mirror / "charts" / CHART / "chart", cache / f"{CHART}-{locked(CHART).version}"):
        shutil.copytree(_real_chart_from_default(), root)
        values = root / "values.yaml"
        values.write_text(values.read_text() + "\n# edited\n")
    with pytest.raises(UpstreamUnavailableError) as caught:
        chart_dir(CHART)
    message = str(caught.value)
    assert message.count(f"is not the lock's {locked(CHART).digest}") == 2


def test_an_added_file_is_refused(places: tuple[Path, Path]) -> None:
    mirror, _ = places
    root = mirror / "charts" / CHART / "chart"
    shutil.copytree(_real_chart_from_default(), root)
    (root / "templates" / "extra.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(UpstreamUnavailableError, match="digest"):
        chart_dir(CHART)


def test_locked_crds_are_checked_too(places: tuple[Path, Path]) -> None:
    mirror, _ = places
    with pytest.raises(UpstreamUnavailableError, match=f"CRD {CRD} is not available"):
        crd_file(CRD)
    (mirror / "crds").mkdir(parents=True)
    (mirror / "crds" / CRD).write_text("kind: CustomResourceDefinition\n")
    with pytest.raises(UpstreamUnavailableError, match="the lock says"):
        crd_file(CRD)
    with pytest.raises(KeyError, match="not in the chart lock"):
        crd_file("nowhere.yaml")


def _real_chart_from_default() -> Path:
    """The real mirror's chart, whatever this test set MERIDIAN_UPSTREAM to."""
    return Path(DEFAULT_MIRROR) / "charts" / CHART / "chart"


DEFAULT_MIRROR = str(upstream.mirror_root())


@pytest.mark.cli
def test_the_suite_stops_with_the_resolvers_message_when_no_source_has_a_chart(tmp_path: Path) -> None:
    env = {
        **os.environ,
        upstream.MIRROR_VARIABLE: str(tmp_path / "no-mirror"),
        upstream.CACHE_VARIABLE: str(tmp_path / "no-cache"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_spec.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:]
    assert f"upstream files unavailable: chart {CHART} {locked(CHART).version} is not available" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
