"""Add-ons installed on a cluster through its explicit Kubernetes provider (README, "Add-ons").

One module per add-on, each the single source of its chart release record and values
(`base.ChartRelease`). `ADDONS` is the one ordered list the Platform walks: an add-on comes
after the add-ons it waits for (`ChartRelease.waits_for`). Each entry imports its module only
when a cluster needs it, so a stack without the add-on does not pay for its imports.
"""

from __future__ import annotations

import pulumi

from ..spec import ClusterSpec
from .base import Addon, AddonContext


def _storage_applies(cluster: ClusterSpec) -> bool:
    from .storage import applies

    return applies(cluster)


def _storage(context: AddonContext) -> pulumi.ComponentResource:
    from .storage import BlockStorage

    return BlockStorage(
        f"{context.cluster_name}-block-storage", context, opts=pulumi.ResourceOptions(parent=context.parent)
    )


def _gpu_operator_applies(cluster: ClusterSpec) -> bool:
    # Attached clusters are someone else's: their owner runs the operator if they have GPUs.
    return bool(cluster.gpu_pools) and cluster.backend != "attached"


def _gpu_operator(context: AddonContext) -> pulumi.ComponentResource:
    from .gpu_operator import GpuOperator

    return GpuOperator(
        f"{context.cluster_name}-gpu-operator",
        context.cluster,
        cluster_name=context.cluster_name,
        provider=context.provider,
        labels=context.labels,
        opts=pulumi.ResourceOptions(parent=context.parent),
    )


def _ingress_applies(cluster: ClusterSpec) -> bool:
    # On clusters that publish a service (today: the hub), unless switched off.
    return cluster.addons.ingress.enabled and cluster.addons.hub is not None


def _ingress(context: AddonContext) -> pulumi.ComponentResource:
    from .ingress import Ingress

    return Ingress(f"{context.cluster_name}-ingress", context, opts=pulumi.ResourceOptions(parent=context.parent))


def _jupyterhub_applies(cluster: ClusterSpec) -> bool:
    return cluster.addons.hub is not None


def _jupyterhub(context: AddonContext) -> pulumi.ComponentResource:
    from .jupyterhub import JupyterHub

    return JupyterHub(f"{context.cluster_name}-jupyterhub", context, opts=pulumi.ResourceOptions(parent=context.parent))


#: Every add-on, in the order the Platform builds them on each cluster: an add-on comes after
#: the ones its releases wait for (the hub after block storage and ingress).
ADDONS: tuple[Addon, ...] = (
    Addon("block_storage", _storage_applies, _storage),
    Addon("gpu_operator", _gpu_operator_applies, _gpu_operator),
    Addon("ingress", _ingress_applies, _ingress),
    Addon("jupyterhub", _jupyterhub_applies, _jupyterhub),
)
