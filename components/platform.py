"""Platform: the composition root that builds everything one stack's spec names.

Children: one site component per entry of `sites` (`meridian:sites:OpenStackSite` or
`meridian:sites:AwsSite`, named by the site's key); the project-wide components the add-ons share
(`components.addons.PROJECT_SERVICES`, parented to the Platform); then one
`meridian:clusters:KubernetesCluster` per entry of `clusters`, handed its site component, each
followed by every add-on of the ordered list `components.addons.ADDONS` that applies to it, given
the cluster's Kubernetes provider and parented to the cluster's component. A capi cluster comes
after its management cluster and that cluster's add-ons (`build_order`): Cluster API's providers
there build it. The GitOps engine (components/gitops.py) is built right after its management
cluster's add-ons; each registered cluster is registered with it as soon as both exist, and a
cluster whose add-ons the engine delivers comes after the engine.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pulumi

from .spec import PlatformSpec


class Platform(pulumi.ComponentResource):
    """A research project's platform across all of its sites."""

    sites: dict[str, Any]
    """Site components by site key (OpenStackSite or AwsSite)."""
    clusters: dict[str, Any]
    """KubernetesCluster components by cluster key; each carries its Kubernetes provider."""
    addons: dict[str, dict[str, Any]]
    """Add-on components by cluster key, then add-on key (components/addons ADDONS order)."""
    project_services: dict[str, Any]
    """Project-wide components by key (components/addons PROJECT_SERVICES): the push CA."""
    gitops: Any = None
    """The GitOps engine's component on the management cluster (components/gitops.py), if the spec has one."""

    @property
    def gpu_operators(self) -> dict[str, Any]:
        """GpuOperator components by cluster key (clusters with GPU pools); each has a typed `summary`."""
        return {name: addons["gpu_operator"] for name, addons in self.addons.items() if "gpu_operator" in addons}

    def __init__(self, name: str, spec: PlatformSpec, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Build the platform `name` (the project name) from its validated spec.

        :param name: the component's name; the project's name by convention.
        :param spec: the whole validated platform spec of the stack.
        :param opts: options of the component itself.
        """
        super().__init__("meridian:index:Platform", name, None, opts)
        self.sites = {}
        for site_name, site in spec.sites.items():
            # Provider SDKs are imported only when a stack has a site of that kind (import cost).
            if site.kind == "openstack":
                from .sites.openstack import OpenStackSite

                self.sites[site_name] = OpenStackSite(
                    site_name, site, project=spec.project, opts=pulumi.ResourceOptions(parent=self)
                )
            else:
                from .sites.aws import AwsSite

                self.sites[site_name] = AwsSite(
                    site_name, site, project=spec.project, opts=pulumi.ResourceOptions(parent=self)
                )
        self.clusters = {}
        self.addons = {}
        self.project_services = {}
        self.gitops = None
        from .addons import PROJECT_SERVICES

        for service in PROJECT_SERVICES:
            if service.applies(spec):
                self.project_services[service.key] = service.build(spec, self)
        if spec.clusters:
            from .clusters.cluster import KubernetesCluster, Management
            from .reachability import api_allow_list, sources

            # Each cluster with its add-ons; a capi cluster after its management cluster's, whose
            # Cluster API providers build it, and a cluster whose add-ons the GitOps engine delivers
            # after the engine (build_order).
            engine_home = str(spec.gitops.management_cluster) if spec.gitops is not None and engine_of(spec) else None
            for cluster_name in build_order(spec):
                cluster = spec.clusters[cluster_name]
                management = None
                if cluster.backend == "capi":
                    from .spec.gitops import cluster_labels, discovered

                    home = str(cluster.management_cluster)
                    engine_labels = cluster_labels(spec, cluster_name) if discovered(spec, cluster_name) else {}
                    management = Management(home, self.clusters[home], self.addons[home]["cluster_api"], engine_labels)
                self.clusters[cluster_name] = KubernetesCluster(
                    cluster_name,
                    cluster,
                    site=self.sites[cluster.site],
                    project=spec.project,
                    # Other sites in the allow-list are reached through their egress addresses.
                    api_sources=sources(api_allow_list(spec, cluster_name), self.sites),
                    management=management,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                if self.gitops is not None and cluster_name in self.gitops.registered:
                    self._register(cluster_name)
                self._addons(spec, cluster_name)
                if cluster_name == engine_home:
                    self._engine(spec, cluster_name)
        if self.gitops is not None:
            self.gitops.close()
        if spec.vault is not None and spec.vault.write_back is not None:
            from .vaultside import vault_project
            from .writeback import VaultWriteBack

            central = None
            if spec.observability is not None:
                from .addons.central import CentralObservability

                found = self.addons.get(spec.observability.central.cluster, {}).get("observability")
                central = found if isinstance(found, CentralObservability) else None
            VaultWriteBack(
                f"{spec.project.name}-vault-write-back",
                spec,
                kubeconfigs={
                    name: cluster.kubeconfig
                    for name, cluster in self.clusters.items()
                    if spec.clusters[name].backend != "attached"  # its kubeconfig came from a reference
                },
                hubs={
                    name: addons["jupyterhub"].generated
                    for name, addons in self.addons.items()
                    if "jupyterhub" in addons
                },
                grafana_admin=central.grafana_admin_password if central is not None else None,
                provider=vault_project(self.project_services).provider,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"sites": sorted(self.sites), "clusters": sorted(self.clusters)})

    def _engine(self, spec: PlatformSpec, home: str) -> None:
        """The GitOps engine on its management cluster `home` (built, with its add-ons).

        The clusters built before it are registered at once; the later ones as they are built.
        """
        from .gitops import GitOps

        management = self.clusters[home]
        self.gitops = GitOps(
            f"{management.name}-gitops",
            spec,
            provider=management.provider,
            kubeconfig=management.kubeconfig,
            labels=management.labels,
            opts=pulumi.ResourceOptions(parent=management),
        )
        for name in self.clusters:
            if name in self.gitops.registered:
                self._register(name)

    def _register(self, cluster_name: str) -> None:
        """Register the built cluster `cluster_name` with the engine."""
        cluster = self.clusters[cluster_name]
        self.gitops.register(cluster_name, cluster.kubeconfig, cluster.provider, cluster.labels)

    def _addons(self, spec: PlatformSpec, cluster_name: str) -> None:
        """Build every add-on of the ordered list `ADDONS` that applies to the cluster."""
        from .addons import ADDONS
        from .addons.base import AddonContext
        from .reachability import sources

        cluster = spec.clusters[cluster_name]
        component = self.clusters[cluster_name]
        installed: dict[str, pulumi.ComponentResource] = {}
        # The spec allows `delivery: gitops` only on a cluster the engine manages (spec/platform.py),
        # and build_order builds such a cluster after the engine.
        by_engine = self.gitops if cluster.addons.delivery == "gitops" else None
        for addon in ADDONS:
            if addon.applies(cluster_name, spec):
                context = AddonContext(
                    cluster_name=cluster_name,
                    cluster=cluster,
                    provider=component.provider,
                    labels=component.labels,
                    parent=component,
                    site=self.sites[cluster.site],
                    sources=partial(sources, sites=self.sites),
                    spec=spec,
                    installed=dict(installed),
                    project=self.project_services,
                    gitops=by_engine,
                )
                installed[addon.key] = addon.build(context)
        self.addons[cluster_name] = installed


def engine_of(spec: PlatformSpec) -> bool:
    """Whether the spec runs a GitOps engine."""
    return spec.gitops is not None and spec.gitops.engine != "none"


def _needs(spec: PlatformSpec, name: str) -> list[str]:
    """The clusters `name` is built after.

    Its Cluster API management cluster, and the GitOps engine's cluster when the engine delivers
    its add-ons.
    """
    cluster = spec.clusters[name]
    needs = [str(cluster.management_cluster)] if cluster.backend == "capi" else []
    if cluster.addons.delivery == "gitops" and spec.gitops is not None and engine_of(spec):
        needs.append(str(spec.gitops.management_cluster))
    return needs


def build_order(spec: PlatformSpec) -> list[str]:
    """The clusters in the order they are built: spec order, each after the clusters it needs (`_needs`).

    The spec refuses cycles (PlatformSpec._cluster_api, and _gitops for a cluster the engine's own
    cluster is built from), so every cluster is placed.
    """
    order = [name for name in spec.clusters if not _needs(spec, name)]
    waiting = [name for name in spec.clusters if _needs(spec, name)]
    while waiting:
        ready = [name for name in waiting if all(need in order for need in _needs(spec, name))]
        assert ready, f"build cycle among {waiting}"  # refused by the spec before any resource
        order.extend(ready)
        waiting = [name for name in waiting if name not in ready]
    return order
