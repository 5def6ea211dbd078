"""The add-on layer: what an add-on installs (a chart release record) apart from how it is delivered.

An add-on is two steps that stay apart (README, "Add-ons"):

1. **What** — a pure function of the add-on's slice of the spec returns a `ChartRelease`:
   the chart pinned in the chart lock, the Helm release name, namespace, values, and the
   add-ons on the same cluster it must wait for. No Pulumi resource is made there, so the
   record can be tested, rendered and compared on its own.
2. **How** — `AddonContext.deliver`: on most clusters `deliver` turns the record into a
   `kubernetes:helm.sh/v3:Release` through the cluster's explicit provider; on a cluster with
   `addons.delivery: gitops` the add-ons the engine may deliver hand the same record over
   (`GitOpsRelease`), the project's GitOps engine installs it from a Fleet HelmOp or a Sveltos
   ClusterProfile, and a wait for the deployed release stands where the Helm release would
   (components/gitops.py, components/delivered.py): the values are the record's either way.

The Platform walks `components.addons.ADDONS` in order, once per cluster, and builds each
add-on that `applies` to the cluster; an add-on's component gets an `AddonContext` with the
cluster's provider, labels and the components of the add-ons installed before it there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pulumi

from ..charts import LockedChart, locked
from ..reachability import Source
from ..spec import ClusterSpec, PlatformSpec

if TYPE_CHECKING:
    from ..clusters.cluster import KubernetesCluster

#: Helm settings every direct delivery uses. `atomic` rolls a failed upgrade back (and implies
#: waiting for the release's resources), `cleanup_on_fail` removes what a failed install created,
#: and `max_history` bounds the release Secrets Helm keeps (pulumi-kubernetes helm.v3.Release args).
HELM_SETTINGS: dict[str, Any] = {"atomic": True, "cleanup_on_fail": True, "max_history": 10}


@dataclass(frozen=True)
class ChartRelease:
    """One chart release an add-on asks for: everything delivery needs, nothing about how."""

    #: The add-on's resource name on the cluster (`<cluster>-<add-on>`); the release's Pulumi name.
    resource: str
    #: The Helm release name (what `helm list` shows, and what the chart's objects are named after).
    release_name: str
    #: The chart, repository and version, from the chart lock (components/charts.lock.yaml).
    chart: LockedChart
    namespace: str
    #: The chart values; may hold Outputs (secret ones stay secret through delivery).
    values: Mapping[str, Any]
    #: Keys of the add-ons on the same cluster whose objects this release needs first (CRDs,
    #: an issuer, an ingress controller). The Kubernetes API being ready is not listed: every
    #: release goes through the cluster's provider, which waits for it (clusters/readiness.py).
    waits_for: tuple[str, ...] = ()
    #: Seconds Helm waits for the release's resources to become ready.
    timeout: int = 900
    #: Leave the chart's `crds/` folder uninstalled (Helm --skip-crds): CRDs of features not used.
    skip_crds: bool = False


def chart_release(
    resource: str,
    chart: str,
    *,
    namespace: str,
    values: Mapping[str, Any],
    release_name: str | None = None,
    waits_for: tuple[str, ...] = (),
    timeout: int = 900,
    skip_crds: bool = False,
) -> ChartRelease:
    """A release record for the locked chart `chart` (KeyError naming the lock file if it is not locked)."""
    return ChartRelease(
        resource=resource,
        release_name=release_name or chart,
        chart=locked(chart),
        namespace=namespace,
        values=values,
        waits_for=waits_for,
        timeout=timeout,
        skip_crds=skip_crds,
    )


def deliver(
    release: ChartRelease,
    *,
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource] | None = None,
    namespace: pulumi.Input[str],
) -> pulumi.CustomResource:
    """Install `release` directly: a helm.v3.Release through the cluster's explicit provider.

    :param provider: the cluster's Kubernetes provider (never the ambient one).
    :param parent: the add-on's component.
    :param depends_on: objects the release needs first (its ConfigMaps, the add-ons it waits for).
    :param namespace: the record's namespace as the add-on's Namespace resource reports it (its
        Output), so the release also depends on that Namespace.
    """
    import pulumi_kubernetes as k8s

    return k8s.helm.v3.Release(
        release.resource,
        name=release.release_name,
        chart=release.chart.name,
        version=release.chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=release.chart.repository),
        namespace=namespace,
        values=dict(release.values),
        timeout=release.timeout,
        # None is not sent: releases that install their CRDs show no new input in a diff.
        skip_crds=True if release.skip_crds else None,
        **HELM_SETTINGS,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on or []),
    )


def container_resources(cpu: str, memory: str, memory_limit: str, cpu_limit: str | None = None) -> dict[str, Any]:
    """A container's requests and limits, as charts take them (what policy container-resources asks for).

    Memory is always bounded; a CPU limit only where throttling is harmless (a throttled hub or
    proxy answers slowly for everyone).
    """
    limits = {"memory": memory_limit} if cpu_limit is None else {"cpu": cpu_limit, "memory": memory_limit}
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}


def namespace(
    resource: str,
    name: str,
    *,
    labels: Mapping[str, str],
    enforce: str,
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
    warn: str | None = None,
    retain_on_delete: bool = False,
) -> Any:
    """An add-on's Namespace with its Pod Security level (Kubernetes Pod Security Admission labels).

    :param enforce: the level pods must meet (`privileged`, `baseline`, `restricted`).
    :param warn: a stricter level to warn about, if any.
    :param retain_on_delete: keep the namespace (and what lives in it) when the add-on leaves the stack.
    """
    import pulumi_kubernetes as k8s

    levels = {"pod-security.kubernetes.io/enforce": enforce}
    if warn is not None:
        levels["pod-security.kubernetes.io/warn"] = warn
    return k8s.core.v1.Namespace(
        resource,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={**labels, **levels}),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, retain_on_delete=retain_on_delete or None),
    )


def secrets_checksum(data: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """SHA-256 over the Secret's data, not secret itself: it changes when a secret does, and reveals none."""
    keys = sorted(data)
    digest = pulumi.Output.all(*(data[key] for key in keys)).apply(
        lambda values: hashlib.sha256(json.dumps(dict(zip(keys, values))).encode()).hexdigest()  # noqa: B905
    )
    return pulumi.Output.unsecret(digest)


#: API groups of built-in kinds, by the SDK module that has their classes (pulumi_kubernetes/<module>/<version>).
SDK_GROUPS = {
    "": "core",
    "apps": "apps",
    "autoscaling": "autoscaling",
    "apiregistration.k8s.io": "apiregistration",
    "batch": "batch",
    "policy": "policy",
    "networking.k8s.io": "networking",
    "rbac.authorization.k8s.io": "rbac",
    "storage.k8s.io": "storage",
}


def _snake(key: str) -> str:
    """A top-level Kubernetes field as the SDK's keyword argument (`roleRef` -> `role_ref`)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def kubernetes_object(
    resource: str,
    document: Mapping[str, Any],
    *,
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    stateful: bool = False,
) -> pulumi.CustomResource:
    """One of the program's own Kubernetes objects, as the SDK's typed resource of its kind.

    The object is written as the API takes it (camelCase fields); its kind picks the class
    (`apps/v1` `Deployment` -> `pulumi_kubernetes.apps.v1.Deployment`), which the engine and the
    plan show under its own type.

    :param stateful: the object holds data (a database): protected, and left in the cluster when it
        leaves the stack (Pulumi options protect and retainOnDelete).
    """
    import importlib

    import pulumi_kubernetes as k8s

    api_version, kind = str(document["apiVersion"]), str(document["kind"])
    group, _, version = api_version.rpartition("/")
    opts = pulumi.ResourceOptions(
        parent=parent,
        provider=provider,
        depends_on=list(depends_on),
        protect=stateful or None,
        retain_on_delete=stateful or None,
    )
    if group not in SDK_GROUPS:
        # A custom resource (a CRD's kind): the SDK's generic class, its fields as the API takes them.
        fields = {key: value for key, value in document.items() if key not in ("apiVersion", "kind")}
        return k8s.apiextensions.CustomResource(resource, api_version=api_version, kind=kind, **fields, opts=opts)
    module = importlib.import_module(f"pulumi_kubernetes.{SDK_GROUPS[group]}.{version}")
    # `apiVersion` and `kind` go too: each class sets its own whatever it is given (pulumi_kubernetes
    # core/v1/ConfigMap.py `_internal_init`, as every typed class).
    snake = {_snake(key): value for key, value in document.items()}
    cls: Any = getattr(module, kind)
    created: pulumi.CustomResource = cls(resource, **snake, opts=opts)
    return created


@dataclass(frozen=True)
class GitOpsRelease:
    """A release the project's GitOps engine installs instead of a direct Helm release (components/gitops.py)."""

    #: The cluster it is for.
    cluster: str
    release: ChartRelease
    #: Labels a cluster must carry for this add-on (`gpu=true` for the GPU Operator), besides its name.
    selector: Mapping[str, str]
    #: What must exist before the engine's object is made (the release's ConfigMaps, Namespace).
    depends_on: tuple[pulumi.Resource, ...] = ()


class Engine(Protocol):
    """The project's GitOps engine as the add-ons see it (components/gitops.py `GitOps`)."""

    def deliver(self, item: GitOpsRelease, parent: pulumi.Resource) -> pulumi.Resource:
        """Hand `item` to the engine; what is returned exists once the engine has installed the release."""
        ...


@dataclass(frozen=True)
class AddonContext:
    """What an add-on's component gets from the Platform for one cluster."""

    cluster_name: str
    cluster: ClusterSpec
    #: The cluster's Kubernetes provider; it waits for the API to be ready.
    provider: pulumi.ProviderResource
    #: Labels for the Kubernetes objects the add-on creates (the project's labels).
    labels: dict[str, str]
    #: The cluster's component: the parent of its add-ons, and what its backend exposes to them
    #: (agents and node security group on rke2, the volume driver, the service-account issuer on eks).
    parent: KubernetesCluster
    #: The site component the cluster runs on (its provider, network, DNS domain).
    site: Any
    #: Resolves an allow-list (CIDRs, `site:<name>`) into sources (components/reachability.py).
    sources: Callable[[Sequence[str]], list[Source]]
    #: The whole validated spec: project-wide settings (the central observability) an add-on reads.
    spec: PlatformSpec | None = None
    #: Components of the add-ons already installed on this cluster, by add-on key.
    installed: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    #: The project-wide components (`PROJECT_SERVICES`), by key: built once, before any add-on.
    project: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    #: The engine a cluster with `addons.delivery: gitops` hands its releases to (components/gitops.py);
    #: None on clusters whose releases are installed directly.
    gitops: Engine | None = None

    def deliver(
        self,
        release: ChartRelease,
        *,
        parent: pulumi.Resource,
        depends_on: Sequence[pulumi.Resource],
        namespace: pulumi.Input[str],
        selector: Mapping[str, str] | None = None,
    ) -> pulumi.Resource:
        """Install `release` the cluster's way: directly (`deliver`) or by the project's GitOps engine.

        What is returned is what the release's dependents wait for: the Helm release, or the
        engine's wait for the deployed release (components/delivered.py). Either way the record
        and so the values are the same.

        :param depends_on: what the release needs first on the cluster; it must hold the release's
            Namespace resource, which the engine's object waits for: Pulumi makes the namespace with
            its Pod Security labels, and the engine then finds it (both engines create a missing
            one, unlabelled, and Pulumi's create would then find the name taken).
        :param namespace: the Namespace resource's name Output (direct delivery depends on it).
        :param selector: labels a cluster must carry for the engine's object to select it, besides its
            name (the GPU Operator's `meridian.io/gpu: "true"`).
        """
        if self.gitops is None:
            return deliver(
                release, provider=self.provider, parent=parent, depends_on=list(depends_on), namespace=namespace
            )
        item = GitOpsRelease(self.cluster_name, release, dict(selector or {}), tuple(depends_on))
        return self.gitops.deliver(item, parent)

    def waits(self, release: ChartRelease) -> list[pulumi.Resource]:
        """The components `release` waits for; an add-on it names that is not on the cluster is a program error."""
        missing = [key for key in release.waits_for if key not in self.installed]
        if missing:
            raise ValueError(
                f"cluster {self.cluster_name}: release {release.release_name} waits for add-ons not installed "
                f"before it: {', '.join(missing)} (components/addons/__init__.py ADDONS order)"
            )
        return [self.installed[key] for key in release.waits_for]


@dataclass(frozen=True)
class ProjectService:
    """One project-wide component the Platform builds once, before the clusters' add-ons that use it."""

    #: Its key in `AddonContext.project`.
    key: str
    #: Whether the project needs it, given the whole spec.
    applies: Callable[[PlatformSpec], bool]
    #: Builds it under the given parent (the Platform); imports its module only when needed.
    build: Callable[[PlatformSpec, pulumi.Resource], pulumi.ComponentResource]


@dataclass(frozen=True)
class Addon:
    """One entry of the Platform's ordered add-on list."""

    #: The add-on's key (the spec's `addons.<key>` where it has one).
    key: str
    #: Whether the add-on goes on the cluster of this name, given the whole spec.
    applies: Callable[[str, PlatformSpec], bool]
    #: Builds the add-on's component (imports its module only when a cluster needs it).
    build: Callable[[AddonContext], pulumi.ComponentResource]
