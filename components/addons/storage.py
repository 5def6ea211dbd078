"""Block storage: the cluster's volume driver and default StorageClass, where Meridian installs them.

Every PersistentVolumeClaim without a class gets the default one (hub database, users' home
volumes, later Prometheus and Loki).

* eks: the Amazon EBS CSI driver is an EKS add-on of the cluster backend
  (components/clusters/eks.py, `<cluster>-ebs-csi`); this add-on makes its class `gp3`.
* rke2, capi: RKE2 ships no volume driver, nor does a kubeadm cluster, so this add-on installs
  Cinder CSI (cinder_csi.py) with the site's cluster application credential, and its class `csi-cinder`.
* magnum: Cinder CSI and its class come with the cluster (Magnum's driver). attached: the owner's.

Children of the `<cluster>-block-storage` component:

* `<cluster>-storage-class`   storage.k8s.io/v1 StorageClass (default class)
* rke2, capi: `<cluster>-cinder-csi-config` Secret and `<cluster>-<object name>` for the driver's objects
"""

from __future__ import annotations

from typing import Any

import pulumi

from ..spec import ClusterSpec
from .base import AddonContext, kubernetes_object, secrets_checksum

#: Backends whose volume driver Meridian installs and whose default class this add-on makes.
BACKENDS = frozenset({"eks", "rke2", "capi"})

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


def default_class(name: str, provisioner: str, labels: dict[str, str], parameters: dict[str, str]) -> dict[str, Any]:
    """A default StorageClass, as the Kubernetes API takes it (the same policy on every backend).

    * `reclaimPolicy: Retain`: a deleted claim (a user removed from the hub, a namespace
      deleted by mistake) leaves its volume, to be reattached or deleted by an operator;
      nothing scientists or the platform wrote disappears with a Kubernetes object.
    * `volumeBindingMode: WaitForFirstConsumer`: EBS and Cinder volumes live in one availability
      zone, so a volume is created where the scheduler put the pod, not in a zone no node of the
      pod's pool can reach.
    * `allowVolumeExpansion`: a full home volume is grown by editing the claim (both drivers
      extend volumes in use).
    """
    document: dict[str, Any] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "labels": labels, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": provisioner,
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    if parameters:
        document["parameters"] = parameters
    return document


class BlockStorage(pulumi.ComponentResource):
    """The cluster's default StorageClass, and on rke2 and capi the Cinder CSI driver (see the module docstring)."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meridian:addons:BlockStorage", name, None, opts)
        from . import cinder_csi

        cluster_name = context.cluster_name
        if context.cluster.backend in ("rke2", "capi"):
            _cinder_csi(cluster_name, context, self)
            document = default_class(cinder_csi.CLASS_NAME, cinder_csi.DRIVER, context.labels, {})
        else:
            document = default_class(CLASS_NAME, EBS_PROVISIONER, context.labels, dict(EBS_PARAMETERS))
        # After the driver: claims made through the class (the hub's database) are bound from then on.
        driver = context.parent.volume_driver
        kubernetes_object(
            f"{cluster_name}-storage-class",
            document,
            provider=context.provider,
            parent=self,
            depends_on=[driver] if driver else [],
        )
        self.storage_class = str(document["metadata"]["name"])
        self.register_outputs({"storage_class": self.storage_class})


def _cinder_csi(cluster_name: str, context: AddonContext, parent: pulumi.Resource) -> None:
    """Install Cinder CSI on an rke2 or capi cluster (its class is made by the caller)."""
    from ..secrets import secret
    from . import cinder_csi

    settings = context.site.spec.openstack
    credential = settings.cluster_credential  # PlatformSpec requires it on sites with rke2 or capi clusters
    # `secret` resolves the reference as a secret Output; what is built from it stays secret.
    config: pulumi.Output[str] = secret(credential.secret).apply(
        lambda value: cinder_csi.cloud_conf(credential.auth_url, credential.id, value, settings.region)
    )
    secrets = [
        kubernetes_object(
            f"{cluster_name}-{resource}",
            cinder_csi.secret(content, context.labels, name),
            provider=context.provider,
            parent=parent,
        )
        for resource, name, content in (
            ("cinder-csi-config", cinder_csi.SECRET, config),
            ("cinder-csi-node-config", cinder_csi.NODE_SECRET, cinder_csi.NODE_CLOUD_CONF),
        )
    ]
    checksum = secrets_checksum({"cloud.conf": config})
    for document in cinder_csi.objects(cluster_name, context.cluster.version, context.labels, checksum):
        # The plugins read their configuration when they start.
        waits = secrets if document["kind"] in ("Deployment", "DaemonSet") else []
        kubernetes_object(
            f"{cluster_name}-{document['metadata']['name']}",
            document,
            provider=context.provider,
            parent=parent,
            depends_on=waits,
        )
