"""Grafana dashboards (components/addons/dashboards.py) and the metric catalog they are checked against.

Every panel and variable query must name only metrics some exporter of the stack produces
(components/addons/metrics_catalog.py), and must parse with the real `promtool` (Debian's
`prometheus` package; scripts/debian-tools.sh installs it). The ConfigMaps validate against the
Kubernetes schema (scripts/validate.py).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
from alert_cases import CERT, series

from components.addons import dashboards as dashboards_module
from components.addons.dashboards import (
    NODE_LABELS_ALLOWLIST,
    POOL_METRIC_LABEL,
    PROMETHEUS_DATASOURCE,
    SIDECAR_LABEL,
    concrete,
    dashboard_configmaps,
    dashboard_json,
    dashboard_specs,
    dashboards,
    panel_queries,
    variable_queries,
)
from components.addons.metrics_catalog import (
    EXPORTER_METRICS,
    KNOWN_METRICS,
    exporter_of,
    kube_state_metrics_label,
    promql_metric_names,
    promql_tokens,
)

LABELS = {"app.kubernetes.io/managed-by": "meridian", "meridian.io/project": "demo"}
KUBE_VERSION = "1.34"


def _unknown_metrics(exprs: list[str]) -> dict[str, frozenset[str]]:
    """Each expression that names a metric outside the catalog, with those metrics."""
    found = {expr: promql_metric_names(concrete(expr)) - KNOWN_METRICS for expr in exprs}
    return {expr: names for expr, names in found.items() if names}


def _variable_selectors() -> list[str]:
    """The series selector inside each `label_values(selector, label)` variable query."""
    selectors = []
    for query in variable_queries():
        assert query.startswith("label_values(") and query.endswith(")"), query
        selector, label = query[len("label_values(") : -1].rsplit(",", 1)
        assert label.strip().isidentifier(), query
        selectors.append(selector.strip())
    return selectors


def _promtool(exprs: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on a rule file recording each expression."""
    promtool = shutil.which("promtool")
    # A missing promtool fails the test: a check that silently skips cannot catch anything.
    assert promtool is not None, "promtool is not on PATH: run scripts/debian-tools.sh (Debian package prometheus)"
    rules = {
        "groups": [
            {
                "name": "meridian-dashboards",
                "rules": [{"record": f"meridian:dashboard_query:{n}", "expr": expr} for n, expr in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "rules.yaml"
    path.write_text(json.dumps(rules, indent=1), encoding="utf-8")  # JSON is YAML
    return subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)


# --- The tokenizer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('sum by (job) (rate(http_requests_total{job="a", code=~"5.."}[5m] offset 1h30m))', {"http_requests_total"}),
        ("count(up) by (cluster)", {"up"}),
        ("sum without(le, instance) (x_bucket)", {"x_bucket"}),
        ("a / on (x, y) group_left (z) b", {"a", "b"}),
        ("a * ignoring (q) group_right c", {"a", "c"}),
        ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
        ('foo{l="bar{baz}(x) \\" not_a_metric"} > Inf', {"foo"}),
        ("foo{l='single quoted metric_q'} or `raw` == bar", {"foo", "bar"}),
        ("1e3 * foo @ end() # trailing comment names metric_x", {"foo"}),
        ("max_over_time(foo[1h:5m]) unless bar", {"foo", "bar"}),
        ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))", {"x_bucket"}),
        ("time() - process_start_time_seconds", {"process_start_time_seconds"}),
        ("vector(1) and on () nan", set()),
        ("topk(5, foo) > bool 0x1F", {"foo"}),
        ("job:up:sum offset 1d", {"job:up:sum"}),
        ("foo{by='x', on=\"y\"}", {"foo"}),
    ],
)
def test_metric_names_of_tricky_expressions(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def test_tokenizer_kinds() -> None:
    assert promql_tokens('rate(x{a=~"b"}[1h30m]) > 2.5e-3') == [
        ("identifier", "rate"),
        ("operator", "("),
        ("identifier", "x"),
        ("operator", "{"),
        ("identifier", "a"),
        ("operator", "=~"),
        ("string", '"b"'),
        ("operator", "}"),
        ("operator", "["),
        ("duration", "1h30m"),
        ("operator", "]"),
        ("operator", ")"),
        ("operator", ">"),
        ("number", "2.5e-3"),
    ]


@pytest.mark.parametrize("expr", ["rate(x[$__rate_interval])", 'up{a="b"', "x[5m"])
def test_tokenizer_rejects_what_promql_is_not(expr: str) -> None:
    with pytest.raises(ValueError):
        promql_metric_names(expr)


def test_tokenizer_and_extractor_errors_say_where() -> None:
    """The messages name the place: a dashboard author reads them in a failing test."""
    with pytest.raises(ValueError, match=r"^no PromQL token at 4: '\$abcdefghijklmnopqrs' in "):
        promql_tokens("foo $abcdefghijklmnopqrstuvwxyz")
    # Doubled braces or brackets are counted, not merely toggled.
    for expr in ('x{{a="b"}', "x[[5m]"):
        with pytest.raises(ValueError, match=r"^unbalanced braces or brackets in "):
            promql_metric_names(expr)


def test_comments_are_dropped_and_an_open_label_list_ends_the_expression() -> None:
    assert promql_tokens("x # the note\n+ y") == [("identifier", "x"), ("operator", "+"), ("identifier", "y")]
    # An unclosed grouping list (a half-typed query) selects nothing more, and is no IndexError.
    assert promql_metric_names("sum(up) by (job") == {"up"}


# --- The catalog ---------------------------------------------------------------------------------


def test_catalog_groups_have_sources_and_names() -> None:
    assert set(EXPORTER_METRICS) == {
        "kube-state-metrics",
        "node-exporter",
        "kubelet",
        "dcgm-exporter",
        "prometheus-remote-write",
        "scrape",
        "cert-manager",
        "blackbox-exporter",
        "jupyterhub",
        "traefik",
        "mlflow",
        "oauth2-proxy",
        "argo-workflows",
        "cloudnative-pg",
    }
    for group in EXPORTER_METRICS.values():
        assert group.source and group.names, group.exporter
        assert all(name.isidentifier() for name in group.names), group.exporter
    assert frozenset().union(*(g.names for g in EXPORTER_METRICS.values())) == KNOWN_METRICS
    # A few facts read from the sources, spelled exactly.
    for metric, exporter in {
        "kube_node_labels": "kube-state-metrics",
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "dcgm-exporter",
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds": "prometheus-remote-write",
        "jupyterhub_server_spawn_duration_seconds_bucket": "jupyterhub",
        "certmanager_certificate_expiration_timestamp_seconds": "cert-manager",
        "probe_success": "blackbox-exporter",
        "traefik_entrypoint_requests_total": "traefik",
        "up": "scrape",
        "mlflow_http_request_duration_seconds_bucket": "mlflow",
        "oauth2_proxy_requests_total": "oauth2-proxy",
        "argo_workflows_gauge": "argo-workflows",
        "cnpg_collector_last_available_backup_timestamp": "cloudnative-pg",
    }.items():
        assert exporter_of(metric) == exporter, metric
    # DCGM_FI_DRIVER_VERSION is a `label` field in the counters file: never a series.
    assert "DCGM_FI_DRIVER_VERSION" not in KNOWN_METRICS
    assert exporter_of("jupyterhub_server_spawn_duration_seconds") is None


def test_kube_state_metrics_label_sanitising() -> None:
    assert kube_state_metrics_label("meridian.io/pool") == "label_meridian_io_pool"
    assert kube_state_metrics_label("nvidia.com/gpu.product") == "label_nvidia_com_gpu_product"
    assert POOL_METRIC_LABEL == "label_meridian_io_pool"


# --- Dashboards ----------------------------------------------------------------------------------


def test_dashboards_are_the_four_asked_for() -> None:
    models = dashboards()
    assert list(models) == ["meridian-fleet", "meridian-gpu", "meridian-jupyterhub", "meridian-mlops"]
    for uid, model in models.items():
        assert model["uid"] == uid
        assert json.loads(json.dumps(model)) == model
        assert [v["name"] for v in model["templating"]["list"]][:3] == ["project", "site", "cluster"]
    assert [v["name"] for v in models["meridian-gpu"]["templating"]["list"]] == ["project", "site", "cluster", "pool"]


def test_panel_ids_and_ref_ids_are_unique_and_the_grid_does_not_overlap() -> None:
    uids = [model["uid"] for model in dashboards().values()]
    assert len(uids) == len(set(uids))
    for uid, model in dashboards().items():
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids)), uid
        cells: set[tuple[int, int]] = set()
        for panel in model["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, (uid, panel["title"])
            mine = {
                (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & mine, (uid, panel["title"])
            cells |= mine
            refs = [target["refId"] for target in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), (uid, panel["title"])
            assert panel["datasource"] == dict(PROMETHEUS_DATASOURCE)


def test_panel_queries_are_every_target() -> None:
    targets = [t["expr"] for m in dashboards().values() for p in m["panels"] for t in p["targets"]]
    assert panel_queries() == targets
    assert all('project=~"$project", site=~"$site", cluster=~"$cluster"' in expr for expr in targets)


def test_every_query_names_only_known_metrics() -> None:
    assert _unknown_metrics(panel_queries() + _variable_selectors()) == {}


def test_an_unknown_metric_fails_the_check() -> None:
    broken = [*panel_queries(), 'sum(DCGM_FI_DEV_GPU_UTILIZATION{site=~"$site"})']
    assert _unknown_metrics(broken) == {broken[-1]: frozenset({"DCGM_FI_DEV_GPU_UTILIZATION"})}


def test_dashboards_use_the_facts_they_depend_on() -> None:
    queries = "\n".join(panel_queries())
    # DCGM joined to the pool by node name, under either spelling of the node label.
    assert "label_replace(DCGM_FI_DEV_GPU_UTIL{" in queries
    assert '"node", "$1", "Hostname", "(.+)"' in queries and '"node", "$1", "hostname", "(.+)"' in queries
    assert "* on (project, site, cluster, node) group_left (pool)" in queries
    assert 'label_meridian_io_pool=~"$pool"' in queries
    assert "GPU_I_PROFILE" in queries
    assert "prometheus_remote_storage_queue_highest_timestamp_seconds" in queries
    assert "jupyterhub_active_users" in queries and "jupyterhub_server_spawn_duration_seconds_bucket" in queries
    # MLOps: MLflow's prefix is its own (defaults_prefix="mlflow"); the model services' traffic is
    # their logins', per service from the login's Service name (job); GPU use by the pod DCGM
    # attributes the GPU to, whose labels arrive prefixed (honor_labels false).
    assert "mlflow_http_request_duration_seconds_bucket" in queries
    assert "label_replace(sum by (site, cluster, job) (rate(oauth2_proxy_requests_total{" in queries
    assert '"service", "$1", "job", "model-(.+)-login"' in queries
    assert 'exported_namespace="models"' in queries and "by (site, cluster, exported_pod)" in queries
    assert "kube_horizontalpodautoscaler_status_current_replicas" in queries
    assert "time() - max(cnpg_collector_last_available_backup_timestamp" in queries


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    exprs = [concrete(expr) for expr in panel_queries()] + _variable_selectors()
    result = _promtool(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_a_broken_query_fails_promtool(tmp_path: Path) -> None:
    result = _promtool([concrete(panel_queries()[0]), "sum by (site (up)"], tmp_path)
    assert result.returncode != 0
    assert "meridian:dashboard_query:1" in result.stdout + result.stderr


def _panel_query(title: str) -> str:
    (expr,) = [
        query.expr
        for dashboard in dashboard_specs()
        for panel in dashboard.panels
        if panel.title == title
        for query in panel.queries
    ]
    # Every value of the dashboard's variables, as Grafana's "All" does.
    return concrete(expr).replace('"$project"', '".*"').replace('"$site"', '".*"').replace('"$cluster"', '".*"')


def _certificate_series(exported_namespace: str, days: int) -> dict[str, str]:
    # As the collector scrapes cert-manager (the alerts' cases describe the labels): the target's
    # `namespace` kept, the Certificate's as exported_namespace.
    labels = {"project": "p", "site": "s", "cluster": "c"}
    metric = "certmanager_certificate_expiration_timestamp_seconds"
    return {"series": series(metric, labels, CERT, exported_namespace=exported_namespace), "values": str(days * 86400)}


def test_certificates_with_one_name_in_two_namespaces_are_two_rows(tmp_path: Path) -> None:
    """The expiry panel, evaluated by the real promtool on series shaped as the collector scrapes them."""

    def run(expr: str) -> subprocess.CompletedProcess[str]:
        promtool = shutil.which("promtool")
        assert promtool is not None, "promtool is not on PATH: run scripts/debian-tools.sh"
        (tmp_path / "empty.rules.yaml").write_text('{"groups": []}', encoding="utf-8")
        row = 'project="p", site="s", cluster="c", exported_namespace="{}", name="hub-tls"'
        tests = {
            "rule_files": ["empty.rules.yaml"],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [_certificate_series("jupyterhub", 40), _certificate_series("mlflow", 10)],
                    "promql_expr_test": [
                        {
                            "expr": expr,
                            "eval_time": "0m",
                            "exp_samples": [
                                {"labels": "{" + row.format("jupyterhub") + "}", "value": 40},
                                {"labels": "{" + row.format("mlflow") + "}", "value": 10},
                            ],
                        }
                    ],
                }
            ],
        }
        (tmp_path / "panel.test.yaml").write_text(json.dumps(tests), encoding="utf-8")  # JSON is YAML
        return subprocess.run(
            [promtool, "test", "rules", "panel.test.yaml"], cwd=tmp_path, capture_output=True, text=True, check=False
        )

    expr = _panel_query("Certificates: days to expiry")
    result = run(expr)
    assert result.returncode == 0, result.stdout + result.stderr
    # Grouped by the target's namespace, the two certificates merge into one row (the earlier expiry).
    broken = run(expr.replace("exported_namespace", "namespace"))
    assert broken.returncode != 0
    assert 'got: {cluster="c", name="hub-tls", namespace="cert-manager", project="p", site="s"} 1E+01' in broken.stderr


def test_the_collector_allow_lists_the_node_labels_the_dashboards_need() -> None:
    from components.addons import observability

    def node_labels(entries: object) -> set[str]:
        assert isinstance(entries, (list, tuple))
        return {
            label.strip()
            for entry in entries
            if entry.startswith("nodes=[")
            for label in entry[len("nodes=[") : -1].split(",")
        }

    assert NODE_LABELS_ALLOWLIST == ("nodes=[meridian.io/pool,nvidia.com/gpu.product]",)
    assert node_labels(NODE_LABELS_ALLOWLIST) <= node_labels(observability.NODE_LABELS_ALLOWLIST)


# --- ConfigMaps ----------------------------------------------------------------------------------


def test_configmaps_carry_the_sidecar_label_and_the_dashboard() -> None:
    configmaps = dashboard_configmaps("monitoring", LABELS)
    models = dashboards()
    assert [cm["metadata"]["name"] for cm in configmaps] == [f"grafana-dashboard-{uid}" for uid in models]
    for configmap, (uid, model) in zip(configmaps, models.items(), strict=True):
        assert configmap["metadata"]["namespace"] == "monitoring"
        assert configmap["metadata"]["labels"] == {**LABELS, SIDECAR_LABEL: "1"}
        assert list(configmap["data"]) == [f"{uid}.json"]
        assert json.loads(configmap["data"][f"{uid}.json"]) == model
    # Deterministic: the same text every time.
    assert dashboard_configmaps("monitoring", LABELS) == configmaps


def test_the_sidecar_label_is_kube_prometheus_stacks() -> None:
    assert (SIDECAR_LABEL, dashboards_module.SIDECAR_LABEL_VALUE) == ("grafana_dashboard", "1")
    with pytest.raises(ValueError, match="grafana_dashboard"):
        dashboard_configmaps("monitoring", {SIDECAR_LABEL: "0"})


def test_configmaps_validate_against_the_kubernetes_schema() -> None:
    # ConfigMap is a built-in kind: kubernetes-validate, strictly, as scripts/validate.py does for
    # built-ins (called directly so no locked CRD has to load for it; tests/test_gpu_operator.py too).
    configmaps = dashboard_configmaps("monitoring", LABELS)
    for configmap in configmaps:
        kubernetes_validate.validate(configmap, KUBE_VERSION, strict=True)
    broken = copy.deepcopy(configmaps[0])
    broken["data"]["meridian-fleet.json"] = json.loads(broken["data"]["meridian-fleet.json"])  # data values are strings
    misspelt = copy.deepcopy(configmaps[1])
    misspelt["metadata"]["lables"] = misspelt["metadata"].pop("labels")  # strict: no unknown fields
    for bad in (broken, misspelt):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, KUBE_VERSION, strict=True)


def test_a_dashboard_over_a_configmaps_size_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # A ConfigMap holds at most 1 MiB of data (Kubernetes docs, "ConfigMaps"; the API server refuses
    # a larger one): every dashboard fits, and one that did not would be refused before any plan.
    assert dashboards_module.CONFIGMAP_MAX_BYTES == 1_048_576
    sizes = {uid: len(dashboard_json(model).encode()) for uid, model in dashboards().items()}
    assert max(sizes.values()) < dashboards_module.CONFIGMAP_MAX_BYTES
    uid = next(iter(sizes))
    monkeypatch.setattr(dashboards_module, "CONFIGMAP_MAX_BYTES", sizes[uid] - 1)
    with pytest.raises(ValueError) as refused:
        dashboard_configmaps("monitoring", LABELS)
    assert str(refused.value) == f"dashboard {uid} is {sizes[uid]} bytes, over a ConfigMap's {sizes[uid] - 1}"
