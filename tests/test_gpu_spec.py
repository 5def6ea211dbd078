"""GpuSpec and the GPU catalog: MIG arithmetic, mig-parted configuration names, resources per sharing mode.

The expected MIG configurations are written out by hand from NVIDIA mig-parted's built-in
configurations (deployments/systemd/config-default.yaml, the file the MIG manager ships), not
derived from the catalog's own arithmetic: a wrong slice size or a wrong `most()` shows up here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from components.spec import ClusterSpec, GpuSpec, NodePoolSpec
from components.spec.catalog import GPU_MODELS
from components.spec.clusters import DEVICE_PLUGIN_CONFIG_LABEL, GPU_TAINT, MIG_CONFIG_LABEL, MigSpec
from components.spec.errors import format_problems
from components.spec.gpu import ClusterGpuSummary, PoolGpuOffer, gpu_summary

#: mig-parted config-default.yaml, per model: configuration name -> MIG devices per GPU.
MIG_PARTED_DEFAULTS: dict[str, dict[str, dict[str, int]]] = {
    "A100-40GB": {
        "all-1g.5gb": {"1g.5gb": 7},
        "all-1g.5gb.me": {"1g.5gb+me": 1},
        "all-1g.10gb": {"1g.10gb": 4},
        "all-2g.10gb": {"2g.10gb": 3},
        "all-3g.20gb": {"3g.20gb": 2},
        "all-4g.20gb": {"4g.20gb": 1},
        "all-7g.40gb": {"7g.40gb": 1},
        "all-balanced": {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1},
    },
    "A100-80GB": {
        "all-1g.10gb": {"1g.10gb": 7},
        "all-1g.10gb.me": {"1g.10gb+me": 1},
        "all-1g.20gb": {"1g.20gb": 4},
        "all-2g.20gb": {"2g.20gb": 3},
        "all-3g.40gb": {"3g.40gb": 2},
        "all-4g.40gb": {"4g.40gb": 1},
        "all-7g.80gb": {"7g.80gb": 1},
        "all-balanced": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1},
    },
    "A30": {
        "all-1g.6gb": {"1g.6gb": 4},
        "all-1g.6gb.me": {"1g.6gb+me": 1},
        "all-2g.12gb": {"2g.12gb": 2},
        "all-2g.12gb.me": {"2g.12gb+me": 1},
        "all-4g.24gb": {"4g.24gb": 1},
        "all-balanced": {"1g.6gb": 2, "2g.12gb": 1},
    },
}
MIG_PARTED_DEFAULTS["H100-80GB"] = MIG_PARTED_DEFAULTS["A100-80GB"]
NO_MIG = ["A10G", "L4", "L40S", "T4"]


def gpu(**fields: Any) -> dict[str, Any]:
    """A pool's gpu block as a stack file holds it (validated inside the test, not at collection)."""
    return fields


def mig(model: str, count: int, strategy: str, **layout: Any) -> dict[str, Any]:
    return gpu(model=model, count=count, sharing="mig", mig={"strategy": strategy, **layout})


def problems(**fields: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        GpuSpec.model_validate(fields)
    return format_problems(caught.value, "gpu")


# -- catalog ------------------------------------------------------------------------------------


def test_catalog_covers_the_expected_models() -> None:
    assert set(GPU_MODELS) == {*MIG_PARTED_DEFAULTS, *NO_MIG}


@pytest.mark.parametrize("model", sorted(MIG_PARTED_DEFAULTS))
def test_mig_configs_match_mig_parted_defaults(model: str) -> None:
    assert GPU_MODELS[model].supports_mig
    assert GPU_MODELS[model].mig_configs == MIG_PARTED_DEFAULTS[model]
    # Counts are whole instances (4, never 4.0): they become resource quantities in the plan.
    counts = [n for layout in GPU_MODELS[model].mig_configs.values() for n in layout.values()]
    assert all(type(n) is int for n in counts)


@pytest.mark.parametrize("model", NO_MIG)
def test_models_without_mig_offer_no_configuration(model: str) -> None:
    assert not GPU_MODELS[model].supports_mig
    assert GPU_MODELS[model].mig_configs == {}
    assert GPU_MODELS[model].profiles == ()


@pytest.mark.parametrize(
    ("model", "profile", "slices"),
    [
        ("A100-40GB", "1g.5gb", (1, 1)),
        ("A100-40GB", "3g.20gb", (3, 4)),
        ("A100-40GB", "7g.40gb", (7, 8)),
        ("A100-80GB", "1g.20gb", (1, 2)),
        ("A100-80GB", "4g.40gb", (4, 4)),
        ("A100-80GB", "1g.10gb+me", (1, 1)),
        ("A30", "2g.12gb", (2, 2)),
        ("A30", "4g.24gb", (4, 4)),
    ],
)
def test_profile_slices(model: str, profile: str, slices: tuple[int, int]) -> None:
    assert GPU_MODELS[model].slices(profile) == slices


# -- resources per sharing mode -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "resources"),
    [
        pytest.param(gpu(model="L40S", count=4), {"nvidia.com/gpu": 4}, id="exclusive"),
        pytest.param(
            gpu(model="A30", count=2, sharing="time-sliced", time_slicing={"replicas": 4}),
            {"nvidia.com/gpu": 8},
            id="time-sliced",
        ),
        pytest.param(mig("A100-80GB", 2, "single", profile="all-1g.10gb"), {"nvidia.com/gpu": 14}, id="single"),
        pytest.param(mig("A100-40GB", 1, "single", profile="all-3g.20gb"), {"nvidia.com/gpu": 2}, id="single-40gb"),
        pytest.param(
            mig("A100-80GB", 2, "mixed", profile="all-balanced"),
            {"nvidia.com/mig-1g.10gb": 4, "nvidia.com/mig-2g.20gb": 2, "nvidia.com/mig-3g.40gb": 2},
            id="mixed-balanced",
        ),
        pytest.param(
            mig("A30", 1, "mixed", profile="all-balanced"),
            {"nvidia.com/mig-1g.6gb": 2, "nvidia.com/mig-2g.12gb": 1},
            id="mixed-a30",
        ),
        pytest.param(
            mig("H100-80GB", 8, "mixed", custom={"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}),
            {"nvidia.com/mig-1g.10gb": 16, "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-3g.40gb": 8},
            id="mixed-custom",
        ),
        pytest.param(
            # The device plugin advertises a profile's `+me` as `.me` (a resource name has no `+`).
            mig("A100-80GB", 1, "mixed", custom={"1g.10gb+me": 1, "2g.20gb": 1, "3g.40gb": 1}),
            {"nvidia.com/mig-1g.10gb.me": 1, "nvidia.com/mig-2g.20gb": 1, "nvidia.com/mig-3g.40gb": 1},
            id="mixed-media-engine",
        ),
        pytest.param(mig("A100-80GB", 4, "single", custom={"2g.20gb": 3}), {"nvidia.com/gpu": 12}, id="single-custom"),
    ],
)
def test_resources_per_node(spec: dict[str, Any], resources: dict[str, int]) -> None:
    assert GpuSpec.model_validate(spec).resources() == resources


# -- configuration names and node labels -------------------------------------------------------


def test_profile_config_name_is_the_profile() -> None:
    assert MigSpec(strategy="mixed", profile="all-balanced").config_name == "all-balanced"


@pytest.mark.parametrize(
    ("custom", "name"),
    [
        ({"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}, "custom-2x1g.10gb-1x2g.20gb-1x3g.40gb"),
        ({"4g.20gb": 1, "3g.20gb": 1}, "custom-1x3g.20gb-1x4g.20gb"),
        ({"1g.10gb+me": 1, "3g.40gb": 1, "2g.20gb": 1}, "custom-1x1g.10gb.me-1x2g.20gb-1x3g.40gb"),
    ],
)
def test_custom_config_name_comes_from_the_layout(custom: dict[str, int], name: str) -> None:
    spec = MigSpec(strategy="mixed", custom=custom)
    assert spec.config_name == name
    # A label value: at most 63 characters of [A-Za-z0-9._-].
    assert len(name) <= 63
    assert all(c.isalnum() or c in "._-" for c in name)
    # The same layout written in another order is the same configuration.
    assert MigSpec(strategy="mixed", custom=dict(reversed(list(custom.items())))).config_name == name


@pytest.mark.parametrize(
    ("spec", "labels"),
    [
        pytest.param(gpu(model="T4", count=1), {}, id="exclusive"),
        pytest.param(
            gpu(model="A30", count=1, sharing="time-sliced", time_slicing={"replicas": 3}),
            {DEVICE_PLUGIN_CONFIG_LABEL: "time-sliced-3"},
            id="time-sliced",
        ),
        pytest.param(
            mig("A100-80GB", 1, "single", profile="all-1g.10gb"), {MIG_CONFIG_LABEL: "all-1g.10gb"}, id="mig-profile"
        ),
        pytest.param(
            mig("A100-80GB", 1, "mixed", custom={"4g.40gb": 1, "3g.40gb": 1}),
            {MIG_CONFIG_LABEL: "custom-1x3g.40gb-1x4g.40gb"},
            id="mig-custom",
        ),
    ],
)
def test_partition_labels(spec: dict[str, Any], labels: dict[str, str]) -> None:
    assert GpuSpec.model_validate(spec).partition_labels == labels


def test_gpu_pool_labels_and_taints() -> None:
    pool = NodePoolSpec.model_validate(
        {
            "flavor": "vm.a30.1gpu",
            "labels": {"team": "ml"},
            "taints": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
            "gpu": {"model": "A30", "count": 1, "sharing": "time-sliced", "time_slicing": {"replicas": 2}},
        }
    )
    assert pool.node_labels == {DEVICE_PLUGIN_CONFIG_LABEL: "time-sliced-2", "team": "ml"}
    assert [(t.key, t.value, t.effect) for t in pool.node_taints] == [GPU_TAINT, ("dedicated", "ml", "NoSchedule")]
    cpu = NodePoolSpec.model_validate({"flavor": "m1.large", "labels": {"team": "ml"}})
    assert cpu.node_labels == {"team": "ml"}
    assert cpu.node_taints == []


def test_a_pool_may_set_the_gpu_taint_itself() -> None:
    pool = NodePoolSpec.model_validate(
        {
            "flavor": "vm.a30.1gpu",
            "taints": [{"key": "nvidia.com/gpu", "effect": "NoExecute"}],
            "gpu": {"model": "A30", "count": 1},
        }
    )
    assert [(t.key, t.value, t.effect) for t in pool.node_taints] == [("nvidia.com/gpu", "", "NoExecute")]


@pytest.mark.parametrize(("backend", "driver"), [("eks", "preinstalled"), ("rke2", "operator"), ("magnum", "operator")])
def test_driver_default_per_backend(backend: str, driver: str) -> None:
    extra: dict[str, Any] = {"image": "capi-ubuntu"} if backend == "magnum" else {}
    if backend != "eks":
        extra["control_plane"] = {"count": 1, "flavor": "m1.large"}
    cluster = ClusterSpec.model_validate(
        {
            "site": "s",
            "backend": backend,
            "version": "1.34",
            "node_pools": {"system": {"flavor": "y"}, "g": {"flavor": "x", "gpu": {"model": "T4", "count": 1}}},
            **extra,
        }
    )
    spec = cluster.node_pools["g"].gpu
    assert spec is not None
    assert cluster.gpu_driver(spec) == driver
    assert cluster.gpu_driver(spec.model_copy(update={"driver": "preinstalled"})) == "preinstalled"


# -- rules of one GPU block (the error fixtures cover the same rules through a whole stack) ------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"model": "L4", "count": 1, "sharing": "mig", "mig": {"strategy": "single", "profile": "all-1g.6gb"}},
            [("gpu.sharing", "L4 does not support MIG")],
            id="no-mig-on-l4",
        ),
        pytest.param(
            {"model": "A30", "count": 1, "sharing": "mig", "mig": {"strategy": "single", "profile": "all-1g.10gb"}},
            [("gpu.mig.profile", "A30 has no mig-parted configuration 'all-1g.10gb'")],
            id="profile-of-another-model",
        ),
        pytest.param(
            {
                "model": "A100-40GB",
                "count": 1,
                "sharing": "mig",
                "mig": {"strategy": "mixed", "custom": {"2g.20gb": 1, "1g.5gb": 1}},
            },
            [("gpu.mig.custom", "A100-40GB has no MIG profile 2g.20gb")],
            id="custom-profile-of-another-model",
        ),
        pytest.param(
            {
                "model": "A30",
                "count": 1,
                "sharing": "mig",
                "mig": {"strategy": "mixed", "custom": {"4g.24gb": 1, "1g.6gb": 1}},
            },
            [("gpu.mig.custom", "the layout needs 5 compute and 5 memory slices")],
            id="custom-too-big",
        ),
        pytest.param(
            {"model": "A30", "count": 1, "mig": {"strategy": "single", "profile": "all-1g.6gb"}},
            [("gpu.mig", "a mig block needs sharing: mig (the pool says exclusive)")],
            id="mig-block-without-sharing",
        ),
        pytest.param(
            {"model": "A30", "count": 1, "sharing": "time-sliced"},
            [("gpu.time_slicing", "sharing: time-sliced needs time_slicing.replicas")],
            id="time-sliced-without-replicas",
        ),
        pytest.param(
            {"model": "A30", "count": 1, "sharing": "mig", "mig": {"strategy": "single"}},
            [("gpu.mig", "set exactly one of 'profile'")],
            id="neither-profile-nor-custom",
        ),
        pytest.param(
            {"model": "V100", "count": 1},
            [("gpu.model", "unknown GPU model")],
            id="unknown-model",
        ),
    ],
)
def test_gpu_block_rules(fields: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    found = problems(**fields)
    assert [path for path, _ in found] == [path for path, _ in expected]
    for (_, message), (_, words) in zip(found, expected, strict=True):
        assert words in message


def test_largest_valid_layouts_are_accepted() -> None:
    # 4g.40gb + 3g.40gb and 3x 2g.20gb + 1g.10gb fill an A100-80GB exactly (NVIDIA MIG user guide).
    full = GpuSpec.model_validate(mig("A100-80GB", 1, "mixed", custom={"4g.40gb": 1, "3g.40gb": 1}))
    assert full.resources() == {"nvidia.com/mig-3g.40gb": 1, "nvidia.com/mig-4g.40gb": 1}
    small = GpuSpec.model_validate(mig("A100-80GB", 1, "mixed", custom={"2g.20gb": 3, "1g.10gb": 1}))
    assert small.mig_layout == {"2g.20gb": 3, "1g.10gb": 1}


def test_a_gpu_blocks_problems_are_joined_in_pydantics_message() -> None:
    # Outside the spec's own formatting (format_problems), pydantic's message lists every problem.
    with pytest.raises(ValidationError) as caught:
        GpuSpec.model_validate(mig("A30", 1, "mixed", custom={"4g.24gb": 1, "2g.12gb+me": 1, "1g.6gb+me": 1}))
    assert [error["msg"] for error in caught.value.errors()] == [
        "Value error, the layout needs 7 compute and 7 memory slices; each A30 has 4 and 4; "
        "a GPU has one set of media engines: at most one '+me' instance per GPU"
    ]


def test_gpu_summary_describes_each_gpu_pool() -> None:
    cluster = ClusterSpec.model_validate(
        {
            "site": "s",
            "backend": "rke2",
            "version": "1.34",
            "control_plane": {"count": 1, "flavor": "m1.large"},
            "node_pools": {
                "system": {"flavor": "m1.large"},
                "a100": {"flavor": "x", "max_size": 2, "gpu": mig("A100-80GB", 2, "mixed", profile="all-balanced")},
                "t4": {"flavor": "y", "max_size": 3, "gpu": gpu(model="T4", count=1)},
            },
        }
    )
    assert gpu_summary("lab", cluster) == ClusterGpuSummary(
        cluster="lab",
        pools={
            "a100": PoolGpuOffer(
                pool="a100",
                model="A100-80GB",
                sharing="mig",
                per_node={"nvidia.com/mig-1g.10gb": 4, "nvidia.com/mig-2g.20gb": 2, "nvidia.com/mig-3g.40gb": 2},
                gpus_per_node=2,
                max_nodes=2,
            ),
            "t4": PoolGpuOffer(
                pool="t4",
                model="T4",
                sharing="exclusive",
                per_node={"nvidia.com/gpu": 1},
                gpus_per_node=1,
                max_nodes=3,
            ),
        },
    )


def test_media_engine_profile_fits_once_per_gpu() -> None:
    found = problems(
        model="A100-80GB", count=1, sharing="mig", mig={"strategy": "mixed", "custom": {"1g.10gb+me": 2, "3g.40gb": 1}}
    )
    assert [path for path, _ in found] == ["gpu.mig.custom"]
