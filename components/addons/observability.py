"""SiteObservability: every observed cluster's collector, shipping its metrics and logs to the central stack.

Children of `<c>-observability` (`meridian:addons:SiteObservability`, parented to the cluster):

* `<c>-monitoring`              core/v1 Namespace `monitoring` (Pod Security baseline, restricted warned)
* `<c>-node-agents`             core/v1 Namespace `node-agents` (Pod Security privileged): node-exporter, which
                                reads the host's /proc and /sys with the host's network and PID namespaces,
                                and the log collector, which reads /var/log
* `<c>-push-credentials`        core/v1 Secret `meridian-push-credentials`: the user and password the collector
                                authenticates to the central endpoint with (basic auth over TLS)
* `<c>-push-credentials-logs`   the same in `node-agents`, for the log collector
* `<c>-push-ca`, `<c>-push-ca-logs`  core/v1 ConfigMaps `meridian-push-ca`: the project CA's certificate, which
                                the two collectors trust for the push endpoints (pushca.py)
* `<c>-kube-prometheus-stack`   helm.v3.Release of kube-prometheus-stack with its Prometheus in agent mode
* `<c>-alloy`                   helm.v3.Release of Grafana Alloy shipping every pod's logs to the central Loki
* `<c>-monitor-<target>`        monitoring.coreos.com/v1 ServiceMonitors for the add-ons installed before
                                the collector, whose charts cannot make them (Traefik, cert-manager)

Why this collector: Prometheus in agent mode, from kube-prometheus-stack. The chart brings what
the cluster is scraped with (the Prometheus Operator and its CRDs, kube-state-metrics,
node-exporter, the kubelet's and cAdvisor's ServiceMonitors), and the operator picks up the
ServiceMonitors every add-on ships (the GPU Operator's DCGM exporter, Traefik, cert-manager). An
agent keeps no TSDB: it scrapes, appends to its write-ahead log on a persistent volume and
remote-writes, so a central outage is bridged by the WAL (Prometheus docs, "Agent mode"). Grafana
Alloy could scrape too, but it would re-implement the ServiceMonitor discovery the operator
already does and still need kube-state-metrics and node-exporter from somewhere. Logs: Grafana
Alloy, a DaemonSet in `node-agents` (logs.py).

The central cluster runs the same chart with the same agent (CentralObservability, central.py):
its series reach the central store through the same remote-write path, in-cluster, so every
cluster's series carry `project`, `site` and `cluster` the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi

from ..spec import ClusterSpec, PlatformSpec
from ..spec.addons import INTERNET
from ..spec.base import SITE_REF_PREFIX
from ..spec.clusters import POOL_LABEL
from ..spec.observability import ObservabilitySpec
from .base import AddonContext, ChartRelease, chart_release, container_resources, deliver, kubernetes_object
from .base import namespace as addon_namespace
from .gpu_operator import SCRAPE_LABEL
from .logs import LOKI_PUSH_PATH, alloy_release
from .pushca import PUSH_CA_CONFIGMAP, PUSH_CA_KEY, authority, ca_configmap

NAMESPACE = "monitoring"
#: Where node-level agents that need the host run (node-exporter), Pod Security privileged; the
#: policy pack exempts it from its host-access rules (policies/meridian_policies/kubernetes.py).
NODE_AGENTS_NAMESPACE = "node-agents"
PROMETHEUS_STACK_CHART = "kube-prometheus-stack"
#: The Secret with the collectors' basic-auth user and password (keys `username`, `password`).
PUSH_SECRET = "meridian-push-credentials"
#: The path of Prometheus's remote-write receiver (Prometheus docs, "Remote-Write Receiver").
REMOTE_WRITE_PATH = "/api/v1/write"
#: How often the collector scrapes (the chart's default for every ServiceMonitor without its own).
SCRAPE_INTERVAL_SECONDS = 30
#: WAL sizing (see `wal_size_gb`): active series a node adds (node-exporter about 700, kubelet and
#: cAdvisor about 1,500 for a node's pods, kube-state-metrics' objects on it) and a cluster has in
#: any case (kube-state-metrics' cluster objects, the operators, the API server's client metrics).
SERIES_PER_NODE = 2_500
SERIES_PER_CLUSTER = 20_000
#: Bytes a sample takes in the WAL before compression (series reference, timestamp and value
#: delta-encoded; Prometheus tsdb/record): an upper bound, the WAL is written compressed.
WAL_BYTES_PER_SAMPLE = 16
#: Room for the WAL's checkpoints and the segment being written (truncation keeps up to twice
#: the unsent span on disk before it checkpoints).
WAL_HEADROOM = 2
#: The smallest volume worth asking a cloud for (Cinder and EBS bill whole GiB; a small WAL volume
#: would also hit the clouds' minimum throughput classes).
WAL_MIN_GB = 10
#: kube-state-metrics exposes node labels only where allowed (its `--metric-labels-allowlist`):
#: the pool and the GPU product let dashboards and alerts group by pool and GPU model.
NODE_LABELS_ALLOWLIST = [f"nodes=[{POOL_LABEL},nvidia.com/gpu.product,nvidia.com/mig.config]"]
#: The Prometheus Operator's ServiceMonitor selector matching every monitor in every namespace
#: (`serviceMonitorSelectorNilUsesHelmValues: false` leaves the selector empty: all).
SELECT_ALL = {
    "serviceMonitorSelectorNilUsesHelmValues": False,
    "podMonitorSelectorNilUsesHelmValues": False,
    "probeSelectorNilUsesHelmValues": False,
    "scrapeConfigSelectorNilUsesHelmValues": False,
}


@dataclass(frozen=True)
class Endpoints:
    """Where a collector ships: the central store's remote-write URL and Loki's push URL."""

    remote_write: str
    logs: str
    #: Whether the collector goes through the push endpoints (basic auth, over TLS with the project
    #: CA): everywhere but in-cluster on the central cluster.
    authenticated: bool = True


def public_endpoints(observability: ObservabilitySpec) -> Endpoints:
    """The central endpoints as every other cluster reaches them: HTTPS through the central ingress."""
    central = observability.central
    return Endpoints(
        remote_write=f"https://{central.metrics_hostname}{REMOTE_WRITE_PATH}",
        logs=f"https://{central.logs_hostname}{LOKI_PUSH_PATH}",
    )


def is_central(spec: PlatformSpec, cluster_name: str) -> bool:
    """Whether `cluster_name` runs the project's central observability."""
    return spec.observability is not None and spec.observability.central.cluster == cluster_name


def probe_sources(spec: PlatformSpec, cluster_name: str) -> list[str]:
    """What the hub's load balancer of `cluster_name` must admit for the probes: its own site, when it is central.

    The blackbox exporter probes Grafana and the cluster's hub from the central site's egress
    addresses (probes.py); nothing when the load balancer admits the internet already.
    """
    cluster = spec.clusters[cluster_name]
    if not is_central(spec, cluster_name) or INTERNET in cluster.addons.ingress.allowed_sources:
        return []
    return [f"{SITE_REF_PREFIX}{cluster.site}"]


def collector_sources(spec: PlatformSpec, cluster_name: str) -> list[str]:
    """Who the push load balancer of `cluster_name` admits: each observed site, when it is central.

    Collectors reach the central endpoints from their site's egress addresses (components/reachability.py),
    so the allow-list names the sites (`site:<name>`), the central cluster's own site included (its
    blackbox exporter probes the endpoints from there); never the internet, whatever the hub's
    load balancer admits (the push endpoints have a load balancer of their own, ingress.py).
    """
    if not is_central(spec, cluster_name):
        return []
    sites = sorted({cluster.site for cluster in spec.clusters.values() if cluster.addons.observed})
    return [f"{SITE_REF_PREFIX}{site}" for site in sites]


def node_count(cluster: ClusterSpec) -> int:
    """The most nodes the cluster may have: every pool at its max size, plus the control plane where it is ours."""
    workers = sum(pool.max_size for pool in cluster.node_pools.values())
    return workers + (cluster.control_plane.count if cluster.backend in ("rke2", "capi") else 0)


def wal_size_gb(cluster: ClusterSpec, buffer_minutes: int) -> int:
    """The agent's WAL volume: every sample of `buffer_minutes` at the cluster's largest size, with headroom."""
    series = SERIES_PER_CLUSTER + SERIES_PER_NODE * node_count(cluster)
    samples = series / SCRAPE_INTERVAL_SECONDS * buffer_minutes * 60
    return max(WAL_MIN_GB, math.ceil(samples * WAL_BYTES_PER_SAMPLE * WAL_HEADROOM / 2**30))


def external_labels(project: str, site: str, cluster_name: str) -> dict[str, str]:
    """The labels every series and log line of the cluster carries at the central store."""
    return {"project": project, "site": site, "cluster": cluster_name}


def _secret_ref(key: str) -> dict[str, str]:
    return {"name": PUSH_SECRET, "key": key}


def prometheus_stack_values(
    cluster_name: str,
    cluster: ClusterSpec,
    observability: ObservabilitySpec,
    *,
    project: str,
    endpoints: Endpoints,
) -> dict[str, Any]:
    """kube-prometheus-stack in agent mode: scrape the cluster, remote-write with a WAL sized from the spec.

    Values keys are the chart's (kube-prometheus-stack 88.5.3 values.yaml); `prometheus.agentMode`
    makes the chart create a PrometheusAgent instead of a Prometheus (templates/prometheus/prometheus.yaml).
    """
    buffer = observability.buffer_minutes
    remote_write: dict[str, Any] = {
        "url": endpoints.remote_write,
        # Retries with backoff up to 5 minutes apart while the central store is away; samples wait in
        # the WAL meanwhile (Prometheus docs, remote write tuning: queue_config).
        "queueConfig": {"capacity": 10_000, "maxSamplesPerSend": 2_000, "maxBackoff": "5m", "retryOnRateLimit": True},
    }
    if endpoints.authenticated:
        remote_write["basicAuth"] = {"username": _secret_ref("username"), "password": _secret_ref("password")}
        # The push endpoints' certificate is the project CA's (pushca.py): trusted from its ConfigMap.
        remote_write["tlsConfig"] = {"ca": {"configMap": {"name": PUSH_CA_CONFIGMAP, "key": PUSH_CA_KEY}}}
    return {
        "crds": {"enabled": True},
        # Meridian's own rules run centrally (alerts.py), grouped by project, site and cluster; the
        # chart's default rules would aggregate across clusters and evaluate nowhere in agent mode.
        "defaultRules": {"create": False},
        "alertmanager": {"enabled": False},
        "grafana": {"enabled": False},
        # Control-plane components are not reachable on managed control planes (eks, magnum) and
        # listen on 127.0.0.1 on RKE2 servers; the API server's own metrics cover their health.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "kube-state-metrics": {
            "metricLabelsAllowlist": list(NODE_LABELS_ALLOWLIST),
            "resources": container_resources("50m", "128Mi", "512Mi"),
        },
        "prometheus-node-exporter": {
            # The one workload that needs the host (its network and PID namespaces, /proc, /sys and /
            # read-only): in its own privileged namespace, so `monitoring` stays baseline.
            "namespaceOverride": NODE_AGENTS_NAMESPACE,
            "resources": container_resources("20m", "32Mi", "128Mi"),
        },
        "prometheusOperator": {
            "resources": container_resources("50m", "128Mi", "512Mi"),
            # The jobs that make and patch the admission webhook's certificate (both read these).
            "admissionWebhooks": {"patch": {"resources": container_resources("10m", "32Mi", "128Mi")}},
        },
        "prometheus": {
            "agentMode": True,
            "prometheusSpec": {
                **SELECT_ALL,
                "scrapeInterval": f"{SCRAPE_INTERVAL_SECONDS}s",
                "externalLabels": external_labels(project, cluster.site, cluster_name),
                "remoteWrite": [remote_write],
                # Samples older than the buffer are dropped from the WAL at truncation even if
                # unsent (Prometheus agent flag --storage.agent.retention.max-time).
                "additionalArgs": [{"name": "storage.agent.retention.max-time", "value": f"{buffer}m"}],
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{wal_size_gb(cluster, buffer)}Gi"}},
                        }
                    }
                },
                "resources": container_resources("200m", "1Gi", "4Gi"),
            },
        },
    }


def merge(into: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `extra` into `into`, maps key by key (as Helm merges values files); other values replace."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


def collector_release(
    cluster_name: str,
    cluster: ClusterSpec,
    observability: ObservabilitySpec,
    *,
    project: str,
    endpoints: Endpoints,
    stack_values: Mapping[str, Any] | None = None,
) -> ChartRelease:
    """The collector's release: kube-prometheus-stack with its Prometheus in agent mode.

    :param stack_values: kube-prometheus-stack values merged over the agent's (`merge`): the central
        cluster adds Alertmanager, Grafana and its Prometheus account's IAM role to the same release.
    """
    values = prometheus_stack_values(cluster_name, cluster, observability, project=project, endpoints=endpoints)
    merge(values, stack_values or {})
    return chart_release(
        f"{cluster_name}-kube-prometheus-stack",
        PROMETHEUS_STACK_CHART,
        namespace=NAMESPACE,
        values=values,
        waits_for=("block_storage",) if cluster.backend in ("eks", "rke2", "capi") else (),
    )


def _publishes(spec: PlatformSpec, cluster_name: str) -> bool:
    """Whether the ingress add-on installs Traefik on the cluster (`ingress.publishes`).

    Imported when called: the ingress module imports this one.
    """
    from .ingress import publishes

    return publishes(spec, cluster_name)


#: ServiceMonitors for add-ons installed before the collector, by add-on key: (name, namespace,
#: the Service's selector, its metrics port name, whether the add-on installs that Service's chart
#: on the cluster). Traefik's metrics Service: traefik chart `metrics.prometheus.service` (port
#: `metrics`), only where the ingress add-on installs Traefik (`ingress.publishes`: a management
#: cluster that publishes nothing gets cert-manager alone); cert-manager's: its chart's
#: `prometheus.enabled` Service (port `http-metrics`, 9402), cert-manager templates/service.yaml.
ADDON_MONITORS: dict[str, list[tuple[str, str, dict[str, str], str, Callable[[PlatformSpec, str], bool]]]] = {
    "ingress": [
        (
            "traefik",
            "traefik",
            {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/component": "metrics"},
            "metrics",
            _publishes,
        ),
        (
            "cert-manager",
            "cert-manager",
            {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"},
            "http-metrics",
            lambda spec, cluster_name: True,
        ),
    ],
}


def service_monitor(
    name: str, namespace: str, selector: Mapping[str, str], port: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    """A ServiceMonitor (monitoring.coreos.com/v1) scraping one port of the Services `selector` matches."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {**labels, **SCRAPE_LABEL}},
        "spec": {
            "namespaceSelector": {"matchNames": [namespace]},
            "selector": {"matchLabels": dict(selector)},
            "endpoints": [{"port": port, "interval": f"{SCRAPE_INTERVAL_SECONDS}s"}],
        },
    }


def monitoring_namespace(component: pulumi.ComponentResource, context: AddonContext) -> Any:
    """The `monitoring` Namespace under `component`.

    The central stack makes it first: the Secrets its release reads there must wait for it.
    """
    return addon_namespace(
        f"{context.cluster_name}-monitoring",
        NAMESPACE,
        labels=context.labels,
        enforce="baseline",
        warn="restricted",
        provider=context.provider,
        parent=component,
    )


def collector_objects(
    component: pulumi.ComponentResource,
    context: AddonContext,
    observability: ObservabilitySpec,
    endpoints: Endpoints,
    *,
    stack_values: Mapping[str, Any] | None = None,
    depends_on: list[pulumi.Resource] | None = None,
    by_engine: bool = False,
    namespace: Any = None,
) -> dict[str, pulumi.Resource]:
    """Create the collector's resources under `component` (shared by SiteObservability and CentralObservability).

    :param by_engine: deliver the collector's releases the cluster's way (`AddonContext.deliver`),
        which is the GitOps engine on a `delivery: gitops` cluster; otherwise always directly.
    :param namespace: the `monitoring` Namespace when the caller made it (`monitoring_namespace`).
    """
    import pulumi_kubernetes as k8s

    from .. import secrets

    # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
    assert context.spec is not None, "the Platform hands every add-on the spec"
    # pragma: no mutate end
    cluster_name = context.cluster_name
    created: dict[str, pulumi.Resource] = {}
    namespace = namespace or monitoring_namespace(component, context)
    node_agents = addon_namespace(
        f"{cluster_name}-node-agents",
        NODE_AGENTS_NAMESPACE,
        labels=context.labels,
        enforce="privileged",
        provider=context.provider,
        parent=component,
    )
    created["namespace"] = namespace
    needs: list[pulumi.Resource] = [namespace, node_agents, *(depends_on or [])]
    logs_needs: list[pulumi.Resource] = [node_agents]
    if endpoints.authenticated:
        # One Secret and one CA ConfigMap in each namespace whose pods read them: the agent's, and
        # the log collector's.
        password = secrets.secret(observability.push_password)
        cert_pem = authority(context.project).cert_pem
        for role, where, found in (("", NAMESPACE, needs), ("-logs", NODE_AGENTS_NAMESPACE, logs_needs)):
            on_cluster = pulumi.ResourceOptions(
                parent=component, provider=context.provider, depends_on=[namespace, node_agents]
            )
            found.append(
                k8s.core.v1.Secret(
                    f"{cluster_name}-push-credentials{role}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=PUSH_SECRET, namespace=where, labels=context.labels),
                    type="kubernetes.io/basic-auth",
                    string_data={"username": context.spec.project.name, "password": password},
                    opts=on_cluster,
                )
            )
            found.append(ca_configmap(f"{cluster_name}-push-ca{role}", where, cert_pem, context.labels, on_cluster))
    stack = collector_release(
        cluster_name,
        context.cluster,
        observability,
        project=context.spec.project.name,
        endpoints=endpoints,
        stack_values=stack_values,
    )
    # The site collector goes the cluster's way (by the GitOps engine with `delivery: gitops`); the
    # central stack's is always installed directly (central.py: its values carry its login's names
    # and its own releases are direct).
    install = context.deliver if by_engine else partial(deliver, provider=context.provider)
    created["stack"] = install(
        stack,
        parent=component,
        depends_on=[*needs, *context.waits(stack)],
        namespace=namespace.metadata.name,
    )
    logs = alloy_release(
        cluster_name,
        NODE_AGENTS_NAMESPACE,
        external_labels(context.spec.project.name, context.cluster.site, cluster_name),
        endpoints.logs,
        PUSH_SECRET if endpoints.authenticated else None,
    )
    created["logs"] = install(logs, parent=component, depends_on=logs_needs, namespace=node_agents.metadata.name)
    for key, monitors in ADDON_MONITORS.items():
        if key in context.installed:
            for name, namespace_name, selector, port, installs in monitors:
                if not installs(context.spec, cluster_name):
                    continue
                created[f"monitor-{name}"] = kubernetes_object(
                    f"{cluster_name}-monitor-{name}",
                    service_monitor(name, namespace_name, selector, port, context.labels),
                    provider=context.provider,
                    parent=component,
                    depends_on=[created["stack"], context.installed[key]],
                )
    return created


class SiteObservability(pulumi.ComponentResource):
    """A cluster's collector shipping to the project's central observability (see the module docstring)."""

    def __init__(self, name: str, context: AddonContext, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Build the collector of `context.cluster_name`.

        :param name: `<cluster>-observability`.
        :param context: the cluster's add-on context; its spec declares `observability`.
        :param opts: options of the component.
        """
        super().__init__("meridian:addons:SiteObservability", name, None, opts)
        # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
        assert context.spec is not None and context.spec.observability is not None, "applies only when declared"
        # pragma: no mutate end
        self.resources = collector_objects(
            self, context, context.spec.observability, public_endpoints(context.spec.observability), by_engine=True
        )
        self.register_outputs({})  # pragma: no mutate - no outputs either way
