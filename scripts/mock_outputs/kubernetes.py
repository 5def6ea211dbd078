"""Mock outputs for the kubernetes area (see scripts.mocks for the table formats)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from pulumi.runtime import MockResourceArgs

from ..mocks import CallBuilder, ResourceBuilder


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _capi_kubeconfig(name: str) -> dict[str, Any]:
    """The Secret Cluster API's control plane writes for cluster `name` (`<name>-kubeconfig`, key `value`).

    The kubeconfig kubeadm's control plane provider generates (cluster-api util/kubeconfig): the
    API's load balancer address, the cluster CA, and a client certificate of `<name>-admin`.
    """
    from ..mocks import documentation_ip

    def pem(kind: str, seed: str) -> str:
        body = base64.b64encode(hashlib.sha256(seed.encode()).digest() * 3).decode()
        return _b64(f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode())

    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": f"https://{documentation_ip(name, 'api')}:6443",
                    "certificate-authority-data": pem("CERTIFICATE", f"{name}/ca"),
                },
            }
        ],
        "users": [
            {
                "name": f"{name}-admin",
                "user": {
                    "client-certificate-data": pem("CERTIFICATE", f"{name}/admin"),
                    "client-key-data": pem("RSA PRIVATE KEY", f"{name}/admin-key"),
                },
            }
        ],
        "contexts": [{"name": f"{name}-admin@{name}", "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": f"{name}-admin@{name}",
    }
    return {
        "type": "cluster.x-k8s.io/secret",
        "metadata": {"name": f"{name}-kubeconfig", "labels": {"cluster.x-k8s.io/cluster-name": name}},
        "data": {"value": _b64(json.dumps(kubeconfig).encode())},
    }


def _secret(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    if args.resource_id and args.name.endswith("-kubeconfig"):
        # A read of Cluster API's kubeconfig Secret (components/clusters/capi.py).
        return _capi_kubeconfig(args.name.removesuffix("-kubeconfig"))
    # A `kubernetes.io/service-account-token` Secret is filled in by the API's token controller
    # with the account's token, the cluster's CA and the namespace (Kubernetes docs, "Manually
    # create a long-lived API token for a ServiceAccount"); pulumi-kubernetes waits for it.
    if args.inputs.get("type") != "kubernetes.io/service-account-token":
        return {}
    metadata = args.inputs.get("metadata") or {}
    namespace = metadata.get("namespace", "default")
    account = (metadata.get("annotations") or {}).get("kubernetes.io/service-account.name", "default")

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    claims = {"iss": "kubernetes/serviceaccount", "sub": f"system:serviceaccount:{namespace}:{account}"}
    signature = hashlib.sha256(f"{args.name}/{namespace}/{account}".encode()).hexdigest()
    token = f"{part({'alg': 'RS256', 'kid': signature[:12]})}.{part(claims)}.{signature}"
    return {
        "data": {
            "token": _b64(token.encode()),
            "namespace": _b64(namespace.encode()),
            "ca.crt": _b64(b"-----BEGIN CERTIFICATE-----\nMIIBmock\n-----END CERTIFICATE-----\n"),
        }
    }


def _config_file(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # The provider reads the file (an upstream release manifest at a URL) and registers its objects
    # as the component's children; offline the file is not fetched, so the component has none.
    return {"resources": []}


RESOURCES: dict[str, ResourceBuilder] = {
    "kubernetes:core/v1:Secret": _secret,
    "kubernetes:yaml/v2:ConfigFile": _config_file,
}
CALLS: dict[str, CallBuilder] = {}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}

__all__ = ["AWS_IDS", "CALLS", "RESOURCES", "Any"]
