"""Realistic outputs for the offline engine: what each provider would return after a create.

A mock that only echoes inputs lets wrong wiring pass (a subnet given a VPC's CIDR, a
rule given a name instead of an ID). So every resource type gets the identifiers and
computed attributes its cloud really returns, in the real formats (OpenStack UUIDs,
`vpc-0123...` IDs, ARNs in the provider's account and region), derived deterministically
from the resource's name so plans are stable and goldens reproducible.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from collections.abc import Callable
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from components.spec.sites import aws_partition

_NAMESPACE = uuid.UUID("6f1b6b0e-8f59-4f7e-9f5e-6d6572696469")  # fixed: "meridian" plans are reproducible

#: EC2 ID prefixes per resource type (as the EC2 API hands them out).
AWS_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
}
#: The ARN resource segment per type, where the type has an ARN.
AWS_ARN_KIND = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "internet-gateway",
    "aws:ec2/routeTable:RouteTable": "route-table",
    "aws:ec2/securityGroup:SecurityGroup": "security-group",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "security-group",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "security-group-rule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "security-group-rule",
}


def digest(*parts: str) -> str:
    """Stable hex digest of the parts."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def stable_uuid(*parts: str) -> str:
    """A UUID, as OpenStack returns them, stable for the same parts."""
    return str(uuid.uuid5(_NAMESPACE, "\x00".join(parts)))


def documentation_ip(*parts: str) -> str:
    """A public-looking address from TEST-NET-3 (RFC 5737): realistic, and never anyone's real host."""
    return str(ipaddress.ip_network("203.0.113.0/24")[int(digest(*parts)[:4], 16) % 253 + 1])


#: Computes a resource's outputs from its registration and its provider's inputs.
ResourceBuilder = Callable[[MockResourceArgs, dict[str, Any]], dict[str, Any]]
#: Answers a data-source call from its arguments and its provider's inputs.
CallBuilder = Callable[[MockCallArgs, dict[str, Any]], dict[str, Any]]


#: Key a builder may return to set the resource's ID (it is not an output property).
ID_KEY = "__id"


def account_and_region(provider: dict[str, Any]) -> tuple[str, str]:
    """The account and region of a resource's AWS provider (provider inputs arrive JSON-encoded)."""
    accounts = provider.get("allowedAccountIds") or '["000000000000"]'
    account = (json.loads(accounts) if isinstance(accounts, str) else accounts)[0]
    return str(account), str(provider.get("region", "us-east-1"))


#: Subnet and network IDs -> CIDR, filled as subnets register, so instances, ports and
#: load balancers get addresses from the subnet they are really attached to.
SUBNET_CIDRS: dict[str, str] = {}


def address_in(network_or_subnet_id: str, *parts: str) -> str:
    """A stable host address inside the CIDR of a registered network or subnet (10.0.0.x if unknown)."""
    network = ipaddress.ip_network(SUBNET_CIDRS.get(network_or_subnet_id, "10.0.0.0/24"))
    # Skip the first 16 addresses (gateway, DHCP, DNS ports), as clouds reserve some.
    span = max(network.num_addresses - 32, 1)
    return str(network[16 + int(digest(*parts)[:8], 16) % span])


class MeridianMocks(Mocks):
    """Per-type outputs for every resource and data source Meridian uses.

    Site resources are built here; each further area keeps its outputs in a module of
    `scripts.mock_outputs` (RESOURCES, CALLS and AWS_IDS tables), merged below.
    """

    def __init__(self) -> None:
        from . import mock_outputs

        #: Inputs of every provider instance, by its URN, so resources can learn their region and account.
        self.providers: dict[str, dict[str, Any]] = {}
        self._builders: dict[str, ResourceBuilder] = {
            "openstack:networking/subnet:Subnet": self._openstack_subnet,
            "openstack:networking/router:Router": self._openstack_router,
            "openstack:compute/keypair:Keypair": self._openstack_keypair,
            "aws:ec2/eip:Eip": self._aws_eip,
            "aws:ec2/natGateway:NatGateway": self._aws_nat,
        }
        self._calls: dict[str, CallBuilder] = {"openstack:networking/getNetwork:getNetwork": self._openstack_network}
        self._aws_ids = dict(AWS_ID_PREFIX)
        self._aws_arns = dict(AWS_ARN_KIND)
        for module in mock_outputs.modules():
            self._builders.update(module.RESOURCES)
            self._calls.update(module.CALLS)
            for token, (prefix, arn_kind) in module.AWS_IDS.items():
                self._aws_ids[token] = prefix
                if arn_kind:
                    self._aws_arns[token] = arn_kind

    # -- resources ---------------------------------------------------------------------------

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """Return a realistic ID and output state for a resource registration."""
        token = args.typ
        if token.startswith("pulumi:providers:"):
            return stable_uuid(token, args.name), dict(args.inputs)
        provider = self._provider_inputs(args.provider)
        state = dict(args.inputs)
        account, region = account_and_region(provider)
        if token.startswith("openstack:"):
            resource_id = stable_uuid(token, args.name)
            state.setdefault("region", provider.get("region", "RegionOne"))
        elif token in self._aws_ids:
            resource_id = f"{self._aws_ids[token]}-{digest(token, args.name)[:17]}"
            state.setdefault("region", region)
            state.setdefault("ownerId", account)
            if token in self._aws_arns:
                kind = self._aws_arns[token]
                # "service:kind" for non-EC2 services (e.g. "kms:key"); plain kinds are EC2's.
                service, _, kind = kind.rpartition(":") if ":" in kind else ("ec2", "", kind)
                state["arn"] = f"arn:{aws_partition(region)}:{service}:{region}:{account}:{kind}/{resource_id}"
            if "tags" in state:
                state["tagsAll"] = dict(state["tags"] or {})
        else:
            resource_id = f"{args.name}-{digest(token, args.name)[:8]}"
        if token == "openstack:networking/subnet:Subnet":
            SUBNET_CIDRS[resource_id] = args.inputs["cidr"]
            SUBNET_CIDRS[args.inputs["networkId"]] = args.inputs["cidr"]
        builder = self._builders.get(token)
        if builder is not None:
            state.update(builder(args, provider))
        # A builder names the real physical ID where the cloud's is not a generated one
        # (an IAM role's ID is its name, an EKS cluster's its name, a KMS key's its UUID).
        resource_id = state.pop(ID_KEY, resource_id)
        return resource_id, state

    def _provider_inputs(self, reference: str | None) -> dict[str, Any]:
        if not reference:
            return {}
        # A provider reference is "<provider URN>::<provider ID>"; URNs contain "::" themselves.
        return self.providers.get(reference.rsplit("::", 1)[0], {})

    @staticmethod
    def _openstack_subnet(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
        network = ipaddress.ip_network(args.inputs["cidr"])
        hosts = network.hosts()
        gateway = str(next(hosts))
        return {
            "gatewayIp": gateway,
            "allocationPools": [{"start": str(network[2]), "end": str(network[-2])}],
        }

    @staticmethod
    def _openstack_router(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "externalFixedIps": [
                {"ipAddress": documentation_ip(args.name), "subnetId": stable_uuid("external-subnet", args.name)}
            ]
        }

    @staticmethod
    def _openstack_keypair(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
        fingerprint = ":".join(digest(args.inputs.get("publicKey", ""))[i : i + 2] for i in range(0, 32, 2))
        return {"fingerprint": fingerprint, "userId": stable_uuid("user", args.name)}

    @staticmethod
    def _aws_eip(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "allocationId": f"eipalloc-{digest('aws:ec2/eip:Eip', args.name)[:17]}",
            "publicIp": documentation_ip(args.name),
        }

    @staticmethod
    def _aws_nat(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
        return {"publicIp": documentation_ip(args.name), "networkInterfaceId": f"eni-{digest(args.name)[:17]}"}

    # -- data sources ------------------------------------------------------------------------

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]  # the monitor accepts a dict
        """Return what a data source would: found objects with real-looking IDs."""
        builder = self._calls.get(args.token)
        if builder is None:
            raise NotImplementedError(
                f"the offline engine has no mock for data source {args.token}; add one in scripts/mock_outputs"
            )
        return builder(args, self._provider_inputs(args.provider))

    @staticmethod
    def _openstack_network(args: MockCallArgs, provider: dict[str, Any]) -> dict[str, Any]:
        name = args.args.get("name", "")
        return {
            "id": stable_uuid("network", name),
            "name": name,
            "external": True,
            "region": provider.get("region", "RegionOne"),
            "subnets": [stable_uuid("external-subnet", name)],
            "mtu": 1500,
            "adminStateUp": "true",
            "shared": "false",
            "tags": [],
            "allTags": [],
        }
