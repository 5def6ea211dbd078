"""Meridian's Pulumi program: validate the stack's spec, then build its Platform."""

import pulumi

from components.capacity import capacity
from components.platform import Platform
from components.program import run
from components.spec import load_platform_spec


def build() -> None:
    """Load and validate the stack's spec (errors name the file and key), then build the Platform."""
    spec = load_platform_spec()
    platform = Platform(spec.project.name, spec)
    pulumi.export("project", spec.project.name)
    pulumi.export("sites", {name: site.kind for name, site in spec.sites.items()})
    # `boot` (rke2): what each machine group's secret, creation-only user data holds (rke2.boot_record).
    pulumi.export(
        "clusters",
        {
            name: {"site": c.site, "backend": c.backend, "version": c.version}
            | ({"boot": platform.clusters[name].boot} if platform.clusters[name].boot else {})
            for name, c in spec.clusters.items()
        },
    )
    # Where each site's traffic to other sites comes from (NAT gateways, router gateway): what
    # other parties put in their allow-lists, and what `site:<name>` resolves to here.
    pulumi.export("egress_addresses", {name: site.egress_addresses for name, site in platform.sites.items()})
    # `pulumi stack output kubeconfigs --show-secrets`: admin kubeconfig per cluster (secret).
    pulumi.export("kubeconfigs", {name: cluster.kubeconfig for name, cluster in platform.clusters.items()})
    pulumi.export(
        "gpus",
        {name: operator.summary.resources for name, operator in platform.gpu_operators.items()},
    )
    # What each pool offers and costs per node (components/capacity.py): a review's capacity and cost delta.
    pulumi.export("capacity", capacity(spec))


run(build)
