"""Kubernetes and Helm policies, run by the real pack process over the Analyzer protocol.

Each policy gets a violating and a compliant synthetic plan; the violation must name the
policy and the offending resource's URN at the policy's enforcement level. Every other
policy of the pack is disabled in these runs (config `all: disabled`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from policy_support import PolicyModule, plan_of_resources, provider_resource, resource, violations

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


# -- workloads -----------------------------------------------------------------------------------

GOOD_CONTAINER: dict[str, Any] = {
    "name": "app",
    "image": "ghcr.io/ecmwf/eo-processor:2.3.1",
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 1000},
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
    for name in NAMESPACED:
        assert declared[name]["schema"]["allowed_namespaces"]["default"] == ["gpu-operator", "kube-system"]
    repositories = declared["helm-release-allowed-repository"]["schema"]["allowed_repositories"]["default"]
    # Read from the chart lock, the one place repositories and versions live.
    assert repositories == sorted({chart.repository for chart in chart_lock().charts.values()})
    assert "https://helm.ngc.nvidia.com/nvidia" in repositories


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
    [({"privileged": True}, "privileged"), ({"allowPrivilegeEscalation": True}, "allowPrivilegeEscalation")],
)
def test_privileged_containers_are_reported(
    analyzer: Analyzer, type_: str, context: dict[str, Any], words: str
) -> None:
    bad = workload(type_, pod_spec(container={"securityContext": context}))
    found = assert_violation(analyzer, "no-privileged-containers", bad)
    assert words in found[0].message


def test_privileged_init_container_is_reported(analyzer: Analyzer) -> None:
    spec = pod_spec(initContainers=[{**GOOD_CONTAINER, "name": "setup", "securityContext": {"privileged": True}}])
    found = assert_violation(analyzer, "no-privileged-containers", workload(DAEMON_SET, spec))
    assert "setup" in found[0].message


def test_allowed_namespaces_exempt_system_workloads_and_are_configurable(analyzer: Analyzer) -> None:
    policy = "no-privileged-containers"
    privileged = pod_spec(container={"securityContext": {"privileged": True}})
    driver = workload(DAEMON_SET, privileged, namespace="gpu-operator", name="driver")
    research = workload(DAEMON_SET, privileged, namespace="research", name="tool")
    assert_clean(analyzer, policy, driver)
    assert_violation(analyzer, policy, research)
    assert_clean(analyzer, policy, research, config={policy: {"allowed_namespaces": ["research"]}})
    assert_violation(analyzer, policy, driver, config={policy: {"allowed_namespaces": []}})


def test_namespace_comes_from_the_kubernetes_provider_when_unset(analyzer: Analyzer) -> None:
    system = provider_resource("pulumi:providers:kubernetes", "system-k8s", namespace="kube-system")
    provider_urn = system["urn"]
    unset = workload(POD, pod_spec(hostNetwork=True), namespace=None, name="cni", provider=provider_urn)
    assert_clean(analyzer, "no-host-namespaces", system, unset)
    default = workload(POD, pod_spec(hostNetwork=True), namespace=None, name="cni")
    assert_violation(analyzer, "no-host-namespaces", default)


@pytest.mark.parametrize("type_", [POD, DAEMON_SET, JOB])
def test_host_path_volumes_are_reported(analyzer: Analyzer, type_: str) -> None:
    policy = "no-host-path-volumes"
    host = pod_spec(volumes=[{"name": "scratch", "emptyDir": {}}, {"name": "root", "hostPath": {"path": "/"}}])
    found = assert_violation(analyzer, policy, workload(type_, host))
    assert [("root" in v.message, "/" in v.message) for v in found] == [(True, True)]
    assert_clean(analyzer, policy, workload(type_, host, namespace="kube-system"))
    assert_clean(analyzer, policy, workload(type_, pod_spec(volumes=[{"name": "scratch", "emptyDir": {}}])))
    assert_clean(analyzer, policy, workload(type_, host), config={policy: {"allowed_namespaces": ["research"]}})


@pytest.mark.parametrize(("type_", "flag"), [(POD, "hostNetwork"), (STATEFUL_SET, "hostPID"), (CRON_JOB, "hostIPC")])
def test_host_namespaces_are_reported(analyzer: Analyzer, type_: str, flag: str) -> None:
    policy = "no-host-namespaces"
    shared, separate = {**pod_spec(), flag: True}, {**pod_spec(), flag: False}
    found = assert_violation(analyzer, policy, workload(type_, shared))
    assert flag in found[0].message
    assert_clean(analyzer, policy, workload(type_, separate))
    assert_clean(analyzer, policy, workload(type_, shared, namespace="gpu-operator"))
    assert_clean(analyzer, policy, workload(type_, shared), config={policy: {"allowed_namespaces": ["research"]}})


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("ghcr.io/ecmwf/eo-processor:2.3.1", True),
        ("registry.example.org:5000/tools/kubectl:v1.34.7", True),
        ("busybox@sha256:" + "a" * 64, True),
        ("busybox:latest@sha256:" + "a" * 64, True),
        ("busybox", False),
        ("busybox:latest", False),
        ("registry.example.org:5000/tools/kubectl", False),
        ("quay.io/jupyter/scipy-notebook:LATEST", False),
    ],
)
def test_images_are_pinned(analyzer: Analyzer, image: str, pinned: bool) -> None:
    policy = "no-latest-images"
    # Pinning applies everywhere, system namespaces included.
    item = workload(DEPLOYMENT, pod_spec(container={"image": image}), namespace="kube-system")
    if pinned:
        assert_clean(analyzer, policy, item)
    else:
        found = assert_violation(analyzer, policy, item)
        assert image in found[0].message


def test_container_resources_are_advised(analyzer: Analyzer) -> None:
    policy = "container-resources"
    partial = pod_spec(container={"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}})
    found = assert_violation(analyzer, policy, workload(STATEFUL_SET, partial))
    assert "requests.memory" in found[0].message and "limits.memory" in found[0].message
    assert "requests.cpu" not in found[0].message
    assert_violation(analyzer, policy, workload(JOB, pod_spec(container={"resources": None})))


@pytest.mark.parametrize(
    ("pod_context", "container_context", "root"),
    [
        ({"runAsNonRoot": True}, {}, False),
        ({}, {"runAsUser": 1000}, False),
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
        assert_violation(analyzer, policy, item)
        assert_clean(analyzer, policy, workload(DEPLOYMENT, spec, namespace="gpu-operator"))
    else:
        assert_clean(analyzer, policy, item)


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
    assert_violation(analyzer, policy, ingress({"rules": rules("hub.eo4eu.example.org")}, type_))
    partial = {
        "tls": [{"hosts": ["hub.eo4eu.example.org"], "secretName": "hub-tls"}],
        "rules": rules("hub.eo4eu.example.org", "grafana.eo4eu.example.org", "a.b.apps.eo4eu.example.org"),
    }
    found = assert_violation(analyzer, policy, ingress(partial, type_))
    assert sorted(v.message.rsplit("\n", 1)[-1].split()[1] for v in found) == [
        "a.b.apps.eo4eu.example.org",
        "grafana.eo4eu.example.org",
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
    assert "not the version the chart lock pins (v26.7.0)" in found[0].message
    # The same chart name from another repository is another chart (and another policy's business).
    other = release(version="v26.3.1", repositoryOpts={"repo": "https://charts.example.org"})
    assert_clean(analyzer, "helm-release-pinned", other)


@pytest.mark.parametrize("version", [None, "", "latest", "^1.2.0", "~1.2", "1.x", "*", ">=1.0.0", "1.2", "v1"])
def test_floating_chart_versions_are_reported(analyzer: Analyzer, version: str | None) -> None:
    assert_violation(analyzer, "helm-release-pinned", release(version=version))


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
        ("jupyterhub", "https://hub.jupyter.org/helm-chart"),
    ],
)
def test_charts_from_official_repositories_pass(analyzer: Analyzer, chart: str, repo: str) -> None:
    assert_clean(analyzer, "helm-release-allowed-repository", release(chart=chart, repositoryOpts={"repo": repo}))


@pytest.mark.parametrize(
    ("chart", "repo"),
    [
        ("redis", "https://charts.bitnami.com/bitnami"),
        # Official, but no chart of that repository is in the lock yet: it joins with its add-on.
        ("cert-manager", "https://charts.jetstack.io"),
        # Rancher's catalogue re-packages Fleet with Rancher-specific versions; Fleet's own repository is listed.
        ("fleet", "https://charts.rancher.io"),
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
    assert_violation(analyzer, policy, release(atomic=None, cleanupOnFail=None))
    assert_violation(analyzer, policy, release(atomic=False, cleanupOnFail=False))


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
    assert "pod-security.kubernetes.io/enforce" in found[0].message
    assert_violation(analyzer, policy, namespace({**NAMESPACE_LABELS, "managed-by": "helm"}))
    assert_violation(analyzer, policy, namespace({**NAMESPACE_LABELS, "pod-security.kubernetes.io/enforce": "strict"}))
    assert_violation(analyzer, policy, resource(NAMESPACE, "bare", {"apiVersion": "v1", "kind": "Namespace"}))


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
