"""Bundled stacks are the integration tests: each plans and keeps exactly its golden URNs and plan.

A changed URN is a replaced resource under `pulumi up`. When identity changes on purpose,
add an alias for every moved resource and regenerate with `make golden`; the diff of
tests/golden/ in review shows exactly what moves.

The golden plan (`<stack>.plan.json`, as `meridian plan --json` writes it, secrets redacted)
pins every input of every resource: a port, a flag or a name changed by accident fails here
with `meridian diff`'s account of what would change, and a deliberate change is reviewed as
the diff of the golden file (`make golden`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BUNDLED, unordered_namespaced

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
    assert sorted(p.name.removesuffix(".plan.json") for p in GOLDEN.glob("*.plan.json")) == BUNDLED


@pytest.mark.parametrize("stack", BUNDLED)
def test_plan_matches_the_golden_plan(stack: str, bundled_plan: Callable[[str], Plan]) -> None:
    from scripts.diff import diff_plans, render
    from scripts.harness import load_plan

    golden = load_plan(GOLDEN / f"{stack}.plan.json")
    plan = bundled_plan(stack)
    if plan.to_json() != golden.to_json():
        report = render(diff_plans(golden, plan))
        pytest.fail(f"the plan of {stack} differs from its golden plan (run `make golden` if intended):\n{report}")


@pytest.mark.parametrize("stack", BUNDLED)
def test_plans_are_reproducible_and_hold_no_secret(stack: str, bundled_plan: Callable[[str], Plan]) -> None:
    import json

    from scripts.harness import evaluate

    first = json.dumps(bundled_plan(stack).to_json(), sort_keys=True)
    assert json.dumps(evaluate(stack).to_json(), sort_keys=True) == first  # byte-for-byte: reviewable diffs
    revealed = evaluate(stack, reveal_secrets=True)
    secrets = {
        json.dumps(value)
        for resource in revealed.resources
        for path in resource["secret_paths"]
        for value in [_at(revealed.revealed[resource["urn"]], path)]
        if isinstance(value, str) and len(value) > 8
    }
    assert secrets, "the stack has secret inputs to look for"
    leaked = [secret for secret in secrets if secret.strip('"') in first]
    assert leaked == []
    assert "PRIVATE KEY" not in first and "offline placeholder" not in first


def _at(value: object, path: str) -> object:
    """The value at a plan secret path such as `values.hub.password` or `tags[0]`."""
    import re

    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]  # type: ignore[index]
    return value


@pytest.mark.parametrize("stack", BUNDLED)
def test_every_object_waits_for_its_namespace(stack: str, bundled_plan: Callable[[str], Plan]) -> None:
    # Found so: the central stack's Alertmanager and Grafana Secrets raced the `monitoring` Namespace.
    assert unordered_namespaced(bundled_plan(stack)) == []


def test_an_object_sent_before_its_namespace_is_found(bundled_plan: Callable[[str], Plan]) -> None:
    plan = bundled_plan("eo4eu")
    secret = next(
        r for r in plan.by_type("kubernetes:core/v1:Secret") if r["inputs"]["metadata"]["name"] == "meridian-grafana"
    )
    unordered = {**secret, "depends_on": []}
    broken = dataclasses.replace(plan, resources=[unordered if r is secret else r for r in plan.resources])
    assert unordered_namespaced(broken) == [("kubernetes:core/v1:Secret", "meridian-grafana", "monitoring")]
