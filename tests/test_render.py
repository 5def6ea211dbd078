"""Every Helm release proven by the real Helm: rendered from the locked chart, every object validated.

`meridian render` runs `helm template` (the official binary, `make tools`) on each release of a
plan with its exact values, name, namespace and cluster version, and validates what comes out:
built-in kinds with kubernetes-validate at the cluster's version, custom resources against
their CRD's schema. Helm's own checks are shown to bite (a values-schema violation, a template
failure), and so are the validators (a broken object of each kind fails).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import PlanCache, revealed_plan
from helm_values import chart_version, resource_problems

from components.charts import chart_lock, locked
from scripts import render as render_module
from scripts.harness import REPO, Plan, bundled_stacks, evaluate
from scripts.render import (
    SCHEMA_ELIDED,
    OwnObjects,
    ReleaseRecord,
    Rendered,
    RenderError,
    as_resources,
    kube_version,
    releases,
    render_plan,
    render_release,
    rendered_crds,
    type_token,
    validate_all,
)
from scripts.upstream import chart_dir, chart_reference
from scripts.validate import _QUANTITY, quantity_value, references, selects, validate_objects

BUNDLED = bundled_stacks()
#: Kinds each locked chart must render with the bundled stacks' values (read from the charts' templates):
#: the GPU Operator's ClusterPolicy carries the values and its CRD ships in crds/ (--include-crds);
#: cert-manager templates its CRDs (crds.enabled) and admits objects through its webhook; Traefik
#: serves the IngressClass Meridian's Ingresses name; the hub is published by an Ingress and its
#: database lives on a PersistentVolumeClaim, its pods fenced by NetworkPolicies.
EXPECTED_KINDS = {
    "gpu-operator": {"ClusterPolicy", "CustomResourceDefinition", "DaemonSet", "Deployment"},
    "cert-manager": {"CustomResourceDefinition", "Deployment", "ValidatingWebhookConfiguration"},
    # The operator's CRDs come from its templates, with its webhook's cert-manager Certificate.
    "cluster-api-operator": {"CustomResourceDefinition", "Deployment", "Certificate", "Issuer"},
    "traefik": {"Deployment", "Service", "IngressClass", "PodDisruptionBudget"},
    "jupyterhub": {"Deployment", "Ingress", "NetworkPolicy", "PersistentVolumeClaim"},
    # The collector: the operator, its CRDs, the agent (PrometheusAgent in agent mode), the exporters.
    "kube-prometheus-stack": {"CustomResourceDefinition", "Deployment", "DaemonSet", "PrometheusAgent"},
    "alloy": {"DaemonSet", "ConfigMap", "ClusterRole"},
    "loki": {"StatefulSet", "Service", "ConfigMap"},
    "prometheus-blackbox-exporter": {"Deployment", "Service", "ConfigMap"},
    "fleet-crd": {"CustomResourceDefinition"},
    "fleet": {"Deployment", "ConfigMap", "ClusterRole"},
    "projectsveltos": {"CustomResourceDefinition", "Deployment", "Job"},
    # CloudNativePG: the operator, the CRDs MLflow's database objects are validated against, its webhooks.
    # Argo: the controller and the server, its Ingress, the minimal CRDs (crds.full false).
    "argo-workflows": {"Deployment", "Ingress", "ConfigMap", "CustomResourceDefinition"},
    "cloudnative-pg": {
        "CustomResourceDefinition",
        "Deployment",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    },
}
_RENDERED: dict[str, tuple[Plan, list[Rendered]]] = PlanCache()


def rendered(stack: str) -> tuple[Plan, list[Rendered]]:
    """A bundled stack's plan (secrets revealed) and its renders, once per test process."""
    if stack not in _RENDERED:
        plan = evaluate(stack, reveal_secrets=True)
        _RENDERED[stack] = (plan, render_plan(plan, plan, f"stacks/Pulumi.{stack}.yaml"))
    return _RENDERED[stack]


def _record(chart: str, values: dict[str, Any], *, namespace: str = "research", name: str = "x") -> ReleaseRecord:
    lock = locked(chart)
    return ReleaseRecord(
        urn=f"urn:pulumi:test::meridian::kubernetes:helm.sh/v3:Release::{name}",
        resource=name,
        name=name,
        chart=chart,
        version=lock.version,
        repository=lock.repository,
        namespace=namespace,
        values=values,
        cluster="lab",
        kube_version="v1.34.0",
        provider=None,
    )


# -- every bundled stack -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", BUNDLED)
def test_every_release_renders_and_every_object_validates(stack: str) -> None:
    plan, renders = rendered(stack)
    # Helm releases, and the releases the GitOps engines install (their HelmOps, ClusterProfiles).
    releases_in_plan = [
        *plan.by_type("kubernetes:helm.sh/v3:Release"),
        *plan.by_type("kubernetes:fleet.cattle.io/v1alpha1:HelmOp"),
        *plan.by_type("kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile"),
    ]
    assert len(renders) == len(releases_in_plan)
    # Only a chart the lock says has no verified copy goes unrendered, and it says so.
    unverified = {name for name, chart in chart_lock().charts.items() if chart.digest is None}
    assert {item.release.chart for item in renders if item.skipped is not None} <= unverified
    for item in renders:
        if item.release.chart in unverified:
            assert item.skipped is not None and "not rendered" in item.skipped and not item.objects
            continue
        assert item.objects, item.release.resource
        kinds = {o["kind"] for o in item.objects}
        assert EXPECTED_KINDS[item.release.chart] <= kinds, item.release.resource
        # Against the CRDs the cluster's releases install too (cert-manager's, for the Cluster API operator).
        served = rendered_crds(renders).get(item.release.cluster, [])
        problems = validate_objects(item.objects, item.release.kube_version, item.release.resource, crds=served)
        assert problems == [], [str(p) for p in problems]


@pytest.mark.parametrize("stack", BUNDLED)
def test_meridians_own_objects_validate(stack: str) -> None:
    plan, renders = rendered(stack)
    own = [(item, problems) for item, problems in validate_all(plan, renders) if isinstance(item, OwnObjects)]
    assert own, "every bundled stack creates Kubernetes objects of its own"
    assert [(item.cluster, [str(p) for p in problems]) for item, problems in own if problems] == []


@pytest.mark.parametrize("stack", BUNDLED)
def test_what_each_clusters_objects_name_in_each_other_exists(stack: str) -> None:
    # validate.references over each cluster's rendered and own objects: every Ingress reaches a
    # Service port, every monitor selects something with its port (destine-extremes' Cluster API
    # management cluster once had a Traefik monitor where no Traefik runs).
    plan, renders = rendered(stack)
    problems = [str(p) for item, found in validate_all(plan, renders) for p in found]
    assert problems == []


def test_own_custom_resources_need_the_crds_their_cluster_installs() -> None:
    # buildspace's ClusterIssuer, and the push endpoints' Issuer, are served by the CRDs cert-manager's
    # release renders on the same cluster (crds.enabled); without that release nothing serves them.
    plan, renders = rendered("buildspace")
    others = [item for item in renders if item.release.chart != "cert-manager"]
    problems = [str(p) for item, found in validate_all(plan, others) for p in found]
    # (The central stack's Middleware is served by Traefik's crds/, which the locked chart ships.)
    assert sorted(problems) == [
        *(
            f"cluster processing, Meridian's own objects: cert-manager.io/v1/{kind}: "
            "no schema: not a Kubernetes 1.34.0 kind and no locked CRD serves it"
            for kind in ("ClusterIssuer letsencrypt-production", "Issuer meridian-push-ca")
        ),
        # And the collector's monitor of cert-manager finds no Service to scrape (validate.references).
        "cluster processing, Meridian's own objects: monitoring.coreos.com/v1/ServiceMonitor cert-manager: "
        "selects no Service: nothing is scraped",
    ]


def test_releases_know_their_cluster_and_its_exact_version() -> None:
    _, renders = rendered("eo4eu")
    versions = {(item.release.cluster, item.release.name): item.release.kube_version for item in renders}
    # core is rke2 1.33 (v1.33.13+rke2r2 in the catalog), burst is eks 1.34; both with a hub and its ingress.
    assert versions == {
        ("core", "gpu-operator"): "v1.33.13",
        ("core", "traefik"): "v1.33.13",
        ("core", "cert-manager"): "v1.33.13",
        ("core", "jupyterhub"): "v1.33.13",
        ("core", "cloudnative-pg"): "v1.33.13",
        ("core", "argo-workflows"): "v1.33.13",
        ("burst", "gpu-operator"): "v1.34.0",
        ("burst", "traefik"): "v1.34.0",
        ("burst", "cert-manager"): "v1.34.0",
        ("burst", "jupyterhub"): "v1.34.0",
        ("core", "kube-prometheus-stack"): "v1.33.13",
        ("core", "alloy"): "v1.33.13",
        ("core", "loki"): "v1.33.13",
        ("core", "prometheus-blackbox-exporter"): "v1.33.13",
        ("burst", "kube-prometheus-stack"): "v1.34.0",
        ("burst", "alloy"): "v1.34.0",
        ("core", "external-secrets"): "v1.33.13",
        ("burst", "external-secrets"): "v1.34.0",
    }
    assert {(item.release.name, item.release.namespace) for item in renders} == {
        ("external-secrets", "external-secrets"),
        ("gpu-operator", "gpu-operator"),
        ("traefik", "traefik"),
        ("cert-manager", "cert-manager"),
        ("jupyterhub", "jupyterhub"),
        ("kube-prometheus-stack", "monitoring"),
        ("alloy", "node-agents"),
        ("loki", "monitoring"),
        ("prometheus-blackbox-exporter", "monitoring"),
        ("cloudnative-pg", "cnpg-system"),
        ("argo-workflows", "argo-workflows"),
    }


@pytest.mark.parametrize(("backend", "minor", "expected"), [("rke2", "1.34", "v1.34.5"), ("eks", "1.35", "v1.35.0")])
def test_kube_version(backend: str, minor: str, expected: str) -> None:
    assert kube_version(backend, minor) == expected


def test_the_rendered_values_are_the_releases_values() -> None:
    # The ClusterPolicy the chart renders is what the GPU Operator reads: the values reached it.
    _, renders = rendered("eo4eu")
    core = next(item for item in renders if item.release.cluster == "core" and item.release.chart == "gpu-operator")
    (policy,) = [o for o in core.objects if o["kind"] == "ClusterPolicy"]
    env = {e["name"]: e["value"] for e in policy["spec"]["toolkit"]["env"]}
    assert env == {"CONTAINERD_SOCKET": "/run/k3s/containerd/containerd.sock"}  # RKE2's documented setting
    assert policy["spec"]["mig"]["strategy"] == "single"


# -- Helm's own checks bite ----------------------------------------------------------------------------


def test_a_values_schema_violation_fails_with_helms_message() -> None:
    # z2jh ships values.schema.json: Helm refuses the values before rendering anything.
    bad = _record("jupyterhub", {"proxy": {"service": {"type": "Bogus"}}})
    with pytest.raises(RenderError) as caught:
        render_release(bad, [], "stacks/Pulumi.test.yaml")
    message = str(caught.value)
    assert message.startswith("stacks/Pulumi.test.yaml: cluster lab, release x: helm template failed: ")
    assert "/proxy/service/type" in message and "value must be one of" in message


def test_a_template_failure_fails_with_helms_message() -> None:
    # gpu-operator has no values schema: a value of the wrong shape fails inside its templates.
    with pytest.raises(RenderError, match=r"release x: helm template failed: .*can't evaluate field"):
        render_release(_record("gpu-operator", {"driver": "oops"}), [], "w")


def test_a_chart_outside_the_lock_or_at_another_version_is_refused() -> None:
    record = _record("gpu-operator", {})
    with pytest.raises(RenderError, match=r"is not the locked v26\.7\.0"):
        render_release(ReleaseRecord(**{**record.__dict__, "version": "v26.3.1"}), [], "w")
    with pytest.raises(RenderError, match="chart redis is not in the chart lock"):
        render_release(ReleaseRecord(**{**record.__dict__, "chart": "redis"}), [], "w")


def test_renders_are_cached_by_chart_digest_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    record = _record("jupyterhub", {"cull": {"timeout": 1800}}, name="cached")
    first = render_release(record, [], "w")
    # A second render of the same release needs no helm at all.
    monkeypatch.setattr(render_module, "helm_binary", lambda: None)
    assert render_release(record, [], "w").manifest == first.manifest
    with pytest.raises(RenderError, match="no helm binary"):
        render_release(_record("jupyterhub", {"cull": {"timeout": 1801}}, name="cached"), [], "w")


# -- the validators bite ----------------------------------------------------------------------------------


def test_validation_catches_broken_objects() -> None:
    _, renders = rendered("eo4eu")
    objects = next(item for item in renders if item.release.chart == "gpu-operator").objects
    daemonset = copy.deepcopy(next(o for o in objects if o["kind"] == "DaemonSet"))
    daemonset["spec"]["template"]["spec"]["tolerationz"] = []  # strict: no unknown fields
    policy = copy.deepcopy(next(o for o in objects if o["kind"] == "ClusterPolicy"))
    policy["spec"]["mig"]["strategy"] = ["single"]  # the CRD says string
    unknown = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}}
    problems = validate_objects([daemonset, policy, unknown], "v1.34.0", "broken")
    assert [(p.kind, p.name) for p in problems] == [
        ("apps/v1/DaemonSet", daemonset["metadata"]["name"]),
        ("nvidia.com/v1/ClusterPolicy", "cluster-policy"),
        ("example.org/v1/Widget", "w"),
    ]
    assert "tolerationz" in problems[0].message
    assert "no schema" in problems[2].message


def workload(kind: str = "Deployment") -> dict[str, Any]:
    """A valid workload whose pod names its volume, its probe's port and its labels."""
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "w"},
        "spec": {
            "selector": {"matchLabels": {"app": "w"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
            "template": {
                "metadata": {"labels": {"app": "w", "tier": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "example.org/c:1",
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                            "livenessProbe": {"tcpSocket": {"port": 8080}},
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def broken_pod(change: str) -> dict[str, Any]:
    document = workload()
    pod = document["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    if change == "mount":
        container["volumeMounts"][0]["name"] = "TMP"
    elif change == "volume twice":
        pod["volumes"].append({"name": "tmp", "secret": {"secretName": "s"}})
    elif change == "container twice":
        pod["initContainers"] = [{"name": "c", "image": "example.org/c:1"}]
    elif change == "probe port":
        container["readinessProbe"]["httpGet"]["port"] = "https"
    elif change == "selector":
        document["spec"]["selector"]["matchLabels"]["app"] = "other"
    elif change == "port name":
        container["ports"][0]["name"] = "HTTP"
        container["readinessProbe"]["httpGet"]["port"] = "HTTP"
    elif change == "quantity":
        container["resources"] = {"requests": {"memory": "64MI"}}
    elif change == "pull policy":
        container["imagePullPolicy"] = "Sometimes"
    elif change == "protocol":
        container["ports"][0]["protocol"] = "tcp"
    elif change == "toleration":
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "In", "effect": "NoSchedule"}]
    elif change == "sidecar restart":
        pod["initContainers"] = [{"name": "s", "image": "example.org/s:1", "restartPolicy": "OnFailure"}]
    elif change == "size limit":
        pod["volumes"][0]["emptyDir"] = {"sizeLimit": "20 GiB"}
    elif change == "pod restart":
        pod["restartPolicy"] = "OnFailure"
    elif change == "request above limit":
        container["resources"] = {"requests": {"cpu": "250", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
    else:
        document["spec"]["selector"]["matchExpressions"][0]["operator"] = "DoesNotExist"
    return document


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("mount", "mounts 'TMP', not a volume of the pod"),
        ("volume twice", "volumes: a name used twice (['tmp'])"),
        ("container twice", "containers: a name used twice (['c'])"),
        ("probe port", "readinessProbe port 'https' is none of its ports"),
        ("selector", "spec.selector does not select spec.template.metadata.labels"),
        ("expression", "spec.selector does not select spec.template.metadata.labels"),
        ("port name", "containers: c port 'HTTP': not a port name"),
        ("quantity", "containers: c requests.memory: '64MI' is not a quantity"),
        ("request above limit", "containers: c requests.cpu '250' is above its limit '2'"),
        ("size limit", "volumes: tmp emptyDir.sizeLimit: '20 GiB' is not a quantity"),
        (
            "pull policy",
            "spec.template.spec.containers.imagePullPolicy: 'Sometimes' is none of Always, IfNotPresent, Never",
        ),
        ("protocol", "spec.template.spec.containers.ports.protocol: 'tcp' is none of SCTP, TCP, UDP"),
        ("toleration", "spec.template.spec.tolerations.operator: 'In' is none of '', Equal, Exists"),
        ("sidecar restart", "spec.template.spec.initContainers.restartPolicy: 'OnFailure' is none of Always"),
        ("pod restart", "spec.template.spec.restartPolicy: 'OnFailure' is none of Always"),
    ],
)
def test_what_a_pod_names_inside_itself_exists(change: str, words: str) -> None:
    """The cluster's own checks the schema cannot make (scripts/validate.py pod_references, with its sources)."""
    assert validate_objects([workload()], "v1.34.0", "fine") == []
    (problem,) = validate_objects([broken_pod(change)], "v1.34.0", "broken")
    assert words in problem.message


def test_services_policies_and_ingresses_name_ports_and_paths_as_the_api_server_parses_them() -> None:
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"selector": {"app": "w"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    policy: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": "metrics"}, {"port": 9090}]}]},
    }
    backend = {"service": {"name": "s", "port": {"name": "http"}}}
    ingress: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "i"},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
    }
    assert validate_objects([service, policy, ingress], "v1.34.0", "fine") == []
    service["spec"]["ports"][0]["targetPort"] = "http-and-more-than-15"
    policy["spec"]["ingress"][0]["ports"][0]["port"] = "METRICS"
    ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] = "api"
    rule = "not a port name (1 to 15 of a-z, 0-9 and inner hyphens, a letter)"
    assert [p.message for p in validate_objects([service, policy, ingress], "v1.34.0", "broken")] == [
        f"spec.ports targetPort 'http-and-more-than-15': {rule}",
        f"spec.ingress port 'METRICS': {rule}",
        "spec.rules path 'api': not an absolute path",
    ]


def test_a_jobs_pods_restart_on_failure_or_never_and_a_service_has_a_known_type() -> None:
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i:1"}]}}},
    }
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80}]},
    }
    assert validate_objects([job, service], "v1.34.0", "fine") == []
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    service["spec"]["type"] = "Cluster"
    assert [p.message for p in validate_objects([job, service], "v1.34.0", "broken")] == [
        "spec.template.spec.restartPolicy: 'Always' is none of Never, OnFailure",
        "spec.type: 'Cluster' is none of ClusterIP, ExternalName, LoadBalancer, NodePort",
    ]


@pytest.mark.parametrize(
    ("ports", "words"),
    [
        ([{"port": 80}, {"name": "metrics", "port": 9090}], "spec.ports name None: not a DNS label"),
        ([{"name": "HTTP", "port": 80}], "spec.ports name 'HTTP': not a DNS label"),
        ([{"name": "web", "port": 80}, {"name": "web", "port": 81}], "spec.ports: a name used twice (['web'])"),
        ([{"name": "a", "port": 80}, {"name": "b", "port": 80}], "spec.ports: a port number twice for one protocol"),
    ],
)
def test_a_services_ports_are_named_as_the_api_server_requires(ports: list[dict[str, Any]], words: str) -> None:
    # pkg/apis/core/validation ValidateService: names required with more than one port, DNS labels,
    # unique; one port number once per protocol (80/TCP beside 80/UDP is fine).
    service: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}}
    fine = [{"port": 80}], [{"name": "dns", "port": 53}, {"name": "dns-udp", "port": 53, "protocol": "UDP"}]
    for ok in fine:
        assert validate_objects([{**service, "spec": {"ports": ok}}], "v1.34.0", "fine") == []
    (problem,) = validate_objects([{**service, "spec": {"ports": ports}}], "v1.34.0", "broken")
    assert problem.message == words + (" (required with more than one port)" if "DNS label" in words else "")


def _service(
    name: str, namespace: str, labels: dict[str, str], ports: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace, "labels": labels}
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": {"ports": ports, **spec}}


def _monitor(name: str, labels: dict[str, str], namespace: str, ports: list[str]) -> dict[str, Any]:
    """A ServiceMonitor in `monitoring` of the Services labelled `labels` in `namespace`."""
    spec = {"selector": {"matchLabels": labels}, "namespaceSelector": {"matchNames": [namespace]}}
    metadata = {"name": name, "namespace": "monitoring"}
    endpoints = [{"port": port} for port in ports]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata,
        "spec": {**spec, "endpoints": endpoints},
    }


def _cluster_objects() -> list[dict[str, Any]]:
    """A workload, its Service, an Ingress and monitors naming them, and what the cluster makes at run time."""
    deployment = workload()
    deployment["metadata"]["namespace"] = "apps"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _service("w", "apps", {"app": "w"}, [{"name": "web", "port": 80, "targetPort": "http"}], selector=labels)
    backend = {"service": {"name": "w", "port": {"name": "web"}}}
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "w", "namespace": "apps"},
        "spec": {"rules": [{"host": "w.example.org", "http": {"paths": [{"path": "/", "backend": backend}]}}]},
    }
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "w", "namespace": "monitoring"},
        "spec": {
            "selector": {"matchLabels": {"app": "w"}},
            "namespaceSelector": {"matchNames": ["apps"]},
            "endpoints": [{"port": "web"}],
        },
    }
    pods = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "w", "namespace": "apps"},
        "spec": {"selector": {"matchLabels": labels}, "podMetricsEndpoints": [{"port": "http"}]},
    }
    # The API server's own Service, the kubelets' (the operator's --kubelet-service) and a
    # CloudNativePG Cluster's instance pods: monitors may select them though no object here is them.
    apiserver = _monitor("apiserver", {"component": "apiserver", "provider": "kubernetes"}, "default", ["https"])
    operator = workload()
    operator["metadata"] = {"name": "operator", "namespace": "monitoring"}
    operator["spec"]["template"]["spec"]["containers"][0]["args"] = ["--kubelet-service=kube-system/k-kubelet"]
    kubelet = _monitor("kubelet", {"k8s-app": "kubelet"}, "kube-system", ["https-metrics", "cadvisor"])
    database = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "db", "namespace": "apps"},
    }
    instances = {
        **pods,
        "metadata": {"name": "db", "namespace": "apps"},
        "spec": {"selector": {"matchLabels": {"cnpg.io/cluster": "db"}}, "podMetricsEndpoints": [{"port": "metrics"}]},
    }
    return [deployment, service, ingress, monitor, pods, apiserver, operator, kubelet, database, instances]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("ingress service", (2, "spec.rules w.example.org/: no Service apps/x among the cluster's objects")),
        ("ingress port name", (2, "spec.rules w.example.org/: Service apps/w has no port 'http'")),
        ("ingress port number", (2, "spec.rules w.example.org/: Service apps/w has no port 8080")),
        ("ingress namespace", (2, "spec.rules w.example.org/: no Service other/w among the cluster's objects")),
        ("target port", (1, "spec.ports web: targetPort 'metrics' names no port of its pods")),
        ("monitor port", (3, "endpoint port 'http' is no port name of what it selects")),
        ("monitor namespace", (3, "selects no Service: nothing is scraped")),
        ("pod monitor", (4, "selects no pod: nothing is scraped")),
        ("no kubelet service", (7, "selects no Service: nothing is scraped")),
        ("no database", (8, "selects no pod: nothing is scraped")),
        ("database port", (9, "endpoint port 'exporter' is no port name of what it selects")),
    ],
)
def test_what_a_clusters_objects_name_in_each_other_exists(change: str, words: tuple[int, str]) -> None:
    """validate.references: Ingress backends, Services' named target ports and monitors' selections and ports."""
    assert references(_cluster_objects()) == []
    objects = _cluster_objects()
    _, service, ingress, monitor, pods, _, operator, _, database, instances = objects
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    if change == "ingress service":
        backend["name"] = "x"
    elif change == "ingress port name":
        backend["port"] = {"name": "http"}
    elif change == "ingress port number":
        backend["port"] = {"number": 8080}
    elif change == "ingress namespace":
        ingress["metadata"]["namespace"] = "other"
    elif change == "target port":
        service["spec"]["ports"][0]["targetPort"] = "metrics"
    elif change == "monitor port":
        monitor["spec"]["endpoints"][0]["port"] = "http"
    elif change == "monitor namespace":
        del monitor["spec"]["namespaceSelector"]
    elif change == "pod monitor":
        pods["spec"]["selector"]["matchLabels"] = {"app": "x"}
    elif change == "no kubelet service":
        operator["spec"]["template"]["spec"]["containers"][0]["args"] = []
    elif change == "no database":
        objects.remove(database)
    else:
        instances["spec"]["podMetricsEndpoints"][0]["port"] = "exporter"
    # (the object's index in the changed list, its problem)
    assert references(objects) == [words]


def test_bindings_bind_a_role_of_a_kind_they_may_to_known_subjects() -> None:
    account = {"kind": "ServiceAccount", "name": "a", "namespace": "n"}
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [account],
    }
    assert validate_objects([binding], "v1.34.0", "fine") == []
    for change, words in (
        ({"roleRef": {**binding["roleRef"], "kind": "Role"}}, "is not rbac.authorization.k8s.io/ClusterRole"),
        ({"roleRef": {**binding["roleRef"], "kind": "clusterrole"}}, "is not rbac.authorization.k8s.io/ClusterRole"),
        ({"roleRef": {**binding["roleRef"], "apiGroup": "rbac"}}, "rbac/ClusterRole is not"),
        ({"subjects": [{**account, "kind": "Serviceaccount"}]}, "kind 'Serviceaccount' is none of"),
        ({"subjects": [{"kind": "ServiceAccount", "name": "a"}]}, "ServiceAccount 'a' without its namespace"),
    ):
        (problem,) = validate_objects([{**binding, **change}], "v1.34.0", "broken")
        assert words in problem.message
    # A RoleBinding may bind a ClusterRole (within its namespace).
    role_binding = {**binding, "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "n"}}
    assert validate_objects([role_binding], "v1.34.0", "fine") == []


def test_a_custom_resources_metadata_is_objectmetas() -> None:
    monitor: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "m", "namespace": "mlflow", "labels": {"a": "b"}},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"port": "http"}]},
    }
    assert validate_objects([monitor], "v1.34.0", "fine") == []
    monitor["metadata"]["NAMESPACE"] = monitor["metadata"].pop("namespace")
    (problem,) = validate_objects([monitor], "v1.34.0", "broken")
    assert problem.message == "metadata: NAMESPACE: not a field of ObjectMeta"


def test_a_namespaces_pod_security_labels_name_a_level_and_a_version() -> None:
    namespace: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    labels = namespace["metadata"]["labels"] = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "v1.34",
        "pod-security.kubernetes.io/warn-version": "latest",
    }
    assert validate_objects([namespace], "v1.34.0", "fine") == []
    labels["pod-security.kubernetes.io/enforce"] = "strict"
    (problem,) = validate_objects([namespace], "v1.34.0", "level")
    assert problem.message.endswith("'strict' is none of privileged, baseline, restricted")
    labels["pod-security.kubernetes.io/enforce"] = "baseline"
    labels["pod-security.kubernetes.io/enforce-version"] = "1.34"
    (problem,) = validate_objects([namespace], "v1.34.0", "version")
    assert problem.message.endswith("'1.34' is neither latest nor v1.<minor>")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("64Mi", True),
        ("500m", True),
        ("0.5", True),
        ("1e3", True),
        ("2", True),
        ("64MI", False),
        ("1K", False),
        ("", False),
    ],
)
def test_quantities_parse_as_apimachinery_reads_them(value: str, valid: bool) -> None:
    assert bool(_QUANTITY.match(value)) is valid


@pytest.mark.parametrize(
    ("value", "expected"),
    [("500m", "0.5"), ("1Gi", "1073741824"), ("64Mi", "67108864"), ("1.5k", "1500"), ("1e3", "1000"), (2, "2")],
)
def test_quantity_values(value: str | int, expected: str) -> None:
    assert quantity_value(value) == Decimal(expected)
    with pytest.raises(ValueError, match="not a quantity"):
        quantity_value("64MI")


def test_a_statefulsets_mounts_may_name_its_claim_templates() -> None:
    document = workload("StatefulSet")
    document["spec"]["serviceName"] = "w"
    pod = document["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"].append({"name": "data", "mountPath": "/data"})
    assert "not a volume" in validate_objects([document], "v1.34.0", "no claim")[0].message
    document["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }
    ]
    assert validate_objects([document], "v1.34.0", "claim") == []


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ({}, True),
        ({"matchLabels": {"a": "1"}}, True),
        ({"matchLabels": {"a": "2"}}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "3"]}]}, True),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["3"]}]}, False),
        ({"matchExpressions": [{"key": "z", "operator": "In", "values": ["1"]}]}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, False),
        ({"matchExpressions": [{"key": "z", "operator": "NotIn", "values": ["1"]}]}, True),
        ({"matchExpressions": [{"key": "b", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "z", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "z", "operator": "DoesNotExist"}]}, True),
    ],
)
def test_selectors_select_as_apimachinery_does(selector: dict[str, Any], selected: bool) -> None:
    assert selects(selector, {"a": "1", "b": ""}) is selected


# -- secrets never reach Helm --------------------------------------------------------------------------


def test_secret_values_become_typed_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"hub": {"cookieSecret": "[secret]", "port": "[secret]"}, "plain": 1}
    revealed = {"hub": {"cookieSecret": "s3cr3t", "port": 8081}, "plain": 1}
    release = {
        "urn": "urn:r",
        "type": "kubernetes:helm.sh/v3:Release",
        "name": "hub",
        "parent": None,
        "provider": None,
        "inputs": {"chart": "jupyterhub", "values": values},
        "secret_paths": ["values.hub.cookieSecret", "values.hub.port"],
    }
    plan = Plan("meridian", "test", [release], {}, {"urn:r": {"values": revealed}})
    monkeypatch.setattr(render_module, "_cluster_of", lambda _plan, _resource: "lab")
    (record,) = releases(plan, plan)
    # Same shape and types, marked; the real value never reaches Helm or a file.
    assert record.values == {"hub": {"cookieSecret": "MERIDIAN-SECRET-1", "port": 0}, "plain": 1}
    assert "s3cr3t" not in json.dumps(record.values)
    with pytest.raises(RenderError, match="has secret values"):
        releases(plan, None)


# -- the gate over rendered objects ------------------------------------------------------------------


def test_rendered_objects_become_resources_under_their_release() -> None:
    plan, renders = rendered("eo4eu")
    with_objects = as_resources(plan, renders)
    added = with_objects.resources[len(plan.resources) :]
    assert len(added) == sum(len(item.objects) for item in renders)
    daemonset = next(r for r in added if r["type"] == "kubernetes:apps/v1:DaemonSet")
    release = next(r for r in plan.resources if r["urn"] == daemonset["parent"])
    assert release["type"] == "kubernetes:helm.sh/v3:Release"
    assert daemonset["provider"] == release["provider"]
    # Helm installs namespaced objects without a namespace into the release's.
    assert daemonset["inputs"]["metadata"]["namespace"] == "gpu-operator"
    crd = next(r for r in added if r["type"] == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    assert "namespace" not in crd["inputs"]["metadata"]
    # The gate's copy leaves out the versions' schemas (megabytes no policy reads), nothing else.
    rendered_crd = next(
        o
        for item in renders
        for o in item.objects
        if o.get("kind") == "CustomResourceDefinition" and o["metadata"]["name"] == crd["inputs"]["metadata"]["name"]
    )
    assert all(v["schema"] == SCHEMA_ELIDED for v in crd["inputs"]["spec"]["versions"])
    assert "openAPIV3Schema" in rendered_crd["spec"]["versions"][0]["schema"]
    assert rendered_crd["spec"]["versions"][0]["schema"] != SCHEMA_ELIDED
    without = {k: v for k, v in crd["inputs"]["spec"].items() if k != "versions"}
    assert without == {k: v for k, v in rendered_crd["spec"].items() if k != "versions"}
    assert type_token({"apiVersion": "v1", "kind": "Pod"}) == "kubernetes:core/v1:Pod"


def test_the_gate_polices_what_a_chart_deploys(analyzer: Any) -> None:
    from scripts.gate import gate

    plan, renders = rendered("eo4eu")
    assert gate(as_resources(plan, renders), analyzer=analyzer).violations == []
    # The same chart installed into a namespace outside the allow-list: NFD's worker, which mounts the
    # node's /sys and /proc through hostPath and runs as root, is caught.
    moved = []
    for item in renders:
        objects = copy.deepcopy(item.objects)
        for document in objects:
            document.get("metadata", {}).pop("namespace", None)
        moved.append(Rendered(ReleaseRecord(**{**item.release.__dict__, "namespace": "research"}), objects))
    report = gate(as_resources(plan, moved), analyzer=analyzer)
    caught = {(v.policy, v.urn.rsplit("::", 1)[-1]) for v in report.violations}
    assert ("no-host-path-volumes", "core-gpu-operator/research/gpu-operator-node-feature-discovery-worker") in caught
    assert any(policy == "run-as-non-root" for policy, _ in caught)


# -- the command ------------------------------------------------------------------------------------


@pytest.mark.cli
def test_cli_render_writes_one_manifest_per_release(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "render", "eo4eu", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "burst.burst-alloy.yaml",
        "burst.burst-cert-manager.yaml",
        "burst.burst-gpu-operator.yaml",
        "burst.burst-jupyterhub.yaml",
        "burst.burst-kube-prometheus-stack.yaml",
        "burst.burst-traefik.yaml",
        "core.core-alloy.yaml",
        "core.core-argo-workflows.yaml",
        "core.core-blackbox-exporter.yaml",
        "core.core-cert-manager.yaml",
        "core.core-cloudnative-pg.yaml",
        "core.core-gpu-operator.yaml",
        "core.core-jupyterhub.yaml",
        "core.core-kube-prometheus-stack.yaml",
        "core.core-loki.yaml",
        "core.core-traefik.yaml",
    ]
    assert "16 releases rendered, 2 not rendered, 0 invalid objects" in result.stdout
    assert "burst/burst-external-secrets: external-secrets 2.9.0 not rendered: the mirror holds" in result.stdout


@pytest.mark.cli
def test_cli_render_of_bad_input_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "render", str(tmp_path / "Pulumi.none.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


#: Locked charts no bundled stack installs yet, and why they are locked anyway.
LOCKED_AHEAD: dict[str, str] = {}


def test_every_release_uses_a_locked_chart_and_every_locked_chart_is_used(bundled_plan: Any) -> None:
    used: set[str] = set()
    for stack in BUNDLED:
        for release in bundled_plan(stack).by_type(render_module.RELEASE):
            chart, inputs = release["inputs"]["chart"], release["inputs"]
            lock = chart_lock().charts.get(chart)
            assert lock is not None, f"{stack}: {release['urn']} installs {chart}, which is not in the lock"
            assert inputs["version"] == lock.version, release["urn"]
            assert inputs["repositoryOpts"] == {"repo": lock.repository}, release["urn"]
            used.add(chart)
    assert used, "the bundled stacks install charts"
    assert set(chart_lock().charts) == used | set(LOCKED_AHEAD)
    assert not used & set(LOCKED_AHEAD), "a chart in use is no longer 'ahead': drop it from LOCKED_AHEAD"


def test_custom_resources_validate_against_locked_crd_files() -> None:
    # The ServiceMonitor CRD comes from the mirror's crds/ (locked by digest), not from a chart.
    monitor: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "dcgm", "namespace": "gpu-operator"},
        "spec": {"selector": {"matchLabels": {"app": "nvidia-dcgm-exporter"}}, "endpoints": [{"port": "gpu-metrics"}]},
    }
    assert validate_objects([monitor], "v1.34.0", "own") == []
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["interval"] = 15  # the CRD says a duration string
    (problem,) = validate_objects([broken], "v1.34.0", "own")
    assert problem.kind == "monitoring.coreos.com/v1/ServiceMonitor" and "interval" in problem.message


@pytest.mark.parametrize("chart", sorted(chart_lock().charts))
def test_every_pinned_version_is_the_released_chart(chart: str) -> None:
    # The chart the resolver verified (digest) says it is the locked version: Chart.yaml's
    # version, or the release tag its SOURCE names when Chart.yaml carries a placeholder. A chart
    # locked without a digest: its verified reference files' Chart.yaml.
    folder = chart_dir(chart) if locked(chart).digest is not None else chart_reference(chart)
    assert chart_version(folder) == locked(chart).version


def test_crd_documents_are_parsed_once_and_read_as_before() -> None:
    """A chart's CRDs arrive with every release of it: parsed once per process, the same documents."""
    import yaml as pyyaml

    from scripts.validate import _FAST_LOADER, load_documents

    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: widgets.example.org}\nspec: {group: example.org}\n"
    )
    config_map = "# Source: c/templates/cm.yaml\nkind: ConfigMap\nmetadata: {name: a}\n"
    manifest = f"---\n# Source: c/crds/w.yaml\n{crd}---\n{config_map}"
    first, second = load_documents(manifest), load_documents(manifest.replace("name: a", "name: b"))
    assert first == list(pyyaml.load_all(manifest, Loader=_FAST_LOADER))
    assert first[0] is second[0] and first[0]["kind"] == "CustomResourceDefinition"
    assert (first[1]["metadata"]["name"], second[1]["metadata"]["name"]) == ("a", "b")
    # The chart's file, as `helm template --include-crds` prints it and as the file holds it
    # (a newline more): one parse.
    (from_file,) = load_documents(f"{crd}\n")
    assert from_file is first[0]


def test_locked_crds_are_looked_up_by_group_and_kind_as_a_full_read_finds_them() -> None:
    """Only the CRD documents that spell a kind and its group are parsed; the answer is a full read's."""
    from scripts.crdschema import crd_key
    from scripts.upstream import chart_crd_files, crd_file
    from scripts.validate import load_documents, locked_crd

    # The Prometheus Operator's kinds, which three places serve (kube-prometheus-stack's `crds/`,
    # then Loki's grafana-agent-operator subchart's, in the lock's order, and ServiceMonitor a
    # locked file, read last), and every CRD of a many-document file: the last one read serves.
    served = {}
    charts = [name for name in chart_lock().charts if name in ("kube-prometheus-stack", "loki")]
    paths = [*(path for name in charts for path in chart_crd_files(name)), crd_file("fleet.cattle.io_all.yaml")]
    for path in [*paths, crd_file("monitoring.coreos.com_servicemonitors.yaml")]:
        for document in load_documents(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                served.update(dict.fromkeys(crd_key(document), document))
    assert len(served) > 20 and ("fleet.cattle.io/v1alpha1", "GitRepo") in served
    for key, document in served.items():
        assert locked_crd(key) == document, key
    # Kinds no locked CRD serves: built-in ones, a known kind in another group or at a version
    # not served, a group without that kind.
    for key in [
        ("apps/v1", "Deployment"),
        ("example.org/v1alpha1", "GitRepo"),
        ("fleet.cattle.io/v9", "GitRepo"),
        ("fleet.cattle.io/v1alpha1", "Deployment"),
    ]:
        assert locked_crd(key) is None, key


@pytest.mark.parametrize("stack", BUNDLED)
def test_every_releases_sizes_are_quantities_the_api_server_takes(stack: str) -> None:
    """Also of the charts the mirror cannot render (external-secrets): their values' `resources`."""
    plan = revealed_plan(stack)
    assert [
        (r.resource, resource_problems(r.values)) for r in releases(plan, plan) if resource_problems(r.values)
    ] == []
