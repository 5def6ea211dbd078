"""External Secrets: every cluster reads the project's secrets from Vault at run time.

Built on every cluster when the spec sets `vault.in_cluster`. Children of
`<c>-external-secrets` (`meridian:addons:ExternalSecrets`):

In Vault, with the project's Vault provider (components/vaultside.py):

* `<c>-vault-auth`           vault.AuthBackend: a Kubernetes auth mount of the cluster's own,
                             `<prefix>-<project>-<c>`
* `<c>-vault-auth-config`    vault.kubernetes.AuthBackendConfig: the cluster's API address and CA
                             (from its kubeconfig); no token reviewer JWT (below)
* `<c>-vault-role`           vault.kubernetes.AuthBackendRole `external-secrets`: bound to the one
                             service account `external-secrets/meridian-vault-reader`, holding the
                             project's read policy `meridian-<project>-runtime-read` and `default`

On the cluster, through its Kubernetes provider:

* `<c>-external-secrets-namespace`  Namespace `external-secrets` (Pod Security `restricted`)
* `<c>-external-secrets`            helm.v3.Release of the External Secrets Operator (chart lock)
* `<c>-vault-reader`                ServiceAccount `meridian-vault-reader`, the only identity the role admits
* `<c>-vault-reader-auth-delegator` ClusterRoleBinding of it to `system:auth-delegator`
* `<c>-vault-reader-token`          Role and RoleBinding `meridian-vault-reader-token`: the operator may
                                    request tokens for that one account (the chart's cluster-wide
                                    `serviceaccounts/token` grant is off)
* `<c>-vault-store`                 external-secrets.io/v1 ClusterSecretStore `meridian-vault`, serving
                                    only the namespaces of Meridian's own consumers (`RUNTIME_NAMESPACES`)

Why no token reviewer JWT. Vault checks a service account token by asking the cluster's API
(TokenReview). Given no reviewer token of its own and `disable_local_ca_jwt`, Vault makes that
call with the token it was shown (vault-plugin-auth-kubernetes token_review.go; OpenBao's
builtin copy is the same), so no long-lived cluster credential is ever stored in Vault or in
the stack's state; the reader's account needs `system:auth-delegator` for it. The token ESO
requests for the reader carries no audience of ESO's choosing (providers/v1/vault/auth.go
`createServiceAccountToken`: the TokenRequest's audiences are the store's, empty here), so the
API server gives it its own audiences and accepts it as a bearer; a token for `vault` only would
be refused there (kubernetes pkg/serviceaccount/jwt.go) and every login would fail. The role
therefore names no audience; what it admits is bound by account name and namespace.

Why the External Secrets Operator and not HashiCorp's Vault Secrets Operator: ESO is Apache-2.0
(a CNCF project) and speaks to Vault and OpenBao alike; VSO is under the Business Source
License 1.1, which is not an open-source licence and which a public research infrastructure
cannot pass on to its partners on the same terms as the rest of the platform.

Add-ons that need a secret at run time take it through `runtime_secret`: an ExternalSecret
when the reference lies under `vault.in_cluster` (the value never passes through the
deployment or its state), else a Secret with the value resolved when the spec was loaded.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import yaml

from ..secrets import VAULT_REF
from ..spec import PlatformSpec
from ..spec.vault import VaultInClusterSpec
from .base import (
    AddonContext,
    ChartRelease,
    chart_release,
    container_resources,
    kubernetes_object,
)
from .base import namespace as addon_namespace

NAMESPACE = "external-secrets"
#: The service account the Vault role admits; the ClusterSecretStore logs in as it.
READER = "meridian-vault-reader"
#: The ClusterSecretStore every ExternalSecret of the program names.
STORE = "meridian-vault"
#: The role's name on each cluster's auth mount.
ROLE = "external-secrets"
#: The operator's own service account (the chart's `serviceAccount.name`, said rather than derived
#: from the release name, since the token Role binds it by name).
CONTROLLER = "external-secrets"
#: The namespaces whose ExternalSecrets the store serves: those of Meridian's add-ons that take a
#: secret at run time (`runtime_secret`: Grafana's in `monitoring`, the MLOps services' in theirs).
#: The store can read every secret under the project's prefix, so no other namespace may use it;
#: only cluster admins (and `pulumi up`) may create ExternalSecrets at all (`rbac.aggregateToEdit/Admin` off).
RUNTIME_NAMESPACES = ("monitoring", "mlflow", "argo-workflows", "workflows", "models")
#: Vault tokens the store gets live ten minutes: ESO logs in again for each read (no token
#: cache unless `vault.enableTokenCache`), so a token only has to outlive one reconcile.
TOKEN_SECONDS = 600
#: pulumi-kubernetes assumes a custom resource ready once the API accepts it, unless told what to
#: wait for (CHANGELOG 4.18.0: the `pulumi.com/waitFor` annotation; generic await is opt-in). The
#: store is Ready once ESO has logged in to Vault with it, an ExternalSecret once its Secret is
#: written: `pulumi up` then fails on a broken login or path instead of leaving pods waiting.
WAIT_READY = {"pulumi.com/waitFor": "condition=Ready"}


def auth_mount(spec: PlatformSpec, cluster: str) -> str:
    """The cluster's Kubernetes auth mount path in Vault."""
    # Called only with in_cluster (the add-on applies then); the assertion narrows the types.
    assert spec.vault is not None and spec.vault.in_cluster is not None  # pragma: no mutate
    return f"{spec.vault.in_cluster.auth_mount_prefix}-{spec.project.name}-{cluster}"


def api_endpoint(kubeconfig: str) -> tuple[str, str]:
    """The API server's URL and CA certificate (PEM) of a kubeconfig's current context.

    Vault calls that API (TokenReview) and must verify it; a kubeconfig without the CA's data
    (a file path, or no CA: the system's roots) cannot tell Vault whom to trust, and Vault
    refuses a configuration without a CA when it may not read one locally.
    """
    config = yaml.safe_load(kubeconfig) or {}
    contexts = {item["name"]: item["context"] for item in config.get("contexts") or []}
    clusters = {item["name"]: item["cluster"] for item in config.get("clusters") or []}
    current = contexts.get(config.get("current-context"), {}).get("cluster")
    cluster = clusters.get(current) if current in clusters else next(iter(clusters.values()), None)
    if cluster is None or "certificate-authority-data" not in cluster:
        raise ValueError(
            "the cluster's kubeconfig names no CA certificate (certificate-authority-data): Vault cannot verify "
            "its API; give the kubeconfig the CA's data"
        )
    return str(cluster["server"]), base64.b64decode(cluster["certificate-authority-data"]).decode()


def auth_config_args(server: pulumi.Input[str], ca_pem: pulumi.Input[str]) -> dict[str, Any]:
    """The auth mount's configuration (vault.kubernetes.AuthBackendConfig arguments).

    `disable_local_ca_jwt`: Vault never uses a token or CA of a pod it may itself run in (it
    would review this cluster's tokens with another cluster's credential); with it, Vault
    requires the CA (OpenBao path_config.go). `disable_iss_validation` is the server's default
    and deprecated; the provider always sends a value (terraform-provider-vault
    resource_kubernetes_auth_backend_config.go), so it is said here, as the server has it.
    """
    return {
        "kubernetes_host": server,
        "kubernetes_ca_cert": ca_pem,
        "disable_local_ca_jwt": True,
        "disable_iss_validation": True,
    }


def role_args(policy: pulumi.Input[str]) -> dict[str, Any]:
    """The role on the cluster's mount (vault.kubernetes.AuthBackendRole arguments, without backend)."""
    return {
        "role_name": ROLE,
        "bound_service_account_names": [READER],
        "bound_service_account_namespaces": [NAMESPACE],
        "token_policies": [policy],
        "token_ttl": TOKEN_SECONDS,
        "token_max_ttl": TOKEN_SECONDS,
    }


def external_secrets_values() -> dict[str, Any]:
    """The External Secrets Operator's chart values (external-secrets 2.9.0 values.yaml).

    Two controller replicas with leader election and two webhook replicas, each with a
    disruption budget (the webhook validates every store and ExternalSecret: `failurePolicy:
    Fail`); pods meet Pod Security `restricted` (the chart's container defaults already drop
    every capability and run as non-root; the pod's seccomp profile is added). Only what
    Meridian uses runs: the push secret and ClusterExternalSecret reconcilers are off (push
    secrets would write into Vault, where the role may not); `processClusterGenerator` only
    drops cluster generators from the operator's RBAC. Least privilege: the operator may not
    request tokens for any account but the reader (`rbac.serviceAccountTokenCreate` off, a Role
    of Meridian's instead), and the built-in `edit` and `admin` roles get no ExternalSecret
    rights (`rbac.aggregateToEdit/Admin` off: a namespace editor could otherwise read through
    the store).
    """
    pod_security = {"enabled": True, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    budget = {"enabled": True, "minAvailable": 1}
    return {
        "installCRDs": True,
        "replicaCount": 2,
        "leaderElect": True,
        "processPushSecret": False,
        "processClusterPushSecret": False,
        "processClusterExternalSecret": False,
        "processClusterGenerator": False,
        "serviceAccount": {"name": CONTROLLER},
        "rbac": {"serviceAccountTokenCreate": False, "aggregateToEdit": False, "aggregateToAdmin": False},
        "podSecurityContext": pod_security,
        "podDisruptionBudget": budget,
        "resources": container_resources("20m", "64Mi", "256Mi"),
        "webhook": {
            "replicaCount": 2,
            "podSecurityContext": pod_security,
            "podDisruptionBudget": budget,
            "resources": container_resources("10m", "32Mi", "128Mi"),
        },
        "certController": {
            "podSecurityContext": pod_security,
            "resources": container_resources("10m", "32Mi", "128Mi"),
        },
    }


def external_secrets_release(cluster_name: str) -> ChartRelease:
    """The External Secrets Operator's release on one cluster."""
    return chart_release(
        f"{cluster_name}-external-secrets", "external-secrets", namespace=NAMESPACE, values=external_secrets_values()
    )


def store_document(
    spec: PlatformSpec, cluster: str, labels: Mapping[str, str], mount_path: pulumi.Input[str]
) -> dict[str, Any]:
    """The ClusterSecretStore: Vault at `in_cluster.address`, logged in as the reader on the cluster's mount.

    The reader's namespace is named, so ESO logs in when it checks the store (its Ready condition
    is a real login) and every ExternalSecret uses that one account; only ExternalSecrets in
    `RUNTIME_NAMESPACES` may use the store (`conditions`).
    """
    # pragma: no mutate start - narrows a type for mypy; the add-on applies only with in_cluster
    assert spec.vault is not None and spec.vault.in_cluster is not None, "applies only with in_cluster"
    # pragma: no mutate end
    in_cluster = spec.vault.in_cluster
    vault: dict[str, Any] = {
        "server": in_cluster.address,
        "path": in_cluster.mount,
        "version": f"v{in_cluster.kv_version}",
        "auth": {
            "kubernetes": {
                # The cluster's auth mount (`auth_mount`), as the mount resource gives its path.
                "mountPath": mount_path,
                "role": ROLE,
                "serviceAccountRef": {"name": READER, "namespace": NAMESPACE},
            }
        },
    }
    if spec.vault.namespace is not None:
        vault["namespace"] = spec.vault.namespace
    if in_cluster.ca_bundle is not None:
        vault["caBundle"] = base64.b64encode(in_cluster.ca_bundle.encode()).decode()
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": STORE, "labels": dict(labels), "annotations": dict(WAIT_READY)},
        "spec": {"provider": {"vault": vault}, "conditions": [{"namespaces": list(RUNTIME_NAMESPACES)}]},
    }


def runtime_key(in_cluster: VaultInClusterSpec | None, ref: str) -> tuple[str, str] | None:
    """(key inside the mount, field) of a reference the clusters read themselves, else None.

    Only `vault:` references on the in-cluster mount under the project's prefix qualify: those
    are what the clusters' policy lets them read.
    """
    found = VAULT_REF.match(ref)
    if in_cluster is None or found is None or found["mount"] != in_cluster.mount:
        return None
    if not found["path"].startswith(f"{in_cluster.path}/"):
        return None
    return found["path"], found["field"]


def external_secret_document(
    name: str, namespace: str, data: Mapping[str, str], in_cluster: VaultInClusterSpec, labels: Mapping[str, str]
) -> dict[str, Any]:
    """An ExternalSecret making the Secret `name` in `namespace` from references under `in_cluster`.

    :param data: the Secret's keys and the `vault:` reference each comes from (all readable at run time).
    """
    entries = []
    for key, ref in data.items():
        found = runtime_key(in_cluster, ref)
        if found is None:
            raise ValueError(f"{ref} is not under the clusters' readable prefix")
        entries.append({"secretKey": key, "remoteRef": {"key": found[0], "property": found[1]}})
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "annotations": dict(WAIT_READY)},
        "spec": {
            "refreshInterval": in_cluster.refresh_interval,
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": STORE},
            # The Secret belongs to the ExternalSecret (an owner reference): removing it from the stack
            # removes the Secret. A key gone from Vault leaves the Secret as it was (`Retain`, ESO's
            # default; `Delete` would remove it, and the pods that need it would not start).
            "target": {"name": name, "creationPolicy": "Owner", "deletionPolicy": "Retain"},
            "data": entries,
        },
    }


def delivered_at_run_time(context: AddonContext, refs: Sequence[str]) -> bool:
    """Whether the cluster reads all of `refs` itself (ESO on it, each under the readable prefix)."""
    spec = context.spec
    in_cluster = spec.vault.in_cluster if spec is not None and spec.vault is not None else None
    return "external_secrets" in context.installed and all(runtime_key(in_cluster, ref) for ref in refs)


def runtime_secret(
    resource: str,
    context: AddonContext,
    *,
    name: str,
    namespace: str,
    data: Mapping[str, str],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> pulumi.Resource:
    """The Secret `name` with `data`'s keys, read by the cluster at run time where it can (module docstring).

    :param data: each key of the Secret and the reference (`vault:` or `config:`) its value comes from.
    :param namespace: one of `RUNTIME_NAMESPACES` (the store serves no other).
    """
    from ..secrets import secret

    if namespace not in RUNTIME_NAMESPACES:
        raise ValueError(f"{namespace} is not among the store's namespaces (external_secrets.RUNTIME_NAMESPACES)")

    if delivered_at_run_time(context, list(data.values())):
        assert context.spec is not None and context.spec.vault is not None
        assert context.spec.vault.in_cluster is not None
        document = external_secret_document(name, namespace, data, context.spec.vault.in_cluster, context.labels)
        return kubernetes_object(
            resource,
            document,
            provider=context.provider,
            parent=parent,
            depends_on=[context.installed["external_secrets"], *depends_on],
        )
    import pulumi_kubernetes as k8s

    return k8s.core.v1.Secret(
        resource,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(context.labels)),
        type="Opaque",
        string_data={key: secret(ref) for key, ref in data.items()},
        opts=pulumi.ResourceOptions(parent=parent, provider=context.provider, depends_on=list(depends_on)),
    )


class ExternalSecrets(pulumi.ComponentResource):
    """One cluster's way to Vault: its auth mount and role there, the operator and store here."""

    store: pulumi.Resource
    """The ClusterSecretStore (ExternalSecrets wait for it)."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Install the operator and connect it to Vault.

        :param name: `<cluster>-external-secrets`.
        :param context: the cluster's add-on context (its kubeconfig's API address and CA, the project's Vault).
        """
        super().__init__("meridian:addons:ExternalSecrets", name, None, opts)
        import pulumi_kubernetes as k8s
        import pulumi_vault as vault

        from ..vaultside import vault_project

        spec, cluster = context.spec, context.cluster_name
        # pragma: no mutate start - narrows a type for mypy; the add-on applies only with in_cluster
        assert spec is not None and spec.vault is not None and spec.vault.in_cluster is not None
        # pragma: no mutate end
        project = vault_project(context.project)
        on_vault = pulumi.ResourceOptions(parent=self, provider=project.provider)
        mount = vault.AuthBackend(
            f"{cluster}-vault-auth",
            type="kubernetes",
            path=auth_mount(spec, cluster),
            description=f"Meridian: service accounts of cluster {cluster} of {spec.project.name}",
            opts=on_vault,
        )
        # Only the API's address and its CA, which are public, leave the (secret) kubeconfig.
        endpoint = pulumi.Output.unsecret(context.parent.kubeconfig.apply(api_endpoint))
        config = vault.kubernetes.AuthBackendConfig(
            f"{cluster}-vault-auth-config",
            backend=mount.path,
            **auth_config_args(endpoint[0], endpoint[1]),
            opts=on_vault,
        )
        # pragma: no mutate start - narrows a type for mypy; the project's side exists with in_cluster
        assert project.policy_name is not None, "the project's policy exists with in_cluster"
        # pragma: no mutate end
        role = vault.kubernetes.AuthBackendRole(
            f"{cluster}-vault-role",
            backend=mount.path,
            **role_args(project.policy_name),
            opts=pulumi.ResourceOptions(parent=self, provider=project.provider, depends_on=[config]),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        # ESO's pods meet `restricted` (external_secrets_values).
        namespace = addon_namespace(
            f"{name}-namespace",
            NAMESPACE,
            labels=context.labels,
            enforce="restricted",
            provider=context.provider,
            parent=self,
        )
        release_record = external_secrets_release(cluster)
        # The cluster's way: directly, or by the project's GitOps engine (`delivery: gitops`).
        release = context.deliver(
            release_record,
            parent=self,
            depends_on=[*context.waits(release_record), namespace],
            namespace=namespace.metadata.name,
        )
        reader = k8s.core.v1.ServiceAccount(
            f"{cluster}-vault-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=READER, namespace=namespace.metadata.name, labels=context.labels),
            # Its tokens are requested by ESO for Vault; no pod runs as it.
            automount_service_account_token=False,
            opts=on_cluster,
        )
        delegator = k8s.rbac.v1.ClusterRoleBinding(
            f"{cluster}-vault-reader-auth-delegator",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{READER}-auth-delegator", labels=context.labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="system:auth-delegator"
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=READER, namespace=NAMESPACE)],
            opts=on_cluster,
        )
        # The operator (its own account) may request tokens for the reader and no other account.
        token_role = k8s.rbac.v1.Role(
            f"{cluster}-vault-reader-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{READER}-token", namespace=namespace.metadata.name, labels=context.labels
            ),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""], resources=["serviceaccounts/token"], verbs=["create"], resource_names=[READER]
                )
            ],
            opts=on_cluster,
        )
        token_binding = k8s.rbac.v1.RoleBinding(
            f"{cluster}-vault-reader-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{READER}-token", namespace=namespace.metadata.name, labels=context.labels
            ),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=f"{READER}-token"
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=CONTROLLER, namespace=NAMESPACE)],
            opts=pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=[token_role]),
        )
        self.store = kubernetes_object(
            f"{cluster}-vault-store",
            store_document(spec, cluster, context.labels, mount.path),
            provider=context.provider,
            parent=self,
            # The CRDs and the webhook come with the release; a login needs the role and the delegation.
            depends_on=[release, reader, delegator, token_binding, role],
        )
        self.register_outputs({"mount": mount.path, "store": STORE})
