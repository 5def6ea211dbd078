"""attached: a cluster the project uses but does not own (e.g. an HPC data bridge).

Nothing is created in any cloud; the kubeconfig comes from the spec's `kubeconfig`
reference (a secret config key now, Vault alike), resolved before anything is registered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

from ..secrets import secret
from ..spec import ClusterSpec

if TYPE_CHECKING:
    from .cluster import KubernetesCluster


def build(cluster: KubernetesCluster, spec: ClusterSpec, site: Any) -> pulumi.Output[str]:
    """Return the attached cluster's kubeconfig (the owner manages its nodes; no pools here)."""
    assert spec.kubeconfig is not None  # ClusterSpec requires it for attached clusters
    return secret(spec.kubeconfig)
