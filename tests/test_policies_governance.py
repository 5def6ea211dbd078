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
from pulumi.runtime.proto import analyzer_pb2

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
    # external-secrets from a mirror that is not its official repository (charts.lock.yaml).
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
    "openstack:objectstorage/container:Container",
    "kubernetes:core/v1:PersistentVolumeClaim",
]


def said(violation: Any) -> str:
    """What a violation reported (the message after the policy's description)."""
    return str(violation.message.rsplit("\n", 1)[-1])


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
    names = {"type": "string", "minLength": 1}
    assert {name: policies[name]["schema"] for name in (*GOVERNANCE_POLICIES, "explicit-provider")} == {
        "required-tags": {
            "required_tags": {
                "type": "array",
                "items": names,
                "default": ["project", "site", "managed-by", "cost-centre", "owner"],
                "description": "Tag keys every taggable cloud resource must carry with a non-empty value.",
            }
        },
        "allowed-regions": {
            "allowed_regions": {
                "type": "array",
                "items": names,
                "default": [],
                "description": "Regions AWS and OpenStack providers may use; empty allows any.",
            }
        },
        "allowed-flavors": {
            "allowed_flavors": {
                "type": "array",
                "items": names,
                "default": [],
                "description": "EC2 instance types and OpenStack flavors nodes may use; empty allows any.",
            }
        },
        "stateful-resources-protected": {},
        "explicit-provider": {},
    }


def test_a_pack_the_engine_did_not_configure_uses_the_schema_defaults(analyzer: Analyzer) -> None:
    """Without Configure every policy reads no config: the code's fallbacks are the schema's defaults."""
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {**TAGS, "owner": ""}})
    vm = os_resource("openstack:compute/instance:Instance", "vm", {"flavorName": "eo1.large", "tags": []})
    os_provider = provider_resource(OS_PROVIDER, "os-provider", region="RegionOne", cloud="c")
    analyzer.stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest())
    report = analyzer.analyze(plan_of_resources(os_provider, vpc, vm))
    assert sorted((v.policy, v.urn, said(v)) for v in report.violations if v.policy in GOVERNANCE_POLICIES) == [
        ("required-tags", vpc["urn"], "missing required tags: owner"),
        ("required-tags", vm["urn"], "missing required tags: project, site, managed-by, cost-centre, owner"),
    ]


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


def test_types_no_sdk_knows_are_held_to_tags_only_when_they_send_some(analyzer: Analyzer) -> None:
    """A type of a newer SDK (unknown module or class) cannot be looked up: its own `tags` input decides."""
    everything = "missing required tags: project, site, managed-by, cost-centre, owner"
    unknown = [
        resource("aws:newservice/thing:Thing", "new-module", {"tags": {}}),
        resource("aws:ec2/newThing:NewThing", "new-class", {"tags": {"project": "p"}}),
        resource("aws:newservice/thing:Thing", "new-untagged", {"name": "x"}),
        resource("aws:ec2/newThing:NewThing", "new-class-untagged", {"name": "x"}),
    ]
    report = run(analyzer, *unknown)
    assert sorted((v.urn, said(v)) for v in report.violations if v.policy == "required-tags") == sorted(
        [
            (unknown[0]["urn"], everything),
            (unknown[1]["urn"], "missing required tags: site, managed-by, cost-centre, owner"),
        ]
    )
    # Packages other than the clouds' are never asked, whatever their inputs are called.
    gcp = resource("gcp:compute/instance:Instance", "vm", {"tags": ["web"]})
    assert hits(run(analyzer, gcp), "required-tags") == []


def test_every_resource_of_a_taggable_type_is_checked(analyzer: Analyzer) -> None:
    """The SDK's verdict is kept per type: the second resource of a type gets the same one."""
    groups = [resource("aws:eks/nodeGroup:NodeGroup", f"nodes-{i}", {"instanceTypes": ["m6i.large"]}) for i in (1, 2)]
    assert sorted(hits(run(analyzer, *groups), "required-tags")) == sorted(
        [(groups[0]["urn"], "mandatory"), (groups[1]["urn"], "mandatory")]
    )


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
    # An empty default tag is no tag; the resource's own value wins over the provider's.
    provider = provider_resource(region="eu-west-1", defaultTags=json.dumps({"tags": {**TAGS, "owner": ""}}))
    report = violations(analyzer, plan_of_resources(provider, vpc))
    assert [(v.urn, said(v)) for v in report.violations if v.policy == "required-tags"] == [
        (vpc["urn"], "missing required tags: owner")
    ]
    owned = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {"owner": "o@example.org"}})
    assert hits(violations(analyzer, plan_of_resources(provider, owned)), "required-tags") == []


@pytest.mark.parametrize(
    "default_tags",
    [None, json.dumps({"region": "x"}), json.dumps({"tags": ["project"]}), "{not json", json.dumps(["tags"])],
    ids=["none", "no-tags", "tags-not-a-map", "not-json", "not-an-object"],
)
def test_provider_default_tags_that_are_no_tag_map_add_nothing(analyzer: Analyzer, default_tags: str | None) -> None:
    provider = provider_resource(region="eu-west-1", **({} if default_tags is None else {"defaultTags": default_tags}))
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {**TAGS, "owner": ""}})
    report = violations(analyzer, plan_of_resources(provider, vpc))
    assert [(v.urn, v.level, said(v)) for v in report.violations if v.policy == "required-tags"] == [
        (vpc["urn"], "mandatory", "missing required tags: owner")
    ]


def test_default_tags_of_other_providers_and_resources_without_provider(analyzer: Analyzer) -> None:
    """Only the AWS provider has defaultTags; a resource on the default provider has only its own tags."""
    defaulted = resource(
        "aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {"project": "p"}}, provider=None
    )
    report = violations(analyzer, plan_of_resources(defaulted, with_provider=False))
    assert [(v.urn, said(v)) for v in report.violations if v.policy == "required-tags"] == [
        (defaulted["urn"], "missing required tags: site, managed-by, cost-centre, owner")
    ]
    tagged_os = provider_resource(
        OS_PROVIDER, "os-provider", region="RegionOne", defaultTags=json.dumps({"tags": TAGS})
    )
    network = os_resource("openstack:networking/network:Network", "net", {"tags": ["project=p"]})
    report = violations(analyzer, plan_of_resources(tagged_os, network))
    assert [(v.urn, said(v)) for v in report.violations if v.policy == "required-tags"] == [
        (network["urn"], "missing required tags: site, managed-by, cost-centre, owner")
    ]


def test_openstack_tag_values_may_hold_equals_signs(analyzer: Analyzer) -> None:
    # An OpenStack tag is "key=value" split at the first '=' (components/labels.py cloud_tags).
    tags = [f"{k}={v}" for k, v in {**TAGS, "owner": "team=ml", "cost-centre": "Y2M="}.items()]
    network = os_resource("openstack:networking/network:Network", "net", {"tags": tags})
    assert hits(run(analyzer, network), "required-tags") == []


# -- allowed-regions ----------------------------------------------------------------------------------------------


def test_allowed_regions(analyzer: Analyzer) -> None:
    aws = provider_resource(region="eu-west-1")
    openstack = provider_resource(OS_PROVIDER, "os-provider", region="RegionTwo", cloud="c")
    plan = plan_of_resources(aws, openstack)
    assert hits(violations(analyzer, plan), "allowed-regions") == []  # default: any region
    config = {"allowed-regions": {"allowed_regions": ["eu-central-1", "RegionOne"]}}
    report = violations(analyzer, plan, config)
    assert sorted(hits(report, "allowed-regions")) == sorted(
        [(PROVIDER_URN, "mandatory"), (OS_PROVIDER_URN, "mandatory")]
    )
    assert sorted(said(v) for v in report.violations if v.policy == "allowed-regions") == [
        "region RegionTwo is not allowed (allowed: eu-central-1, RegionOne)",
        "region eu-west-1 is not allowed (allowed: eu-central-1, RegionOne)",
    ]
    config = {"allowed-regions": {"allowed_regions": ["eu-west-1", "RegionTwo"]}}
    assert hits(violations(analyzer, plan, config), "allowed-regions") == []


def test_a_provider_without_region_is_refused_when_regions_are_restricted(analyzer: Analyzer) -> None:
    ambient = provider_resource()
    config = {"allowed-regions": {"allowed_regions": ["eu-west-1"]}}
    report = violations(analyzer, plan_of_resources(ambient), config)
    assert hits(report, "allowed-regions") == [(PROVIDER_URN, "mandatory")]
    assert [said(v) for v in report.violations if v.policy == "allowed-regions"] == [
        "the provider sets no region, so it would come from the environment; allowed: eu-west-1"
    ]


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
    found = sorted((v.urn, said(v)) for v in report.violations if v.policy == "allowed-flavors")
    allowed = "(allowed: m6i.large, eo1.large, eo1.xlarge)"
    assert found == sorted(
        [
            (group["urn"], f"instanceTypes g5.xlarge is not an allowed flavor {allowed}"),
            (magnum_group["urn"], f"flavorId vm.a30.1gpu is not an allowed flavor {allowed}"),
            (template["urn"], f"masterFlavor x is not an allowed flavor {allowed}"),
        ]
    )
    assert {level for _, level in hits(report, "allowed-flavors")} == {"mandatory"}


def test_an_openstack_instance_names_its_flavor_by_name_or_by_id(analyzer: Analyzer) -> None:
    config = {"allowed-flavors": {"allowed_flavors": ["eo1.large", "f-123"]}}
    instance = "openstack:compute/instance:Instance"
    by_name = os_resource(instance, "by-name", {"flavorName": "eo1.xlarge", "flavorId": "f-123"})
    by_id = os_resource(instance, "by-id", {"flavorId": "f-456"})
    allowed_id = os_resource(instance, "allowed-id", {"flavorId": "f-123"})
    # flavorName wins when both are set; only an instance falls back to flavorId.
    magnum = os_resource("openstack:containerinfra/cluster:Cluster", "c", {"flavorId": "f-456", "flavor": "eo1.large"})
    report = run(analyzer, by_name, by_id, allowed_id, magnum, config=config)
    assert sorted((v.urn, said(v)) for v in report.violations if v.policy == "allowed-flavors") == sorted(
        [
            (by_name["urn"], "flavorName eo1.xlarge is not an allowed flavor (allowed: eo1.large, f-123)"),
            (by_id["urn"], "flavorId f-456 is not an allowed flavor (allowed: eo1.large, f-123)"),
        ]
    )


# -- stateful-resources-protected ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", STATEFUL_TYPES)
def test_stateful_resources_must_be_protected(analyzer: Analyzer, token: str) -> None:
    assert sdk_class(token).__name__  # the token is a real type of the installed SDK
    provider = OS_PROVIDER_URN if token.startswith("openstack:") else PROVIDER_URN
    unprotected = resource(token, "data", {"tags": TAGS} if token.startswith("aws:") else {}, provider=provider)
    report = run(analyzer, unprotected)
    assert hits(report, "stateful-resources-protected") == [(unprotected["urn"], "mandatory")]
    assert [said(v) for v in report.violations if v.policy == "stateful-resources-protected"] == [
        f"{token} data holds data or keys but is not protected"
    ]
    protected = {**unprotected, "protect": True}
    assert hits(run(analyzer, protected), "stateful-resources-protected") == []


@pytest.mark.parametrize(
    ("annotations", "protected"),
    [
        # Helm leaves an object with this annotation on uninstall (Helm docs, "Tell Helm not to
        # uninstall a resource"; pkg/kube/resource_policy.go): how a chart's volume is kept.
        ({"helm.sh/resource-policy": "keep"}, True),
        ({"helm.sh/resource-policy": "delete"}, False),
        ({"helm.sh/resource-policy": "Keep"}, False),
        ({"meridian.io/resource-policy": "keep"}, False),
        ({}, False),
        ("keep", False),
    ],
)
def test_a_chart_volume_is_protected_by_helms_keep_annotation(
    analyzer: Analyzer, annotations: Any, protected: bool
) -> None:
    claim = resource(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "hub-db-dir",
        {"metadata": {"name": "hub-db-dir", "annotations": annotations}},
        provider=PROVIDER_URN,
    )
    assert hits(run(analyzer, claim), "stateful-resources-protected") == (
        [] if protected else [(claim["urn"], "mandatory")]
    )
    # A cloud volume is protected by Pulumi only: a Kubernetes annotation means nothing to Cinder.
    volume = resource(
        "openstack:blockstorage/volume:Volume",
        "data",
        {"metadata": {"annotations": {"helm.sh/resource-policy": "keep"}}},
        provider=OS_PROVIDER_URN,
    )
    assert hits(run(analyzer, volume), "stateful-resources-protected") == [(volume["urn"], "mandatory")]


def test_stateless_resources_need_no_protection(analyzer: Analyzer) -> None:
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"tags": TAGS})
    assert hits(run(analyzer, vpc), "stateful-resources-protected") == []
    assert hits(run(analyzer, {**vpc, "protect": True}), "stateful-resources-protected") == []


# -- explicit-provider --------------------------------------------------------------------------------------------


def test_resources_go_through_an_explicit_provider(analyzer: Analyzer) -> None:
    message = "uses the default provider: credentials and region would come from the ambient environment"
    default = provider_resource(name="default_7_5_0", region="eu-west-1")
    ambient = resource("aws:ec2/vpc:Vpc", "ambient", {"tags": TAGS}, provider=None)
    defaulted = resource("aws:ec2/vpc:Vpc", "defaulted", {"tags": TAGS}, provider=default["urn"])
    explicit = resource("aws:ec2/vpc:Vpc", "explicit", {"tags": TAGS})
    # Local-only packages, providers and Meridian's own components need none.
    local = [
        resource("random:index/randomPassword:RandomPassword", "pw", {"length": 16}, provider=None),
        resource("tls:index/privateKey:PrivateKey", "key", {"algorithm": "ED25519"}, provider=None),
        resource("command:local:Command", "wait", {"create": "true"}, provider=None),
        resource("meridian:index:Site", "site", {}, provider=None, custom=False),
    ]
    report = violations(analyzer, plan_of_resources(default, ambient, defaulted, explicit, *local))
    assert sorted((v.urn, v.level, said(v)) for v in report.violations if v.policy == "explicit-provider") == sorted(
        [(ambient["urn"], "advisory", message), (defaulted["urn"], "advisory", message)]
    )


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
