"""Meridian's alert rules: typed definitions, rendered as a Prometheus rule file or a PrometheusRule object.

The rules run on the *central* Prometheus (components/addons/central.py). It stores what every
cluster's collector remote-writes, each series carrying the collector's external labels
`project`, `site` and `cluster` (observability.external_labels), so series of many clusters meet
in one store: every aggregation below keeps those three labels, and the rest keep every label.

Each alert is a function of `AlertThresholds` (components/spec/observability.py) returning an
`AlertRule`; `ALERTS` is the one table of them. Every alert has `promtool test rules` cases (a
firing and a silent one, tests/alert_cases.py) that tests/test_alerts.py runs, with `promtool
check rules`, on the real promtool (Debian's prometheus package).

Nothing here creates resources; the central add-on delivers `prometheus_rule(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
