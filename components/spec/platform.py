"""The root of the spec tree: everything one stack (one research project) describes."""

from __future__ import annotations

import ipaddress
from itertools import combinations

from pydantic import Field, model_validator

from .base import Name, SpecModel
from .catalog import AWS_GPU_INSTANCES
from .clusters import ClusterSpec
from .errors import CrossFieldError, refuse_case_twins
from .project import ProjectSpec
from .sites import SiteSpec

#: Which site kinds each cluster backend can run on.
BACKEND_SITE_KINDS = {"rke2": {"openstack"}, "magnum": {"openstack"}, "eks": {"aws"}, "attached": {"openstack", "aws"}}


class PlatformSpec(SpecModel):
    """A research project's whole platform: its sites, clusters and add-ons."""

    project: ProjectSpec = Field(description="Identity, ownership and labelling rules of the project.")
    sites: dict[Name, SiteSpec] = Field(
        min_length=1, max_length=32, description="Cloud sites of the project, keyed by site name."
    )
    clusters: dict[Name, ClusterSpec] = Field(
        default_factory=dict, max_length=128, description="Kubernetes clusters, keyed by cluster name."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_case_twins(cls, data: object) -> object:
        refuse_case_twins(data, {"sites": "name", "clusters": "name"})
        return data

    @model_validator(mode="after")
    def _cross_references(self) -> PlatformSpec:
        problems = CrossFieldError()
        for (name_a, a), (name_b, b) in combinations(self.sites.items(), 2):
            if ipaddress.ip_network(a.cidr).overlaps(ipaddress.ip_network(b.cidr)):
                problems.add(("sites", name_b, "cidr"), f"{b.cidr} overlaps site '{name_a}' ({a.cidr})")
        for name, cluster in self.clusters.items():
            site = self.sites.get(cluster.site)
            if site is None:
                known = ", ".join(sorted(self.sites))
                problems.add(("clusters", name, "site"), f"unknown site '{cluster.site}' (known: {known})")
            elif site.kind not in BACKEND_SITE_KINDS[cluster.backend]:
                problems.add(
                    ("clusters", name, "backend"),
                    f"backend '{cluster.backend}' cannot run on {site.kind} site '{cluster.site}'",
                )
            else:
                for pool_name, pool in cluster.node_pools.items():
                    where = ("clusters", name, "node_pools", pool_name)
                    flavor = site.gpu_flavor(pool.flavor)
                    if pool.gpu is None:
                        if flavor is not None:
                            problems.add(
                                (*where, "gpu"),
                                f"{pool.flavor} has {flavor.count}x {flavor.model}: declare the pool's gpu block "
                                "so its nodes are tainted and the GPU Operator manages them",
                            )
                        continue
                    if flavor is None:
                        hint = (
                            "known GPU instance types: " + ", ".join(sorted(AWS_GPU_INSTANCES))
                            if site.kind == "aws"
                            else "add it to the site's openstack.gpu_flavors if it has GPUs"
                        )
                        problems.add((*where, "flavor"), f"{pool.flavor} has no GPU on site '{cluster.site}' ({hint})")
                    elif pool.gpu.model != flavor.model:
                        problems.add(
                            (*where, "gpu", "model"), f"{pool.flavor} carries {flavor.model}, not {pool.gpu.model}"
                        )
                    elif pool.gpu.count != flavor.count:
                        problems.add(
                            (*where, "gpu", "count"), f"{pool.flavor} carries {flavor.count} GPUs, not {pool.gpu.count}"
                        )
        problems.raise_if_any()
        return self
