"""Meridian's Grafana dashboards, built in code, and the ConfigMaps that deliver them.

Three dashboards on the central Grafana (kube-prometheus-stack's), reading the central Prometheus
that every cluster's collector remote-writes to (components/addons/observability.py); every series
there carries the collector's external labels `project`, `site` and `cluster`, which are the
dashboards' template variables:

* `meridian-fleet`      fleet overview: every site and cluster, targets up/down, nodes, remote-write
                        lag and failures, certificates, public endpoints, ingress errors;
* `meridian-gpu`        GPU use by site, pool and MIG profile (DCGM exporter joined to the node's pool);
* `meridian-jupyterhub` JupyterHub users, running servers and spawns.

Why plain JSON from a small typed builder and not grafana-foundation-sdk: the SDK is not installed
here and adding a dependency for three dashboards is not worth it; the dashboard JSON model
(Grafana docs, "JSON model") is stable and Grafana migrates older `schemaVersion`s forward on
load, so the handful of fields written here keeps working across Grafana releases. The builder
assigns panel ids, `refId`s and grid positions, so those cannot collide or overlap.

Delivery: `dashboard_configmaps` returns one ConfigMap per dashboard with the label Grafana's
dashboard sidecar watches. kube-prometheus-stack 88.5.3 sets the sidecar to `grafana_dashboard: "1"`
in every namespace (values.yaml `grafana.sidecar.dashboards.label`, `labelValue`, `searchNamespace:
ALL`; the grafana chart's own default value is empty). The datasource uid `prometheus` is the one the
same chart provisions (`grafana.sidecar.datasources.uid`); Loki's will be `loki`.

Every query names only metrics in `metrics_catalog.KNOWN_METRICS` (tests check it, and that promtool
parses each one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .metrics_catalog import (
    DCGM_MIG_PROFILE_LABEL,
    DCGM_MODEL_LABEL,
    DCGM_NODE_LABELS,
    DCGM_POD_LABEL,
    DCGM_POD_NAMESPACE_LABEL,
    GPU_PRODUCT_NODE_LABEL,
    POOL_NODE_LABEL,
    kube_state_metrics_label,
)

#: The label and value kube-prometheus-stack's Grafana sidecar loads dashboard ConfigMaps by
#: (kube-prometheus-stack 88.5.3 values.yaml, grafana.sidecar.dashboards.label / labelValue).
SIDECAR_LABEL = "grafana_dashboard"
SIDECAR_LABEL_VALUE = "1"
#: The Prometheus datasource kube-prometheus-stack provisions (grafana.sidecar.datasources.uid).
PROMETHEUS_DATASOURCE: Mapping[str, str] = {"type": "prometheus", "uid": "prometheus"}
#: The dashboard JSON schema version written; Grafana migrates older versions forward on load.
SCHEMA_VERSION = 39
#: ConfigMaps hold at most 1 MiB (Kubernetes docs, "ConfigMaps").
CONFIGMAP_MAX_BYTES = 1_048_576

#: Node labels the GPU dashboard needs kube-state-metrics to expose on `kube_node_labels`. It only
#: exposes allow-listed labels (kube-state-metrics `--metric-labels-allowlist`; the chart's
#: `metricLabelsAllowlist`), so the collector must set at least this entry.
NODE_LABELS_ALLOWLIST: tuple[str, ...] = (f"nodes=[{POOL_NODE_LABEL},{GPU_PRODUCT_NODE_LABEL}]",)
#: The pool label as kube-state-metrics exposes it (`label_meridian_io_pool`).
POOL_METRIC_LABEL = kube_state_metrics_label(POOL_NODE_LABEL)

#: Matchers of the common template variables, in every panel query.
SCOPE = 'project=~"$project", site=~"$site", cluster=~"$cluster"'
#: Grafana's rate window: at least four scrape intervals (Grafana docs, "$__rate_interval").
RATE = "[$__rate_interval]"

PanelKind = Literal["timeseries", "stat", "table"]


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel."""

    expr: str
    #: Grafana legend template, e.g. `{{site}} / {{pool}}`.
    legend: str = ""
    #: Instant queries (tables and stats of the current state) rather than a range.
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    """One panel; the builder places it and numbers it."""

    title: str
    kind: PanelKind
    queries: tuple[Query, ...]
    description: str = ""
    #: Grafana unit id (`s`, `percent`, `percentunit`, `celsius`, `watt`, `short`, ...).
    unit: str = "short"
    #: Width in grid columns (of 24) and height in grid rows.
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Variable:
    """A query template variable over one label's values (`label_values(selector, label)`)."""

    name: str
    label: str
    selector: str
    #: The label whose values are offered (defaults to `name`).
    source_label: str = ""

    @property
    def query(self) -> str:
        """The variable's Prometheus `label_values` query."""
        return f"label_values({self.selector}, {self.source_label or self.name})"


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: uid, title, variables and panels in reading order."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = field(default=("meridian",))

    def model(self) -> dict[str, Any]:
        """The Grafana dashboard JSON model."""
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "editable": False,
            "graphTooltip": 1,
            "refresh": "1m",
            "schemaVersion": SCHEMA_VERSION,
            "time": {"from": "now-6h", "to": "now"},
            "timezone": "utc",
            "version": 1,
            "annotations": {"list": []},
            "links": [],
            "templating": {"list": [_variable_model(variable) for variable in self.variables]},
            "panels": _panel_models(self.panels),
        }


def _variable_model(variable: Variable) -> dict[str, Any]:
    return {
        "name": variable.name,
        "label": variable.label,
        "type": "query",
        "datasource": dict(PROMETHEUS_DATASOURCE),
        "query": variable.query,
        "definition": variable.query,
        # 2: refresh the values whenever the time range changes.
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        # All as a regex over the label, so series without the label still match.
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
    }


def _panel_models(panels: Iterable[Panel]) -> list[dict[str, Any]]:
    """Panels numbered from 1 and laid left to right in rows of 24 columns."""
    models = []
    x = y = row_height = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        models.append(_panel_model(number, panel, {"h": panel.height, "w": panel.width, "x": x, "y": y}))
        x += panel.width
        row_height = max(row_height, panel.height)
    return models


def _panel_model(number: int, panel: Panel, grid: dict[str, int]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if panel.kind == "stat":
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value"}
    elif panel.kind == "timeseries":
        options = {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]}}
    elif panel.kind == "table":
        options = {"showHeader": True}
    return {
        "id": number,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(PROMETHEUS_DATASOURCE),
        "gridPos": grid,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": options,
        # Several instant queries in one table come back as one frame each; merge them on their labels.
        "transformations": [{"id": "merge", "options": {}}] if panel.kind == "table" else [],
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": dict(PROMETHEUS_DATASOURCE),
                "expr": query.expr,
                "legendFormat": query.legend,
                "instant": query.instant,
                "range": not query.instant,
                "format": "table" if panel.kind == "table" else "time_series",
            }
            for index, query in enumerate(panel.queries)
        ],
    }


# --- Variables -----------------------------------------------------------------------------------

#: `up` exists for every scrape target of every collector, so its labels list every project, site and cluster.
_SCOPE_VARIABLES = (
    Variable("project", "Project", "up"),
    Variable("site", "Site", 'up{project=~"$project"}'),
    Variable("cluster", "Cluster", 'up{project=~"$project", site=~"$site"}'),
)
_POOL_VARIABLE = Variable("pool", "GPU pool", f"kube_node_labels{{{SCOPE}}}", source_label=POOL_METRIC_LABEL)


# --- GPU joins -----------------------------------------------------------------------------------


def _dcgm(metric: str) -> str:
    """A DCGM series with the node name copied into `node`, from whichever spelling the exporter uses.

    label_replace with `(.+)` leaves a series alone when the source label is absent, so applying
    it for each spelling (`Hostname` up to 4.5.3-4.8.2, `hostname` after) works on both.
    """
    expr = f"{metric}{{{SCOPE}}}"
    for label in DCGM_NODE_LABELS:
        expr = f'label_replace({expr}, "node", "$1", "{label}", "(.+)")'
    return expr


#: One series per node with its pool in `pool` (value 1); `max by` folds the copies from
#: kube-state-metrics replicas or restarts into one, so the join below is many-to-one.
_POOL_OF_NODE = (
    f"label_replace(max by (project, site, cluster, node, {POOL_METRIC_LABEL}) (kube_node_labels{{{SCOPE}, "
    f'{POOL_METRIC_LABEL}=~"$pool"}}), "pool", "$1", "{POOL_METRIC_LABEL}", "(.+)")'
)
_JOIN_POOL = "* on (project, site, cluster, node) group_left (pool)"


def _gpu_by_pool(metric: str) -> str:
    """A DCGM metric joined to its node's pool, with whole GPUs' MIG profile set to `whole GPU`.

    DCGM adds `GPU_I_PROFILE` only to MIG instances; label_replace with the regex `` (anchored,
    so it matches only the empty value) fills the missing profile for whole GPUs.
    """
    joined = f"{_dcgm(metric)} {_JOIN_POOL} {_POOL_OF_NODE}"
    profile = DCGM_MIG_PROFILE_LABEL
    return f'label_replace({joined}, "{profile}", "whole GPU", "{profile}", "")'


def _kube_by_pool(selector: str) -> str:
    """A kube-state-metrics series with a `node` label joined to its node's pool."""
    return f"{selector} {_JOIN_POOL} {_POOL_OF_NODE}"


# --- Dashboards ----------------------------------------------------------------------------------


def _fleet() -> Dashboard:
    by_cluster = "by (project, site, cluster)"
    queue = "prometheus_remote_storage_queue"
    return Dashboard(
        uid="meridian-fleet",
        title="Meridian / Fleet overview",
        description="Every site and cluster that ships metrics: targets, nodes, remote-write health.",
        variables=_SCOPE_VARIABLES,
        panels=(
            Panel(
                "Clusters reporting",
                "stat",
                (Query(f"count(count {by_cluster} (up{{{SCOPE}}}))", instant=True),),
                "Clusters with at least one scrape target in the last five minutes.",
                width=6,
                height=4,
            ),
            Panel(
                "Targets down",
                "stat",
                (Query(f"count(up{{{SCOPE}}} == 0) or vector(0)", instant=True),),
                "Scrape targets whose last scrape failed, across the selection.",
                width=6,
                height=4,
            ),
            Panel(
                "Nodes not ready",
                "stat",
                (
                    Query(
                        f'sum(kube_node_status_condition{{{SCOPE}, condition="Ready", status!="true"}}) or vector(0)',
                        instant=True,
                    ),
                ),
                "Nodes whose Ready condition is false or unknown (kube-state-metrics).",
                width=6,
                height=4,
            ),
            Panel(
                "Public endpoints failing",
                "stat",
                (Query(f"count(probe_success{{{SCOPE}}} == 0) or vector(0)", instant=True),),
                "Blackbox probes whose last probe failed.",
                width=6,
                height=4,
            ),
            Panel(
                "Clusters",
                "table",
                (
                    Query(f"sum {by_cluster} (up{{{SCOPE}}}) / count {by_cluster} (up{{{SCOPE}}})", instant=True),
                    Query(
                        f"time() - max {by_cluster} "
                        f"(max_over_time({queue}_highest_sent_timestamp_seconds{{{SCOPE}}}[1d]))",
                        instant=True,
                    ),
                    Query(
                        f'sum {by_cluster} (kube_node_status_condition{{{SCOPE}, condition="Ready", status="true"}})',
                        instant=True,
                    ),
                ),
                "Per cluster: share of scrape targets up (A), seconds since the newest sample its collector "
                "delivered (B; still shown for a day after a cluster goes silent), Ready nodes (C).",
                width=24,
                height=9,
            ),
            Panel(
                "Remote-write lag",
                "timeseries",
                (
                    Query(
                        f"max {by_cluster} ({queue}_highest_timestamp_seconds{{{SCOPE}}} "
                        f"- {queue}_highest_sent_timestamp_seconds{{{SCOPE}}})",
                        "{{site}} / {{cluster}}",
                    ),
                ),
                "Newest sample each collector has queued minus the newest it has sent (per remote-write queue).",
                unit="s",
            ),
            Panel(
                "Remote-write failures",
                "timeseries",
                (
                    Query(
                        f"sum {by_cluster} (rate(prometheus_remote_storage_samples_failed_total{{{SCOPE}}}{RATE}))",
                        "failed {{site}} / {{cluster}}",
                    ),
                    Query(
                        f"sum {by_cluster} (rate(prometheus_remote_storage_samples_retried_total{{{SCOPE}}}{RATE}))",
                        "retried {{site}} / {{cluster}}",
                    ),
                    Query(
                        f"sum {by_cluster} (prometheus_remote_storage_samples_pending{{{SCOPE}}})",
                        "pending {{site}} / {{cluster}}",
                    ),
                ),
                "Samples per second that failed or were retried, and samples waiting in the queues.",
            ),
            Panel(
                "Failing scrape jobs",
                "table",
                (Query(f"count by (project, site, cluster, job) (up{{{SCOPE}}} == 0)", instant=True),),
                "Scrape jobs with failing targets, per cluster.",
            ),
            Panel(
                "Certificates: days to expiry",
                "table",
                (
                    # The Certificate's namespace comes as exported_namespace: the scrape target's
                    # `namespace` (cert-manager's own) wins without honorLabels (observability.py).
                    Query(
                        f"min by (project, site, cluster, exported_namespace, name) "
                        f"(certmanager_certificate_expiration_timestamp_seconds{{{SCOPE}}} - time()) / 86400",
                        instant=True,
                    ),
                ),
                "cert-manager certificates; renewal normally happens 30 days before expiry.",
            ),
            Panel(
                "Public endpoints",
                "table",
                (
                    Query(f"min by (project, site, cluster, instance) (probe_success{{{SCOPE}}})", instant=True),
                    Query(
                        f"min by (project, site, cluster, instance) "
                        f"(probe_ssl_earliest_cert_expiry{{{SCOPE}}} - time()) / 86400",
                        instant=True,
                    ),
                ),
                "Blackbox probes: last result (A, 1 is up) and days until the served certificate expires (B).",
            ),
            Panel(
                "Ingress 5xx responses",
                "timeseries",
                (
                    Query(
                        f'sum {by_cluster} (rate(traefik_entrypoint_requests_total{{{SCOPE}, code=~"5.."}}{RATE}))',
                        "{{site}} / {{cluster}}",
                    ),
                ),
                "Server errors per second at each cluster's Traefik entry points.",
                unit="reqps",
            ),
        ),
    )


def _gpu() -> Dashboard:
    by_pool = "by (site, pool)"
    legend = "{{site}} / {{pool}}"
    fb_used = _gpu_by_pool("DCGM_FI_DEV_FB_USED")
    fb_free = _gpu_by_pool("DCGM_FI_DEV_FB_FREE")
    # kube-state-metrics sanitises extended resource names (nvidia.com/gpu -> nvidia_com_gpu); MIG
    # devices under the mixed strategy are nvidia.com/mig-<profile> (GPU Operator docs, "MIG support").
    gpu_resources = 'resource=~"nvidia_com_gpu|nvidia_com_mig_.+"'
    allocatable = f"kube_node_status_allocatable{{{SCOPE}, {gpu_resources}}}"
    requests = f"kube_pod_container_resource_requests{{{SCOPE}, {gpu_resources}}}"
    running = f'(kube_pod_status_phase{{{SCOPE}, phase="Running"}} == 1)'
    return Dashboard(
        uid="meridian-gpu",
        title="Meridian / GPU use",
        description="GPU use by site, pool and MIG profile (DCGM exporter, joined to the node's pool).",
        variables=(*_SCOPE_VARIABLES, _POOL_VARIABLE),
        panels=(
            Panel(
                "GPUs and MIG instances",
                "table",
                (
                    Query(
                        f"count by (site, pool, {DCGM_MIG_PROFILE_LABEL}) ({fb_used})",
                        instant=True,
                    ),
                ),
                "Devices DCGM reports, by site, pool and MIG profile (whole GPUs as `whole GPU`).",
            ),
            Panel(
                "GPU utilisation",
                "timeseries",
                (Query(f"avg {by_pool} ({_gpu_by_pool('DCGM_FI_DEV_GPU_UTIL')})", legend),),
                "Mean share of time a kernel ran, per pool (whole GPUs; DCGM does not report it for MIG instances).",
                unit="percent",
            ),
            Panel(
                "Graphics engine active by MIG profile",
                "timeseries",
                (
                    Query(
                        f"avg by (site, pool, {DCGM_MIG_PROFILE_LABEL}) "
                        f"({_gpu_by_pool('DCGM_FI_PROF_GR_ENGINE_ACTIVE')})",
                        f"{legend} / {{{{{DCGM_MIG_PROFILE_LABEL}}}}}",
                    ),
                ),
                "Ratio of time the graphics engine was active, per MIG profile (whole GPUs and MIG instances).",
                unit="percentunit",
            ),
            Panel(
                "Tensor pipe active",
                "timeseries",
                (Query(f"avg {by_pool} ({_gpu_by_pool('DCGM_FI_PROF_PIPE_TENSOR_ACTIVE')})", legend),),
                "Ratio of cycles the tensor pipes were active, per pool.",
                unit="percentunit",
            ),
            Panel(
                "GPU memory used",
                "timeseries",
                (
                    Query(
                        f"sum {by_pool} ({fb_used}) / (sum {by_pool} ({fb_used}) + sum {by_pool} ({fb_free}))", legend
                    ),
                ),
                "Framebuffer used over used plus free, per pool.",
                unit="percentunit",
            ),
            Panel(
                "GPUs requested and allocatable",
                "timeseries",
                (
                    Query(
                        f"sum by (site, pool, resource) ({_kube_by_pool(allocatable)})",
                        "allocatable {{site}} / {{pool}} / {{resource}}",
                    ),
                    Query(
                        f"sum by (site, pool, resource) ({_kube_by_pool(requests)} "
                        f"and on (project, site, cluster, namespace, pod) {running})",
                        "requested {{site}} / {{pool}} / {{resource}}",
                    ),
                ),
                "Whole GPUs and MIG devices (`nvidia_com_mig_<profile>`) nodes offer, and what running pods request.",
            ),
            Panel(
                "Power draw",
                "timeseries",
                (Query(f"sum {by_pool} ({_gpu_by_pool('DCGM_FI_DEV_POWER_USAGE')})", legend),),
                "Watts drawn by the GPUs of each pool.",
                unit="watt",
            ),
            Panel(
                "Hottest GPU",
                "timeseries",
                (Query(f"max {by_pool} ({_gpu_by_pool('DCGM_FI_DEV_GPU_TEMP')})", legend),),
                "Highest GPU temperature in each pool.",
                unit="celsius",
            ),
            Panel(
                "GPUs with an XID error",
                "table",
                (
                    Query(
                        f"max by (site, cluster, pool, node, gpu, {DCGM_MODEL_LABEL}) "
                        f"({_gpu_by_pool('DCGM_FI_DEV_XID_ERRORS')}) > 0",
                        instant=True,
                    ),
                ),
                "The last XID error each GPU reported (NVIDIA's XID catalogue explains the codes).",
                width=24,
            ),
        ),
    )


def _jupyterhub() -> Dashboard:
    by_hub = "by (project, site, cluster)"
    hub = "{{site}} / {{cluster}}"
    spawns = "jupyterhub_server_spawn_duration_seconds"
    # Spawns are rare: an hour's window keeps the quantiles defined between them.
    successful_spawns = f'sum by (site, cluster, le) (rate({spawns}_bucket{{{SCOPE}, status="success"}}[1h]))'
    return Dashboard(
        uid="meridian-jupyterhub",
        title="Meridian / JupyterHub",
        description="Users, running servers and spawns of every hub.",
        variables=_SCOPE_VARIABLES,
        panels=(
            Panel(
                "Running servers",
                "stat",
                (Query(f"sum(jupyterhub_running_servers{{{SCOPE}}})", instant=True),),
                width=6,
                height=4,
            ),
            Panel(
                "Active users (24 h)",
                "stat",
                (Query(f'sum(jupyterhub_active_users{{{SCOPE}, period="24h"}})', instant=True),),
                width=6,
                height=4,
            ),
            Panel(
                "Active users (30 days)",
                "stat",
                (Query(f'sum(jupyterhub_active_users{{{SCOPE}, period="30d"}})', instant=True),),
                width=6,
                height=4,
            ),
            Panel(
                "Users",
                "stat",
                (Query(f"sum(jupyterhub_total_users{{{SCOPE}}})", instant=True),),
                width=6,
                height=4,
            ),
            Panel(
                "Running servers by hub",
                "timeseries",
                (Query(f"sum {by_hub} (jupyterhub_running_servers{{{SCOPE}}})", hub),),
            ),
            Panel(
                "Active users",
                "timeseries",
                (Query(f"sum by (site, cluster, period) (jupyterhub_active_users{{{SCOPE}}})", hub + " / {{period}}"),),
                "Users active within the last 24 hours, 7 days and 30 days.",
            ),
            Panel(
                "Spawns per hour by result",
                "timeseries",
                (
                    Query(
                        f"sum by (site, cluster, status) (increase({spawns}_count{{{SCOPE}}}[1h]))",
                        hub + " / {{status}}",
                    ),
                ),
                "Spawn attempts by status: success, failure, already-pending, throttled, too-many-users.",
            ),
            Panel(
                "Spawn duration (successful)",
                "timeseries",
                (
                    Query(
                        f"histogram_quantile(0.5, {successful_spawns})",
                        "median " + hub,
                    ),
                    Query(
                        f"histogram_quantile(0.95, {successful_spawns})",
                        "95th percentile " + hub,
                    ),
                ),
                "Seconds from spawn request to a running server, over the last hour.",
                unit="s",
            ),
            Panel(
                "Hub request latency (95th percentile)",
                "timeseries",
                (
                    Query(
                        f"histogram_quantile(0.95, sum by (site, cluster, le) "
                        f"(rate(jupyterhub_request_duration_seconds_bucket{{{SCOPE}}}{RATE})))",
                        hub,
                    ),
                ),
                "Hub HTTP request duration, all handlers.",
                unit="s",
            ),
            Panel(
                "Hub errors",
                "timeseries",
                (
                    Query(
                        f'sum {by_hub} (rate(jupyterhub_request_duration_seconds_count{{{SCOPE}, code=~"5.."}}{RATE}))',
                        hub,
                    ),
                ),
                "Hub responses with a 5xx status, per second.",
                unit="reqps",
            ),
        ),
    )


def _mlops() -> Dashboard:
    """MLflow, the model services, Argo Workflows and MLflow's database (components/addons/mlflow.py, models.py)."""
    where = "{{site}} / {{cluster}}"
    by = "by (site, cluster)"
    # The model services' traffic as their logins count it (the model server exports no metrics).
    models = f'{SCOPE}, namespace="models"'
    service = 'label_replace({expr}, "service", "$1", "job", "model-(.+)-login")'
    gpu = f'{DCGM_POD_NAMESPACE_LABEL}="models"'
    return Dashboard(
        uid="meridian-mlops",
        title="Meridian / MLOps",
        description="MLflow's tracking server, the model services, Argo Workflows and MLflow's database.",
        variables=_SCOPE_VARIABLES,
        panels=(
            Panel(
                "MLflow requests by status",
                "timeseries",
                (
                    Query(
                        f"sum by (site, cluster, status) (rate(mlflow_http_request_total{{{SCOPE}}}{RATE}))",
                        where + " / {{status}}",
                    ),
                ),
                "Tracking and registry API requests per second (proxied artifact transfers are not counted).",
                unit="reqps",
            ),
            Panel(
                "MLflow latency (95th percentile)",
                "timeseries",
                (
                    Query(
                        "histogram_quantile(0.95, sum by (site, cluster, le) "
                        f"(rate(mlflow_http_request_duration_seconds_bucket{{{SCOPE}}}{RATE})))",
                        where,
                    ),
                ),
                unit="s",
            ),
            Panel(
                "MLflow errors",
                "timeseries",
                (Query(f'sum {by} (rate(mlflow_http_request_total{{{SCOPE}, status=~"5.."}}{RATE}))', where),),
                "Responses with a 5xx status, per second.",
                unit="reqps",
            ),
            Panel(
                "Model service requests",
                "timeseries",
                (
                    Query(
                        service.format(
                            expr=f"sum by (site, cluster, job) (rate(oauth2_proxy_requests_total{{{models}}}{RATE}))"
                        ),
                        "{{service}}",
                    ),
                ),
                "Requests per second through each service's login.",
                unit="reqps",
            ),
            Panel(
                "Model service latency (95th percentile)",
                "timeseries",
                (
                    Query(
                        service.format(
                            expr="histogram_quantile(0.95, sum by (site, cluster, job, le) "
                            f"(rate(oauth2_proxy_response_duration_seconds_bucket{{{models}}}{RATE})))"
                        ),
                        "{{service}}",
                    ),
                ),
                "Time to answer, the model's inference included.",
                unit="s",
            ),
            Panel(
                "Model service errors",
                "timeseries",
                (
                    Query(
                        service.format(
                            expr="sum by (site, cluster, job) "
                            f'(rate(oauth2_proxy_requests_total{{{models}, code=~"5.."}}{RATE}))'
                        ),
                        "{{service}}",
                    ),
                ),
                "Responses with a 5xx status, per second (504: a request outlived the server's timeout).",
                unit="reqps",
            ),
            Panel(
                "Model service replicas",
                "timeseries",
                (
                    Query(
                        f"sum by (site, cluster, horizontalpodautoscaler) "
                        f"(kube_horizontalpodautoscaler_status_current_replicas{{{models}}})",
                        "{{horizontalpodautoscaler}}",
                    ),
                    Query(
                        f"sum by (site, cluster, horizontalpodautoscaler) "
                        f"(kube_horizontalpodautoscaler_spec_max_replicas{{{models}}})",
                        "{{horizontalpodautoscaler}} max",
                    ),
                ),
                "Replicas the autoscaler runs, against its maximum.",
            ),
            Panel(
                "Model service GPU use",
                "timeseries",
                (
                    Query(
                        f"avg by (site, cluster, {DCGM_POD_LABEL}) (DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{SCOPE}, {gpu}}})",
                        "{{" + DCGM_POD_LABEL + "}}",
                    ),
                ),
                "Graphics engine activity of the GPUs (or MIG slices) the model servers hold, 0 to 1.",
                unit="percentunit",
            ),
            Panel(
                "Workflows by phase",
                "timeseries",
                (Query(f"sum by (site, cluster, phase) (argo_workflows_gauge{{{SCOPE}}})", where + " / {{phase}}"),),
                "Workflows the controller knows, by phase (Pending, Running, Succeeded, Failed, Error).",
            ),
            Panel(
                "Workflow controller errors (per hour)",
                "timeseries",
                (
                    Query(
                        f"sum by (site, cluster, cause) (increase(argo_workflows_error_count{{{SCOPE}}}[1h]))",
                        where + " / {{cause}}",
                    ),
                ),
            ),
            Panel(
                "MLflow database up",
                "stat",
                (Query(f"min(cnpg_collector_up{{{SCOPE}}})", instant=True),),
                "1 when every PostgreSQL instance answers its exporter.",
                width=6,
                height=4,
            ),
            Panel(
                "Last base backup",
                "stat",
                (Query(f"time() - max(cnpg_collector_last_available_backup_timestamp{{{SCOPE}}} > 0)", instant=True),),
                "Age of the newest base backup in the object store.",
                unit="s",
                width=6,
                height=4,
            ),
            Panel(
                "Replication lag",
                "timeseries",
                (Query(f"max by (site, cluster, pod) (cnpg_pg_replication_lag{{{SCOPE}}})", "{{pod}}"),),
                "Seconds each standby is behind the primary.",
                unit="s",
            ),
        ),
    )


def dashboard_specs() -> tuple[Dashboard, ...]:
    """Every dashboard as builder objects, in the order Grafana lists them."""
    return (_fleet(), _gpu(), _jupyterhub(), _mlops())


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard's Grafana JSON model, by uid."""
    return {dashboard.uid: dashboard.model() for dashboard in dashboard_specs()}


def dashboard_json(model: Mapping[str, Any]) -> str:
    """A dashboard model serialised deterministically (sorted keys, compact), so ConfigMaps diff only on change."""
    return json.dumps(model, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dashboard_configmaps(namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard, labelled for Grafana's sidecar, data key `<uid>.json`.

    `labels` (the project's common labels) are added; they may not redefine the sidecar label.
    """
    if labels.get(SIDECAR_LABEL, SIDECAR_LABEL_VALUE) != SIDECAR_LABEL_VALUE:
        raise ValueError(
            f"labels may not set {SIDECAR_LABEL}: the sidecar loads only {SIDECAR_LABEL}={SIDECAR_LABEL_VALUE}"
        )
    configmaps = []
    for uid, model in dashboards().items():
        text = dashboard_json(model)
        if len(text.encode()) > CONFIGMAP_MAX_BYTES:
            raise ValueError(f"dashboard {uid} is {len(text.encode())} bytes, over a ConfigMap's {CONFIGMAP_MAX_BYTES}")
        configmaps.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"grafana-dashboard-{uid}",
                    "namespace": namespace,
                    "labels": {**labels, SIDECAR_LABEL: SIDECAR_LABEL_VALUE},
                },
                "data": {f"{uid}.json": text},
            }
        )
    return configmaps


def panel_queries() -> list[str]:
    """Every panel query of every dashboard, in dashboard and panel order."""
    return [query.expr for dashboard in dashboard_specs() for panel in dashboard.panels for query in panel.queries]


#: Grafana's range macros and the value a static check substitutes for each (Grafana docs, "Global
#: variables"); template variables inside matcher strings stay, they are valid PromQL strings.
GRAFANA_RANGE_MACROS: Mapping[str, str] = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}


def concrete(expr: str) -> str:
    """`expr` with Grafana's range macros replaced by durations, for promtool and static checks."""
    for macro, duration in GRAFANA_RANGE_MACROS.items():
        expr = expr.replace(macro, duration)
    return expr


def variable_queries() -> list[str]:
    """Every template variable's `label_values` query of every dashboard."""
    return [variable.query for dashboard in dashboard_specs() for variable in dashboard.variables]
