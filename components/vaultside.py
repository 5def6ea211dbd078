"""The project's own side in Vault: the provider `pulumi up` writes with, and what the clusters may read.

Children of `<project>-vault` (`meridian:index:VaultProject`, parented to the Platform; a project
service, components/addons PROJECT_SERVICES, built when the spec's `vault` asks `pulumi up` to
write to Vault: `write_back` or `in_cluster`):

* `<project>-vault`                 pulumi:providers:vault, logged in as `vault.auth` says; write-back
                                    (components/writeback.py) and every cluster's auth mount and role
                                    (components/addons/external_secrets.py) use it
* `<project>-runtime-read`          vault.Policy `meridian-<project>-runtime-read` (with `in_cluster`):
                                    read on `<mount>/<path>/*` (KV v2: `<mount>/data/<path>/*`), nothing
                                    else; every cluster's role holds it
"""

from __future__ import annotations

from typing import Any

import pulumi

from .spec import PlatformSpec
from .spec.vault import VaultInClusterSpec, VaultSpec

#: How long the provider's child token lives (seconds): a first `pulumi up` of every cluster.
CHILD_TOKEN_SECONDS = 7200


def provider_args(vault: VaultSpec) -> dict[str, Any]:
    """The Vault provider's arguments: the spec's namespace, TLS consent and login.

    Nothing secret is an argument: provider arguments are kept in the stack's state. The
    provider reads the rest from the environment of `pulumi up` (terraform-provider-vault
    meta.go): VAULT_ADDR, VAULT_TOKEN or the token helper, VAULT_CACERT / VAULT_CAPATH; a JWT
    login's token from TERRAFORM_VAULT_AUTH_JWT (auth_jwt.go). `skip_tls_verify` is set false
    unless the spec allows skipping (the Python SDK would otherwise fill it from
    VAULT_SKIP_VERIFY); a CA from the environment is refused when the spec is loaded
    (components/secrets.py), as for the references.
    """
    # The provider logs in once per run and writes with one non-renewable child token that lives
    # max_lease_ttl_seconds (default 1200: terraform-provider-vault meta.go createChildToken); the
    # kubeconfigs are written only once their clusters are ready, which can be well past 20 minutes
    # into a first `pulumi up`. Two hours; the login token's own TTL must cover it.
    args: dict[str, Any] = {"max_lease_ttl_seconds": CHILD_TOKEN_SECONDS}
    if vault.namespace is not None:
        args["namespace"] = vault.namespace
    if not vault.tls.allow_skip_verify:
        args["skip_tls_verify"] = False
    auth = vault.auth
    if auth.method == "jwt":
        import pulumi_vault

        assert auth.role is not None  # VaultAuthSpec requires it for jwt
        args["auth_login_jwt"] = pulumi_vault.ProviderAuthLoginJwtArgs(role=auth.role, mount=auth.mount_path)
    return args


def policy_name(project: str) -> str:
    """The name of the policy every cluster's role holds."""
    return f"meridian-{project}-runtime-read"


def readable_path(in_cluster: VaultInClusterSpec) -> str:
    """The API path (glob) the clusters may read: KV v2 keeps a secret's data under `<mount>/data/`.

    A trailing `*` is a prefix match in Vault's (and OpenBao's) policy language, so
    `<path>/*` matches every secret below the project's prefix and not the prefix itself, nor a
    sibling that merely starts with the same letters (`eo4eu/runtime2`).
    """
    data = "data/" if in_cluster.kv_version == 2 else ""
    return f"{in_cluster.mount}/{data}{in_cluster.path}/*"


def policy_document(project: str, in_cluster: VaultInClusterSpec) -> str:
    """The HCL of the clusters' policy: read the project's secrets, nothing more.

    Only `read`: no `list` (a cluster names the secrets it reads; it has no need to discover
    others) and no metadata (the External Secrets Operator reads KV v2 data with one GET of
    `<mount>/data/<key>`). Whatever else the role's token does (look itself up, renew itself)
    Vault's `default` policy allows, which the role keeps.
    """
    return (
        f"# Meridian: what the clusters of {project} read at run time (External Secrets Operator).\n"
        f'path "{readable_path(in_cluster)}" {{\n'
        '  capabilities = ["read"]\n'
        "}\n"
    )


class VaultProject(pulumi.ComponentResource):
    """The project's Vault provider and, with `in_cluster`, the clusters' read policy."""

    provider: pulumi.ProviderResource
    """The Vault provider every resource in Vault is created with."""
    policy_name: pulumi.Output[str] | None = None
    """The name of the clusters' read policy (with `vault.in_cluster`), as the policy resource reports
    it (roles that hold it depend on it)."""

    def __init__(self, name: str, spec: PlatformSpec, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Create the provider (and the policy).

        :param name: `<project>-vault`.
        :param spec: the platform spec; its `vault` asks for writes (write_back or in_cluster).
        """
        super().__init__("meridian:index:VaultProject", name, None, opts)
        import pulumi_vault as vault

        # The Platform builds it only then (PROJECT_SERVICES); the assertion narrows the type.
        assert spec.vault is not None and spec.vault.provider_needed  # pragma: no mutate
        self.provider = vault.Provider(name, **provider_args(spec.vault), opts=pulumi.ResourceOptions(parent=self))
        in_cluster = spec.vault.in_cluster
        if in_cluster is not None:
            project = spec.project.name
            policy = vault.Policy(
                f"{project}-runtime-read",
                name=policy_name(project),
                policy=policy_document(project, in_cluster),
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
            )
            self.policy_name = policy.name
        self.register_outputs({})  # pragma: no mutate - no outputs either way


def vault_project(project: dict[str, pulumi.Resource] | Any) -> VaultProject:
    """The project's VaultProject from `AddonContext.project` (or the Platform's project services)."""
    found = project.get("vault")
    if not isinstance(found, VaultProject):
        raise ValueError("the Vault provider is built by the Platform for every stack that writes to Vault")
    return found
