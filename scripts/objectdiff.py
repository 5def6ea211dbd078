"""Inside Helm releases: which rendered Kubernetes objects a change adds, removes or changes, field by field.

A `helm.v3.Release` is one resource to Pulumi: its preview shows changed values, not what they
do to the Deployments, ConfigMaps and CRDs the chart renders. `meridian render` renders every
release with the real `helm template` (scripts/render.py); this module compares two such
renders release by release — what `helm diff` gives Helm users. Objects are matched by API
version, kind, namespace and name, and compared with the plan diff's own comparison
(scripts/diff.py `compare`). A Secret's `data` and `stringData` are compared but never shown:
a change there reads `[secret]` on both sides.

Each side is a set of manifests by release, `<cluster>.<release resource>`: the files `meridian
render STACK --out DIR` writes (the base branch's, from its own code), or a render made here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .diff import PropertyChange, compare
from .harness import SECRET
from .paths import path_segments
from .validate import load_documents

SECRET_FIELDS = ("data", "stringData")


@dataclass
class ObjectChange:
    """One rendered object a release adds, removes or changes."""

    release: str
    operation: Literal["create", "delete", "update"]
    kind: str
    name: str
    changes: list[PropertyChange] = field(default_factory=list)


def manifests_from_dir(directory: Path) -> dict[str, str]:
    """The manifests `meridian render --out DIR` wrote, by `<cluster>.<release resource>`."""
    return {path.name.removesuffix(".yaml"): path.read_text(encoding="utf-8") for path in directory.glob("*.yaml")}


def manifests_from_rendered(rendered: Iterable[Any]) -> dict[str, str]:
    """The manifests of a render made here (scripts/render.py `Rendered`; unrendered releases left out)."""
    return {
        f"{item.release.cluster}.{item.release.resource}": item.manifest
        for item in rendered
        if getattr(item, "skipped", None) is None
    }


def _objects(manifest: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The manifest's objects by (`apiVersion/Kind`, `namespace/name`)."""
    found = {}
    for document in load_documents(manifest):
        if not isinstance(document, dict) or "kind" not in document:
            continue
        metadata = document.get("metadata") or {}
        kind = f"{document.get('apiVersion', '')}/{document['kind']}"
        name = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}".lstrip("/")
        found[(kind, name)] = document
    return found


def _masked(kind: str, change: PropertyChange) -> PropertyChange:
    # Any path under data or stringData, dotted (`data.token`) or quoted (`data["hub.config.x"]`).
    if kind == "v1/Secret" and path_segments(change.path)[0] in SECRET_FIELDS:
        return PropertyChange(
            change.path, None if change.old is None else SECRET, None if change.new is None else SECRET, change.kind
        )
    return change


def object_changes(base: Mapping[str, str], head: Mapping[str, str]) -> list[ObjectChange]:
    """Every object added, removed or changed, release by release (releases in sorted order)."""
    found: list[ObjectChange] = []
    for release in sorted(set(base) | set(head)):
        before, after = _objects(base.get(release, "")), _objects(head.get(release, ""))
        for key in sorted(set(before) | set(after)):
            kind, name = key
            if key not in before:
                found.append(ObjectChange(release, "create", kind, name))
            elif key not in after:
                found.append(ObjectChange(release, "delete", kind, name))
            else:
                changes = [_masked(kind, c) for c in compare(before[key], after[key])]
                if changes:
                    found.append(ObjectChange(release, "update", kind, name, changes))
    return found
