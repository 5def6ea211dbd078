"""Sites: the values that matter in OpenStack and AWS site plans, tags decided by the SDK, no admin port open.

Every plan comes from the one offline harness (the `plan_of` / `bundled_plan` fixtures). Inputs
that reference another resource hold the ID the mocks gave that resource, so wiring is checked
by comparing against the referenced resource's mock ID, recomputed with `scripts.mocks`.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any

import pulumi_aws  # noqa: F401 - importing a provider SDK registers its type tokens
import pulumi_openstack  # noqa: F401
import pytest
import yaml
from conftest import PlanCache
from pulumi.runtime import MockResourceArgs

from components import ports
from components.spec import SpecError, aws_subnet_layout
from scripts.harness import SECRET, STACKS, UNKNOWN, Plan, bundled_stacks
from scripts.mocks import MeridianMocks, stable_uuid
from scripts.sdk import takes_tags as _takes_tags

BUNDLED = bundled_stacks()

OS_PROVIDER = "pulumi:providers:openstack"
OS_NETWORK = "openstack:networking/network:Network"
OS_SUBNET = "openstack:networking/subnet:Subnet"
OS_ROUTER = "openstack:networking/router:Router"
OS_ROUTER_INTERFACE = "openstack:networking/routerInterface:RouterInterface"
OS_SECGROUP = "openstack:networking/secGroup:SecGroup"
OS_RULE = "openstack:networking/secGroupRule:SecGroupRule"
OS_KEYPAIR = "openstack:compute/keypair:Keypair"

AWS_PROVIDER = "pulumi:providers:aws"
AWS_VPC = "aws:ec2/vpc:Vpc"
AWS_SUBNET = "aws:ec2/subnet:Subnet"
AWS_IGW = "aws:ec2/internetGateway:InternetGateway"
AWS_EIP = "aws:ec2/eip:Eip"
AWS_NAT = "aws:ec2/natGateway:NatGateway"
AWS_ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
AWS_ROUTE = "aws:ec2/route:Route"
AWS_RT_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
AWS_SG = "aws:ec2/securityGroup:SecurityGroup"
AWS_DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
AWS_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
AWS_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"

# --------------------------------------------------------------------------------------------
# Plans: evaluated once per test process, always through the conftest fixtures.


def _variant(platform: dict[str, Any]) -> dict[str, Any]:
    """The minimal platform with the other choices: per-az NAT over three zones, other CIDRs, site labels."""
    platform = copy.deepcopy(platform)
    os_a = platform["sites"]["os-a"]
    os_a["admin_cidrs"] = ["203.0.113.0/24", "2001:db8:aa::/48", "198.51.100.128/25"]
    os_a["dns"]["nameservers"] = ["10.10.0.2", "10.10.0.3"]
    os_a["labels"] = {"team": "ml-ops"}
    aws_b = platform["sites"]["aws-b"]
    aws_b["aws"]["availability_zones"] = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]  # minimal's two, plus one
    aws_b["aws"]["nat"] = "per-az"
    aws_b["admin_cidrs"] = ["198.51.100.0/24", "2001:db8:bb::/48"]
    aws_b["labels"] = {"data-classification": "restricted"}  # a site may override a project label's value
    return platform


_PLANS: dict[str, tuple[dict[str, Any], Plan]] = PlanCache()
Plans = Callable[[str], tuple[dict[str, Any], Plan]]


@pytest.fixture
def plans(plan_of: Callable[..., Plan], base_platform: dict[str, Any], bundled_plan: Callable[[str], Plan]) -> Plans:
    """`(platform mapping, plan)` for "minimal", "variant" or a bundled stack's name; each evaluated once."""

    def get(which: str) -> tuple[dict[str, Any], Plan]:
        if which not in _PLANS:
            if which == "minimal":
                _PLANS[which] = (base_platform, plan_of(base_platform))
            elif which == "variant":
                platform = _variant(base_platform)
                _PLANS[which] = (platform, plan_of(platform))
            else:
                raw = yaml.safe_load((STACKS / f"Pulumi.{which}.yaml").read_text())["config"]["meridian:platform"]
                _PLANS[which] = (raw, bundled_plan(which))
        return _PLANS[which]

    return get


class Site:
    """The resources of one site component of a plan (its descendants), looked up by type and name."""

    def __init__(self, plan: Plan, name: str) -> None:
        self.component = next(
            r for r in plan.resources if r["type"].startswith("meridian:sites:") and r["name"] == name
        )
        scope = plan.within(self.component["urn"])
        self.resources, self.all, self.one = scope.resources, scope.by_type, scope.one


_MOCKS = MeridianMocks()


def mock_id(resource: dict[str, Any]) -> str:
    """The ID the offline engine's mocks give `resource` (a function of its type and name only)."""
    args = MockResourceArgs(resource["type"], resource["name"], dict(resource["inputs"]), None, None, True)
    resource_id, _ = _MOCKS.new_resource(args)
    assert resource_id
    return resource_id


def mock_state(resource: dict[str, Any]) -> dict[str, Any]:
    """The output state the mocks give `resource` (for computed attributes such as an EIP's allocation ID)."""
    args = MockResourceArgs(resource["type"], resource["name"], dict(resource["inputs"]), None, None, True)
    return _MOCKS.new_resource(args)[1]


def family(cidr: str) -> int:
    return ipaddress.ip_network(cidr).version


def assert_on_provider(site: Site, provider: dict[str, Any]) -> None:
    """Every custom resource of the site except the provider itself goes through the site's provider."""
    custom = [r for r in site.resources if r["custom"] and r is not provider]
    assert custom
    for resource in custom:
        assert resource["provider"], f"{resource['name']} uses the ambient default provider"
        assert resource["provider"].startswith(provider["urn"] + "::"), resource["name"]


# --------------------------------------------------------------------------------------------
# OpenStack


@pytest.mark.parametrize("which", ["minimal", "variant"])
def test_openstack_network_subnet_and_router(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    spec = platform["sites"]["os-a"]
    site = Site(plan, "os-a")
    network = site.one(OS_NETWORK, "os-a-network")
    subnet = site.one(OS_SUBNET, "os-a-subnet")
    router = site.one(OS_ROUTER, "os-a-router")

    assert network["inputs"]["adminStateUp"] is True
    assert network["inputs"]["portSecurityEnabled"] is True
    assert subnet["inputs"]["cidr"] == spec["cidr"]
    assert subnet["inputs"]["ipVersion"] == 4
    assert subnet["inputs"]["enableDhcp"] is True
    assert subnet["inputs"]["dnsNameservers"] == spec["dns"]["nameservers"]
    assert subnet["inputs"]["networkId"] == mock_id(network)

    # The gateway is the external network the getNetwork data source found by the spec's name.
    assert router["inputs"]["externalNetworkId"] == stable_uuid("network", spec["openstack"]["external_network"])
    # Neutron checks `create_router:external_gateway_info:enable_snat` (admin only by default,
    # neutron/conf/policies/router.py) whenever the key is sent, even as true; SNAT is the
    # default (neutron/conf/db/l3_gwmode_db.py enable_snat_by_default=True). Admin-only
    # attributes of every resource are policed by openstack-admin-only-attributes.
    assert "enableSnat" not in router["inputs"]
    assert "externalFixedIps" not in router["inputs"]
    interface = site.one(OS_ROUTER_INTERFACE)
    assert interface["inputs"] == {"routerId": mock_id(router), "subnetId": mock_id(subnet)}


@pytest.mark.parametrize("which", ["minimal", "variant"])
def test_openstack_security_groups(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    admin_cidrs = platform["sites"]["os-a"]["admin_cidrs"]
    site = Site(plan, "os-a")
    admin = site.one(OS_SECGROUP, "os-a-admin")
    internal = site.one(OS_SECGROUP, "os-a-internal")
    assert admin["inputs"]["deleteDefaultRules"] is True
    assert internal["inputs"]["deleteDefaultRules"] is True
    rules = [r["inputs"] for r in site.all(OS_RULE)]
    assert {r["securityGroupId"] for r in rules} == {mock_id(admin), mock_id(internal)}

    admin_ingress = [r for r in rules if r["securityGroupId"] == mock_id(admin) and r["direction"] == "ingress"]
    expected = [
        {"protocol": "tcp", "min": port, "max": port, "prefix": cidr, "ethertype": f"IPv{family(cidr)}"}
        for cidr in admin_cidrs
        for port in (ports.SSH, ports.KUBE_API)
    ]
    actual = [
        {
            "protocol": r.get("protocol"),
            "min": r.get("portRangeMin"),
            "max": r.get("portRangeMax"),
            "prefix": r.get("remoteIpPrefix"),
            "ethertype": r["ethertype"],
        }
        for r in admin_ingress
    ]
    # Exactly one rule per (CIDR, port) and nothing else enters the admin group.
    key = lambda rule: (rule["prefix"], rule["min"])  # noqa: E731
    assert sorted(actual, key=key) == sorted(expected, key=key)

    internal_ingress = [r for r in rules if r["securityGroupId"] == mock_id(internal) and r["direction"] == "ingress"]
    assert len(internal_ingress) == 1
    members = internal_ingress[0]
    assert members["remoteGroupId"] == mock_id(internal)
    assert "remoteIpPrefix" not in members
    assert "protocol" not in members and "portRangeMin" not in members  # all traffic, members only

    for group in (admin, internal):
        egress = {
            (r["ethertype"], r["remoteIpPrefix"])
            for r in rules
            if r["securityGroupId"] == mock_id(group) and r["direction"] == "egress"
        }
        assert egress == {("IPv4", "0.0.0.0/0"), ("IPv6", "::/0")}, group["name"]


def test_openstack_keypair_and_provider(plans: Plans) -> None:
    platform, plan = plans("minimal")
    spec = platform["sites"]["os-a"]["openstack"]
    site = Site(plan, "os-a")
    assert site.one(OS_KEYPAIR, "os-a-keypair")["inputs"]["publicKey"] == spec["ssh_public_key"]
    provider = site.one(OS_PROVIDER, "os-a-provider")
    assert provider["inputs"]["cloud"] == spec["cloud"]
    assert provider["inputs"]["region"] == spec["region"]
    assert_on_provider(site, provider)


# --------------------------------------------------------------------------------------------
# AWS


@pytest.mark.parametrize(
    ("vpc", "zones"),
    [
        ("10.20.0.0/16", ["z1a", "z1b"]),
        ("10.41.0.0/16", ["z1a", "z1b", "z1c"]),
        ("172.16.0.0/20", [f"z1{c}" for c in "abcdef"]),
        ("192.168.64.0/18", ["z1a", "z1b", "z1c", "z1d"]),
    ],
)
def test_aws_subnet_layout(vpc: str, zones: list[str]) -> None:
    layout = aws_subnet_layout(vpc, zones)
    network = ipaddress.ip_network(vpc)
    assert list(layout) == zones
    subnets = [ipaddress.ip_network(cidrs[role]) for cidrs in layout.values() for role in ("private", "public")]
    assert all(s.subnet_of(network) for s in subnets)  # type: ignore[arg-type]
    assert all(s.prefixlen == network.prefixlen + 4 for s in subnets)
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    # Appending a zone never moves an existing subnet (that would replace the nodes in it).
    for n in range(1, len(zones)):
        smaller = aws_subnet_layout(vpc, zones[:n])
        assert {z: layout[z] for z in zones[:n]} == smaller


@pytest.mark.parametrize("which", ["minimal", "variant"])
def test_aws_vpc_and_subnets(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    spec = platform["sites"]["aws-b"]
    zones = spec["aws"]["availability_zones"]
    site = Site(plan, "aws-b")
    vpc = site.one(AWS_VPC, "aws-b-vpc")
    assert vpc["inputs"]["cidrBlock"] == spec["cidr"]
    assert vpc["inputs"]["enableDnsSupport"] is True
    assert vpc["inputs"]["enableDnsHostnames"] is True

    layout = aws_subnet_layout(spec["cidr"], zones)
    assert len(site.all(AWS_SUBNET)) == 2 * len(zones)
    for zone in zones:
        for role, elb_tag in (("private", "kubernetes.io/role/internal-elb"), ("public", "kubernetes.io/role/elb")):
            subnet = site.one(AWS_SUBNET, f"aws-b-{role}-{zone}")["inputs"]
            assert subnet["cidrBlock"] == layout[zone][role]
            assert subnet["availabilityZone"] == zone
            assert subnet["vpcId"] == mock_id(vpc)
            assert subnet["mapPublicIpOnLaunch"] is False
            assert subnet["tags"][elb_tag] == "1"
            other = "kubernetes.io/role/elb" if role == "private" else "kubernetes.io/role/internal-elb"
            assert other not in subnet["tags"]


def test_aws_appending_a_zone_keeps_existing_subnets(plans: Plans) -> None:
    _, two = plans("minimal")
    _, three = plans("variant")  # same VPC CIDR, the same two zones plus eu-west-1c
    before = {r["urn"]: r["inputs"]["cidrBlock"] for r in Site(two, "aws-b").all(AWS_SUBNET)}
    after = {r["urn"]: r["inputs"]["cidrBlock"] for r in Site(three, "aws-b").all(AWS_SUBNET)}
    assert before and {urn: after.get(urn) for urn in before} == before


@pytest.mark.parametrize("which", ["minimal", "variant"])
def test_aws_public_routing(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    zones = platform["sites"]["aws-b"]["aws"]["availability_zones"]
    site = Site(plan, "aws-b")
    vpc = site.one(AWS_VPC)
    igw = site.one(AWS_IGW)
    assert igw["inputs"]["vpcId"] == mock_id(vpc)
    public_rt = site.one(AWS_ROUTE_TABLE, "aws-b-public-rt")
    assert public_rt["inputs"]["vpcId"] == mock_id(vpc)
    routes = [r["inputs"] for r in site.all(AWS_ROUTE) if r["inputs"]["routeTableId"] == mock_id(public_rt)]
    assert routes == [
        {"routeTableId": mock_id(public_rt), "destinationCidrBlock": "0.0.0.0/0", "gatewayId": mock_id(igw)}
    ]
    associated = sorted(
        r["inputs"]["subnetId"]
        for r in site.all(AWS_RT_ASSOCIATION)
        if r["inputs"]["routeTableId"] == mock_id(public_rt)
    )
    assert associated == sorted(mock_id(site.one(AWS_SUBNET, f"aws-b-public-{zone}")) for zone in zones)


@pytest.mark.parametrize("which", ["minimal", "variant"])
def test_aws_private_routing_through_nat(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    settings = platform["sites"]["aws-b"]["aws"]
    zones = settings["availability_zones"]
    site = Site(plan, "aws-b")
    igw = site.one(AWS_IGW)
    nats = {r["name"]: r for r in site.all(AWS_NAT)}
    nat_zones = zones if settings["nat"] == "per-az" else zones[:1]
    assert sorted(nats) == sorted(f"aws-b-nat-{zone}" for zone in nat_zones)
    assert len(site.all(AWS_EIP)) == len(nat_zones)
    for zone in nat_zones:
        nat = nats[f"aws-b-nat-{zone}"]
        eip = site.one(AWS_EIP, f"aws-b-nat-{zone}")
        assert eip["inputs"]["domain"] == "vpc"
        assert nat["inputs"]["allocationId"] == mock_state(eip)["allocationId"]
        assert nat["inputs"]["subnetId"] == mock_id(site.one(AWS_SUBNET, f"aws-b-public-{zone}"))
        assert nat["inputs"]["connectivityType"] == "public"
        assert igw["urn"] in nat["depends_on"]  # a NAT gateway needs the VPC's internet gateway attached

    associations = site.all(AWS_RT_ASSOCIATION)
    routes = site.all(AWS_ROUTE)
    for zone in zones:
        subnet_id = mock_id(site.one(AWS_SUBNET, f"aws-b-private-{zone}"))
        tables = [a["inputs"]["routeTableId"] for a in associations if a["inputs"]["subnetId"] == subnet_id]
        assert len(tables) == 1, zone
        table = next(t for t in site.all(AWS_ROUTE_TABLE) if mock_id(t) == tables[0])
        assert table["name"] == f"aws-b-private-rt-{zone}"
        defaults = [r["inputs"] for r in routes if r["inputs"]["routeTableId"] == tables[0]]
        expected_nat = nats[f"aws-b-nat-{zone if settings['nat'] == 'per-az' else zones[0]}"]
        assert defaults == [
            {"routeTableId": tables[0], "destinationCidrBlock": "0.0.0.0/0", "natGatewayId": mock_id(expected_nat)}
        ]


@pytest.mark.parametrize("which", ["minimal", "variant"])
def test_aws_security_groups(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    admin_cidrs = platform["sites"]["aws-b"]["admin_cidrs"]
    site = Site(plan, "aws-b")
    vpc = site.one(AWS_VPC)
    admin = site.one(AWS_SG, "aws-b-admin")
    internal = site.one(AWS_SG, "aws-b-internal")
    for group in (admin, internal):
        assert group["inputs"]["vpcId"] == mock_id(vpc)
        assert "ingress" not in group["inputs"] and "egress" not in group["inputs"]  # rules are separate resources

    ingress = [r["inputs"] for r in site.all(AWS_INGRESS)]
    admin_ingress = [r for r in ingress if r["securityGroupId"] == mock_id(admin)]
    expected = sorted(
        (port, port, "tcp", "cidrIpv4" if family(cidr) == 4 else "cidrIpv6", cidr)
        for cidr in admin_cidrs
        for port in (ports.SSH, ports.KUBE_API)
    )
    actual = []
    for rule in admin_ingress:
        sources = [key for key in ("cidrIpv4", "cidrIpv6", "referencedSecurityGroupId", "prefixListId") if key in rule]
        assert len(sources) == 1, rule
        actual.append((rule["fromPort"], rule["toPort"], rule["ipProtocol"], sources[0], rule[sources[0]]))
    assert sorted(actual) == expected

    internal_ingress = [r for r in ingress if r["securityGroupId"] == mock_id(internal)]
    assert len(internal_ingress) == 1
    assert internal_ingress[0]["referencedSecurityGroupId"] == mock_id(internal)
    assert internal_ingress[0]["ipProtocol"] == "-1"
    assert "cidrIpv4" not in internal_ingress[0] and "cidrIpv6" not in internal_ingress[0]
    assert len(ingress) == len(admin_ingress) + len(internal_ingress)

    egress = [r["inputs"] for r in site.all(AWS_EGRESS)]
    for group in (admin, internal):
        mine = [r for r in egress if r["securityGroupId"] == mock_id(group)]
        assert len(mine) == 2, group["name"]
        assert {(r["ipProtocol"], r.get("cidrIpv4"), r.get("cidrIpv6")) for r in mine} == {
            ("-1", "0.0.0.0/0", None),
            ("-1", None, "::/0"),
        }

    default = site.one(AWS_DEFAULT_SG, "aws-b-default-sg")
    assert default["inputs"]["vpcId"] == mock_id(vpc)
    assert default["inputs"]["ingress"] == []
    assert default["inputs"]["egress"] == []


def test_aws_provider(plans: Plans) -> None:
    platform, plan = plans("minimal")
    settings = platform["sites"]["aws-b"]["aws"]
    site = Site(plan, "aws-b")
    provider = site.one(AWS_PROVIDER, "aws-b-provider")
    # Provider inputs reach the engine JSON-encoded (strings), as the SDK sends provider config.
    assert provider["inputs"]["region"] == settings["region"]
    assert json.loads(provider["inputs"]["allowedAccountIds"]) == [settings["account_id"]]
    assert "profile" not in provider["inputs"]
    assert_on_provider(site, provider)


# --------------------------------------------------------------------------------------------
# Tags: which resources take them is decided by the provider SDK, not by a list kept here.


def takes_tags(resource: dict[str, Any]) -> bool:
    """Whether the SDK constructor of the resource's type has a `tags` argument."""
    return _takes_tags(resource["type"], resource["version"])


def tag_map(tags: Any) -> dict[str, str]:
    """AWS tags are a map; OpenStack tags a list of `key=value` strings."""
    if isinstance(tags, dict):
        return tags
    assert isinstance(tags, list), tags
    assert all(isinstance(t, str) and "=" in t for t in tags), tags
    pairs = [tag.split("=", 1) for tag in tags]
    assert len({key for key, _ in pairs}) == len(pairs), f"a key repeats in {tags}"
    return dict(pairs)


def expected_tags(platform: dict[str, Any], site: str | None) -> dict[str, str]:
    project = platform["project"]
    labels = {**project.get("labels", {}), **(platform["sites"][site].get("labels", {}) if site else {})}
    expected = {
        "project": project["name"],
        "managed-by": "meridian",
        "cost-centre": project["cost_centre"],
        "owner": project["owner"],
        **{key: labels[key] for key in project.get("labels", {})},
        **{key: labels[key] for key in project.get("required_labels", [])},
    }
    if site:
        expected["site"] = site
    return expected


def untagged(plan: Plan, platform: dict[str, Any]) -> list[str]:
    """Resources whose type takes tags but lack (or mis-set) the ones every resource must carry."""
    by_urn = {r["urn"]: r for r in plan.resources}
    problems = []
    for resource in plan.resources:
        if not resource["custom"] or not takes_tags(resource):
            continue
        site, parent = None, resource["parent"]
        while parent in by_urn:
            if by_urn[parent]["type"].startswith("meridian:sites:"):
                site = by_urn[parent]["name"]
                break
            parent = by_urn[parent]["parent"]
        tags = tag_map(resource["inputs"].get("tags", {}))
        wrong = {k: tags.get(k) for k, v in expected_tags(platform, site).items() if tags.get(k) != v}
        if wrong:
            problems.append(f"{resource['type']} {resource['name']}: {wrong}")
    return problems


def test_sdk_decides_which_types_take_tags(plans: Plans) -> None:
    _, plan = plans("minimal")
    verdict = {r["type"]: takes_tags(r) for r in plan.resources if r["custom"]}
    # Spot checks that the SDK lookup works both ways (no resource type here is decided by this list).
    assert verdict[AWS_VPC] and verdict[AWS_INGRESS] and verdict[OS_NETWORK] and verdict[OS_SECGROUP]
    assert not verdict[AWS_ROUTE] and not verdict[OS_RULE] and not verdict[OS_KEYPAIR]
    assert not verdict[AWS_PROVIDER]  # the AWS provider takes default_tags, not tags


def test_tag_check_reports_missing_and_wrong_tags(plans: Plans) -> None:
    platform, plan = plans("minimal")
    broken = copy.deepcopy(plan)
    vpc = next(r for r in broken.resources if r["type"] == AWS_VPC)
    del vpc["inputs"]["tags"]["cost-centre"]
    network = next(r for r in broken.resources if r["type"] == OS_NETWORK)
    network["inputs"]["tags"] = [t for t in network["inputs"]["tags"] if not t.startswith("site=")] + ["site=other"]
    route = next(r for r in broken.resources if r["type"] == AWS_ROUTE)
    assert "tags" not in route["inputs"]  # takes no tags: never reported
    assert untagged(broken, platform) == [
        f"{AWS_VPC} aws-b-vpc: {{'cost-centre': None}}",
        f"{OS_NETWORK} os-a-network: {{'site': 'other'}}",
    ]


@pytest.mark.parametrize("which", ["minimal", "variant", *BUNDLED])
def test_every_taggable_resource_is_tagged(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    assert sum(1 for r in plan.resources if r["custom"] and takes_tags(r)) > 0
    assert untagged(plan, platform) == []


def test_site_labels_cannot_rewrite_automatic_tags(plan_of: Callable[..., Plan], base_platform: dict[str, Any]) -> None:
    base_platform["sites"]["os-a"]["labels"] = {"managed-by": "terraform", "site": "elsewhere"}
    with pytest.raises(SpecError) as error:
        plan_of(base_platform)
    message = str(error.value)
    assert "meridian:platform.sites.os-a.labels.managed-by: is set by Meridian itself" in message
    assert "meridian:platform.sites.os-a.labels.site: is set by Meridian itself" in message


def test_site_labels_extend_the_tags(plan_of: Callable[..., Plan], base_platform: dict[str, Any]) -> None:
    base_platform["sites"]["os-a"]["labels"] = {"rack": "b12"}
    plan = plan_of(base_platform)
    assert untagged(plan, base_platform) == []
    assert "rack=b12" in plan.one("openstack:networking/network:Network", "os-a-network")["inputs"]["tags"]


# --------------------------------------------------------------------------------------------
# Security invariant: no admin port (SSH, Kubernetes API, RKE2 supervisor) is open to the internet.

_ALL_PROTOCOLS = {None, "", "-1", "all", "any"}
_TCP = {"tcp", "6"}


def _ingress_rules(resource: dict[str, Any]) -> list[tuple[Any, Any, Any, list[Any]]]:
    """(protocol, from port, to port, source CIDRs) of each ingress rule a resource makes; None = any source."""
    kind, inputs = resource["type"], resource["inputs"]
    if kind == OS_RULE:
        if inputs.get("direction") != "ingress":
            return []
        if "remoteIpPrefix" in inputs:
            sources = [inputs["remoteIpPrefix"]]
        elif "remoteGroupId" in inputs or "remoteAddressGroupId" in inputs:
            sources = []  # members of a group: not the internet
        else:
            sources = [None]  # OpenStack: no remote means any address
        return [(inputs.get("protocol"), inputs.get("portRangeMin"), inputs.get("portRangeMax"), sources)]
    if kind == AWS_INGRESS:
        sources = [inputs[k] for k in ("cidrIpv4", "cidrIpv6") if k in inputs]
        return [(inputs.get("ipProtocol"), inputs.get("fromPort"), inputs.get("toPort"), sources)]
    if kind == AWS_SG_RULE and inputs.get("type") == "ingress":
        sources = [*inputs.get("cidrBlocks", []), *inputs.get("ipv6CidrBlocks", [])]
        return [(inputs.get("protocol"), inputs.get("fromPort"), inputs.get("toPort"), sources)]
    if kind in (AWS_SG, AWS_DEFAULT_SG):
        return [
            (
                rule.get("protocol"),
                rule.get("fromPort"),
                rule.get("toPort"),
                [*rule.get("cidrBlocks", []), *rule.get("ipv6CidrBlocks", [])],
            )
            for rule in inputs.get("ingress", [])
        ]
    return []


def _is_world(cidr: Any) -> bool:
    if cidr is None or cidr in (UNKNOWN, SECRET):
        return True  # fail closed: a source the plan cannot show might be the whole internet
    return ipaddress.ip_network(cidr, strict=False).prefixlen == 0


def _opens(protocol: Any, low: Any, high: Any, port: int) -> bool:
    protocol = None if protocol is None else str(protocol).lower()
    if protocol in _ALL_PROTOCOLS:
        return True
    if protocol not in _TCP:
        return False  # SSH, the Kubernetes API and the RKE2 supervisor are TCP
    return (0 if low is None else int(low)) <= port <= (65535 if high is None else int(high))


def world_open_admin_ports(resources: Iterable[dict[str, Any]]) -> list[str]:
    """Every ingress rule opening an admin port (or a range or protocol set covering it) to 0.0.0.0/0 or ::/0."""
    findings = []
    for resource in resources:
        for protocol, low, high, sources in _ingress_rules(resource):
            for port in sorted(ports.ADMIN_PORTS):
                for cidr in sources:
                    if _is_world(cidr) and _opens(protocol, low, high, port):
                        findings.append(f"{resource['type']} {resource['name']}: port {port} open to {cidr or 'any'}")
    return findings


@pytest.mark.parametrize("which", ["minimal", "variant", *BUNDLED])
def test_no_admin_port_open_to_the_internet(plans: Plans, which: str) -> None:
    _, plan = plans(which)
    assert any(_ingress_rules(r) for r in plan.resources), "no ingress rule found: the check would be vacuous"
    assert world_open_admin_ports(plan.resources) == []


def _rule(kind: str, name: str, **inputs: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "inputs": inputs}


def _os(name: str, **inputs: Any) -> dict[str, Any]:
    return _rule(OS_RULE, name, **{"direction": "ingress", "ethertype": "IPv4", **inputs})


def _tcp(low: int, high: int | None = None) -> dict[str, Any]:
    return {"protocol": "tcp", "portRangeMin": low, "portRangeMax": low if high is None else high}


def test_invariant_reports_world_open_rules(plans: Plans) -> None:
    bad = [
        _os("ssh-v4", **_tcp(22), remoteIpPrefix="0.0.0.0/0"),
        _os("low-range-v6", **_tcp(1, 1024), ethertype="IPv6", remoteIpPrefix="::/0"),
        _os("no-remote-no-protocol"),
        _rule(AWS_INGRESS, "all-v6", ipProtocol="-1", cidrIpv6="::/0", securityGroupId="sg-1"),
        _rule(AWS_INGRESS, "api-range", ipProtocol="tcp", fromPort=6000, toPort=7000, cidrIpv4="0.0.0.0/0"),
        _rule(
            AWS_SG, "inline", ingress=[{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]
        ),
        _rule(AWS_SG_RULE, "legacy", type="ingress", protocol="6", fromPort=6443, toPort=6443, ipv6CidrBlocks=["::/0"]),
    ]
    good = [
        _os("egress", direction="egress", remoteIpPrefix="0.0.0.0/0"),
        _os("https", **_tcp(443), remoteIpPrefix="0.0.0.0/0"),
        _os("ssh-from-admins", **_tcp(22), remoteIpPrefix="192.0.2.0/24"),
        _os("dns-udp", protocol="udp", portRangeMin=1, portRangeMax=65535, remoteIpPrefix="0.0.0.0/0"),
        _os("members", remoteGroupId="abc"),
        _rule(AWS_INGRESS, "sg-members", ipProtocol="-1", referencedSecurityGroupId="sg-2"),
        _rule(AWS_EGRESS, "aws-egress", ipProtocol="-1", cidrIpv4="0.0.0.0/0"),
    ]
    reported = world_open_admin_ports(bad + good)
    assert {finding.split()[1].rstrip(":") for finding in reported} == {r["name"] for r in bad}
    assert f"{OS_RULE} ssh-v4: port 22 open to 0.0.0.0/0" in reported

    # The same function over a real plan with one such rule slipped in reports exactly that rule.
    _, plan = plans("minimal")
    assert world_open_admin_ports([*plan.resources, bad[0]]) == [f"{OS_RULE} ssh-v4: port 22 open to 0.0.0.0/0"]
