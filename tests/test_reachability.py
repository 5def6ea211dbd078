"""Sites reach each other through declared paths: egress addresses, site references, interconnects.

Sites are separate clouds. Traffic from AWS reaches an OpenStack site from the NAT gateways'
Elastic IPs, and traffic from OpenStack reaches AWS from the router's external gateway
address, never from either site's private range (unless an interconnect routes it). The
tests recompute the mocks' addresses (scripts.mocks.documentation_ip, by resource name) and
check that an allow-list naming a site holds exactly those addresses, on every backend.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.spec import SpecError, parse_platform
from scripts.harness import Plan
from scripts.mocks import documentation_ip

LISTENER = "openstack:loadbalancer/listener:Listener"
LOAD_BALANCER = "openstack:loadbalancer/loadBalancer:LoadBalancer"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"


def _rke2(**extra: Any) -> dict[str, Any]:
    return {
        "site": "os-a",
        "backend": "rke2",
        "version": "1.33",
        "control_plane": {"count": 1, "flavor": "m1.large"},
        "node_pools": {"w": {"flavor": "m1.large"}},
        **extra,
    }


def _eks(**extra: Any) -> dict[str, Any]:
    return {"site": "aws-b", "backend": "eks", "version": "1.34", "node_pools": {"w": {"flavor": "m6i.large"}}, **extra}


def _magnum(**extra: Any) -> dict[str, Any]:
    return {
        "site": "os-a",
        "backend": "magnum",
        "version": "1.34",
        "image": "ubuntu-2404-kube-v1.34.7",
        "control_plane": {"count": 1, "flavor": "m1.large"},
        "node_pools": {"w": {"flavor": "m1.large"}},
        **extra,
    }


@pytest.fixture
def crossed(plan_of: Callable[..., Plan], base_platform: dict[str, Any]) -> Plan:
    """rke2 and magnum on os-a allowing the AWS site, eks on aws-b allowing the OpenStack site (NAT per zone)."""
    platform = copy.deepcopy(base_platform)
    platform["sites"]["aws-b"]["aws"]["nat"] = "per-az"
    platform["clusters"] = {
        "lab": _rke2(api_cidrs=["site:aws-b", "203.0.113.0/28"]),
        "mag": _magnum(api_cidrs=["site:aws-b"]),
        "ml": _eks(api_cidrs=["site:os-a"]),
    }
    return plan_of(platform)


#: The mocks' public addresses (RFC 5737), by the resource that holds them: the NAT gateways'
#: EIPs (`<site>-nat-<zone>`) and the OpenStack router (`<site>-router`).
AWS_EGRESS = [f"{documentation_ip(f'aws-b-nat-{zone}')}/32" for zone in ("eu-west-1a", "eu-west-1b")]
OS_EGRESS = f"{documentation_ip('os-a-router')}/32"


def test_sites_publish_their_egress_addresses(crossed: Plan) -> None:
    # One Elastic IP per NAT gateway (nat: per-az, two zones); the router's external gateway address.
    assert crossed.outputs["egress_addresses"] == {
        "aws-b": [address.removesuffix("/32") for address in AWS_EGRESS],
        "os-a": [OS_EGRESS.removesuffix("/32")],
    }


def test_rke2_api_admits_the_other_sites_nat_gateways_not_its_private_range(crossed: Plan) -> None:
    listener = crossed.one(LISTENER, "lab-api-6443")["inputs"]
    allowed = listener["allowedCidrs"]
    for address in AWS_EGRESS:
        assert address in allowed
    assert "10.20.0.0/16" not in allowed  # aws-b's private network never arrives here
    assert "203.0.113.0/28" in allowed and "10.10.0.0/16" in allowed  # a plain CIDR and the own site subnet
    assert allowed == sorted(set(allowed))
    # The supervisor port stays private to the site.
    assert crossed.one(LISTENER, "lab-api-9345")["inputs"]["allowedCidrs"] == ["10.10.0.0/16"]


def test_eks_public_endpoint_admits_the_openstack_router(crossed: Plan) -> None:
    vpc = crossed.one(EKS_CLUSTER, "ml-eks")["inputs"]["vpcConfig"]
    assert vpc["publicAccessCidrs"] == ["198.51.100.0/24", OS_EGRESS]
    assert vpc["endpointPublicAccess"] is True


def test_magnum_allow_list_names_the_nat_gateways_and_the_management_cluster(crossed: Plan) -> None:
    labels = crossed.one(TEMPLATE, "mag-template")["inputs"]["labels"]
    allowed = labels["api_master_lb_allowed_cidrs"].split(",")
    assert set(AWS_EGRESS) <= set(allowed)
    assert "192.0.2.248/29" in allowed  # magnum_management_cidrs of os-a (tests/specs/minimal.happy.yaml)
    assert "10.20.0.0/16" not in allowed


def test_load_balancers_name_their_octavia_provider(crossed: Plan) -> None:
    # The listeners use amphora-only settings; ovn-octavia-provider refuses allowed_cidrs
    # (driver.py UnsupportedOptionError) and released versions balance with SOURCE_IP_PORT only.
    assert crossed.one(LOAD_BALANCER, "lab-api")["inputs"]["loadbalancerProvider"] == "amphora"
    assert crossed.one(TEMPLATE, "mag-template")["inputs"]["labels"]["octavia_provider"] == "amphora"


# -- the spec's rules -------------------------------------------------------------------------------


def _problems(platform: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_platform(platform, "x")
    return caught.value.problems


def test_another_sites_private_range_needs_an_interconnect(base_platform: dict[str, Any]) -> None:
    platform = copy.deepcopy(base_platform)
    platform["clusters"] = {"lab": _rke2(api_cidrs=["10.20.8.0/24"])}
    ((path, message),) = _problems(platform)
    assert path == "meridian:platform.clusters.lab.api_cidrs[0]"
    assert "site:aws-b" in message and "interconnect" in message
    platform["interconnects"] = {"geant": {"sites": ["aws-b", "os-a"], "description": "L3VPN"}}
    spec = parse_platform(platform, "x")
    assert spec.interconnected("os-a", "aws-b") and spec.interconnected("aws-b", "os-a")


def test_a_private_range_around_another_sites_network_needs_an_interconnect(base_platform: dict[str, Any]) -> None:
    # 10.0.0.0/8 is not inside aws-b's 10.20.0.0/16 but reaches into it: a private range can only
    # mean that network, which does not route to os-a.
    platform = copy.deepcopy(base_platform)
    platform["clusters"] = {"lab": _rke2(api_cidrs=["10.0.0.0/8"])}
    problems = _problems(platform)
    assert [path for path, _ in problems] == ["meridian:platform.clusters.lab.api_cidrs[0]"] * len(problems)
    assert any("site:aws-b" in message for _, message in problems)


def test_own_range_and_foreign_public_ranges_need_nothing(base_platform: dict[str, Any]) -> None:
    platform = copy.deepcopy(base_platform)
    platform["clusters"] = {"lab": _rke2(api_cidrs=["10.10.4.0/24", "203.0.113.0/28", "site:os-a"])}
    assert parse_platform(platform, "x")


def test_site_references_and_interconnects_name_known_sites(base_platform: dict[str, Any]) -> None:
    platform = copy.deepcopy(base_platform)
    platform["clusters"] = {"lab": _rke2(api_cidrs=["site:nowhere"])}
    platform["interconnects"] = {"loop": {"sites": ["os-a", "os-a"]}, "lost": {"sites": ["os-a", "gone"]}}
    assert _problems(platform) == [
        ("meridian:platform.interconnects.loop.sites", "an interconnect joins two different sites"),
        ("meridian:platform.interconnects.lost.sites[1]", "unknown site 'gone' (known: aws-b, os-a)"),
        ("meridian:platform.clusters.lab.api_cidrs[0]", "unknown site 'nowhere' (known: aws-b, os-a)"),
    ]


@pytest.mark.parametrize(
    ("entry", "words"),
    [("site:Bad_Name", "not a site reference"), ("10.0.0.1/8", "host bits"), ("nonsense", "site:<site name>")],
)
def test_malformed_entries_say_what_is_accepted(base_platform: dict[str, Any], entry: str, words: str) -> None:
    platform = copy.deepcopy(base_platform)
    platform["clusters"] = {"lab": _rke2(api_cidrs=[entry])}
    ((path, message),) = _problems(platform)
    assert path == "meridian:platform.clusters.lab.api_cidrs[0]" and words in message


def test_magnum_needs_the_management_clusters_addresses(base_platform: dict[str, Any]) -> None:
    platform = copy.deepcopy(base_platform)
    platform["sites"]["os-a"]["openstack"].pop("magnum_management_cidrs")
    platform["clusters"] = {"mag": _magnum()}
    ((path, message),) = _problems(platform)
    assert path == "meridian:platform.sites.os-a.openstack.magnum_management_cidrs"
    assert "management cluster" in message
    platform["clusters"] = {"lab": _rke2()}  # other backends do not need it
    assert parse_platform(platform, "x")


def test_sources_name_each_address_and_the_site_it_stands_for() -> None:
    # The slug names the resources made per source (a security-group rule per address) and stays
    # put when the list is reordered; `site` tells consumers which entries stand for a site.
    from types import SimpleNamespace

    from components.reachability import sources

    # Egress addresses are Outputs; a stand-in with `apply` (no engine needed) gives the same sources.
    addresses = [SimpleNamespace(apply=lambda render, ip=ip: render(ip)) for ip in ("203.0.113.5", "203.0.113.6")]
    site = SimpleNamespace(egress_addresses=addresses)
    found = sources(["site:aws-b", "192.0.2.0/24", "2001:db8::/48"], {"aws-b": site})
    assert [(s.slug, s.version, s.site) for s in found] == [
        ("aws-b-egress-0", 4, "aws-b"),
        ("aws-b-egress-1", 4, "aws-b"),
        ("192-0-2-0-24", 4, None),
        ("2001-db8---48", 6, None),
    ]
    assert [s.cidr for s in found[:3]] == ["203.0.113.5/32", "203.0.113.6/32", "192.0.2.0/24"]


def test_no_gitops_engine_opens_no_paths(base_platform: dict[str, Any]) -> None:
    # `gitops: {engine: none}` names no management cluster (components/spec/gitops.py: only an
    # engine needs one), and an engine whose every other cluster is excluded registers none: no
    # engine path into any API, and no lookup of a management cluster that is not there.
    from components.reachability import gitops_sources

    platform = copy.deepcopy(base_platform)
    platform["clusters"] = {"lab": _rke2(), "ml": _eks()}
    platform["gitops"] = {"engine": "none"}
    spec = parse_platform(platform, "test")
    assert [gitops_sources(spec, name) for name in ("lab", "ml")] == [[], []]
    platform["gitops"] = {"engine": "fleet", "management_cluster": "lab", "exclude": ["ml"]}
    spec = parse_platform(platform, "test")
    assert [gitops_sources(spec, name) for name in ("lab", "ml")] == [[], []]
