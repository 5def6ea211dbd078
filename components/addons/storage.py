"""Block storage: the cluster's default StorageClass, where Meridian installs the volume driver.

On eks the driver is the Amazon EBS CSI driver, installed as an EKS add-on by the cluster
backend (components/clusters/eks.py, `<cluster>-ebs-csi`); this add-on gives it the
StorageClass every PersistentVolumeClaim without a class gets (hub database, users' home
volumes, later Prometheus and Loki). Magnum clusters get Cinder CSI and its class from the
Magnum driver. rke2 clusters have no volume driver yet (README, "Add-ons").

Children of the `<cluster>-block-storage` component:

* `<cluster>-storage-class`   storage.k8s.io/v1 StorageClass `gp3` (default class)
"""

from __future__ import annotations

from typing import Any

import pulumi

from ..spec import ClusterSpec
from .base import AddonContext

#: Backends whose volume driver Meridian installs and whose default class this add-on makes.
BACKENDS = frozenset({"eks"})

#: The class name and the EBS CSI driver's provisioner and parameters (aws-ebs-csi-driver
#: docs/parameters.md: `type`, `encrypted`). gp3 gives 3,000 IOPS and 125 MiB/s at any size;
#: `encrypted` uses the account's aws/ebs key unless a `kmsKeyId` is given.
CLASS_NAME = "gp3"
EBS_PROVISIONER = "ebs.csi.aws.com"
EBS_PARAMETERS = {"type": "gp3", "encrypted": "true"}
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def applies(cluster: ClusterSpec) -> bool:
    """Whether Meridian makes the cluster's default StorageClass."""
    return cluster.backend in BACKENDS


def storage_class(labels: dict[str, str]) -> dict[str, Any]:
    """The default StorageClass, as the Kubernetes API takes it.

    * `reclaimPolicy: Retain`: a deleted claim (a user removed from the hub, a namespace
      deleted by mistake) leaves its EBS volume, to be reattached or deleted by an operator;
      nothing scientists or the platform wrote disappears with a Kubernetes object.
    * `volumeBindingMode: WaitForFirstConsumer`: an EBS volume lives in one availability zone,
      so it is created where the scheduler put the pod, not in a zone no node of the pod's pool
      can reach.
    * `allowVolumeExpansion`: a full home volume is grown by editing the claim.
    """
    return {
        "metadata": {"name": CLASS_NAME, "labels": labels, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": EBS_PROVISIONER,
        "parameters": dict(EBS_PARAMETERS),
        "reclaim_policy": "Retain",
        "volume_binding_mode": "WaitForFirstConsumer",
        "allow_volume_expansion": True,
    }


class BlockStorage(pulumi.ComponentResource):
    """The cluster's default StorageClass (see the module docstring)."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meridian:addons:BlockStorage", name, None, opts)
        import pulumi_kubernetes as k8s

        spec = storage_class(context.labels)
        metadata = spec.pop("metadata")
        k8s.storage.v1.StorageClass(
            f"{context.cluster_name}-storage-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(**metadata),
            **spec,
            # After the driver: claims made through the class (the hub's database) are bound from then on.
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=context.provider,
                depends_on=[driver] if (driver := getattr(context.parent, "volume_driver", None)) else [],
            ),
        )
        self.storage_class = CLASS_NAME
        self.register_outputs({"storage_class": CLASS_NAME})
