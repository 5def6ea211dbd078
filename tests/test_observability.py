"""Observability: every cluster's collector, the central stack, its endpoints and Alertmanager.

Plans come from the one offline harness (`bundled_plan`, `plan_of`). Expected values are written
out from the stack files and from the sources named beside them (kube-prometheus-stack 88.5.3 and
its Prometheus Operator CRDs, resolved through scripts/upstream.py; Prometheus, Alertmanager,
Grafana and Traefik documentation), never from the code under test. Alertmanager's configuration
is checked by the real `amtool check-config` (Debian prometheus-alertmanager), Grafana's role
mapping by a JMESPath implementation, the basic-auth entry by bcrypt itself.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import jmespath
import jsonschema
import pytest
import yaml
from conftest import examples, load_platform, rendered_release, revealed_plan
from helm_values import unknown_keys
from hypothesis import given, settings
from hypothesis import strategies as st

from components.addons.central import (
    _literal,
    _quoted_list,
    alertmanager_config,
    grafana_ini,
    htpasswd,
    receiver_secret_refs,
    role_attribute_path,
)
from components.addons.observability import collector_sources, wal_size_gb
from components.spec import ClusterSpec, SpecError, parse_platform
from components.spec.addons import AuthenticatorSpec
from components.spec.observability import ObservabilitySpec
from scripts.crdschema import schema_of, validate
from scripts.harness import STACKS, Plan, offline_vault_field
from scripts.upstream import chart_dir

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
PROMETHEUS = "kubernetes:monitoring.coreos.com/v1:Prometheus"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
MIDDLEWARE = "kubernetes:traefik.io/v1alpha1:Middleware"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
SITE_COLLECTOR = "meridian:addons:SiteObservability"
CENTRAL = "meridian:addons:CentralObservability"


def platform_of(stack: str) -> dict[str, Any]:
    return load_platform(STACKS / f"Pulumi.{stack}.yaml")


def stack_values(plan: Plan, cluster: str) -> dict[str, Any]:
    found: dict[str, Any] = plan.one(RELEASE, f"{cluster}-kube-prometheus-stack")["inputs"]["values"]
    return found


# -- collectors -------------------------------------------------------------------------------------


def test_every_other_cluster_remote_writes_to_the_central_endpoint(bundled_plan: Callable[[str], Plan]) -> None:
    """kube-prometheus-stack values.yaml: `prometheus.agentMode`, `prometheusSpec.remoteWrite` (the operator's
    RemoteWriteSpec: url, basicAuth from a Secret's keys), `externalLabels`, `storageSpec`, `additionalArgs`."""
    plan = bundled_plan("eo4eu")
    prometheus = stack_values(plan, "burst")["prometheus"]
    assert prometheus["agentMode"] is True
    spec = prometheus["prometheusSpec"]
    # The stack file: central metrics_hostname metrics.bologna.eo4eu.eu; Prometheus's receiver path /api/v1/write.
    (write,) = spec["remoteWrite"]
    assert write["url"] == "https://metrics.bologna.eo4eu.eu/api/v1/write"
    assert write["basicAuth"] == {
        "username": {"name": "meridian-push-credentials", "key": "username"},
        "password": {"name": "meridian-push-credentials", "key": "password"},
    }
    assert spec["externalLabels"] == {"project": "eo4eu", "site": "aws-frankfurt", "cluster": "burst"}
    # buffer_minutes: 180 in the stack file: the agent keeps unsent samples that long (its flag).
    assert spec["additionalArgs"] == [{"name": "storage.agent.retention.max-time", "value": "180m"}]
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    # Every ServiceMonitor, PodMonitor and Probe of the cluster is scraped (the add-ons' too).
    for kind in ("serviceMonitor", "podMonitor", "probe", "scrapeConfig"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
    # Alertmanager and Grafana run centrally only; the agent evaluates no rules.
    assert stack_values(plan, "burst")["alertmanager"] == {"enabled": False}
    assert stack_values(plan, "burst")["grafana"] == {"enabled": False}
    assert stack_values(plan, "burst")["defaultRules"] == {"create": False}


def test_add_ons_are_monitored_where_their_charts_run(bundled_plan: Callable[[str], Plan]) -> None:
    # The ingress add-on installs cert-manager alone on a Cluster API management cluster that
    # publishes nothing (ingress.publishes), so the collector monitors no Traefik there: such a
    # ServiceMonitor would select no Service (validate.references, over every bundled stack).
    plan = bundled_plan("destine-extremes")
    monitors = {r["name"] for r in plan.by_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")}
    assert {
        "extremes-bologna-monitor-cert-manager",
        "postproc-monitor-cert-manager",
        "postproc-monitor-traefik",
    } <= monitors
    assert "extremes-bologna-monitor-traefik" not in monitors
    releases = {r["name"] for r in plan.by_type(RELEASE)}
    assert "extremes-bologna-traefik" not in releases and "postproc-traefik" in releases


def test_a_central_cluster_delivered_by_gitops_installs_its_collector_directly(
    plan_of: Callable[..., Plan],
) -> None:
    # The central stack's collector carries its login's names and waits on the central releases,
    # which are direct (central.py), so it is installed directly even where the cluster's other
    # add-ons come from the GitOps engine (Fleet HelmOps: the GPU Operator, Traefik).
    platform = copy.deepcopy(platform_of("destine-extremes"))
    central = platform["observability"]["central"]
    central["cluster"] = "extremes-kajaani"
    for key in ("grafana_hostname", "metrics_hostname", "logs_hostname"):
        central[key] = central[key].replace("frankfurt", "kajaani")
    acme = {"email": "platform@destine-x.eu", "environment": "production"}
    platform["clusters"]["extremes-kajaani"]["addons"]["ingress"] = {"allowed_sources": ["0.0.0.0/0"], "acme": acme}
    platform["mlops"]["model_services"]["emulator"]["target"] = {"cpu_percent": 70}
    plan = plan_of(platform, **{"meridian:hpcBridgeKubeconfig": {"secure": "x"}})
    assert plan.one(RELEASE, "extremes-kajaani-kube-prometheus-stack")
    assert plan.one(RELEASE, "extremes-kajaani-alloy")
    helmops = {r["name"] for r in plan.by_type("kubernetes:fleet.cattle.io/v1alpha1:HelmOp")}
    assert {"extremes-kajaani-gpu-operator-helmop", "extremes-kajaani-traefik-helmop"} <= helmops
    assert not {"extremes-kajaani-kube-prometheus-stack-helmop", "extremes-kajaani-alloy-helmop"} & helmops


def test_the_central_cluster_ships_in_cluster_like_every_other(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("eo4eu")
    spec = stack_values(plan, "core")["prometheus"]["prometheusSpec"]
    assert spec["remoteWrite"][0]["url"] == "http://central-prometheus.monitoring.svc:9090/api/v1/write"
    assert "basicAuth" not in spec["remoteWrite"][0]
    assert spec["externalLabels"] == {"project": "eo4eu", "site": "ewc-bologna", "cluster": "core"}
    assert plan.by_type(SITE_COLLECTOR) == [plan.one(SITE_COLLECTOR, "burst-observability")]
    assert plan.one(CENTRAL, "core-central-observability")
    assert not [r for r in plan.by_type(SECRET) if r["name"] == "core-push-credentials"]


def test_push_credentials_are_a_secret_from_the_stack_files_reference(plan_of: Callable[..., Plan]) -> None:
    plan = plan_of(platform_of("eo4eu"), reveal_secrets=True)
    secret = plan.one(SECRET, "burst-push-credentials")
    assert secret["inputs"]["stringData"] == "[secret]"
    assert secret["inputs"]["type"] == "kubernetes.io/basic-auth"
    assert plan.revealed[secret["urn"]]["stringData"] == {
        "username": "eo4eu",
        "password": offline_vault_field("kv", "eo4eu/observability", "push_password"),
    }
    assert secret["urn"] in plan.one(RELEASE, "burst-kube-prometheus-stack")["depends_on"]


def test_attached_clusters_are_observed_only_when_asked(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("destine-extremes")
    observed = sorted(r["name"] for r in plan.by_type(SITE_COLLECTOR))
    assert observed == ["extremes-bologna-observability", "extremes-kajaani-observability"]
    assert not [r for r in plan.resources if r["name"].startswith("hpc-bridge-") and "prometheus" in r["name"]]
    platform = copy.deepcopy(platform_of("destine-extremes"))
    platform["clusters"]["hpc-bridge"].setdefault("addons", {})["observability"] = {"enabled": True}
    spec = parse_platform(platform, "test")
    assert spec.clusters["hpc-bridge"].addons.observed


def test_wal_volume_is_sized_for_the_buffer_at_the_largest_cluster() -> None:
    cluster = ClusterSpec.model_validate(
        {
            "site": "s",
            "backend": "eks",
            "version": "1.34",
            "node_pools": {"a": {"flavor": "m6i.large", "min_size": 1, "max_size": 400}},
        }
    )
    # 20,000 + 2,500 x 400 series every 30 s for 2 days, 16 bytes a sample, twice over:
    # 34,000 samples/s x 172,800 s x 32 B = 188,006,400,000 B = 175.1 GiB -> 176.
    assert wal_size_gb(cluster, 2880) == 176
    # Two hours of the same cluster fit the smallest volume Meridian asks for.
    assert wal_size_gb(cluster, 120) == 10


def test_the_gpu_operator_waits_for_the_collectors_crds(bundled_plan: Callable[[str], Plan]) -> None:
    # Its DCGM exporter's ServiceMonitor is an object of a CRD the collector's chart installs.
    plan = bundled_plan("eo4eu")
    operator = plan.one(RELEASE, "burst-gpu-operator")
    assert plan.one(SITE_COLLECTOR, "burst-observability")["urn"] in operator["depends_on"] or any(
        r["urn"] in operator["depends_on"]
        for r in plan.descendants(plan.one(SITE_COLLECTOR, "burst-observability")["urn"])
    )
    assert operator["inputs"]["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] is True


def test_collector_values_are_the_charts_own_keys(bundled_plan: Callable[[str], Plan]) -> None:
    chart = chart_dir("kube-prometheus-stack")
    assert unknown_keys(stack_values(bundled_plan("eo4eu"), "burst"), chart / "values.yaml") == []
    # values.yaml documents `configSecret` commented out; templates/alertmanager/alertmanager.yaml reads it.
    assert unknown_keys(stack_values(bundled_plan("eo4eu"), "core"), chart / "values.yaml") == [
        "alertmanager.alertmanagerSpec.configSecret"
    ]
    template = (chart / "templates" / "alertmanager" / "alertmanager.yaml").read_text(encoding="utf-8")
    assert "configSecret: {{ .Values.alertmanager.alertmanagerSpec.configSecret }}" in template


# -- the central stack ------------------------------------------------------------------------------


def prometheus_crd(kind: str) -> dict[str, Any]:
    path = chart_dir("kube-prometheus-stack") / "charts" / "crds" / "crds" / f"crd-{kind}.yaml"
    crd: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return crd


def test_central_prometheus_receives_keeps_and_alerts(bundled_plan: Callable[[str], Plan]) -> None:
    """Prometheus Operator API (PrometheusSpec): enableRemoteWriteReceiver, tsdb.outOfOrderTimeWindow,
    retention, retentionSize, storage, ruleSelector, alerting.alertmanagers."""
    plan = bundled_plan("eo4eu")
    document = plan.one(PROMETHEUS, "core-central-prometheus")["inputs"]
    spec = document["spec"]
    assert spec["enableRemoteWriteReceiver"] is True
    # buffer_minutes 180: samples replayed after an outage are older than the head block.
    assert spec["tsdb"] == {"outOfOrderTimeWindow": "180m"}
    # retention: {metrics_days: 90, metrics_storage_gb: 200}; local_days 7 (the default) on the volume,
    # every block in object storage through the Thanos sidecar.
    assert spec["retention"] == "7d"
    assert spec["thanos"]["objectStorageConfig"] == {"name": "meridian-thanos-objstore", "key": "objstore.yml"}
    assert spec["thanos"]["version"] == "v0.42.4"
    assert spec["retentionSize"] == "170GB"
    assert spec["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    # Discovering Alertmanager's endpoints needs RBAC the namespace's default account lacks: the chart's
    # Prometheus account has it (kube-prometheus-stack templates/prometheus/clusterrole.yaml).
    assert spec["serviceAccountName"] == "kube-prometheus-stack-prometheus"
    # It evaluates Meridian's rules: the PrometheusRule carries the label it selects.
    rule = plan.one(RULE, "core-alert-rules")["inputs"]
    assert spec["ruleSelector"]["matchLabels"].items() <= rule["metadata"]["labels"].items()
    (alertmanager,) = spec["alerting"]["alertmanagers"]
    assert alertmanager["name"] == "kube-prometheus-stack-alertmanager" and alertmanager["port"] == "http-web"
    validate(document, schema_of(prometheus_crd("prometheuses"), "v1"))
    broken = copy.deepcopy(document)
    broken["spec"]["enableRemoteWriteReceiver"] = "yes"
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, schema_of(prometheus_crd("prometheuses"), "v1"))


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def admitted_namespaces(policy: dict[str, Any]) -> dict[str, Any]:
    """namespace -> the selector of its admitted pods (None: all of them), of a one-rule policy."""
    (rule,) = policy["spec"]["ingress"]
    return {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: peer.get("podSelector")
            for peer in rule["from"]}  # fmt: skip


def rendered_objects(plan: Plan, release: str) -> list[dict[str, Any]]:
    return list(rendered_release(plan, release).objects)


def test_only_meridians_own_pods_reach_the_central_prometheus(bundled_plan: Callable[[str], Plan]) -> None:
    """Its remote-write receiver takes any sample, unauthenticated in-cluster: a NetworkPolicy admits
    the pods that write and query (every one of them found in the plan), and nobody else."""
    from scripts.validate import validate_objects

    plan = bundled_plan("destine-extremes")
    policy = plan.one(NETWORK_POLICY, "postproc-central-prometheus-policy")["inputs"]
    service = plan.one("kubernetes:core/v1:Service", "postproc-central-prometheus-service")["inputs"]
    # The pods the Service sends to, and only those (the Prometheus Operator's pod label).
    assert policy["metadata"]["namespace"] == service["metadata"]["namespace"] == "monitoring"
    assert policy["spec"]["podSelector"] == {"matchLabels": service["spec"]["selector"]}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    admitted = admitted_namespaces(policy)
    # Traefik's pods only, of its namespace (the push endpoint, behind basic auth).
    assert admitted == {
        "monitoring": None,
        "traefik": {
            "matchLabels": {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-traefik"}
        },
        "custom-metrics": None,
    }
    # Who asks it, from the plan: the central cluster's agent writes to its Service from `monitoring`;
    # the push Ingress's backend is its Service; the metrics adapter queries it from `custom-metrics`.
    agents = [r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r["name"] == "postproc-kube-prometheus-stack"]
    (agent,) = agents
    url = agent["inputs"]["values"]["prometheus"]["prometheusSpec"]["remoteWrite"][0]["url"]
    assert url.startswith("http://central-prometheus.monitoring.svc:") and agent["inputs"]["namespace"] == "monitoring"
    adapters = [
        r["inputs"] for r in plan.by_type("kubernetes:apps/v1:Deployment")
        if r["inputs"]["metadata"]["name"] == "prometheus-adapter"
    ]  # fmt: skip
    (adapter,) = adapters
    assert adapter["metadata"]["namespace"] in admitted
    (container,) = adapter["spec"]["template"]["spec"]["containers"]
    assert "--prometheus-url=http://central-prometheus.monitoring.svc:9090/" in container["args"]
    assert validate_objects([policy], "1.34", "central") == []
    broken = copy.deepcopy(policy)
    broken["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = "monitoring"
    assert validate_objects([broken], "1.34", "central") != []


def test_thanos_and_alertmanager_answer_their_own_namespace_only(bundled_plan: Callable[[str], Plan]) -> None:
    """Thanos Query serves every site's series and Alertmanager takes silences, neither with
    credentials: their policies admit `monitoring` only, and select the pods that serve."""
    plan = bundled_plan("destine-extremes")
    policies = {
        name: plan.one(NETWORK_POLICY, name)["inputs"]
        for name in ("postproc-thanos-policy", "postproc-alertmanager-policy")
    }
    monitoring = [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}]
    for policy in policies.values():
        assert policy["metadata"]["namespace"] == "monitoring" and policy["spec"]["ingress"] == monitoring
    # Every Thanos workload's pods (Query, Store, the compactor).
    selector = policies["postproc-thanos-policy"]["spec"]["podSelector"]["matchLabels"]
    workloads = [
        r["inputs"] for r in plan.resources
        if r["type"] in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
        and r["inputs"]["metadata"]["name"].startswith("thanos-")
    ]  # fmt: skip
    assert sorted(w["metadata"]["name"] for w in workloads) == ["thanos-compact", "thanos-query", "thanos-store"]
    for workload in workloads:
        assert selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
    # Grafana asks Query, in the namespace the policy admits.
    assert "http://thanos-query.monitoring.svc:10902" in json.dumps(
        plan.one("kubernetes:helm.sh/v3:Release", "postproc-kube-prometheus-stack")["inputs"]["values"]
    )
    # Alertmanager: the pods the chart's own Service selects (rendered by the real helm).
    (service,) = [
        o for o in rendered_objects(plan, "postproc-kube-prometheus-stack")
        if o["kind"] == "Service" and o["metadata"]["name"] == "kube-prometheus-stack-alertmanager"
    ]  # fmt: skip
    assert policies["postproc-alertmanager-policy"]["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]


def test_only_grafana_the_log_collectors_and_the_push_endpoint_reach_loki(
    bundled_plan: Callable[[str], Plan],
) -> None:
    """Loki's push API takes any line in-cluster and its query API returns every site's logs: its
    policy selects exactly the pods the chart renders behind the `loki` Service."""
    plan = bundled_plan("destine-extremes")
    policy = plan.one(NETWORK_POLICY, "postproc-loki-policy")["inputs"]
    admitted = admitted_namespaces(policy)
    assert set(admitted) == {"monitoring", "node-agents", "traefik"} and admitted["monitoring"] is None
    assert admitted["traefik"] == {
        "matchLabels": {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-traefik"}
    }
    # The central cluster's own log collector pushes from node-agents (logs.py, in-cluster URL).
    alloy = plan.one("kubernetes:helm.sh/v3:Release", "postproc-alloy")["inputs"]
    assert alloy["namespace"] == "node-agents" and "http://loki.monitoring.svc:3100/" in json.dumps(alloy["values"])
    # The chart's own pods and Service: the policy's selector picks the pods the Service sends to.
    objects = rendered_objects(plan, "postproc-loki")
    (server,) = [o for o in objects if o["kind"] == "StatefulSet"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= server["spec"]["template"]["metadata"]["labels"].items()
    (service,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "loki"]
    # ...and the Service sends to those pods, which the policy covers.
    assert service["spec"]["selector"].items() <= server["spec"]["template"]["metadata"]["labels"].items()
    assert policy["metadata"]["namespace"] == service["metadata"]["namespace"] == "monitoring"


def test_remote_write_endpoint_is_tls_basic_auth_and_its_path_only(plan_of: Callable[..., Plan]) -> None:
    """Traefik docs, Kubernetes Ingress annotations: router.tls, router.middlewares `<namespace>-<name>@kubernetescrd`;
    middlewares, BasicAuth: `secret` holds htpasswd `users`."""
    plan = plan_of(platform_of("eo4eu"), reveal_secrets=True)
    ingress = plan.one(INGRESS, "core-remote-write")["inputs"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["traefik.ingress.kubernetes.io/router.tls"] == "true"
    assert (
        annotations["traefik.ingress.kubernetes.io/router.middlewares"] == "monitoring-meridian-push-auth@kubernetescrd"
    )
    # Its certificate is the project CA's, on the push entry point only (test_push_endpoints.py).
    assert annotations["cert-manager.io/issuer"] == "meridian-push-ca"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "metrics.bologna.eo4eu.eu"
    assert rule["http"]["paths"] == [
        {
            "path": "/api/v1/write",
            "pathType": "Exact",
            "backend": {"service": {"name": "central-prometheus", "port": {"name": "web"}}},
        }
    ]
    assert ingress["spec"]["tls"] == [{"hosts": ["metrics.bologna.eo4eu.eu"], "secretName": "central-remote-write-tls"}]
    middleware = plan.one(MIDDLEWARE, "core-push-auth")["inputs"]
    assert middleware["metadata"] == {**middleware["metadata"], "name": "meridian-push-auth", "namespace": "monitoring"}
    assert middleware["spec"]["basicAuth"]["secret"] == "meridian-push-users"
    users = plan.one(SECRET, "core-push-users")
    assert users["inputs"]["stringData"] == "[secret]"
    user, hashed = plan.revealed[users["urn"]]["stringData"]["users"].split(":", 1)
    password = offline_vault_field("kv", "eo4eu/observability", "push_password")
    assert user == "eo4eu" and bcrypt.checkpw(password.encode(), hashed.encode())
    assert not bcrypt.checkpw(b"another password", hashed.encode())


def test_push_password_hash_is_stable_and_bounded() -> None:
    first, second = htpasswd("p", "correct horse battery staple"), htpasswd("p", "correct horse battery staple")
    assert first == second and first.startswith("p:$2b$12$")
    assert htpasswd("p", "another one") != first
    with pytest.raises(ValueError, match="push_password") as caught:
        htpasswd("p", "x" * 73)
    assert "xxx" not in str(caught.value)


def test_traefik_serves_middlewares_only_where_the_central_endpoints_are(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("eo4eu")
    central = plan.one(RELEASE, "core-traefik")
    other = plan.one(RELEASE, "burst-traefik")
    assert central["inputs"]["values"]["providers"]["kubernetesCRD"]["enabled"] is True
    # Traefik's CRDs (Middleware among them) are installed everywhere: Helm installs a chart's crds/
    # at install only (Helm docs, "Custom Resource Definitions": no upgrade), so a cluster that
    # becomes the central one later must have them already.
    assert "skipCrds" not in central["inputs"]
    assert other["inputs"]["values"]["providers"]["kubernetesCRD"]["enabled"] is False
    assert "skipCrds" not in other["inputs"]


def test_central_endpoints_admit_every_observed_site(bundled_plan: Callable[[str], Plan]) -> None:
    platform = platform_of("destine-extremes")
    spec = parse_platform(platform, "test")
    # Every site with an observed cluster, the central cluster's own (Frankfurt) included.
    assert collector_sources(spec, "postproc") == ["site:aws-frankfurt", "site:ewc-bologna", "site:lumi-kajaani"]
    assert collector_sources(spec, "extremes-bologna") == []
    plan = bundled_plan("destine-extremes")
    push = plan.one(RELEASE, "postproc-traefik")["inputs"]["values"]["service"]["additionalServices"]["push"]
    ranges = push["spec"]["loadBalancerSourceRanges"]
    assert "0.0.0.0/0" not in ranges
    # One router gateway address per OpenStack site, and Frankfurt's NAT gateways (nat: per-az, one
    # per zone); the CIDRs the hub's load balancer admits are not the push endpoints' business.
    sites = platform["sites"]
    written = platform["clusters"]["postproc"]["addons"]["ingress"]["allowed_sources"]
    cidrs = [entry for entry in written if not entry.startswith("site:")]
    assert sites["aws-frankfurt"]["aws"]["nat"] == "per-az"
    frankfurt = len(sites["aws-frankfurt"]["aws"]["availability_zones"])
    assert (len(cidrs), frankfurt) == (2, 3)
    assert len(ranges) == len(set(ranges)) == 2 + frankfurt
    assert not set(cidrs) & set(ranges)


def test_an_open_hub_does_not_open_the_push_endpoints() -> None:
    spec = parse_platform(platform_of("eo4eu"), "test")
    assert spec.clusters["core"].addons.ingress.allowed_sources == ["0.0.0.0/0"]
    assert collector_sources(spec, "core") == ["site:aws-frankfurt", "site:ewc-bologna"]


# -- Alertmanager -----------------------------------------------------------------------------------


def observability_of(stack: str) -> ObservabilitySpec:
    observability = parse_platform(platform_of(stack), "test").observability
    assert observability is not None
    return observability


REAL_SECRETS = {
    "platform-team": "smtp password",
    "on-call": "https://matrix-hookshot.example.org/webhook/abc",
    "operators": "https://hooks.example.org/alertmanager",
    "duty": "https://duty.example.org/alert",
    "ops": "https://hooks.slack.com/services/T000/B000/XXXX",
}


def amtool(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    assert binary, "amtool comes from Debian's prometheus-alertmanager (scripts/debian-tools.sh, make tools)"
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return subprocess.run([binary, "check-config", str(path)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("stack", ["eo4eu", "climres", "meditwin", "buildspace", "destine-extremes"])
def test_alertmanager_configuration_passes_amtool(stack: str, tmp_path: Path) -> None:
    observability = observability_of(stack)
    config = alertmanager_config(
        observability, {name: REAL_SECRETS[name] for name in receiver_secret_refs(observability)}
    )
    result = amtool(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(observability.receivers) + 1} receivers" in result.stdout


def test_amtool_refuses_a_broken_configuration(tmp_path: Path) -> None:
    config = alertmanager_config(observability_of("eo4eu"), REAL_SECRETS)
    config["route"]["routes"][0]["receiver"] = "nobody"
    result = amtool(config, tmp_path)
    assert result.returncode != 0 and "nobody" in result.stdout + result.stderr


def test_alertmanager_routes_each_severity_to_its_receivers(plan_of: Callable[..., Plan]) -> None:
    """Alertmanager docs, configuration: a route's `continue` lets later siblings match too."""
    plan = plan_of(platform_of("eo4eu"), reveal_secrets=True)
    secret = plan.one(SECRET, "core-alertmanager-config")
    assert secret["inputs"]["stringData"] == "[secret]"
    config = yaml.safe_load(plan.revealed[secret["urn"]]["stringData"]["alertmanager.yaml"])
    assert config["route"]["receiver"] == "null"
    assert config["route"]["group_by"] == ["alertname", "project", "site", "cluster"]
    assert config["route"]["routes"] == [
        {"receiver": "platform-team", "matchers": ['severity=~"critical|warning"'], "continue": True},
        {"receiver": "on-call", "matchers": ['severity=~"critical"'], "continue": True},
    ]
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    (email,) = receivers["platform-team"]["email_configs"]
    assert email == {
        "to": "eo4eu-platform@ecmwf.int",
        "from": "alerts@bologna.eo4eu.eu",
        "smarthost": "smtp.ecmwf.int:587",
        "require_tls": True,
        "send_resolved": True,
        "auth_username": "eo4eu-alerts",
        "auth_password": offline_vault_field("kv", "eo4eu/observability", "smtp_password"),
    }
    (slack,) = receivers["on-call"]["slack_configs"]
    assert slack["channel"] == "#eo4eu-alerts"
    assert slack["api_url"] == offline_vault_field("kv", "eo4eu/observability", "matrix_hook_url")
    values = plan.one(RELEASE, "core-kube-prometheus-stack")
    assert values["secret_paths"] == []
    spec = values["inputs"]["values"]["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True and spec["configSecret"] == "meridian-alertmanager"
    assert secret["urn"] in values["depends_on"]


# -- Grafana ----------------------------------------------------------------------------------------


def test_grafana_logs_in_with_the_projects_identity_provider(bundled_plan: Callable[[str], Plan]) -> None:
    """Grafana docs, generic OAuth: auth_url, token_url, api_url, login_attribute_path, groups_attribute_path,
    role_attribute_path, role_attribute_strict; GF_<SECTION>_<KEY> environment overrides."""
    plan = bundled_plan("eo4eu")
    release = plan.one(RELEASE, "core-kube-prometheus-stack")
    assert release["secret_paths"] == []
    grafana = release["inputs"]["values"]["grafana"]
    login = platform_of("eo4eu")["observability"]["central"]["login"]
    ini = grafana["grafana.ini"]
    oauth = ini["auth.generic_oauth"]
    assert oauth["client_id"] == login["client_id"] == "eo4eu-grafana"
    assert (oauth["auth_url"], oauth["token_url"], oauth["api_url"]) == (
        login["authorize_url"],
        login["token_url"],
        login["userdata_url"],
    )
    assert oauth["groups_attribute_path"] == "eduperson_entitlement"
    assert oauth["role_attribute_strict"] is True
    assert "client_secret" not in oauth
    # eo4eu's client secret lies under vault.in_cluster: an ExternalSecret makes its Secret on the
    # cluster (test_external_secrets.py); elsewhere Meridian's own Secret holds it (meridian-grafana).
    assert grafana["envValueFrom"] == {
        "GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": {
            "secretKeyRef": {"name": "meridian-grafana-oauth", "key": "oauth-client-secret"}
        }
    }
    assert grafana["admin"]["existingSecret"] == "meridian-grafana"
    assert ini["server"]["root_url"] == "https://grafana.bologna.eo4eu.eu"
    assert ini["auth"] == {"disable_login_form": True}
    assert grafana["ingress"]["hosts"] == ["grafana.bologna.eo4eu.eu"]
    assert grafana["ingress"]["tls"] == [{"secretName": "grafana-tls", "hosts": ["grafana.bologna.eo4eu.eu"]}]
    prometheus, loki = grafana["additionalDataSources"]
    # Thanos Query answers the Prometheus API over the recent blocks and the bucket's (Thanos docs, query).
    assert prometheus["url"] == "http://thanos-query.monitoring.svc:10902" and prometheus["uid"] == "prometheus"
    assert prometheus["isDefault"] is True
    # Loki's Service for release `loki` without its gateway: port 3100 (chart templates/single-binary/service.yaml).
    assert (loki["type"], loki["uid"], loki["url"]) == ("loki", "loki", "http://loki.monitoring.svc:3100")


def test_grafana_on_github_admits_the_organizations_not_their_teams() -> None:
    """Grafana docs, GitHub OAuth: `allowed_organizations` is a space-separated list of organization
    names; a team (`org:team`, the hub's form) narrows nothing there, so its organization is listed."""
    observability = copy.deepcopy(platform_of("meditwin")["observability"])
    observability["central"]["login"]["allowed_organizations"] = ["meditwin-project", "ecmwf:ops-team"]
    ini = grafana_ini(ObservabilitySpec.model_validate(observability))
    github = ini["auth.github"]
    assert github["allowed_organizations"] == "meditwin-project ecmwf"
    assert github["scopes"] == "user:email,read:org"
    assert "auth.generic_oauth" not in ini


def test_grafana_roles_follow_the_spec(bundled_plan: Callable[[str], Plan]) -> None:
    login = platform_of("eo4eu")["observability"]["central"]["login"]
    path = role_attribute_path(AuthenticatorSpec.model_validate(login))
    member, operator = login["allowed_groups"][0], login["admin_groups"][0]
    assert jmespath.search(path, {"preferred_username": "a", "eduperson_entitlement": [member]}) == "Viewer"
    assert jmespath.search(path, {"preferred_username": "b", "eduperson_entitlement": [member, operator]}) == "Admin"
    assert jmespath.search(path, {"preferred_username": "c", "eduperson_entitlement": ["urn:other"]}) == ""
    github = AuthenticatorSpec.model_validate(platform_of("meditwin")["observability"]["central"]["login"])
    path = role_attribute_path(github)
    assert jmespath.search(path, {"login": "meditwin-ops-lead"}) == "Admin"
    assert jmespath.search(path, {"login": "someone"}) == "Viewer"  # GitHub let them in: an allowed organization
    users = AuthenticatorSpec.model_validate(
        {
            "kind": "generic-oauth",
            "client_id": "g",
            "client_secret": "config:x",
            "authorize_url": "https://l.example.org/a",
            "token_url": "https://l.example.org/t",
            "userdata_url": "https://l.example.org/u",
            "allowed_users": ["o'brien"],
            "admin_users": ["grace", "ada"],
        }
    )
    path = role_attribute_path(users)
    assert jmespath.search(path, {"preferred_username": "o'brien"}) == "Viewer"
    # Every name of a list counts (a list of two, each its own literal).
    assert jmespath.search(path, {"preferred_username": "grace"}) == "Admin"
    assert jmespath.search(path, {"preferred_username": "ada"}) == "Admin"
    assert jmespath.search(path, {"preferred_username": "mallory"}) == ""


@settings(max_examples=examples(200), deadline=None)
@given(st.text())
def test_every_name_is_one_jmespath_literal_of_itself(name: str) -> None:
    # Whatever a name holds (quotes, backslashes, backticks: a group's DN, a domain account), the
    # role mapping's literal of it is that name (central._literal: a JSON literal, read alike by
    # every JMESPath lexer; a raw string's backslashes are not).
    assert jmespath.search(_literal(name), {}) == name
    assert jmespath.search(f"contains({_quoted_list([name, name + 'x'])}, user)", {"user": name}) is True


# -- spec -------------------------------------------------------------------------------------------


def test_clusters_follow_the_projects_observability_block() -> None:
    platform = platform_of("eo4eu")
    spec = parse_platform(platform, "test")
    assert all(cluster.addons.observed for cluster in spec.clusters.values())
    without = {key: value for key, value in platform.items() if key != "observability"}
    assert not any(cluster.addons.observed for cluster in parse_platform(without, "test").clusters.values())
    off = copy.deepcopy(platform)
    off["clusters"]["burst"].setdefault("addons", {})["observability"] = {"enabled": False}
    assert not parse_platform(off, "test").clusters["burst"].addons.observed


def test_a_hostname_twice_is_refused() -> None:
    platform = copy.deepcopy(platform_of("eo4eu"))
    platform["observability"]["central"]["grafana_hostname"] = "hub.bologna.eo4eu.eu"
    with pytest.raises(
        SpecError,
        match=re.escape(
            "observability.central.grafana_hostname: hub.bologna.eo4eu.eu is "
            "already used by clusters.core.addons.jupyterhub.hostname"
        ),
    ):
        parse_platform(platform, "test")


# -- logs -------------------------------------------------------------------------------------------

ALLOY = "kubernetes:helm.sh/v3:Release"


def test_every_other_cluster_pushes_its_logs_with_the_same_labels(bundled_plan: Callable[[str], Plan]) -> None:
    """Alloy 1.18 reference: loki.write endpoint (url, basic_auth, max_backoff_retries: 0 retries forever),
    external_labels; the chart's alloy.mounts.varlog (read-only /var/log) and extraEnv."""
    plan = bundled_plan("eo4eu")
    release = plan.one(RELEASE, "burst-alloy")
    assert release["inputs"]["namespace"] == "node-agents" and release["secret_paths"] == []
    values = release["inputs"]["values"]
    config = values["alloy"]["configMap"]["content"]
    assert 'url                 = "https://logs.bologna.eo4eu.eu/loki/api/v1/push"' in config
    assert 'password = sys.env("PUSH_PASSWORD")' in config
    assert "max_backoff_retries = 0" in config
    labels = re.search(r"external_labels = \{\n(.*?)\n  \}", config, re.S)
    assert labels is not None
    assert labels.group(1).split("\n") == [
        '    project = "eo4eu",',
        '    site = "aws-frankfurt",',
        '    cluster = "burst",',
    ]
    env = {entry["name"]: entry["valueFrom"] for entry in values["alloy"]["extraEnv"]}
    assert env["PUSH_PASSWORD"] == {"secretKeyRef": {"name": "meridian-push-credentials", "key": "password"}}
    assert values["alloy"]["mounts"]["varlog"] is True
    # Read positions on the host: a restarted collector resumes where it stopped.
    state = {volume["name"]: volume for volume in values["controller"]["volumes"]["extra"]}["state"]
    assert state["hostPath"] == {"path": "/var/lib/meridian-alloy", "type": "DirectoryOrCreate"}
    assert values["alloy"]["storagePath"].startswith("/var/lib/alloy")
    # Its own copy of the credentials, in its namespace (a pod reads Secrets of its own namespace only).
    secret = plan.one(SECRET, "burst-push-credentials-logs")["inputs"]
    assert secret["metadata"]["namespace"] == "node-agents" and secret["stringData"] == "[secret]"
    # values.yaml lists the config reloader's requests only; its container takes the whole
    # `configReloader.resources` (templates/containers/_watch.yaml), limits too: the gate checks them rendered.
    assert unknown_keys(values, chart_dir("alloy") / "values.yaml") == ["configReloader.resources.limits"]
    # The central cluster's collector pushes in-cluster, without credentials.
    central = plan.one(RELEASE, "core-alloy")["inputs"]["values"]["alloy"]["configMap"]["content"]
    assert '"http://loki.monitoring.svc:3100/loki/api/v1/push"' in central and "basic_auth" not in central


def test_loki_keeps_logs_in_the_sites_swift_with_its_cluster_credential(plan_of: Callable[..., Plan]) -> None:
    platform = platform_of("eo4eu")
    plan = plan_of(platform, reveal_secrets=True)
    container = plan.one("openstack:objectstorage/container:Container", "core-logs")
    assert container["protect"] is True and container["retain_on_delete"] is True
    assert container["inputs"] == {"name": "eo4eu-core-logs", "region": "RegionOne"}
    release = plan.one(RELEASE, "core-loki")
    assert release["secret_paths"] == []
    loki = release["inputs"]["values"]["loki"]
    credential = platform["sites"]["ewc-bologna"]["openstack"]["cluster_credential"]
    swift = loki["structuredConfig"]["common"]["storage"]["object_store"]["swift"]
    assert swift == {
        "auth_version": 3,
        "auth_url": credential["auth_url"],
        "application_credential_id": credential["id"],
        "application_credential_secret": "${SWIFT_APPLICATION_CREDENTIAL_SECRET}",
        "region_name": "RegionOne",
        "container_name": "eo4eu-core-logs",
    }
    assert loki["storage"]["use_thanos_objstore"] is True
    # logs_days: 30 (the default), as Loki's compactor deletes.
    assert loki["limits_config"]["retention_period"] == "720h"
    assert loki["compactor"] == {"retention_enabled": True, "delete_request_store": "swift"}
    storage = plan.one(SECRET, "core-loki-storage")
    secret = platform["sites"]["ewc-bologna"]["openstack"]["cluster_credential"]["secret"]
    mount, rest = secret.removeprefix("vault:").split("/", 1)
    path, field = rest.split("#")
    assert plan.revealed[storage["urn"]]["stringData"] == {
        "SWIFT_APPLICATION_CREDENTIAL_SECRET": offline_vault_field(mount, path, field)
    }
    assert storage["urn"] in release["depends_on"]


def test_loki_on_eks_keeps_logs_in_a_protected_bucket_only_it_can_use(bundled_plan: Callable[[str], Plan]) -> None:
    """EKS user guide, IAM roles for service accounts: the trust policy's sub and aud conditions."""
    plan = bundled_plan("destine-extremes")
    bucket = plan.one("aws:s3/bucket:Bucket", "postproc-logs")
    assert bucket["protect"] is True and bucket["inputs"]["bucket"] == "destine-extremes-postproc-logs"
    block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "postproc-logs")["inputs"]
    assert all(
        block[key] is True
        for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    encryption = plan.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "postproc-logs"
    )["inputs"]
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    role = plan.one("aws:iam/role:Role", "postproc-logs-role")["inputs"]
    trust = json.loads(role["assumeRolePolicy"])
    (condition,) = [s["Condition"]["StringEquals"] for s in trust["Statement"]]
    assert [value for key, value in condition.items() if key.endswith(":sub")] == [
        "system:serviceaccount:monitoring:loki"
    ]
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "postproc-logs-bucket")["inputs"]["policy"])
    resources = {resource for statement in policy["Statement"] for resource in statement["Resource"]}
    assert resources == {"arn:aws:s3:::destine-extremes-postproc-logs", "arn:aws:s3:::destine-extremes-postproc-logs/*"}
    values = plan.one(RELEASE, "postproc-loki")["inputs"]["values"]
    assert values["loki"]["storage"] == {
        "type": "s3",
        "bucketNames": {"chunks": "destine-extremes-postproc-logs"},
        "s3": {"region": "eu-central-1"},
    }
    assert "eks.amazonaws.com/role-arn" in values["serviceAccount"]["annotations"]
    # buffer_minutes: 1440 is shorter than Loki's week: the week stays.
    assert values["loki"]["limits_config"]["reject_old_samples_max_age"] == "10080m"


# -- probes -----------------------------------------------------------------------------------------


def test_every_public_hostname_is_probed_from_the_central_cluster(bundled_plan: Callable[[str], Plan]) -> None:
    """Prometheus Operator API, ProbeSpec: prober.url, module, targets.staticConfig (static, labels)."""
    plan = bundled_plan("eo4eu")
    probes = {r["name"]: r["inputs"] for r in plan.by_type("kubernetes:monitoring.coreos.com/v1:Probe")}
    urls = {name: probe["spec"]["targets"]["staticConfig"]["static"] for name, probe in probes.items()}
    assert urls == {
        "core-probe-hub-core": ["https://hub.bologna.eo4eu.eu/hub/health"],
        "core-probe-hub-burst": ["https://hub.frankfurt.eo4eu.eu/hub/health"],
        "core-probe-grafana": ["https://grafana.bologna.eo4eu.eu/api/health"],
        "core-probe-remote-write": ["https://metrics.bologna.eo4eu.eu/api/v1/write"],
        "core-probe-logs-push": ["https://logs.bologna.eo4eu.eu/loki/api/v1/push"],
    }
    hub = probes["core-probe-hub-burst"]["spec"]
    # The JupyterHubDown alert selects probes by this label.
    assert hub["targets"]["staticConfig"]["labels"] == {"target_kind": "jupyterhub", "target_cluster": "burst"}
    assert hub["prober"] == {"url": "prometheus-blackbox-exporter.monitoring.svc:9115"}
    # The push endpoints answer 401 without credentials: that is them being up.
    assert probes["core-probe-remote-write"]["spec"]["module"] == "https_auth_required"
    modules = plan.one(RELEASE, "core-blackbox-exporter")["inputs"]["values"]["config"]["modules"]
    assert modules["https_auth_required"]["http"]["valid_status_codes"] == [401]
    assert all(modules[name]["http"]["fail_if_not_ssl"] for name in ("https_2xx", "https_auth_required"))
    schema = schema_of(prometheus_crd("probes"), "v1")
    for probe in probes.values():
        validate(probe, schema)
    broken = copy.deepcopy(hub)
    broken["targets"]["staticConfig"]["static"] = "https://hub.frankfurt.eo4eu.eu"
    with pytest.raises(jsonschema.ValidationError):
        validate({"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe", "spec": broken}, schema)


# -- long-term metrics ------------------------------------------------------------------------------

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"


def test_metrics_go_to_object_storage_and_come_back_through_thanos(plan_of: Callable[..., Plan]) -> None:
    """thanos-io/objstore providers/swift (application credentials); Thanos v0.42.4 cmd/thanos (query --endpoint,
    compact --retention.resolution-*, --compact.enable-vertical-compaction for out-of-order blocks)."""
    platform = platform_of("eo4eu")
    plan = plan_of(platform, reveal_secrets=True)
    container = plan.one("openstack:objectstorage/container:Container", "core-metrics")
    assert container["protect"] is True and container["inputs"]["name"] == "eo4eu-core-metrics"
    secret = plan.one(SECRET, "core-thanos-objstore")
    assert secret["inputs"]["stringData"] == "[secret]"
    objstore = yaml.safe_load(plan.revealed[secret["urn"]]["stringData"]["objstore.yml"])
    credential = platform["sites"]["ewc-bologna"]["openstack"]["cluster_credential"]
    mount, rest = credential["secret"].removeprefix("vault:").split("/", 1)
    path, field = rest.split("#")
    assert objstore == {
        "type": "SWIFT",
        "config": {
            "auth_url": credential["auth_url"],
            "auth_version": 3,
            "application_credential_id": credential["id"],
            "application_credential_secret": offline_vault_field(mount, path, field),
            "region_name": "RegionOne",
            "container_name": "eo4eu-core-metrics",
        },
    }
    args = {
        r["name"]: r["inputs"]["spec"]["template"]["spec"]["containers"][0]["args"]
        for r in [*plan.by_type(DEPLOYMENT), *plan.by_type(STATEFUL_SET)]
        if r["name"].startswith("core-thanos")
    }
    assert args["core-thanos-query"][:3] == [
        "query",
        "--endpoint=dnssrv+_grpc._tcp.prometheus-operated.monitoring.svc",
        "--endpoint=dns+thanos-store.monitoring.svc:10901",
    ]
    compact = args["core-thanos-compact"]
    # metrics_days: 90 in the stack file, at every resolution.
    assert {"--retention.resolution-raw=90d", "--retention.resolution-5m=90d", "--retention.resolution-1h=90d"} <= set(
        compact
    )
    assert "--compact.enable-vertical-compaction" in compact and "--wait" in compact
    assert plan.one(STATEFUL_SET, "core-thanos-compact")["inputs"]["spec"]["replicas"] == 1
    assert args["core-thanos-store"][0] == "store"


def test_on_eks_the_metrics_bucket_trusts_prometheus_and_thanos_only(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("destine-extremes")
    role = json.loads(plan.one("aws:iam/role:Role", "postproc-metrics-role")["inputs"]["assumeRolePolicy"])
    (condition,) = [s["Condition"]["StringEquals"] for s in role["Statement"]]
    subjects = [value for key, value in condition.items() if key.endswith(":sub")]
    assert subjects == [
        ["system:serviceaccount:monitoring:kube-prometheus-stack-prometheus", "system:serviceaccount:monitoring:thanos"]
    ]
    values = stack_values(plan, "postproc")
    annotation = values["prometheus"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    account = plan.one("kubernetes:core/v1:ServiceAccount", "postproc-thanos")["inputs"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == annotation
    # The agent's values survive the central ones merged over them.
    assert values["prometheus"]["agentMode"] is True


def test_on_eks_thanos_reads_the_bucket_with_its_web_identity() -> None:
    """thanos-io/objstore client/factory.go: the file holds `type`, `config` (and `prefix`) only, read
    strictly (an unknown key is an error), the type matched upper-cased; providers/s3: bucket,
    endpoint and region, and with no keys the pod's web identity (the annotated account, above)."""
    plan = revealed_plan("destine-extremes")
    secret = plan.one(SECRET, "postproc-thanos-objstore")
    objstore = yaml.safe_load(plan.revealed[secret["urn"]]["stringData"]["objstore.yml"])
    bucket = plan.one("aws:s3/bucket:Bucket", "postproc-metrics")["inputs"]["bucket"]
    assert objstore == {
        "type": "S3",
        "config": {"bucket": bucket, "endpoint": "s3.eu-central-1.amazonaws.com", "region": "eu-central-1"},
    }


def test_local_days_within_metrics_days() -> None:
    platform = copy.deepcopy(platform_of("eo4eu"))
    platform["observability"]["retention"] = {"metrics_days": 5, "local_days": 7}
    with pytest.raises(SpecError, match=r"observability\.retention\.local_days: is longer than metrics_days \(5\)"):
        parse_platform(platform, "test")


def test_bucket_names_fit_s3s_rules() -> None:
    """Amazon S3 user guide, "Bucket naming rules": 3 to 63 characters, lowercase letters, digits, hyphens."""
    from components.addons.objectstore import bucket_name

    assert bucket_name("eo4eu", "core", "logs") == "eo4eu-core-logs"
    long = bucket_name("p" * 40, "c" * 40, "metrics")
    assert len(long) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", long)
    assert long == bucket_name("p" * 40, "c" * 40, "metrics")  # the same on every run
    assert long != bucket_name("p" * 40, "c" * 40, "logs")


def test_central_values_keys_are_the_charts(bundled_plan: Callable[[str], Plan]) -> None:
    # Keys values.yaml does not list, each read by the chart: Loki's bucketNames (commented out in
    # values.yaml, required by templates/_helpers.tpl) and limits_config (written out whole by its
    # config template); the blackbox exporter's modules (a free map, chart templates/configmap.yaml).
    for stack, cluster in (("eo4eu", "core"), ("destine-extremes", "postproc")):
        loki = bundled_plan(stack).one(RELEASE, f"{cluster}-loki")["inputs"]["values"]
        assert unknown_keys(loki, chart_dir("loki") / "values.yaml") == [
            "loki.storage.bucketNames",
            "loki.limits_config.retention_period",
        ]
    blackbox = bundled_plan("eo4eu").one(RELEASE, "core-blackbox-exporter")["inputs"]["values"]
    assert sorted(unknown_keys(blackbox, chart_dir("prometheus-blackbox-exporter") / "values.yaml")) == [
        "config.modules.https_2xx",
        "config.modules.https_auth_required",
    ]
