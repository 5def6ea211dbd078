"""How a Meridian program runs: `run(build)` is the last line of `__main__.py`.

Two properties of the Pulumi Python SDK (3.272) and CPython 3.11 set most of what a
large stack costs to evaluate, whatever its components do; `meridian bench` measured
both (README, "Benchmark"):

* **Registrations in flight before the SDK's shutdown wait.** A program whose top-level
  code never yields to the event loop leaves every registration queued and not yet
  started when the SDK's `wait_for_rpcs` begins. The SDK then finds no RPC to wait on and
  falls through to its catch-all loop, `asyncio.wait(FIRST_COMPLETED)` over every pending
  Output (about 30 per resource) once for each wave of completions. That is O(waves x
  Outputs): at 100 clusters, about 55 waves over up to 120,000 Outputs. Running the
  build inside `pulumi.run` and yielding once after it starts every registration first.
  The SDK then awaits the RPCs one by one, which is linear. The set of registrations is
  the same either way; only the order in which the SDK waits for them changes.
* **Collector thresholds.** Evaluation is a batch job: almost every object it makes
  (resources, their Outputs, the SDK's tasks) lives until the program ends. With
  CPython's default thresholds (700, 10, 10) the cyclic collector rescans that growing
  heap over and over; full collections were half the evaluation time at 100 clusters.
  `run` raises the thresholds for the rest of the process, which in the Python
  language host is the rest of the program. Young cycles are still collected every
  `GC_THRESHOLDS[0]` allocations. Peak memory did not change (bench, 100 clusters).
  Under a real `pulumi up` the process lives longer, but it allocates the same objects:
  its RPCs block on the engine instead of returning at once, so it waits rather than
  making more.

`pulumi.run` (an async entry point, awaited after the module's top-level code) is in the
SDK since 3.254.0 (pulumi/pulumi#23945); pyproject.toml pins 3.272.0.

`pulumi.run` may be called once per program, on a stack that is still open. Evaluate the
program through the offline harness (`scripts.harness.evaluate`, which runs it as the
language host does); the SDK's `set_mocks()` followed by `import __main__` closes its stack
first and makes `run` raise.

The benchmark's floor runs its bare registrations through this same entry, so the ratio
it reports is what the components cost, not what this entry saves.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import pulumi

#: gc.set_threshold arguments while a program runs: generation 0 every 100,000 net
#: allocations, generation 1 every 50 of those, a full collection after 100 of those.
GC_THRESHOLDS = (100_000, 50, 100)


def run(build: Callable[[], None]) -> None:
    """Run `build` (which registers the stack's resources) as this Pulumi program's entry point.

    Call once, from `__main__.py`. An exception raised by `build` (a `SpecError` for an
    invalid stack file) fails the program exactly as if it had been raised at top level.
    """
    gc.set_threshold(*GC_THRESHOLDS)

    async def main() -> None:
        build()
        # One turn of the event loop starts every registration `build` queued, so the
        # SDK's shutdown wait awaits RPCs instead of polling every Output (module docstring).
        await asyncio.sleep(0)

    pulumi.run(main)
