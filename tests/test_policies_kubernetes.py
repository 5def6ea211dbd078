"""Kubernetes and Helm policies, run by the real pack process over the Analyzer protocol.

Each policy gets a violating and a compliant synthetic plan; the violation must name the
policy and the offending resource's URN at the policy's enforcement level. Every other
policy of the pack is disabled in these runs (config `all: disabled`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from policy_support import PolicyModule, plan_of_resources, provider_resource, resource, violations
from pulumi.runtime.proto import analyzer_pb2

from components.charts import chart_lock
from scripts.gate import Analyzer
from scripts.harness import UNKNOWN, Plan, bundled_stacks

BUNDLED = bundled_stacks()

#: Every policy of policies/meridian_policies/kubernetes.py and its default enforcement level.
LEVELS = {
    "no-privileged-containers": "mandatory",
    "no-host-path-volumes": "mandatory",
    "no-host-namespaces": "mandatory",
    "ingress-requires-tls": "mandatory",
    "helm-release-pinned": "mandatory",
    "helm-release-allowed-repository": "mandatory",
    "no-latest-images": "mandatory",
    "container-resources": "advisory",
    "namespaces-labelled": "mandatory",
    "helm-release-atomic": "advisory",
    "run-as-non-root": "advisory",
}
NAMESPACED = ("no-privileged-containers", "no-host-path-volumes", "no-host-namespaces", "run-as-non-root")

POD = "kubernetes:core/v1:Pod"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NAMESPACE = "kubernetes:core/v1:Namespace"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART_V4 = "kubernetes:helm.sh/v4:Chart"
WORKLOADS = (POD, DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET, JOB, CRON_JOB)


_MODULE = PolicyModule(LEVELS)
only_these = _MODULE.only_these
hits = _MODULE.hits
assert_violation = _MODULE.assert_violation
assert_clean = _MODULE.assert_clean


def said(found: list[Any]) -> list[str]:
    """What each violation reported (the message after the policy's description)."""
    return [v.message.rsplit("\n", 1)[-1] for v in found]


# -- workloads -----------------------------------------------------------------------------------

GOOD_CONTAINER: dict[str, Any] = {
    "name": "app",
    "image": "ghcr.io/ecmwf/eo-processor:2.3.1",
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
    "securityContext": {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": 1000,
    },
}


def pod_spec(*, container: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    """A pod spec that passes every policy, with `container`'s keys merged into its one container."""
    return {"containers": [{**GOOD_CONTAINER, **(container or {})}], **spec}


def workload(
    type_: str, spec: dict[str, Any], *, namespace: str | None = "research", name: str = "app", **options: Any
) -> dict[str, Any]:
    """A workload of `type_` whose pod spec is `spec`, at the place the kind keeps it."""
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    body: dict[str, Any]
    if type_ == POD:
        body = spec
    elif type_ == CRON_JOB:
        body = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif type_ == JOB:
        body = {"template": template}
    else:
        body = {"selector": {"matchLabels": {"app": name}}, "template": template}
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    api, _, kind = type_.removeprefix("kubernetes:").rpartition(":")
    return resource(
        type_,
        name,
        {"apiVersion": api.removeprefix("core/"), "kind": kind, "metadata": metadata, "spec": body},
        **options,
    )


def test_kubernetes_policies_are_declared_with_levels_and_config(analyzer: Analyzer) -> None:
    declared = analyzer.policies()
    for name, level in LEVELS.items():
        assert declared[name]["level"] == level, name
        assert declared[name]["severity"] and declared[name]["remediation"] and declared[name]["description"]
    # Repositories are read from the chart lock, the one place repositories and versions live.
    repositories = sorted({chart.repository for chart in chart_lock().charts.values()})
    assert "https://helm.ngc.nvidia.com/nvidia" in repositories
    namespaces = {
        "allowed_namespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["gpu-operator", "kube-system", "node-agents"],
            "description": "Namespaces exempted (system workloads that need host access).",
        }
    }
    assert {name: declared[name]["schema"] for name in LEVELS if declared[name]["schema"]} == {
        **dict.fromkeys(NAMESPACED, namespaces),
        "helm-release-allowed-repository": {
            "allowed_repositories": {
                "type": "array",
                "items": {"type": "string"},
                "default": repositories,
                "description": "Chart repositories (and oci:// registry paths) charts may come from.",
            }
        },
        "container-resources": {
            "unsized_workloads": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": [
                    "gpu-operator/Job/gpu-operator-upgrade-crd",
                    "gpu-operator/Job/gpu-operator-cleanup-gpucluster",
                    "cattle-fleet-system/Job/fleet-cleanup-clusterregistrations",
                    "cattle-fleet-system/CronJob/fleet-cleanup-gitrepo-jobs",
                    "cattle-fleet-system/Job/fleet-migrate-gitrepo-helm-url-regex",
                ],
                "description": "Chart workloads that cannot be sized through values, as <namespace>/<kind>/<name>.",
            }
        },
    }


def test_a_pack_the_engine_did_not_configure_uses_the_schema_defaults(analyzer: Analyzer) -> None:
    """Without Configure every policy reads no config: the code's fallbacks are the schema's defaults."""
    privileged = pod_spec(container={"securityContext": {"privileged": True}}, securityContext={"runAsNonRoot": True})
    driver = workload(DAEMON_SET, privileged, namespace="gpu-operator", name="driver")
    tool = workload(DAEMON_SET, privileged, namespace="research", name="tool")
    unsized = pod_spec(container={"resources": None})
    hook = workload(JOB, unsized, namespace="gpu-operator", name="gpu-operator-upgrade-crd")
    nvidia = release()
    analyzer.stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest())
    report = analyzer.analyze(plan_of_resources(driver, tool, hook, nvidia))
    assert sorted((v.policy, v.urn, v.level) for v in report.violations if v.policy in LEVELS) == [
        ("no-privileged-containers", tool["urn"], "mandatory")
    ]


@pytest.mark.parametrize("type_", WORKLOADS)
def test_compliant_workloads_pass(analyzer: Analyzer, type_: str) -> None:
    good = workload(type_, pod_spec(securityContext={"runAsNonRoot": True}))
    for policy in (
        "no-privileged-containers",
        "no-host-path-volumes",
        "no-host-namespaces",
        "no-latest-images",
        "container-resources",
        "run-as-non-root",
    ):
        assert_clean(analyzer, policy, good)


@pytest.mark.parametrize("type_", WORKLOADS)
@pytest.mark.parametrize(
    ("context", "words"),
    [
        ({"privileged": True}, ["container app is privileged in namespace research"]),
        (
            {"allowPrivilegeEscalation": True},
            ["container app sets allowPrivilegeEscalation: true in namespace research"],
        ),
        (
            {"privileged": True, "allowPrivilegeEscalation": True},
            [
                "container app is privileged in namespace research",
                "container app sets allowPrivilegeEscalation: true in namespace research",
            ],
        ),
    ],
)
def test_privileged_containers_are_reported(
    analyzer: Analyzer, type_: str, context: dict[str, Any], words: list[str]
) -> None:
    bad = workload(type_, pod_spec(container={"securityContext": context}))
    found = assert_violation(analyzer, "no-privileged-containers", bad)
    assert said(found) == words


def test_a_pod_spec_that_is_no_object_is_no_workload(analyzer: Analyzer) -> None:
    for spec in ([pod_spec(hostNetwork=True)], "hostNetwork: true"):
        assert_clean(analyzer, "no-host-namespaces", workload(DEPLOYMENT, spec))  # type: ignore[arg-type]


def test_privileged_init_container_is_reported(analyzer: Analyzer) -> None:
    spec = pod_spec(initContainers=[{**GOOD_CONTAINER, "name": "setup", "securityContext": {"privileged": True}}])
    found = assert_violation(analyzer, "no-privileged-containers", workload(DAEMON_SET, spec))
    assert said(found) == ["container setup is privileged in namespace research"]


def test_ephemeral_containers_are_checked_but_need_no_resources(analyzer: Analyzer) -> None:
    # Ephemeral (debug) containers take no resources (core/v1 EphemeralContainerCommon), but run in the pod.
    debug = {"name": "debug", "image": "busybox:1.36", "securityContext": {"privileged": True}}
    pod = workload(POD, pod_spec(ephemeralContainers=[debug], securityContext={"runAsNonRoot": True}))
    found = assert_violation(analyzer, "no-privileged-containers", pod)
    assert said(found) == ["container debug is privileged in namespace research"]
    assert_clean(analyzer, "container-resources", pod)


def test_a_container_without_a_name_is_named_by_a_question_mark(analyzer: Analyzer) -> None:
    nameless = {key: value for key, value in GOOD_CONTAINER.items() if key != "name"}
    context = {"privileged": True, "runAsNonRoot": True}
    # No name, or an explicit null (a null input reads as an absent one).
    spec = {
        "containers": [{**nameless, "securityContext": context}, {**nameless, "name": None, "securityContext": context}]
    }
    found = assert_violation(analyzer, "no-privileged-containers", workload(POD, spec))
    assert said(found) == ["container ? is privileged in namespace research"] * 2


def test_allowed_namespaces_exempt_system_workloads_and_are_configurable(analyzer: Analyzer) -> None:
    policy = "no-privileged-containers"
    privileged = pod_spec(container={"securityContext": {"privileged": True}})
    driver = workload(DAEMON_SET, privileged, namespace="gpu-operator", name="driver")
    research = workload(DAEMON_SET, privileged, namespace="research", name="tool")
    assert_clean(analyzer, policy, driver)
    assert_violation(analyzer, policy, research)
    assert_clean(analyzer, policy, research, config={policy: {"allowed_namespaces": ["research"]}})
    assert_violation(analyzer, policy, driver, config={policy: {"allowed_namespaces": []}})
    # node-agents holds node-exporter (host network and PID, /proc, /sys): exempt from the host rules too,
    # while the collector's other pods in `monitoring` are not.
    exporter = workload(DAEMON_SET, pod_spec(hostNetwork=True, hostPID=True), namespace="node-agents", name="ne")
    assert_clean(analyzer, "no-host-namespaces", exporter)
    agent = workload(DAEMON_SET, pod_spec(hostNetwork=True), namespace="monitoring", name="agent")
    assert_violation(analyzer, "no-host-namespaces", agent)


def test_namespace_comes_from_the_kubernetes_provider_when_unset(analyzer: Analyzer) -> None:
    policy = "no-host-namespaces"
    system = provider_resource("pulumi:providers:kubernetes", "system-k8s", namespace="kube-system")
    unset = workload(POD, pod_spec(hostNetwork=True), namespace=None, name="cni", provider=system["urn"])
    assert_clean(analyzer, policy, system, unset)
    # The object's own namespace wins over the provider's.
    own = workload(POD, pod_spec(hostNetwork=True), namespace="research", name="cni", provider=system["urn"])
    assert said(assert_violation(analyzer, policy, own, system)) == ["hostNetwork is true in namespace research"]
    # No namespace anywhere: Kubernetes's "default" (a non-Kubernetes provider has no say).
    default = workload(POD, pod_spec(hostNetwork=True), namespace=None, name="cni")
    assert said(assert_violation(analyzer, policy, default)) == ["hostNetwork is true in namespace default"]
    cluster = provider_resource("pulumi:providers:kubernetes", "cluster-k8s", kubeconfig="{}")
    bare = workload(POD, pod_spec(hostNetwork=True), namespace=None, name="cni", provider=cluster["urn"])
    assert said(assert_violation(analyzer, policy, bare, cluster)) == ["hostNetwork is true in namespace default"]
    assert_clean(analyzer, policy, bare, cluster, config={policy: {"allowed_namespaces": ["default"]}})


@pytest.mark.parametrize("type_", [POD, DAEMON_SET, JOB])
def test_host_path_volumes_are_reported(analyzer: Analyzer, type_: str) -> None:
    policy = "no-host-path-volumes"
    host = pod_spec(volumes=[{"name": "scratch", "emptyDir": {}}, {"name": "root", "hostPath": {"path": "/"}}])
    found = assert_violation(analyzer, policy, workload(type_, host))
    assert said(found) == ["volume root mounts host path /"]
    # hostPath.path and the volume name are required by the API; the message copes without them.
    bare = pod_spec(volumes=[{"hostPath": {}}])
    assert said(assert_violation(analyzer, policy, workload(type_, bare))) == ["volume ? mounts host path ?"]
    assert_clean(analyzer, policy, workload(type_, host, namespace="kube-system"))
    assert_clean(analyzer, policy, workload(type_, pod_spec(volumes=[{"name": "scratch", "emptyDir": {}}])))
    assert_clean(analyzer, policy, workload(type_, host), config={policy: {"allowed_namespaces": ["research"]}})


@pytest.mark.parametrize(("type_", "flag"), [(POD, "hostNetwork"), (STATEFUL_SET, "hostPID"), (CRON_JOB, "hostIPC")])
def test_host_namespaces_are_reported(analyzer: Analyzer, type_: str, flag: str) -> None:
    policy = "no-host-namespaces"
    shared, separate = {**pod_spec(), flag: True}, {**pod_spec(), flag: False}
    found = assert_violation(analyzer, policy, workload(type_, shared))
    assert said(found) == [f"{flag} is true in namespace research"]
    assert_clean(analyzer, policy, workload(type_, separate))
    assert_clean(analyzer, policy, workload(type_, shared, namespace="gpu-operator"))
    assert_clean(analyzer, policy, workload(type_, shared), config={policy: {"allowed_namespaces": ["research"]}})


def test_a_container_without_an_image_is_reported(analyzer: Analyzer) -> None:
    imageless = {key: value for key, value in GOOD_CONTAINER.items() if key != "image"}
    found = assert_violation(analyzer, "no-latest-images", workload(POD, {"containers": [imageless]}))
    assert said(found) == ["container app: container app has no image"]


NO_TAG, LATEST = "has no tag (Kubernetes pulls :latest)", "uses the :latest tag"


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("ghcr.io/ecmwf/eo-processor:2.3.1", None),
        ("busybox:1.36", None),
        ("registry.example.org:5000/tools/kubectl:v1.34.7", None),
        ("busybox@sha256:" + "a" * 64, None),
        ("busybox:latest@sha256:" + "a" * 64, None),
        ("registry.example.org:5000/busybox@sha256:" + "a" * 64, None),
        ("busybox", NO_TAG),
        ("busybox:", NO_TAG),
        ("busybox:latest", LATEST),
        ("registry.example.org:5000/tools/kubectl", NO_TAG),
        ("quay.io/jupyter/scipy-notebook:LATEST", LATEST),
    ],
)
def test_images_are_pinned(analyzer: Analyzer, image: str, problem: str | None) -> None:
    policy = "no-latest-images"
    # Pinning applies everywhere, system namespaces included.
    item = workload(DEPLOYMENT, pod_spec(container={"image": image}), namespace="kube-system")
    if problem is None:
        assert_clean(analyzer, policy, item)
    else:
        found = assert_violation(analyzer, policy, item)
        assert said(found) == [f"container app: image {image} {problem}"]


def test_container_resources_are_advised(analyzer: Analyzer) -> None:
    policy = "container-resources"
    partial = pod_spec(container={"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}})
    found = assert_violation(analyzer, policy, workload(STATEFUL_SET, partial))
    assert said(found) == ["container app does not set resources requests.memory, limits.memory"]
    found = assert_violation(analyzer, policy, workload(JOB, pod_spec(container={"resources": None})))
    assert said(found) == ["container app does not set resources requests.cpu, requests.memory, limits.memory"]
    empty = {"requests": {"cpu": "", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    found = assert_violation(analyzer, policy, workload(DEPLOYMENT, pod_spec(container={"resources": empty})))
    assert said(found) == ["container app does not set resources requests.cpu"]
    # Init containers are sized like the others.
    init = pod_spec(initContainers=[{"name": "setup", "image": "busybox:1.36"}], securityContext={"runAsNonRoot": True})
    found = assert_violation(analyzer, policy, workload(DAEMON_SET, init))
    assert said(found) == ["container setup does not set resources requests.cpu, requests.memory, limits.memory"]


def test_chart_workloads_that_cannot_be_sized_are_listed_by_namespace_kind_and_name(analyzer: Analyzer) -> None:
    policy = "container-resources"
    unsized = pod_spec(container={"resources": None})
    hook = workload(JOB, unsized, namespace="gpu-operator", name="gpu-operator-upgrade-crd")
    assert_clean(analyzer, policy, hook)
    # Another kind, namespace or name is another workload.
    for other in (
        workload(DEPLOYMENT, unsized, namespace="gpu-operator", name="gpu-operator-upgrade-crd"),
        workload(JOB, unsized, namespace="research", name="gpu-operator-upgrade-crd"),
        workload(JOB, unsized, namespace="gpu-operator", name="gpu-operator-upgrade"),
    ):
        assert_violation(analyzer, policy, other)
    config = {policy: {"unsized_workloads": ["research/Job/import"]}}
    assert_violation(analyzer, policy, hook, config=config)
    assert_clean(analyzer, policy, workload(JOB, unsized, name="import"), config=config)


@pytest.mark.parametrize(
    ("pod_context", "container_context", "root"),
    [
        ({"runAsNonRoot": True}, {}, False),
        ({}, {"runAsUser": 1000}, False),
        ({}, {"runAsUser": 1}, False),
        ({"runAsUser": 1000}, {}, False),
        ({}, {}, True),
        ({"runAsNonRoot": False}, {}, True),
        # The container's own setting wins over the pod's.
        ({"runAsNonRoot": True}, {"runAsUser": 0}, True),
        ({"runAsNonRoot": True}, {"runAsNonRoot": False}, True),
    ],
)
def test_run_as_non_root_is_advised(
    analyzer: Analyzer, pod_context: dict[str, Any], container_context: dict[str, Any], root: bool
) -> None:
    policy = "run-as-non-root"
    spec = {"securityContext": pod_context, "containers": [{**GOOD_CONTAINER, "securityContext": container_context}]}
    item = workload(DEPLOYMENT, spec)
    if root:
        found = assert_violation(analyzer, policy, item)
        assert said(found) == ["container app may run as root (set runAsNonRoot: true or a non-zero runAsUser)"]
        assert_clean(analyzer, policy, workload(DEPLOYMENT, spec, namespace="gpu-operator"))
    else:
        assert_clean(analyzer, policy, item)


def test_every_container_is_held_to_run_as_non_root(analyzer: Analyzer) -> None:
    root = {**GOOD_CONTAINER, "name": "sidecar", "securityContext": {"runAsUser": 0}}
    spec = {"containers": [GOOD_CONTAINER, root]}
    found = assert_violation(analyzer, "run-as-non-root", workload(DEPLOYMENT, spec))
    assert said(found) == ["container sidecar may run as root (set runAsNonRoot: true or a non-zero runAsUser)"]


# -- ingress ----------------------------------------------------------------------------------------


def ingress(spec: dict[str, Any], type_: str = INGRESS) -> dict[str, Any]:
    api, _, kind = type_.removeprefix("kubernetes:").rpartition(":")
    return resource(
        type_,
        "hub-ingress",
        {"apiVersion": api, "kind": kind, "metadata": {"name": "hub", "namespace": "jupyterhub"}, "spec": spec},
    )


def rules(*hosts: str) -> list[dict[str, Any]]:
    backend = {"service": {"name": "proxy-public", "port": {"number": 80}}}
    return [{"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}} for h in hosts]


@pytest.mark.parametrize("type_", [INGRESS, "kubernetes:extensions/v1beta1:Ingress"])
def test_ingress_requires_tls_for_every_host(analyzer: Analyzer, type_: str) -> None:
    policy = "ingress-requires-tls"
    covered = {
        "tls": [
            {"hosts": ["hub.eo4eu.example.org"], "secretName": "hub-tls"},
            {"hosts": ["*.apps.eo4eu.example.org"], "secretName": "apps-tls"},
        ],
        "rules": rules("hub.eo4eu.example.org", "dask.apps.eo4eu.example.org"),
    }
    assert_clean(analyzer, policy, ingress(covered, type_))
    # Host names compare case-insensitively; a rule without a host is the default backend.
    mixed = {
        "tls": [{"hosts": ["Hub.EO4EU.example.org"], "secretName": "hub-tls"}],
        "rules": [*rules("hub.eo4eu.example.ORG"), {"http": {"paths": []}}],
    }
    assert_clean(analyzer, policy, ingress(mixed, type_))
    found = assert_violation(analyzer, policy, ingress({"rules": rules("hub.eo4eu.example.org")}, type_))
    assert said(found) == ["spec.tls is empty: the ingress serves plain HTTP"]
    partial = {
        "tls": [{"hosts": ["hub.eo4eu.example.org"], "secretName": "hub-tls"}],
        "rules": rules("hub.eo4eu.example.org", "grafana.eo4eu.example.org", "a.b.apps.eo4eu.example.org"),
    }
    found = assert_violation(analyzer, policy, ingress(partial, type_))
    assert said(found) == [
        "host grafana.eo4eu.example.org is not listed in any spec.tls[].hosts",
        "host a.b.apps.eo4eu.example.org is not listed in any spec.tls[].hosts",
    ]


# -- Helm -----------------------------------------------------------------------------------------


def release(type_: str = RELEASE, name: str = "gpu-operator", **inputs: Any) -> dict[str, Any]:
    """A Helm release as the GPU Operator add-on makes it, with `inputs` overriding (None removes a key)."""
    base: dict[str, Any] = {
        "chart": "gpu-operator",
        "version": "v26.7.0",
        "namespace": "gpu-operator",
        "repositoryOpts": {"repo": "https://helm.ngc.nvidia.com/nvidia"},
        "values": {"driver": {"enabled": False}},
    }
    if type_ == RELEASE:
        base.update(atomic=True, cleanupOnFail=True, compat="true", timeout=900)
    for key, value in inputs.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    # The v4 Chart is a (remote) component: the engine analyzes it with its inputs, the offline
    # gate only sends custom resources, so it is marked custom here to go through Analyze.
    return resource(type_, name, base, custom=True)


@pytest.mark.parametrize("version", ["v26.7.0", "1.21.1", "4.4.0", "0.16.1-rc.2", "1.0.0+build.5"])
def test_exact_chart_versions_pass(analyzer: Analyzer, version: str) -> None:
    # A chart the lock does not name: any exact version is a pin.
    unlocked = release(chart="demo", repositoryOpts={"repo": "https://charts.example.org"}, version=version)
    assert_clean(analyzer, "helm-release-pinned", unlocked)


def test_locked_charts_are_pinned_to_the_locks_version(analyzer: Analyzer) -> None:
    # components/charts.lock.yaml pins gpu-operator to v26.7.0 from NVIDIA's repository.
    assert_clean(analyzer, "helm-release-pinned", release(version="v26.7.0"))
    found = assert_violation(analyzer, "helm-release-pinned", release(version="v26.3.1"))
    assert said(found) == ["gpu-operator v26.3.1 is not the version the chart lock pins (v26.7.0)"]
    # The lock's repository however spelled (scheme and host case, one trailing '/').
    spelled = release(version="v26.3.1", repositoryOpts={"repo": "HTTPS://Helm.NGC.nvidia.com/nvidia/"})
    assert_violation(analyzer, "helm-release-pinned", spelled)
    # The same chart name from another repository, or from none (a local chart, an alias), is
    # another chart (and another policy's business).
    other = release(version="v26.3.1", repositoryOpts={"repo": "https://charts.example.org"})
    assert_clean(analyzer, "helm-release-pinned", other)
    assert_clean(analyzer, "helm-release-pinned", release(version="v26.3.1", repositoryOpts=None))


@pytest.mark.parametrize("version", ["latest", "^1.2.0", "~1.2", "1.x", "*", ">=1.0.0", "1.2", "v1", "", " "])
def test_floating_chart_versions_are_reported(analyzer: Analyzer, version: str) -> None:
    found = assert_violation(analyzer, "helm-release-pinned", release(version=version))
    expected = (
        "chart gpu-operator has no version: Helm installs the newest"
        if version == ""
        else f"version {version!r} is not an exact version (no ranges, wildcards or latest)"
    )
    assert said(found) == [expected]


def test_a_chart_without_a_version_is_reported(analyzer: Analyzer) -> None:
    found = assert_violation(analyzer, "helm-release-pinned", release(version=None))
    assert said(found) == ["chart gpu-operator has no version: Helm installs the newest"]
    found = assert_violation(analyzer, "helm-release-pinned", release(version=None, chart=None))
    assert said(found) == ["chart ? has no version: Helm installs the newest"]


def test_helm_v4_chart_is_held_to_the_same_rules(analyzer: Analyzer) -> None:
    assert_clean(analyzer, "helm-release-pinned", release(CHART_V4))
    assert_clean(analyzer, "helm-release-allowed-repository", release(CHART_V4))
    assert_violation(analyzer, "helm-release-pinned", release(CHART_V4, version="^26"))
    assert_violation(
        analyzer,
        "helm-release-allowed-repository",
        release(CHART_V4, repositoryOpts={"repo": "https://charts.example.org"}),
    )


@pytest.mark.parametrize(
    ("chart", "repo"),
    [
        ("gpu-operator", "https://helm.ngc.nvidia.com/nvidia"),
        ("gpu-operator", "https://helm.ngc.nvidia.com/nvidia/"),
        # Schemes and hosts are case-insensitive.
        ("gpu-operator", "HTTPS://Helm.NGC.nvidia.com/nvidia"),
        ("jupyterhub", "https://hub.jupyter.org/helm-chart"),
        # Locked with its add-on, though no verified copy of it could be had (charts.lock.yaml `unverified`).
        ("external-secrets", "https://charts.external-secrets.io"),
    ],
)
def test_charts_from_official_repositories_pass(analyzer: Analyzer, chart: str, repo: str) -> None:
    assert_clean(analyzer, "helm-release-allowed-repository", release(chart=chart, repositoryOpts={"repo": repo}))


@pytest.mark.parametrize(
    ("chart", "repo"),
    [
        ("redis", "https://charts.bitnami.com/bitnami"),
        # Official, but no chart of that repository is in the lock yet: it joins with its add-on.
        ("mlflow", "https://community-charts.github.io/helm-charts"),
        # Rancher's catalogue re-packages Fleet with Rancher-specific versions; Fleet's own repository is listed.
        ("fleet", "https://charts.rancher.io"),
        # The same path on another host, another path on the same host (paths are case-sensitive),
        # and a second trailing '/' (Helm trims only one before joining index.yaml) are other repositories.
        ("gpu-operator", "https://mirror.example.org/nvidia"),
        ("gpu-operator", "https://helm.ngc.nvidia.com/NVIDIA"),
        ("gpu-operator", "https://helm.ngc.nvidia.com/nvidia//"),
        ("./charts/gpu-operator", None),
        ("nvidia/gpu-operator", None),
        ("oci://registry-1.docker.io/bitnamicharts/redis", None),
        ("https://example.org/charts/gpu-operator-v26.7.0.tgz", None),
    ],
)
def test_charts_from_elsewhere_are_reported(analyzer: Analyzer, chart: str, repo: str | None) -> None:
    bad = release(chart=chart, repositoryOpts={"repo": repo} if repo else None)
    found = assert_violation(analyzer, "helm-release-allowed-repository", bad)
    assert (repo or chart) in found[0].message


@pytest.mark.parametrize(
    ("chart", "repo", "message"),
    [
        (
            "redis",
            "https://charts.bitnami.com/bitnami",
            "repository https://charts.bitnami.com/bitnami is not an allowed repository",
        ),
        (
            "oci://registry-1.docker.io/bitnamicharts/redis",
            None,
            "chart oci://registry-1.docker.io/bitnamicharts/redis is not from an allowed repository or registry",
        ),
        (
            "./charts/gpu-operator",
            None,
            "chart './charts/gpu-operator' names no repository (repositoryOpts.repo): a local path or an alias from "
            "the machine's Helm configuration is not reproducible",
        ),
        (
            None,  # no chart at all (the engine would refuse the release): named as the empty name
            None,
            "chart '' names no repository (repositoryOpts.repo): a local path or an alias from "
            "the machine's Helm configuration is not reproducible",
        ),
    ],
)
def test_chart_source_problems_are_named(analyzer: Analyzer, chart: str | None, repo: str | None, message: str) -> None:
    bad = release(chart=chart, repositoryOpts={"repo": repo} if repo else None)
    assert said(assert_violation(analyzer, "helm-release-allowed-repository", bad)) == [message]


def test_allowed_repositories_config_replaces_the_list(analyzer: Analyzer) -> None:
    policy = "helm-release-allowed-repository"
    oci = release(chart="oci://quay.io/jetstack/charts/cert-manager", repositoryOpts=None, name="cert-manager")
    nvidia = release()
    assert_violation(analyzer, policy, oci, nvidia)
    config = {policy: {"allowed_repositories": ["oci://quay.io/jetstack/charts"]}}
    assert_violation(analyzer, policy, nvidia, oci, config=config)


def test_helm_release_atomic_is_advised(analyzer: Analyzer) -> None:
    policy = "helm-release-atomic"
    assert_clean(analyzer, policy, release())
    assert_clean(analyzer, policy, release(atomic=None))
    assert_clean(analyzer, policy, release(cleanupOnFail=None))
    message = "neither atomic nor cleanupOnFail is true: a failed upgrade leaves a half-applied release"
    assert said(assert_violation(analyzer, policy, release(atomic=None, cleanupOnFail=None))) == [message]
    assert said(assert_violation(analyzer, policy, release(atomic=False, cleanupOnFail=False))) == [message]
    # The v4 Chart has neither: it is not asked.
    assert_clean(analyzer, policy, release(CHART_V4))


def test_charts_a_gitops_engine_installs_are_held_to_the_same_rules(analyzer: Analyzer) -> None:
    """Fleet HelmOps and Sveltos ClusterProfiles, as components/gitops.py writes them, read like Releases."""
    from components.addons.base import GitOpsRelease, chart_release
    from components.gitops import cluster_profile_document, helmop_document

    record = chart_release("c-gpu-operator", "gpu-operator", namespace="gpu-operator", values={})
    item = GitOpsRelease("c", record, {})
    kinds = {
        "kubernetes:fleet.cattle.io/v1alpha1:HelmOp": (helmop_document("op", item, {}), ("spec", "helm")),
        "kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile": (
            cluster_profile_document("op", item, {}),
            ("spec", "helmCharts", 0),
        ),
    }
    fields = {
        "kubernetes:fleet.cattle.io/v1alpha1:HelmOp": {"version": "version", "repo": "repo", "atomic": "atomic"},
        "kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile": {
            "version": "chartVersion", "repo": "repositoryURL", "atomic": "options"
        },
    }  # fmt: skip

    def changed(kind: str, key: str, value: Any) -> dict[str, Any]:
        document = copy.deepcopy(kinds[kind][0])
        target: Any = document
        for step in kinds[kind][1]:
            target = target[step]
        target[fields[kind][key]] = value
        return resource(kind, "op", document, custom=True)

    for kind, (document, _) in kinds.items():
        engine = resource(kind, "op", document, custom=True)
        for policy in ("helm-release-pinned", "helm-release-allowed-repository", "helm-release-atomic"):
            assert_clean(analyzer, policy, engine)
        found = assert_violation(analyzer, "helm-release-pinned", changed(kind, "version", "v26.3.1"))
        assert said(found) == ["gpu-operator v26.3.1 is not the version the chart lock pins (v26.7.0)"], kind
        assert said(assert_violation(analyzer, "helm-release-pinned", changed(kind, "version", "^26"))) == [
            "version '^26' is not an exact version (no ranges, wildcards or latest)"
        ], kind
        found = assert_violation(
            analyzer, "helm-release-allowed-repository", changed(kind, "repo", "https://charts.example.org")
        )
        assert said(found) == ["repository https://charts.example.org is not an allowed repository"], kind
        unsafe = changed(kind, "atomic", False if "HelmOp" in kind else {"atomic": False})
        assert said(assert_violation(analyzer, "helm-release-atomic", unsafe)) == [
            "neither atomic nor cleanupOnFail is true: a failed upgrade leaves a half-applied release"
        ], kind


# -- namespaces --------------------------------------------------------------------------------------

NAMESPACE_LABELS = {
    "managed-by": "meridian",
    "project": "eo4eu",
    "site": "ewc-bologna",
    "pod-security.kubernetes.io/enforce": "restricted",
}


def namespace(labels: dict[str, Any]) -> dict[str, Any]:
    return resource(
        NAMESPACE,
        "research",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "research", "labels": labels}},
    )


def test_namespaces_labelled(analyzer: Analyzer) -> None:
    policy = "namespaces-labelled"
    assert_clean(analyzer, policy, namespace(NAMESPACE_LABELS))
    missing = {k: v for k, v in NAMESPACE_LABELS.items() if k != "pod-security.kubernetes.io/enforce"}
    found = assert_violation(analyzer, policy, namespace(missing))
    assert said(found) == ["missing labels: pod-security.kubernetes.io/enforce"]
    found = assert_violation(analyzer, policy, namespace({**NAMESPACE_LABELS, "managed-by": "helm"}))
    assert said(found) == ["managed-by is 'helm', not 'meridian'"]
    strict = namespace({**NAMESPACE_LABELS, "pod-security.kubernetes.io/enforce": "strict"})
    assert said(assert_violation(analyzer, policy, strict)) == [
        "pod-security.kubernetes.io/enforce 'strict' is not one of ['baseline', 'privileged', 'restricted']"
    ]
    bare = resource(NAMESPACE, "bare", {"apiVersion": "v1", "kind": "Namespace"})
    assert said(assert_violation(analyzer, policy, bare)) == [
        "missing labels: managed-by, project, pod-security.kubernetes.io/enforce"
    ]


# -- unknowns and bundled stacks ----------------------------------------------------------------


def _unknown_resources() -> list[dict[str, Any]]:
    everything = [
        resource(t, f"u-{t.rsplit(':', 1)[-1].lower()}", {"metadata": UNKNOWN, "spec": UNKNOWN})
        for t in (*WORKLOADS, INGRESS)
    ]
    everything.append(resource(NAMESPACE, "u-ns", {"metadata": UNKNOWN}))
    everything.append(
        resource(
            RELEASE,
            "u-release",
            dict.fromkeys(
                ["chart", "version", "repositoryOpts", "atomic", "cleanupOnFail", "values", "namespace"], UNKNOWN
            ),
        )
    )
    # Known shapes with unknown leaves, as a first preview shows them.
    unknown_leaves = pod_spec(
        container={"image": UNKNOWN, "securityContext": UNKNOWN, "resources": UNKNOWN},
        hostNetwork=UNKNOWN,
        volumes=[{"name": "v", "hostPath": UNKNOWN}],
        securityContext=UNKNOWN,
    )
    everything.append(workload(DEPLOYMENT, unknown_leaves, name="u-leaves"))
    everything.append(workload(CRON_JOB, pod_spec(), namespace=UNKNOWN, name="u-namespace"))
    everything.append(ingress({"tls": [{"hosts": [UNKNOWN]}], "rules": rules("hub.eo4eu.example.org")}))
    everything.append(namespace({**NAMESPACE_LABELS, "project": UNKNOWN}))
    everything.append(release(name="u-version", version=UNKNOWN, repositoryOpts={"repo": UNKNOWN}, atomic=UNKNOWN))
    return everything


def test_unknown_inputs_only_give_the_preview_notice(analyzer: Analyzer) -> None:
    report = violations(analyzer, plan_of_resources(*_unknown_resources()), only_these())
    mine = [v for v in report.violations if v.policy in LEVELS]
    assert mine, "no policy read an unknown value"
    assert all(v.level == "advisory" and "during preview" in v.message for v in mine), [
        (v.policy, v.message) for v in mine if "during preview" not in v.message
    ]
    assert {v.policy for v in mine} == set(LEVELS)
    # The analyzer keeps answering after the unknowns.
    assert_violation(analyzer, "helm-release-pinned", release(version="latest"))


def test_bundled_stacks_exercise_the_kubernetes_policies(bundled_plan: Callable[[str], Plan]) -> None:
    """The bundled-stack check means something: the stacks hold what these policies inspect."""
    types = {r["type"] for stack in BUNDLED for r in bundled_plan(stack).resources}
    assert {RELEASE, NAMESPACE, CRON_JOB} <= types
