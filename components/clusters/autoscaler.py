"""The Kubernetes cluster-autoscaler as Meridian runs it: one image per Kubernetes minor, one hardened container.

Two backends run it: capi on the management cluster (its clusterapi provider scales the
MachineDeployments, components/clusters/capi.py) and eks on the cluster itself (its aws
provider scales the managed node groups' Auto Scaling groups, components/clusters/eks.py).
Each passes its own provider's arguments; the image, the command, the sizing and the
container's hardening are this module's.
"""

from __future__ import annotations

from typing import Any

#: The cluster-autoscaler release per Kubernetes minor: its docs ask for the latest release of the
#: cluster's minor (kubernetes/autoscaler cluster-autoscaler/README.md, "Releases"; tags
#: cluster-autoscaler-1.33.6, -1.34.5, -1.35.2). Every eks and capi version of the catalog has one.
AUTOSCALER_IMAGES = {
    "1.33": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.6",
    "1.34": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.5",
    "1.35": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.2",
}
#: The user the image's distroless base runs as (nonroot); set explicitly so Pod Security sees a non-root user.
NONROOT_USER = 65532
#: The label pods of the autoscaler carry (with `app.kubernetes.io/instance`: the cluster's name).
APP_NAME = "cluster-autoscaler"


def pod_security_context() -> dict[str, Any]:
    """The autoscaler pod's security context (Pod Security `restricted`)."""
    return {"runAsNonRoot": True, "runAsUser": NONROOT_USER, "seccompProfile": {"type": "RuntimeDefault"}}


def container(version: str, args: list[str], **extra: Any) -> dict[str, Any]:
    """The autoscaler's container for a cluster of Kubernetes minor `version`, with its provider's `args`.

    :param extra: further container fields (`env`, `volumeMounts`).
    """
    return {
        "name": APP_NAME,
        "image": AUTOSCALER_IMAGES[version],
        "command": ["/cluster-autoscaler"],
        "args": args,
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        **extra,
    }
