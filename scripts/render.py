"""`meridian render`: every Helm release of a stack's plan through the real `helm template`.

For each `helm.v3.Release` the plan holds, the release's chart comes from the resolver
(`scripts/upstream.py`, verified against the chart lock) and is rendered with exactly the
release's values, name and namespace, `--kube-version` of its cluster and `--api-versions`
for every custom resource the charts on that cluster install: what `helm install` would
create, with the chart's values schema and templates enforced by Helm itself.

Secret values never reach Helm or a file: the stack is evaluated with secrets revealed
only to learn each secret value's type, and each is replaced by a marked placeholder of
that type (`MERIDIAN-SECRET-<n>` for strings, 0 for numbers).

Renders are cached (in memory and under `.cache/render/`), keyed by the chart's digest,
the release's name, namespace, Kubernetes version, API versions and values, so a stack
renders each distinct release once.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from components.charts import chart_lock
from components.spec.catalog import BACKEND_VERSIONS

from .crdschema import crd_key
from .harness import REPO, Plan, make_urn
from .paths import path_segments
from .upstream import UpstreamUnavailableError, chart_crd_files, chart_dir, helm_binary
from .validate import Problem, builtin_api_versions, load_documents, references, validate_objects

RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER = "meridian:clusters:KubernetesCluster"
RENDER_CACHE = REPO / ".cache" / "render"
#: How long one `helm template` may take.
HELM_TIMEOUT_SECONDS = 120


class RenderError(Exception):
    """A release cannot be rendered; the message names the stack file, the cluster and the release."""


@dataclass(frozen=True)
class ReleaseRecord:
    """One Helm release of a plan, as `helm template` needs it."""

    urn: str
    resource: str
    name: str
    chart: str
    version: str
    repository: str
    namespace: str
    values: dict[str, Any]
    cluster: str
    kube_version: str
    provider: str | None
    #: The release installs its chart's `crds/` (Helm's --skip-crds unset).
    include_crds: bool = True


@dataclass
class Rendered:
    """What one release renders to."""

    release: ReleaseRecord
    objects: list[dict[str, Any]] = field(default_factory=list)
    manifest: str = ""
    #: Why the release was not rendered (its chart has no verified copy: the chart lock's `unverified`).
    skipped: str | None = None


def kube_version(backend: str, minor: str) -> str:
    """`--kube-version` for a cluster: the backend's exact release where it has one, else `v<minor>.0`."""
    exact = BACKEND_VERSIONS.get(backend, {}).get(minor, "")
    if exact.startswith("v") and exact.count(".") == 2:
        return exact.split("+", 1)[0]
    return f"v{minor}.0"


def _cluster_of(plan: Plan, resource: dict[str, Any]) -> str:
    """The cluster a release deploys to: the owner of its Kubernetes provider (`<cluster>-k8s`)."""
    by_urn = {r["urn"]: r for r in plan.resources}
    provider = (resource.get("provider") or "").rsplit("::", 1)[0]
    owner = by_urn.get(provider)
    parent = by_urn.get(owner["parent"]) if owner and owner.get("parent") else None
    if parent is None or parent["type"] != CLUSTER:
        raise RenderError(f"release {resource['name']} is not installed through a cluster's Kubernetes provider")
    return str(parent["name"])


def _placeholders(value: Any, counter: list[int]) -> Any:
    """A value of the same shape and types as `value`, with every leaf and key replaced by a marked placeholder.

    Booleans stay as they are: one bit carries no secret worth a placeholder, and a chart may
    branch on it.
    """
    if isinstance(value, dict):
        result = {}
        for item in value.values():
            counter[0] += 1
            result[f"MERIDIAN-SECRET-KEY-{counter[0]}"] = _placeholders(item, counter)
        return result
    if isinstance(value, list):
        return [_placeholders(item, counter) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return type(value)(0)
    counter[0] += 1
    return f"MERIDIAN-SECRET-{counter[0]}"


def _with_placeholders(values: Any, revealed: Any, paths: Iterable[list[str]]) -> Any:
    """`values` (the plan's, secrets redacted) with each secret path filled by a typed placeholder."""
    counter = [0]
    result = json.loads(json.dumps(values))
    for segments in paths:
        source, target = revealed, result
        for step in segments[:-1]:
            source = source[int(step)] if isinstance(source, list) else source[step]
            target = target[int(step)] if isinstance(target, list) else target[step]
        last = segments[-1]
        leaf = source[int(last)] if isinstance(source, list) else source[last]
        if isinstance(target, list):
            target[int(last)] = _placeholders(leaf, counter)
        else:
            target[last] = _placeholders(leaf, counter)
    return result


def releases(plan: Plan, revealed: Plan | None = None) -> list[ReleaseRecord]:
    """Every Helm release of `plan`, with typed placeholders for secret values (from `revealed`)."""
    clusters = plan.outputs.get("clusters") or {}
    found = []
    for resource in plan.by_type(RELEASE):
        inputs = resource["inputs"]
        cluster = _cluster_of(plan, resource)
        spec = clusters.get(cluster) or {}
        values = inputs.get("values") or {}
        secret_values = [
            path_segments(path)[1:] for path in resource["secret_paths"] if path_segments(path)[:1] == ["values"]
        ]
        if secret_values:
            if revealed is None:
                raise RenderError(f"release {resource['name']} has secret values: render needs the revealed plan")
            values = _with_placeholders(values, revealed.revealed[resource["urn"]]["values"], secret_values)
        found.append(
            ReleaseRecord(
                urn=resource["urn"],
                resource=resource["name"],
                name=str(inputs.get("name") or resource["name"]),
                chart=str(inputs["chart"]),
                version=str(inputs.get("version", "")),
                repository=str((inputs.get("repositoryOpts") or {}).get("repo", "")),
                namespace=str(inputs.get("namespace") or "default"),
                values=values,
                cluster=cluster,
                kube_version=kube_version(str(spec.get("backend", "")), str(spec.get("version", ""))),
                provider=resource.get("provider"),
                include_crds=not inputs.get("skipCrds", False),
            )
        )
    found.extend(_engine_releases(plan))
    return found


#: The objects through which a GitOps engine installs an add-on's release on a registered cluster
#: (components/gitops.py): they are releases too, rendered as the engine's Helm would install them.
HELMOP = "kubernetes:fleet.cattle.io/v1alpha1:HelmOp"
CLUSTER_PROFILE = "kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile"
CLUSTER_LABEL = "meridian.io/cluster"


def _target_cluster(resource: dict[str, Any], selector: dict[str, Any]) -> str:
    """The one cluster an engine's object selects by name (`meridian.io/cluster In [<c>]`)."""
    names = [
        value
        for expression in selector.get("matchExpressions") or []
        if expression.get("key") == CLUSTER_LABEL and expression.get("operator") == "In"
        for value in expression.get("values") or []
    ]
    if len(names) != 1:
        raise RenderError(f"{resource['name']} does not select exactly one cluster by {CLUSTER_LABEL}")
    return str(names[0])


def _engine_releases(plan: Plan) -> list[ReleaseRecord]:
    """The releases the plan hands to a GitOps engine (Fleet HelmOps, Sveltos ClusterProfiles' helmCharts).

    Each is rendered for the cluster it selects, with that cluster's Kubernetes version and
    provider, so its objects are validated and gated where they will run.
    """
    clusters = plan.outputs.get("clusters") or {}
    # Each cluster's provider reference (`<urn>::<id>`) as the resources made through it carry it.
    by_urn = {r["urn"]: r for r in plan.resources}
    providers = {}
    for resource in plan.resources:
        reference = resource.get("provider") or ""
        owner = by_urn.get(by_urn.get(reference.rsplit("::", 1)[0], {}).get("parent") or "")
        if owner is not None and owner["type"] == CLUSTER:
            providers[str(owner["name"])] = reference
    found = []
    for kind in (HELMOP, CLUSTER_PROFILE):
        for resource in plan.by_type(kind):
            if any(path_segments(path)[:2] == ["spec", "helm"] for path in resource["secret_paths"]) or any(
                path_segments(path)[:2] == ["spec", "helmCharts"] for path in resource["secret_paths"]
            ):
                raise RenderError(f"{resource['name']} hands secret values to the GitOps engine")
            spec = resource["inputs"]["spec"]
            if kind == HELMOP:
                helm = spec["helm"]
                cluster = _target_cluster(resource, spec["targets"][0]["clusterSelector"])
                chart, version, repository = helm["chart"], helm["version"], helm["repo"]
                name, namespace, values = helm["releaseName"], spec["defaultNamespace"], helm.get("values") or {}
                include_crds = True
            else:
                (helm,) = spec["helmCharts"]
                cluster = _target_cluster(resource, spec["clusterSelector"])
                chart, version = str(helm["chartName"]).rsplit("/", 1)[-1], helm["chartVersion"]
                repository, name, namespace = helm["repositoryURL"], helm["releaseName"], helm["releaseNamespace"]
                values = json.loads(helm.get("values") or "{}")
                include_crds = not (helm.get("options") or {}).get("skipCRDs", False)
            target = clusters.get(cluster) or {}
            found.append(
                ReleaseRecord(
                    urn=resource["urn"],
                    resource=resource["name"],
                    name=str(name),
                    chart=str(chart),
                    version=str(version),
                    repository=str(repository),
                    namespace=str(namespace),
                    values=values,
                    cluster=cluster,
                    kube_version=kube_version(str(target.get("backend", "")), str(target.get("version", ""))),
                    provider=providers.get(cluster),
                    include_crds=include_crds,
                )
            )
    return found


@cache
def chart_api_versions(name: str) -> frozenset[str]:
    """`group/version` and `group/version/Kind` of every CRD the locked chart `name` ships (subcharts too)."""
    found: set[str] = set()
    for path in chart_crd_files(name):
        for document in load_documents(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                for api_version, kind in crd_key(document):
                    found |= {api_version, f"{api_version}/{kind}"}
    return frozenset(found)


_MEMORY: dict[str, str] = {}


def render_release(release: ReleaseRecord, api_versions: Iterable[str], where: str) -> Rendered:
    """`helm template` of one release (cached); RenderError naming `where`, the cluster and the release."""
    prefix = f"{where}: cluster {release.cluster}, release {release.resource}"
    lock = chart_lock().charts.get(release.chart)
    if lock is None:
        raise RenderError(f"{prefix}: chart {release.chart} is not in the chart lock")
    if release.version != lock.version or release.repository != lock.repository:
        raise RenderError(
            f"{prefix}: {release.chart} {release.version} from {release.repository} is not the locked "
            f"{lock.version} from {lock.repository}"
        )
    if lock.digest is None:
        return Rendered(release, skipped=f"{release.chart} {lock.version} not rendered: {lock.unverified}")
    try:
        directory = chart_dir(release.chart)
    except UpstreamUnavailableError as error:
        raise RenderError(f"{prefix}: {error}") from None
    apis = sorted(set(api_versions))
    key = hashlib.sha256(
        json.dumps(
            [lock.digest, release.name, release.namespace, release.kube_version, apis, release.values],
            sort_keys=True,
        ).encode()
    ).hexdigest()
    manifest = _MEMORY.get(key)
    cached = RENDER_CACHE / f"{key}.yaml"
    if manifest is None and cached.exists():
        manifest = cached.read_text(encoding="utf-8")
    if manifest is None:
        manifest = _helm_template(release, directory, apis, prefix)
        RENDER_CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_text(manifest, encoding="utf-8")
    _MEMORY[key] = manifest
    objects = [d for d in load_documents(manifest) if isinstance(d, dict)]
    return Rendered(release, objects, manifest)


def _helm_template(release: ReleaseRecord, directory: Path, apis: list[str], prefix: str) -> str:
    helm = helm_binary()
    if helm is None:
        raise RenderError(f"{prefix}: no helm binary (run `make tools`)")
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as values:
        json.dump(release.values, values)
        values.flush()
        command = [
            helm, "template", release.name, str(directory),
            "--namespace", release.namespace,
            "--kube-version", release.kube_version,
            "--values", values.name,
            "--skip-tests",
        ]  # fmt: skip
        if release.include_crds:
            command.append("--include-crds")
        for api in apis:
            command += ["--api-versions", api]
        try:
            result = subprocess.run(  # noqa: S603 - the project's helm over a verified chart
                command, capture_output=True, text=True, timeout=HELM_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"{prefix}: helm template gave up after {HELM_TIMEOUT_SECONDS} s") from None
        except OSError as error:
            raise RenderError(f"{prefix}: helm could not run ({error.strerror})") from None
    if result.returncode != 0:
        message = " ".join(line.strip() for line in result.stderr.strip().splitlines() if line.strip())
        raise RenderError(f"{prefix}: helm template failed: {message}")
    return result.stdout


def render_plan(plan: Plan, revealed: Plan | None, where: str) -> list[Rendered]:
    """Render every release of `plan`; each cluster's API versions are those its charts' CRDs serve."""
    records = releases(plan, revealed)
    apis: dict[str, set[str]] = {}
    for record in records:
        # CRDs a release skips are not installed, so they serve no API on the cluster.
        lock = chart_lock().charts.get(record.chart)
        if lock is not None and lock.digest is not None and record.include_crds:
            try:
                apis.setdefault(record.cluster, set()).update(chart_api_versions(record.chart))
            except UpstreamUnavailableError as error:
                raise RenderError(f"{where}: cluster {record.cluster}, release {record.resource}: {error}") from None
    return [
        render_release(record, apis.get(record.cluster, set()) | builtin_api_versions(record.kube_version), where)
        for record in records
    ]


def rendered_crds(rendered: Iterable[Rendered]) -> dict[str, list[dict[str, Any]]]:
    """The CRDs each cluster's releases render (charts that template them, like cert-manager), by cluster.

    They are installed with their release, so the program's own custom resources on that cluster
    are validated against them.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for item in rendered:
        crds = [o for o in item.objects if o.get("kind") == "CustomResourceDefinition"]
        found.setdefault(item.release.cluster, []).extend(crds)
    return found


@dataclass
class OwnObjects:
    """The Kubernetes objects the program itself creates on one cluster (not through a chart)."""

    cluster: str
    kube_version: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    #: Server-side-apply patches (`<Kind>Patch`): a few fields of an object that exists.
    patches: list[dict[str, Any]] = field(default_factory=list)


def own_objects(plan: Plan) -> list[OwnObjects]:
    """The program's own Kubernetes objects per cluster, as the engine serializes them (the API's own form).

    Secret fields become typed placeholders when `plan` was evaluated with secrets revealed.
    """
    clusters = plan.outputs.get("clusters") or {}
    found: dict[str, OwnObjects] = {}
    for resource in plan.resources:
        kind = resource["type"]
        if not kind.startswith("kubernetes:") or kind == RELEASE or kind.startswith("kubernetes:helm.sh/"):
            continue
        if not resource["custom"]:
            # A multi-language component (yaml/v2:ConfigFile of an upstream release manifest, fetched by
            # the provider at deployment): its objects are not in the plan.
            continue
        cluster = _cluster_of(plan, resource)
        spec = clusters.get(cluster) or {}
        group = found.setdefault(
            cluster, OwnObjects(cluster, kube_version(str(spec.get("backend", "")), str(spec.get("version", ""))))
        )
        inputs = resource["inputs"]
        secret_paths = [path_segments(path) for path in resource["secret_paths"]]
        if secret_paths and resource["urn"] in plan.revealed:
            # Secret fields (a Secret's stringData is secret as a whole) are validated as typed placeholders.
            inputs = _with_placeholders(inputs, plan.revealed[resource["urn"]], secret_paths)
        (group.patches if kind.endswith("Patch") else group.objects).append(inputs)
    return list(found.values())


def validate_all(plan: Plan, rendered: list[Rendered]) -> Iterator[tuple[Rendered | OwnObjects, list[Problem]]]:
    """Each release's rendered objects, then each cluster's own objects, with their problems.

    Custom resources, own or rendered, are checked against the CRDs the cluster's releases install
    (`rendered_crds`) before the locked ones; own patches partially (only the fields they set).
    """
    crds = rendered_crds(rendered)
    owns = own_objects(plan)
    crossed = _cross_references(rendered, owns)
    for item in rendered:
        at = f"cluster {item.release.cluster}, release {item.release.resource}"
        problems = validate_objects(
            item.objects,
            item.release.kube_version,
            at,
            # Another release's CRDs on the cluster (cert-manager's, for the Cluster API operator's
            # Certificate), installed first: the release waits for that add-on (ChartRelease.waits_for).
            crds=crds.get(item.release.cluster, []),
        )
        yield item, problems + _problems_of(item.objects, crossed, at)
    for own in owns:
        at = f"cluster {own.cluster}, Meridian's own objects"
        served = crds.get(own.cluster, [])
        problems = validate_objects(own.objects, own.kube_version, at, crds=served)
        problems += validate_objects(own.patches, own.kube_version, at, partial=True, crds=served)
        yield own, problems + _problems_of(own.objects, crossed, at)


def _cross_references(rendered: list[Rendered], owns: list[OwnObjects]) -> dict[int, list[str]]:
    """`validate.references` over each cluster's objects, rendered and own: problems by object identity.

    A rendered object without a namespace is in its release's (Helm installs it there).
    """
    clusters: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for item in rendered:
        for document in item.objects:
            view = in_release_namespace(document, item.release)
            clusters.setdefault(item.release.cluster, []).append((document, view))
    for own in owns:
        clusters.setdefault(own.cluster, []).extend((document, document) for document in own.objects)
    found: dict[int, list[str]] = {}
    for pairs in clusters.values():
        for index, message in references(view for _, view in pairs):
            found.setdefault(id(pairs[index][0]), []).append(message)
    return found


def _problems_of(documents: list[dict[str, Any]], crossed: dict[int, list[str]], where: str) -> list[Problem]:
    return [
        Problem(
            where,
            f"{document.get('apiVersion')}/{document.get('kind')}",
            str((document.get("metadata") or {}).get("name", "?")),
            message,
        )
        for document in documents
        for message in crossed.get(id(document), [])
    ]


def manifest_name(rendered: Rendered) -> str:
    """`<cluster>.<release resource name>.yaml`: one file per release."""
    return f"{rendered.release.cluster}.{rendered.release.resource}.yaml"


#: Kinds that live outside namespaces (the ones charts render), so they get no release namespace.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass",
        "StorageClass", "RuntimeClass", "IngressClass", "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration", "APIService", "PersistentVolume", "CSIDriver", "ClusterPolicy",
        "NodeFeatureRule", "NodeFeatureGroup", "ClusterIssuer", "GatewayClass",
    }
)  # fmt: skip


def in_release_namespace(document: dict[str, Any], release: ReleaseRecord) -> dict[str, Any]:
    """The rendered object with the namespace Helm installs it in: a namespaced object without one is in the release's.

    A shallow copy with its own metadata; `document` is left as it is.
    """
    metadata = dict(document.get("metadata") or {})
    if "namespace" not in metadata and document.get("kind") not in CLUSTER_SCOPED:
        metadata["namespace"] = release.namespace
    return {**document, "metadata": metadata}


def type_token(document: dict[str, Any]) -> str:
    """The pulumi-kubernetes type token of an object: `kubernetes:apps/v1:DaemonSet`, `kubernetes:core/v1:Pod`."""
    api_version = str(document.get("apiVersion", ""))
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{document.get('kind')}"


#: What stands in for a CRD version's schema in the gate's copy (see `_for_the_gate`).
SCHEMA_ELIDED = {"openAPIV3Schema": {"description": "elided from the gate's copy: validated by meridian render"}}


def _for_the_gate(document: dict[str, Any]) -> dict[str, Any]:
    """The object as the policy pack sees it: a CRD without its versions' schemas.

    A CRD's schemas are most of what charts render (kube-prometheus-stack's alone are 4.6 MB)
    and no policy reads them; sending them through the analyzer protocol took four fifths of
    a gate's time. Everything else of the CRD (names, scope, versions, metadata) stays; the
    schemas are what `meridian render` validates custom resources against.
    """
    if document.get("kind") == "CustomResourceDefinition":
        for version in (document.get("spec") or {}).get("versions") or []:
            if isinstance(version, dict) and "schema" in version:
                version["schema"] = dict(SCHEMA_ELIDED)
    return document


def as_resources(plan: Plan, rendered: list[Rendered]) -> Plan:
    """`plan` plus every rendered object as a resource under its release, the way the gate analyzes resources.

    Objects without a namespace land in the release's (Helm installs them there), so the
    pack's namespace allow-lists see where they really run; CRDs come without their schemas
    (`_for_the_gate`).
    """
    resources = list(plan.resources)
    for item in rendered:
        release = item.release
        for index, document in enumerate(item.objects):
            document = in_release_namespace(_for_the_gate(json.loads(json.dumps(document))), release)
            metadata = document["metadata"]
            token = type_token(document)
            name = f"{release.resource}/{metadata.get('namespace', '_')}/{metadata.get('name', index)}"
            resources.append(
                {
                    "urn": make_urn(plan.stack, plan.project, release.urn, token, name),
                    "type": token,
                    "name": name,
                    "parent": release.urn,
                    "custom": True,
                    "inputs": document,
                    "secret_paths": [],
                    "protect": False,
                    "provider": release.provider,
                    "depends_on": [],
                    "aliases": [],
                    "ignore_changes": [],
                    "replace_on_changes": [],
                    "additional_secret_outputs": [],
                    "delete_before_replace": False,
                    "retain_on_delete": False,
                    "version": None,
                }
            )
    return Plan(plan.project, plan.stack, resources, plan.outputs)
