"""Cinder CSI on rke2 clusters: volumes for PersistentVolumeClaims, from the site's Cinder.

RKE2 ships no volume driver and the cloud-provider-openstack charts are not in the offline
mirror, so Meridian writes the driver's objects itself. Every fact below (images, arguments,
RBAC rules, mounts) comes from cloud-provider-openstack v1.34.1, manifests/cinder-csi-plugin/
(the release's plain manifests; the chart `openstack-cinder-csi` renders the same objects).
Volume snapshots are left out: they need the external-snapshotter CRDs and controller, which
Meridian does not install. The node plugin is privileged (it formats and mounts block devices):
kube-system is exempt from the restricted Pod Security level RKE2's CIS profile enforces (RKE2
docs, security/pod_security_standards: the default exemptions), and from the policy pack's pod
security policies (allowed_namespaces).

Objects (all in kube-system, through the cluster's provider, under `<cluster>-block-storage`):

* Secret `cloud-config` (`cloud.conf`: the site's cluster application credential, secret)
* CSIDriver `cinder.csi.openstack.org`
* ServiceAccounts, ClusterRoles and ClusterRoleBindings of the controller and node plugins
* Deployment `csi-cinder-controllerplugin` (attacher, provisioner, resizer, liveness probe, plugin)
* DaemonSet `csi-cinder-nodeplugin` (registrar, liveness probe, privileged plugin) on every node
* StorageClass `csi-cinder` (default)
"""

from __future__ import annotations

from typing import Any

import pulumi

#: The CSI driver's name (CSIDriver object, StorageClass provisioner).
DRIVER = "cinder.csi.openstack.org"
NAMESPACE = "kube-system"
SECRET = "cloud-config"
CLASS_NAME = "csi-cinder"

#: Images of cloud-provider-openstack v1.34.1 manifests/cinder-csi-plugin.
PLUGIN_IMAGE = "registry.k8s.io/provider-os/cinder-csi-plugin:v1.34.1"
SIDECARS = {
    "csi-attacher": "registry.k8s.io/sig-storage/csi-attacher:v4.10.0",
    "csi-provisioner": "registry.k8s.io/sig-storage/csi-provisioner:v5.3.0",
    "csi-resizer": "registry.k8s.io/sig-storage/csi-resizer:v1.14.0",
    "liveness-probe": "registry.k8s.io/sig-storage/livenessprobe:v2.17.0",
    "node-driver-registrar": "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.15.0",
}

CONTROLLER = "csi-cinder-controllerplugin"
NODE = "csi-cinder-nodeplugin"
CONTROLLER_SA = "csi-cinder-controller-sa"
NODE_SA = "csi-cinder-node-sa"
#: Where the kubelet looks for the driver's socket and registers plugins (RKE2 keeps the default
#: kubelet root, /var/lib/kubelet).
KUBELET_DIR = "/var/lib/kubelet"
PLUGIN_DIR = f"{KUBELET_DIR}/plugins/{DRIVER}"

_LEASES = {
    "apiGroups": ["coordination.k8s.io"],
    "resources": ["leases"],
    "verbs": ["get", "watch", "list", "delete", "update", "create"],
}
_EVENTS = {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch", "create", "update", "patch"]}

#: The ClusterRoles of the controller's sidecars and of the node plugin (the manifests' RBAC files).
CLUSTER_ROLES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "csi-attacher-role": (
        CONTROLLER_SA,
        [
            {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["csinodes"], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": ["storage.k8s.io"],
                "resources": ["volumeattachments"],
                "verbs": ["get", "list", "watch", "patch"],
            },
            {"apiGroups": ["storage.k8s.io"], "resources": ["volumeattachments/status"], "verbs": ["patch"]},
            _LEASES,
        ],
    ),
    "csi-provisioner-role": (
        CONTROLLER_SA,
        [
            {
                "apiGroups": [""],
                "resources": ["persistentvolumes"],
                "verbs": ["get", "list", "watch", "create", "delete", "patch"],
            },
            {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list", "watch", "update"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["csinodes"], "verbs": ["get", "list", "watch"]},
            _EVENTS,
            {"apiGroups": ["storage.k8s.io"], "resources": ["volumeattachments"], "verbs": ["get", "list", "watch"]},
            _LEASES,
        ],
    ),
    "csi-resizer-role": (
        CONTROLLER_SA,
        [
            {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["persistentvolumeclaims/status"], "verbs": ["patch"]},
            _EVENTS,
            _LEASES,
        ],
    ),
    "csi-nodeplugin-role": (
        NODE_SA,
        [{"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch", "create", "update", "patch"]}],
    ),
}


def cloud_conf(auth_url: str, credential_id: str, credential_secret: str, region: str) -> str:
    """The plugin's cloud.conf: application-credential authentication in the site's region.

    Keys of cloud-provider-openstack's [Global] section (docs/openstack-cloud-controller-manager/
    using-openstack-cloud-controller-manager.md, "Global"); values are quoted so a secret with
    `;` or `#` is read whole (gcfg).
    """

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        "[Global]\n"
        f"auth-url = {quoted(auth_url)}\n"
        f"application-credential-id = {quoted(credential_id)}\n"
        f"application-credential-secret = {quoted(credential_secret)}\n"
        f"region = {quoted(region)}\n"
    )


def _resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    # Sized for one driver per cluster; memory bounded (policy container-resources), CPU not
    # limited (a throttled attacher delays every pod waiting for its volume).
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def _sidecar(name: str, args: list[str], socket: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": SIDECARS[name],
        "args": args,
        "env": [{"name": "ADDRESS", "value": f"{socket}/csi.sock"}],
        "volumeMounts": [{"name": "socket-dir", "mountPath": socket}],
        "resources": _resources("10m", "32Mi", "128Mi"),
    }


def _plugin(args: list[str], mounts: list[dict[str, Any]], probe_timeout: int, probe_period: int) -> dict[str, Any]:
    return {
        "name": "cinder-csi-plugin",
        "image": PLUGIN_IMAGE,
        "args": ["/bin/cinder-csi-plugin", "--endpoint=$(CSI_ENDPOINT)", "--cloud-config=$(CLOUD_CONFIG)", *args],
        "env": [
            {"name": "CSI_ENDPOINT", "value": "unix://csi/csi.sock"},
            {"name": "CLOUD_CONFIG", "value": "/etc/config/cloud.conf"},
        ],
        "ports": [{"containerPort": 9808, "name": "healthz", "protocol": "TCP"}],
        "livenessProbe": {
            "failureThreshold": 5,
            "httpGet": {"path": "/healthz", "port": "healthz"},
            "initialDelaySeconds": 10,
            "timeoutSeconds": probe_timeout,
            "periodSeconds": probe_period,
        },
        "volumeMounts": [*mounts, {"name": "secret-cinderplugin", "mountPath": "/etc/config", "readOnly": True}],
        "resources": _resources("20m", "64Mi", "256Mi"),
    }


def controller(cluster_name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The controller plugin's Deployment: the sidecars talk to the plugin over a shared socket."""
    socket = "/var/lib/csi/sockets/pluginproxy"
    common = ["--csi-address=$(ADDRESS)", "--timeout=3m", "--leader-election=true"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": CONTROLLER, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": {"app": CONTROLLER}},
            "template": {
                "metadata": {"labels": {"app": CONTROLLER}},
                "spec": {
                    "serviceAccountName": CONTROLLER_SA,
                    "containers": [
                        _sidecar("csi-attacher", [*common, "--default-fstype=ext4"], socket),
                        _sidecar(
                            "csi-provisioner",
                            [
                                *common,
                                "--default-fstype=ext4",
                                "--feature-gates=Topology=true",
                                "--extra-create-metadata",
                            ],
                            socket,
                        ),
                        _sidecar("csi-resizer", [*common, "--handle-volume-inuse-error=false"], socket),
                        _sidecar("liveness-probe", ["--csi-address=$(ADDRESS)"], socket),
                        # --cluster tags the volumes it creates with the cluster's name (Cinder metadata
                        # cinder.csi.openstack.org/cluster), so an operator can tell whose they are.
                        _plugin(
                            [f"--cluster={cluster_name}", "--pvc-annotations", "--v=1"],
                            [{"name": "socket-dir", "mountPath": "/csi"}],
                            probe_timeout=10,
                            probe_period=60,
                        ),
                    ],
                    "volumes": [
                        {"name": "socket-dir", "emptyDir": {}},
                        {"name": "secret-cinderplugin", "secret": {"secretName": SECRET}},
                    ],
                },
            },
        },
    }


def node_plugin(labels: dict[str, str]) -> dict[str, Any]:
    """The node plugin's DaemonSet: on every node (any taint), privileged to format and mount volumes."""
    registrar = _sidecar(
        "node-driver-registrar",
        ["--csi-address=$(ADDRESS)", "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)"],
        "/csi",
    )
    registrar["env"] = [
        {"name": "ADDRESS", "value": "/csi/csi.sock"},
        {"name": "DRIVER_REG_SOCK_PATH", "value": f"{PLUGIN_DIR}/csi.sock"},
        {"name": "KUBE_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]
    registrar["volumeMounts"] = [
        {"name": "socket-dir", "mountPath": "/csi"},
        {"name": "registration-dir", "mountPath": "/registration"},
    ]
    probe = _sidecar("liveness-probe", ["--csi-address=/csi/csi.sock"], "/csi")
    del probe["env"]
    plugin = _plugin(
        ["--provide-controller-service=false", "--v=1"],
        [
            {"name": "socket-dir", "mountPath": "/csi"},
            {"name": "kubelet-dir", "mountPath": KUBELET_DIR, "mountPropagation": "Bidirectional"},
            {"name": "pods-probe-dir", "mountPath": "/dev", "mountPropagation": "HostToContainer"},
        ],
        probe_timeout=3,
        probe_period=10,
    )
    # Formatting and mounting block devices into the kubelet's tree needs the host's privileges
    # (Bidirectional mount propagation is allowed to privileged containers only).
    plugin["securityContext"] = {
        "privileged": True,
        "capabilities": {"add": ["SYS_ADMIN"]},
        "allowPrivilegeEscalation": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": NODE, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app": NODE}},
            "template": {
                "metadata": {"labels": {"app": NODE}},
                "spec": {
                    # Every node, GPU pools' tainted ones included: a notebook there mounts its volume.
                    "tolerations": [{"operator": "Exists"}],
                    "serviceAccountName": NODE_SA,
                    "hostNetwork": True,
                    "containers": [registrar, probe, plugin],
                    "volumes": [
                        {"name": "socket-dir", "hostPath": {"path": PLUGIN_DIR, "type": "DirectoryOrCreate"}},
                        {
                            "name": "registration-dir",
                            "hostPath": {"path": f"{KUBELET_DIR}/plugins_registry/", "type": "Directory"},
                        },
                        {"name": "kubelet-dir", "hostPath": {"path": KUBELET_DIR, "type": "Directory"}},
                        {"name": "pods-probe-dir", "hostPath": {"path": "/dev", "type": "Directory"}},
                        {"name": "secret-cinderplugin", "secret": {"secretName": SECRET}},
                    ],
                },
            },
        },
    }


def objects(cluster_name: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Every object of the driver except its Secret (which holds the credential), as the API takes them."""
    found: list[dict[str, Any]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            "metadata": {"name": DRIVER, "labels": labels},
            "spec": {
                "attachRequired": True,
                "podInfoOnMount": True,
                "volumeLifecycleModes": ["Persistent", "Ephemeral"],
            },
        },
    ]
    for account in (CONTROLLER_SA, NODE_SA):
        found.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": account, "namespace": NAMESPACE, "labels": labels},
            }
        )
    for role, (account, rules) in CLUSTER_ROLES.items():
        found.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role, "labels": labels},
                "rules": rules,
            }
        )
        found.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": role.removesuffix("-role") + "-binding", "labels": labels},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
                "roleRef": {"kind": "ClusterRole", "name": role, "apiGroup": "rbac.authorization.k8s.io"},
            }
        )
    found.append(controller(cluster_name, labels))
    found.append(node_plugin(labels))
    return found


def storage_class(labels: dict[str, str]) -> dict[str, Any]:
    """The default class: Cinder volumes of the project's default type, kept when their claim goes.

    `Retain` and `WaitForFirstConsumer` for the same reasons as on eks (storage.py); Cinder volumes
    can be extended while attached (cloud-provider-openstack docs, cinder-csi-plugin "features").
    """
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": CLASS_NAME,
            "labels": labels,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": DRIVER,
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


def secret(cloud_config: pulumi.Input[str], labels: dict[str, str]) -> dict[str, Any]:
    """The Secret both plugins mount (`cloud.conf`); its content stays secret."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NAMESPACE, "labels": labels},
        "type": "Opaque",
        "stringData": {"cloud.conf": cloud_config},
    }
