"""Governance policies, the whole pack over the bundled stacks, and the violation fixtures.

tests/fixtures/violations/ holds a valid stack file the gate must refuse under its policy
config (regions, flavors, tags and GPU caps the organisation does not allow), and a hand-made
plan in the `meridian plan --json` format with the violations a valid spec cannot produce.
Both run through `scripts.gate.gate` and once through the `meridian gate` command line.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_aws  # noqa: F401 - importing a provider SDK registers its type tokens
import pulumi_kubernetes  # noqa: F401
import pulumi_openstack  # noqa: F401
import pytest
from policy_support import PROVIDER_URN, plan_of_resources, provider_resource, resource, violations
from pulumi.runtime import rpc

from scripts.gate import Analyzer, GateReport, gate
from scripts.harness import REPO, UNKNOWN, Plan, bundled_stacks, evaluate, load_plan

BUNDLED = bundled_stacks()
FIXTURES = Path(__file__).parent / "fixtures" / "violations"
STACK_FILE = FIXTURES / "Pulumi.violations.yaml"
POLICY_CONFIG = FIXTURES / "policy-config.json"
PLAN_FILE = FIXTURES / "violations.plan.json"

#: What the stack file breaks under policy-config.json (all governance and GPU policies, this module's own).
STACK_FILE_VIOLATIONS = {"allowed-regions", "allowed-flavors", "required-tags", "gpu-cap-per-pool", "gpu-cap-per-stack"}
#: What the hand-made plan breaks under the default config. `no-admin-port-open-to-internet`
#: (security.py) and `helm-release-pinned` (kubernetes.py) belong to the security and Kubernetes
#: policy modules; the rest to gpu.py and governance.py.
PLAN_FILE_VIOLATIONS = {
    "no-admin-port-open-to-internet",
    "helm-release-pinned",
    # cert-manager's repository is allowed once a cert-manager add-on locks its chart (charts.lock.yaml).
    "helm-release-allowed-repository",
    "stateful-resources-protected",
    "gpu-nodes-tainted",
    "gpu-operator-on-gpu-clusters",
    "jupyterhub-real-authenticator",
    "jupyterhub-idle-culling",
    "jupyterhub-gpu-profiles-tolerate",
}

GOVERNANCE_POLICIES = {"required-tags", "allowed-regions", "allowed-flavors", "stateful-resources-protected"}
TAGS = {"project": "p", "site": "s", "managed-by": "meridian", "cost-centre": "cc", "owner": "o@example.org"}
OS_PROVIDER = "pulumi:providers:openstack"
OS_PROVIDER_URN = f"urn:pulumi:test::meridian::{OS_PROVIDER}::os-provider"

STATEFUL_TYPES = [
    "aws:kms/key:Key",
    "aws:ebs/volume:Volume",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:efs/fileSystem:FileSystem",
    "openstack:blockstorage/volume:Volume",
    "kubernetes:core/v1:PersistentVolumeClaim",
]


def hits(report: GateReport, policy: str) -> list[tuple[str, str]]:
    """(URN, level) of each violation of `policy`."""
    return [(v.urn, v.level) for v in report.violations if v.policy == policy]


def mandatory(report: GateReport) -> set[str]:
    return {v.policy for v in report.mandatory}


def os_resource(type_: str, name: str, inputs: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return resource(type_, name, inputs, provider=OS_PROVIDER_URN, **kwargs)


def run(analyzer: Analyzer, *resources: dict[str, Any], config: dict[str, Any] | None = None) -> GateReport:
    os_provider = provider_resource(OS_PROVIDER, "os-provider", region="RegionOne", cloud="c")
    return violations(analyzer, plan_of_resources(os_provider, *resources), config)


def sdk_class(token: str) -> type:
    """The SDK class registered for a type token (the SDKs' own token tables, newest version)."""
    package, module_name, _ = token.split(":")
    module = rpc.get_resource_module(package, module_name, "")
    assert module is not None, f"no SDK module registers {token}"
    info = module.mod_info  # type: ignore[attr-defined]
    return getattr(importlib.import_module(info["fqn"]), info["classes"][token])  # type: ignore[no-any-return]


def takes_tags(token: str) -> bool:
    return "tags" in inspect.signature(sdk_class(token)._internal_init).parameters  # type: ignore[attr-defined]


def test_governance_policies_and_levels(analyzer: Analyzer) -> None:
    policies = analyzer.policies()
    assert {name: policies[name]["level"] for name in GOVERNANCE_POLICIES} == dict.fromkeys(
        GOVERNANCE_POLICIES, "mandatory"
    )
    assert policies["explicit-provider"]["level"] == "advisory"
    assert policies["required-tags"]["schema"]["required_tags"]["default"] == [
        "project",
        "site",
        "managed-by",
        "cost-centre",
        "owner",
    ]
    assert policies["allowed-regions"]["schema"]["allowed_regions"]["default"] == []
    assert policies["allowed-flavors"]["schema"]["allowed_flavors"]["default"] == []


# -- required-tags ------------------------------------------------------------------------------------------------


def test_tagged_resources_pass(analyzer: Analyzer) -> None:
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": TAGS})
    network = os_resource(
        "openstack:networking/network:Network", "net", {"tags": sorted(f"{k}={v}" for k, v in TAGS.items())}
    )
    assert hits(run(analyzer, vpc, network), "required-tags") == []


def test_missing_or_empty_tags_are_refused(analyzer: Analyzer) -> None:
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {**TAGS, "owner": ""}})
    untagged = resource("aws:eks/nodeGroup:NodeGroup", "nodes", {"instanceTypes": ["m6i.large"]})
    network = os_resource("openstack:networking/network:Network", "net", {"tags": ["project=p", "site=s"]})
    report = run(analyzer, vpc, untagged, network)
    assert sorted(hits(report, "required-tags")) == sorted(
        [(vpc["urn"], "mandatory"), (untagged["urn"], "mandatory"), (network["urn"], "mandatory")]
    )
    message = next(v.message for v in report.violations if v.urn == network["urn"] and v.policy == "required-tags")
    assert "managed-by, cost-centre, owner" in message


def test_the_sdk_decides_which_types_are_taggable(analyzer: Analyzer) -> None:
    """Types whose SDK constructor takes no `tags`, and non-cloud packages, are never asked for tags."""
    untaggable = [
        resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "attach", {"role": "r", "policyArn": "a"}),
        os_resource("openstack:containerinfra/clusterTemplate:ClusterTemplate", "tpl", {"flavor": "m1"}),
        os_resource("openstack:networking/secGroupRule:SecGroupRule", "rule", {"direction": "ingress"}),
        resource("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "x"}}),
        resource("random:index/randomPassword:RandomPassword", "pw", {"length": 16}, provider=None),
    ]
    assert hits(run(analyzer, *untaggable), "required-tags") == []
    # The same verdicts straight from the SDK classes.
    for item in untaggable[:3]:
        assert not takes_tags(item["type"]), item["type"]
    assert takes_tags("aws:eks/nodeGroup:NodeGroup")


def test_required_tags_come_from_config(analyzer: Analyzer) -> None:
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": TAGS})
    config = {"required-tags": {"required_tags": ["project", "data-steward"]}}
    assert hits(run(analyzer, vpc, config=config), "required-tags") == [(vpc["urn"], "mandatory")]
    stewarded = resource("aws:ec2/vpc:Vpc", "vpc", {"tags": {"project": "p", "data-steward": "d"}})
    assert hits(run(analyzer, stewarded, config=config), "required-tags") == []


def test_aws_provider_default_tags_count(analyzer: Analyzer) -> None:
    """Tags the provider adds to every resource (defaultTags, JSON-encoded like every provider input) count."""
    provider = provider_resource(region="eu-west-1", defaultTags=json.dumps({"tags": TAGS}))
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {"Name": "vpc"}})
    assert hits(violations(analyzer, plan_of_resources(provider, vpc)), "required-tags") == []


# -- allowed-regions ----------------------------------------------------------------------------------------------


def test_allowed_regions(analyzer: Analyzer) -> None:
    aws = provider_resource(region="eu-west-1")
    openstack = provider_resource(OS_PROVIDER, "os-provider", region="RegionTwo", cloud="c")
    plan = plan_of_resources(aws, openstack)
    assert hits(violations(analyzer, plan), "allowed-regions") == []  # default: any region
    config = {"allowed-regions": {"allowed_regions": ["eu-central-1", "RegionOne"]}}
    assert sorted(hits(violations(analyzer, plan, config), "allowed-regions")) == sorted(
        [(PROVIDER_URN, "mandatory"), (OS_PROVIDER_URN, "mandatory")]
    )
    config = {"allowed-regions": {"allowed_regions": ["eu-west-1", "RegionTwo"]}}
    assert hits(violations(analyzer, plan, config), "allowed-regions") == []


def test_a_provider_without_region_is_refused_when_regions_are_restricted(analyzer: Analyzer) -> None:
    ambient = provider_resource()
    config = {"allowed-regions": {"allowed_regions": ["eu-west-1"]}}
    report = violations(analyzer, plan_of_resources(ambient), config)
    assert hits(report, "allowed-regions") == [(PROVIDER_URN, "mandatory")]
    assert "environment" in report.violations[0].message


# -- allowed-flavors ----------------------------------------------------------------------------------------------


def test_allowed_flavors(analyzer: Analyzer) -> None:
    group = resource("aws:eks/nodeGroup:NodeGroup", "ng", {"instanceTypes": ["m6i.large", "g5.xlarge"], "tags": TAGS})
    vm = os_resource("openstack:compute/instance:Instance", "vm", {"flavorName": "eo1.large"})
    magnum_group = os_resource("openstack:containerinfra/nodeGroup:NodeGroup", "mng", {"flavorId": "vm.a30.1gpu"})
    template = os_resource(
        "openstack:containerinfra/clusterTemplate:ClusterTemplate", "tpl", {"flavor": "eo1.xlarge", "masterFlavor": "x"}
    )
    items = [group, vm, magnum_group, template]
    assert hits(run(analyzer, *items), "allowed-flavors") == []  # default: any flavor
    config = {"allowed-flavors": {"allowed_flavors": ["m6i.large", "eo1.large", "eo1.xlarge"]}}
    report = run(analyzer, *items, config=config)
    found = sorted(
        (v.urn, v.message.splitlines()[-1].split(" is ")[0]) for v in report.violations if v.policy == "allowed-flavors"
    )
    assert found == sorted(
        [
            (group["urn"], "instanceTypes g5.xlarge"),
            (magnum_group["urn"], "flavorId vm.a30.1gpu"),
            (template["urn"], "masterFlavor x"),
        ]
    )
    assert {level for _, level in hits(report, "allowed-flavors")} == {"mandatory"}


# -- stateful-resources-protected ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", STATEFUL_TYPES)
def test_stateful_resources_must_be_protected(analyzer: Analyzer, token: str) -> None:
    assert sdk_class(token).__name__  # the token is a real type of the installed SDK
    provider = OS_PROVIDER_URN if token.startswith("openstack:") else PROVIDER_URN
    unprotected = resource(token, "data", {"tags": TAGS} if token.startswith("aws:") else {}, provider=provider)
    assert hits(run(analyzer, unprotected), "stateful-resources-protected") == [(unprotected["urn"], "mandatory")]
    protected = {**unprotected, "protect": True}
    assert hits(run(analyzer, protected), "stateful-resources-protected") == []


def test_stateless_resources_need_no_protection(analyzer: Analyzer) -> None:
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"tags": TAGS})
    assert hits(run(analyzer, vpc), "stateful-resources-protected") == []


# -- unknown values -----------------------------------------------------------------------------------------------


def test_unknown_inputs_give_only_the_preview_notice(analyzer: Analyzer) -> None:
    unknowns = [
        resource("aws:ec2/vpc:Vpc", "vpc", {"tags": UNKNOWN}),
        resource("aws:eks/nodeGroup:NodeGroup", "ng", {"instanceTypes": UNKNOWN, "tags": UNKNOWN}),
        os_resource("openstack:compute/instance:Instance", "vm", {"flavorName": UNKNOWN, "tags": UNKNOWN}),
        resource("aws:kms/key:Key", "key", {"tags": UNKNOWN}, protect=True),
        provider_resource(OS_PROVIDER, "os-provider", region=UNKNOWN),
    ]
    config = {
        "allowed-regions": {"allowed_regions": ["eu-west-1"]},
        "allowed-flavors": {"allowed_flavors": ["m6i.large"]},
    }
    report = violations(analyzer, plan_of_resources(*unknowns), config)
    mine = [v for v in report.violations if v.policy in GOVERNANCE_POLICIES]
    assert {v.policy for v in mine} == {"required-tags", "allowed-regions", "allowed-flavors"}
    assert all(v.level == "advisory" and "during preview" in v.message for v in mine), mine


# -- the whole pack over the bundled stacks -----------------------------------------------------------------------


# -- the violation fixtures ---------------------------------------------------------------------------------------


def test_plan_fixture_is_in_the_plan_format(bundled_plan: Callable[[str], Plan]) -> None:
    """The hand-made plan has exactly the fields `meridian plan --json` writes, per plan and per resource."""
    document = json.loads(PLAN_FILE.read_text(encoding="utf-8"))
    real = bundled_plan("eo4eu").to_json()
    assert set(document) == set(real)
    fields = set(real["resources"][0])
    assert all(set(r) == fields for r in document["resources"])
    urns = {r["urn"] for r in document["resources"]}
    assert all(r["parent"] in urns for r in document["resources"] if r["parent"] is not None)


def test_stack_file_fixture_fails_with_exactly_its_policies(analyzer: Analyzer) -> None:
    config = json.loads(POLICY_CONFIG.read_text(encoding="utf-8"))
    plan = evaluate(STACK_FILE)
    assert mandatory(gate(plan, config, analyzer=analyzer)) == STACK_FILE_VIOLATIONS
    # Without the organisation's config the same valid stack passes.
    assert mandatory(gate(plan, None, analyzer=analyzer)) == set()


def test_plan_fixture_fails_with_exactly_its_policies(analyzer: Analyzer) -> None:
    report = gate(load_plan(PLAN_FILE), None, analyzer=analyzer)
    assert mandatory(report) == PLAN_FILE_VIOLATIONS


@pytest.mark.cli
def test_cli_gate_fails_on_both_fixtures() -> None:
    meridian = [sys.executable, "-m", "scripts.cli", "gate", "--json"]
    runs = {
        "stack": [*meridian, str(STACK_FILE), "--policy-config", str(POLICY_CONFIG)],
        "plan": [*meridian, "--plan", str(PLAN_FILE)],
    }
    expected = {"stack": STACK_FILE_VIOLATIONS, "plan": PLAN_FILE_VIOLATIONS}
    for which, command in runs.items():
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
        assert result.returncode == 1, (which, result.stderr)
        report = json.loads(result.stdout)
        assert {v["policy"] for v in report["violations"] if v["level"] == "mandatory"} == expected[which], which
