"""JupyterHub: the zero-to-jupyterhub chart for the project's scientists, derived from the spec.

Children of `<c>-jupyterhub` (`meridian:addons:JupyterHub`, parented to the cluster):

* `<c>-jupyterhub`                   core/v1 Namespace `jupyterhub` (Pod Security baseline), kept when the
                                     hub is removed from the stack (retain_on_delete): the users' volumes live in it
* `<c>-jupyterhub-gpu-quota`         core/v1 ResourceQuota capping each GPU resource the profiles request
                                     (only when a profile asks for GPUs)
* `<c>-jupyterhub-cookie-secret`, `<c>-jupyterhub-crypt-key`
                                     random.RandomBytes (32 bytes, secret): what the hub needs and nobody chooses
* `<c>-jupyterhub-secrets`           core/v1 Secret `meridian-hub-secrets` the chart reads (hub.existingSecret):
                                     the cookie secret, the auth-state key and the OAuth client secret
* `<c>-jupyterhub`                   helm.v3.Release of jupyterhub/jupyterhub at the locked version
* `<c>-jupyterhub-metrics`, `<c>-jupyterhub-metrics-token`, `<c>-jupyterhub-monitor`
                                     on observed clusters: the collector's JupyterHub service token
                                     (random.RandomBytes), its Secret, and a ServiceMonitor of /hub/metrics
* `<c>-jupyterhub-dns`               the hostname's A record at the ingress load balancer's addresses:
                                     a Designate RecordSet (OpenStack) or a Route53 Record (AWS), dns.py

No credential is in the chart values (policy credentials-not-in-plain-config): Helm keeps values
in its release Secret and Pulumi in the stack state. The chart merges `values.yaml` of the
existing Secret into its configuration and reads `hub.config.JupyterHub.cookie_secret` and
`hub.config.CryptKeeper.keys` from it first (z2jh 4.4.0 files/hub/z2jh.py `get_secret_value`,
jupyterhub_config.py). The proxy's token is the one secret it cannot take from there: the
proxy and hub read it from the chart's own Secret only (templates/hub/deployment.yaml, note on
CONFIGPROXY_AUTH_TOKEN), so the chart generates it and keeps it across upgrades by reading its
own Secret back (templates/hub/_helpers-passwords.tpl, `lookup`).

What the hub image runs (z2jh 4.4.0 images/hub/requirements.txt): jupyterhub 5.5.0, kubespawner
7.0.0, oauthenticator 17.4.0, jupyterhub-idle-culler 1.4.0. Settings below are named for those.

Persistence: user homes are PVCs KubeSpawner creates (`claim-<user>`); Helm does not own them,
so an uninstall leaves them, and the namespace holding them is retained when the hub leaves the
stack. The hub database PVC is the chart's: `helm.sh/resource-policy: keep` makes Helm leave it
on uninstall (Helm docs, "Tell Helm not to uninstall a resource"). Renaming the cluster's hub
keeps both: the namespace and release names do not derive from the resource name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi

from ..spec import ClusterSpec, JupyterHubSpec
from ..spec.addons import profile_resource
from ..spec.clusters import POOL_LABEL
from ..spec.gpu import ClusterGpuSummary, gpu_summary
from ..yamlout import dump
from .base import (
    AddonContext,
    ChartRelease,
    chart_release,
    container_resources,
    deliver,
    kubernetes_object,
    secrets_checksum,
)
from .base import namespace as addon_namespace
from .dns import public_record
from .ingress import INGRESS_CLASS, Ingress
from .mlflow import NotebookAccess, client_env, notebook_access
from .storage import applies as storage_applies

JUPYTERHUB_CHART = "jupyterhub"
NAMESPACE = "jupyterhub"
#: The Secret cert-manager writes the hub's certificate to (ingress-shim, from the Ingress's tls block).
TLS_SECRET = "jupyterhub-tls"
#: OAuthenticator classes by the spec's kind: the chart's hub.config section and the
#: authenticator_class entry point (oauthenticator 17.4.0 pyproject.toml entry points).
AUTHENTICATOR_CLASSES = {"generic-oauth": "GenericOAuthenticator", "github": "GitHubOAuthenticator"}
#: Why a JupyterHub component always finds the hub in its cluster's spec.
APPLIES_WHERE_ENABLED = "the add-on list applies the hub only where the spec enables it"
#: Hub pod annotation carrying `secrets_checksum` of HUB_SECRET.
SECRETS_CHECKSUM = "meridian.io/secrets-checksum"
#: Seconds KubeSpawner waits for a server to start (pulling a large image included).
START_TIMEOUT = 900
#: Helm leaves an object with this annotation in place on uninstall.
KEEP = {"helm.sh/resource-policy": "keep"}
#: The Secret Meridian writes and the chart reads (hub.existingSecret).
HUB_SECRET = "meridian-hub-secrets"
#: Generated secrets, by the key of HUB_SECRET they fill.
GENERATED = {"cookie-secret": "hub.config.JupyterHub.cookie_secret", "crypt-key": "hub.config.CryptKeeper.keys"}
#: On observed clusters the collector reads the hub's /hub/metrics as a JupyterHub service with the
#: read:metrics scope only (JupyterHub 5 scopes; metrics need authentication by default,
#: `authenticate_prometheus`). Its token is a file of HUB_SECRET the chart reads first
#: (files/hub/jupyterhub_config.py: `get_secret_value(f"hub.services.{key}.apiToken")`), and a
#: Secret of its own the ServiceMonitor names.
METRICS_SERVICE = "prometheus"
METRICS_TOKEN_KEY = f"hub.services.{METRICS_SERVICE}.apiToken"
METRICS_SECRET = "meridian-hub-metrics"
#: The hub Service's port and metrics path (z2jh templates/hub/service.yaml: port `hub`, 8081).
HUB_METRICS_PORT = "hub"
HUB_METRICS_PATH = "/hub/metrics"


def gpu_resources(cluster: ClusterSpec, hub: JupyterHubSpec) -> dict[str, str]:
    """Each profile's GPU resource name, by profile slug (only profiles with GPUs)."""
    found = {}
    for slug, profile in hub.profiles.items():
        if profile.gpu is not None:
            resource = profile_resource(profile.gpu, cluster.gpu_pools)
            # The spec refuses a profile no pool can serve (JupyterHubSpec.pool_problems).
            assert isinstance(resource, str), resource
            found[slug] = resource
    return found


def gpu_quota(summary: ClusterGpuSummary, cluster: ClusterSpec, hub: JupyterHubSpec) -> dict[str, int]:
    """The most of each GPU resource the hub's servers may request together.

    Every resource a profile requests is capped: at the spec's `gpu_quota`, else at what the
    cluster's pools offer at their max size (`summary`, the one GPU summary of the cluster).
    """
    offered = summary.resources
    return {
        resource: hub.gpu_quota.get(resource, offered[resource])
        for resource in sorted(set(gpu_resources(cluster, hub).values()) | set(hub.gpu_quota))
    }


def gpu_node_tolerations(cluster: ClusterSpec) -> list[dict[str, str]]:
    """Tolerations for every taint of every GPU pool, each once."""
    found: list[dict[str, str]] = []
    for pool in cluster.gpu_pools:
        found.extend(toleration for toleration in pool_tolerations(cluster, pool) if toleration not in found)
    return found


def pool_tolerations(cluster: ClusterSpec, pool: str) -> list[dict[str, str]]:
    """Tolerations for every taint of `pool` (the GPU taint and the pool's own)."""
    tolerations = []
    for taint in cluster.node_pools[pool].node_taints:
        if taint.value:
            tolerations.append({"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect})
        else:
            tolerations.append({"key": taint.key, "operator": "Exists", "effect": taint.effect})
    return tolerations


def profile_list(cluster: ClusterSpec, hub: JupyterHubSpec) -> list[dict[str, Any]]:
    """KubeSpawner's profile_list, one entry per spec profile (kubespawner 7.0.0 `profile_list`).

    `kubespawner_override` sets KubeSpawner traits by their Python names: `node_selector`, not
    `nodeSelector`, which KubeSpawner would set as a plain attribute and ignore. A list override
    (tolerations) replaces the spawner's list; a dict one (node_selector) merges into it.
    Memory is in JupyterHub's ByteSpecification (`8G`: GiB; `8Gi` is refused); CPUs are floats.
    """
    resources = gpu_resources(cluster, hub)
    default = next((slug for slug, profile in hub.profiles.items() if profile.default), next(iter(hub.profiles)))
    entries = []
    for slug, profile in hub.profiles.items():
        override: dict[str, Any] = {
            "cpu_guarantee": profile.cpu,
            "cpu_limit": profile.cpu if profile.cpu_limit is None else profile.cpu_limit,
            "mem_guarantee": f"{profile.memory_gb}G",
            "mem_limit": f"{profile.memory_gb if profile.memory_limit_gb is None else profile.memory_limit_gb}G",
        }
        if profile.gpu is not None:
            # Extended resources are requested through limits; Kubernetes sets the request equal.
            override["extra_resource_limits"] = {resources[slug]: str(profile.gpu.count)}
            override["node_selector"] = {POOL_LABEL: profile.gpu.pool}
            override["tolerations"] = pool_tolerations(cluster, profile.gpu.pool)
        if profile.image is not None:
            override["image"] = f"{profile.image.name}:{profile.image.reference}"
        entry: dict[str, Any] = {
            "display_name": profile.display_name,
            "slug": slug,
            "description": profile.description,
            "kubespawner_override": override,
        }
        if slug == default:
            entry["default"] = True
        entries.append(entry)
    return entries


def _authenticator(hub: JupyterHubSpec) -> tuple[str, dict[str, Any]]:
    """The hub.config section name and its settings (oauthenticator 17.4.0 traits), without the client secret."""
    auth = hub.authenticator
    scheme = "https" if hub.tls else "http"
    settings: dict[str, Any] = {
        "client_id": auth.client_id,
        "oauth_callback_url": f"{scheme}://{hub.hostname}/hub/oauth_callback",
        "scope": auth.scopes,
        "allow_all": auth.allow_all,
        "allowed_users": list(auth.allowed_users),
        "admin_users": list(auth.admin_users),
        # Tokens kept encrypted in the hub database (CryptKeeper keys below).
        "enable_auth_state": True,
    }
    if auth.kind == "generic-oauth":
        settings.update(
            authorize_url=auth.authorize_url,
            token_url=auth.token_url,
            userdata_url=auth.userdata_url,
            username_claim=auth.username_claim,
        )
        if auth.groups_claim is not None:
            # OAuthenticator 17: groups come from auth_state and count only with manage_groups.
            settings.update(
                manage_groups=True,
                auth_state_groups_key=f"oauth_user.{auth.groups_claim}",
                allowed_groups=list(auth.allowed_groups),
                admin_groups=list(auth.admin_groups),
            )
    else:
        settings["allowed_organizations"] = list(auth.allowed_organizations)
    return AUTHENTICATOR_CLASSES[auth.kind], settings


def hub_secret_data(hub: JupyterHubSpec, secrets: Mapping[str, pulumi.Input[str]]) -> dict[str, pulumi.Output[str]]:
    """The data of HUB_SECRET: the generated secrets and the client secret inside a values.yaml.

    :param secrets: `cookie-secret` and `crypt-key` (64 hex characters each) and `client-secret`;
        on observed clusters `metrics-token`, the collector's JupyterHub service token.
    """
    section = AUTHENTICATOR_CLASSES[hub.authenticator.kind]
    values = pulumi.Output.from_input(secrets["client-secret"]).apply(
        lambda client_secret: dump({"hub": {"config": {section: {"client_secret": client_secret}}}})
    )
    data = {key: pulumi.Output.secret(secrets[name]) for name, key in GENERATED.items()}
    if "metrics-token" in secrets:
        data[METRICS_TOKEN_KEY] = pulumi.Output.secret(secrets["metrics-token"])
    return {**data, "values.yaml": pulumi.Output.secret(values)}


def metrics_values() -> dict[str, Any]:
    """The hub values that let the cluster's collector read /hub/metrics (merged into `hub`)."""
    from .observability import NAMESPACE as COLLECTOR_NAMESPACE

    return {
        "services": {METRICS_SERVICE: {"name": METRICS_SERVICE}},
        "loadRoles": {
            "meridian-metrics": {
                "description": "The cluster's metrics collector: reads /hub/metrics, nothing else",
                "scopes": ["read:metrics"],
                "services": [METRICS_SERVICE],
            }
        },
        # The hub's NetworkPolicy admits only pods labelled for it in its own namespace; the
        # collector scrapes from its namespace, on the hub's port only.
        "networkPolicy": {
            "enabled": True,
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": COLLECTOR_NAMESPACE}}}
                    ],
                    "ports": [{"port": "http"}],
                }
            ],
        },
    }


def hub_service_monitor(labels: Mapping[str, str]) -> dict[str, Any]:
    """The collector's ServiceMonitor of the hub, with the metrics service's token.

    Prometheus Operator API: Endpoint.authorization, credentials from a Secret of the monitor's namespace.
    The selector is the hub Service's labels (z2jh templates/hub/service.yaml, `jupyterhub.labels`).
    """
    from .gpu_operator import SCRAPE_LABEL

    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "jupyterhub", "namespace": NAMESPACE, "labels": {**labels, **SCRAPE_LABEL}},
        "spec": {
            "selector": {
                "matchLabels": {"app.kubernetes.io/component": "hub", "app.kubernetes.io/instance": "jupyterhub"}
            },
            "endpoints": [
                {
                    "port": HUB_METRICS_PORT,
                    "path": HUB_METRICS_PATH,
                    "interval": "60s",
                    "authorization": {"type": "Bearer", "credentials": {"name": METRICS_SECRET, "key": "token"}},
                }
            ],
        },
    }


def jupyterhub_values(
    cluster: ClusterSpec,
    hub: JupyterHubSpec,
    *,
    issuer: str | None,
    secrets_checksum: pulumi.Input[str],
    mlflow: NotebookAccess | None = None,
) -> dict[str, Any]:
    """The chart values of the hub: the one place its configuration comes from (no credential in them).

    :param issuer: the ClusterIssuer that signs the hub's certificate (None without TLS).
    :param secrets_checksum: `secrets_checksum` of the hub's Secret data.
    :param mlflow: the project's MLflow, as the notebooks reach it (mlflow.py `notebook_access`).
    """
    section, authenticator = _authenticator(hub)
    culling = hub.culling
    ingress: dict[str, Any] = {
        "enabled": True,
        "ingressClassName": INGRESS_CLASS,
        "hosts": [hub.hostname],
        "pathType": "Prefix",
    }
    if hub.tls:
        ingress["annotations"] = {"cert-manager.io/cluster-issuer": issuer}
        ingress["tls"] = [{"hosts": [hub.hostname], "secretName": TLS_SECRET}]
    database_pvc: dict[str, Any] = {"storage": f"{hub.database.size_gb}Gi", "annotations": dict(KEEP)}
    if hub.database.storage_class is not None:
        database_pvc["storageClassName"] = hub.database.storage_class
    user_storage: dict[str, Any] = {"type": "dynamic", "capacity": f"{hub.user_storage.size_gb}Gi"}
    if hub.user_storage.storage_class is not None:
        user_storage["dynamic"] = {"storageClass": hub.user_storage.storage_class}
    return {
        "hub": {
            "config": {
                "JupyterHub": {"authenticator_class": hub.authenticator.kind},
                section: authenticator,
                # Deleting a user in the admin page keeps their home volume (kubespawner 7.0.0
                # delete_pvc defaults to true): data goes only by an operator's decision.
                "KubeSpawner": {"delete_pvc": False},
            },
            # Cookie secret, auth-state key and client secret (module docstring).
            "existingSecret": HUB_SECRET,
            # The hub reads that Secret once, at start, and restarts only when the chart's own
            # Secret changes (templates/hub/deployment.yaml checksum/secret): a checksum of ours
            # in the pod's annotations rolls it when a secret rotates.
            "annotations": {SECRETS_CHECKSUM: secrets_checksum},
            # sqlite on a volume Helm leaves behind on uninstall.
            "db": {"type": "sqlite-pvc", "pvc": database_pvc},
            "networkPolicy": {"enabled": True},
            "resources": container_resources("200m", "512Mi", "1Gi"),
            **(metrics_values() if cluster.addons.observed else {}),
        },
        "proxy": {
            # Reached through the ingress controller only.
            "service": {"type": "ClusterIP"},
            "https": {"enabled": False},
            "chp": {"networkPolicy": {"enabled": True}, "resources": container_resources("100m", "256Mi", "512Mi")},
        },
        "scheduling": {
            # The chart's user scheduler runs its own kube-scheduler image (v1.30 in chart 4.4.0),
            # more than three minor versions behind the clusters' 1.33-1.35 API servers, outside
            # Kubernetes' version skew policy. User pods go to the cluster's own scheduler.
            "userScheduler": {"enabled": False},
            # Placeholder pods hold room for users on autoscaled node groups; Meridian's pools are
            # sized by the spec, so they would only keep nodes busy.
            "userPlaceholder": {"enabled": False},
        },
        # The image pullers only pull: their containers run `echo` (templates/image-puller).
        "prePuller": {
            "resources": container_resources("10m", "16Mi", "64Mi"),
            "hook": {"resources": container_resources("10m", "32Mi", "128Mi")},
            # The pullers run where user pods may run: GPU nodes too, so a GPU profile's image
            # is on the node before its first server starts (templates/image-puller: the
            # DaemonSets take scheduling.userPods, singleuser.extraTolerations and these).
            "extraTolerations": gpu_node_tolerations(cluster),
        },
        "singleuser": {
            "image": {"name": hub.image.name, "tag": hub.image.reference},
            # CUDA notebook images are several GB: pulling one on a node the pullers have not
            # reached yet outlasts KubeSpawner's default 300 s (chart values.yaml startTimeout).
            "startTimeout": START_TIMEOUT,
            "storage": user_storage,
            # The singleuser NetworkPolicy keeps user pods off the cloud metadata server (its
            # egressAllowRules.cloudMetadataServer is false by default) where the CNI enforces
            # policies (rke2, capi, Magnum); on eks, whose CNI does not, the nodes' IMDS hop limit
            # of 1 does (components/clusters/eks.py). The chart's other way, an iptables init
            # container, runs privileged as root with NET_ADMIN in every user pod
            # (files/hub/jupyterhub_config.py), which Pod Security baseline refuses.
            "cloudMetadata": {"blockWithIptables": False},
            "networkPolicy": {"enabled": True, **({"egress": mlflow.egress} if mlflow and mlflow.egress else {})},
            "profileList": profile_list(cluster, hub),
            # The mlflow client's tracking server (MLFLOW_TRACKING_URI), set in every notebook.
            **({"extraEnv": client_env(mlflow.url)} if mlflow is not None else {}),
        },
        "cull": {
            "enabled": culling.enabled,
            "timeout": culling.timeout_minutes * 60,
            "every": culling.every_minutes * 60,
            "maxAge": culling.max_age_hours * 3600,
            # Culling users would delete their home volumes with them (kubespawner delete_forever).
            "users": False,
        },
        "ingress": ingress,
    }


def jupyterhub_release(
    cluster_name: str,
    cluster: ClusterSpec,
    hub: JupyterHubSpec,
    *,
    issuer: str | None,
    secrets_checksum: pulumi.Input[str],
    mlflow: NotebookAccess | None = None,
) -> ChartRelease:
    """The hub's release record, after the add-ons it needs.

    After ingress (its controller and issuer serve the hub) and, where Meridian makes the default
    StorageClass, after block storage (the hub's database claim is bound through it).
    """
    return chart_release(
        f"{cluster_name}-jupyterhub",
        JUPYTERHUB_CHART,
        namespace=NAMESPACE,
        values=jupyterhub_values(cluster, hub, issuer=issuer, secrets_checksum=secrets_checksum, mlflow=mlflow),
        waits_for=(
            *(("block_storage",) if storage_applies(cluster) else ()),
            "ingress",
            # Its ServiceMonitor is an object of the collector's CRDs.
            *(("observability",) if cluster.addons.observed else ()),
        ),
        # The chart's pre-install hook pulls every profile image to the nodes first.
        timeout=1800,
    )


class JupyterHub(pulumi.ComponentResource):
    """JupyterHub on one cluster, with profiles from its pools and a quota on their GPUs."""

    release: ChartRelease
    """The release record (values hold the generated secrets as secret Outputs)."""
    quota: dict[str, int]
    """The GPU quota of the users' namespace, by resource name."""
    generated: dict[str, pulumi.Output[str]]
    """The secrets the program generates for the hub, by key (secret Outputs): what Vault write-back stores."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Install the hub the spec of `context.cluster` asks for.

        :param name: `<cluster>-jupyterhub`; prefixes the children's names.
        :param context: the cluster, its provider and the add-ons installed before (ingress).
        :param opts: options of the component itself.
        """
        super().__init__("meridian:addons:JupyterHub", name, None, opts)
        import pulumi_kubernetes as k8s
        import pulumi_random as random

        from ..secrets import secret

        cluster = context.cluster
        hub = cluster.addons.hub
        assert hub is not None, APPLIES_WHERE_ENABLED
        on_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        # Hub, proxy and user pods need no privileges (z2jh 4.4.0 securityContext defaults; the
        # iptables init container is off, jupyterhub_values). The users' home volumes live here:
        # removing the hub from the stack must not delete them (Pulumi option retainOnDelete).
        namespace = addon_namespace(
            name,
            NAMESPACE,
            labels=context.labels,
            enforce="baseline",
            warn="restricted",
            provider=context.provider,
            parent=self,
            retain_on_delete=True,
        )
        secrets: dict[str, pulumi.Input[str]] = {
            key: random.RandomBytes(f"{name}-{key}", length=32, opts=pulumi.ResourceOptions(parent=self)).hex
            for key in GENERATED
        }
        secrets["client-secret"] = secret(hub.authenticator.client_secret)
        if cluster.addons.observed:
            secrets["metrics-token"] = random.RandomBytes(
                f"{name}-metrics-token", length=32, opts=pulumi.ResourceOptions(parent=self)
            ).hex
        self.generated = {key: pulumi.Output.secret(value) for key, value in secrets.items() if key != "client-secret"}
        secret_data = hub_secret_data(hub, secrets)
        hub_secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=HUB_SECRET, namespace=namespace.metadata.name, labels=context.labels
            ),
            type="Opaque",
            string_data=secret_data,
            opts=on_cluster,
        )
        acme = cluster.addons.ingress.acme
        self.release = jupyterhub_release(
            context.cluster_name,
            cluster,
            hub,
            # The spec gives a TLS hub an ACME account; without TLS the values name no issuer.
            issuer=acme.issuer if acme is not None else None,
            secrets_checksum=secrets_checksum(secret_data),
            mlflow=notebook_access(context.spec, context.cluster_name),
        )
        summary = gpu_summary(context.cluster_name, cluster)
        self.quota = gpu_quota(summary, cluster, hub)
        depends: list[pulumi.Resource] = [*context.waits(self.release), hub_secret]
        if self.quota:
            depends.append(
                k8s.core.v1.ResourceQuota(
                    f"{name}-gpu-quota",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name="gpu-quota", namespace=namespace.metadata.name, labels=context.labels
                    ),
                    # Extended resources take only the requests. prefix in a quota (Kubernetes
                    # docs, "Resource Quotas": resource quota for extended resources).
                    spec=k8s.core.v1.ResourceQuotaSpecArgs(
                        hard={f"requests.{resource}": str(count) for resource, count in self.quota.items()}
                    ),
                    opts=on_cluster,
                )
            )
        release = deliver(
            self.release,
            provider=context.provider,
            parent=self,
            depends_on=depends,
            namespace=namespace.metadata.name,
        )
        if cluster.addons.observed:
            token = k8s.core.v1.Secret(
                f"{name}-metrics",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=METRICS_SECRET, namespace=namespace.metadata.name, labels=context.labels
                ),
                type="Opaque",
                string_data={"token": pulumi.Output.secret(secrets["metrics-token"])},
                opts=on_cluster,
            )
            kubernetes_object(
                f"{name}-monitor",
                hub_service_monitor(context.labels),
                provider=context.provider,
                parent=self,
                depends_on=[token, release],
            )
        # The hostname's record, at the ingress load balancer's addresses (the hub waits for ingress).
        ingress = cast(Ingress, context.installed["ingress"])  # pragma: no mutate - cast does nothing at run time
        public_record(name, hub.hostname, ingress.addresses, context.site, self, "JupyterHub")
        self.register_outputs(
            {"cluster": summary.cluster, "hostname": hub.hostname, "namespace": NAMESPACE, "gpu_quota": self.quota}
        )
