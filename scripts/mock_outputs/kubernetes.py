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


def _secret(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
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


RESOURCES: dict[str, ResourceBuilder] = {"kubernetes:core/v1:Secret": _secret}
CALLS: dict[str, CallBuilder] = {}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}

__all__ = ["AWS_IDS", "CALLS", "RESOURCES", "Any"]
