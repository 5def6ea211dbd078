"""Mock outputs for the Vault provider's resources (write-back, the clusters' auth mounts: components/vaultside.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from pulumi.runtime import MockResourceArgs

from ..mocks import ID_KEY, CallBuilder, ResourceBuilder


def _secret_v2(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # terraform-provider-vault kv_secret_v2: the ID and `path` are the API path <mount>/data/<name>;
    # `metadata` describes the version written (the first: 1).
    path = f"{args.inputs['mount']}/data/{args.inputs['name']}"
    return {ID_KEY: path, "path": path, "metadata": {"version": "1", "destroyed": "false", "deletion_time": ""}}


def _auth_backend(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # terraform-provider-vault resource_auth_backend.go: the ID is the mount path; Vault names the
    # mount's accessor `auth_<type>_<8 hex>` (vault/auth.go).
    path = args.inputs.get("path") or args.inputs["type"]
    digest = hashlib.sha256(path.encode()).hexdigest()[:8]
    return {ID_KEY: path, "path": path, "accessor": f"auth_{args.inputs['type']}_{digest}"}


def _kubernetes_config(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # resource_kubernetes_auth_backend_config.go: the ID is the API path auth/<backend>/config.
    return {ID_KEY: f"auth/{args.inputs['backend']}/config"}


def _kubernetes_role(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # resource_kubernetes_auth_backend_role.go: ID auth/<backend>/role/<name>; the provider's own
    # default token_type is "default" (auth_token.go), and Vault's alias source serviceaccount_uid.
    return {
        ID_KEY: f"auth/{args.inputs['backend']}/role/{args.inputs['roleName']}",
        "tokenType": args.inputs.get("tokenType", "default"),
        "aliasNameSource": args.inputs.get("aliasNameSource", "serviceaccount_uid"),
    }


def _policy(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # resource_policy.go: the ID is the policy's name.
    return {ID_KEY: args.inputs["name"]}


RESOURCES: dict[str, ResourceBuilder] = {
    "vault:kv/secretV2:SecretV2": _secret_v2,
    "vault:index/authBackend:AuthBackend": _auth_backend,
    "vault:kubernetes/authBackendConfig:AuthBackendConfig": _kubernetes_config,
    "vault:kubernetes/authBackendRole:AuthBackendRole": _kubernetes_role,
    "vault:index/policy:Policy": _policy,
}
CALLS: dict[str, CallBuilder] = {}
AWS_IDS: dict[str, tuple[str, str]] = {}
