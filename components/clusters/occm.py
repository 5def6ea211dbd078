"""The OpenStack cloud controller manager of a capi cluster: node initialisation and load balancers.

A kubeadm cluster Cluster API builds runs with `cloud-provider: external` (CAPO's templates, which
its docs say every cluster is meant to use): each node registers tainted
`node.cloudprovider.kubernetes.io/uninitialized` until this controller has initialised it (its
addresses, zone and instance type from Nova), and Services of type LoadBalancer (the ingress
add-on's Traefik) get their Octavia load balancer from it, as on magnum. It is part of the backend,
not an add-on: nothing else schedules on a node before it ran there.

Every fact comes from cloud-provider-openstack's manifests/controller-manager/ at the release of
the cluster's Kubernetes minor (v1.34.1, v1.35.0: upstream asks for the release matching the
cluster's minor), with these decisions:

* Its configuration is its own Secret (`openstack-ccm-cloud-config`, not upstream's `cloud-config`,
  which Cinder CSI's controller takes on the same cluster: components/addons/cinder_csi.py), with
  the site's cluster application credential ([Global], as Cinder CSI's) and the load balancers'
  settings ([LoadBalancer]): the site's external network for floating IPs, the site's subnet for
  VIPs and members, Octavia's amphora provider, and a health monitor per pool (`create-monitor`,
  as Magnum's default `octavia_lb_healthcheck`), so a node going away leaves the pool at once.
  Security groups stay CAPO's: its worker group admits NodePorts from the cluster's subnet
  (CAPO v0.14.7 securitygroups_rules.go `getSGWorkerNodePortCIDR`), where amphorae connect from;
  `manage-security-groups` would add a group per Service to the project's quota for nothing.
* `--cluster-name` is the cluster's name, not upstream's `kubernetes`: the controller names
  load balancers after it, and several clusters share a tenancy.
* Only the controller's own ServiceAccount and ClusterRole (`--use-service-account-credentials=false`
  runs every loop as it); upstream's binding for a `cloud-node-controller` account that no
  manifest creates is left out.
* Pods are sized, run as upstream's non-root user with no privilege escalation, and carry a
  checksum of their configuration (the controller reads cloud.conf once, at start).
"""

from __future__ import annotations

from typing import Any

import pulumi

from ..addons.base import container_resources, kubernetes_object, secrets_checksum
from ..addons.cinder_csi import CONFIG_CHECKSUM, cloud_conf

NAMESPACE = "kube-system"
NAME = "openstack-cloud-controller-manager"
ACCOUNT = "cloud-controller-manager"
SECRET = "openstack-ccm-cloud-config"
ROLE = "system:cloud-controller-manager"
#: The controller's image per Kubernetes minor (cloud-provider-openstack tags v1.34.1, v1.35.0).
IMAGES = {
    "1.34": "registry.k8s.io/provider-os/openstack-cloud-controller-manager:v1.34.1",
    "1.35": "registry.k8s.io/provider-os/openstack-cloud-controller-manager:v1.35.0",
}
#: The taint every node of a `cloud-provider: external` kubelet registers with until initialised.
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"
#: kubeadm labels control-plane nodes with this key and an empty value.
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def load_balancer_conf(floating_network: str, subnet: str, provider: str) -> str:
    """The [LoadBalancer] section (using-openstack-cloud-controller-manager.md, "Load Balancer")."""
    return (
        "[LoadBalancer]\n"
        f'floating-network-id = "{floating_network}"\n'
        f'subnet-id = "{subnet}"\n'
        f'lb-provider = "{provider}"\n'
        "create-monitor = true\n"
    )


#: The controller's rights (manifests/controller-manager/cloud-controller-manager-roles.yaml,
#: system:cloud-controller-manager), as (API group, resources, verbs).
RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("coordination.k8s.io", ("leases",), ("get", "create", "update")),
    ("", ("events",), ("create", "patch", "update")),
    ("", ("nodes",), ("*",)),
    ("", ("nodes/status",), ("patch",)),
    ("", ("services",), ("list", "patch", "update", "watch")),
    ("", ("services/status",), ("patch",)),
    ("", ("serviceaccounts",), ("create", "get")),
    ("", ("serviceaccounts/token",), ("create",)),
    ("", ("persistentvolumes",), ("*",)),
    ("", ("endpoints",), ("create", "get", "list", "watch", "update")),
    ("", ("configmaps",), ("get", "list", "watch")),
    ("", ("secrets",), ("list", "get", "watch")),
)


def documents(cluster: str, minor: str, labels: dict[str, str], checksum: pulumi.Input[str]) -> list[dict[str, Any]]:
    """The controller's ServiceAccount, ClusterRole, ClusterRoleBinding and DaemonSet."""
    app = {"k8s-app": NAME}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": ACCOUNT, "namespace": NAMESPACE, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": ROLE, "labels": labels},
            "rules": [
                {"apiGroups": [group], "resources": list(resources), "verbs": list(verbs)}
                for group, resources, verbs in RULES
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ROLE, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {**labels, **app}},
            "spec": {
                "selector": {"matchLabels": app},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": {**labels, **app}, "annotations": {CONFIG_CHECKSUM: checksum}},
                    "spec": {
                        "nodeSelector": {CONTROL_PLANE_LABEL: ""},
                        "securityContext": {
                            "runAsUser": 1001,
                            "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "tolerations": [
                            {"key": UNINITIALIZED, "value": "true", "effect": "NoSchedule"},
                            {"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"},
                        ],
                        "serviceAccountName": ACCOUNT,
                        "priorityClassName": "system-cluster-critical",
                        "hostNetwork": True,
                        "dnsPolicy": "ClusterFirst",
                        "containers": [
                            {
                                "name": NAME,
                                "image": IMAGES[minor],
                                "args": [
                                    "/bin/openstack-cloud-controller-manager",
                                    "--v=1",
                                    f"--cluster-name={cluster}",
                                    "--cloud-config=/etc/config/cloud.conf",
                                    "--cloud-provider=openstack",
                                    "--use-service-account-credentials=false",
                                    "--bind-address=127.0.0.1",
                                ],
                                "resources": container_resources("200m", "128Mi", "512Mi"),
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True,
                                },
                                # Not upstream's /etc/kubernetes/pki: the controller authenticates with its
                                # account's token, and kubeadm's keys there are root's alone.
                                "volumeMounts": [
                                    {"mountPath": "/etc/ssl/certs", "name": "ca-certs", "readOnly": True},
                                    {"mountPath": "/etc/config", "name": "cloud-config", "readOnly": True},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "ca-certs", "hostPath": {"path": "/etc/ssl/certs", "type": "Directory"}},
                            {"name": "cloud-config", "secret": {"secretName": SECRET}},
                        ],
                    },
                },
            },
        },
    ]


def install(
    cluster: str,
    minor: str,
    *,
    config: pulumi.Output[str],
    labels: dict[str, str],
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
) -> pulumi.CustomResource:
    """Install the controller on the new cluster; return its DaemonSet (awaited until its pods are ready).

    :param config: the whole cloud.conf (secret): the credential's [Global], the [LoadBalancer] settings.
    """
    secret = kubernetes_object(
        f"{cluster}-occm-config",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": NAMESPACE, "labels": labels},
            "stringData": {"cloud.conf": config},
        },
        provider=provider,
        parent=parent,
    )
    created: list[pulumi.CustomResource] = [secret]
    for document in documents(cluster, minor, labels, secrets_checksum({"cloud.conf": config})):
        # The DaemonSet after its account, rights and configuration.
        created.append(
            kubernetes_object(
                f"{cluster}-occm-{document['kind'].lower()}",
                document,
                provider=provider,
                parent=parent,
                depends_on=list(created) if document["kind"] == "DaemonSet" else [],
            )
        )
    return created[-1]


__all__ = ["cloud_conf", "install", "load_balancer_conf"]
