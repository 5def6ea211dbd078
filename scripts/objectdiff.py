"""Inside Helm releases: which rendered Kubernetes objects a change adds, removes or changes, field by field.

A `helm.v3.Release` is one resource to Pulumi: its preview shows changed values, not what they
do to the Deployments, ConfigMaps and CRDs the chart renders. `meridian render` renders every
release with the real `helm template` (scripts/render.py); this module compares two such
renders release by release — what `helm diff` gives Helm users. Objects are matched as the API
server tells them apart — API group, kind, namespace and name, not the version; an object one
side renders without a namespace is the release namespace's — and compared with the plan
diff's own comparison (scripts/diff.py `compare`). A Secret's `data` and `stringData` are
compared but never shown: a change there reads `[secret]` on both sides. Deleting what holds
data or defines it (PersistentVolumeClaims, CRDs: `DATA_KINDS`) is at risk in the review.

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
#: Kinds whose deletion loses data, and why (Kubernetes docs: deleting a CRD deletes every custom
#: object of it; a deleted PVC releases its volume to the reclaim policy, Delete by default for
#: dynamically provisioned volumes; a Namespace takes everything in it along).
DATA_KINDS: dict[str, str] = {
    "CustomResourceDefinition": "deleting a CRD deletes every object of its kind",
    "PersistentVolumeClaim": "its volume goes with it (the StorageClass reclaim policy, Delete by default)",
    "PersistentVolume": "holds data",
    "Namespace": "deletes everything in the namespace",
}


@dataclass
class ObjectChange:
    """One rendered object a release adds, removes or changes."""

    release: str
    operation: Literal["create", "delete", "update"]
    kind: str
    name: str
    changes: list[PropertyChange] = field(default_factory=list)
    #: A deleted object Helm keeps anyway (`helm.sh/resource-policy: keep`): nothing is lost.
    kept: bool = False


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


#: (API group, kind, namespace, name): how the API server tells objects apart. The version is
#: not part of it (policy/v1beta1 and policy/v1 serve the same PodDisruptionBudget).
Key = tuple[str, str, str, str]


def _objects(manifest: str) -> dict[Key, dict[str, Any]]:
    """The manifest's objects by (API group, kind, namespace, name); the namespace "" when the chart sets none."""
    found = {}
    for document in load_documents(manifest):
        if not isinstance(document, dict) or "kind" not in document:
            continue
        metadata = document.get("metadata") or {}
        group = str(document.get("apiVersion", "")).rpartition("/")[0]
        found[(group, str(document["kind"]), str(metadata.get("namespace") or ""), str(metadata.get("name", "")))] = (
            document
        )
    return found


def _paired(before: dict[Key, Any], after: dict[Key, Any]) -> dict[Key, Key]:
    """Base key -> head key for every object on both sides.

    An object the chart renders without a namespace lands in the release's (Helm installs it
    there): one side naming a namespace and the other none is the same object when nothing
    else of that group, kind and name is unmatched.
    """
    pairs = {key: key for key in before if key in after}
    loose_before = [k for k in before if k not in pairs]
    loose_after = [k for k in after if k not in pairs.values()]
    for old in loose_before:
        candidates = [
            new
            for new in loose_after
            if (new[0], new[1], new[3]) == (old[0], old[1], old[3]) and "" in (old[2], new[2])
        ]
        if len(candidates) == 1:
            pairs[old] = candidates[0]
            loose_after.remove(candidates[0])
    return pairs


def _label(document: dict[str, Any]) -> tuple[str, str]:
    """How the report names an object: `apiVersion/Kind` and `namespace/name`."""
    metadata = document.get("metadata") or {}
    kind = f"{document.get('apiVersion', '')}/{document['kind']}"
    return kind, f"{metadata.get('namespace') or ''}/{metadata.get('name', '')}".lstrip("/")


def _masked(kind: str, change: PropertyChange) -> PropertyChange:
    # Any path under data or stringData, dotted (`data.token`) or quoted (`data["hub.config.x"]`).
    if kind == "v1/Secret" and path_segments(change.path)[0] in SECRET_FIELDS:
        return PropertyChange(
            change.path, None if change.old is None else SECRET, None if change.new is None else SECRET, change.kind
        )
    return change


def _kept(document: dict[str, Any]) -> bool:
    """Whether Helm leaves the object in place when a release stops rendering it (`helm.sh/resource-policy: keep`)."""
    annotations = (document.get("metadata") or {}).get("annotations") or {}
    return annotations.get("helm.sh/resource-policy") == "keep"


def object_changes(base: Mapping[str, str], head: Mapping[str, str]) -> list[ObjectChange]:
    """Every object added, removed or changed, release by release (releases in sorted order)."""
    found: list[ObjectChange] = []
    for release in sorted(set(base) | set(head)):
        before, after = _objects(base.get(release, "")), _objects(head.get(release, ""))
        pairs = _paired(before, after)
        matched = set(pairs.values())
        changes_here: list[tuple[Key, ObjectChange]] = []
        for key, document in before.items():
            kind, name = _label(document)
            if key not in pairs:
                changes_here.append((key, ObjectChange(release, "delete", kind, name, kept=_kept(document))))
                continue
            new = after[pairs[key]]
            kind, name = _label(new)
            changes = [_masked(kind, c) for c in compare(document, new)]
            if changes:
                changes_here.append((pairs[key], ObjectChange(release, "update", kind, name, changes)))
        for key, document in after.items():
            if key not in matched:
                changes_here.append((key, ObjectChange(release, "create", *_label(document))))
        found.extend(change for _, change in sorted(changes_here, key=lambda item: (item[0], item[1].operation)))
    return found
