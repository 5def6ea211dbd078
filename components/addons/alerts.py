"""Meridian's alert rules: typed definitions, rendered as a Prometheus rule file or a PrometheusRule object.

The rules run on the *central* Prometheus (components/addons/central.py). It stores what every
cluster's collector remote-writes, each series carrying the collector's external labels
`project`, `site` and `cluster` (observability.external_labels), so series of many clusters meet
in one store: every aggregation below keeps those three labels, and the rest keep every label.

Each alert is a function of `AlertThresholds` (components/spec/observability.py) returning an
`AlertRule`; `ALERTS` is the one table of them. The same module writes `promtool test rules`
cases for every alert (`promtool_tests`): one where it fires on a bad series, with the exact
labels and annotations expected, and one where it stays silent on a good one. tests/test_alerts.py
runs them, and `promtool check rules`, with the real promtool (Debian's prometheus package).

Nothing here creates resources; the central add-on delivers `prometheus_rule(...)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..spec.observability import AlertThresholds, Severity

#: How often the central Prometheus evaluates every group (the collectors scrape every 30 s; a
#: minute is the resolution the thresholds, all in minutes or longer, need).
EVALUATION_INTERVAL = "1m"
#: The labels a series of one cluster carries at the central store (observability.external_labels).
SITE_LABELS = ("project", "site", "cluster")
#: Blackbox probes of JupyterHub carry this static target label (set on the Probe object's
#: `targets.staticConfig.labels`), so the hub's alert can pick them out of every probe.
TARGET_KIND_LABEL = "target_kind"
JUPYTERHUB_TARGET_KIND = "jupyterhub"
#: EndpointDown has no threshold of its own: five minutes rides out a rolling restart of an
#: ingress controller or a single lost probe, and is what hub_down_minutes defaults to.
ENDPOINT_DOWN_FOR = "5m"
#: A cluster that stopped sending longer ago than this stops being reported stale (decommissioned,
#: or long known); at least a day, and at least twice the staleness threshold so it can fire at all.
STALE_LOOKBACK_MINUTES = 24 * 60
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule, as typed data."""

    #: The alert's name (`alertname`), CamelCase as Prometheus convention has it.
    name: str
    #: Which rule group it belongs to (groups are evaluated independently; one per subject).
    group: str
    #: The PromQL condition; every series it returns is an alert.
    expr: str
    #: How long the condition must hold before the alert fires (a Prometheus duration, "0s" for at once).
    for_: str
    #: `critical` or `warning`; receivers subscribe by severity (ReceiverSpec.severities).
    severity: Severity
    #: One line; a template over the alert's labels (`{{ $labels.cluster }}`), never a credential.
    summary: str
    #: What is wrong and where to look; a template like `summary`.
    description: str
    #: Every metric the expression reads.
    metrics: tuple[str, ...]

    def rule(self) -> dict[str, Any]:
        """The rule as a Prometheus rule-file entry (also the PrometheusRule CRD's `rules[]` item)."""
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity},
            "annotations": {"summary": self.summary, "description": self.description},
        }


@dataclass(frozen=True)
class PromtoolCase:
    """One `promtool test rules` case: input series, when to look, and which alerts must be firing then."""

    #: The alert under test.
    alert: str
    #: Series selector (`metric{label="value"}`) -> promtool's expanding notation (`0+60x30`).
    series: Mapping[str, str]
    #: When to evaluate, as a duration from the start of the series.
    eval_time: str
    #: The label sets of the alerts expected to be firing (without `alertname` and `severity`,
    #: which come from the rule); empty for a case where the alert must stay silent.
    fires: tuple[Mapping[str, str], ...] = ()


def _l(name: str) -> str:
    """A template reference to one of the alert's labels."""
    return "{{ $labels." + name + " }}"


#: Where an alert is, in every annotation: the three labels every alert keeps.
WHERE = f"cluster {_l('cluster')} (site {_l('site')}, project {_l('project')})"
_BY_SITE = ", ".join(SITE_LABELS)


def _by(*labels: str) -> str:
    """An aggregation's `by (...)` clause: the site labels first, then `labels`."""
    return f"by ({', '.join((*SITE_LABELS, *labels))})"


def site_stale(t: AlertThresholds) -> AlertRule:
    """No `up` sample from a cluster for `site_stale_minutes` though it sent some within the lookback."""
    lookback = max(STALE_LOOKBACK_MINUTES, 2 * t.site_stale_minutes)
    return AlertRule(
        name="SiteStale",
        group="meridian-collectors",
        # Every collector scrapes targets and remote-writes their `up` series (a series per
        # target, whatever its value), so a cluster that has none in the window sends nothing.
        # Critical: every other alert about that cluster is blind while it is stale.
        expr=(
            f"group by ({_BY_SITE}) (present_over_time(up[{lookback}m]))\n"
            f"unless\n"
            f"group by ({_BY_SITE}) (present_over_time(up[{t.site_stale_minutes}m]))"
        ),
        for_="0s",
        severity="critical",
        summary=f"No metrics from {WHERE}",
        description=(
            f"The central store has received no sample from {WHERE} for {t.site_stale_minutes} minutes. "
            "Its collector, its network path to the central metrics endpoint, or the cluster itself is down; "
            "until it is back, no other alert about this cluster can fire."
        ),
        metrics=("up",),
    )


def remote_write_failing(t: AlertThresholds) -> AlertRule:
    """A collector failed to send `remote_write_failure_percent` of its samples over 15 minutes."""
    return AlertRule(
        name="RemoteWriteFailing",
        group="meridian-collectors",
        # Both counters are per queue (labels remote_name and url) and samples_total counts every
        # sample sent, failed ones included (Prometheus storage/remote/queue_manager.go,
        # newQueueManagerMetrics), so the ratio is the share lost. Failed samples are dropped,
        # not retried; a collector that sends nothing at all shows as SiteStale instead.
        # Warning: the central view is incomplete but still arriving; SiteStale is the outage.
        expr=(
            "100 * rate(prometheus_remote_storage_samples_failed_total[15m])\n"
            "  / rate(prometheus_remote_storage_samples_total[15m])\n"
            f">= {t.remote_write_failure_percent}"
        ),
        for_="5m",
        severity="warning",
        summary=f"Collector of {WHERE} is failing to send metrics",
        description=(
            f"The collector of {WHERE} failed to send at least {t.remote_write_failure_percent}% of its samples "
            f"to queue {_l('remote_name')} over the last 15 minutes; those samples are lost. "
            "Check the central metrics endpoint's logs for rejected writes (out-of-order or too-old samples)."
        ),
        metrics=("prometheus_remote_storage_samples_failed_total", "prometheus_remote_storage_samples_total"),
    )


def remote_write_lagging(t: AlertThresholds) -> AlertRule:
    """A collector's newest sample sent is `remote_write_lag_seconds` behind its newest sample read."""
    return AlertRule(
        name="RemoteWriteLagging",
        group="meridian-collectors",
        # Both gauges are per queue, with the constant labels remote_name and url (prometheus
        # v3.14.0 storage/remote/queue_manager.go), so they match one to one. The per-Prometheus
        # highest_timestamp_in_seconds is deprecated for queue_highest_timestamp_seconds
        # (storage/remote/write.go, its help text), which the Fleet dashboard's panel reads too.
        # Warning: lagging samples wait in the collector's WAL (buffer_minutes) and still arrive.
        expr=(
            "prometheus_remote_storage_queue_highest_timestamp_seconds\n"
            "- prometheus_remote_storage_queue_highest_sent_timestamp_seconds\n"
            f">= {t.remote_write_lag_seconds}"
        ),
        for_="5m",
        severity="warning",
        summary=f"Collector of {WHERE} is behind in sending metrics",
        description=(
            f"The newest sample the collector of {WHERE} has sent on queue {_l('remote_name')} is at least "
            f"{t.remote_write_lag_seconds} seconds older than the newest it has scraped. Samples are buffered "
            "in its write-ahead log and lost once the lag outgrows it; check the central endpoint's latency "
            "and the collector's shard count."
        ),
        metrics=(
            "prometheus_remote_storage_queue_highest_timestamp_seconds",
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        ),
    )


def node_not_ready(t: AlertThresholds) -> AlertRule:
    """A node whose Ready condition is not true for `node_not_ready_minutes`."""
    return AlertRule(
        name="NodeNotReady",
        group="meridian-kubernetes",
        # kube-state-metrics exports one series per condition status (true, false, unknown) and
        # sets the current one to 1, so Ready=true at 0 covers both False and Unknown
        # (kube-state-metrics docs/metrics/cluster/node-metrics.md). max by node: one alert per
        # node even if two kube-state-metrics replicas report it.
        # Warning: Kubernetes evicts the node's pods and reschedules them elsewhere; the
        # user-facing outage this can cause is JupyterHubDown's to report.
        expr=(f'max {_by("node")} (kube_node_status_condition{{condition="Ready", status="true"}}) == 0'),
        for_=f"{t.node_not_ready_minutes}m",
        severity="warning",
        summary=f"Node {_l('node')} of {WHERE} is not Ready",
        description=(
            f"Node {_l('node')} of {WHERE} has not been Ready for {t.node_not_ready_minutes} minutes; "
            "its pods are being evicted. Check the kubelet and the node's instance in the cloud."
        ),
        metrics=("kube_node_status_condition",),
    )


def pod_crash_looping(t: AlertThresholds) -> AlertRule:
    """A container restarting `crash_restarts` times within 15 minutes."""
    return AlertRule(
        name="PodCrashLooping",
        group="meridian-kubernetes",
        # kube-state-metrics' restart counter and waiting reason, per container
        # (docs/metrics/workload/pod-metrics.md). The kubelet doubles the restart delay up to 5
        # minutes, so a loop that has settled restarts only about 3 times in 15 minutes: such a
        # container is caught by its CrashLoopBackOff waiting reason with repeated restarts.
        # Warning: one workload is affected, and its owner can see why in its logs.
        expr=(
            f"max {_by('namespace', 'pod', 'container')} "
            "(increase(kube_pod_container_status_restarts_total[15m]))\n"
            f">= {t.crash_restarts}\n"
            "or\n"
            f"(max {_by('namespace', 'pod', 'container')} "
            '(max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[15m]))\n'
            f"and max {_by('namespace', 'pod', 'container')} "
            "(increase(kube_pod_container_status_restarts_total[30m])) >= 2)"
        ),
        for_="0s",
        severity="warning",
        summary=f"Container {_l('container')} of pod {_l('namespace')}/{_l('pod')} is crash-looping",
        description=(
            f"Container {_l('container')} of pod {_l('namespace')}/{_l('pod')} on {WHERE} restarted at least "
            f"{t.crash_restarts} times in the last 15 minutes, or keeps restarting in CrashLoopBackOff. Its "
            "previous run's logs say why (kubectl logs --previous)."
        ),
        metrics=("kube_pod_container_status_restarts_total", "kube_pod_container_status_waiting_reason"),
    )


def volume_filling(t: AlertThresholds) -> AlertRule:
    """A persistent volume `volume_full_percent` full by bytes."""
    return AlertRule(
        name="VolumeFilling",
        group="meridian-kubernetes",
        # The kubelet reports each mounted PVC's filesystem (kubelet_volume_stats_*, labels
        # namespace and persistentvolumeclaim; pkg/kubelet/metrics/collectors/volume_stats.go).
        # `available` is what a non-root writer may still use (reserved blocks excluded), so
        # "full" is what the workload sees. max by claim: a ReadWriteMany claim is reported by
        # every kubelet that mounts it. A zero capacity (no statistics) is left out.
        # Warning: the threshold is an early warning; the volume still accepts writes.
        expr=(
            f"max {_by('namespace', 'persistentvolumeclaim')} (\n"
            "  100 * (1 - kubelet_volume_stats_available_bytes / (kubelet_volume_stats_capacity_bytes > 0))\n"
            f") >= {t.volume_full_percent}"
        ),
        for_="5m",
        severity="warning",
        summary=f"Volume {_l('namespace')}/{_l('persistentvolumeclaim')} is filling up",
        description=(
            f"Persistent volume claim {_l('namespace')}/{_l('persistentvolumeclaim')} on {WHERE} is at least "
            f"{t.volume_full_percent}% full. Expand the claim or remove data before writes fail."
        ),
        metrics=("kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"),
    )


def volume_inodes_filling(t: AlertThresholds) -> AlertRule:
    """A persistent volume `volume_full_percent` full by inodes (many small files fill those first)."""
    return AlertRule(
        name="VolumeInodesFilling",
        group="meridian-kubernetes",
        # Same kubelet source as VolumeFilling. Filesystems without an inode table (some network
        # filesystems) report 0 inodes: left out, or used/0 would be +Inf and fire.
        # Warning: as VolumeFilling.
        expr=(
            f"max {_by('namespace', 'persistentvolumeclaim')} (\n"
            "  100 * kubelet_volume_stats_inodes_used / (kubelet_volume_stats_inodes > 0)\n"
            f") >= {t.volume_full_percent}"
        ),
        for_="5m",
        severity="warning",
        summary=f"Volume {_l('namespace')}/{_l('persistentvolumeclaim')} is running out of inodes",
        description=(
            f"Persistent volume claim {_l('namespace')}/{_l('persistentvolumeclaim')} on {WHERE} has used at "
            f"least {t.volume_full_percent}% of its inodes: new files will fail although bytes remain. "
            "Look for directories of many small files."
        ),
        metrics=("kubelet_volume_stats_inodes_used", "kubelet_volume_stats_inodes"),
    )


def gpu_xid_errors(t: AlertThresholds) -> AlertRule:
    """A GPU reporting an XID error (no threshold: any XID is worth a look)."""
    return AlertRule(
        name="GpuXidErrors",
        group="meridian-gpu",
        # DCGM_FI_DEV_XID_ERRORS is a gauge holding the code of the *last* XID the GPU reported,
        # not a count (NVIDIA/dcgm-exporter etc/default-counters.csv); the exporter adds the code
        # and its text as labels err_code and err_msg (internal/pkg/collector/gpu_collector.go).
        # So the alert fires while a GPU's last XID is non-zero, one alert per GPU and code.
        # Warning: many XIDs are a user program's fault (an illegal memory access) and the GPU
        # keeps working; the ones that take a GPU away also stop its jobs, which users report.
        expr="DCGM_FI_DEV_XID_ERRORS != 0",
        for_="0s",
        severity="warning",
        summary=f"GPU {_l('gpu')} ({_l('UUID')}) reported XID {_l('err_code')}",
        description=(
            f"GPU {_l('gpu')} ({_l('UUID')}, {_l('modelName')}) on {WHERE} reported XID error {_l('err_code')}: "
            f"{_l('err_msg')}. Look the code up in NVIDIA's XID catalogue: some need a GPU reset or a node drain."
        ),
        metrics=("DCGM_FI_DEV_XID_ERRORS",),
    )


def gpu_memory_pressure(t: AlertThresholds) -> AlertRule:
    """A GPU's framebuffer `gpu_memory_percent` in use for 15 minutes."""
    return AlertRule(
        name="GpuMemoryPressure",
        group="meridian-gpu",
        # Used and free framebuffer in MiB (dcgm-exporter etc/default-counters.csv); the
        # driver-reserved part (DCGM_FI_DEV_FB_RESERVED) is neither, so used/(used+free) is the
        # share of what jobs can have. Both come from one scrape with the same labels (a MIG
        # instance has its own series, labels GPU_I_ID and GPU_I_PROFILE).
        # Warning: jobs that allocate more fail with out-of-memory; nothing else is affected.
        expr=(
            f"100 * DCGM_FI_DEV_FB_USED / ((DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > 0)\n>= {t.gpu_memory_percent}"
        ),
        for_="15m",
        severity="warning",
        summary=f"GPU {_l('gpu')} ({_l('UUID')}) memory nearly full",
        description=(
            f"GPU {_l('gpu')} ({_l('UUID')}, {_l('modelName')}) on {WHERE} has had at least "
            f"{t.gpu_memory_percent}% of its memory in use for 15 minutes; new allocations will fail."
        ),
        metrics=("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"),
    )


def certificate_expiring(t: AlertThresholds) -> AlertRule:
    """A cert-manager Certificate expiring within `certificate_expiry_days`."""
    return AlertRule(
        name="CertificateExpiring",
        group="meridian-certificates",
        # cert-manager's gauge of each Certificate's notAfter, in Unix seconds, labels name,
        # namespace and issuer_* (cert-manager pkg/metrics/certificates.go). The collector's
        # ServiceMonitor keeps target labels (honorLabels false), so the Certificate's namespace
        # arrives as exported_namespace. 0 means not yet known and is left out.
        # Warning: the certificate is still valid; cert-manager renews at 30 days, so firing
        # means renewal has failed for two weeks and there are days to fix it. An expired
        # certificate on a public endpoint fails its probe, which EndpointDown reports.
        expr=(
            f"(certmanager_certificate_expiration_timestamp_seconds > 0) - time()\n"
            f"< {t.certificate_expiry_days} * {SECONDS_PER_DAY}"
        ),
        for_="15m",
        severity="warning",
        summary=f"Certificate {_l('exported_namespace')}/{_l('name')} expires soon",
        description=(
            f"Certificate {_l('exported_namespace')}/{_l('name')} on {WHERE}, from issuer {_l('issuer_name')}, "
            f"expires in less than {t.certificate_expiry_days} days: its renewal is failing. "
            "kubectl describe certificate shows the failing CertificateRequest and Order."
        ),
        metrics=("certmanager_certificate_expiration_timestamp_seconds",),
    )


def endpoint_certificate_expiring(t: AlertThresholds) -> AlertRule:
    """A probed public endpoint serving a certificate chain that expires within `certificate_expiry_days`."""
    return AlertRule(
        name="EndpointCertificateExpiring",
        group="meridian-endpoints",
        # The blackbox exporter's notAfter of the earliest-expiring certificate of the chain it
        # was served, Unix seconds (prometheus/blackbox_exporter prober/tls.go); only TLS probes
        # have it. Covers certificates cert-manager does not manage (a provider's load balancer).
        # Warning: as CertificateExpiring.
        expr=f"probe_ssl_earliest_cert_expiry - time() < {t.certificate_expiry_days} * {SECONDS_PER_DAY}",
        for_="15m",
        severity="warning",
        summary=f"Certificate of {_l('instance')} expires soon",
        description=(
            f"The certificate chain {_l('instance')} serves, as probed from {WHERE}, expires in less than "
            f"{t.certificate_expiry_days} days."
        ),
        metrics=("probe_ssl_earliest_cert_expiry",),
    )


def endpoint_down(t: AlertThresholds) -> AlertRule:
    """A probed endpoint failing its probe for ENDPOINT_DOWN_FOR (every probe, whatever its kind)."""
    return AlertRule(
        name="EndpointDown",
        group="meridian-endpoints",
        # probe_success is 1 when the blackbox probe succeeded (prometheus/blackbox_exporter
        # prober/handler.go), per target (label instance).
        # Warning: the endpoints whose loss is an outage have their own critical alert (the hub:
        # JupyterHubDown; the central metrics endpoint: every cluster turns SiteStale); the
        # rest (Grafana, the logs endpoint) are operators' tools.
        expr="probe_success == 0",
        for_=ENDPOINT_DOWN_FOR,
        severity="warning",
        summary=f"Endpoint {_l('instance')} is down",
        description=(
            f"The probe of {_l('instance')} from {WHERE} has failed for {ENDPOINT_DOWN_FOR}: "
            "unreachable, an error status, or a certificate that does not verify."
        ),
        metrics=("probe_success",),
    )


def jupyterhub_down(t: AlertThresholds) -> AlertRule:
    """The probe of a JupyterHub's URL failing for `hub_down_minutes`."""
    return AlertRule(
        name="JupyterHubDown",
        group="meridian-endpoints",
        # Only probes whose target_kind label says jupyterhub (see TARGET_KIND_LABEL).
        # Critical: the hub is what the platform's users use; while it is down nobody can
        # start or reach a notebook server.
        expr=f'probe_success{{{TARGET_KIND_LABEL}="{JUPYTERHUB_TARGET_KIND}"}} == 0',
        for_=f"{t.hub_down_minutes}m",
        severity="critical",
        summary=f"JupyterHub {_l('instance')} is down",
        description=(
            f"JupyterHub at {_l('instance')}, probed from {WHERE}, has been unreachable for "
            f"{t.hub_down_minutes} minutes: users cannot log in or reach their servers. "
            "Check the hub and proxy pods and the ingress."
        ),
        metrics=("probe_success",),
    )


#: Every alert, in the order they appear in their groups.
ALERTS: tuple[Callable[[AlertThresholds], AlertRule], ...] = (
    site_stale,
    remote_write_failing,
    remote_write_lagging,
    node_not_ready,
    pod_crash_looping,
    volume_filling,
    volume_inodes_filling,
    gpu_xid_errors,
    gpu_memory_pressure,
    certificate_expiring,
    endpoint_certificate_expiring,
    endpoint_down,
    jupyterhub_down,
)


def alert_rules(thresholds: AlertThresholds) -> list[AlertRule]:
    """Every alert rule at `thresholds`."""
    return [alert(thresholds) for alert in ALERTS]


def rule_groups(thresholds: AlertThresholds) -> list[dict[str, Any]]:
    """The groups of a Prometheus rule file (the value of its `groups` key), each evaluated every minute."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in alert_rules(thresholds):
        groups.setdefault(rule.group, []).append(rule.rule())
    return [{"name": name, "interval": EVALUATION_INTERVAL, "rules": rules} for name, rules in groups.items()]


def prometheus_rule(
    name: str, namespace: str, labels: Mapping[str, str], thresholds: AlertThresholds
) -> dict[str, Any]:
    """The PrometheusRule object (monitoring.coreos.com/v1) carrying every group.

    `labels` must include what the central Prometheus's `ruleSelector` matches.
    """
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"groups": rule_groups(thresholds)},
    }


def metric_names() -> set[str]:
    """Every metric the rules read (the same at any thresholds): what the collectors must keep."""
    return {metric for rule in alert_rules(AlertThresholds()) for metric in rule.metrics}


# ---- promtool unit tests ---------------------------------------------------------------------

#: The cluster every test series comes from, and a second, healthy one.
_SITE = {"project": "proj-a", "site": "site-1", "cluster": "gpu-a"}
_OTHER_SITE = {"project": "proj-a", "site": "site-2", "cluster": "cpu-b"}
_SELF_SCRAPE = {"job": "prometheus-agent", "instance": "10.0.0.5:9090"}
_QUEUE = {"remote_name": "central", "url": "https://metrics.example.org/api/v1/write"}
_KSM = {"job": "kube-state-metrics", "instance": "10.0.0.6:8080"}
_KUBELET = {"job": "kubelet", "instance": "10.0.1.10:10250", "node": "gpu-a-node-1"}
_GPU = {
    "job": "nvidia-dcgm-exporter",
    "instance": "10.0.1.11:9400",
    "gpu": "0",
    "UUID": "GPU-8f6a3c2e-0d4b-4f1c-9a55-0123456789ab",
    "modelName": "NVIDIA A100-SXM4-80GB",
    "device": "nvidia0",
}
_CERT = {
    "job": "cert-manager",
    "instance": "10.0.0.7:9402",
    "namespace": "cert-manager",
    "exported_namespace": "jupyterhub",
    "name": "hub-tls",
    "issuer_name": "letsencrypt",
    "issuer_kind": "ClusterIssuer",
    "issuer_group": "cert-manager.io",
}
_HUB_PROBE = {"job": "probe/monitoring/jupyterhub", "instance": "https://hub.example.org/hub/health"}
_GRAFANA_PROBE = {"job": "probe/monitoring/grafana", "instance": "https://grafana.example.org/api/health"}


def _series(metric: str, *labels: Mapping[str, str], **more: str) -> str:
    """A series selector with every label given, in promtool's input notation."""
    merged: dict[str, str] = {}
    for part in (*labels, more):
        merged.update(part)
    return metric + "{" + ",".join(f'{key}="{value}"' for key, value in merged.items()) + "}"


def _merge(*parts: Mapping[str, str], **more: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for part in (*parts, more):
        merged.update(part)
    return merged


def _site_stale_cases(t: AlertThresholds) -> list[PromtoolCase]:
    # The bad cluster stops at 20 minutes; at 20 + threshold + 2 minutes it has been silent longer
    # than the threshold but spoke within the lookback (at least twice the threshold, and a day).
    stop, at = 20, 20 + t.site_stale_minutes + 2
    live = f"1x{at + 5}"
    return [
        PromtoolCase(
            "SiteStale",
            {
                _series("up", _SITE, job="kubelet", instance="10.0.1.10:10250"): f"1x{stop}",
                _series("up", _SITE, job="kube-state-metrics", instance="10.0.0.6:8080"): f"1x{stop}",
                _series("up", _OTHER_SITE, job="kubelet", instance="10.1.1.10:10250"): live,
            },
            f"{at}m",
            (_merge(_SITE),),
        ),
        PromtoolCase(
            "SiteStale",
            {
                # Targets down (up 0) still mean the collector is sending.
                _series("up", _SITE, job="kubelet", instance="10.0.1.10:10250"): f"0x{at + 5}",
                _series("up", _OTHER_SITE, job="kubelet", instance="10.1.1.10:10250"): live,
            },
            f"{at}m",
        ),
    ]


def _remote_write_failing_cases(t: AlertThresholds) -> list[PromtoolCase]:
    total = _series("prometheus_remote_storage_samples_total", _SITE, _SELF_SCRAPE, _QUEUE)
    failed = _series("prometheus_remote_storage_samples_failed_total", _SITE, _SELF_SCRAPE, _QUEUE)
    bad = min(100, t.remote_write_failure_percent + 5)  # percent of 1000 samples a minute
    good = t.remote_write_failure_percent - 1
    return [
        PromtoolCase(
            "RemoteWriteFailing",
            {total: "0+1000x40", failed: f"0+{10 * bad}x40"},
            "30m",
            (_merge(_SITE, _SELF_SCRAPE, _QUEUE),),
        ),
        PromtoolCase("RemoteWriteFailing", {total: "0+1000x40", failed: f"0+{10 * good}x40"}, "30m"),
    ]


def _remote_write_lagging_cases(t: AlertThresholds) -> list[PromtoolCase]:
    # The newest timestamp a queue holds (Unix seconds) advances a minute a minute; the queue's
    # sent timestamp follows it at a fixed distance.
    start = 1_000_000
    read = _series("prometheus_remote_storage_queue_highest_timestamp_seconds", _SITE, _SELF_SCRAPE, _QUEUE)
    sent = _series("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", _SITE, _SELF_SCRAPE, _QUEUE)
    behind, close = t.remote_write_lag_seconds + 60, t.remote_write_lag_seconds // 2
    return [
        PromtoolCase(
            "RemoteWriteLagging",
            {read: f"{start}+60x40", sent: f"{start - behind}+60x40"},
            "30m",
            (_merge(_SITE, _SELF_SCRAPE, _QUEUE),),
        ),
        PromtoolCase("RemoteWriteLagging", {read: f"{start}+60x40", sent: f"{start - close}+60x40"}, "30m"),
    ]


def _node_not_ready_cases(t: AlertThresholds) -> list[PromtoolCase]:
    minutes = t.node_not_ready_minutes
    ready = _merge(_SITE, _KSM, condition="Ready", status="true")
    return [
        PromtoolCase(
            "NodeNotReady",
            {
                _series("kube_node_status_condition", ready, node="gpu-a-node-1"): f"0x{minutes + 10}",
                _series("kube_node_status_condition", ready, node="gpu-a-node-2"): f"1x{minutes + 10}",
            },
            f"{minutes + 5}m",
            (_merge(_SITE, node="gpu-a-node-1"),),
        ),
        # Not Ready for a minute less than the threshold (from minute 6 to the evaluation at
        # threshold + 5): pending only.
        PromtoolCase(
            "NodeNotReady",
            {_series("kube_node_status_condition", ready, node="gpu-a-node-1"): f"1x5 0x{minutes + 10}"},
            f"{minutes + 5}m",
        ),
    ]


def _pod_crash_looping_cases(t: AlertThresholds) -> list[PromtoolCase]:
    pod = _merge(_SITE, _KSM, namespace="jupyterhub", pod="jupyter-alice", container="notebook", uid="1234")
    counter = _series("kube_pod_container_status_restarts_total", pod)
    waiting = _series("kube_pod_container_status_waiting_reason", pod, reason="CrashLoopBackOff")
    return [
        PromtoolCase(
            "PodCrashLooping",
            {counter: f"0+{t.crash_restarts}x40"},
            "30m",
            (_merge(_SITE, namespace="jupyterhub", pod="jupyter-alice", container="notebook"),),
        ),
        # Restarted many times long ago, none within the window.
        PromtoolCase("PodCrashLooping", {counter: f"{t.crash_restarts + 3}x40"}, "30m"),
        # A settled loop: a restart every 5 minutes (the kubelet's longest back-off), waiting in
        # CrashLoopBackOff in between.
        PromtoolCase(
            "PodCrashLooping",
            {counter: " ".join(str(i // 5) for i in range(36)), waiting: "1x35"},
            "35m",
            (_merge(_SITE, namespace="jupyterhub", pod="jupyter-alice", container="notebook"),),
        ),
        # Restarting as slowly (3 in 15 minutes, under the threshold), but never backing off.
        *(
            [PromtoolCase("PodCrashLooping", {counter: " ".join(str(i // 5) for i in range(31))}, "30m")]
            if t.crash_restarts > 3
            else []
        ),
    ]


def _volume_cases(t: AlertThresholds, alert: str, used: str, size: str, *, bytes_free: bool) -> list[PromtoolCase]:
    claim = _merge(_SITE, _KUBELET, namespace="jupyterhub", persistentvolumeclaim="claim-alice")
    full, fine = min(100, t.volume_full_percent + 5), t.volume_full_percent - 10

    def values(percent: int) -> dict[str, str]:
        # 1000 units of capacity; the kubelet reports bytes available, or inodes used.
        reading = 1000 - 10 * percent if bytes_free else 10 * percent
        return {_series(used, claim): f"{reading}x20", _series(size, claim): "1000x20"}

    return [
        PromtoolCase(
            alert, values(full), "15m", (_merge(_SITE, namespace="jupyterhub", persistentvolumeclaim="claim-alice"),)
        ),
        PromtoolCase(alert, values(fine), "15m"),
    ]


def _volume_filling_cases(t: AlertThresholds) -> list[PromtoolCase]:
    return _volume_cases(
        t,
        "VolumeFilling",
        "kubelet_volume_stats_available_bytes",
        "kubelet_volume_stats_capacity_bytes",
        bytes_free=True,
    )


def _volume_inodes_filling_cases(t: AlertThresholds) -> list[PromtoolCase]:
    cases = _volume_cases(
        t, "VolumeInodesFilling", "kubelet_volume_stats_inodes_used", "kubelet_volume_stats_inodes", bytes_free=False
    )
    # A filesystem without an inode table (0 inodes) is not full.
    nfs = _merge(_SITE, _KUBELET, namespace="shared", persistentvolumeclaim="datasets")
    cases.append(
        PromtoolCase(
            "VolumeInodesFilling",
            {
                _series("kubelet_volume_stats_inodes_used", nfs): "5x20",
                _series("kubelet_volume_stats_inodes", nfs): "0x20",
            },
            "15m",
        )
    )
    return cases


def _gpu_xid_cases(t: AlertThresholds) -> list[PromtoolCase]:
    xid = _merge(_SITE, _GPU, err_code="79", err_msg="GPU has fallen off the bus")
    clean = _merge(_SITE, _GPU, err_code="0", err_msg="No Error")
    return [
        PromtoolCase("GpuXidErrors", {_series("DCGM_FI_DEV_XID_ERRORS", xid): "79x10"}, "5m", (xid,)),
        PromtoolCase("GpuXidErrors", {_series("DCGM_FI_DEV_XID_ERRORS", clean): "0x10"}, "5m"),
    ]


def _gpu_memory_cases(t: AlertThresholds) -> list[PromtoolCase]:
    def values(percent: int) -> dict[str, str]:
        used = 10 * percent  # of 1000 MiB
        return {
            _series("DCGM_FI_DEV_FB_USED", _SITE, _GPU): f"{used}x30",
            _series("DCGM_FI_DEV_FB_FREE", _SITE, _GPU): f"{1000 - used}x30",
        }

    full, fine = min(100, t.gpu_memory_percent + 2), t.gpu_memory_percent - 10
    return [
        PromtoolCase("GpuMemoryPressure", values(full), "20m", (_merge(_SITE, _GPU),)),
        PromtoolCase("GpuMemoryPressure", values(fine), "20m"),
    ]


def _certificate_cases(t: AlertThresholds) -> list[PromtoolCase]:
    # time() is the evaluation time, seconds from 0: expiries are set relative to it.
    metric = _series("certmanager_certificate_expiration_timestamp_seconds", _SITE, _CERT)
    soon = (2 * t.certificate_expiry_days - 1) * SECONDS_PER_DAY // 2  # half a day short of the threshold
    later = (t.certificate_expiry_days + 30) * SECONDS_PER_DAY
    return [
        PromtoolCase("CertificateExpiring", {metric: f"{soon}x40"}, "30m", (_merge(_SITE, _CERT),)),
        PromtoolCase("CertificateExpiring", {metric: f"{later}x40"}, "30m"),
        # Not known yet (0): not reported as expired.
        PromtoolCase("CertificateExpiring", {metric: "0x40"}, "30m"),
    ]


def _endpoint_certificate_cases(t: AlertThresholds) -> list[PromtoolCase]:
    metric = _series("probe_ssl_earliest_cert_expiry", _SITE, _GRAFANA_PROBE)
    soon = (2 * t.certificate_expiry_days - 1) * SECONDS_PER_DAY // 2
    later = (t.certificate_expiry_days + 30) * SECONDS_PER_DAY
    return [
        PromtoolCase("EndpointCertificateExpiring", {metric: f"{soon}x40"}, "30m", (_merge(_SITE, _GRAFANA_PROBE),)),
        PromtoolCase("EndpointCertificateExpiring", {metric: f"{later}x40"}, "30m"),
    ]


def _endpoint_down_cases(t: AlertThresholds) -> list[PromtoolCase]:
    hub = _merge(_SITE, _HUB_PROBE, **{TARGET_KIND_LABEL: JUPYTERHUB_TARGET_KIND})
    grafana = _merge(_SITE, _GRAFANA_PROBE, **{TARGET_KIND_LABEL: "grafana"})
    return [
        # Every probe counts, the hub's too.
        PromtoolCase(
            "EndpointDown",
            {_series("probe_success", grafana): "0x20", _series("probe_success", hub): "0x20"},
            "10m",
            (grafana, hub),
        ),
        PromtoolCase("EndpointDown", {_series("probe_success", grafana): "1x20"}, "10m"),
    ]


def _jupyterhub_down_cases(t: AlertThresholds) -> list[PromtoolCase]:
    minutes = t.hub_down_minutes
    hub = _merge(_SITE, _HUB_PROBE, **{TARGET_KIND_LABEL: JUPYTERHUB_TARGET_KIND})
    grafana = _merge(_SITE, _GRAFANA_PROBE, **{TARGET_KIND_LABEL: "grafana"})
    return [
        # Only the hub's probe: Grafana failing too is EndpointDown's, not this alert's.
        PromtoolCase(
            "JupyterHubDown",
            {
                _series("probe_success", hub): f"0x{minutes + 10}",
                _series("probe_success", grafana): f"0x{minutes + 10}",
            },
            f"{minutes + 5}m",
            (hub,),
        ),
        PromtoolCase(
            "JupyterHubDown",
            {
                _series("probe_success", hub): f"1x{minutes + 10}",
                _series("probe_success", grafana): f"0x{minutes + 10}",
            },
            f"{minutes + 5}m",
        ),
    ]


#: The promtool cases of every alert, by alert name: at least one firing, at least one silent.
CASES: dict[str, Callable[[AlertThresholds], list[PromtoolCase]]] = {
    "SiteStale": _site_stale_cases,
    "RemoteWriteFailing": _remote_write_failing_cases,
    "RemoteWriteLagging": _remote_write_lagging_cases,
    "NodeNotReady": _node_not_ready_cases,
    "PodCrashLooping": _pod_crash_looping_cases,
    "VolumeFilling": _volume_filling_cases,
    "VolumeInodesFilling": _volume_inodes_filling_cases,
    "GpuXidErrors": _gpu_xid_cases,
    "GpuMemoryPressure": _gpu_memory_cases,
    "CertificateExpiring": _certificate_cases,
    "EndpointCertificateExpiring": _endpoint_certificate_cases,
    "EndpointDown": _endpoint_down_cases,
    "JupyterHubDown": _jupyterhub_down_cases,
}

_LABEL_REFERENCE = re.compile(r"\{\{ \$labels\.([A-Za-z_][A-Za-z0-9_]*) \}\}")


def render(template: str, labels: Mapping[str, str]) -> str:
    """An annotation as Prometheus expands it for an alert with `labels` (only `$labels.x` references).

    A label the alert lacks is an error here, where Prometheus would print an empty string:
    expected annotations must be exact.
    """

    def label(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in labels:
            raise KeyError(f"the template reads label {name!r}, which the alert does not carry")
        return labels[name]

    expanded = _LABEL_REFERENCE.sub(label, template)
    if "{{" in expanded:
        raise ValueError(f"template has more than label references: {template!r}")
    return expanded


def expected_alert(rule: AlertRule, labels: Mapping[str, str]) -> dict[str, Any]:
    """An `exp_alerts` entry: the alert's labels (the rule's `severity` added) and its expanded annotations."""
    return {
        "exp_labels": {**labels, "severity": rule.severity},
        "exp_annotations": {"summary": render(rule.summary, labels), "description": render(rule.description, labels)},
    }


def promtool_tests(
    thresholds: AlertThresholds,
    *,
    rule_file: str = "alerts.rules.yaml",
    cases: Sequence[PromtoolCase] | None = None,
) -> dict[str, Any]:
    """A `promtool test rules` file (as data, to dump as YAML beside `rule_file`).

    By default every alert's cases at `thresholds` (CASES); `cases` replaces them.
    """
    rules = {rule.name: rule for rule in alert_rules(thresholds)}
    if cases is None:
        missing = sorted(set(rules) - set(CASES))
        if missing:
            raise KeyError(f"alerts without promtool cases: {', '.join(missing)}")
        cases = [case for name in rules for case in CASES[name](thresholds)]
    tests = []
    for case in cases:
        rule = rules[case.alert]
        tests.append(
            {
                "interval": EVALUATION_INTERVAL,
                "input_series": [{"series": series, "values": values} for series, values in case.series.items()],
                "alert_rule_test": [
                    {
                        "eval_time": case.eval_time,
                        "alertname": case.alert,
                        "exp_alerts": [expected_alert(rule, labels) for labels in case.fires],
                    }
                ],
            }
        )
    return {"rule_files": [rule_file], "evaluation_interval": EVALUATION_INTERVAL, "tests": tests}
