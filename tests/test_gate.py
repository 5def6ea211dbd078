"""The gate speaks the Analyzer protocol to the real pack process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BUNDLED
from policy_support import plan_of_resources, policies_hit, resource, violations

from scripts.gate import Analyzer, pack_version
from scripts.harness import Plan


def test_pack_declares_policies_with_metadata(analyzer: Analyzer) -> None:
    policies = analyzer.policies()
    assert policies, "the pack declares no policies"
    for name, meta in policies.items():
        assert meta["description"], name
        assert meta["remediation"], name
        assert meta["severity"], name
        assert meta["level"] in {"advisory", "mandatory"}, name


def test_default_provider_is_reported_for_the_analyzed_resource(analyzer: Analyzer) -> None:
    bad = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"}, provider=None)
    report = violations(analyzer, plan_of_resources(bad))
    hits = [v for v in report.violations if v.policy == "explicit-provider"]
    assert [v.urn for v in hits] == [bad["urn"]]
    good = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"})
    assert "explicit-provider" not in policies_hit(violations(analyzer, plan_of_resources(good)))


def test_report_version_comes_from_pulumipolicy_yaml(analyzer: Analyzer) -> None:
    assert violations(analyzer, plan_of_resources()).version == pack_version(analyzer.pack_dir) == "0.1.0"


@pytest.mark.cli
def test_cli_gate_exit_codes_and_json(tmp_path: Path) -> None:
    meridian = [sys.executable, "-m", "scripts.cli"]
    result = subprocess.run([*meridian, "gate", "eo4eu", "--json"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["pack"] == "meridian" and report["mandatory"] == 0
    missing = subprocess.run(
        [*meridian, "gate", "--plan", str(tmp_path / "nope.json")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


@pytest.mark.parametrize("stack", BUNDLED)
def test_bundled_stacks_pass_the_whole_pack(
    analyzer: Analyzer, bundled_plan: Callable[[str], Plan], stack: str
) -> None:
    """Every bundled stack passes every policy, advisory ones included, with every resource analyzed."""
    plan = bundled_plan(stack)
    report = violations(analyzer, plan)
    assert report.resources == len(plan.resources) > 0
    assert [(v.policy, v.level, v.urn, v.message) for v in report.violations] == []


def test_the_in_process_analyzer_answers_like_the_pack_process(
    analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make mutation` serves the pack's analyzer in the test process (scripts/gate.py IN_PROCESS) so
    # mutmut sees which tests reach each policy; it must answer exactly as the pack process does.
    from scripts.gate import IN_PROCESS, gate
    from scripts.harness import load_plan

    fixtures = Path(__file__).parent / "fixtures" / "violations"
    plan = load_plan(fixtures / "violations.plan.json")
    config = json.loads((fixtures / "policy-config.json").read_text())
    expected = gate(plan, config, analyzer=analyzer)
    assert expected.violations
    monkeypatch.setenv(IN_PROCESS, "1")
    inside = Analyzer()
    try:
        assert inside.process is None and inside.server is not None
        assert inside.policies() == analyzer.policies()
        assert gate(plan, config, analyzer=inside) == expected
    finally:
        inside.close()
