"""The block storage add-on: the default StorageClass where Meridian installs the volume driver (eks)."""

from __future__ import annotations

from collections.abc import Callable

from scripts.harness import Plan
from scripts.render import own_objects
from scripts.validate import validate_objects

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
COMPONENT = "meridian:addons:BlockStorage"
K8S_PROVIDER = "pulumi:providers:kubernetes"
CLUSTER_COMPONENT = "meridian:clusters:KubernetesCluster"


def test_eks_clusters_get_an_encrypted_retained_gp3_default_class(bundled_plan: Callable[[str], Plan]) -> None:
    """aws-ebs-csi-driver docs/parameters.md (`type`, `encrypted`); Kubernetes: the default-class annotation,
    WaitForFirstConsumer for zonal volumes, Retain so a deleted claim leaves its volume."""
    plan = bundled_plan("eo4eu")
    [found] = plan.by_type(STORAGE_CLASS)  # burst is eo4eu's only eks cluster; rke2 gets none
    assert found["name"] == "burst-storage-class"
    inputs = found["inputs"]
    assert inputs["metadata"]["name"] == "gp3"
    assert inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert inputs["metadata"]["labels"]["project"] == "eo4eu"
    assert inputs["metadata"]["labels"]["cluster"] == "burst"
    assert {key: value for key, value in inputs.items() if key != "metadata"} == {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true"},
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    # Through burst's own provider, under its block storage component, under the cluster.
    assert found["provider"].rpartition("::")[0] == plan.one(K8S_PROVIDER, "burst-k8s")["urn"]
    # After the EBS CSI add-on, so claims made through the class are bound from the start.
    assert plan.one("aws:eks/addon:Addon", "burst-ebs-csi")["urn"] in found["depends_on"]
    component = plan.one(COMPONENT, "burst-block-storage")
    assert found["parent"] == component["urn"]
    assert component["parent"] == plan.one(CLUSTER_COMPONENT, "burst")["urn"]


def test_no_class_where_the_cloud_driver_brings_its_own(bundled_plan: Callable[[str], Plan]) -> None:
    # buildspace: a magnum cluster (the Magnum driver installs Cinder CSI and its class) and an eks one.
    plan = bundled_plan("buildspace")
    assert {name: spec["backend"] for name, spec in plan.outputs["clusters"].items()} == {
        "processing": "magnum",
        "city-services": "eks",
    }
    assert [r["name"] for r in plan.by_type(COMPONENT)] == ["city-services-block-storage"]
    assert [r["name"] for r in plan.by_type(STORAGE_CLASS)] == ["city-services-storage-class"]


def test_the_class_validates_against_the_kubernetes_schema(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("eo4eu")
    [burst] = [own for own in own_objects(plan) if own.cluster == "burst"]
    [storage_class] = [o for o in burst.objects if o.get("kind") == "StorageClass"]
    assert validate_objects([storage_class], burst.kube_version, "burst") == []
    # The check bites: a boolean spelt as a string is refused.
    broken = {**storage_class, "allowVolumeExpansion": "yes"}
    [problem] = validate_objects([broken], burst.kube_version, "burst")
    assert problem.message.startswith("allowVolumeExpansion:")
