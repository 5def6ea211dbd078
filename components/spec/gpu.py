"""What a cluster's GPU pools offer, in the resource names pods request: one source of truth.

JupyterHub profiles, quotas and the policy pack's GPU caps read this summary instead of
re-deriving MIG or time-slicing arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from .clusters import ClusterSpec


@dataclass(frozen=True)
class PoolGpuOffer:
    """The GPUs of one pool as Kubernetes sees them."""

    pool: str
    model: str
    sharing: str
    #: Extended resources per node, e.g. {"nvidia.com/gpu": 8} or {"nvidia.com/mig-1g.10gb": 14}.
    per_node: dict[str, int]
    #: Physical GPUs per node.
    gpus_per_node: int
    max_nodes: int

    @property
    def at_most(self) -> dict[str, int]:
        """Resources the pool offers when scaled to max_size."""
        return {name: count * self.max_nodes for name, count in self.per_node.items()}


@dataclass(frozen=True)
class ClusterGpuSummary:
    """Every GPU pool of a cluster and the totals at maximum scale."""

    cluster: str
    pools: dict[str, PoolGpuOffer]

    @property
    def resources(self) -> dict[str, int]:
        """Totals per resource name at max size, across pools."""
        totals: dict[str, int] = {}
        for offer in self.pools.values():
            for name, count in offer.at_most.items():
                totals[name] = totals.get(name, 0) + count
        return totals


def gpu_summary(name: str, cluster: ClusterSpec) -> ClusterGpuSummary:
    """Summarise what the GPU pools of `cluster` offer."""
    offers = {}
    for pool_name, pool in cluster.gpu_pools.items():
        assert pool.gpu is not None
        offers[pool_name] = PoolGpuOffer(
            pool=pool_name,
            model=pool.gpu.model,
            sharing=pool.gpu.sharing,
            per_node=pool.gpu.resources(),
            gpus_per_node=pool.gpu.count,
            max_nodes=pool.max_size,
        )
    return ClusterGpuSummary(cluster=name, pools=offers)
