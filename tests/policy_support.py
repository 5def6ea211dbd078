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
        "aliases": options.pop("aliases", []),
        "ignore_changes": options.pop("ignore_changes", []),
        "replace_on_changes": options.pop("replace_on_changes", []),
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


class PolicyModule:
    """Test helpers for one policy module: run only its policies (at their default levels) through the pack."""

    def __init__(self, levels: dict[str, str]) -> None:
        self.levels = levels

    def only_these(self, config: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Gate config running only this module's policies, with `config` layered on."""
        config = config or {}
        return {"all": "disabled", **{name: dict(config.get(name, {})) for name in self.levels}}

    def hits(
        self, analyzer: Any, policy: str, *resources: dict[str, Any], config: dict[str, Any] | None = None
    ) -> list[Any]:
        """What `policy` reported for a plan of `resources`."""
        report = violations(analyzer, plan_of_resources(*resources), self.only_these(config))
        return [v for v in report.violations if v.policy == policy]

    def assert_violation(
        self,
        analyzer: Any,
        policy: str,
        bad: dict[str, Any],
        *others: dict[str, Any],
        config: dict[str, Any] | None = None,
    ) -> list[Any]:
        """`policy` reports `bad` (and nothing else) at its default level."""
        found = self.hits(analyzer, policy, *others, bad, config=config)
        assert found, f"{policy} reported nothing for {bad['inputs']}"
        assert {v.urn for v in found} == {bad["urn"]}, [v.message for v in found]
        assert {v.level for v in found} == {self.levels[policy]}
        return found

    def assert_clean(
        self, analyzer: Any, policy: str, *resources: dict[str, Any], config: dict[str, Any] | None = None
    ) -> None:
        """`policy` reports nothing for a plan of `resources`."""
        found = self.hits(analyzer, policy, *resources, config=config)
        assert found == [], [v.message for v in found]
