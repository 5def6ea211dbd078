"""Vault write-back: the credentials the platform generates, stored in Vault KV by `pulumi up`.

Children of `<project>-vault-write-back` (`meridian:index:VaultWriteBack`, parented to the
Platform; built only with `vault.write_back` in the spec):

* `<project>-vault`                          pulumi:providers:vault, logged in as `vault.auth` says
* `<project>-kubeconfig-<cluster>`           vault.kv.SecretV2 `<path>/clusters/<cluster>/kubeconfig`: the
                                             admin kubeconfig of every cluster Meridian builds (not attached ones,
                                             whose kubeconfig came from a reference; for EKS an exec-based one
                                             that holds no credential, only how to reach the cluster)
* `<project>-jupyterhub-<cluster>`           vault.kv.SecretV2 `<path>/clusters/<cluster>/jupyterhub`: the
                                             hub's generated secrets (cookie secret, crypt key, metrics token)
* `<project>-grafana`                        vault.kv.SecretV2 `<path>/observability/grafana`: Grafana's
                                             break-glass admin

They are resources of the Pulumi Vault provider, so `pulumi preview` shows them (values masked)
and only `pulumi up` writes them; operators and other stacks then read them from Vault instead
of from this stack's outputs. Each secret's data is a secret Output from the first moment.
Deleting one (a cluster removed) deletes every version of it (`delete_all_versions`): the
credential of a thing that no longer exists has nothing left to open.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi

from .spec import PlatformSpec
from .spec.vault import VaultSpec

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


def write_back_items(
    spec: PlatformSpec,
    kubeconfigs: Mapping[str, pulumi.Output[str]],
    hubs: Mapping[str, Mapping[str, pulumi.Output[str]]],
    grafana_admin: pulumi.Output[str] | None,
) -> list[tuple[str, str, dict[str, pulumi.Output[str] | str]]]:
    """(resource name, secret path inside the mount, data) of everything written back, in spec order."""
    assert spec.vault is not None and spec.vault.write_back is not None, "applies only when asked for"
    prefix, project = spec.vault.write_back.path, spec.project.name
    items: list[tuple[str, str, dict[str, pulumi.Output[str] | str]]] = []
    for name in spec.clusters:
        if name in kubeconfigs:
            items.append(
                (
                    f"{project}-kubeconfig-{name}",
                    f"{prefix}/clusters/{name}/kubeconfig",
                    {"kubeconfig": kubeconfigs[name]},
                )
            )
        if name in hubs:
            items.append((f"{project}-jupyterhub-{name}", f"{prefix}/clusters/{name}/jupyterhub", dict(hubs[name])))
    if grafana_admin is not None:
        items.append(
            (
                f"{project}-grafana",
                f"{prefix}/observability/grafana",
                {"admin-user": "admin", "admin-password": grafana_admin},
            )
        )
    return items


def _secret_json(data: Mapping[str, pulumi.Output[str] | str]) -> pulumi.Output[str]:
    """The KV data as the provider's `data_json`, secret whatever its parts are."""
    document: pulumi.Output[str] = pulumi.Output.all(**data).apply(lambda found: json.dumps(found, sort_keys=True))
    return pulumi.Output.secret(document)


class VaultWriteBack(pulumi.ComponentResource):
    """The generated credentials of one project, written to Vault KV v2 (see the module docstring)."""

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        *,
        kubeconfigs: Mapping[str, pulumi.Output[str]],
        hubs: Mapping[str, Mapping[str, pulumi.Output[str]]],
        grafana_admin: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Write the credentials.

        :param name: `<project>-vault-write-back`.
        :param kubeconfigs: admin kubeconfigs by cluster (clusters Meridian builds).
        :param hubs: each hub's generated secrets by cluster.
        :param grafana_admin: Grafana's admin password, where the project has a central stack.
        """
        super().__init__("meridian:index:VaultWriteBack", name, None, opts)
        import pulumi_vault as vault

        assert spec.vault is not None and spec.vault.write_back is not None, "applies only when asked for"
        provider = vault.Provider(
            f"{spec.project.name}-vault", **provider_args(spec.vault), opts=pulumi.ResourceOptions(parent=self)
        )
        on_vault = pulumi.ResourceOptions(parent=self, provider=provider)
        self.paths: list[str] = []
        for resource, path, data in write_back_items(spec, kubeconfigs, hubs, grafana_admin):
            vault.kv.SecretV2(
                resource,
                mount=spec.vault.write_back.mount,
                name=path,
                data_json=_secret_json(data),
                delete_all_versions=True,
                opts=on_vault,
            )
            self.paths.append(path)
        self.register_outputs({"paths": self.paths})
