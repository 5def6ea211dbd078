"""The ingress add-on: Traefik, cert-manager and the ACME ClusterIssuer, checked against their upstreams.

Every plan comes from the one offline harness (`bundled_plan`, `plan_of`). Chart values are parsed
back from the Helm releases and compared with facts written out by hand from the sources named
beside them: the charts' own values.yaml and templates (resolved through scripts/upstream.py,
never read from the mirror directly), the released charts rendered by the real `helm template`
(scripts/render.py), the ClusterIssuer CRD the cert-manager chart installs (scripts/crdschema.py),
Let's Encrypt's documentation and the Kubernetes documentation. Expected values come from the
stack files and those sources, never from the code under test.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import jsonschema
import pulumi
import pytest
import yaml
from conftest import PlanCache, load_platform, rendered_release
from helm_values import unknown_keys

from components.addons import ADDONS
from components.addons.base import AddonContext, ChartRelease, chart_release
from components.addons.cluster_api import operator_release
from components.addons.external_secrets import external_secrets_release
from components.addons.gpu_operator import gpu_operator_release
from components.addons.ingress import ingress_releases
from components.addons.jupyterhub import jupyterhub_release
from components.addons.mlflow import operator_release as cnpg_release
from components.addons.observability import collector_release, public_endpoints
from components.addons.workflows import argo_release, artifact_repository
from components.charts import LOCK_FILE
from components.clusters.cluster import KubernetesCluster
from components.spec import ClusterSpec, SpecError, parse_platform
from scripts.crdschema import schema_of, validate
from scripts.harness import STACKS, Plan, bundled_stacks
from scripts.mocks import documentation_ip
from scripts.render import Rendered, chart_api_versions, releases, render_release
from scripts.upstream import chart_dir
from scripts.validate import builtin_api_versions, validate_objects

BUNDLED = bundled_stacks()
STACK_FILE = STACKS / "Pulumi.buildspace.yaml"
CLUSTER = "processing"

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
K8S_PROVIDER = "pulumi:providers:kubernetes"
INGRESS = "meridian:addons:Ingress"
CLUSTER_TYPE = "meridian:clusters:KubernetesCluster"

#: The charts' official repositories: Traefik's chart README (`helm repo add traefik
#: https://traefik.github.io/charts`) and cert-manager's Helm install docs
#: (cert-manager.io/docs/installation/helm: `helm repo add jetstack https://charts.jetstack.io`).
REPOSITORIES = {"traefik": "https://traefik.github.io/charts", "cert-manager": "https://charts.jetstack.io"}
#: Let's Encrypt's ACME v2 directories: letsencrypt.org/docs/acme-protocol-updates (production,
#: "https://acme-v02.api.letsencrypt.org/directory") and letsencrypt.org/docs/staging-environment
#: ("https://acme-staging-v02.api.letsencrypt.org/directory").
LE_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LE_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
#: cert-manager's ingress-shim reads this annotation on an Ingress to issue its certificate from a
#: ClusterIssuer of that name (cert-manager.io/docs/usage/ingress, "Supported annotations").
ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
#: The label the Pod Security admission controller enforces a namespace's level by
#: (kubernetes.io/docs/concepts/security/pod-security-admission, "Pod Security Admission labels").
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"

_PLANS: dict[str, Plan] = PlanCache()
_RENDERS: dict[str, Rendered] = PlanCache()


# -- helpers ---------------------------------------------------------------------------------------


def stack_platform(stack: str = "buildspace") -> dict[str, Any]:
    """A fresh copy of a bundled stack file's `meridian:platform` (the expected values' source)."""
    return copy.deepcopy(load_platform(STACKS / f"Pulumi.{stack}.yaml"))


def lock_file() -> dict[str, Any]:
    """The chart lock, parsed from the file itself (not through components.charts)."""
    lock: dict[str, Any] = yaml.safe_load(LOCK_FILE.read_text(encoding="utf-8"))["charts"]
    return lock


def release(plan: Plan, chart: str, cluster: str = CLUSTER) -> dict[str, Any]:
    return plan.one(RELEASE, f"{cluster}-{chart}")


def values(plan: Plan, chart: str, cluster: str = CLUSTER) -> dict[str, Any]:
    found: dict[str, Any] = release(plan, chart, cluster)["inputs"]["values"]
    return found


def provider_urn(resource: Mapping[str, Any]) -> str:
    """The provider URN of a provider reference (`<urn>::<id>`)."""
    return str(resource["provider"]).rsplit("::", 1)[0]


def variant(name: str, plan_of: Callable[..., Plan], change: Callable[[dict[str, Any]], None]) -> Plan:
    """The plan of buildspace's platform changed by `change` (evaluated once per process)."""
    if name not in _PLANS:
        platform = stack_platform()
        change(platform)
        _PLANS[name] = plan_of(platform)
    return _PLANS[name]


def ingress_spec(platform: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = platform["clusters"][CLUSTER]["addons"]["ingress"]
    return spec


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity in bytes (binary suffixes, the only ones used here)."""
    number, suffix = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * _BINARY[suffix]


def cpu_millis(quantity: str) -> int:
    """A Kubernetes CPU quantity in millicores (`100m`, `1`)."""
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def assert_sized(resources: Mapping[str, Any], where: str) -> None:
    """Requests for CPU and memory and a memory limit no lower than the request."""
    requests, limits = resources["requests"], resources["limits"]
    assert cpu_millis(requests["cpu"]) > 0, where
    assert memory_bytes(requests["memory"]) > 0, where
    assert memory_bytes(limits["memory"]) >= memory_bytes(requests["memory"]), where


def rendered(plan: Plan, chart: str) -> Rendered:
    """`helm template` of the buildspace release of `chart`, through the program's render path."""
    if chart not in _RENDERS:
        # Only this release: the hub's holds secret values, which render needs revealed.
        _RENDERS[chart] = rendered_release(plan, f"{CLUSTER}-{chart}", str(STACK_FILE))
    return _RENDERS[chart]


def objects_of(item: Rendered, kind: str) -> list[dict[str, Any]]:
    return [o for o in item.objects if o.get("kind") == kind]


def cluster_issuer_crd(plan: Plan) -> dict[str, Any]:
    """The ClusterIssuer CRD the cert-manager release installs (crds.enabled templates it)."""
    crds = [
        o
        for o in objects_of(rendered(plan, "cert-manager"), "CustomResourceDefinition")
        if o["spec"]["names"]["kind"] == "ClusterIssuer"
    ]
    (crd,) = crds
    assert crd["spec"]["group"] == "cert-manager.io"
    return crd


# -- Pod Security Standards, restricted ---------------------------------------------------------------

#: kubernetes.io/docs/concepts/security/pod-security-standards, "Restricted", "Volume Types".
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "Job", "ReplicaSet"}


def restricted_problems(pod: Mapping[str, Any]) -> list[str]:
    """Where a pod spec breaks the Pod Security Standards' restricted profile (and baseline under it).

    From kubernetes.io/docs/concepts/security/pod-security-standards: host namespaces, privileged
    containers, host ports; volume types; privilege escalation false; runAsNonRoot true and
    runAsUser not 0; seccomp RuntimeDefault or Localhost; capabilities drop ALL, add only
    NET_BIND_SERVICE.
    """
    problems = [f"spec.{key}" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds)}")
    pod_context = pod.get("securityContext") or {}
    for container in [*(pod.get("initContainers") or []), *pod["containers"]]:
        name = container["name"]
        context = container.get("securityContext") or {}
        merged = {**pod_context, **context}
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if merged.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot must be true")
        if merged.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        if (merged.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities must drop ALL")
        if not set(capabilities.get("add") or []) <= {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"{name}: hostPort")
    return problems


def pod_specs(item: Rendered) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind/name, namespace, pod spec) of every workload a render holds."""
    found = []
    for o in item.objects:
        if o.get("kind") in WORKLOADS:
            pod: dict[str, Any] = o["spec"]["template"]["spec"]
            found.append((f"{o['kind']}/{o['metadata']['name']}", o["metadata"].get("namespace", ""), pod))
    return found


# -- 1. the add-on layer ------------------------------------------------------------------------------


def _processing_spec() -> Any:
    return parse_platform(stack_platform(), str(STACK_FILE)).clusters[CLUSTER]


def _records_by_addon() -> dict[str, list[ChartRelease]]:
    """Every release record each add-on makes for buildspace's processing cluster (it has all three)."""
    cluster = _processing_spec()
    hub = cluster.addons.hub
    assert hub is not None
    # The same hub on an eks cluster, where Meridian makes the default StorageClass.
    on_eks = cluster.model_copy(update={"backend": "eks"})
    observability = parse_platform(stack_platform(), str(STACK_FILE)).observability
    assert observability is not None
    endpoints = public_endpoints(observability)
    return {
        # The operator's release waits for nothing (its store and ExternalSecrets wait for it).
        "external_secrets": [external_secrets_release(CLUSTER)],
        # The default StorageClass is an object of Meridian's own, not a chart release.
        "block_storage": [],
        # The collector (on the central cluster with the central stack's Loki, whose records wait for nothing).
        "observability": [
            collector_release(CLUSTER, cluster, observability, project="buildspace", endpoints=endpoints),
            collector_release(CLUSTER, on_eks, observability, project="buildspace", endpoints=endpoints),
        ],
        "gpu_operator": [gpu_operator_release(CLUSTER, cluster)],
        "ingress": ingress_releases(CLUSTER, ["0.0.0.0/0"]),
        # Cluster API's operator needs cert-manager, from the ingress add-on.
        "cluster_api": [operator_release(CLUSTER)],
        "jupyterhub": [
            jupyterhub_release(CLUSTER, cluster, hub, issuer="letsencrypt-production", secrets_checksum="0" * 64),
            jupyterhub_release(CLUSTER, on_eks, hub, issuer="letsencrypt-production", secrets_checksum="0" * 64),
        ],
        # CloudNativePG's PodMonitor needs the collector's CRDs; MLflow's objects are the program's own.
        "cloudnative_pg": [cnpg_release(CLUSTER, cluster, {})],
        "mlflow": [],
        # Argo's Ingress needs Traefik and the issuer; its controller's ServiceMonitor the collector's CRDs.
        "workflows": [_argo_release(cluster)],
        # The model services' objects are the program's own.
        "model_services": [],
    }


def _argo_release(cluster: ClusterSpec) -> ChartRelease:
    platform = parse_platform(load_platform(STACKS / "Pulumi.eo4eu.yaml"), "eo4eu")
    assert platform.mlops is not None
    repository = artifact_repository("b", "r", None)
    return argo_release(CLUSTER, cluster, platform.mlops, issuer="x", labels={}, repository=repository, role_arn=None)


def order_problems(order: list[str], waits: Mapping[str, list[ChartRelease]]) -> list[tuple[str, str]]:
    """(add-on, add-on it waits for) wherever a release waits for one not earlier in `order`."""
    return [
        (key, needed)
        for index, key in enumerate(order)
        for record in waits[key]
        for needed in record.waits_for
        if needed not in order[:index]
    ]


def test_addons_come_after_what_their_releases_wait_for() -> None:
    order = [addon.key for addon in ADDONS]
    records = _records_by_addon()
    # Every add-on is covered: a new one must be added above, with its records.
    assert sorted(order) == sorted(records)
    assert order_problems(order, records) == []
    # The hub's Ingress names Traefik's IngressClass and the issuer's annotation: it needs both; its
    # ServiceMonitor (an observed cluster) needs the collector's CRDs.
    assert records["jupyterhub"][0].waits_for == ("ingress", "observability")
    # On eks its database claim is bound through the StorageClass of the block storage add-on too.
    assert records["jupyterhub"][1].waits_for == ("block_storage", "ingress", "observability")
    # The GPU Operator's DCGM ServiceMonitor needs the collector's CRDs; the collector's WAL volume
    # on eks needs the default StorageClass.
    assert records["gpu_operator"][0].waits_for == ("observability",)
    assert records["observability"][1].waits_for == ("block_storage",)
    # Cluster API's operator: its webhook certificate is cert-manager's, from the ingress add-on.
    assert records["cluster_api"][0].waits_for == ("ingress",)
    assert records["cloudnative_pg"][0].waits_for == ("observability",)
    assert records["workflows"][0].waits_for == ("ingress", "observability")
    # The check bites: with the hub first, it waits for add-ons not yet built.
    assert order_problems(list(reversed(order)), records) == [
        ("workflows", "ingress"),
        ("workflows", "observability"),
        ("cloudnative_pg", "observability"),
        ("jupyterhub", "ingress"),
        ("jupyterhub", "observability"),
        ("jupyterhub", "block_storage"),
        ("jupyterhub", "ingress"),
        ("jupyterhub", "observability"),
        ("gpu_operator", "observability"),
        ("observability", "block_storage"),
        ("cluster_api", "ingress"),
    ]


def test_waiting_for_an_addon_not_installed_is_a_program_error() -> None:
    # The hub of a cluster without a collector: it waits for the ingress only.
    hub_release = dataclasses.replace(_records_by_addon()["jupyterhub"][0], waits_for=("ingress",))
    component = cast(pulumi.Resource, object())

    def context(installed: dict[str, pulumi.Resource]) -> AddonContext:
        return AddonContext(
            cluster_name="lab",
            cluster=_processing_spec(),
            provider=cast(pulumi.ProviderResource, None),
            labels={},
            parent=cast(KubernetesCluster, None),
            site=None,
            sources=lambda entries: [],
            installed=installed,
        )

    with pytest.raises(ValueError, match=r"cluster lab: release jupyterhub waits for .*: ingress\b"):
        context({"gpu_operator": component}).waits(hub_release)
    assert context({"ingress": component}).waits(hub_release) == [component]
    # Every missing add-on is named, in the release's order.
    both = dataclasses.replace(hub_release, waits_for=("ingress", "gpu_operator"))
    with pytest.raises(ValueError) as caught:
        context({}).waits(both)
    assert str(caught.value).endswith(
        "waits for add-ons not installed before it: ingress, gpu_operator (components/addons/__init__.py ADDONS order)"
    )
    # Nothing to wait for: nothing needed.
    assert context({}).waits(ingress_releases("lab", [])[0]) == []


def test_chart_release_takes_the_chart_from_the_lock() -> None:
    lock = lock_file()
    record = chart_release("lab-traefik", "traefik", namespace="traefik", values={"a": 1})
    assert (record.chart.name, record.chart.version, record.chart.repository) == (
        "traefik",
        lock["traefik"]["version"],
        lock["traefik"]["repository"],
    )
    assert record.release_name == "traefik"  # the chart's name unless told otherwise
    named = chart_release("lab-cm", "cert-manager", namespace="x", values={}, release_name="cm")
    assert named.release_name == "cm" and named.chart.version == lock["cert-manager"]["version"]
    assert "ingress-nginx" not in lock
    with pytest.raises(KeyError, match=r"'ingress-nginx' is not in charts\.lock\.yaml"):
        chart_release("lab-nginx", "ingress-nginx", namespace="ingress-nginx", values={})


# -- 2. buildspace: the releases, their namespaces and provider ---------------------------------------


@pytest.mark.parametrize(("chart", "namespace"), [("traefik", "traefik"), ("cert-manager", "cert-manager")])
def test_releases_on_the_processing_cluster(bundled_plan: Callable[[str], Plan], chart: str, namespace: str) -> None:
    plan = bundled_plan("buildspace")
    found = release(plan, chart)
    inputs = found["inputs"]
    lock = lock_file()[chart]
    assert inputs["chart"] == chart and inputs["name"] == chart
    assert inputs["version"] == lock["version"]
    assert inputs["repositoryOpts"] == {"repo": lock["repository"]} == {"repo": REPOSITORIES[chart]}
    assert inputs["namespace"] == namespace
    # Through the cluster's own provider (the one that waits for the API), not the bootstrap one.
    assert provider_urn(found) == plan.one(K8S_PROVIDER, f"{CLUSTER}-k8s")["urn"]
    # Under the cluster's ingress component.
    component = plan.one(INGRESS, f"{CLUSTER}-ingress")
    assert found["parent"] == component["urn"]
    cluster = next(r for r in plan.resources if r["urn"] == component["parent"])
    assert (cluster["type"], cluster["name"]) == (CLUSTER_TYPE, CLUSTER)
    # Its namespace exists as a resource, on the same provider, at Pod Security level restricted,
    # and the release waits for it.
    ns = plan.one(NAMESPACE, f"{CLUSTER}-{namespace}")
    assert ns["inputs"]["metadata"]["name"] == namespace
    assert ns["inputs"]["metadata"]["labels"][PSA_ENFORCE] == "restricted"
    assert provider_urn(ns) == provider_urn(found)
    assert ns["urn"] in found["depends_on"]


def test_traefik_values(bundled_plan: Callable[[str], Plan]) -> None:
    traefik = values(bundled_plan("buildspace"), "traefik")
    # values.yaml `ingressClass.isDefaultClass: true` upstream: a default IngressClass takes every
    # Ingress without a class (kubernetes.io/docs/concepts/services-networking/ingress, "Default
    # IngressClass"); Meridian's is named and not the default.
    assert traefik["ingressClass"] == {"enabled": True, "isDefaultClass": False, "name": "traefik"}
    providers = traefik["providers"]
    assert providers["kubernetesIngress"]["enabled"] is True
    # publishedService copies the Service's load balancer address into each Ingress's status.
    assert providers["kubernetesIngress"]["publishedService"]["enabled"] is True
    # values.yaml default: true. Here Traefik serves Middlewares: processing hosts the central
    # observability endpoints, behind basic auth (a Middleware); elsewhere it does not.
    assert providers["kubernetesCRD"] == {"enabled": True, "allowCrossNamespace": False}
    other = values(bundled_plan("eo4eu"), "traefik", "burst")["providers"]["kubernetesCRD"]
    assert other == {"enabled": False, "allowCrossNamespace": False}
    # values.yaml ports.web.http.redirections.entryPoint (Traefik: entryPoints.<name>.http.redirections).
    assert traefik["ports"]["web"]["http"]["redirections"]["entryPoint"] == {
        "to": "websecure",
        "scheme": "https",
        "permanent": True,
    }
    service = traefik["service"]["spec"]
    assert service["type"] == "LoadBalancer"
    assert service["loadBalancerSourceRanges"] == ingress_spec(stack_platform())["allowed_sources"] == ["0.0.0.0/0"]
    # Cluster (the default): with Local, cloud-provider-openstack sends traffic to nodes without a
    # Traefik pod unless its load-balancer health monitor is on (OCCM `create-monitor`, off by
    # default; Magnum's cloud config does not set it: capi-helm-charts cluster-addons
    # templates/openstack/cloud-config.yaml).
    assert "externalTrafficPolicy" not in service
    assert_sized(traefik["resources"], "traefik")
    # values.yaml ingressRoute.dashboard: an IngressRoute would publish the dashboard (and needs the CRD provider).
    assert traefik["ingressRoute"]["dashboard"]["enabled"] is False


def test_cert_manager_values(bundled_plan: Callable[[str], Plan]) -> None:
    cert_manager = values(bundled_plan("buildspace"), "cert-manager")
    # values.yaml crds.enabled (default false: no CRDs, so no ClusterIssuer could be created) and
    # crds.keep ("helm.sh/resource-policy: keep": uninstalling must not delete every Certificate).
    assert cert_manager["crds"] == {"enabled": True, "keep": True}
    # The metrics Service the collector scrapes; its ServiceMonitor is the collector's own (the
    # Prometheus Operator's CRDs come with the collector, after this release).
    assert cert_manager["prometheus"] == {"enabled": True, "servicemonitor": {"enabled": False}}
    components = {
        "controller": cert_manager["resources"],  # the controller's values sit at the top level
        "webhook": cert_manager["webhook"]["resources"],
        "cainjector": cert_manager["cainjector"]["resources"],
        "startupapicheck": cert_manager["startupapicheck"]["resources"],
    }
    for component, resources in components.items():
        assert_sized(resources, component)


def test_every_cert_manager_key_is_in_the_charts_values_yaml(bundled_plan: Callable[[str], Plan]) -> None:
    chart_values = chart_dir("cert-manager") / "values.yaml"
    cert_manager = values(bundled_plan("buildspace"), "cert-manager")
    assert unknown_keys(cert_manager, chart_values) == []
    # The check bites on a misspelling of the one key that makes the CRDs exist.
    broken = copy.deepcopy(cert_manager)
    broken["crds"]["enable"] = broken["crds"].pop("enabled")
    assert unknown_keys(broken, chart_values) == ["crds.enable"]
    # The DNS-01 role's two keys are not in values.yaml (commented out there, or inside a free-form
    # map): `serviceAccount.annotations` is in the chart's values.schema.json, whose serviceAccount
    # admits no other key (Helm refuses a misspelling); fsGroup is a PodSecurityContext field, checked
    # on the rendered Deployment against the Kubernetes schema (gate --render).
    dns01 = values(bundled_plan("destine-extremes"), "cert-manager", "postproc")
    assert unknown_keys(dns01, chart_values) == ["serviceAccount.annotations", "securityContext.fsGroup"]
    schema = json.loads((chart_dir("cert-manager") / "values.schema.json").read_text(encoding="utf-8"))
    account = schema["$defs"]["helm-values.serviceAccount"]
    assert account["additionalProperties"] is False and "annotations" in account["properties"]
    assert schema["$defs"]["helm-values.securityContext"]["type"] == "object"


def test_every_traefik_key_is_in_the_charts_values_yaml(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    chart_values = chart_dir("traefik") / "values.yaml"
    traefik = values(plan, "traefik")
    # `service.spec` is copied verbatim into the Service's spec (traefik templates/_service.tpl,
    # "traefik.service-spec": `toYaml .service.spec`; values.yaml: "Additional entries here will be
    # added to the Service spec"), but values.yaml lists only `type` under it, so the key checker
    # reports the ServiceSpec fields Meridian sets. Also reported: the push entry point of the central
    # observability (processing is buildspace's central cluster), a key of Meridian's own in the map of
    # entry points (values.schema.json: `ports.additionalProperties`), and websecure's `asDefault`,
    # which values.yaml carries commented out (and values.schema.json declares). Exactly those.
    assert sorted(unknown_keys(traefik, chart_values)) == [
        "ports.push",
        "ports.websecure.asDefault",
        "service.spec.loadBalancerIP",
        "service.spec.loadBalancerSourceRanges",
    ]
    schema = json.loads((chart_dir("traefik") / "values.schema.json").read_text(encoding="utf-8"))
    assert "asDefault" in schema["properties"]["ports"]["additionalProperties"]["properties"]
    # ...and they are real ServiceSpec fields: they reach the rendered Service, which validates.
    traefik_render = rendered(plan, "traefik")
    (service,) = [s for s in objects_of(traefik_render, "Service") if s["metadata"]["name"] == "traefik"]
    assert service["spec"]["loadBalancerSourceRanges"] == ["0.0.0.0/0"]
    assert service["spec"]["loadBalancerIP"] == traefik["service"]["spec"]["loadBalancerIP"]
    assert "externalTrafficPolicy" not in service["spec"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert validate_objects([service], traefik_render.release.kube_version, "traefik") == []
    # The push Service (`service.additionalServices.push`) gets its own spec the same way.
    (push,) = [s for s in objects_of(traefik_render, "Service") if s["metadata"]["name"] == "traefik-push"]
    assert push["spec"]["loadBalancerIP"] == traefik["service"]["additionalServices"]["push"]["spec"]["loadBalancerIP"]
    assert "0.0.0.0/0" not in push["spec"]["loadBalancerSourceRanges"]
    assert validate_objects([push], traefik_render.release.kube_version, "traefik") == []
    misspelt = copy.deepcopy(service)
    misspelt["spec"]["loadBalancerSourceRange"] = misspelt["spec"].pop("loadBalancerSourceRanges")
    assert validate_objects([misspelt], traefik_render.release.kube_version, "traefik") != []
    # Everywhere else a misspelling is caught.
    broken = copy.deepcopy(traefik)
    broken["ingressClass"]["isDefault"] = broken["ingressClass"].pop("isDefaultClass")
    assert "ingressClass.isDefault" in unknown_keys(broken, chart_values)


def test_traefik_renders_what_the_values_ask(bundled_plan: Callable[[str], Plan]) -> None:
    traefik_render = rendered(bundled_plan("buildspace"), "traefik")
    (ingress_class,) = objects_of(traefik_render, "IngressClass")
    assert ingress_class["metadata"]["name"] == "traefik"
    # Traefik's controller name (doc.traefik.io, Kubernetes Ingress provider, "ingressClass").
    assert ingress_class["spec"]["controller"] == "traefik.io/ingress-controller"
    # Kubernetes reads this annotation for the default class (docs: Ingress, "Default IngressClass").
    assert ingress_class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "false"
    (deployment,) = objects_of(traefik_render, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    # Traefik static configuration (entryPoints.web.http.redirections.entryPoint.*): the chart
    # resolves `websecure` to its exposed port.
    assert "--entryPoints.web.http.redirections.entryPoint.to=:443" in args
    assert "--entryPoints.web.http.redirections.entryPoint.scheme=https" in args
    assert "--entryPoints.web.http.redirections.entryPoint.permanent=true" in args
    assert "--providers.kubernetesingress.ingressendpoint.publishedservice=traefik/traefik" in args
    # processing hosts the central observability endpoints: Traefik serves their Middleware.
    assert "--providers.kubernetescrd" in args
    # HSTS on every HTTPS answer (HSTS_MIDDLEWARE): the entry point names the file provider's
    # middleware (entryPoints.<name>.http.middlewares), the provider reads the chart's ConfigMap
    # mounted where the flag says, and the ConfigMap's dynamic configuration defines it.
    assert "--entryPoints.websecure.http.middlewares=meridian-hsts@file" in args
    assert "--providers.file.directory=/etc/traefik/dynamic" in args
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    (config_map,) = [
        c for c in objects_of(traefik_render, "ConfigMap") if c["metadata"]["name"].endswith("-file-provider")
    ]
    (volume,) = [
        name for name, v in volumes.items() if v.get("configMap", {}).get("name") == config_map["metadata"]["name"]
    ]
    assert mounts[volume] == "/etc/traefik/dynamic"
    dynamic = yaml.safe_load(config_map["data"]["config.yml"])
    # Traefik headers middleware: stsSeconds (Strict-Transport-Security max-age), a year.
    assert dynamic == {"http": {"middlewares": {"meridian-hsts": {"headers": {"stsSeconds": 31536000}}}}}


@pytest.mark.parametrize(("chart", "namespace"), [("traefik", "traefik"), ("cert-manager", "cert-manager")])
def test_rendered_pods_are_admitted_at_restricted(
    bundled_plan: Callable[[str], Plan], chart: str, namespace: str
) -> None:
    # The namespaces enforce `restricted`: a pod that breaks it is refused and the atomic release
    # rolls back. Every workload the chart renders must pass.
    pods = pod_specs(rendered(bundled_plan("buildspace"), chart))
    assert pods, chart
    assert {ns for _, ns, _ in pods} == {namespace}
    assert [(name, restricted_problems(pod)) for name, _, pod in pods if restricted_problems(pod)] == []


def test_restricted_check_bites(bundled_plan: Callable[[str], Plan]) -> None:
    ((_, _, pod),) = pod_specs(rendered(bundled_plan("buildspace"), "traefik"))
    broken = copy.deepcopy(pod)
    broken["hostNetwork"] = True
    broken["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    broken["securityContext"].pop("seccompProfile")
    container = broken["containers"][0]
    container["securityContext"].pop("allowPrivilegeEscalation")
    container["securityContext"]["capabilities"] = {"drop": ["NET_RAW"], "add": ["SYS_ADMIN"]}
    assert restricted_problems(broken) == [
        "spec.hostNetwork",
        "volume host: ['hostPath']",
        "traefik: allowPrivilegeEscalation must be false",
        "traefik: seccompProfile must be RuntimeDefault or Localhost",
        "traefik: capabilities must drop ALL",
        "traefik: adds capabilities ['SYS_ADMIN']",
    ]


# -- 3. the ClusterIssuer -----------------------------------------------------------------------------


def test_cluster_issuer(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    acme_spec = ingress_spec(stack_platform())["acme"]
    assert acme_spec["environment"] == "production"
    issuer = plan.one(ISSUER, f"{CLUSTER}-letsencrypt-production")
    inputs = issuer["inputs"]
    assert (inputs["apiVersion"], inputs["kind"]) == ("cert-manager.io/v1", "ClusterIssuer")
    assert inputs["metadata"]["name"] == "letsencrypt-production"
    acme = inputs["spec"]["acme"]
    assert acme["server"] == LE_PRODUCTION
    assert acme["email"] == acme_spec["email"] == "platform@buildspace.eu"
    assert acme["privateKeySecretRef"] == {"name": "letsencrypt-production-account-key"}
    # HTTP-01 through Traefik: cert-manager creates its solver Ingress with this class
    # (cert-manager.io/docs/configuration/acme/http01, `ingressClassName`).
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]
    # The CRD and the webhook that admits the issuer come with the cert-manager release.
    assert release(plan, "cert-manager")["urn"] in issuer["depends_on"]
    assert provider_urn(issuer) == plan.one(K8S_PROVIDER, f"{CLUSTER}-k8s")["urn"]
    # The hub's Ingress names this issuer, and the hub's release waits for it and the controller.
    hub = release(plan, "jupyterhub")
    assert hub["inputs"]["values"]["ingress"]["annotations"] == {ISSUER_ANNOTATION: "letsencrypt-production"}
    assert hub["inputs"]["values"]["ingress"]["ingressClassName"] == "traefik"
    assert {issuer["urn"], release(plan, "traefik")["urn"], release(plan, "cert-manager")["urn"]} <= set(
        hub["depends_on"]
    )


def test_cluster_issuer_validates_against_the_charts_crd(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    schema = schema_of(cluster_issuer_crd(plan), "v1")
    issuer = plan.one(ISSUER, f"{CLUSTER}-letsencrypt-production")["inputs"]
    validate(issuer, schema)


@pytest.mark.parametrize(
    ("breaker", "words"),
    [
        pytest.param(lambda acme: acme.pop("server"), "'server' is a required property", id="no-server"),
        pytest.param(
            lambda acme: acme["solvers"][0]["http01"]["ingress"].update(ingressClassNam="traefik"),
            "Additional properties are not allowed",
            id="unknown-solver-field",
        ),
        pytest.param(
            lambda acme: acme.update(privateKeySecretRef="letsencrypt-production-account-key"),
            "is not of type 'object'",
            id="secret-ref-not-an-object",
        ),
    ],
)
def test_the_crd_check_fails_on_a_broken_issuer(
    bundled_plan: Callable[[str], Plan], breaker: Callable[[dict[str, Any]], Any], words: str
) -> None:
    plan = bundled_plan("buildspace")
    schema = schema_of(cluster_issuer_crd(plan), "v1")
    issuer = copy.deepcopy(plan.one(ISSUER, f"{CLUSTER}-letsencrypt-production")["inputs"])
    breaker(issuer["spec"]["acme"])
    with pytest.raises(jsonschema.ValidationError, match=re.escape(words)):
        validate(issuer, schema)


# -- 4. allow-lists through site references ------------------------------------------------------------


def _aws_only(platform: dict[str, Any]) -> None:
    ingress_spec(platform)["allowed_sources"] = ["site:aws-stockholm"]
    # A restricted ingress cannot pass ACME HTTP-01 (test below): no issuer, and a hub without TLS.
    _without_acme(platform)


def test_a_site_reference_becomes_that_sites_egress_addresses(plan_of: Callable[..., Plan]) -> None:
    plan = variant("aws-only", plan_of, _aws_only)
    aws = stack_platform()["sites"]["aws-stockholm"]
    assert aws["aws"]["nat"] == "per-az"  # one NAT gateway (one Elastic IP) per zone
    zones = aws["aws"]["availability_zones"]
    # The mocks give each NAT gateway's EIP a TEST-NET-3 address derived from its name (scripts/mocks.py).
    expected = sorted(f"{documentation_ip(f'aws-stockholm-nat-{zone}')}/32" for zone in zones)
    assert len(set(expected)) == 3
    assert expected == sorted(f"{address}/32" for address in plan.outputs["egress_addresses"]["aws-stockholm"])
    ranges = values(plan, "traefik")["service"]["spec"]["loadBalancerSourceRanges"]
    assert ranges == expected
    # Never the site's private network, nor any private range: traffic from AWS arrives from its NAT gateways.
    private = ipaddress.ip_network(aws["cidr"])
    rfc1918 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    for entry in ranges:
        network = ipaddress.ip_network(entry)
        assert network.prefixlen == 32
        assert not network.overlaps(private)
        assert not any(network.overlaps(block) for block in rfc1918)


def _without_acme(platform: dict[str, Any]) -> dict[str, Any]:
    """The platform with a plain-HTTP hub and no ACME issuer: what an allow-list without the internet allows."""
    ingress_spec(platform).pop("acme")
    platform["clusters"][CLUSTER]["addons"]["jupyterhub"]["tls"] = False
    # The central observability endpoints on this cluster are served over TLS only: not here.
    platform.pop("observability")
    return platform


def _spec_problems(platform: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_platform(platform, "x")
    return caught.value.problems


@pytest.mark.parametrize("entry", ["10.71.0.0/16", "10.71.8.0/24"])
def test_another_sites_private_range_is_a_spec_error(entry: str) -> None:
    platform = _without_acme(stack_platform())
    assert platform["sites"]["aws-stockholm"]["cidr"] == "10.71.0.0/16"
    ingress_spec(platform)["allowed_sources"] = ["198.51.100.0/24", entry]
    ((path, message),) = _spec_problems(platform)
    assert path == f"meridian:platform.clusters.{CLUSTER}.addons.ingress.allowed_sources[1]"
    assert "site:aws-stockholm" in message and "interconnect" in message
    # Naming the site instead, or declaring an interconnect between the two sites, is accepted.
    ingress_spec(platform)["allowed_sources"] = ["198.51.100.0/24", "site:aws-stockholm"]
    assert parse_platform(platform, "x")
    ingress_spec(platform)["allowed_sources"] = ["198.51.100.0/24", entry]
    platform["interconnects"] = {"geant": {"sites": ["ewc-bologna", "aws-stockholm"]}}
    assert parse_platform(platform, "x")


def test_an_unknown_site_reference_is_a_spec_error() -> None:
    platform = _without_acme(stack_platform())
    ingress_spec(platform)["allowed_sources"] = ["site:aws-paris"]
    ((path, message),) = _spec_problems(platform)
    assert path == f"meridian:platform.clusters.{CLUSTER}.addons.ingress.allowed_sources[0]"
    assert message == "unknown site 'aws-paris' (known: aws-stockholm, ewc-bologna)"


def test_http01_behind_a_restricted_allow_list_is_a_spec_error() -> None:
    # Let's Encrypt validates HTTP-01 from addresses it does not publish and that change
    # (letsencrypt.org/docs/faq, "What IP addresses does Let's Encrypt use to validate my web
    # server?"); cert-manager's self-check (pkg/issuer/acme/http/http.go testReachability) comes
    # from the cluster's egress. An allow-list without the internet never gets a certificate.
    platform = stack_platform()
    ingress_spec(platform)["allowed_sources"] = ["site:aws-stockholm"]
    assert ingress_spec(platform)["acme"] is not None
    ((path, message),) = _spec_problems(platform)
    assert path == f"meridian:platform.clusters.{CLUSTER}.addons.ingress.acme"
    assert "HTTP-01" in message and "0.0.0.0/0" in message


# -- 5. the staging switch -----------------------------------------------------------------------------


def _staging(platform: dict[str, Any]) -> None:
    ingress_spec(platform)["acme"]["environment"] = "staging"


def test_staging_issuer_and_the_hub_names_it(plan_of: Callable[..., Plan]) -> None:
    plan = variant("staging", plan_of, _staging)
    (issuer,) = plan.by_type(ISSUER)
    assert issuer["name"] == f"{CLUSTER}-letsencrypt-staging"
    assert issuer["inputs"]["metadata"]["name"] == "letsencrypt-staging"
    acme = issuer["inputs"]["spec"]["acme"]
    assert acme["server"] == LE_STAGING
    # Staging and production are separate ACME services with separate accounts: not the production key.
    assert acme["privateKeySecretRef"] == {"name": "letsencrypt-staging-account-key"}
    hub_ingress = values(plan, "jupyterhub")["ingress"]
    assert hub_ingress["annotations"][ISSUER_ANNOTATION] == issuer["inputs"]["metadata"]["name"]
    assert issuer["urn"] in release(plan, "jupyterhub")["depends_on"]


# -- 6. clusters that publish nothing ------------------------------------------------------------------


def _hub_clusters(stack: str) -> set[str]:
    """Clusters of a stack file with an enabled hub (read from the file, not the program)."""
    clusters = stack_platform(stack).get("clusters") or {}
    found = set()
    for name, cluster in clusters.items():
        hub = (cluster.get("addons") or {}).get("jupyterhub")
        if hub is not None and hub.get("enabled", True):
            found.add(name)
    return found


def test_clusters_without_a_hub_publish_nothing(bundled_plan: Callable[[str], Plan]) -> None:
    # destine-extremes: only postproc has a hub; its other clusters publish nothing. extremes-bologna
    # builds the capi cluster extremes-kajaani, so it gets cert-manager (Cluster API's webhooks), alone.
    plan = bundled_plan("destine-extremes")
    assert _hub_clusters("destine-extremes") == {"postproc"}
    assert [r["name"] for r in plan.by_type(INGRESS)] == ["extremes-bologna-ingress", "postproc-ingress"]
    assert [r["name"] for r in plan.by_type(ISSUER)] == ["postproc-letsencrypt-production"]
    published = {
        r["name"] for r in plan.by_type(RELEASE) if r["inputs"]["chart"] in ("traefik", "cert-manager", "jupyterhub")
    }
    assert published == {
        "postproc-traefik",
        "postproc-cert-manager",
        "postproc-jupyterhub",
        "extremes-bologna-cert-manager",
    }
    namespaces = [
        r["name"] for r in plan.by_type(NAMESPACE) if r["inputs"]["metadata"]["name"] in ("traefik", "cert-manager")
    ]
    assert sorted(namespaces) == ["extremes-bologna-cert-manager", "postproc-cert-manager", "postproc-traefik"]
    # Nothing of Traefik's on the management cluster: no load balancer, no floating IP.
    bologna = plan.within(plan.one(INGRESS, "extremes-bologna-ingress")["urn"])
    assert sorted(r["type"] for r in bologna.resources) == [
        "kubernetes:core/v1:Namespace",
        "kubernetes:helm.sh/v3:Release",
    ]


@pytest.mark.parametrize("stack", BUNDLED)
def test_ingress_goes_exactly_where_a_hub_is_published(bundled_plan: Callable[[str], Plan], stack: str) -> None:
    plan = bundled_plan(stack)
    expected = _hub_clusters(stack)
    raw = stack_platform(stack)
    # Management clusters of capi clusters get the add-on for cert-manager alone.
    managing = {c["management_cluster"] for c in raw["clusters"].values() if c.get("backend") == "capi"}
    assert {r["name"].removesuffix("-ingress") for r in plan.by_type(INGRESS)} == expected | managing
    for chart, where in (("traefik", expected), ("cert-manager", expected | managing)):
        found = {r["name"].removesuffix(f"-{chart}") for r in plan.by_type(RELEASE) if r["inputs"]["chart"] == chart}
        assert found == where, chart


def test_bundled_stacks_include_a_hub_and_a_cluster_without() -> None:
    assert "processing" in _hub_clusters("buildspace")
    assert "city-services" not in _hub_clusters("buildspace")
    # Every project has a hub whose profiles fit its pools: MIG slices (eo4eu core, destine-extremes
    # postproc), time-sliced shares (buildspace, meditwin), whole GPUs (eo4eu burst, climres), on
    # each backend.
    assert _hub_clusters("eo4eu") == {"core", "burst"}
    assert _hub_clusters("destine-extremes") == {"postproc"}
    assert _hub_clusters("climres") == {"indicators"}
    assert _hub_clusters("meditwin") == {"twin"}


def _no_hub(platform: dict[str, Any]) -> None:
    del platform["clusters"][CLUSTER]["addons"]["jupyterhub"]
    # Nor the central observability endpoints, which the ingress would publish too.
    del platform["observability"]


def test_without_the_hub_the_ingress_section_installs_nothing(plan_of: Callable[..., Plan]) -> None:
    # The ingress section (allow-list, ACME account) stays in the spec; nothing is published, so
    # nothing is installed.
    plan = variant("no-hub", plan_of, _no_hub)
    assert plan.by_type(INGRESS) == [] and plan.by_type(ISSUER) == []
    assert {r["inputs"]["chart"] for r in plan.by_type(RELEASE)}.isdisjoint({"traefik", "cert-manager"})
    assert CLUSTER in {r["name"] for r in plan.by_type(CLUSTER_TYPE)}  # the cluster itself stays
    assert not [r for r in plan.by_type(RELEASE) if r["name"] == f"{CLUSTER}-jupyterhub"]


def test_helpers_parse_quantities() -> None:
    assert memory_bytes("128Mi") == 128 * 2**20 and memory_bytes("1Gi") == 2**30
    assert cpu_millis("100m") == 100 and cpu_millis("1") == 1000
    with pytest.raises(AssertionError):
        assert_sized({"requests": {"cpu": "10m", "memory": "512Mi"}, "limits": {"memory": "256Mi"}}, "x")
    with pytest.raises(KeyError):
        assert_sized({"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "1"}}, "x")


def test_the_load_balancer_gets_a_floating_ip_meridian_owns(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    fip = plan.one("openstack:networking/floatingIp:FloatingIp", f"{CLUSTER}-ingress")
    site = stack_platform()["sites"]["ewc-bologna"]
    # From the site's external network, through the site's provider, tagged like its other resources.
    assert fip["inputs"]["pool"] == site["openstack"]["external_network"] == "external"
    assert fip["provider"].split("::")[-2] == "ewc-bologna-provider"
    assert f"cluster={CLUSTER}" in fip["inputs"]["tags"] and "managed-by=meridian" in fip["inputs"]["tags"]
    service = values(plan, "traefik")["service"]
    # cloud-provider-openstack attaches an existing floating IP named in spec.loadBalancerIP and,
    # with keep-floatingip, leaves it when the Service is deleted (OCCM load balancer docs).
    assert ipaddress.ip_address(service["spec"]["loadBalancerIP"])
    assert fip["urn"] in plan.one(RELEASE, f"{CLUSTER}-traefik")["depends_on"]
    # Idle connections (a notebook's websocket, a long upload's answer) live an hour as on
    # Meridian's own load balancers; OCCM's default would be Octavia's 50 s (annotations read by
    # cloud-provider-openstack v1.35.0 pkg/openstack/loadbalancer.go).
    assert service["annotations"] == {
        "loadbalancer.openstack.org/keep-floatingip": "true",
        "loadbalancer.openstack.org/timeout-client-data": "3600000",
        "loadbalancer.openstack.org/timeout-member-data": "3600000",
    }


def test_traefik_replicas_spread_over_nodes(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    spread = values(plan, "traefik")["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["maxSkew"], c["whenUnsatisfiable"]) for c in spread] == [
        ("kubernetes.io/hostname", 1, "ScheduleAnyway")
    ]
    # The selector must match the pods the chart renders, or the constraint counts nothing.
    (deployment,) = objects_of(rendered(plan, "traefik"), "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = spread[0]["labelSelector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"] == spread
    assert deployment["spec"]["replicas"] == 2


def test_the_ingress_component_names_its_class_and_issuer(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("buildspace")
    component = plan.one("meridian:addons:Ingress", f"{CLUSTER}-ingress")
    assert plan.component_outputs[component["urn"]] == {"ingress_class": "traefik", "issuer": "letsencrypt-production"}


def test_ipv6_sources_do_not_reach_an_ipv4_load_balancer(plan_of: Callable[..., Plan]) -> None:
    # Octavia refuses allowed_cidrs of another IP version than the VIP's (listener.py
    # _validate_cidr_compatible_with_vip), and cloud-provider-openstack passes
    # loadBalancerSourceRanges on as allowed_cidrs: an IPv6 entry would fail the load balancer.
    platform = stack_platform()
    ingress_spec(platform)["allowed_sources"] = ["0.0.0.0/0", "2001:db8::/32"]
    plan = plan_of(platform)
    assert values(plan, "traefik")["service"]["spec"]["loadBalancerSourceRanges"] == ["0.0.0.0/0"]


# -- eks: a Network Load Balancer on Elastic IPs Meridian owns ---------------------------------------------


def mocked(plan: Plan, resource: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ID and outputs the offline engine's mocks gave `resource` (through its provider's inputs)."""
    from pulumi.runtime import MockResourceArgs

    from scripts.mocks import MeridianMocks

    mocks = MeridianMocks()
    for found in plan.resources:
        if found["type"].startswith("pulumi:providers:"):
            mocks.providers[found["urn"]] = found["inputs"]
    args = MockResourceArgs(
        resource["type"], resource["name"], dict(resource["inputs"]), resource["provider"], None, True
    )
    resource_id, state = mocks.new_resource(args)
    assert resource_id
    return resource_id, state


def test_the_nlb_gets_an_elastic_ip_per_zone_meridian_owns(bundled_plan: Callable[[str], Plan]) -> None:
    """cloud-provider-aws (pkg/providers/v1/aws.go): `aws-load-balancer-type: nlb`, the subnets and the
    EIP allocations as comma-separated lists, one allocation per subnet ("Must have same number of EIP
    AllocationIDs and SubnetIDs")."""
    plan = bundled_plan("eo4eu")
    zones = stack_platform("eo4eu")["sites"]["aws-frankfurt"]["aws"]["availability_zones"]
    component = plan.one(INGRESS, "burst-ingress")
    site_provider = plan.one("pulumi:providers:aws", "aws-frankfurt-provider")["urn"]
    eips = [plan.one("aws:ec2/eip:Eip", f"burst-ingress-{zone}") for zone in zones]
    for zone, eip in zip(zones, eips, strict=True):
        assert eip["inputs"]["domain"] == "vpc"
        assert eip["inputs"]["tags"]["Name"] == f"eo4eu-aws-frankfurt-burst-ingress-{zone}"
        assert eip["inputs"]["tags"]["cluster"] == "burst"
        assert eip["parent"] == component["urn"]
        assert provider_urn(eip) == site_provider
    subnets = [plan.one("aws:ec2/subnet:Subnet", f"aws-frankfurt-public-{zone}") for zone in zones]
    service = values(plan, "traefik", "burst")["service"]
    assert service == {
        "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["0.0.0.0/0"]},
        "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
            "service.beta.kubernetes.io/aws-load-balancer-subnets": ",".join(mocked(plan, s)[0] for s in subnets),
            "service.beta.kubernetes.io/aws-load-balancer-eip-allocations": ",".join(
                mocked(plan, e)[1]["allocationId"] for e in eips
            ),
            # cloud-provider-aws turns cross-zone off unless told (aws_loadbalancer.go
            # reconcileLBAttributes): every listed address must reach a node, whatever its zone.
            "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
        },
    }
    # The public subnets are the ones its subnet discovery would pick too (role tag, one per zone).
    assert all(s["inputs"]["tags"]["kubernetes.io/role/elb"] == "1" for s in subnets)


def test_unequal_eips_and_subnets_are_a_program_error() -> None:
    from components.addons.ingress import aws_load_balancer

    with pytest.raises(ValueError, match="2 Elastic IPs for 3 public subnets"):
        aws_load_balancer(["eipalloc-1", "eipalloc-2"], ["subnet-1", "subnet-2", "subnet-3"])


def test_the_nlb_settings_render_into_the_controller_service(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("eo4eu")
    rendered = render_of(plan, "burst", "traefik")
    [service] = [o for o in rendered.objects if o["kind"] == "Service" and o["spec"].get("type") == "LoadBalancer"]
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-eip-allocations"].count("eipalloc-") == 3
    assert service["spec"]["loadBalancerSourceRanges"] == ["0.0.0.0/0"]
    assert "loadBalancerIP" not in service["spec"]


# -- DNS-01 on Route53 (AWS sites) ----------------------------------------------------------------------


def render_of(plan: Plan, cluster: str, chart: str) -> Rendered:
    """`helm template` of the release of `chart` on `cluster` in `plan` (cached by the renderer)."""
    [item] = [r for r in releases(plan) if r.cluster == cluster and r.name == chart]
    apis = chart_api_versions(item.chart) | builtin_api_versions(item.kube_version)
    return render_release(item, apis, plan.stack)


def cluster_issuer_crd_of(plan: Plan, cluster: str) -> dict[str, Any]:
    [crd] = [
        o
        for o in objects_of(render_of(plan, cluster, "cert-manager"), "CustomResourceDefinition")
        if o["spec"]["names"]["kind"] == "ClusterIssuer"
    ]
    return crd


def test_dns01_issuer_writes_txt_records_in_the_sites_route53_zone(bundled_plan: Callable[[str], Plan]) -> None:
    """cert-manager docs, configuration/acme/dns01/route53: the solver's `route53.region` and optional
    `hostedZoneID`, a `selector.dnsZones`; ClusterIssuers use ambient credentials by default."""
    from scripts.mock_outputs.dns import route53_zone_id

    plan = bundled_plan("destine-extremes")
    issuer = plan.one(ISSUER, "postproc-letsencrypt-production")["inputs"]
    assert issuer["spec"]["acme"]["solvers"] == [
        {
            "selector": {"dnsZones": ["frankfurt.destine-x.eu"]},
            "dns01": {"route53": {"region": "eu-central-1", "hostedZoneID": route53_zone_id("frankfurt.destine-x.eu")}},
        }
    ]
    # Behind an allow-list without 0.0.0.0/0 (the spec allows it with dns-01): the sites' egress and two networks.
    ranges = values(plan, "traefik", "postproc")["service"]["spec"]["loadBalancerSourceRanges"]
    assert "0.0.0.0/0" not in ranges and {"192.0.2.0/24", "198.51.100.0/24"} <= set(ranges)
    schema = schema_of(cluster_issuer_crd_of(plan, "postproc"), "v1")
    validate(issuer, schema)
    broken = copy.deepcopy(issuer)
    broken["spec"]["acme"]["solvers"][0]["dns01"]["route53"]["hostedZoneId"] = "Z1"  # misspelt: refused
    with pytest.raises(jsonschema.ValidationError, match="Additional properties are not allowed"):
        validate(broken, schema)


def test_cert_manager_assumes_a_role_limited_to_txt_records_of_the_zone(bundled_plan: Callable[[str], Plan]) -> None:
    """cert-manager Route53 docs: IRSA trust on its service account, `serviceAccount.annotations`
    eks.amazonaws.com/role-arn and `securityContext.fsGroup: 1001`; the permissions GetChange on
    change/*, Change/ListResourceRecordSets on the zone, TXT only."""
    from scripts.mock_outputs.dns import route53_zone_id

    plan = bundled_plan("destine-extremes")
    role = plan.one("aws:iam/role:Role", "postproc-cert-manager-role")
    trust = yaml.safe_load(role["inputs"]["assumeRolePolicy"])
    [statement] = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].startswith("arn:aws:iam::662607015034:oidc-provider/oidc.eks.")
    conditions = statement["Condition"]["StringEquals"]
    assert sorted(conditions.values()) == ["sts.amazonaws.com", "system:serviceaccount:cert-manager:cert-manager"]
    zone = route53_zone_id("frankfurt.destine-x.eu")
    policy = plan.one("aws:iam/rolePolicy:RolePolicy", "postproc-cert-manager-dns01")
    assert yaml.safe_load(policy["inputs"]["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "route53:GetChange", "Resource": "arn:aws:route53:::change/*"},
            {
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                "Resource": f"arn:aws:route53:::hostedzone/{zone}",
                "Condition": {"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}},
            },
        ],
    }
    role_arn = mocked(plan, role)[1]["arn"]
    assert policy["inputs"]["role"] == mocked(plan, role)[0]
    cert_manager = release(plan, "cert-manager", "postproc")
    assert cert_manager["inputs"]["values"]["serviceAccount"] == {
        "annotations": {"eks.amazonaws.com/role-arn": role_arn}
    }
    assert cert_manager["inputs"]["values"]["securityContext"] == {"fsGroup": 1001}
    assert policy["urn"] in cert_manager["depends_on"]  # its permissions exist before its first order
    # HTTP-01 clusters get neither.
    http01 = release(bundled_plan("buildspace"), "cert-manager")["inputs"]["values"]
    assert "serviceAccount" not in http01 and "securityContext" not in http01


def test_the_role_reaches_the_rendered_controller(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("destine-extremes")
    rendered = render_of(plan, "postproc", "cert-manager")
    [account] = [
        o for o in rendered.objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "cert-manager"
    ]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::662607015034:role/"
    )
    [controller] = [
        o for o in rendered.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "cert-manager"
    ]
    pod = controller["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "cert-manager"
    # fsGroup merged into the chart's own pod security context, which stays restricted.
    assert pod["securityContext"] == {
        "fsGroup": 1001,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# -- rke2: Meridian's Octavia load balancer in front of Traefik's node ports -------------------------------

LB = "openstack:loadbalancer/loadBalancer:LoadBalancer"
LISTENER = "openstack:loadbalancer/listener:Listener"
LB_POOL = "openstack:loadbalancer/pool:Pool"
MONITOR = "openstack:loadbalancer/monitor:Monitor"
MEMBER = "openstack:loadbalancer/member:Member"
SG_RULE = "openstack:networking/secGroupRule:SecGroupRule"
INSTANCE = "openstack:compute/instance:Instance"


def test_rke2_ingress_is_an_octavia_load_balancer_in_front_of_the_node_ports(
    bundled_plan: Callable[[str], Plan],
) -> None:
    """Octavia (amphora): TCP listeners with allowed_cidrs and data timeouts, pools, TCP monitors, a member
    per agent at Traefik's node port; the nodes admit the amphorae (site subnet) on those two ports."""
    plan = bundled_plan("climres")
    site = stack_platform("climres")["sites"]["ewc-reading"]
    site_provider = plan.one("pulumi:providers:openstack", "ewc-reading-provider")["urn"]
    balancer = plan.one(LB, "indicators-ingress")
    assert balancer["inputs"]["loadbalancerProvider"] == "amphora"
    assert (
        balancer["inputs"]["vipSubnetId"]
        == mocked(plan, plan.one("openstack:networking/subnet:Subnet", "ewc-reading-subnet"))[0]
    )
    assert provider_urn(balancer) == site_provider
    association = plan.one("openstack:networking/floatingIpAssociate:FloatingIpAssociate", "indicators-ingress")
    fip = plan.one("openstack:networking/floatingIp:FloatingIp", "indicators-ingress")
    assert association["inputs"]["portId"] == mocked(plan, balancer)[1]["vipPortId"]
    assert association["inputs"]["floatingIp"] == mocked(plan, fip)[1]["address"]
    agents = {
        r["name"].removeprefix("indicators-"): mocked(plan, r)[1]["accessIpV4"]
        for r in plan.by_type(INSTANCE)
        if r["name"].startswith(("indicators-general-", "indicators-a100-"))
    }
    assert sorted(agents) == ["a100-0", "general-0", "general-1", "general-2"]
    nodes_group = mocked(plan, plan.one("openstack:networking/secGroup:SecGroup", "indicators-nodes"))[0]
    for port, node_port in ((80, 30080), (443, 30443)):
        listener = plan.one(LISTENER, f"indicators-ingress-{port}")["inputs"]
        assert (listener["protocol"], listener["protocolPort"], listener["allowedCidrs"]) == (
            "TCP",
            port,
            ["0.0.0.0/0"],
        )
        assert listener["timeoutClientData"] == listener["timeoutMemberData"] == 3_600_000
        pool = plan.one(LB_POOL, f"indicators-ingress-{port}")["inputs"]
        assert (pool["protocol"], pool["lbMethod"]) == ("TCP", "LEAST_CONNECTIONS")
        assert plan.one(MONITOR, f"indicators-ingress-{port}")["inputs"]["type"] == "TCP"
        members = {
            r["name"]: r["inputs"] for r in plan.by_type(MEMBER) if r["name"].startswith(f"indicators-ingress-{port}-")
        }
        assert {name.removeprefix(f"indicators-ingress-{port}-"): m["address"] for name, m in members.items()} == agents
        assert {m["protocolPort"] for m in members.values()} == {node_port}
        rule = plan.one(SG_RULE, f"indicators-nodes-tcp-{node_port}")["inputs"]
        assert rule == {
            "securityGroupId": nodes_group,
            "description": rule["description"],
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": "tcp",
            "portRangeMin": node_port,
            "portRangeMax": node_port,
            "remoteIpPrefix": site["cidr"],
        }
    # Traefik listens on those node ports; the Service is no LoadBalancer (nothing would serve it).
    # (indicators is climres's central observability cluster: its push Service is one more NodePort.)
    service = values(plan, "traefik", "indicators")["service"]
    assert service == {"spec": {"type": "NodePort"}, "additionalServices": {"push": {"spec": {"type": "NodePort"}}}}
    ports = values(plan, "traefik", "indicators")["ports"]
    assert ports["web"]["nodePort"] == 30080 and ports["websecure"]["nodePort"] == 30443
    assert ports["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    # A NodePort Service has no load-balancer status to copy: Traefik publishes the floating IP itself.
    assert values(plan, "traefik", "indicators")["providers"]["kubernetesIngress"] == {
        "enabled": True,
        "publishedService": {"enabled": False},
        "ingressEndpoint": {"ip": mocked(plan, fip)[1]["address"]},
    }
    # The hostname's record points at the floating IP.
    record = plan.one("openstack:dns/recordSet:RecordSet", "indicators-jupyterhub-dns")
    assert record["inputs"]["records"] == [mocked(plan, fip)[1]["address"]]


def test_the_node_ports_render_into_the_controller_service(bundled_plan: Callable[[str], Plan]) -> None:
    rendered = render_of(bundled_plan("climres"), "indicators", "traefik")
    [service] = [o for o in rendered.objects if o["kind"] == "Service" and o["metadata"]["name"] == "traefik"]
    assert service["spec"]["type"] == "NodePort"
    assert {p["port"]: p["nodePort"] for p in service["spec"]["ports"]} == {80: 30080, 443: 30443}
    assert "loadBalancerSourceRanges" not in service["spec"]


def test_a_dns01_issuer_without_the_zone_is_a_program_error() -> None:
    """PlatformSpec allows dns-01 only where the site has a Route53 zone; the issuer refuses to guess one."""
    from components.addons.ingress import cluster_issuer_spec
    from components.spec.addons import AcmeSpec

    acme = AcmeSpec.model_validate({"email": "ops@example.org", "challenge": "dns-01"})
    with pytest.raises(ValueError, match=r"^a dns-01 issuer needs the site's Route53 zone$"):
        cluster_issuer_spec(acme, None)
