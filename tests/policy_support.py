"""Driving the policy pack in tests through the same analyzer path as `meridian gate`."""

from __future__ import annotations

from typing import Any

from scripts.gate import Analyzer, GateReport, gate
from scripts.harness import Plan

PROVIDER_URN = "urn:pulumi:test::meridian::pulumi:providers:aws::site-provider"


def resource(
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    parent: str | None = None,
    provider: str | None = PROVIDER_URN,
    secret_paths: list[str] | None = None,
    protect: bool = False,
    custom: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """A plan resource as the harness records it (URN as the engine makes it, flat under the stack)."""
    return {
        "urn": f"urn:pulumi:test::meridian::{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": parent,
        "custom": custom,
        "inputs": inputs,
        "secret_paths": secret_paths or [],
        "protect": protect,
        "provider": f"{provider}::0a1b2c3d" if provider else None,
        "depends_on": options.pop("depends_on", []),
        "aliases": [],
        "ignore_changes": options.pop("ignore_changes", []),
        "additional_secret_outputs": [],
        "delete_before_replace": False,
        "retain_on_delete": options.pop("retain_on_delete", False),
        "version": None,
    }


def provider_resource(
    type_: str = "pulumi:providers:aws", name: str = "site-provider", **inputs: Any
) -> dict[str, Any]:
    """An explicit provider resource for synthetic plans (its URN is PROVIDER_URN by default)."""
    return resource(type_, name, dict(inputs), provider=None)


def plan_of_resources(*resources: dict[str, Any], with_provider: bool = True) -> Plan:
    """A synthetic plan holding `resources` (and the default explicit AWS provider they point at)."""
    items = list(resources)
    if with_provider and not any(r["urn"] == PROVIDER_URN for r in items):
        items.insert(0, provider_resource(region="eu-west-1", allowedAccountIds='["111122223333"]'))
    return Plan(project="meridian", stack="test", resources=items)


def violations(analyzer: Analyzer, plan: Plan, config: dict[str, Any] | None = None) -> GateReport:
    """The gate's report for a plan, from the running pack."""
    return gate(plan, config, analyzer=analyzer)


def policies_hit(report: GateReport) -> set[str]:
    """Names of the policies that reported anything."""
    return {v.policy for v in report.violations}
