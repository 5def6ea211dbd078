"""The alert rules (components/addons/alerts.py), checked by the real promtool and the upstream CRD.

* The PrometheusRule document parsed back: thresholds reach the expressions and `for`, severities
  are the ones decided (table below, written by hand), every aggregation keeps project, site and
  cluster.
* `promtool check rules` on the rule file and `promtool test rules` on the cases of tests/alert_cases.py
  (every alert fires on a bad series with exact labels and annotations, and stays silent on a good
  one), at the default thresholds and at others; hand-written cases show a changed threshold
  changes what fires. Both promtool checks are shown to fail on a broken rule and a wrong
  expectation. promtool comes from Debian's prometheus package (`make tools`,
  scripts/debian-tools.sh); a missing promtool fails these tests, it never skips them.
* The document against the Prometheus Operator's PrometheusRule CRD from the locked
  kube-prometheus-stack chart, resolved through scripts/upstream.py, strictly (scripts/crdschema.py).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import alert_cases
import jsonschema
import pytest
import yaml
from alert_cases import PromtoolCase, promtool_tests

from components.addons import alerts
from components.addons.alerts import (
    AlertRule,
    alert_rules,
    metric_names,
    prometheus_rule,
    rule_groups,
)
from components.spec.observability import AlertThresholds
from components.yamlout import dump
from scripts.crdschema import crd_schema, validate
from scripts.upstream import chart_dir

REPO = Path(__file__).resolve().parent.parent
#: The Prometheus Operator's PrometheusRule CRD, as the locked kube-prometheus-stack chart ships and
#: installs it (its `crds` subchart; the collector's and the central stack's release, `crds.enabled`).
#: A locked chart ships it, so the lock's `crds:` list (for CRDs no locked chart ships) needs no entry.
CRD_CHART = "kube-prometheus-stack"
PROMETHEUS_RULES_CRD = Path("charts", "crds", "crds", "crd-prometheusrules.yaml")
SITE_LABELS = {"project", "site", "cluster"}

DEFAULTS = AlertThresholds()
#: Every threshold at its lowest bound.
LOWEST = AlertThresholds(
    site_stale_minutes=2,
    remote_write_lag_seconds=30,
    remote_write_failure_percent=1,
    node_not_ready_minutes=1,
    crash_restarts=1,
    volume_full_percent=50,
    gpu_memory_percent=50,
    certificate_expiry_days=1,
    hub_down_minutes=1,
)
#: Every threshold away from its default, upwards (percentages at their upper bounds).
OTHER = AlertThresholds(
    site_stale_minutes=30,
    remote_write_lag_seconds=900,
    remote_write_failure_percent=100,
    node_not_ready_minutes=20,
    crash_restarts=10,
    volume_full_percent=99,
    gpu_memory_percent=100,
    certificate_expiry_days=30,
    hub_down_minutes=15,
)
THRESHOLDS = {"defaults": DEFAULTS, "lowest": LOWEST, "other": OTHER}

#: Severity of each alert, decided per alert (components/addons/alerts.py says why).
SEVERITIES = {
    "SiteStale": "critical",
    "RemoteWriteFailing": "warning",
    "RemoteWriteLagging": "warning",
    "NodeNotReady": "warning",
    "PodCrashLooping": "warning",
    "VolumeFilling": "warning",
    "VolumeInodesFilling": "warning",
    "GpuXidErrors": "warning",
    "GpuMemoryPressure": "warning",
    "CertificateExpiring": "warning",
    "EndpointCertificateExpiring": "warning",
    "EndpointDown": "warning",
    "JupyterHubDown": "critical",
}


def expected_thresholds(t: AlertThresholds) -> dict[str, tuple[str, str]]:
    """Per alert: (its `for`, a fragment its expression must hold), worked out from the thresholds by hand."""
    return {
        "SiteStale": ("0s", f"present_over_time(up[{t.site_stale_minutes}m])"),
        "RemoteWriteFailing": ("5m", f">= {t.remote_write_failure_percent}"),
        "RemoteWriteLagging": ("5m", f">= {t.remote_write_lag_seconds}"),
        "NodeNotReady": (f"{t.node_not_ready_minutes}m", '{condition="Ready", status="true"}) == 0'),
        "PodCrashLooping": ("0s", f">= {t.crash_restarts}"),
        "VolumeFilling": ("5m", f">= {t.volume_full_percent}"),
        "VolumeInodesFilling": ("5m", f">= {t.volume_full_percent}"),
        "GpuXidErrors": ("0s", "DCGM_FI_DEV_XID_ERRORS != 0"),
        "GpuMemoryPressure": ("15m", f">= {t.gpu_memory_percent}"),
        "CertificateExpiring": ("15m", f"< {t.certificate_expiry_days} * 86400"),
        "EndpointCertificateExpiring": ("15m", f"< {t.certificate_expiry_days} * 86400"),
        "EndpointDown": ("5m", "probe_success == 0"),
        "JupyterHubDown": (f"{t.hub_down_minutes}m", 'probe_success{target_kind="jupyterhub"} == 0'),
    }


def rules_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in document["spec"]["groups"] for rule in group["rules"]}


def parsed_document(thresholds: AlertThresholds) -> dict[str, Any]:
    """The PrometheusRule as it is delivered: dumped to YAML and read back."""
    document = prometheus_rule("meridian-alerts", "monitoring", {"meridian.io/rules": "true"}, thresholds)
    parsed: dict[str, Any] = yaml.safe_load(dump(document))
    return parsed


# ---- the document ------------------------------------------------------------------------------


def test_the_document_is_a_prometheus_rule() -> None:
    document = parsed_document(DEFAULTS)
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    assert document["metadata"] == {
        "name": "meridian-alerts",
        "namespace": "monitoring",
        "labels": {"meridian.io/rules": "true"},
    }
    groups = document["spec"]["groups"]
    assert [g["name"] for g in groups] == [
        "meridian-collectors",
        "meridian-kubernetes",
        "meridian-gpu",
        "meridian-certificates",
        "meridian-endpoints",
    ]
    assert {g["interval"] for g in groups} == {"1m"}
    # The same groups as the plain rule file.
    assert groups == yaml.safe_load(dump(rule_groups(DEFAULTS)))


@pytest.mark.parametrize("which", THRESHOLDS)
def test_thresholds_flow_into_expressions_and_for(which: str) -> None:
    thresholds = THRESHOLDS[which]
    rules = rules_of(parsed_document(thresholds))
    expected = expected_thresholds(thresholds)
    assert set(rules) == set(expected) == set(SEVERITIES)
    for name, (duration, fragment) in expected.items():
        rule = rules[name]
        assert rule["for"] == duration, name
        assert fragment in rule["expr"], (name, rule["expr"])
        assert rule["labels"] == {"severity": SEVERITIES[name]}, name
        assert set(rule["annotations"]) == {"summary", "description"}, name


def test_thresholds_reach_the_annotations() -> None:
    rules = rules_of(parsed_document(OTHER))
    assert "for 30 minutes" in rules["SiteStale"]["annotations"]["description"]
    assert "at least 99% full" in rules["VolumeFilling"]["annotations"]["description"]
    assert "less than 30 days" in rules["CertificateExpiring"]["annotations"]["description"]
    assert "for 15 minutes" in rules["JupyterHubDown"]["annotations"]["description"]


def test_site_staleness_looks_back_far_enough_to_fire() -> None:
    # A day, or twice the threshold when that is longer: a cluster silent for the threshold must
    # still be in the lookback.
    assert "up[1440m]" in rules_of(parsed_document(DEFAULTS))["SiteStale"]["expr"]
    longest = DEFAULTS.model_copy(update={"site_stale_minutes": 1440})
    assert "up[2880m]" in alerts.site_stale(longest).expr


_GROUPINGS = re.compile(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)")


def site_label_problems(expr: str) -> list[str]:
    """Groupings that would merge or drop the series of different clusters."""
    problems = []
    for keyword, names in _GROUPINGS.findall(expr):
        labels = {name.strip() for name in names.split(",") if name.strip()}
        if keyword in ("by", "on") and not labels >= SITE_LABELS:
            problems.append(f"{keyword} ({names}) drops {sorted(SITE_LABELS - labels)}")
        if keyword in ("without", "ignoring") and SITE_LABELS & labels:
            problems.append(f"{keyword} ({names}) drops {sorted(SITE_LABELS & labels)}")
    return problems


@pytest.mark.parametrize("which", THRESHOLDS)
def test_every_alert_keeps_project_site_and_cluster(which: str) -> None:
    thresholds = THRESHOLDS[which]
    for rule in alert_rules(thresholds):
        assert site_label_problems(rule.expr) == [], rule.name
    # And promtool holds every alert to it: each firing case expects the three labels.
    for test in promtool_tests(thresholds)["tests"]:
        for case in test["alert_rule_test"]:
            for alert in case["exp_alerts"]:
                assert set(alert["exp_labels"]) >= SITE_LABELS, case["alertname"]


def test_the_site_label_check_bites() -> None:
    assert site_label_problems("sum by (cluster) (up)") == ["by (cluster) drops ['project', 'site']"]
    assert site_label_problems("a - ignoring (site) b") == ["ignoring (site) drops ['site']"]
    assert site_label_problems("sum without (instance) (up)") == []


def test_metric_names() -> None:
    assert metric_names() == {
        "up",
        "prometheus_remote_storage_samples_failed_total",
        "prometheus_remote_storage_samples_total",
        "prometheus_remote_storage_queue_highest_timestamp_seconds",
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        "kube_node_status_condition",
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_status_waiting_reason",
        "kubelet_volume_stats_available_bytes",
        "kubelet_volume_stats_capacity_bytes",
        "kubelet_volume_stats_inodes_used",
        "kubelet_volume_stats_inodes",
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "certmanager_certificate_expiration_timestamp_seconds",
        "probe_ssl_earliest_cert_expiry",
        "probe_success",
    }
    for rule in alert_rules(DEFAULTS):
        for metric in rule.metrics:
            assert re.search(rf"\b{metric}\b", rule.expr), (rule.name, metric)
        # The promtool cases feed an alert only the metrics it says it reads.
        for case in alert_cases.CASES[rule.name](DEFAULTS):
            fed = {series.split("{", 1)[0] for series in case.series}
            assert fed <= set(rule.metrics), (rule.name, fed)


def test_annotations_name_only_labels_the_alert_carries() -> None:
    # Every template reference resolves against the expected labels (render raises otherwise),
    # and no annotation shows the remote-write URL.
    for test in promtool_tests(DEFAULTS)["tests"]:
        for case in test["alert_rule_test"]:
            for alert in case["exp_alerts"]:
                for text in alert["exp_annotations"].values():
                    assert "{{" not in text and "https://metrics" not in text
    for rule in alert_rules(DEFAULTS):
        assert "$labels.url" not in rule.summary + rule.description
    with pytest.raises(KeyError, match="'node'"):
        alert_cases.render(alerts.node_not_ready(DEFAULTS).summary, {"project": "p", "site": "s", "cluster": "c"})


@pytest.mark.parametrize("which", THRESHOLDS)
def test_every_alert_has_a_firing_and_a_silent_case(which: str) -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for test in promtool_tests(THRESHOLDS[which])["tests"]:
        for case in test["alert_rule_test"]:
            (fired if case["exp_alerts"] else silent).add(case["alertname"])
    assert fired == silent == set(SEVERITIES)


# ---- promtool ----------------------------------------------------------------------------------


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real promtool; fails (never skips) when it is missing."""
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run `make tools` (Debian's prometheus package)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_rules(directory: Path, groups: list[dict[str, Any]]) -> Path:
    path = directory / "alerts.rules.yaml"
    path.write_text(dump({"groups": groups}), encoding="utf-8")
    return path


def write_tests(directory: Path, tests: dict[str, Any]) -> Path:
    path = directory / "alerts.test.yaml"
    path.write_text(dump(tests), encoding="utf-8")
    return path


@pytest.mark.parametrize("which", THRESHOLDS)
def test_promtool_checks_the_rules(which: str, tmp_path: Path) -> None:
    path = write_rules(tmp_path, rule_groups(THRESHOLDS[which]))
    result = promtool("check", "rules", path.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(SEVERITIES)} rules found" in result.stdout


@pytest.mark.parametrize("which", THRESHOLDS)
def test_promtool_unit_tests_pass(which: str, tmp_path: Path) -> None:
    thresholds = THRESHOLDS[which]
    write_rules(tmp_path, rule_groups(thresholds))
    tests = write_tests(tmp_path, promtool_tests(thresholds, rule_file="alerts.rules.yaml"))
    result = promtool("test", "rules", tests.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def run_case(case: PromtoolCase, thresholds: AlertThresholds, directory: Path) -> subprocess.CompletedProcess[str]:
    write_rules(directory, rule_groups(thresholds))
    tests = write_tests(directory, promtool_tests(thresholds, rule_file="alerts.rules.yaml", cases=[case]))
    return promtool("test", "rules", tests.name, cwd=directory)


WHERE = {"project": "proj-b", "site": "site-9", "cluster": "cpu-z"}
#: A claim 90% full (100 of 1000 bytes available) for 20 minutes.
VOLUME_90 = {
    'kubelet_volume_stats_available_bytes{project="proj-b",site="site-9",cluster="cpu-z",job="kubelet",'
    'namespace="lab",persistentvolumeclaim="data"}': "100x20",
    'kubelet_volume_stats_capacity_bytes{project="proj-b",site="site-9",cluster="cpu-z",job="kubelet",'
    'namespace="lab",persistentvolumeclaim="data"}': "1000x20",
}
VOLUME_ALERT = {**WHERE, "namespace": "lab", "persistentvolumeclaim": "data"}
#: A hub probe failing from minute 3 on, looked at minute 10: down for 7 minutes.
HUB_PROBE = {**WHERE, "job": "probe", "instance": "https://hub.example.org", "target_kind": "jupyterhub"}
HUB_DOWN_7 = {
    'probe_success{project="proj-b",site="site-9",cluster="cpu-z",job="probe",'
    'instance="https://hub.example.org",target_kind="jupyterhub"}': "1x2 0x20"
}


@pytest.mark.parametrize(
    ("alert", "series", "eval_time", "labels", "thresholds", "fires"),
    [
        ("VolumeFilling", VOLUME_90, "15m", VOLUME_ALERT, DEFAULTS, True),  # 90 >= 85
        (
            "VolumeFilling",
            VOLUME_90,
            "15m",
            VOLUME_ALERT,
            DEFAULTS.model_copy(update={"volume_full_percent": 95}),
            False,
        ),
        ("JupyterHubDown", HUB_DOWN_7, "10m", HUB_PROBE, DEFAULTS, True),  # 7 minutes >= 5
        ("JupyterHubDown", HUB_DOWN_7, "10m", HUB_PROBE, DEFAULTS.model_copy(update={"hub_down_minutes": 10}), False),
    ],
)
def test_a_changed_threshold_changes_what_fires(
    alert: str,
    series: dict[str, str],
    eval_time: str,
    labels: dict[str, str],
    thresholds: AlertThresholds,
    fires: bool,
    tmp_path: Path,
) -> None:
    case = PromtoolCase(alert, series, eval_time, (labels,) if fires else ())
    result = run_case(case, thresholds, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # The opposite expectation fails: the threshold, not the series, decides.
    flipped = PromtoolCase(alert, series, eval_time, () if fires else (labels,))
    assert run_case(flipped, thresholds, tmp_path).returncode != 0


def test_promtool_check_fails_on_a_broken_rule(tmp_path: Path) -> None:
    groups = rule_groups(DEFAULTS)
    broken = copy.deepcopy(groups)
    broken[0]["rules"][0]["expr"] = "group by (project, site, cluster (up)"
    path = write_rules(tmp_path, broken)
    result = promtool("check", "rules", path.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_promtool_test_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    write_rules(tmp_path, rule_groups(DEFAULTS))
    tests = promtool_tests(DEFAULTS)
    rules = {rule.name: rule for rule in alert_rules(DEFAULTS)}
    # A silent case (a Ready node) made to expect NodeNotReady.
    silent = next(
        test
        for test in tests["tests"]
        if test["alert_rule_test"][0]["alertname"] == "NodeNotReady" and not test["alert_rule_test"][0]["exp_alerts"]
    )
    wrong = copy.deepcopy(tests)
    wrong["tests"] = [copy.deepcopy(silent)]
    wrong["tests"][0]["alert_rule_test"][0]["exp_alerts"] = [
        alert_cases.expected_alert(rules["NodeNotReady"], {**WHERE, "node": "gpu-a-node-1"})
    ]
    path = write_tests(tmp_path, wrong)
    result = promtool("test", "rules", path.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "alertname: NodeNotReady" in result.stdout + result.stderr
    # A firing case made to expect silence fails too.
    firing = next(test for test in tests["tests"] if test["alert_rule_test"][0]["exp_alerts"])
    quiet = copy.deepcopy(tests)
    quiet["tests"] = [copy.deepcopy(firing)]
    quiet["tests"][0]["alert_rule_test"][0]["exp_alerts"] = []
    path = write_tests(tmp_path, quiet)
    assert promtool("test", "rules", path.name, cwd=tmp_path).returncode != 0


def test_a_missing_promtool_fails_rather_than_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AssertionError, match="promtool is missing"):
        promtool("--version", cwd=tmp_path)


def test_make_tools_installs_promtool() -> None:
    script = (REPO / "scripts" / "debian-tools.sh").read_text(encoding="utf-8")
    assert "command -v promtool >/dev/null 2>&1 || need+=(prometheus)" in script
    assert "bash scripts/debian-tools.sh" in (REPO / "Makefile").read_text(encoding="utf-8")
    assert shutil.which("shellcheck"), "shellcheck is missing: run `make tools`"
    result = subprocess.run(
        ["shellcheck", "--severity=style", str(REPO / "scripts" / "debian-tools.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


# ---- the CRD -----------------------------------------------------------------------------------


#: A Go (RE2) pattern's leading inline flag group, which RE2 accepts after `^` and Python only first.
_GO_INLINE_FLAGS = re.compile(r"^\^\((\?[a-zA-Z]+)\)")


def python_patterns(schema: Any) -> Any:
    """`schema` with Go inline flags moved to the front of each `pattern` (`^(?i)x` -> `(?i)^x`, the same language).

    The CRD's `partial_response_strategy` pattern is `^(?i)(abort|warn)?$`: the API server (Go)
    takes it, Python's `re` refuses it, and jsonschema refuses the whole schema for it.
    """
    if isinstance(schema, dict):
        return {
            key: _GO_INLINE_FLAGS.sub(r"(\1)^", value) if key == "pattern" and isinstance(value, str)
            else python_patterns(value)
            for key, value in schema.items()
        }  # fmt: skip
    if isinstance(schema, list):
        return [python_patterns(item) for item in schema]
    return schema


def prometheus_rule_schema() -> dict[str, Any]:
    """The PrometheusRule CRD's v1 schema, strict, as the locked kube-prometheus-stack chart installs it.

    The chart's directory comes through the resolver (its tree digest checked against the lock).
    """
    schema: dict[str, Any] = python_patterns(crd_schema(chart_dir(CRD_CHART) / PROMETHEUS_RULES_CRD, "v1"))
    return schema


def test_go_patterns_become_python_patterns() -> None:
    converted = python_patterns({"properties": {"s": {"type": "string", "pattern": "^(?i)(abort|warn)?$"}}})
    pattern = converted["properties"]["s"]["pattern"]
    assert pattern == "(?i)^(abort|warn)?$"
    assert re.fullmatch(pattern, "Warn") and not re.fullmatch(pattern, "ignore")


@pytest.mark.parametrize("which", THRESHOLDS)
def test_the_document_validates_against_the_crd(which: str) -> None:
    validate(parsed_document(THRESHOLDS[which]), prometheus_rule_schema())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("for", "ten minutes"),  # not a Prometheus duration
        ("fro", "5m"),  # a field the CRD does not have
    ],
)
def test_the_crd_check_fails_on_a_broken_rule(key: str, value: str) -> None:
    schema = prometheus_rule_schema()
    broken = parsed_document(DEFAULTS)
    broken["spec"]["groups"][0]["rules"][0][key] = value
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, schema)


def test_alert_rule_is_frozen() -> None:
    rule: AlertRule = alerts.endpoint_down(DEFAULTS)
    with pytest.raises(AttributeError):
        rule.severity = "critical"  # type: ignore[misc]
