"""The GPU Operator add-on: chart values checked against the released chart, per-pool sharing end to end.

Every plan comes from the one offline harness (`plan_of`, `bundled_plan`). The generated
objects are parsed back (Helm values, the time-slicing and mig-parted ConfigMaps, the agents'
cloud-init) and compared with what NVIDIA's components read, with the chart's own values.yaml
(resolved through scripts/upstream.py) and with the Kubernetes OpenAPI schema. Expected resource
counts are worked out by hand in the tables below, never taken from the code under test.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from conftest import PlanCache
from helm_values import chart_version, compare, subchart_names, unknown_keys

from components.charts import locked
from scripts.crdschema import crd_schema, validate
from scripts.harness import STACKS, Plan, bundled_stacks
from scripts.upstream import chart_dir

#: The released chart, through the resolver (verified against the chart lock's digest).
CHART_DIR = chart_dir("gpu-operator")
VALUES_YAML = CHART_DIR / "values.yaml"
CHART = "gpu-operator"
REPOSITORY = "https://helm.ngc.nvidia.com/nvidia"
NAMESPACE_NAME = "gpu-operator"

OPERATOR = "meridian:addons:GpuOperator"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
K8S_PROVIDER = "pulumi:providers:kubernetes"
INSTANCE = "openstack:compute/instance:Instance"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RKE2_CONFIG = "/etc/rancher/rke2/config.yaml"

MIG_LABEL = "nvidia.com/mig.config"
PLUGIN_LABEL = "nvidia.com/device-plugin.config"
POOL_LABEL = "meridian.io/pool"
#: What the operands must tolerate on every GPU node (the GPU taint Meridian puts on GPU pools).
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
#: RKE2's documentation for the v26 operator line (rancher/rke2-docs docs/add-ons/gpu_operators.md, v26.3.x tab)
#: sets only the socket. Pointing CONTAINERD_CONFIG at RKE2's config.toml.tmpl left nodes dead after a reboot
#: (NVIDIA/gpu-operator#992), and nothing may make `nvidia` every pod's default runtime.
RKE2_TOOLKIT_ENV = {"CONTAINERD_SOCKET": "/run/k3s/containerd/containerd.sock"}
#: The chart's NFD worker default besides the GPU taint (gpu-operator v26.7.0 values.yaml), kept when overriding.
CONTROL_PLANE_TOLERATION = {
    "key": "node-role.kubernetes.io/control-plane",
    "operator": "Equal",
    "value": "",
    "effect": "NoSchedule",
}
CLUSTER_POLICY_PATCH = "kubernetes:nvidia.com/v1:ClusterPolicyPatch"
EKS_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}

BUNDLED = bundled_stacks()

# -- the clusters under test -------------------------------------------------------------------

A100 = "vm.a100.1gpu"  # 1x A100-80GB (OPENSTACK_GPU_FLAVORS)
A100x2 = "vm.a100.2gpu"  # 2x A100-80GB
A30 = "vm.a30.1gpu"  # 1x A30
A100_40 = "vm.a100-40.1gpu"  # 1x A100-40GB, declared by the site below
CUSTOM = {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}
CUSTOM_NAME = "custom-2x1g.10gb-1x2g.20gb-1x3g.40gb"
BALANCED_80 = {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}  # mig-parted all-balanced, A100-80GB
BALANCED_40 = {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}  # mig-parted all-balanced, A100-40GB
BALANCED_40_NAME = "custom-2x1g.5gb-1x2g.10gb-1x3g.20gb"


def _pool(flavor: str, max_size: int, gpu: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    pool: dict[str, Any] = {"flavor": flavor, "min_size": 1, "max_size": max_size, **extra}
    if gpu is not None:
        pool["gpu"] = gpu
    return pool


def _mig(model: str, count: int, strategy: str, **layout: Any) -> dict[str, Any]:
    return {"model": model, "count": count, "sharing": "mig", "mig": {"strategy": strategy, **layout}}


def _sliced(model: str, replicas: int) -> dict[str, Any]:
    return {"model": model, "count": 1, "sharing": "time-sliced", "time_slicing": {"replicas": replicas}}


def _openstack(backend: str, pools: dict[str, Any]) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "site": "os-a",
        "backend": backend,
        "version": "1.34",
        "control_plane": {"count": 1, "flavor": "m1.large"},
        "node_pools": _with_system_pool(pools, "m1.large"),
    }
    if backend == "magnum":
        cluster["image"] = "capi-ubuntu-2404-kube-v1.34"
    return cluster


def _eks(pools: dict[str, Any]) -> dict[str, Any]:
    return {"site": "aws-b", "backend": "eks", "version": "1.34", "node_pools": _with_system_pool(pools, "m6i.large")}


def _with_system_pool(pools: dict[str, Any], flavor: str) -> dict[str, Any]:
    """Every cluster needs a pool without GPUs for its system services (the spec says so)."""
    if all(pool.get("gpu") for pool in pools.values()):
        return {**pools, "system": _pool(flavor, 2)}
    return pools


CLUSTERS: dict[str, dict[str, Any]] = {
    # MIG, mixed strategy, a built-in configuration: A100-80GB x2, all-balanced, at most 3 nodes.
    "mig": _openstack(
        "rke2",
        {
            "cpu": _pool("m1.large", 3),
            "balanced": _pool(A100x2, 3, _mig("A100-80GB", 2, "mixed", profile="all-balanced")),
        },
    ),
    # A custom layout next to a built-in configuration of the same model.
    "custom": _openstack(
        "rke2",
        {
            "custom": _pool(A100, 2, _mig("A100-80GB", 1, "mixed", custom=CUSTOM)),
            "balanced": _pool(A100, 1, _mig("A100-80GB", 1, "mixed", profile="all-balanced")),
        },
    ),
    # A custom layout next to the same built-in name on two models (different layouts per model).
    "models": _openstack(
        "rke2",
        {
            "a80": _pool(A100, 1, _mig("A100-80GB", 1, "mixed", profile="all-balanced")),
            # The spec refuses one built-in name for two models next to a custom layout (the
            # generated mig-parted ConfigMap names layouts), so the A100-40GB one is spelled out.
            "a40": _pool(A100_40, 1, _mig("A100-40GB", 1, "mixed", custom=BALANCED_40)),
            "custom": _pool(A100, 1, _mig("A100-80GB", 1, "mixed", custom=CUSTOM)),
        },
    ),
    # Time-slicing with two replica counts and a whole-GPU pool with a taint of its own.
    "shared": _openstack(
        "rke2",
        {
            # First: pools without time-slicing do not end the search for those with it.
            "whole": _pool(
                A30,
                1,
                {"model": "A30", "count": 1},
                taints=[{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
            ),
            "ts4": _pool(A30, 2, _sliced("A30", 4)),
            "ts8": _pool(A30, 1, _sliced("A30", 8)),
        },
    ),
    # MIG, single strategy.
    "single": _openstack("rke2", {"a100": _pool(A100, 4, _mig("A100-80GB", 1, "single", profile="all-1g.10gb"))}),
    # magnum: the driver's cluster-addons installs the operator; Meridian adopts it.
    "mag": _openstack("magnum", {"whole": _pool(A30, 1, {"model": "A30", "count": 1})}),
    "mag-ts": _openstack(
        "magnum",
        {"ts": _pool(A30, 2, _sliced("A30", 2), taints=[{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}])},
    ),
    # ... and a custom MIG layout there (the patch names Meridian's mig-parted ConfigMap).
    # (a whole-GPU pool first: pools without MIG do not end the search for layouts).
    "mag-mig": _openstack(
        "magnum",
        {
            "whole": _pool(A30, 1, {"model": "A30", "count": 1}),
            "custom": _pool(A100, 1, _mig("A100-80GB", 1, "mixed", custom=CUSTOM)),
        },
    ),
    # eks: driver and toolkit preinstalled (AL2023 NVIDIA AMI).
    "ek": _eks({"cpu": _pool("m6i.large", 3), "shared": _pool("g5.xlarge", 2, _sliced("A10G", 4), min_size=0)}),
    "ek-mig": _eks(
        {"p4de": _pool("p4de.24xlarge", 1, _mig("A100-80GB", 8, "single", profile="all-3g.40gb"), min_size=0)}
    ),
}


@dataclass(frozen=True)
class Expect:
    """What one cluster's GPU Operator must look like, worked out by hand."""

    backend: str
    #: Totals at max size: count x per-GPU instances x max_size, summed over pools.
    gpus: dict[str, int]
    mig_strategy: str | None = None
    replicas: frozenset[int] = frozenset()
    #: mig-configs of the custom mig-parted ConfigMap (None: no ConfigMap), name -> layouts that must be offered.
    mig_configs: dict[str, list[dict[str, int]]] | None = None
    #: Partition labels per pool (pools not listed have none).
    partition: dict[str, dict[str, str]] = field(default_factory=dict)


EXPECT: dict[str, Expect] = {
    "mig": Expect(
        "rke2",
        # all-balanced on an A100-80GB: 2x 1g.10gb, 1x 2g.20gb, 1x 3g.40gb; x 2 GPUs x 3 nodes.
        {"nvidia.com/mig-1g.10gb": 12, "nvidia.com/mig-2g.20gb": 6, "nvidia.com/mig-3g.40gb": 6},
        mig_strategy="mixed",
        partition={"balanced": {MIG_LABEL: "all-balanced"}},
    ),
    "custom": Expect(
        "rke2",
        # custom: (2, 1, 1) x 1 GPU x 2 nodes = (4, 2, 2); balanced: (2, 1, 1) x 1 x 1.
        {"nvidia.com/mig-1g.10gb": 6, "nvidia.com/mig-2g.20gb": 3, "nvidia.com/mig-3g.40gb": 3},
        mig_strategy="mixed",
        mig_configs={"all-disabled": [], CUSTOM_NAME: [CUSTOM], "all-balanced": [BALANCED_80]},
        partition={"custom": {MIG_LABEL: CUSTOM_NAME}, "balanced": {MIG_LABEL: "all-balanced"}},
    ),
    "models": Expect(
        "rke2",
        {
            "nvidia.com/mig-1g.10gb": 4,
            "nvidia.com/mig-2g.20gb": 2,
            "nvidia.com/mig-3g.40gb": 2,
            "nvidia.com/mig-1g.5gb": 2,
            "nvidia.com/mig-2g.10gb": 1,
            "nvidia.com/mig-3g.20gb": 1,
        },
        mig_strategy="mixed",
        mig_configs={
            "all-disabled": [],
            CUSTOM_NAME: [CUSTOM],
            "all-balanced": [BALANCED_80],
            BALANCED_40_NAME: [BALANCED_40],
        },
        partition={
            "a80": {MIG_LABEL: "all-balanced"},
            "a40": {MIG_LABEL: BALANCED_40_NAME},
            "custom": {MIG_LABEL: CUSTOM_NAME},
        },
    ),
    "shared": Expect(
        "rke2",
        # 4 x 1 GPU x 2 nodes + 8 x 1 x 1 + 1 whole GPU.
        {"nvidia.com/gpu": 17},
        replicas=frozenset({4, 8}),
        partition={"ts4": {PLUGIN_LABEL: "time-sliced-4"}, "ts8": {PLUGIN_LABEL: "time-sliced-8"}},
    ),
    # all-1g.10gb: 7 per A100-80GB x 1 GPU x 4 nodes.
    "single": Expect(
        "rke2", {"nvidia.com/gpu": 28}, mig_strategy="single", partition={"a100": {MIG_LABEL: "all-1g.10gb"}}
    ),
    "mag": Expect("magnum", {"nvidia.com/gpu": 1}),
    # 2 replicas x 1 GPU x 2 nodes.
    "mag-ts": Expect(
        "magnum", {"nvidia.com/gpu": 4}, replicas=frozenset({2}), partition={"ts": {PLUGIN_LABEL: "time-sliced-2"}}
    ),
    # custom: (2, 1, 1) x 1 GPU x 1 node; whole: 1.
    "mag-mig": Expect(
        "magnum",
        {"nvidia.com/gpu": 1, "nvidia.com/mig-1g.10gb": 2, "nvidia.com/mig-2g.20gb": 1, "nvidia.com/mig-3g.40gb": 1},
        mig_strategy="mixed",
        mig_configs={"all-disabled": [], CUSTOM_NAME: [CUSTOM]},
        partition={"custom": {MIG_LABEL: CUSTOM_NAME}},
    ),
    # 4 replicas x 1 GPU x 2 nodes.
    "ek": Expect(
        "eks", {"nvidia.com/gpu": 8}, replicas=frozenset({4}), partition={"shared": {PLUGIN_LABEL: "time-sliced-4"}}
    ),
    # all-3g.40gb: 2 per GPU x 8 GPUs x 1 node.
    "ek-mig": Expect(
        "eks", {"nvidia.com/gpu": 16}, mig_strategy="single", partition={"p4de": {MIG_LABEL: "all-3g.40gb"}}
    ),
}
RKE2_CLUSTERS = [name for name, expect in EXPECT.items() if expect.backend == "rke2"]
EKS_CLUSTERS = [name for name, expect in EXPECT.items() if expect.backend == "eks"]
#: Clusters whose operator Meridian installs (a Helm release) and those where it adopts the
#: provisioner's (Magnum's cluster-addons: nvidiaGPUOperator is on by default and no label turns it off).
RELEASED = sorted(name for name, expect in EXPECT.items() if expect.backend != "magnum")
ADOPTED = sorted(name for name, expect in EXPECT.items() if expect.backend == "magnum")

#: Product defects these tests demonstrate; each is a strict xfail, so the mark must go with the fix.
DEFECTS: dict[str, str] = {}

_PLANS: dict[str, Plan] = PlanCache()


@pytest.fixture
def gpu_plan(plan_of: Callable[..., Plan], base_platform: dict[str, Any]) -> Plan:
    """The plan of every cluster above on the minimal platform, with secrets revealed (evaluated once)."""
    if "gpu" not in _PLANS:
        platform = copy.deepcopy(base_platform)
        platform["sites"]["os-a"]["openstack"]["gpu_flavors"] = {A100_40: {"model": "A100-40GB", "count": 1}}
        platform["clusters"] = copy.deepcopy(CLUSTERS)
        _PLANS["gpu"] = plan_of(platform, reveal_secrets=True)
    return _PLANS["gpu"]


# -- helpers ------------------------------------------------------------------------------------


def operator_of(plan: Plan, cluster: str) -> dict[str, Any]:
    return plan.one(OPERATOR, f"{cluster}-gpu-operator")


def release_of(plan: Plan, cluster: str) -> dict[str, Any]:
    return plan.one(RELEASE, f"{cluster}-gpu-operator")


def values_of(plan: Plan, cluster: str) -> dict[str, Any]:
    values: dict[str, Any] = release_of(plan, cluster)["inputs"]["values"]
    return values


def config_map(plan: Plan, cluster: str, role: str) -> dict[str, Any] | None:
    try:
        return plan.one(CONFIG_MAP, f"{cluster}-gpu-operator-{role}")
    except KeyError:
        return None


def env_of(entries: list[dict[str, str]]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in entries}


def k8s_provider_urn(plan: Plan, cluster: str) -> str:
    urn: str = plan.one(K8S_PROVIDER, f"{cluster}-k8s")["urn"]
    return urn


def agent_config(plan: Plan, cluster: str, pool: str) -> dict[str, Any]:
    """The RKE2 config.yaml the first node of `pool` boots with (from its cloud-init, secrets revealed)."""
    urn = plan.one(INSTANCE, f"{cluster}-{pool}-0")["urn"]
    user_data: str = plan.revealed[urn]["userData"]
    assert user_data.startswith("#cloud-config\n")
    files = {f["path"]: f for f in yaml.safe_load(user_data)["write_files"]}
    config: dict[str, Any] = yaml.safe_load(files[RKE2_CONFIG]["content"])
    return config


def labels_of(node_labels: list[str]) -> dict[str, str]:
    return dict(label.split("=", 1) for label in node_labels)


def tolerated(taint: dict[str, str], tolerations: list[dict[str, str]]) -> bool:
    """Kubernetes' rule (core/v1 Toleration.ToleratesTaint)."""
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint["effect"]:
            continue
        operator = toleration.get("operator", "Equal")
        if not toleration.get("key"):
            if operator == "Exists":
                return True
            continue
        if toleration["key"] != taint["key"]:
            continue
        if operator == "Exists" or toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def rke2_taint(text: str) -> dict[str, str]:
    """`key=value:Effect` or `key:Effect` as RKE2's node-taint takes them."""
    spec, effect = text.rsplit(":", 1)
    key, _, value = spec.partition("=")
    return {"key": key, "value": value, "effect": effect}


def _defect(name: str) -> Any:
    return pytest.mark.xfail(strict=True, reason=f"product defect: {DEFECTS[name]}")


# -- the checker itself (tests/helm_values.py) ------------------------------------------------

UPSTREAM = {
    "a": {"b": {"c": 1, "d": ""}, "labels": {}, "env": [], "n": None},
    "s": "x",
    "sub": {"x": 1, "y": {"z": 1}},
}


@pytest.mark.parametrize(
    ("values", "unknown"),
    [
        pytest.param({"a": {"b": {"c": 2, "d": "x"}}, "s": "y"}, [], id="known-keys"),
        pytest.param({"a": {"b": {"cc": 2, "c": 3}}}, ["a.b.cc"], id="misspelled-nested-key-full-path"),
        pytest.param({"zzz": 1, "a": {"q": {"r": 1}}}, ["zzz", "a.q"], id="unknown-top-level-and-subtree"),
        pytest.param(
            {"a": {"labels": {"any/key": "v", "deep": {"x": 1}}, "env": [{"name": "X"}], "n": {"free": {"form": 1}}}},
            [],
            id="free-form-empty-map-list-null",
        ),
        pytest.param({"s": {"x": 1}, "a": {"b": {"c": [1]}}}, ["s", "a.b.c"], id="scalar-upstream-needs-scalar"),
        pytest.param({"a": "flat", "sub": ["x"]}, ["a", "sub"], id="mapping-upstream-needs-mapping"),
        pytest.param({"a": {"b": None}, "s": None}, [], id="null-drops-a-default"),
        pytest.param({"global": {"imageRegistry": "r"}}, [], id="helm-global"),
    ],
)
def test_checker_on_synthetic_values(values: dict[str, Any], unknown: list[str]) -> None:
    assert compare(values, UPSTREAM) == unknown


def test_checker_checks_subcharts_only_as_far_as_the_parent_lists_them() -> None:
    values = {"sub": {"x": 2, "unlisted": {"deep": 1}, "y": {"z": {"k": 1}}}, "other": {"anything": 1}}
    assert compare(values, UPSTREAM, subcharts={"sub", "other"}) == ["sub.y.z"]
    # Without knowing they are subcharts, both sections are checked in full.
    assert compare(values, UPSTREAM) == ["sub.unlisted", "sub.y.z", "other"]


def test_checker_reads_subcharts_from_chart_yaml(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("top: {a: 1}\ndep: {listed: 1}\n")
    (tmp_path / "Chart.yaml").write_text(
        "name: c\nversion: 1.0.0\ndependencies:\n  - {name: dep, version: 1.0.0}\n  - {name: real, alias: aka}\n"
    )
    assert subchart_names(tmp_path) == ["dep", "aka"]
    values = {"top": {"b": 1}, "dep": {"unlisted": 1}, "aka": {"x": 1}, "real": {"x": 1}}
    assert unknown_keys(values, tmp_path / "values.yaml") == ["top.b", "real"]


def test_gpu_operator_chart_has_the_nfd_subchart() -> None:
    assert subchart_names(CHART_DIR) == ["node-feature-discovery"]
    assert unknown_keys({"node-feature-discovery": {"worker": {"nodeSelector": {"a": "b"}}}}, VALUES_YAML) == []
    assert unknown_keys({"node-feature-discovery": {"gc": {"enable": {"x": 1}}}}, VALUES_YAML) == [
        "node-feature-discovery.gc.enable"
    ]


@pytest.mark.parametrize(
    ("chart_yaml_version", "source", "expected"),
    [
        pytest.param("v1.0.0-devel", "release tag: v26.7.0\ncommit: abc\n", "v26.7.0", id="devel-placeholder"),
        pytest.param("0.0.0", "repository: x\nrelease tag: v0.16.1\n", "v0.16.1", id="zero-placeholder"),
        pytest.param("0.0.1-set.by.chartpress", "release tag: 4.4.0   (note)\n", "4.4.0", id="chartpress"),
        pytest.param("4.15.1", "release tag: helm-chart-4.15.1\n", "4.15.1", id="real-version"),
    ],
)
def test_chart_version(tmp_path: Path, chart_yaml_version: str, source: str, expected: str) -> None:
    (tmp_path / "Chart.yaml").write_text(f"name: c\nversion: {chart_yaml_version}\n")
    (tmp_path / "SOURCE").write_text(source)
    assert chart_version(tmp_path) == expected


def test_chart_version_without_release_tag_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("name: c\nversion: v1.0.0-devel\n")
    (tmp_path / "SOURCE").write_text("repository: x\n")
    with pytest.raises(ValueError, match="placeholder"):
        chart_version(tmp_path)


# -- bundled stacks: every release against the released chart ---------------------------------


def _gpu_clusters(stack: str) -> set[str]:
    """Clusters of a bundled stack file that must get the operator (read from the file, not the program)."""
    platform = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]["meridian:platform"]
    return {
        name
        for name, cluster in (platform.get("clusters") or {}).items()
        if cluster["backend"] != "attached"
        and any("gpu" in pool for pool in (cluster.get("node_pools") or {}).values())
    }


def test_bundled_stacks_exercise_the_operator() -> None:
    assert sum(len(_gpu_clusters(stack)) for stack in BUNDLED) >= 4


@pytest.mark.parametrize("stack", BUNDLED)
def test_bundled_releases_match_the_released_chart(stack: str, bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan(stack)
    expected = _gpu_clusters(stack)
    operators = {r["name"].removesuffix("-gpu-operator") for r in plan.by_type(OPERATOR)}
    assert operators == expected
    assert set(plan.outputs["gpus"]) == expected
    version = chart_version(CHART_DIR)
    platform = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]["meridian:platform"]
    for cluster in sorted(expected):
        if platform["clusters"][cluster]["backend"] == "magnum":
            # The driver's operator, adopted: a patch under this cluster's operator, no release.
            children = plan.children(operator_of(plan, cluster)["urn"])
            assert [r["name"] for r in children if r["type"] == CLUSTER_POLICY_PATCH] == [
                f"{cluster}-gpu-operator-cluster-policy"
            ], cluster
            assert not [r for r in children if r["type"] == RELEASE], cluster
            continue
        if platform["clusters"][cluster].get("addons", {}).get("delivery") == "gitops":
            # Installed by the project's GitOps engine from the same record (tests/test_gitops.py):
            # the same checks on what its object carries.
            assert not [r for r in plan.children(operator_of(plan, cluster)["urn"]) if r["type"] == RELEASE]
            engine = [r for r in plan.resources if r["name"].startswith(f"{cluster}-gpu-operator-")
                      and r["type"].endswith((":HelmOp", ":ClusterProfile"))]  # fmt: skip
            [found] = engine
            spec = found["inputs"]["spec"]
            if "helm" in spec:
                values, version = spec["helm"]["values"], spec["helm"]["version"]
                assert (spec["helm"]["chart"], spec["helm"]["repo"]) == (CHART, REPOSITORY)
                assert spec["defaultNamespace"] == NAMESPACE_NAME
            else:
                [chart] = spec["helmCharts"]
                values, version = json.loads(chart["values"]), chart["chartVersion"]
                assert (chart["chartName"].rpartition("/")[2], chart["repositoryURL"]) == (CHART, REPOSITORY)
                assert chart["releaseNamespace"] == NAMESPACE_NAME
            assert unknown_keys(values, VALUES_YAML) == [], cluster
            assert version == chart_version(CHART_DIR)
            continue
        inputs = release_of(plan, cluster)["inputs"]
        assert unknown_keys(inputs["values"], VALUES_YAML) == [], cluster
        assert inputs["version"] == version
        assert inputs["chart"] == CHART
        assert inputs["name"] == CHART
        assert inputs["repositoryOpts"] == {"repo": REPOSITORY}
        assert inputs["namespace"] == NAMESPACE_NAME


#: The bundled stacks' GPU totals at max size, by hand from their stack files.
BUNDLED_GPUS: dict[str, dict[str, dict[str, int]]] = {
    "buildspace": {
        # a30: time-sliced 2 x 1 A30 x 3 nodes; t4: whole 1 T4 x 2 nodes (eks).
        "processing": {"nvidia.com/gpu": 6},
        "city-services": {"nvidia.com/gpu": 2},
    },
    # a100: 2x A100-80GB whole x 2 nodes.
    "climres": {"indicators": {"nvidia.com/gpu": 4}},
    "destine-extremes": {
        # a100: all-balanced (2x 1g.10gb, 2g.20gb, 3g.40gb) x 2 GPUs x 6 nodes.
        "extremes-bologna": {"nvidia.com/mig-1g.10gb": 24, "nvidia.com/mig-2g.20gb": 12, "nvidia.com/mig-3g.40gb": 12},
        # custom {3g.20gb: 1, 4g.20gb: 1} x 1 A100-40GB x 4 nodes.
        "extremes-kajaani": {"nvidia.com/mig-3g.20gb": 4, "nvidia.com/mig-4g.20gb": 4},
        # h100: all-3g.40gb single (2 per GPU) x 8 GPUs x 2 nodes.
        "postproc": {"nvidia.com/gpu": 32},
    },
    # all-1g.10gb single: 7 x 1 GPU x 4 nodes.
    "eo4eu": {
        "core": {"nvidia.com/gpu": 28},
        # l40s: whole 4 L40S x 6 nodes (eks).
        "burst": {"nvidia.com/gpu": 24},
    },
    # time-sliced 4 x 1 A30 x 4 nodes.
    "meditwin": {"twin": {"nvidia.com/gpu": 16}},
}


@pytest.mark.parametrize("stack", BUNDLED)
def test_bundled_gpu_summary(stack: str, bundled_plan: Callable[[str], Plan]) -> None:
    assert bundled_plan(stack).outputs["gpus"] == BUNDLED_GPUS[stack]


def test_pinned_version_is_the_locked_release() -> None:
    # The chart the resolver verified against the lock's digest is the version the lock pins.
    assert chart_version(CHART_DIR) == locked("gpu-operator").version == "v26.7.0"


def test_misspelled_key_in_real_values_is_reported(bundled_plan: Callable[[str], Plan]) -> None:
    values = copy.deepcopy(values_of(bundled_plan("eo4eu"), "core"))
    assert unknown_keys(values, VALUES_YAML) == []
    values["migManager"]["confg"] = values["migManager"]["config"]
    values["dcgmExporter"]["serviceMonitor"]["additionalLabel"] = {"x": "y"}
    values["toolkit"]["enabled"] = {"value": True}
    assert sorted(unknown_keys(values, VALUES_YAML)) == [
        "dcgmExporter.serviceMonitor.additionalLabel",
        "migManager.confg",
        "toolkit.enabled",
    ]


# -- generated objects per cluster ---------------------------------------------------------------


def test_every_gpu_cluster_gets_one_operator(gpu_plan: Plan) -> None:
    assert {r["name"] for r in gpu_plan.by_type(OPERATOR)} == {f"{name}-gpu-operator" for name in EXPECT}
    assert {r["name"] for r in gpu_plan.by_type(RELEASE)} == {f"{name}-gpu-operator" for name in RELEASED}
    assert {r["name"] for r in gpu_plan.by_type(CLUSTER_POLICY_PATCH)} == {
        f"{name}-gpu-operator-cluster-policy" for name in ADOPTED
    }


@pytest.mark.parametrize("cluster", RELEASED)
def test_values_are_known_to_the_chart(gpu_plan: Plan, cluster: str) -> None:
    assert unknown_keys(values_of(gpu_plan, cluster), VALUES_YAML) == []
    assert release_of(gpu_plan, cluster)["inputs"]["version"] == chart_version(CHART_DIR)


@pytest.mark.parametrize("cluster", RELEASED)
def test_mig_strategy_and_mig_manager(gpu_plan: Plan, cluster: str) -> None:
    expect = EXPECT[cluster]
    values = values_of(gpu_plan, cluster)
    assert values["migManager"]["enabled"] is (expect.mig_strategy is not None)
    if expect.mig_strategy is not None:
        assert values["mig"]["strategy"] == expect.mig_strategy
    # GPUs passed through to OpenStack VMs only reset their MIG mode with a VM reboot.
    assert env_of(values["migManager"]["env"])["WITH_REBOOT"] == ("false" if expect.backend == "eks" else "true")
    # eks: the operator's toolkit is off, so the MIG manager is told where the AMI's CDI hook is
    # (mig-parted v0.15.0 would write the toolkit directory's path into the CDI spec).
    hook = env_of(values["migManager"]["env"]).get("NVIDIA_CDI_HOOK_PATH")
    assert hook == ("/usr/bin/nvidia-cdi-hook" if expect.backend == "eks" else None)


@pytest.mark.parametrize("cluster", RELEASED)
def test_driver_and_toolkit_per_backend(gpu_plan: Plan, cluster: str) -> None:
    backend = EXPECT[cluster].backend
    values = values_of(gpu_plan, cluster)
    assert values["driver"]["enabled"] is (backend != "eks")
    assert values["toolkit"]["enabled"] is (backend != "eks")
    toolkit_env = env_of(values["toolkit"].get("env", []))
    if backend == "rke2":
        assert toolkit_env == RKE2_TOOLKIT_ENV
    else:
        assert not any(name.startswith("CONTAINERD_") for name in toolkit_env)


def test_a_preinstalled_driver_on_openstack_keeps_the_operators_toolkit(tmp_path: Path) -> None:
    """The toolkit follows the node image, not the driver.

    Every operand pod names the `nvidia` runtime class (gpu-operator v26.7.0 object_controls.go
    setRuntimeClassName); an OpenStack image with only a driver has no such containerd handler,
    so the operator must install the toolkit (RKE2 docs, add-ons, GPU operators, preinstalled
    drivers: toolkit on with the RKE2 containerd settings). Only eks's NVIDIA AMI ships one.
    """
    from conftest import edited_stack

    def preinstalled(platform: dict[str, Any]) -> None:
        platform["clusters"]["twin"]["node_pools"]["a30"]["gpu"]["driver"] = "preinstalled"

    values = values_of(edited_stack(tmp_path, "meditwin", preinstalled), "twin")
    assert values["driver"]["enabled"] is False
    assert values["toolkit"]["enabled"] is True
    assert env_of(values["toolkit"]["env"]) == RKE2_TOOLKIT_ENV


@pytest.mark.parametrize("cluster", RELEASED)
def test_monitoring_tolerations_and_namespace(gpu_plan: Plan, cluster: str) -> None:
    values = values_of(gpu_plan, cluster)
    monitor = values["dcgmExporter"]["serviceMonitor"]
    assert values["dcgmExporter"]["enabled"] is True
    # No ServiceMonitor without the observability add-on, which brings its CRD.
    assert monitor["enabled"] is False
    assert monitor["additionalLabels"] == {"meridian.io/scrape": "true"}
    assert tolerated(GPU_TAINT, values["daemonsets"]["tolerations"])
    assert not tolerated({"key": "other", "value": "", "effect": "NoSchedule"}, values["daemonsets"]["tolerations"])

    namespace = gpu_plan.one(NAMESPACE, f"{cluster}-gpu-operator")["inputs"]
    assert namespace["metadata"]["name"] == NAMESPACE_NAME
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert release_of(gpu_plan, cluster)["inputs"]["namespace"] == NAMESPACE_NAME


@pytest.mark.parametrize("cluster", RELEASED)
def test_time_slicing_config_map(gpu_plan: Plan, cluster: str) -> None:
    replicas = EXPECT[cluster].replicas
    plugin = values_of(gpu_plan, cluster)["devicePlugin"]
    config = config_map(gpu_plan, cluster, "time-slicing")
    if not replicas:
        assert config is None
        assert plugin.get("config", {}).get("name", "") == ""
        return
    assert config is not None
    data = config["inputs"]["data"]
    assert set(data) == {f"time-sliced-{n}" for n in replicas}
    for n in replicas:
        parsed = yaml.safe_load(data[f"time-sliced-{n}"])
        assert parsed["version"] == "v1"
        assert parsed["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": n}]
    # The chart must use the ConfigMap, not create its own of the same name.
    assert plugin["config"]["name"] == config["inputs"]["metadata"]["name"]
    assert plugin["config"]["create"] is False
    assert config["inputs"]["metadata"]["namespace"] == NAMESPACE_NAME


@pytest.mark.parametrize("cluster", RELEASED)
def test_mig_parted_config_map(gpu_plan: Plan, cluster: str) -> None:
    expected = EXPECT[cluster].mig_configs
    manager = values_of(gpu_plan, cluster)["migManager"]
    config = config_map(gpu_plan, cluster, "mig-parted")
    if expected is None:
        assert config is None
        assert manager["config"]["name"] == ""  # the MIG manager's generated configuration
        return
    assert config is not None
    assert set(config["inputs"]["data"]) == {"config.yaml"}
    parsed = yaml.safe_load(config["inputs"]["data"]["config.yaml"])
    assert parsed["version"] == "v1"
    configs = parsed["mig-configs"]
    assert set(configs) == set(expected)
    assert configs["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    assert {"devices": "all", "mig-enabled": True, "mig-devices": CUSTOM} in configs[CUSTOM_NAME]
    assert manager["config"] == {
        "name": config["inputs"]["metadata"]["name"],
        "create": False,
        "default": "all-disabled",
    }
    assert config["inputs"]["metadata"]["namespace"] == NAMESPACE_NAME


@pytest.mark.parametrize("cluster", ["custom", "models", "mag-mig"])
def test_mig_parted_offers_every_pools_layout(gpu_plan: Plan, cluster: str) -> None:
    config = config_map(gpu_plan, cluster, "mig-parted")
    assert config is not None
    configs = yaml.safe_load(config["inputs"]["data"]["config.yaml"])["mig-configs"]
    expected = EXPECT[cluster].mig_configs
    assert expected is not None
    for name, layouts in expected.items():
        offered = [entry.get("mig-devices") for entry in configs[name]]
        for layout in layouts:
            assert layout in offered, f"{name} does not offer {layout}: {configs[name]}"


@pytest.mark.parametrize("cluster", RELEASED)
def test_objects_use_the_clusters_provider_and_release_waits_for_config(gpu_plan: Plan, cluster: str) -> None:
    provider = k8s_provider_urn(gpu_plan, cluster)
    children = gpu_plan.children(operator_of(gpu_plan, cluster)["urn"])
    expect = EXPECT[cluster]
    config_maps = {r["urn"] for r in children if r["type"] == CONFIG_MAP}
    assert len(config_maps) == bool(expect.replicas) + (expect.mig_configs is not None)
    assert {r["type"] for r in children} == {NAMESPACE, RELEASE} | ({CONFIG_MAP} if config_maps else set())
    for child in children:
        assert child["provider"].startswith(f"{provider}::"), child["urn"]
    release = release_of(gpu_plan, cluster)
    assert config_maps <= set(release["depends_on"])
    namespace = gpu_plan.one(NAMESPACE, f"{cluster}-gpu-operator")["urn"]
    assert namespace in release["depends_on"]


def test_values_need_a_gpu_pool(base_platform: dict[str, Any]) -> None:
    from components.addons.gpu_operator import gpu_operator_values
    from components.spec import parse_platform

    platform = {**base_platform, "clusters": {"cpu": _openstack("rke2", {"cpu": _pool("m1.large", 2)})}}
    cluster = parse_platform(platform, "stacks/Pulumi.unit.yaml").clusters["cpu"]
    with pytest.raises(ValueError) as caught:
        gpu_operator_values(cluster)
    assert caught.value.args == ("the GPU Operator is only installed on clusters with GPU pools",)


def test_the_release_record_names_its_namespace_for_any_delivery(base_platform: dict[str, Any]) -> None:
    """The record is whole without the Namespace resource: GitOps delivery reads the namespace from it."""
    from components.addons.gpu_operator import gpu_operator_release
    from components.spec import parse_platform

    pools = {
        "cpu": _pool("m1.large", 2),
        "gpu": {**_pool("vm.a100.1gpu", 1), "gpu": {"model": "A100-80GB", "count": 1}},
    }
    platform = {**base_platform, "clusters": {"lab": _openstack("rke2", pools)}}
    cluster = parse_platform(platform, "stacks/Pulumi.unit.yaml").clusters["lab"]
    record = gpu_operator_release("lab", cluster)
    assert (record.resource, record.release_name, record.namespace) == (
        "lab-gpu-operator",
        "gpu-operator",
        "gpu-operator",
    )
    assert record.chart.name == CHART


def test_gpu_summary_output(gpu_plan: Plan) -> None:
    assert gpu_plan.outputs["gpus"] == {name: expect.gpus for name, expect in EXPECT.items()}


@pytest.mark.parametrize("cluster", sorted(EXPECT))
def test_operator_outputs_say_what_runs_where(gpu_plan: Plan, cluster: str) -> None:
    # Magnum's operator is the driver's release (cluster-addons: nvidiaGPUOperator); Meridian does not pick its version.
    version = "adopted: nvidia-gpu-operator" if cluster in ADOPTED else "v26.7.0"
    assert gpu_plan.component_outputs[operator_of(gpu_plan, cluster)["urn"]] == {
        "cluster": cluster,
        "namespace": "gpu-operator",
        "version": version,
        "resources": EXPECT[cluster].gpus,
    }


# -- node labels and taints reach the nodes -----------------------------------------------------


@pytest.mark.parametrize("cluster", RKE2_CLUSTERS)
def test_rke2_agents_register_with_pool_and_partition_labels(gpu_plan: Plan, cluster: str) -> None:
    expect = EXPECT[cluster]
    time_slicing = config_map(gpu_plan, cluster, "time-slicing")
    for pool in CLUSTERS[cluster]["node_pools"]:
        labels = labels_of(agent_config(gpu_plan, cluster, pool)["node-label"])
        assert labels[POOL_LABEL] == pool
        partition = {k: v for k, v in labels.items() if k in (MIG_LABEL, PLUGIN_LABEL)}
        assert partition == expect.partition.get(pool, {}), pool
        # The operator owns this label (it sets it from NFD's PCI labels, resets it otherwise).
        assert "nvidia.com/gpu.present" not in labels
        # Every configuration a node is labelled with exists where its component looks for it.
        if PLUGIN_LABEL in labels:
            assert time_slicing is not None
            assert labels[PLUGIN_LABEL] in time_slicing["inputs"]["data"]
        if MIG_LABEL in labels and expect.mig_configs is not None:
            assert labels[MIG_LABEL] in expect.mig_configs


@pytest.mark.parametrize("cluster", EKS_CLUSTERS)
def test_eks_node_groups_register_with_pool_and_partition_labels(gpu_plan: Plan, cluster: str) -> None:
    time_slicing = config_map(gpu_plan, cluster, "time-slicing")
    for pool in CLUSTERS[cluster]["node_pools"]:
        labels = gpu_plan.one(NODE_GROUP, f"{cluster}-{pool}-nodes")["inputs"].get("labels", {})
        # The GPU summary's node_selector for the pool.
        assert labels.get(POOL_LABEL) == pool
        partition = {k: v for k, v in labels.items() if k in (MIG_LABEL, PLUGIN_LABEL)}
        assert partition == EXPECT[cluster].partition.get(pool, {}), pool
        assert "nvidia.com/gpu.present" not in labels
        if PLUGIN_LABEL in labels:
            assert time_slicing is not None
            assert labels[PLUGIN_LABEL] in time_slicing["inputs"]["data"]


def _gpu_node_taints(plan: Plan, cluster: str) -> list[dict[str, str]]:
    taints: list[dict[str, str]] = []
    for pool, spec in CLUSTERS[cluster]["node_pools"].items():
        if "gpu" not in spec:
            continue
        if EXPECT[cluster].backend == "rke2":
            taints += [rke2_taint(t) for t in agent_config(plan, cluster, pool).get("node-taint", [])]
        else:
            group = plan.one(NODE_GROUP, f"{cluster}-{pool}-nodes")["inputs"]
            taints += [{**t, "effect": EKS_TAINT_EFFECTS[t["effect"]]} for t in group.get("taints", [])]
    assert GPU_TAINT in taints
    return taints


@pytest.mark.parametrize(
    "cluster",
    [pytest.param(name) for name in RKE2_CLUSTERS + EKS_CLUSTERS],
)
def test_operands_tolerate_every_gpu_node_taint(gpu_plan: Plan, cluster: str) -> None:
    values = values_of(gpu_plan, cluster)
    tolerations = values["daemonsets"]["tolerations"]
    # The NFD worker has tolerations of its own; unless it runs on a GPU node, the operator never
    # learns the node has GPUs and runs nothing there (gpu-operator nodelabeling_controller.go).
    nfd = values["node-feature-discovery"]["worker"]["tolerations"]
    assert CONTROL_PLANE_TOLERATION in nfd
    for taint in _gpu_node_taints(gpu_plan, cluster):
        if taint["effect"] != "PreferNoSchedule":
            assert tolerated(taint, tolerations), taint
            assert tolerated(taint, nfd), taint


def test_a_pool_taint_of_its_own_reaches_the_nfd_worker(gpu_plan: Plan) -> None:
    # "shared" has a whole-GPU pool tainted dedicated=ml:NoSchedule besides the GPU taint.
    nfd = values_of(gpu_plan, "shared")["node-feature-discovery"]["worker"]["tolerations"]
    assert tolerated({"key": "dedicated", "value": "ml", "effect": "NoSchedule"}, nfd)
    assert not tolerated({"key": "other", "value": "", "effect": "NoSchedule"}, nfd)


# -- magnum: the driver's operator, adopted --------------------------------------------------------------


def _patch(plan: Plan, cluster: str) -> dict[str, Any]:
    return plan.one(CLUSTER_POLICY_PATCH, f"{cluster}-gpu-operator-cluster-policy")


@pytest.mark.parametrize("cluster", ADOPTED)
def test_magnum_adopts_the_drivers_operator(gpu_plan: Plan, cluster: str) -> None:
    expect = EXPECT[cluster]
    children = gpu_plan.children(operator_of(gpu_plan, cluster)["urn"])
    # No second operator (its cluster-scoped objects would collide with release nvidia-gpu-operator's),
    # no Namespace (the driver's release made gpu-operator).
    config_maps = {CONFIG_MAP} if expect.replicas or expect.mig_configs else set()
    assert {r["type"] for r in children} == {CLUSTER_POLICY_PATCH} | config_maps
    patch = _patch(gpu_plan, cluster)
    inputs = patch["inputs"]
    assert (inputs["apiVersion"], inputs["kind"], inputs["metadata"]["name"]) == (
        "nvidia.com/v1",
        "ClusterPolicy",
        "cluster-policy",
    )
    assert inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
    spec = inputs["spec"]
    assert env_of(spec["migManager"]["env"]) == {"WITH_REBOOT": "true"}
    assert spec["mig"]["strategy"] == (expect.mig_strategy or "single")
    for pool, pool_spec in CLUSTERS[cluster]["node_pools"].items():
        if "gpu" in pool_spec:
            for taint in [GPU_TAINT, *pool_spec.get("taints", [])]:
                assert tolerated({"value": "", **taint}, spec["daemonsets"]["tolerations"]), (pool, taint)
    provider = k8s_provider_urn(gpu_plan, cluster)
    assert patch["provider"].startswith(f"{provider}::")
    config = config_map(gpu_plan, cluster, "time-slicing")
    if expect.replicas:
        assert config is not None
        assert config["inputs"]["metadata"]["namespace"] == NAMESPACE_NAME
        assert spec["devicePlugin"]["config"] == {"name": config["inputs"]["metadata"]["name"], "default": ""}
        assert config["urn"] in patch["depends_on"]
    else:
        assert config is None and "devicePlugin" not in spec
    mig_parted = config_map(gpu_plan, cluster, "mig-parted")
    if expect.mig_configs:
        assert mig_parted is not None
        assert spec["migManager"]["config"] == {
            "name": mig_parted["inputs"]["metadata"]["name"],
            "default": "all-disabled",
        }
        assert mig_parted["urn"] in patch["depends_on"]
    else:
        assert mig_parted is None and "config" not in spec["migManager"]


@pytest.mark.parametrize("cluster", ADOPTED)
def test_cluster_policy_patch_fits_the_crd(gpu_plan: Plan, cluster: str) -> None:
    import jsonschema

    schema = crd_schema(CHART_DIR / "crds" / "nvidia.com_clusterpolicies.yaml", "v1", partial=True)
    inputs = _patch(gpu_plan, cluster)["inputs"]
    document = {"apiVersion": inputs["apiVersion"], "kind": inputs["kind"], "spec": inputs["spec"]}
    validate(document, schema)
    # ... and the schema catches a wrong type and a misspelled field.
    for path, value in ((("mig", "strategy"), ["single"]), (("migManager", "confg"), {"name": "x"})):
        broken = copy.deepcopy(document)
        broken["spec"][path[0]][path[1]] = value
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, schema)


# -- Kubernetes OpenAPI schema ---------------------------------------------------------------------


def _manifests(plan: Plan, cluster: str) -> list[dict[str, Any]]:
    children = plan.children(operator_of(plan, cluster)["urn"])
    return [copy.deepcopy(r["inputs"]) for r in children if r["type"] in (NAMESPACE, CONFIG_MAP)]


@pytest.mark.parametrize("cluster", sorted(EXPECT))
def test_objects_validate_against_the_kubernetes_schema(gpu_plan: Plan, cluster: str) -> None:
    version = CLUSTERS[cluster]["version"]
    manifests = _manifests(gpu_plan, cluster)
    assert {m["kind"] for m in manifests} >= ({"Namespace"} if cluster in RELEASED else set())
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_broken_objects_fail_the_schema(gpu_plan: Plan) -> None:
    manifests = {m["kind"]: m for m in _manifests(gpu_plan, "custom")}
    broken_map = copy.deepcopy(manifests["ConfigMap"])
    broken_map["data"]["config.yaml"] = {"version": "v1"}  # data values are strings
    broken_namespace = copy.deepcopy(manifests["Namespace"])
    broken_namespace["metadata"]["lables"] = broken_namespace["metadata"].pop("labels")  # strict: no unknown fields
    for broken in (broken_map, broken_namespace):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, "1.34", strict=True)


def test_service_monitor_follows_the_observability_addon() -> None:
    from components.addons.gpu_operator import gpu_operator_values
    from components.spec import ClusterSpec

    cluster = {
        "site": "s",
        "backend": "rke2",
        "version": "1.33",
        "control_plane": {"flavor": "m1.large"},
        "node_pools": {
            "system": {"flavor": "m1.large"},
            "g": {"flavor": "vm.a100.1gpu", "gpu": {"model": "A100-80GB", "count": 1}},
        },
    }
    off = gpu_operator_values(ClusterSpec.model_validate(cluster))
    on = gpu_operator_values(ClusterSpec.model_validate({**cluster, "addons": {"observability": {"enabled": True}}}))
    assert off["dcgmExporter"]["serviceMonitor"]["enabled"] is False
    assert on["dcgmExporter"]["serviceMonitor"]["enabled"] is True


# -- what the chart really renders from these values (meridian render: the real helm template) -----


_RENDERS: dict[str, Any] = PlanCache()


def rendered_objects(plan: Plan, cluster: str) -> list[dict[str, Any]]:
    from scripts.render import releases, render_release

    if cluster not in _RENDERS:
        (record,) = [r for r in releases(plan, plan) if r.cluster == cluster]
        _RENDERS[cluster] = render_release(record, [], "gpu-operator tests").objects
    objects: list[dict[str, Any]] = _RENDERS[cluster]
    return objects


@pytest.mark.parametrize("cluster", RELEASED)
def test_rendered_cluster_policy_and_nfd_worker_carry_the_settings(gpu_plan: Plan, cluster: str) -> None:
    expect = EXPECT[cluster]
    objects = rendered_objects(gpu_plan, cluster)
    (policy,) = [o for o in objects if o["kind"] == "ClusterPolicy"]
    spec = policy["spec"]
    # The operands (created by the operator from this ClusterPolicy) and NFD's worker (a DaemonSet the
    # chart renders from its subchart) tolerate every taint of every GPU node.
    (worker,) = [o for o in objects if o["kind"] == "DaemonSet" and o["metadata"]["name"].endswith("-worker")]
    worker_tolerations = worker["spec"]["template"]["spec"]["tolerations"]
    for taint in _gpu_node_taints(gpu_plan, cluster):
        if taint["effect"] != "PreferNoSchedule":
            assert tolerated(taint, spec["daemonsets"]["tolerations"]), taint
            assert tolerated(taint, worker_tolerations), taint
    assert spec["mig"]["strategy"] == (expect.mig_strategy or "single")
    assert env_of(spec["migManager"]["env"])["WITH_REBOOT"] == ("false" if expect.backend == "eks" else "true")
    toolkit = env_of(spec["toolkit"].get("env", []))
    assert toolkit == (RKE2_TOOLKIT_ENV if expect.backend == "rke2" else {})
    assert spec["driver"]["enabled"] is (expect.backend != "eks")
    plugin = spec["devicePlugin"].get("config", {})
    assert (plugin.get("name") == "meridian-time-slicing") is bool(expect.replicas)
    manager = spec["migManager"].get("config", {})
    assert (manager.get("name") == "meridian-mig-parted") is (expect.mig_configs is not None)
    # Without the observability add-on no ServiceMonitor is rendered (its CRD would be missing).
    assert not [o for o in objects if o["kind"] == "ServiceMonitor"]
