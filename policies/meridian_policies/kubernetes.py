"""Kubernetes and Helm hygiene: pod security, TLS on ingress, pinned charts from official repositories.

Workloads are read through `common.pod_spec`/`common.containers` (Pod, Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job, CronJob). The property names are the Kubernetes API's own (camelCase,
as pulumi_kubernetes 4.34 serializes them); Helm releases are `kubernetes:helm.sh/v3:Release`
(inputs chart, version, repositoryOpts.repo, atomic, cleanupOnFail) and the v4 `Chart`
component (chart, version, repositoryOpts.repo): the engine's step generator hands component
registrations to analyzers too, while the offline gate analyzes custom resources only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, Severity

# mypy checks the pack from policies/, where the repository root is not on its search path.
from components.charts import chart_lock  # type: ignore[import-not-found]

from .common import (
    CLUSTER_PROFILE,
    CONTAINER_LISTS,
    HELMOP,
    containers,
    get,
    items,
    list_setting,
    namespace_of,
    pod_spec,
    profile_chart,
    resource_policy,
)

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART_V4 = "kubernetes:helm.sh/v4:Chart"
HELM_TYPES = (HELM_RELEASE, HELM_CHART_V4)


def helm_charts(resource_type: str, props: Any) -> list[dict[str, Any]]:
    """Each chart a resource installs, as {chart, repo, version, atomic}; [] for a resource that installs none.

    Releases, and the GitOps engines' objects (HelmOp, ClusterProfile): the Helm policies read
    those charts as they read a Release's.
    """
    if resource_type in HELM_TYPES:
        return [
            {
                "chart": get(props, "chart", default=""),
                "repo": get(props, "repositoryOpts", "repo"),
                "version": get(props, "version"),
                "atomic": get(props, "atomic") is True or get(props, "cleanupOnFail") is True,
            }
        ]
    if resource_type == HELMOP:
        helm = get(props, "spec", "helm", default={})
        return [
            {
                "chart": get(helm, "chart", default=""),
                "repo": get(helm, "repo"),
                "version": get(helm, "version"),
                "atomic": get(helm, "atomic") is True,
            }
        ]
    if resource_type == CLUSTER_PROFILE:
        return [
            {
                "chart": profile_chart(chart),
                "repo": get(chart, "repositoryURL"),
                "version": get(chart, "chartVersion"),
                "atomic": get(chart, "options", "atomic") is True
                or get(chart, "options", "upgradeOptions", "cleanupOnFail") is True,
            }
            for chart in items(get(props, "spec", "helmCharts"))
        ]
    return []


INGRESS_TYPES = ("kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:extensions/v1beta1:Ingress")
NAMESPACE = "kubernetes:core/v1:Namespace"
K8S_PROVIDER = "pulumi:providers:kubernetes"

#: Namespaces whose system workloads need host access: the GPU Operator (driver, toolkit, device
#: plugin run privileged with hostPath mounts), kube-system (CNI, CSI node plugins) and node-agents
#: (node-exporter: the host's network and PID namespaces, /proc, /sys; components/addons/observability.py).
DEFAULT_ALLOWED_NAMESPACES = ["gpu-operator", "kube-system", "node-agents"]

#: The official repository of each chart Meridian installs, from the chart lock
#: (components/charts.lock.yaml): a chart joins the lock, and so this list, when an add-on installs it.
DEFAULT_ALLOWED_REPOSITORIES = sorted({chart.repository for chart in chart_lock().charts.values()})
#: chart name -> (repository, version) Meridian pins it to.
LOCKED_CHARTS = {name: (chart.repository, chart.version) for name, chart in chart_lock().charts.items()}

#: An exact SemVer 2.0 version, Helm's optional leading "v" allowed; no ranges, wildcards or "latest".
EXACT_VERSION = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
POD_SECURITY_LEVELS = frozenset({"privileged", "baseline", "restricted"})
REQUIRED_NAMESPACE_LABELS = ("managed-by", "project", "pod-security.kubernetes.io/enforce")

_NAMESPACES_CONFIG = {
    "allowed_namespaces": list_setting(
        DEFAULT_ALLOWED_NAMESPACES, "Namespaces exempted (system workloads that need host access).", {"type": "string"}
    )
}


# -- reading workloads -----------------------------------------------------------------------


def _namespace(args: ResourceValidationArgs) -> str:
    """Where the object lands: its own namespace, else its Kubernetes provider's default namespace."""
    provider = args.provider
    if (
        get(args.props, "metadata", "namespace") is None
        and provider is not None
        and provider.resource_type == K8S_PROVIDER
        and get(provider.props, "namespace")
    ):
        return str(get(provider.props, "namespace"))
    return namespace_of(args.props)


def _exempt(args: ResourceValidationArgs) -> bool:
    allowed = args.get_config().get("allowed_namespaces", DEFAULT_ALLOWED_NAMESPACES)
    return _namespace(args) in [str(n) for n in items(allowed)]


def _workload(args: ResourceValidationArgs, *, exemptible: bool = False) -> Mapping[str, Any] | None:
    """The pod spec of a workload to check (None for other kinds and, if exemptible, allowed namespaces)."""
    spec = pod_spec(args.resource_type, args.props)
    if spec is None or (exemptible and _exempt(args)):
        return None
    return spec


def _named(spec: Mapping[str, Any], lists: Sequence[str] = CONTAINER_LISTS) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for container in containers(spec, lists):
        yield f"container {get(container, 'name', default='?')}", container


def _positive(value: Any) -> bool:
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


# -- 12, 13, 14, 22: pod security ------------------------------------------------------------


def _no_privileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _workload(args, exemptible=True)
    if spec is None:
        return
    for name, container in _named(spec):
        context = get(container, "securityContext")
        if get(context, "privileged") is True:
            report(  # pragma: no mutate - urn None is report_violation's default
                f"{name} is privileged in namespace {_namespace(args)}",
                None,
            )
        if get(context, "allowPrivilegeEscalation") is True:
            report(  # pragma: no mutate - urn None is report_violation's default
                f"{name} sets allowPrivilegeEscalation: true in namespace {_namespace(args)}",
                None,
            )


def _no_host_path(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _workload(args, exemptible=True)
    if spec is None:
        return
    for volume in items(get(spec, "volumes")):
        if get(volume, "hostPath") is not None:
            path = get(volume, "hostPath", "path", default="?")
            report(  # pragma: no mutate - urn None is report_violation's default
                f"volume {get(volume, 'name', default='?')} mounts host path {path}",
                None,
            )


def _no_host_namespaces(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _workload(args, exemptible=True)
    if spec is None:
        return
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if get(spec, flag) is True:
            report(  # pragma: no mutate - urn None is report_violation's default
                f"{flag} is true in namespace {_namespace(args)}",
                None,
            )


def _run_as_non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _workload(args, exemptible=True)
    if spec is None:
        return
    pod = get(spec, "securityContext")
    for name, container in _named(spec):
        own = get(container, "securityContext")
        # A container's setting overrides the pod's.
        user = get(own, "runAsUser", default=get(pod, "runAsUser"))
        non_root = get(own, "runAsNonRoot", default=get(pod, "runAsNonRoot"))
        if _positive(user) or (non_root is True and user is None):
            continue
        report(  # pragma: no mutate - urn None is report_violation's default
            f"{name} may run as root (set runAsNonRoot: true or a non-zero runAsUser)",
            None,
        )


# -- 18, 19: images and resources ----------------------------------------------------------------


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned (no tag, or "latest", and no digest); None when it is.

    A reference is [registry[:port]/]path[:tag][@sha256:<hex>], and the tag what follows the first
    ':' of its last path component (a registry's ":port" sits before the last '/'). A digest pins
    the image and needs no case of its own: with one, that text is the digest's hex
    ("name@sha256:<hex>") or holds the '@' ("name:tag@sha256:<hex>"), never empty nor "latest".
    """
    tag = image.rpartition("/")[2].partition(":")[2]
    if not tag:
        return f"image {image} has no tag (Kubernetes pulls :latest)"
    if tag.lower() == "latest":
        return f"image {image} uses the :latest tag"
    return None


def _no_latest_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _workload(args)
    if spec is None:
        return
    for name, container in _named(spec):
        image = get(container, "image")
        problem = image_problem(str(image)) if image else f"{name} has no image"
        if problem:
            report(  # pragma: no mutate - urn None is report_violation's default
                f"{name}: {problem}",
                None,
            )


#: Workloads a locked chart renders without any way to size them, as `<namespace>/<kind>/<name>`.
#: gpu-operator v26.7.0: the pre-upgrade hook Jobs of templates/upgrade_crd.yaml and
#: templates/cleanup_gpucluster.yaml set no resources and read none from values; they run
#: kubectl for seconds during `helm upgrade`. (`meridian gate --render` shows them.)
DEFAULT_UNSIZED_WORKLOADS = [
    "gpu-operator/Job/gpu-operator-upgrade-crd",
    "gpu-operator/Job/gpu-operator-cleanup-gpucluster",
    # Fleet v0.16.1's housekeeping jobs take no resources from values (charts/fleet/templates/
    # job_cleanup_clusterregistrations.yaml, job_cleanup_gitrepojobs.yaml, job_migrate_gitrepo_helmrepourl.yaml).
    "cattle-fleet-system/Job/fleet-cleanup-clusterregistrations",
    "cattle-fleet-system/CronJob/fleet-cleanup-gitrepo-jobs",
    "cattle-fleet-system/Job/fleet-migrate-gitrepo-helm-url-regex",
]


def _container_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _workload(args)
    if spec is None:
        return
    kind = args.resource_type.rpartition(":")[2]
    # An unnamed object (Pulumi names it) is no chart workload: "<namespace>/<kind>/None" matches no entry.
    where = f"{_namespace(args)}/{kind}/{get(args.props, 'metadata', 'name')}"
    unsized = args.get_config().get("unsized_workloads", DEFAULT_UNSIZED_WORKLOADS)
    if where in [str(entry) for entry in items(unsized)]:
        return
    # Ephemeral (debug) containers may not set resources (core/v1 EphemeralContainerCommon).
    for name, container in _named(spec, ("initContainers", "containers")):
        missing = [
            f"{section}.{quantity}"
            for section, quantity in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))
            if get(container, "resources", section, quantity) in (None, "")
        ]
        if missing:
            report(  # pragma: no mutate - urn None is report_violation's default
                f"{name} does not set resources {', '.join(missing)}",
                None,
            )


# -- 15: ingress --------------------------------------------------------------------------------


def _host_covered(host: str, tls_hosts: set[str]) -> bool:
    if host in tls_hosts:
        return True
    # A wildcard certificate host covers exactly one further label.
    _, dot, parent = host.partition(".")
    return bool(dot) and f"*.{parent}" in tls_hosts


def _ingress_requires_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in INGRESS_TYPES:
        return
    tls = items(get(args.props, "spec", "tls"))
    tls_hosts = {str(h).lower() for entry in tls for h in items(get(entry, "hosts"))}
    hosts = [get(rule, "host") for rule in items(get(args.props, "spec", "rules"))]
    if not tls:
        report(  # pragma: no mutate - urn None is report_violation's default
            "spec.tls is empty: the ingress serves plain HTTP",
            None,
        )
        return
    for host in hosts:
        if host and not _host_covered(str(host).lower(), tls_hosts):
            report(  # pragma: no mutate - urn None is report_violation's default
                f"host {host} is not listed in any spec.tls[].hosts",
                None,
            )


# -- 16, 17, 21: Helm ---------------------------------------------------------------------------


def _helm_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Under `pulumi preview` the analyzer sees inputs after the provider's Check, and the v3 Release's
    # Check replaces `version` with the version it resolved (pulumi-kubernetes helm_release.go); the
    # program's own value is seen only by the offline gate (`meridian gate`), which sends it unchecked.
    for source in helm_charts(args.resource_type, args.props):
        version = source["version"]
        if version in (None, ""):
            report(  # pragma: no mutate - urn None is report_violation's default
                f"chart {source['chart'] or '?'} has no version: Helm installs the newest",
                None,
            )
        elif not EXACT_VERSION.match(str(version).strip()):
            report(  # pragma: no mutate - urn None is report_violation's default
                f"version {version!r} is not an exact version (no ranges, wildcards or latest)",
                None,
            )
        else:
            chart, repo = str(source["chart"]), source["repo"]
            pinned = LOCKED_CHARTS.get(chart)
            # The same chart name from another repository (or none) is another chart.
            if pinned is None or not repo or normal_repository(str(repo)) != normal_repository(pinned[0]):
                continue
            if str(version).strip() != pinned[1]:
                report(  # pragma: no mutate - urn None is report_violation's default
                    f"{chart} {version} is not the version the chart lock pins ({pinned[1]})",
                    None,
                )


def normal_repository(url: str) -> str:
    """A repository URL compared the way Helm resolves it: scheme and host in one case, one trailing '/' dropped.

    Helm joins index.yaml and chart paths to the repository URL with one trailing '/' trimmed
    (pkg/repo ResolveReferenceURL: strings.TrimSuffix(path, "/")); schemes and hosts are
    case-insensitive (urlsplit lowercases the scheme). Only comparisons use this form.
    """
    parts = urlsplit(url.strip())
    host = parts.netloc.lower()  # pragma: no mutate - both sides of every comparison pass here: upper() is as canonical
    return parts._replace(netloc=host).geturl().removesuffix("/")


def chart_source_problem(chart: str, repo: str | None, allowed: list[str]) -> str | None:
    """Why a chart does not come from an allowed repository; None when it does."""
    listed = {normal_repository(a) for a in allowed}
    if repo:
        if normal_repository(repo) in listed:
            return None
        return f"repository {repo} is not an allowed repository"
    if "://" in chart:  # oci://registry/path/chart, or a chart archive's URL
        source = normal_repository(chart)
        if any(source.startswith(f"{a}/") for a in listed):
            return None
        return f"chart {chart} is not from an allowed repository or registry"
    return (
        f"chart {chart!r} names no repository (repositoryOpts.repo): a local path or an alias from "
        "the machine's Helm configuration is not reproducible"
    )


def _helm_allowed_repository(args: ResourceValidationArgs, report: ReportViolation) -> None:
    sources = helm_charts(args.resource_type, args.props)
    if not sources:
        return
    allowed = [str(a) for a in items(args.get_config().get("allowed_repositories", DEFAULT_ALLOWED_REPOSITORIES))]
    for source in sources:
        repo = source["repo"]
        problem = chart_source_problem(str(source["chart"]), str(repo) if repo else None, allowed)
        if problem:
            report(  # pragma: no mutate - urn None is report_violation's default
                problem,
                None,
            )


def _helm_atomic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # A v4 Chart renders through Pulumi, no Helm release to roll back: Releases and the engines' objects.
    if args.resource_type == HELM_CHART_V4:
        return
    for source in helm_charts(args.resource_type, args.props):
        if not source["atomic"]:
            report(  # pragma: no mutate - urn None is report_violation's default
                "neither atomic nor cleanupOnFail is true: a failed upgrade leaves a half-applied release",
                None,
            )


# -- 20: namespaces -------------------------------------------------------------------------------


def _namespaces_labelled(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NAMESPACE:
        return
    labels = get(args.props, "metadata", "labels")
    missing = [label for label in REQUIRED_NAMESPACE_LABELS if not get(labels, label)]
    if missing:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"missing labels: {', '.join(missing)}",
            None,
        )
    managed_by = get(labels, "managed-by")
    if managed_by and managed_by != "meridian":
        report(  # pragma: no mutate - urn None is report_violation's default
            f"managed-by is {managed_by!r}, not 'meridian'",
            None,
        )
    enforce = get(labels, "pod-security.kubernetes.io/enforce")
    if enforce and enforce not in POD_SECURITY_LEVELS:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"pod-security.kubernetes.io/enforce {enforce!r} is not one of {sorted(POD_SECURITY_LEVELS)}",
            None,
        )


# -- the policies -----------------------------------------------------------------------------

POLICIES = [
    resource_policy(
        "no-privileged-containers",
        "No container runs privileged or may escalate privileges, outside the allowed system namespaces.",
        _no_privileged,
        severity=Severity.HIGH,
        remediation="Drop securityContext.privileged and set allowPrivilegeEscalation: false; add only the "
        "capabilities needed. System add-ons that need it belong in an allowed namespace.",
        config=_NAMESPACES_CONFIG,
    ),
    resource_policy(
        "no-host-path-volumes",
        "No pod mounts a hostPath volume, outside the allowed system namespaces.",
        _no_host_path,
        severity=Severity.HIGH,
        remediation="Use a PersistentVolumeClaim, emptyDir, ConfigMap or Secret volume instead of hostPath.",
        config=_NAMESPACES_CONFIG,
    ),
    resource_policy(
        "no-host-namespaces",
        "No pod shares the node's network, PID or IPC namespace, outside the allowed system namespaces.",
        _no_host_namespaces,
        severity=Severity.HIGH,
        remediation="Remove hostNetwork, hostPID and hostIPC (or set them false); expose ports through a Service.",
        config=_NAMESPACES_CONFIG,
    ),
    resource_policy(
        "ingress-requires-tls",
        "Every Ingress terminates TLS for every host it routes.",
        _ingress_requires_tls,
        severity=Severity.HIGH,
        remediation="Add spec.tls entries whose hosts cover every rules[].host (cert-manager issues the "
        "certificate from the ingress annotation).",
    ),
    resource_policy(
        "helm-release-pinned",
        "Helm charts are pinned to an exact version, the chart lock's where the chart is locked.",
        _helm_pinned,
        severity=Severity.MEDIUM,
        remediation='Set version to the exact released chart version (e.g. "v26.7.0"); no ranges, '
        'wildcards, empty values or "latest"; for a chart in components/charts.lock.yaml, the locked version.',
    ),
    resource_policy(
        "helm-release-allowed-repository",
        "Helm charts come from their official repositories.",
        _helm_allowed_repository,
        severity=Severity.HIGH,
        remediation="Set repositoryOpts.repo to the chart's official repository, or add a reviewed repository "
        "to the `allowed_repositories` config.",
        config={
            "allowed_repositories": list_setting(
                DEFAULT_ALLOWED_REPOSITORIES,
                "Chart repositories (and oci:// registry paths) charts may come from.",
                {"type": "string"},
            )
        },
    ),
    resource_policy(
        "no-latest-images",
        "Every container image has an explicit tag other than latest, or a digest.",
        _no_latest_images,
        severity=Severity.MEDIUM,
        remediation="Reference images as registry/name:<version> or registry/name@sha256:<digest>.",
    ),
    resource_policy(
        "container-resources",
        "Every container requests CPU and memory and limits memory.",
        _container_resources,
        severity=Severity.LOW,
        remediation="Set resources.requests.cpu, resources.requests.memory and resources.limits.memory.",
        level=EnforcementLevel.ADVISORY,
        config={
            "unsized_workloads": list_setting(
                DEFAULT_UNSIZED_WORKLOADS,
                "Chart workloads that cannot be sized through values, as <namespace>/<kind>/<name>.",
            )
        },
    ),
    resource_policy(
        "namespaces-labelled",
        "Namespaces carry managed-by: meridian, project and a Pod Security Admission enforce level.",
        _namespaces_labelled,
        severity=Severity.MEDIUM,
        remediation="Build namespace labels from components.labels.site_labels and add "
        "pod-security.kubernetes.io/enforce (restricted, baseline or privileged).",
    ),
    resource_policy(
        "helm-release-atomic",
        "Helm releases roll back or clean up after a failed install or upgrade.",
        _helm_atomic,
        severity=Severity.LOW,
        remediation="Set atomic: true (or at least cleanupOnFail: true) on the Release.",
        level=EnforcementLevel.ADVISORY,
    ),
    resource_policy(
        "run-as-non-root",
        "Containers run as a non-root user, outside the allowed system namespaces.",
        _run_as_non_root,
        severity=Severity.MEDIUM,
        remediation="Set securityContext.runAsNonRoot: true (pod or container) or a non-zero runAsUser.",
        level=EnforcementLevel.ADVISORY,
        config=_NAMESPACES_CONFIG,
    ),
]
