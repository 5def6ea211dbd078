"""The block storage add-on: the volume driver and default StorageClass where Meridian installs them (eks, rke2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from scripts.harness import STACKS, Plan, evaluate
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
    found = plan.one(STORAGE_CLASS, "burst-storage-class")  # burst is eo4eu's eks cluster
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


# -- rke2: Cinder CSI, written from cloud-provider-openstack v1.34.1 manifests/cinder-csi-plugin ---------------

SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


def _containers(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in resource["inputs"]["spec"]["template"]["spec"]["containers"]}


def test_rke2_clusters_get_cinder_csi_and_its_default_class(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("climres")  # indicators: rke2 on ewc-reading
    component = plan.one(COMPONENT, "indicators-block-storage")
    children = [r for r in plan.resources if r["parent"] == component["urn"]]
    kinds = sorted((r["type"].rpartition(":")[2], r["inputs"]["metadata"]["name"]) for r in children)
    assert kinds == [
        ("CSIDriver", "cinder.csi.openstack.org"),
        ("ClusterRole", "csi-attacher-role"),
        ("ClusterRole", "csi-nodeplugin-role"),
        ("ClusterRole", "csi-provisioner-role"),
        ("ClusterRole", "csi-resizer-role"),
        ("ClusterRoleBinding", "csi-attacher-binding"),
        ("ClusterRoleBinding", "csi-nodeplugin-binding"),
        ("ClusterRoleBinding", "csi-provisioner-binding"),
        ("ClusterRoleBinding", "csi-resizer-binding"),
        ("DaemonSet", "csi-cinder-nodeplugin"),
        ("Deployment", "csi-cinder-controllerplugin"),
        ("Secret", "cloud-config"),
        ("Secret", "cloud-config-node"),
        ("ServiceAccount", "csi-cinder-controller-sa"),
        ("ServiceAccount", "csi-cinder-node-sa"),
        ("StorageClass", "csi-cinder"),
    ]
    provider = plan.one(K8S_PROVIDER, "indicators-k8s")["urn"]
    assert all(r["provider"].rpartition("::")[0] == provider for r in children)
    assert {r["inputs"]["metadata"].get("namespace") for r in children} == {"kube-system", None}
    storage_class = plan.one(STORAGE_CLASS, "indicators-storage-class")["inputs"]
    assert {k: v for k, v in storage_class.items() if k != "metadata"} == {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "provisioner": "cinder.csi.openstack.org",
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    assert storage_class["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}


def test_cinder_csi_plugins_as_upstream_ships_them(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("climres")
    controller = plan.one(DEPLOYMENT, "indicators-csi-cinder-controllerplugin")
    containers = _containers(controller)
    # indicators runs Kubernetes 1.33: cloud-provider-openstack v1.33.1 and its sidecars.
    assert {name: c["image"] for name, c in containers.items()} == {
        "csi-attacher": "registry.k8s.io/sig-storage/csi-attacher:v4.7.0",
        "csi-provisioner": "registry.k8s.io/sig-storage/csi-provisioner:v5.1.0",
        "csi-resizer": "registry.k8s.io/sig-storage/csi-resizer:v1.12.0",
        "liveness-probe": "registry.k8s.io/sig-storage/livenessprobe:v2.14.0",
        "cinder-csi-plugin": "registry.k8s.io/provider-os/cinder-csi-plugin:v1.33.1",
    }
    plugin = containers["cinder-csi-plugin"]
    assert plugin["args"] == [
        "/bin/cinder-csi-plugin",
        "--endpoint=$(CSI_ENDPOINT)",
        "--cloud-config=$(CLOUD_CONFIG)",
        "--cluster=indicators",
        "--pvc-annotations",
        "--v=1",
    ]
    assert "--leader-election=true" in containers["csi-provisioner"]["args"]
    assert "--feature-gates=Topology=true" in containers["csi-provisioner"]["args"]
    pod = controller["inputs"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "csi-cinder-controller-sa"
    assert {"name": "secret-cinderplugin", "secret": {"secretName": "cloud-config"}} in pod["volumes"]

    node = plan.one(DAEMONSET, "indicators-csi-cinder-nodeplugin")
    pod = node["inputs"]["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}]  # GPU pools' tainted nodes mount volumes too
    assert pod["hostNetwork"] is True
    node_plugin = _containers(node)["cinder-csi-plugin"]
    assert "--provide-controller-service=false" in node_plugin["args"]
    assert node_plugin["securityContext"]["privileged"] is True
    mounts = {m["name"]: m for m in node_plugin["volumeMounts"]}
    assert mounts["kubelet-dir"] == {
        "name": "kubelet-dir",
        "mountPath": "/var/lib/kubelet",
        "mountPropagation": "Bidirectional",
    }
    registrar = _containers(node)["node-driver-registrar"]
    assert registrar["env"][0] == {"name": "ADDRESS", "value": "/csi/csi.sock"}
    assert registrar["volumeMounts"] == [
        {"name": "socket-dir", "mountPath": "/csi"},
        {"name": "registration-dir", "mountPath": "/registration"},
    ]
    assert {"name": "DRIVER_REG_SOCK_PATH", "value": "/var/lib/kubelet/plugins/cinder.csi.openstack.org/csi.sock"} in (
        registrar["env"]
    )
    # Every container is sized (policy container-resources) with a memory bound.
    for workload in (controller, node):
        for container in _containers(workload).values():
            assert container["resources"]["limits"]["memory"], container["name"]
    # Only the controller mounts the credential; the node plugins make no OpenStack call (v1.34.1
    # cmd/cinder-csi-plugin/main.go) and mount a configuration without [Global].
    assert {"name": "secret-cinderplugin", "secret": {"secretName": "cloud-config-node"}} in pod["volumes"]
    # Both plugins start after their configuration exists, and restart when the credential changes.
    secret = plan.one(SECRET, "indicators-cinder-csi-config")
    assert secret["urn"] in controller["depends_on"] and secret["urn"] in node["depends_on"]
    checksums = {
        w["inputs"]["spec"]["template"]["metadata"]["annotations"]["meridian.io/cloud-config-checksum"]
        for w in (controller, node)
    }
    [checksum] = checksums
    assert len(checksum) == 64 and int(checksum, 16) >= 0


def test_every_rke2_and_capi_version_has_its_cinder_csi_release() -> None:
    from components.addons.cinder_csi import RELEASES
    from components.spec.catalog import BACKEND_VERSIONS

    assert sorted(RELEASES) == sorted(set(BACKEND_VERSIONS["rke2"]) | set(BACKEND_VERSIONS["capi"]))
    # cloud-provider-openstack's tags: v1.32.1, v1.33.1, v1.34.1 and v1.35.0 (the newest of each minor).
    for minor, images in RELEASES.items():
        patch = "0" if minor == "1.35" else "1"
        assert images["cinder-csi-plugin"].endswith(f":v{minor}.{patch}"), minor


def test_the_cloud_config_is_secret_and_authenticates_with_the_cluster_credential() -> None:
    """cloud-provider-openstack [Global] keys: auth-url, application-credential-id/-secret, region."""
    import configparser

    platform = yaml.safe_load((STACKS / "Pulumi.climres.yaml").read_text(encoding="utf-8"))["config"][
        "meridian:platform"
    ]
    site = platform["sites"]["ewc-reading"]["openstack"]
    plan = evaluate("climres", reveal_secrets=True)
    secret = plan.one(SECRET, "indicators-cinder-csi-config")
    assert secret["secret_paths"] == ["stringData"]
    assert secret["inputs"]["stringData"] == "[secret]"  # the plan shows no part of it
    revealed = plan.revealed[secret["urn"]]["stringData"]["cloud.conf"]
    conf = configparser.ConfigParser()
    conf.read_string(revealed)
    values = {key: value.strip('"') for key, value in conf["Global"].items()}
    credential = site["cluster_credential"]
    assert values["auth-url"] == credential["auth_url"]
    assert values["application-credential-id"] == credential["id"]
    assert values["region"] == site["region"]
    assert values["application-credential-secret"]  # the offline engine's stand-in for the Vault value
    assert values["application-credential-secret"] not in json.dumps(plan.resources)
    # The nodes' configuration says where to find the instance, and holds no credential.
    node = plan.one(SECRET, "indicators-cinder-csi-node-config")
    node_conf = configparser.ConfigParser()
    node_conf.read_string(plan.revealed[node["urn"]]["stringData"]["cloud.conf"])
    assert node_conf.sections() == ["Metadata"]
    assert node_conf["Metadata"]["search-order"] == "configDrive,metadataService"


def test_cloud_conf_quotes_what_gcfg_would_cut() -> None:
    from components.addons.cinder_csi import cloud_conf

    text = cloud_conf("https://keystone.example:5000/v3", "id", 'se;cr"et#x\\y', "RegionOne")
    # gcfg (go-gcfg read.go unquote): inside double quotes, \" is a quote and \\ a backslash.
    assert 'application-credential-secret = "se;cr\\"et#x\\\\y"' in text
