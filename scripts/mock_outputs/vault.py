"""Mock outputs for the Vault provider's resources (Vault write-back, components/writeback.py)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import MockResourceArgs

from ..mocks import ID_KEY, CallBuilder, ResourceBuilder


def _secret_v2(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # terraform-provider-vault kv_secret_v2: the ID and `path` are the API path <mount>/data/<name>;
    # `metadata` describes the version written (the first: 1).
    path = f"{args.inputs['mount']}/data/{args.inputs['name']}"
    return {ID_KEY: path, "path": path, "metadata": {"version": "1", "destroyed": "false", "deletion_time": ""}}


RESOURCES: dict[str, ResourceBuilder] = {"vault:kv/secretV2:SecretV2": _secret_v2}
CALLS: dict[str, CallBuilder] = {}
AWS_IDS: dict[str, tuple[str, str]] = {}
