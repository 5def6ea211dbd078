"""`meridian bench`: its synthetic platforms, its floor, and the program entry it measures.

No test here times anything: the targets are measured by `meridian bench` itself. What is
checked is that the benchmark measures what it says it measures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import types
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_cli import meridian

from components.program import GC_THRESHOLDS
from components.spec import parse_platform
from scripts.bench import ADDONS, FLOOR_PROGRAM, _platform_config, floor_config, synthetic_platform
from scripts.cli import BENCH_FIELDS
from scripts.harness import STACK_TYPE, Plan, PlanRecorder, evaluate
from scripts.mocks import MeridianMocks

#: Runs the meridian command (or the benchmark) in subprocesses: end to end, and left out of
#: mutation runs, whose per-test attribution sees only this process (pyproject [tool.mutmut]).
pytestmark = pytest.mark.cli


@pytest.mark.parametrize("clusters", [1, 10, 100])
def test_synthetic_platform_is_a_valid_spec_of_that_size(clusters: int) -> None:
    spec = parse_platform(synthetic_platform(clusters), "bench")
    assert len(spec.clusters) == clusters
    for name, cluster in spec.clusters.items():
        assert set(cluster.node_pools) == {"cpu", "gpu"}, name
        assert cluster.node_pools["cpu"].gpu is None
        assert cluster.node_pools["gpu"].gpu is not None
        # Every add-on the spec offers is on, the hub included, so the benchmark grows with the product.
        assert all(getattr(cluster.addons, addon).enabled for addon in ADDONS), name
        assert cluster.addons.delivery == "direct", name
        assert cluster.addons.hub is not None, name
        if cluster.backend == "capi":
            # Built from the rke2 cluster of its group of four.
            assert spec.clusters[str(cluster.management_cluster)].backend == "rke2", name


def test_synthetic_platform_covers_every_backend_and_sharing_mode() -> None:
    spec = parse_platform(synthetic_platform(12), "bench")
    assert {c.backend for c in spec.clusters.values()} == {"rke2", "eks", "magnum", "capi"}
    gpus = [c.node_pools["gpu"].gpu for c in spec.clusters.values()]
    assert {gpu.sharing for gpu in gpus if gpu} == {"exclusive", "mig", "time-sliced"}
    assert {s.kind for s in spec.sites.values()} == {"openstack", "aws"}


def _identity(resource: dict[str, Any]) -> tuple[str, str]:
    return resource["type"], resource["name"]


def test_floor_registers_the_platforms_resources_with_the_same_inputs(tmp_path: Path) -> None:
    platform = evaluate("bench", config=_platform_config(4))
    floor = evaluate("bench", program=FLOOR_PROGRAM, config=floor_config(platform, tmp_path))
    assert Counter(map(_identity, floor.resources)) == Counter(map(_identity, platform.resources))
    floor_inputs = {_identity(r): r["inputs"] for r in floor.resources if r["custom"]}
    for resource in platform.resources:
        if resource["custom"]:
            assert floor_inputs[_identity(resource)] == resource["inputs"], _identity(resource)

    # ...but bare: everything sits directly under the stack, where the platform nests.
    def parents(plan: Plan) -> set[str | None]:
        stack = next(r["urn"] for r in plan.resources if r["type"] == STACK_TYPE)
        return {r["parent"] for r in plan.resources if r["type"] != STACK_TYPE} - {stack}

    assert parents(floor) == set()
    assert len(parents(platform)) > 10


def test_program_starts_its_registrations_before_the_sdks_shutdown_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """components/program.py: the SDK must await RPCs, not poll every pending Output.

    The SDK's catch-all `asyncio.wait` loop over every Output is what made evaluation cost
    O(waves x Outputs); if this fails after an SDK upgrade, re-measure with `meridian bench`.
    """
    polled: list[int] = []

    async def spy_wait(tasks: Any, **kwargs: Any) -> Any:
        polled.append(len(tasks))
        return await real.wait(tasks, **kwargs)

    real = asyncio
    spied = types.SimpleNamespace(**{name: getattr(real, name) for name in dir(real) if not name.startswith("__")})
    spied.wait = spy_wait
    # The SDK module's own `asyncio` name (raising=True: the test breaks loudly if it goes).
    monkeypatch.setattr("pulumi.runtime.stack.asyncio", spied, raising=True)
    plan = evaluate("bench", config=_platform_config(4))
    assert len(plan.resources) > 100
    assert polled == []


class ThresholdRecorder(PlanRecorder):
    """Notes the collector's thresholds while the program registers its resources."""

    seen: ClassVar[set[tuple[int, ...]]] = set()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self.seen.add(gc.get_threshold())
        return super().RegisterResource(request)


def test_program_raises_the_thresholds_only_for_its_evaluation() -> None:
    before = gc.get_threshold()
    assert before != GC_THRESHOLDS
    evaluate("bench", config=_platform_config(1), recorder=ThresholdRecorder(MeridianMocks()))
    assert ThresholdRecorder.seen == {GC_THRESHOLDS}
    assert gc.get_threshold() == before


def test_bench_json_rows() -> None:
    done = meridian("bench", "--sizes", "1", "--repeat", "1", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [tuple(row) for row in rows] == [BENCH_FIELDS]
    row = rows[0]
    assert row["clusters"] == 1
    assert row["resources"] == len(evaluate("bench", config=_platform_config(1)).resources)
    assert all(isinstance(row[key], float) and row[key] > 0 for key in BENCH_FIELDS[2:])


@pytest.mark.parametrize(("args", "complaint"), [(["--sizes", "1,x"], "--sizes"), (["--repeat", "0"], "--repeat")])
def test_bench_refuses_bad_arguments(args: list[str], complaint: str) -> None:
    done = meridian("bench", *args)
    assert done.returncode == 2
    assert complaint in done.stderr
    assert "Traceback" not in done.stderr
