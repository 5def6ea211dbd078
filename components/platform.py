"""Platform: the composition root that builds everything one stack's spec names.

Children: one site component per entry of `sites` (`meridian:sites:OpenStackSite` or
`meridian:sites:AwsSite`, named by the site's key) and one `meridian:clusters:KubernetesCluster`
per entry of `clusters`, handed its site component. Add-ons and central observability
attach here as they land, each given its cluster's Kubernetes provider.
"""

from __future__ import annotations

from typing import Any

import pulumi

from .spec import PlatformSpec


class Platform(pulumi.ComponentResource):
    """A research project's platform across all of its sites."""

    sites: dict[str, Any]
    """Site components by site key (OpenStackSite or AwsSite)."""
    clusters: dict[str, Any]
    """KubernetesCluster components by cluster key; each carries its Kubernetes provider."""
    gpu_operators: dict[str, Any]
    """GpuOperator components by cluster key (clusters with GPU pools); each has a typed `summary`."""

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
        if spec.clusters:
            from .clusters.cluster import KubernetesCluster
            from .reachability import sources

            for cluster_name, cluster in spec.clusters.items():
                self.clusters[cluster_name] = KubernetesCluster(
                    cluster_name,
                    cluster,
                    site=self.sites[cluster.site],
                    project=spec.project,
                    # Other sites in the allow-list are reached through their egress addresses.
                    api_sources=sources(cluster.api_cidrs, self.sites),
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.gpu_operators = {}
        for cluster_name, cluster in spec.clusters.items():
            # Attached clusters are someone else's: their owner runs the operator if they have GPUs.
            if cluster.gpu_pools and cluster.backend != "attached":
                from .addons.gpu_operator import GpuOperator

                component = self.clusters[cluster_name]
                self.gpu_operators[cluster_name] = GpuOperator(
                    f"{cluster_name}-gpu-operator",
                    cluster,
                    cluster_name=cluster_name,
                    provider=component.provider,
                    labels=component.labels,
                    opts=pulumi.ResourceOptions(parent=component),
                )
        self.register_outputs({"sites": sorted(self.sites), "clusters": sorted(self.clusters)})
