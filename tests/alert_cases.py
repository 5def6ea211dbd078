"""`promtool test rules` cases for every alert of components/addons/alerts.py: test data, kept with the tests.

For each alert, one case where it fires on a bad series, with the exact labels and annotations
expected, and one where it stays silent on a good one; tests/test_alerts.py runs them with the
real promtool (Debian's prometheus package). They live here, not beside the rules, because they
are the tests' oracle: a mutation run over the rules module must not count changed test data as
a weakness of the rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.addons.alerts import (
    EVALUATION_INTERVAL,
    JUPYTERHUB_TARGET_KIND,
    SECONDS_PER_DAY,
    TARGET_KIND_LABEL,
    AlertRule,
    alert_rules,
)
from components.spec.observability import AlertThresholds


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
#: cert-manager's certificate series as the collector scrapes them (pkg/metrics/certificates.go labels
#: name, namespace, issuer_*): the ServiceMonitor keeps the target's `namespace` (honorLabels false), so
#: the Certificate's arrives as exported_namespace.
CERT = {
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


def series(metric: str, *labels: Mapping[str, str], **more: str) -> str:
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
                series("up", _SITE, job="kubelet", instance="10.0.1.10:10250"): f"1x{stop}",
                series("up", _SITE, job="kube-state-metrics", instance="10.0.0.6:8080"): f"1x{stop}",
                series("up", _OTHER_SITE, job="kubelet", instance="10.1.1.10:10250"): live,
            },
            f"{at}m",
            (_merge(_SITE),),
        ),
        PromtoolCase(
            "SiteStale",
            {
                # Targets down (up 0) still mean the collector is sending.
                series("up", _SITE, job="kubelet", instance="10.0.1.10:10250"): f"0x{at + 5}",
                series("up", _OTHER_SITE, job="kubelet", instance="10.1.1.10:10250"): live,
            },
            f"{at}m",
        ),
    ]


def _remote_write_failing_cases(t: AlertThresholds) -> list[PromtoolCase]:
    total = series("prometheus_remote_storage_samples_total", _SITE, _SELF_SCRAPE, _QUEUE)
    failed = series("prometheus_remote_storage_samples_failed_total", _SITE, _SELF_SCRAPE, _QUEUE)
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
    read = series("prometheus_remote_storage_queue_highest_timestamp_seconds", _SITE, _SELF_SCRAPE, _QUEUE)
    sent = series("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", _SITE, _SELF_SCRAPE, _QUEUE)
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
                series("kube_node_status_condition", ready, node="gpu-a-node-1"): f"0x{minutes + 10}",
                series("kube_node_status_condition", ready, node="gpu-a-node-2"): f"1x{minutes + 10}",
            },
            f"{minutes + 5}m",
            (_merge(_SITE, node="gpu-a-node-1"),),
        ),
        # Not Ready for a minute less than the threshold (from minute 6 to the evaluation at
        # threshold + 5): pending only.
        PromtoolCase(
            "NodeNotReady",
            {series("kube_node_status_condition", ready, node="gpu-a-node-1"): f"1x5 0x{minutes + 10}"},
            f"{minutes + 5}m",
        ),
    ]


def _pod_crash_looping_cases(t: AlertThresholds) -> list[PromtoolCase]:
    pod = _merge(_SITE, _KSM, namespace="jupyterhub", pod="jupyter-alice", container="notebook", uid="1234")
    counter = series("kube_pod_container_status_restarts_total", pod)
    waiting = series("kube_pod_container_status_waiting_reason", pod, reason="CrashLoopBackOff")
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
        return {series(used, claim): f"{reading}x20", series(size, claim): "1000x20"}

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
                series("kubelet_volume_stats_inodes_used", nfs): "5x20",
                series("kubelet_volume_stats_inodes", nfs): "0x20",
            },
            "15m",
        )
    )
    return cases


def _gpu_xid_cases(t: AlertThresholds) -> list[PromtoolCase]:
    xid = _merge(_SITE, _GPU, err_code="79", err_msg="GPU has fallen off the bus")
    clean = _merge(_SITE, _GPU, err_code="0", err_msg="No Error")
    return [
        PromtoolCase("GpuXidErrors", {series("DCGM_FI_DEV_XID_ERRORS", xid): "79x10"}, "5m", (xid,)),
        PromtoolCase("GpuXidErrors", {series("DCGM_FI_DEV_XID_ERRORS", clean): "0x10"}, "5m"),
    ]


def _gpu_memory_cases(t: AlertThresholds) -> list[PromtoolCase]:
    def values(percent: int) -> dict[str, str]:
        used = 10 * percent  # of 1000 MiB
        return {
            series("DCGM_FI_DEV_FB_USED", _SITE, _GPU): f"{used}x30",
            series("DCGM_FI_DEV_FB_FREE", _SITE, _GPU): f"{1000 - used}x30",
        }

    full, fine = min(100, t.gpu_memory_percent + 2), t.gpu_memory_percent - 10
    return [
        PromtoolCase("GpuMemoryPressure", values(full), "20m", (_merge(_SITE, _GPU),)),
        PromtoolCase("GpuMemoryPressure", values(fine), "20m"),
    ]


def _certificate_cases(t: AlertThresholds) -> list[PromtoolCase]:
    # time() is the evaluation time, seconds from 0: expiries are set relative to it.
    metric = series("certmanager_certificate_expiration_timestamp_seconds", _SITE, CERT)
    soon = (2 * t.certificate_expiry_days - 1) * SECONDS_PER_DAY // 2  # half a day short of the threshold
    later = (t.certificate_expiry_days + 30) * SECONDS_PER_DAY
    return [
        PromtoolCase("CertificateExpiring", {metric: f"{soon}x40"}, "30m", (_merge(_SITE, CERT),)),
        PromtoolCase("CertificateExpiring", {metric: f"{later}x40"}, "30m"),
        # Not known yet (0): not reported as expired.
        PromtoolCase("CertificateExpiring", {metric: "0x40"}, "30m"),
    ]


def _endpoint_certificate_cases(t: AlertThresholds) -> list[PromtoolCase]:
    metric = series("probe_ssl_earliest_cert_expiry", _SITE, _GRAFANA_PROBE)
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
            {series("probe_success", grafana): "0x20", series("probe_success", hub): "0x20"},
            "10m",
            (grafana, hub),
        ),
        PromtoolCase("EndpointDown", {series("probe_success", grafana): "1x20"}, "10m"),
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
                series("probe_success", hub): f"0x{minutes + 10}",
                series("probe_success", grafana): f"0x{minutes + 10}",
            },
            f"{minutes + 5}m",
            (hub,),
        ),
        PromtoolCase(
            "JupyterHubDown",
            {
                series("probe_success", hub): f"1x{minutes + 10}",
                series("probe_success", grafana): f"0x{minutes + 10}",
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
