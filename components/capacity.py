"""What a stack's node pools offer and cost, from its spec: the `capacity` stack output.

Per cluster and pool (an rke2 or magnum control plane counts as a pool of fixed size, and so does
every rke2 pool: `desired_size`, else `min_size`, machines): the flavor, the pool's minimum and
maximum size, vCPUs and memory per node, the GPUs per node as pods request them (whole, MIG
slices, time-sliced shares: components/spec/gpu.py), and the price per node-hour.
Sizes come from the site's `flavors`, else for AWS from Meridian's table of instance types
(components/spec/catalog.py); prices from the site's `flavors`, else for AWS from Meridian's dated
on-demand price catalogue (`price_source` says which). What is not known is None, and a review
says "unknown" or "unpriced" rather than guessing. `meridian diff --format markdown`
compares it before and after (scripts/diffreport.py).
"""

from __future__ import annotations

from typing import Any

from .spec import PlatformSpec
from .spec.catalog import AWS_INSTANCE_SIZES, aws_on_demand_price, aws_prices
from .spec.clusters import CONTROL_PLANE, GpuSpec
from .spec.sites import SiteSpec


def _node(site: SiteSpec, flavor: str) -> dict[str, Any]:
    declared = site.flavors.get(flavor)
    known = AWS_INSTANCE_SIZES.get(flavor) if site.kind == "aws" else None
    vcpus = declared.vcpus if declared is not None and declared.vcpus is not None else None
    memory = declared.memory_gib if declared is not None and declared.memory_gib is not None else None
    price, source, as_of = None, None, None
    currency = site.currency or ("USD" if site.kind == "aws" else "EUR")
    if declared is not None and declared.price_per_hour is not None:
        price, source = declared.price_per_hour, "site"
    elif site.aws is not None:
        # The catalogue is in USD whatever the site's own prices are in.
        listed = aws_on_demand_price(site.aws.region, flavor)
        if listed is not None:
            price, source, currency, as_of = listed, "aws-catalogue", "USD", aws_prices()["as_of"]
    return {
        "flavor": flavor,
        "vcpus": vcpus if vcpus is not None else (known.vcpus if known else None),
        "memory_gib": memory if memory is not None else (known.memory_gib if known else None),
        "price_per_hour": price,
        "price_source": source,
        # When the catalogue's prices were read: a review names the date each plan's prices are of.
        "price_as_of": as_of,
        "currency": currency,
    }


def _sharing(gpu: GpuSpec) -> str:
    """How the pool's GPUs are partitioned, as a reviewer reads it: whole, MIG <layout>, time-sliced xN."""
    if gpu.mig is not None:
        custom = (gpu.mig.custom or {}).items()
        layout = gpu.mig.profile or ", ".join(f"{count}x {profile}" for profile, count in custom)
        return f"MIG {layout}"
    if gpu.time_slicing is not None:
        return f"time-sliced x{gpu.time_slicing.replicas}"
    return "whole"


def capacity(spec: PlatformSpec) -> dict[str, dict[str, dict[str, Any]]]:
    """Every cluster's pools with what a node offers and costs (module docstring)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for name, cluster in spec.clusters.items():
        site = spec.sites[cluster.site]
        pools: dict[str, dict[str, Any]] = {}
        plane = cluster.control_plane
        if cluster.backend in ("rke2", "magnum", "capi") and plane.flavor is not None:  # required there by the spec
            pools[CONTROL_PLANE] = {
                **_node(site, plane.flavor), "min": plane.count, "max": plane.count, "gpu": None,
            }  # fmt: skip
        for pool_name, pool in cluster.node_pools.items():
            gpu = None
            if pool.gpu is not None:
                gpu = {"model": pool.gpu.model, "sharing": _sharing(pool.gpu), "per_node": pool.gpu.resources()}
            # rke2 pools are fixed-size (`initial_size` machines, clusters/rke2.py): nothing scales them
            # up to max_size, so a review must not count it.
            low, high = (
                (pool.initial_size, pool.initial_size) if cluster.backend == "rke2" else (pool.min_size, pool.max_size)
            )
            pools[pool_name] = {**_node(site, pool.flavor), "min": low, "max": high, "gpu": gpu}
        found[name] = pools
    return found
