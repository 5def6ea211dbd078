"""Mock outputs for the magnum area (see scripts.mocks for the table formats).

What OpenStack Magnum (magnum-capi-helm driver) and the terraform-provider-openstack
resources behind pulumi_openstack.containerinfra return after a create: UUIDs for
templates, clusters and node groups (the generic OpenStack path in scripts.mocks), plus
the cluster's computed attributes, of which `kubeconfig` is secret as the engine makes it
(the SDK lists it in additionalSecretOutputs; the SDK's mock monitor does not apply those).
"""

from __future__ import annotations

import base64
import re
import threading
from typing import Any

from pulumi.runtime import MockResourceArgs, rpc

from ..mocks import CallBuilder, ResourceBuilder, digest, documentation_ip, stable_uuid

CLUSTER_TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"
CLUSTER = "openstack:containerinfra/cluster:Cluster"
NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"

#: `kube_tag` of each cluster template registered in this process, by the template's mock ID,
#: so a cluster reports the version its template asks for (a cluster's inputs only carry the ID).
_TEMPLATE_VERSIONS: dict[str, str] = {}
_LOCK = threading.Lock()


def _keystone_id(*parts: str) -> str:
    """A Keystone project or user ID: 32 hex digits, no dashes."""
    return digest("keystone", *parts)[:32]


def _pem(kind: str, *parts: str) -> str:
    """A PEM block whose body says plainly that it is a placeholder (valid base64, no real key)."""
    body = base64.b64encode(f"meridian offline placeholder {kind} {digest(*parts)[:16]}".encode()).decode()
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


def _cluster_template(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    template_id = stable_uuid(args.typ, args.name)
    labels = args.inputs.get("labels") or {}
    with _LOCK:
        _TEMPLATE_VERSIONS[template_id] = str(labels.get("kube_tag", ""))
    owner = args.inputs.get("name", args.name)
    return {
        "projectId": _keystone_id("project", owner),
        "userId": _keystone_id("user", owner),
        "serverType": args.inputs.get("serverType", "vm"),
        "hidden": args.inputs.get("hidden", False),
        "registryEnabled": args.inputs.get("registryEnabled", False),
    }


def _cluster(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    name = str(args.inputs.get("name", args.name))
    host = f"https://{documentation_ip(args.name, 'api')}:6443"
    ca = _pem("CERTIFICATE", args.name, "ca")
    certificate = _pem("CERTIFICATE", args.name, "admin")
    key = _pem("RSA PRIVATE KEY", args.name, "admin-key")

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    raw_config = (
        "apiVersion: v1\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {b64(ca)}\n"
        f"    server: {host}\n"
        f"  name: {name}\n"
        "contexts:\n"
        "- context:\n"
        f"    cluster: {name}\n"
        "    user: admin\n"
        "  name: default\n"
        "current-context: default\n"
        "kind: Config\n"
        "preferences: {}\n"
        "users:\n"
        "- name: admin\n"
        "  user:\n"
        f"    client-certificate-data: {b64(certificate)}\n"
        f"    client-key-data: {b64(key)}\n"
    )
    masters = int(args.inputs.get("masterCount", 1))
    nodes = int(args.inputs.get("nodeCount", 1))
    with _LOCK:
        version = _TEMPLATE_VERSIONS.get(str(args.inputs.get("clusterTemplateId", "")), "")
    # magnum-capi-helm names the Helm release (the cluster's stack_id) after the sanitized
    # name cut to 30 characters plus a 12-character random suffix.
    release = re.sub("[^a-z0-9]+", "-", name.lower())[:30]
    return {
        "apiAddress": host,
        # The engine marks kubeconfig secret (additionalSecretOutputs); so does this mock.
        "kubeconfig": {
            rpc._special_sig_key: rpc._special_secret_sig,
            "value": {
                "raw_config": raw_config,
                "host": host,
                "cluster_ca_certificate": ca,
                "client_certificate": certificate,
                "client_key": key,
            },
        },
        # Documentation addresses stand in for the fixed IPs: a resource's mock cannot see
        # the subnet's CIDR, and no test may depend on them.
        "masterAddresses": [documentation_ip(args.name, "master", str(i)) for i in range(masters)],
        "nodeAddresses": [documentation_ip(args.name, "node", str(i)) for i in range(nodes)],
        "stackId": f"{release}-{digest(args.name, 'release')[:12]}",
        "coeVersion": version,
        "projectId": _keystone_id("project", name),
        "userId": _keystone_id("user", name),
    }


def _node_group(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    name = str(args.inputs.get("name", args.name))
    return {
        "projectId": _keystone_id("project", name),
        "role": args.inputs.get("role", "worker"),
    }


RESOURCES: dict[str, ResourceBuilder] = {
    CLUSTER_TEMPLATE: _cluster_template,
    CLUSTER: _cluster,
    NODE_GROUP: _node_group,
}
CALLS: dict[str, CallBuilder] = {}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}

__all__ = ["AWS_IDS", "CALLS", "RESOURCES", "Any"]
