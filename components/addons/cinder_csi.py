"""Cinder CSI on rke2 and capi clusters: volumes for PersistentVolumeClaims, from the site's Cinder.

RKE2 ships no volume driver (nor does a kubeadm cluster Cluster API builds) and the
cloud-provider-openstack charts are not in the offline mirror, so Meridian writes the driver's
objects itself. Every fact below (images, arguments, RBAC rules, mounts) comes from
cloud-provider-openstack's manifests/cinder-csi-plugin/ at the release matching the cluster's
Kubernetes minor (v1.32.1, v1.33.1, v1.34.1, v1.35.0: upstream recommends the plugin release of
the cluster's version, docs/cinder-csi-plugin/using-cinder-csi-plugin.md; they differ only in
their images).

Decisions against the upstream manifests:

* Only the controller holds the credential. The node service makes no OpenStack call (v1.34.1
  cmd/cinder-csi-plugin/main.go: it reads [Metadata] and [BlockStorage] only; it finds its
  instance through the metadata service or config drive), so the DaemonSet on every node, GPU
  nodes running notebooks included, mounts a Secret without [Global].
* The pods carry a checksum of their configuration, so a rotated credential restarts them (the
  plugin reads cloud.conf once, at start: pkg/csi/cinder/openstack/openstack.go).
* No snapshots: RKE2 installs the snapshot controller and its CRDs (rke2-snapshot-controller),
  but Meridian runs no csi-snapshotter sidecar and makes no VolumeSnapshotClass, so snapshots of
  `csi-cinder` volumes are not offered (backups are the projects' own, at the application level).
* Volumes are created in the availability zone of the node the pod lands on (the provisioner's
  Topology feature gate with WaitForFirstConsumer): the site's Nova zones must exist in Cinder
  too (upstream docs/cinder-csi-plugin/troubleshooting.md), which holds for the bundled sites' `nova`.

The node plugin is privileged (it formats and mounts block devices):
kube-system is exempt from the restricted Pod Security level RKE2's CIS profile enforces (RKE2
docs, security/pod_security_standards: the default exemptions), and from the policy pack's pod
security policies (allowed_namespaces).

Objects (all in kube-system, through the cluster's provider, under `<cluster>-block-storage`):

* Secret `cloud-config` (`cloud.conf`: the site's cluster application credential, secret), for
  the controller; Secret `cloud-config-node` (no credential), for the node plugin
* CSIDriver `cinder.csi.openstack.org`
* ServiceAccounts, ClusterRoles and ClusterRoleBindings of the controller and node plugins
* Deployment `csi-cinder-controllerplugin` (attacher, provisioner, resizer, liveness probe, plugin)
* DaemonSet `csi-cinder-nodeplugin` (registrar, liveness probe, privileged plugin) on every node
* StorageClass `csi-cinder` (default; made by storage.py like every default class)
"""

from __future__ import annotations

from typing import Any

import pulumi

#: The CSI driver's name (CSIDriver object, StorageClass provisioner).
DRIVER = "cinder.csi.openstack.org"
NAMESPACE = "kube-system"
SECRET = "cloud-config"
NODE_SECRET = "cloud-config-node"
CLASS_NAME = "csi-cinder"
#: Pod annotation carrying the checksum of the configuration the pod reads.
CONFIG_CHECKSUM = "meridian.io/cloud-config-checksum"
#: The node plugin's whole configuration: where it finds its instance ID and zone (upstream's
#: default order; [Metadata] search-order).
NODE_CLOUD_CONF = "[Metadata]\nsearch-order = configDrive,metadataService\n"

_REGISTRY = "registry.k8s.io"
#: Images of cloud-provider-openstack manifests/cinder-csi-plugin per Kubernetes minor (tags
#: v1.32.1, v1.33.1, v1.34.1, v1.35.0), by container name.
RELEASES: dict[str, dict[str, str]] = {
    "1.32": {
        "cinder-csi-plugin": f"{_REGISTRY}/provider-os/cinder-csi-plugin:v1.32.1",
        "csi-attacher": f"{_REGISTRY}/sig-storage/csi-attacher:v4.7.0",
        "csi-provisioner": f"{_REGISTRY}/sig-storage/csi-provisioner:v5.1.0",
        "csi-resizer": f"{_REGISTRY}/sig-storage/csi-resizer:v1.12.0",
        "liveness-probe": f"{_REGISTRY}/sig-storage/livenessprobe:v2.14.0",
        "node-driver-registrar": f"{_REGISTRY}/sig-storage/csi-node-driver-registrar:v2.12.0",
    },
    "1.33": {
        "cinder-csi-plugin": f"{_REGISTRY}/provider-os/cinder-csi-plugin:v1.33.1",
        "csi-attacher": f"{_REGISTRY}/sig-storage/csi-attacher:v4.7.0",
        "csi-provisioner": f"{_REGISTRY}/sig-storage/csi-provisioner:v5.1.0",
        "csi-resizer": f"{_REGISTRY}/sig-storage/csi-resizer:v1.12.0",
        "liveness-probe": f"{_REGISTRY}/sig-storage/livenessprobe:v2.14.0",
        "node-driver-registrar": f"{_REGISTRY}/sig-storage/csi-node-driver-registrar:v2.12.0",
    },
    "1.34": {
        "cinder-csi-plugin": f"{_REGISTRY}/provider-os/cinder-csi-plugin:v1.34.1",
        "csi-attacher": f"{_REGISTRY}/sig-storage/csi-attacher:v4.10.0",
        "csi-provisioner": f"{_REGISTRY}/sig-storage/csi-provisioner:v5.3.0",
        "csi-resizer": f"{_REGISTRY}/sig-storage/csi-resizer:v1.14.0",
        "liveness-probe": f"{_REGISTRY}/sig-storage/livenessprobe:v2.17.0",
        "node-driver-registrar": f"{_REGISTRY}/sig-storage/csi-node-driver-registrar:v2.15.0",
    },
    # v1.35.0 changed only the plugin's image from v1.34.1 (and the snapshotter's, not run here).
    "1.35": {
        "cinder-csi-plugin": f"{_REGISTRY}/provider-os/cinder-csi-plugin:v1.35.0",
        "csi-attacher": f"{_REGISTRY}/sig-storage/csi-attacher:v4.10.0",
        "csi-provisioner": f"{_REGISTRY}/sig-storage/csi-provisioner:v5.3.0",
        "csi-resizer": f"{_REGISTRY}/sig-storage/csi-resizer:v1.14.0",
        "liveness-probe": f"{_REGISTRY}/sig-storage/livenessprobe:v2.17.0",
        "node-driver-registrar": f"{_REGISTRY}/sig-storage/csi-node-driver-registrar:v2.15.0",
    },
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


def _sidecar(images: dict[str, str], name: str, args: list[str], socket: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": images[name],
        "args": args,
        "env": [{"name": "ADDRESS", "value": f"{socket}/csi.sock"}],
        "volumeMounts": [{"name": "socket-dir", "mountPath": socket}],
        "resources": _resources("10m", "32Mi", "128Mi"),
    }


def _plugin(
    images: dict[str, str], args: list[str], mounts: list[dict[str, Any]], probe_timeout: int, probe_period: int
) -> dict[str, Any]:
    return {
        "name": "cinder-csi-plugin",
        "image": images["cinder-csi-plugin"],
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


def controller(cluster_name: str, version: str, labels: dict[str, str], checksum: pulumi.Input[str]) -> dict[str, Any]:
    """The controller plugin's Deployment: the sidecars talk to the plugin over a shared socket."""
    images = RELEASES[version]
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
                "metadata": {"labels": {"app": CONTROLLER}, "annotations": {CONFIG_CHECKSUM: checksum}},
                "spec": {
                    "serviceAccountName": CONTROLLER_SA,
                    "containers": [
                        _sidecar(images, "csi-attacher", [*common, "--default-fstype=ext4"], socket),
                        _sidecar(
                            images,
                            "csi-provisioner",
                            [
                                *common,
                                "--default-fstype=ext4",
                                "--feature-gates=Topology=true",
                                "--extra-create-metadata",
                            ],
                            socket,
                        ),
                        _sidecar(images, "csi-resizer", [*common, "--handle-volume-inuse-error=false"], socket),
                        _sidecar(images, "liveness-probe", ["--csi-address=$(ADDRESS)"], socket),
                        # --cluster tags the volumes it creates with the cluster's name (Cinder metadata
                        # cinder.csi.openstack.org/cluster), so an operator can tell whose they are.
                        _plugin(
                            images,
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


def node_plugin(version: str, labels: dict[str, str], checksum: pulumi.Input[str]) -> dict[str, Any]:
    """The node plugin's DaemonSet: on every node (any taint), privileged to format and mount volumes."""
    images = RELEASES[version]
    registrar = _sidecar(
        images,
        "node-driver-registrar",
        ["--csi-address=$(ADDRESS)", "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)"],
        "/csi",
    )
    # Beside the plugin's socket: where the kubelet finds it, and the kubelet's registration directory.
    registrar["env"] += [
        {"name": "DRIVER_REG_SOCK_PATH", "value": f"{PLUGIN_DIR}/csi.sock"},
        {"name": "KUBE_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]
    registrar["volumeMounts"] += [{"name": "registration-dir", "mountPath": "/registration"}]
    probe = _sidecar(images, "liveness-probe", ["--csi-address=/csi/csi.sock"], "/csi")
    del probe["env"]
    plugin = _plugin(
        images,
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
                "metadata": {"labels": {"app": NODE}, "annotations": {CONFIG_CHECKSUM: checksum}},
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
                        {"name": "secret-cinderplugin", "secret": {"secretName": NODE_SECRET}},
                    ],
                },
            },
        },
    }


def objects(
    cluster_name: str, version: str, labels: dict[str, str], checksum: pulumi.Input[str]
) -> list[dict[str, Any]]:
    """Every object of the driver except its Secrets, as the API takes them.

    :param version: the cluster's Kubernetes minor (a key of RELEASES).
    :param checksum: `secrets_checksum` of the controller's cloud.conf (restarts the pods on rotation).
    """
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
    found.append(controller(cluster_name, version, labels, checksum))
    found.append(node_plugin(version, labels, checksum))
    return found


def secret(cloud_config: pulumi.Input[str], labels: dict[str, str], name: str = SECRET) -> dict[str, Any]:
    """A Secret a plugin mounts (`cloud.conf`): the controller's (SECRET) or the nodes' (NODE_SECRET)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "type": "Opaque",
        "stringData": {"cloud.conf": cloud_config},
    }
