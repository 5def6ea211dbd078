"""Vault write-back: the credentials the platform generates, stored in Vault KV by `pulumi up`.

Children of `<project>-vault-write-back` (`meridian:index:VaultWriteBack`, parented to the
Platform; built only with `vault.write_back` in the spec), each written with the project's Vault
provider (components/vaultside.py):

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

import pulumi

from .spec import PlatformSpec


def write_back_items(
    spec: PlatformSpec,
    kubeconfigs: Mapping[str, pulumi.Output[str]],
    hubs: Mapping[str, Mapping[str, pulumi.Output[str]]],
    grafana_admin: pulumi.Output[str] | None,
) -> list[tuple[str, str, dict[str, pulumi.Output[str] | str]]]:
    """(resource name, secret path inside the mount, data) of everything written back, in spec order."""
    # The Platform calls it only then; the assertion narrows the types.
    assert spec.vault is not None and spec.vault.write_back is not None  # pragma: no mutate
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
        provider: pulumi.ProviderResource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Write the credentials.

        :param name: `<project>-vault-write-back`.
        :param kubeconfigs: admin kubeconfigs by cluster (clusters Meridian builds).
        :param hubs: each hub's generated secrets by cluster.
        :param grafana_admin: Grafana's admin password, where the project has a central stack.
        :param provider: the project's Vault provider (vaultside.VaultProject).
        """
        super().__init__("meridian:index:VaultWriteBack", name, None, opts)
        import pulumi_vault as vault

        # The Platform builds it only then; the assertion narrows the types.
        assert spec.vault is not None and spec.vault.write_back is not None  # pragma: no mutate
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
