"""Check generated Helm values against the chart's own values.yaml (a locked chart, via scripts/upstream.py).

Helm silently ignores values keys a chart does not read unless the chart ships a values schema,
so a misspelled key (`migManager.confg`) would deploy the chart's default without a word. Every
key the project sets must therefore exist in the released chart's values.yaml:

* where upstream has a non-empty mapping, each generated key must be one of its keys (recursively);
* where upstream has an empty mapping `{}`, a list or null, the subtree is free-form (labels, env,
  tolerations, ConfigMap data): nothing below it is checked;
* a key whose upstream counterpart is a scalar must be a scalar (or null, which Helm reads as
  "drop the default");
* a top-level key naming a subchart (a `dependencies` entry of the Chart.yaml next to values.yaml,
  by alias or name) is checked only as far as the parent's values.yaml lists it: keys the parent
  does not list may exist in the subchart's own values.yaml, which is not vendored here.

Paths are dotted: `dcgmExporter.serviceMonitor.enabled`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

#: Chart.yaml versions that are placeholders filled in by the release process
#: (gpu-operator `v1.0.0-devel`, cert-manager `v0.0.0`, fleet `0.0.0`, jupyterhub `0.0.1-set.by.chartpress`).
PLACEHOLDER_VERSION = re.compile(r"^v?0\.0\.[01]($|[-+])|-devel$|set\.by\.")
#: Helm passes `global` to every chart and subchart, whether or not values.yaml mentions it.
HELM_GLOBAL = "global"


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _free_form(upstream: Any) -> bool:
    return upstream is None or isinstance(upstream, list) or (isinstance(upstream, Mapping) and not upstream)


def compare(values: Mapping[str, Any], upstream: Any, *, subcharts: Collection[str] = ()) -> list[str]:
    """Key paths of `values` that `upstream` (a parsed values.yaml) does not have; see the module docstring."""
    if not isinstance(upstream, Mapping):
        raise TypeError("the upstream values.yaml must be a mapping at the top level")
    found: list[str] = []
    for key, value in values.items():
        if key == HELM_GLOBAL:
            continue
        if key in subcharts:
            if key in upstream:
                _walk(value, upstream[key], str(key), found, lenient=True)
            continue
        if key not in upstream:
            found.append(str(key))
            continue
        _walk(value, upstream[key], str(key), found, lenient=False)
    return found


def _walk(value: Any, upstream: Any, path: str, found: list[str], *, lenient: bool) -> None:
    """Compare one generated value with its upstream counterpart; `lenient` inside subchart sections."""
    if value is None or _free_form(upstream):
        return
    if isinstance(upstream, Mapping):
        if not isinstance(value, Mapping):
            found.append(path)  # a scalar or list where the chart expects a mapping
            return
        for key, child in value.items():
            if key in upstream:
                _walk(child, upstream[key], _join(path, key), found, lenient=lenient)
            elif not lenient:
                found.append(_join(path, key))
        return
    # Upstream is a scalar: the generated value must be one too.
    if isinstance(value, Mapping | list):
        found.append(path)


def subchart_names(chart_dir: Path) -> list[str]:
    """Names (aliases where set) of the chart's dependencies, read from its Chart.yaml (none without one)."""
    chart_yaml = chart_dir / "Chart.yaml"
    if not chart_yaml.exists():
        return []
    chart = yaml.safe_load(chart_yaml.read_text(encoding="utf-8")) or {}
    return [str(dep.get("alias") or dep["name"]) for dep in chart.get("dependencies") or []]


def unknown_keys(
    values: Mapping[str, Any], upstream_values_yaml: Path, *, subcharts: Collection[str] | None = None
) -> list[str]:
    """Every key path of the generated Helm `values` that the chart's values.yaml does not have.

    :param values: the values the project gives the release (a Helm release's `values` input).
    :param upstream_values_yaml: the released chart's values.yaml; its folder's Chart.yaml names the subcharts.
    :param subcharts: subchart sections to check leniently; default: the Chart.yaml dependencies.
    """
    upstream = yaml.safe_load(upstream_values_yaml.read_text(encoding="utf-8"))
    names = subchart_names(upstream_values_yaml.parent) if subcharts is None else subcharts
    return compare(values, upstream, subcharts=names)


def chart_version(chart_dir: Path) -> str:
    """The released version of the chart in `chart_dir` (a chart folder, or a mirror folder with a SOURCE).

    Chart.yaml's `version` unless it is a placeholder the release process replaces
    (`v1.0.0-devel`, `0.0.0`, ...); then the `release tag:` line of the folder's SOURCE file.
    """
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    version = str(chart["version"])
    if not PLACEHOLDER_VERSION.search(version):
        return version
    for line in (chart_dir / "SOURCE").read_text(encoding="utf-8").splitlines():
        if line.startswith("release tag:"):
            tag = line.removeprefix("release tag:").split()
            if tag:
                return tag[0]
    raise ValueError(f"{chart_dir}: Chart.yaml has the placeholder version {version!r} and SOURCE no release tag")


def resource_problems(values: Any, path: str = "") -> list[str]:
    """Each `resources` block of Helm values the API server would refuse in the pod the chart makes
    of it (`scripts.validate.resources_problem`), as `path.problem`. For charts the mirror cannot render."""
    from scripts.validate import resources_problem

    found: list[str] = []
    if isinstance(values, Mapping):
        for key, value in values.items():
            where = _join(path, key)
            if key == "resources" and isinstance(value, Mapping):
                problem = resources_problem(value)
                found += [f"{where}.{problem}"] if problem else []
            else:
                found += resource_problems(value, where)
    elif isinstance(values, list):
        for index, item in enumerate(values):
            found += resource_problems(item, _join(path, index))
    return found
