"""Bundled stacks are the integration tests: each plans and keeps exactly its golden URNs.

A changed URN is a replaced resource under `pulumi up`. When identity changes on purpose,
add an alias for every moved resource and regenerate with `make golden`; the diff of
tests/golden/ in review shows exactly what moves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BUNDLED

from scripts.harness import Plan

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("stack", BUNDLED)
def test_urns_match_the_golden_list(stack: str, bundled_plan: Callable[[str], Plan]) -> None:
    golden = (GOLDEN / f"{stack}.urns").read_text().splitlines()
    urns = bundled_plan(stack).urns()
    added, removed = sorted(set(urns) - set(golden)), sorted(set(golden) - set(urns))
    assert not added and not removed, f"new: {added[:10]}\ngone: {removed[:10]}\n(run `make golden` if intended)"


def test_every_bundled_stack_has_a_golden_list() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.urns")) == BUNDLED
