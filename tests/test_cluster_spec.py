"""Cluster rules that need no plan (node labels and taints, pool sizes, versions, GPU flavors), via `parse_platform`.

Everything here parses a whole platform mapping (the minimal one plus clusters), as the
program does, and looks at the validated models or the SpecError's (key path, message) pairs.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import NodePoolSpec, PlatformSpec, SpecError, parse_platform
from components.spec.catalog import BACKEND_VERSIONS, OPENSTACK_GPU_FLAVORS

SOURCE = "stacks/Pulumi.unit.yaml"
SPECS = Path(__file__).parent / "specs"
BASE: dict[str, Any] = yaml.safe_load((SPECS / "minimal.happy.yaml").read_text())["config"]["meridian:platform"]
GPU_TAINT = ("nvidia.com/gpu", "present", "NoSchedule")

#: A valid cluster of each backend on a site that can run it, with one pool `w` where pools are allowed.
CLUSTERS: dict[str, dict[str, Any]] = {
    "rke2": {
        "site": "os-a",
        "backend": "rke2",
        "control_plane": {"flavor": "m1.large"},
        "node_pools": {"w": {"flavor": "m1.large"}},
    },
    "magnum": {
        "site": "os-a",
        "backend": "magnum",
        "image": "ubuntu-2404-kube",
        "control_plane": {"flavor": "m1.large"},
        "node_pools": {"w": {"flavor": "m1.large"}},
    },
    "capi": {
        "site": "os-a",
        "backend": "capi",
        "management_cluster": "mgmt",
        "image": "ubuntu-2404-kube",
        "control_plane": {"flavor": "m1.large"},
        "node_pools": {"w": {"flavor": "m1.large"}},
    },
    "eks": {"site": "aws-b", "backend": "eks", "node_pools": {"w": {"flavor": "m6i.large"}}},
    "attached": {"site": "os-a", "backend": "attached", "kubeconfig": "config:hpcKubeconfig"},
}
#: The management cluster `platform` adds for capi clusters that name `mgmt`.
MANAGEMENT = {**CLUSTERS["rke2"], "version": "1.34"}


def cluster(backend: str, version: str = "", **changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(CLUSTERS[backend])
    spec["version"] = version or next(iter(BACKEND_VERSIONS[backend]))
    spec.update(changes)
    pools = spec.get("node_pools") or {}
    if pools and all(isinstance(p, dict) and p.get("gpu") for p in pools.values()):
        # Every cluster needs a pool without GPUs for its system services.
        pools["system"] = {"flavor": "m6i.large" if backend == "eks" else "m1.large"}
    return spec


def platform(
    clusters: dict[str, dict[str, Any]], edit: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    raw["clusters"] = clusters
    if any(c.get("management_cluster") == "mgmt" for c in clusters.values()) and "mgmt" not in clusters:
        raw["clusters"] = {**clusters, "mgmt": copy.deepcopy(MANAGEMENT)}
    if edit is not None:
        edit(raw)
    return raw


def parse(raw: dict[str, Any]) -> PlatformSpec:
    return parse_platform(raw, SOURCE)


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse(raw)
    assert caught.value.source == SOURCE
    return caught.value.problems


def pool(pool_spec: dict[str, Any], backend: str = "rke2") -> NodePoolSpec:
    """The validated pool `p` of a cluster of `backend` holding just that pool."""
    spec = parse(platform({"c": cluster(backend, node_pools={"p": pool_spec})}))
    return spec.clusters["c"].node_pools["p"]


def taints_of(spec: NodePoolSpec) -> list[tuple[str, str, str]]:
    return [(t.key, t.value, t.effect) for t in spec.node_taints]


# --------------------------------------------------------------------------------------------
# Node labels and taints


def test_gpu_pool_registers_with_the_gpu_label_and_taint_first() -> None:
    spec = pool(
        {
            "flavor": "vm.a100.1gpu",
            "labels": {"tier": "train"},
            "taints": [{"key": "dedicated", "value": "train", "effect": "NoSchedule"}],
            "gpu": {"model": "A100-80GB", "count": 1},
        }
    )
    # No nvidia.com/gpu.present: the GPU Operator owns that label (it resets it without NFD's labels).
    assert list(spec.node_labels.items()) == [("tier", "train")]
    assert taints_of(spec) == [GPU_TAINT, ("dedicated", "train", "NoSchedule")]
    # The spec's own lists are left alone: the defaults are added, not stored.
    assert spec.labels == {"tier": "train"}
    assert len(spec.taints) == 1


def test_a_pool_label_overrides_the_partitioning_default() -> None:
    spec = pool(
        {
            "flavor": "vm.a100.1gpu",
            "labels": {"nvidia.com/mig.config": "all-disabled"},
            "gpu": {
                "model": "A100-80GB",
                "count": 1,
                "sharing": "mig",
                "mig": {"strategy": "single", "profile": "all-1g.10gb"},
            },
        }
    )
    assert spec.node_labels["nvidia.com/mig.config"] == "all-disabled"


def test_a_pool_setting_the_gpu_taint_key_replaces_the_default_taint() -> None:
    spec = pool(
        {
            "flavor": "vm.a100.1gpu",
            "taints": [
                {"key": "dedicated", "value": "train", "effect": "NoSchedule"},
                {"key": "nvidia.com/gpu", "effect": "NoExecute"},
            ],
            "gpu": {"model": "A100-80GB", "count": 1},
        }
    )
    assert taints_of(spec) == [("dedicated", "train", "NoSchedule"), ("nvidia.com/gpu", "", "NoExecute")]


def test_cpu_pool_gets_no_gpu_defaults() -> None:
    spec = pool(
        {
            "flavor": "m1.large",
            "labels": {"tier": "batch"},
            "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
        }
    )
    assert spec.node_labels == {"tier": "batch"}
    assert taints_of(spec) == [("dedicated", "batch", "NoSchedule")]
    bare = pool({"flavor": "m1.large"})
    assert bare.node_labels == {}
    assert bare.node_taints == []


# --------------------------------------------------------------------------------------------
# Pool sizes


@pytest.mark.parametrize(
    ("sizes", "initial"),
    [
        pytest.param({}, 1, id="defaults"),
        pytest.param({"min_size": 2, "max_size": 4}, 2, id="min"),
        pytest.param({"min_size": 2, "max_size": 4, "desired_size": 3}, 3, id="desired"),
        pytest.param({"min_size": 0, "max_size": 3}, 0, id="zero-stays-zero"),
        pytest.param({"min_size": 0, "max_size": 3, "desired_size": 0}, 0, id="desired-zero"),
        pytest.param({"min_size": 1, "max_size": 3, "desired_size": 3}, 3, id="desired-max"),
    ],
)
def test_initial_size(sizes: dict[str, int], initial: int) -> None:
    assert pool({"flavor": "m1.large", **sizes}).initial_size == initial


def test_default_pool_sizes() -> None:
    spec = pool({"flavor": "m1.large"})
    assert (spec.min_size, spec.max_size, spec.desired_size) == (1, 3, None)


# --------------------------------------------------------------------------------------------
# Versions: what the errors list is what the catalog holds, and every listed version is accepted


@pytest.mark.parametrize("backend", sorted(CLUSTERS))
def test_version_error_lists_exactly_the_supported_versions(backend: str) -> None:
    assert set(BACKEND_VERSIONS) == set(CLUSTERS)
    [(path, message)] = problems(platform({"c": cluster(backend, "1.99")}))
    assert path == "meridian:platform.clusters.c.version"
    match = re.fullmatch(rf"{backend} clusters can run Kubernetes (?P<versions>.+), not 1\.99", message)
    assert match, message
    listed = match["versions"].split(", ")
    assert listed == list(BACKEND_VERSIONS[backend])
    for version in listed:
        spec = parse(platform({"c": cluster(backend, version)}))
        assert spec.clusters["c"].version == version


def test_rke2_versions_are_release_tags_of_their_minor() -> None:
    for minor, tag in BACKEND_VERSIONS["rke2"].items():
        assert re.fullmatch(rf"v{re.escape(minor)}\.[0-9]+\+rke2r[0-9]+", tag), (minor, tag)


# --------------------------------------------------------------------------------------------
# GPU flavors: the site's table over the catalog, all problems of a cluster at once


def _site_flavors(flavors: dict[str, dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["sites"]["os-a"]["openstack"]["gpu_flavors"] = flavors

    return edit


def test_a_site_gpu_flavor_overrides_the_catalog() -> None:
    assert OPENSTACK_GPU_FLAVORS["vm.a100.1gpu"].model == "A100-80GB"
    edit = _site_flavors({"vm.a100.1gpu": {"model": "A30", "count": 1}})
    a30 = {"flavor": "vm.a100.1gpu", "gpu": {"model": "A30", "count": 1}}
    assert parse(platform({"c": cluster("rke2", node_pools={"g": a30})}, edit)).clusters["c"].node_pools["g"].gpu
    a100 = {"flavor": "vm.a100.1gpu", "gpu": {"model": "A100-80GB", "count": 1}}
    assert problems(platform({"c": cluster("rke2", node_pools={"g": a100})}, edit)) == [
        ("meridian:platform.clusters.c.node_pools.g.gpu.model", "vm.a100.1gpu carries A30, not A100-80GB")
    ]


def test_a_site_gpu_flavor_needs_a_gpu_block() -> None:
    edit = _site_flavors({"gpu-l4": {"model": "L4", "count": 2}})
    ok = {"flavor": "gpu-l4", "gpu": {"model": "L4", "count": 2}}
    assert parse(platform({"c": cluster("rke2", node_pools={"g": ok})}, edit))
    [(path, message)] = problems(platform({"c": cluster("rke2", node_pools={"g": {"flavor": "gpu-l4"}})}, edit))
    assert path == "meridian:platform.clusters.c.node_pools.g.gpu"
    assert message.startswith("gpu-l4 has 2x L4: declare the pool's gpu block")


def test_gpu_problems_of_all_pools_are_reported_together() -> None:
    pools = {
        "wrong-model": {"flavor": "g5.12xlarge", "gpu": {"model": "L4", "count": 4}},
        "wrong-count": {"flavor": "g6.12xlarge", "gpu": {"model": "L4", "count": 1}},
        "undeclared": {"flavor": "g4dn.xlarge"},
        "fine": {"flavor": "g6e.xlarge", "gpu": {"model": "L40S", "count": 1}},
    }
    assert problems(platform({"c": cluster("eks", node_pools=pools)})) == [
        ("meridian:platform.clusters.c.node_pools.wrong-model.gpu.model", "g5.12xlarge carries A10G, not L4"),
        ("meridian:platform.clusters.c.node_pools.wrong-count.gpu.count", "g6.12xlarge carries 4 GPUs, not 1"),
        (
            "meridian:platform.clusters.c.node_pools.undeclared.gpu",
            "g4dn.xlarge has 1x T4: declare the pool's gpu block so its nodes are tainted and the GPU Operator "
            "manages them",
        ),
    ]


def test_gpu_block_on_an_instance_type_without_gpus() -> None:
    gpu = {"flavor": "m6i.large", "gpu": {"model": "T4", "count": 1}}
    [(path, message)] = problems(platform({"c": cluster("eks", node_pools={"g": gpu})}))
    assert path == "meridian:platform.clusters.c.node_pools.g.flavor"
    assert message.startswith("m6i.large has no GPU on site 'aws-b' (known GPU instance types: ")


# --------------------------------------------------------------------------------------------
# Known product defects: strict xfails, so each fails as soon as it is fixed and the mark must go


def test_aws_no_gpu_hint_names_only_settings_aws_sites_have() -> None:
    gpu = {"flavor": "m6i.large", "gpu": {"model": "T4", "count": 1}}
    [(_, message)] = problems(platform({"c": cluster("eks", node_pools={"g": gpu})}))
    assert "gpu_flavors" not in message


@pytest.mark.parametrize("everywhere", ["0.0.0.0/0", "::/0"])
def test_api_cidrs_refuse_the_whole_internet(everywhere: str) -> None:
    raw = platform({"c": cluster("rke2", api_cidrs=[everywhere])})
    assert [path for path, _ in problems(raw)] == ["meridian:platform.clusters.c.api_cidrs[0]"]
