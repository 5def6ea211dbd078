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

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .diff import PropertyChange, compare
from .harness import SECRET, Plan
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
    #: From the chart's `crds/` folder, which Helm installs once and never upgrades or deletes.
    crds_dir: bool = False
    #: For a create: the release existed in the base (an upgrade, not an install).
    release_existed: bool = False


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


@dataclass(frozen=True)
class _Object:
    document: dict[str, Any]
    #: From the chart's `crds/` folder (`# Source: <chart>/crds/...`): Helm installs those once, at
    #: the release's install, and never upgrades or deletes them (Helm docs, chart best practices,
    #: "Custom Resource Definitions").
    from_crds_dir: bool


def _chunks(manifest: str) -> Iterator[str]:
    """The manifest's YAML documents as text (`helm template` separates them with `---` lines)."""
    chunk: list[str] = []
    for line in manifest.splitlines():
        if line.rstrip() == "---":
            yield "\n".join(chunk)
            chunk = []
        else:
            chunk.append(line)
    yield "\n".join(chunk)


def _objects(manifest: str, namespace: str) -> dict[Key, _Object]:
    """The manifest's objects by (API group, kind, namespace, name).

    A namespaced object the chart renders without a namespace lands in the release's
    (`namespace`: Helm installs it there); cluster-scoped kinds have none.
    """
    from .render import CLUSTER_SCOPED

    found = {}
    for chunk in _chunks(manifest):
        crds_dir = any(line.startswith("# Source: ") and "/crds/" in line for line in chunk.splitlines())
        for document in load_documents(chunk):
            if not isinstance(document, dict) or "kind" not in document:
                continue
            metadata = document.get("metadata") or {}
            kind = str(document["kind"])
            where = str(metadata.get("namespace") or ("" if kind in CLUSTER_SCOPED else namespace))
            group = str(document.get("apiVersion", "")).rpartition("/")[0]
            found[(group, kind, where, str(metadata.get("name", "")))] = _Object(document, crds_dir)
    return found


def release_namespaces(*plans: Plan) -> dict[str, str]:
    """Each release's namespace, by `<cluster>.<release resource>` (the first plan's where both have it)."""
    from .render import RELEASE, _cluster_of

    found: dict[str, str] = {}
    for plan in plans:
        for resource in plan.by_type(RELEASE):
            key = f"{_cluster_of(plan, resource)}.{resource['name']}"
            found.setdefault(key, str(resource["inputs"].get("namespace") or "default"))
    return found


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


def object_changes(
    base: Mapping[str, str], head: Mapping[str, str], namespaces: Mapping[str, str] | None = None
) -> list[ObjectChange]:
    """Every object added, removed or changed, release by release (releases in sorted order).

    :param namespaces: each release's namespace by `<cluster>.<release resource>`
        (`release_namespaces`); a release not named there renders into `default`, as Helm's does.
    """
    found: list[ObjectChange] = []
    for release in sorted(set(base) | set(head)):
        namespace = (namespaces or {}).get(release, "default")
        before, after = _objects(base.get(release, ""), namespace), _objects(head.get(release, ""), namespace)
        changes_here: list[tuple[Key, ObjectChange]] = []
        for key in sorted(set(before) | set(after)):
            old, new = before.get(key), after.get(key)
            crds_dir = bool((old and old.from_crds_dir) or (new and new.from_crds_dir))
            if new is None:
                assert old is not None
                kind, name = _label(old.document)
                change = ObjectChange(release, "delete", kind, name, kept=_kept(old.document), crds_dir=crds_dir)
            elif old is None:
                change = ObjectChange(release, "create", *_label(new.document), crds_dir=crds_dir)
                # A chart's crds/ object on a release the base already had is never installed by an upgrade.
                change = replace(change, release_existed=release in base)
            else:
                kind, name = _label(new.document)
                changes = [_masked(kind, c) for c in compare(old.document, new.document)]
                if not changes:
                    continue
                change = ObjectChange(release, "update", kind, name, changes, crds_dir=crds_dir)
            changes_here.append((key, change))
        found.extend(change for _, change in changes_here)
    return found
