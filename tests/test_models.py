"""Model services: registered models served over REST and autoscaled, behind the login (components/addons/models.py).

tests/specs/mlops.happy.yaml serves models:/nowcast/3 on an A100 MIG slice of MLflow's cluster;
eo4eu serves models:/flood-nowcast@champion with two to eight replicas on CPUs.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import named
from conftest import revealed_plan as plan_of

from components.addons import models
from scripts.harness import Plan
from scripts.validate import validate_objects

OPENSTACK = "tests/specs/mlops.happy.yaml"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"


def pod_of(plan: Plan, name: str) -> dict[str, Any]:
    found: dict[str, Any] = named(plan, DEPLOYMENT, name)["inputs"]["spec"]["template"]["spec"]
    return found


def test_the_server_loads_the_registered_model_from_mlflow_in_the_cluster() -> None:
    plan = plan_of(OPENSTACK)
    deployment = named(plan, DEPLOYMENT, "model-nowcast")["inputs"]
    assert deployment["metadata"]["namespace"] == "models"
    # The autoscaler owns the count: a `pulumi up` must not reset it.
    assert "replicas" not in deployment["spec"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["mlflow"]
    assert container["args"] == [
        "models",
        "serve",
        "--model-uri=models:/nowcast/3",
        "--host=0.0.0.0",
        "--port=8080",
        "--workers=2",
        "--env-manager=local",
        "--timeout=60",
    ]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    # A GPU service names its own image (MLflow's carries no CUDA framework); a CPU one may take
    # MLflow's -full image (eo4eu's flood-nowcast).
    assert container["image"] == "registry.example.org/testproj/nowcast-server:2026.11.1"
    (cpu_server,) = pod_of(plan_of("eo4eu"), "model-flood-nowcast")["containers"]
    assert cpu_server["image"] == "ghcr.io/mlflow/mlflow:v3.17.0-full"
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    # /ping answers 200 once the model is loaded: ready only then; up to ten minutes to load.
    assert container["readinessProbe"]["httpGet"] == {"path": "/ping", "port": "http"}
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] == 600
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["livenessProbe"]["timeoutSeconds"] == container["readinessProbe"]["timeoutSeconds"] == 5
    # uvicorn (started by `mlflow models serve` with this environment) keeps idle connections
    # longer than oauth2-proxy reuses them (90 s, Go's http.DefaultTransport): no reuse race.
    assert int(env["UVICORN_TIMEOUT_KEEP_ALIVE"]) > 90
    # Stopping: PID 1 (mlflow, no SIGTERM handler) never gets the kubelet's SIGTERM; the hook
    # waits for the endpoint removal, then stops uvicorn (every process but PID 1), which finishes
    # its requests; the grace period covers the wait, a request's 60 s and the exit.
    assert container["lifecycle"] == {"preStop": {"exec": {"command": ["bash", "-c", "sleep 5; kill -TERM -1"]}}}
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 5 + 60 + 10
    # MLflow's server admits the models namespace (the registry and the proxied artifacts).
    policy = named(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlflow-server")["inputs"]["spec"]
    peers = [peer for rule in policy["ingress"] for peer in rule["from"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "models"}}} in peers


def test_a_gpu_model_gets_the_pools_resource_selector_and_tolerations() -> None:
    pod = pod_of(plan_of(OPENSTACK), "model-nowcast")
    (container,) = pod["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "4Gi"},
        "limits": {"memory": "4Gi", "nvidia.com/gpu": "1"},
    }
    assert pod["nodeSelector"] == {"meridian.io/pool": "a100"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False


def test_the_autoscaler_keeps_the_specs_bounds_and_cpu_target() -> None:
    plan = plan_of("eo4eu")
    autoscaler = named(plan, HPA, "model-flood-nowcast")["inputs"]["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "model-flood-nowcast",
    }
    assert (autoscaler["minReplicas"], autoscaler["maxReplicas"]) == (2, 8)
    (metric,) = autoscaler["metrics"]
    assert metric == {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    }
    # Utilisation is of the requests: the pods request CPU.
    (container,) = pod_of(plan, "model-flood-nowcast")["containers"]
    assert container["resources"]["requests"]["cpu"] == "2"
    assert container["args"][2] == "--model-uri=models:/flood-nowcast@champion"


def test_only_the_services_login_reaches_the_model_and_the_login_answers_401_without_a_token() -> None:
    plan = plan_of(OPENSTACK)
    policy = named(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "model-nowcast")["inputs"]["spec"]
    assert policy["podSelector"] == {"matchLabels": models.pod_labels("nowcast")}
    (rule,) = policy["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "models"}},
            "podSelector": {"matchLabels": models.login_labels("nowcast")},
        }
    ]
    service = named(plan, "kubernetes:core/v1:Service", "model-nowcast")["inputs"]["spec"]
    assert service["selector"] == models.pod_labels("nowcast")
    assert service["ports"] == [{"name": "http", "port": 8080, "targetPort": "http"}]
    (login,) = pod_of(plan, "model-nowcast-login")["containers"]
    args = dict(arg.split("=", 1) for arg in login["args"])
    assert args["--upstream"] == "http://model-nowcast.models.svc.cluster.local:8080/"
    assert args["--api-route"] == "^/"
    assert args["--redirect-url"] == "https://nowcast.a.example.org/oauth2/callback"
    ingress = named(plan, "kubernetes:networking.k8s.io/v1:Ingress", "model-nowcast-login")["inputs"]["spec"]
    assert ingress["rules"][0]["host"] == "nowcast.a.example.org"
    assert plan.one("openstack:dns/recordSet:RecordSet", "hub-model-nowcast-dns")["inputs"]["name"] == (
        "nowcast.a.example.org."
    )


def test_the_autoscaler_validates_and_a_broken_one_does_not() -> None:
    plan = plan_of("eo4eu")
    documents = [dict(named(plan, HPA, "model-flood-nowcast")["inputs"])]
    assert validate_objects(documents, "v1.33.0", "eo4eu") == []
    broken = copy.deepcopy(documents[0])
    broken["spec"]["minReplicas"] = "two"
    (problem,) = validate_objects([broken], "v1.33.0", "eo4eu")
    assert "minReplicas" in problem.message


def test_scaling_on_requests_reads_the_logins_rate_from_the_central_prometheus_through_the_adapter() -> None:
    plan = plan_of(OPENSTACK)
    autoscaler = named(plan, HPA, "model-nowcast")["inputs"]["spec"]
    (metric,) = autoscaler["metrics"]
    # An Object metric of the login's Service, averaged over the model server's replicas.
    assert metric == {
        "type": "Object",
        "object": {
            "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "model-nowcast-login"},
            "metric": {"name": "oauth2_proxy_requests_per_second"},
            "target": {"type": "AverageValue", "averageValue": "20"},
        },
    }
    config = yaml.safe_load(named(plan, CONFIGMAP, "prometheus-adapter")["inputs"]["data"]["config.yaml"])
    (rule,) = config["rules"]
    # This cluster's logins in `models`, by the external label every collector adds.
    assert rule["seriesQuery"] == 'oauth2_proxy_requests_total{cluster="hub",namespace="models",service!=""}'
    assert rule["resources"] == {
        "overrides": {"namespace": {"resource": "namespace"}, "service": {"resource": "service"}}
    }
    assert rule["name"] == {"matches": "^oauth2_proxy_requests_total$", "as": metric["object"]["metric"]["name"]}
    # The resources' matchers only reach the query with the cluster said again (docs/config.md), over
    # a window of ten 30-second scrapes, which the adapter keeps the metric for.
    assert rule["metricsQuery"] == ('sum by (<<.GroupBy>>) (rate(<<.Series>>{<<.LabelMatchers>>,cluster="hub"}[5m]))')
    (adapter,) = pod_of(plan, "prometheus-adapter")["containers"]
    args = dict(arg.split("=", 1) for arg in adapter["args"])
    # The central Prometheus of this cluster (central.py's Service), the only one that answers queries.
    assert args["--prometheus-url"] == "http://central-prometheus.monitoring.svc:9090/"
    assert args["--metrics-max-age"] == "5m"
    assert adapter["image"] == "registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0"
    service = plan.one("kubernetes:apiregistration.k8s.io/v1:APIService")["inputs"]
    assert service["metadata"]["name"] == "v1beta2.custom.metrics.k8s.io"
    assert service["spec"]["service"] == {"name": "prometheus-adapter", "namespace": "custom-metrics", "port": 443}
    # That port of the adapter's Service, to the container's TLS port.
    adapter_service = named(plan, "kubernetes:core/v1:Service", "prometheus-adapter")["inputs"]
    assert adapter_service["metadata"]["namespace"] == "custom-metrics"
    assert adapter_service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https"}]
    # The API server verifies the adapter: the CA of its certificate, injected by cert-manager.
    assert "insecureSkipTLSVerify" not in service["spec"]
    # The adapter's own CA, which outlives the serving certificate's renewals.
    assert service["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": "custom-metrics/prometheus-adapter-ca"
    }
    ca = named(plan, "kubernetes:cert-manager.io/v1:Certificate", "prometheus-adapter-ca")["inputs"]["spec"]
    assert ca["isCA"] is True
    issuer = named(plan, "kubernetes:cert-manager.io/v1:Issuer", "prometheus-adapter")["inputs"]["spec"]
    assert issuer == {"ca": {"secretName": ca["secretName"]}}
    certificate = named(plan, "kubernetes:cert-manager.io/v1:Certificate", "prometheus-adapter-tls")["inputs"]["spec"]
    assert certificate["issuerRef"] == {"name": "prometheus-adapter", "kind": "Issuer"}
    assert "prometheus-adapter.custom-metrics.svc" in certificate["dnsNames"]
    volumes = {v["name"]: v for v in pod_of(plan, "prometheus-adapter")["volumes"]}
    assert volumes["serving-cert"]["secret"] == {"secretName": certificate["secretName"]}
    # The HPA controller may read the custom metrics.
    binding = named(plan, CLUSTER_ROLE_BINDING, "meridian:hpa-custom-metrics")["inputs"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}
    ]
    # eo4eu scales on CPU only: no adapter there.
    assert not plan_of("eo4eu").by_type("kubernetes:apiregistration.k8s.io/v1:APIService")


def test_the_adapter_may_read_what_it_maps_series_to_and_check_its_callers() -> None:
    """prometheus-adapter v0.12.0's own deploy/manifests: the resource reader (the objects series map
    to, docs/config.md "resources"), and an aggregated API server's two grants to check its callers
    with the API server (auth-delegator; the authentication ConfigMap, read in kube-system)."""
    plan = plan_of(OPENSTACK)
    account = [{"kind": "ServiceAccount", "name": "prometheus-adapter", "namespace": "custom-metrics"}]
    reader = named(plan, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "meridian:prometheus-adapter")
    assert reader["inputs"]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes", "namespaces", "pods", "services"], "verbs": ["get", "list", "watch"]}
    ]
    bindings = {
        (r["type"].rpartition(":")[2], r["inputs"]["metadata"]["name"]): r["inputs"]
        for r in plan.resources
        if r["type"].endswith(("v1:ClusterRoleBinding", "v1:RoleBinding"))
        and r["inputs"]["metadata"]["name"].startswith("meridian:prometheus-adapter")
    }
    assert {key: (b["roleRef"], b["subjects"], b["metadata"].get("namespace")) for key, b in bindings.items()} == {
        ("ClusterRoleBinding", "meridian:prometheus-adapter"): (
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "meridian:prometheus-adapter"},
            account,
            None,
        ),
        ("ClusterRoleBinding", "meridian:prometheus-adapter:auth-delegator"): (
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
            account,
            None,
        ),
        ("RoleBinding", "meridian:prometheus-adapter:auth-reader"): (
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            account,
            "kube-system",
        ),
    }
    # The HPA controller reads every custom metric (bound to it in the test above).
    metrics_reader = named(
        plan, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "meridian:custom-metrics-reader"
    )
    assert metrics_reader["inputs"]["rules"] == [
        {"apiGroups": ["custom.metrics.k8s.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]}
    ]
    # It calls the API server as its account (delegated authentication, the objects it maps to).
    account = named(plan, "kubernetes:core/v1:ServiceAccount", "prometheus-adapter")["inputs"]
    assert account["automountServiceAccountToken"] is True
    # Ready and alive as the generic API server says (k8s.io/apiserver healthz), on its TLS port.
    (adapter,) = pod_of(plan, "prometheus-adapter")["containers"]
    assert adapter["args"] == [
        "--tls-cert-file=/var/run/serving-cert/tls.crt",
        "--tls-private-key-file=/var/run/serving-cert/tls.key",
        "--config=/etc/adapter/config.yaml",
        "--metrics-relist-interval=1m",
        "--metrics-max-age=5m",
        "--prometheus-url=http://central-prometheus.monitoring.svc:9090/",
        "--secure-port=6443",
    ]
    # Its certificate and configuration mounted where the arguments say, read-only; a scratch /tmp.
    assert adapter["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "serving-cert", "mountPath": "/var/run/serving-cert", "readOnly": True},
        {"name": "config", "mountPath": "/etc/adapter", "readOnly": True},
    ]
    assert adapter["ports"] == [{"name": "https", "containerPort": 6443}]
    assert adapter["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
        "periodSeconds": 10,
    }
    assert adapter["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "https", "scheme": "HTTPS"}
    # Registered last: the API server sends custom.metrics.k8s.io to the adapter from then on (and
    # discovery of every group fails while an APIService is unavailable), so Pulumi waits for the
    # adapter's Deployment, Service and certificates first; the autoscaler scaling on its metric
    # waits for it in turn.
    service = plan.one("kubernetes:apiregistration.k8s.io/v1:APIService")
    for kind, name in (
        (DEPLOYMENT, "prometheus-adapter"),
        ("kubernetes:core/v1:Service", "prometheus-adapter"),
        ("kubernetes:cert-manager.io/v1:Certificate", "prometheus-adapter-tls"),
    ):
        assert named(plan, kind, name)["urn"] in service["depends_on"]
    waiting = [r["inputs"]["metadata"]["name"] for r in plan.resources if service["urn"] in r["depends_on"]]
    assert waiting == ["model-nowcast"]


def test_the_labels_selectors_match_are_spelled_out() -> None:
    # The Deployment's, Service's and autoscaler's selector, and the login's: one service each.
    assert models.pod_labels("nowcast") == {
        "app.kubernetes.io/name": "model-nowcast",
        "app.kubernetes.io/component": "model-server",
    }
    assert models.login_labels("nowcast") == {
        "app.kubernetes.io/name": "model-nowcast",
        "app.kubernetes.io/component": "login",
    }


# -- stopping, on a real kernel -----------------------------------------------------------------------

#: `mlflow models serve` with --env-manager local, as far as signals go (MLflow 3.17.0
#: pyfunc/backend.py `serve`): starts the server and waits for it, no SIGTERM handler.
_SERVE = """
import subprocess, sys
sys.exit(subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]]).wait())
"""
#: uvicorn, as far as signals go: on SIGTERM it finishes what it serves and exits 0.
_SERVER = """
import pathlib, signal, sys, time
state = pathlib.Path(sys.argv[1])
def stop(*_):
    state.write_text("drained")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
state.write_text("serving")
while True:
    time.sleep(0.05)
"""


def test_the_stop_hook_drains_the_server_that_pid_1_would_never_stop(tmp_path: Path) -> None:
    """The planned preStop hook, run in the pod's PID namespace: PID 1 ignores SIGTERM, the hook stops the server.

    A real PID namespace (unshare, as the container runtime makes one): pid_namespaces(7) says its
    init gets no signal it has no handler for, which is why the hook exists.
    """
    if subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode:
        pytest.skip("this machine does not let the tests make a PID namespace (unshare --pid)")
    (container,) = pod_of(plan_of(OPENSTACK), "model-nowcast")["containers"]
    hook = container["lifecycle"]["preStop"]["exec"]["command"]
    state = tmp_path / "state"
    pod = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", _SERVE, _SERVER, str(state)]
    )
    try:
        deadline = time.monotonic() + 30
        while not (state.exists() and state.read_text() == "serving") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.read_text() == "serving"
        (init,) = [int(p) for p in Path(f"/proc/{pod.pid}/task/{pod.pid}/children").read_text().split()]
        # The kubelet's SIGTERM to the container's PID 1: dropped, nothing stops.
        os.kill(init, signal.SIGTERM)
        time.sleep(1)
        assert pod.poll() is None and state.read_text() == "serving"
        # The hook, as the kubelet runs it: in the container's namespaces.
        done = subprocess.run(["nsenter", "--target", str(init), "--pid", "--mount", "--", *hook], timeout=60)
        assert done.returncode == 0
        assert pod.wait(timeout=30) == 0  # PID 1 (mlflow) exits with its server, before any SIGKILL
        assert state.read_text() == "drained"
    finally:
        if pod.poll() is None:
            pod.kill()
            pod.wait()
