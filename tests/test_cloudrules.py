"""What the clouds and the kubelet accept (components/cloudrules.py), each fact tested with its upstream source.

The same table feeds the spec (refusals with key paths, fixtures in tests/specs/) and the
policy pack's `clouds` module (run here as a real analyzer process over the Analyzer
protocol), so a later change that sends an admin-only attribute or a tag a service refuses
fails in the plan, not at `pulumi up`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from policy_support import PolicyModule, resource

from components.cloudrules import (
    NEUTRON_TAGS,
    NOVA_TAGS,
    OCTAVIA_TAGS,
    kubelet_refuses,
)
from components.spec import SpecError, parse_platform
from scripts.gate import Analyzer
from scripts.harness import Plan, bundled_stacks

LEVELS = {"openstack-admin-only-attributes": "mandatory", "openstack-tags-accepted": "mandatory"}
_MODULE = PolicyModule(LEVELS)
assert_violation = _MODULE.assert_violation
assert_clean = _MODULE.assert_clean

ROUTER = "openstack:networking/router:Router"
NETWORK = "openstack:networking/network:Network"
PORT = "openstack:networking/port:Port"
INSTANCE = "openstack:compute/instance:Instance"
LOAD_BALANCER = "openstack:loadbalancer/loadBalancer:LoadBalancer"


def _os(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return resource(type_, name, inputs)


# -- kubelet --node-labels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "refused"),
    [
        # kubernetes/kubernetes cmd/kubelet/app/options/options.go: kubernetes.io / k8s.io keys must be
        # kubelet labels (staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go IsKubeletLabel).
        ("node-role.kubernetes.io/gpu", True),
        ("node-role.kubernetes.io/worker", True),
        ("kubernetes.io/role", True),
        ("example.k8s.io/team", True),
        ("k8s.io/anything", True),
        # The namespace ends at the first '/' (getLabelNamespace: strings.SplitN(key, "/", 2)).
        ("kubernetes.io/a/b", True),
        ("example.org/kubernetes.io/x", False),
        # NodeRestriction forbids kubelets the node-restriction.kubernetes.io/ prefix outright.
        ("node-restriction.kubernetes.io/dedicated", True),
        # The allowed set and namespaces (kubeletLabels, kubeletLabelNamespaces).
        ("topology.kubernetes.io/zone", False),
        ("kubernetes.io/arch", False),
        ("node.kubernetes.io/instance-type", False),
        ("node.kubernetes.io/pool", False),
        ("kubelet.kubernetes.io/role", False),
        ("team.node.kubernetes.io/x", False),
        # Other namespaces are the user's.
        ("meridian.io/role", False),
        ("nvidia.com/mig.config", False),
        ("kubernetes.io.example.org/x", False),
        ("tier", False),
    ],
)
def test_kubelet_label_rules(key: str, refused: bool) -> None:
    assert kubelet_refuses(key) is refused


# -- tag rules ---------------------------------------------------------------------------------------


def test_nova_tag_rules() -> None:
    # nova/api/validation/parameter_types.py `tag`: pattern ^[^,/]*$, 1..MAX_TAG_LENGTH (60) characters;
    # nova/objects/instance.py MAX_TAG_COUNT = 50.
    assert NOVA_TAGS.problems(["project=eo4eu", "a" * 60]) == []
    assert NOVA_TAGS.problems(["a" * 61]) == [
        "Nova tags have at most 60 characters; the tag for '" + "a" * 61 + "' (key=value) has 61"
    ]
    assert NOVA_TAGS.problems(["example.org/team=ml"]) == [
        "Nova tags may not contain ',' or '/', which the tag for 'example.org/team' does"
    ]
    assert NOVA_TAGS.problems(["a=b,c"])
    assert NOVA_TAGS.problems([f"t{i}" for i in range(50)]) == []
    assert NOVA_TAGS.problems([f"t{i}" for i in range(51)]) == ["Nova takes at most 50 tags per resource, not 51"]


def test_neutron_and_octavia_tag_rules() -> None:
    # neutron/extensions/tagging.py MAX_TAG_LEN = 255, MAX_TAGS_COUNT = 50 (commas break tag filters);
    # octavia api/v2/types: StringType(max_length=255).
    assert NEUTRON_TAGS.problems(["example.org/team=ml", "x" * 255]) == []
    assert NEUTRON_TAGS.problems(["x" * 256])
    assert NEUTRON_TAGS.problems(["owner=a,b@example.org"])
    assert OCTAVIA_TAGS.problems(["owner=a,b@example.org", "example.org/team=ml"]) == []
    assert OCTAVIA_TAGS.problems(["x" * 256])


def _with_rke2(platform: dict[str, Any]) -> dict[str, Any]:
    platform["clusters"] = {
        "lab": {
            "site": "os-a",
            "backend": "rke2",
            "version": "1.33",
            "control_plane": {"count": 1, "flavor": "m1.large"},
            "node_pools": {"w": {"flavor": "m1.large"}},
        }
    }
    return platform


def test_prefixed_labels_are_fine_where_no_nova_instance_carries_them(base_platform: dict[str, Any]) -> None:
    # Without rke2 clusters, the OpenStack site's tags reach only Neutron and Octavia, which accept '/'.
    base_platform["project"]["labels"]["example.org/team"] = "ml"
    assert parse_platform(copy.deepcopy(base_platform), "x")
    with pytest.raises(SpecError) as caught:
        parse_platform(_with_rke2(base_platform), "x")
    assert [path for path, _ in caught.value.problems] == ["meridian:platform.project.labels.example.org/team"]


def test_site_labels_are_blamed_where_they_are_set(base_platform: dict[str, Any]) -> None:
    base_platform["sites"]["os-a"]["labels"] = {"example.org/site-team": "ops"}
    with pytest.raises(SpecError) as caught:
        parse_platform(_with_rke2(base_platform), "x")
    assert [path for path, _ in caught.value.problems] == ["meridian:platform.sites.os-a.labels.example.org/site-team"]


def test_tag_errors_never_echo_values(base_platform: dict[str, Any]) -> None:
    base_platform["project"]["labels"]["data-classification"] = "v" * 60
    with pytest.raises(SpecError) as caught:
        parse_platform(_with_rke2(base_platform), "x")
    assert "v" * 60 not in str(caught.value)
    assert caught.value.problems == [
        (
            "meridian:platform.project.labels.data-classification",
            "Nova tags have at most 60 characters; the tag for 'data-classification' (key=value) has 80 (site 'os-a')",
        )
    ]


# -- the pack ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False], ids=["true", "false"])
def test_router_snat_is_refused_whatever_its_value(analyzer: Analyzer, value: bool) -> None:
    # neutron/policy.py _build_subattr_match_rule checks the sub-attribute rule whenever the key is present.
    found = assert_violation(
        analyzer, "openstack-admin-only-attributes", _os(ROUTER, "r", {"name": "r", "enableSnat": value})
    )
    assert "create_router:external_gateway_info:enable_snat" in found[0].message


@pytest.mark.parametrize(
    ("type_", "inputs", "rule"),
    [
        (ROUTER, {"externalFixedIps": [{"ipAddress": "203.0.113.9"}]}, "external_fixed_ips"),
        (ROUTER, {"distributed": True}, "create_router:distributed"),
        # distributed has no default (ATTR_NOT_SPECIFIED): even false is explicit.
        (ROUTER, {"distributed": False}, "create_router:distributed"),
        (NETWORK, {"valueSpecs": {"is_default": "true"}}, "create_network:is_default"),
        (NETWORK, {"shared": True}, "create_network:shared"),
        (NETWORK, {"external": True}, "create_network:router:external"),
        (NETWORK, {"valueSpecs": {"provider:network_type": "vlan"}}, "provider:network_type"),
        (PORT, {"binding": {"hostId": "compute-1"}}, "create_port:binding:host_id"),
    ],
)
def test_admin_only_attributes_are_refused(analyzer: Analyzer, type_: str, inputs: dict[str, Any], rule: str) -> None:
    found = assert_violation(analyzer, "openstack-admin-only-attributes", _os(type_, "x", inputs))
    assert rule in found[0].message


def _said(found: list[Any]) -> list[str]:
    return [v.message.rsplit("\n", 1)[-1] for v in found]


def test_admin_only_messages_name_the_key_path_and_the_rule(analyzer: Analyzer) -> None:
    inputs = {"valueSpecs": {"provider:network_type": "vlan"}, "shared": True}
    found = assert_violation(analyzer, "openstack-admin-only-attributes", _os(NETWORK, "x", inputs))
    assert sorted(_said(found)) == [
        "shared is set, and Neutron's default policy 'create_network:shared' allows it to admins only: "
        "a project member's credential gets 403 Forbidden",
        "valueSpecs.provider:network_type is set, and Neutron's default policy "
        "'create_network:provider:network_type' allows it to admins only: a project member's credential gets "
        "403 Forbidden",
    ]


@pytest.mark.parametrize(
    ("type_", "inputs"),
    [
        # Top-level attributes at their default are not "explicitly set" (neutron/policy.py
        # _is_attribute_explicitly_set): shared and router:external default to False.
        (NETWORK, {"shared": False, "external": False}),
        (NETWORK, {"valueSpecs": {"is_default": "false"}}),
    ],
)
def test_top_level_attributes_at_their_default_pass(analyzer: Analyzer, type_: str, inputs: dict[str, Any]) -> None:
    assert_clean(analyzer, "openstack-admin-only-attributes", _os(type_, "x", inputs))


def test_member_attributes_pass(analyzer: Analyzer) -> None:
    assert_clean(analyzer, "openstack-admin-only-attributes", _os(ROUTER, "r", {"externalNetworkId": "x"}))
    assert_clean(analyzer, "openstack-admin-only-attributes", _os(PORT, "p", {"binding": {"vnicType": "normal"}}))


@pytest.mark.parametrize(
    ("type_", "tags", "ok"),
    [
        (INSTANCE, ["project=a", "example.org/team=ml"], False),
        (INSTANCE, ["cost-centre=" + "c" * 50], False),
        (INSTANCE, ["project=a", "cluster=lab"], True),
        (NETWORK, ["example.org/team=ml"], True),
        (NETWORK, ["owner=a,b@example.org"], False),
        (LOAD_BALANCER, ["example.org/team=ml", "x" * 200], True),
    ],
)
def test_tags_follow_their_service(analyzer: Analyzer, type_: str, tags: list[str], ok: bool) -> None:
    plan = _os(type_, "x", {"tags": tags})
    if ok:
        assert_clean(analyzer, "openstack-tags-accepted", plan)
    else:
        assert_violation(analyzer, "openstack-tags-accepted", plan)


def test_tag_problems_are_reported_as_the_service_words_them(analyzer: Analyzer) -> None:
    plan = _os(INSTANCE, "x", {"tags": ["project=a", "example.org/team=ml", "cost-centre=" + "c" * 50]})
    found = assert_violation(analyzer, "openstack-tags-accepted", plan)
    assert _said(found) == NOVA_TAGS.problems(["project=a", "example.org/team=ml", "cost-centre=" + "c" * 50])
    assert _said(found) == [
        "Nova tags may not contain ',' or '/', which the tag for 'example.org/team' does",
        "Nova tags have at most 60 characters; the tag for 'cost-centre' (key=value) has 62",
    ]
    # Resources of types without tag rules, and resources without tags, are not asked.
    volume = _os("openstack:blockstorage/volume:Volume", "v", {"tags": ["x" * 300]})
    assert_clean(analyzer, "openstack-tags-accepted", volume, _os(INSTANCE, "n", {"name": "n"}))


@pytest.mark.parametrize("stack", bundled_stacks())
def test_bundled_stacks_send_nothing_the_clouds_refuse(bundled_plan: Callable[[str], Plan], stack: str) -> None:
    plan = bundled_plan(stack)
    assert not [r["name"] for r in plan.by_type(ROUTER) if "enableSnat" in r["inputs"]]
    for record in plan.resources:
        if record["type"] == INSTANCE:
            assert NOVA_TAGS.problems(record["inputs"].get("tags", [])) == [], record["name"]


@pytest.mark.parametrize(
    ("instance_type", "arm64"),
    [
        # The options after the generation: `g` is "AWS Graviton processors" (EC2 instance type naming conventions).
        ("m7g.large", True),
        ("c6gn.xlarge", True),
        ("t4g.small", True),
        ("im4gn.large", True),
        ("r8gd.metal-48xl", True),
        ("g5g.xlarge", True),
        # A GPU series (`g5`, `g4dn`) or a variant after a hyphen is no option.
        ("g5.12xlarge", False),
        ("g4dn.xlarge", False),
        ("m7i-flex.large", False),
        ("p6-b200.48xlarge", False),
        ("m6i.2xlarge", False),
        ("c7a.large", False),
        ("gr6.4xlarge", False),
    ],
)
def test_graviton_instance_types_are_told_by_their_options(instance_type: str, arm64: bool) -> None:
    from components.cloudrules import ec2_is_arm64

    assert ec2_is_arm64(instance_type) is arm64
