"""Security policies, run by the real pack process over the Analyzer protocol (as `meridian gate` runs them).

Each policy gets a violating and a compliant synthetic plan; the violation must name the
policy and the offending resource's URN at the policy's enforcement level. Every other
policy of the pack is disabled in these runs (config `all: disabled`), so a module being
written elsewhere cannot make these tests pass or fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from policy_support import PolicyModule, plan_of_resources, resource, violations

from scripts.gate import Analyzer
from scripts.harness import UNKNOWN, Plan, bundled_stacks

BUNDLED = bundled_stacks()

#: Every policy of policies/meridian_policies/security.py and its default enforcement level.
LEVELS = {
    "no-admin-port-open-to-internet": "mandatory",
    "no-all-traffic-from-internet": "mandatory",
    "eks-endpoint-restricted": "mandatory",
    "eks-secrets-encrypted": "mandatory",
    "eks-audit-logging": "advisory",
    "kms-key-rotation": "mandatory",
    "ebs-volumes-encrypted": "mandatory",
    "s3-buckets-not-public": "mandatory",
    "s3-bucket-has-public-access-block": "mandatory",
    "object-containers-not-public": "mandatory",
    "no-public-ip-on-launch": "mandatory",
    "credentials-not-in-plain-config": "mandatory",
}

SG_RULE = "openstack:networking/secGroupRule:SecGroupRule"
LISTENER = "openstack:loadbalancer/listener:Listener"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EC2_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
EKS = "aws:eks/cluster:Cluster"
KMS = "aws:kms/key:Key"
VOLUME = "aws:ebs/volume:Volume"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
CONTAINER = "openstack:objectstorage/container:Container"
SUBNET = "aws:ec2/subnet:Subnet"
INSTANCE = "aws:ec2/instance:Instance"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART_V4 = "kubernetes:helm.sh/v4:Chart"


_MODULE = PolicyModule(LEVELS)
only_these = _MODULE.only_these
hits = _MODULE.hits
assert_violation = _MODULE.assert_violation
assert_clean = _MODULE.assert_clean


# -- metadata ----------------------------------------------------------------------------------


def test_security_policies_are_declared_with_levels_and_config(analyzer: Analyzer) -> None:
    declared = analyzer.policies()
    for name, level in LEVELS.items():
        assert declared[name]["level"] == level, name
        assert declared[name]["severity"] and declared[name]["remediation"] and declared[name]["description"]
    assert declared["no-admin-port-open-to-internet"]["schema"] == {
        "extra_ports": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 65535},
            "default": [],
            "description": "Further TCP ports treated as admin ports, besides 22, 6443 and 9345.",
        }
    }
    assert declared["credentials-not-in-plain-config"]["schema"] == {
        "allowed_keys": {
            "type": "array",
            "items": {"type": "string"},
            # zero-to-jupyterhub's hub ConfigMap names its pull Secret under this key (no credential).
            "default": ["data.image-pull-secret", "values.alertmanager.alertmanagerSpec.configSecret"],
            "description": "Key paths exempted, as glob patterns over dotted paths inside `values` or `data` "
            "(e.g. `hub.config.*.client_secret`, `data.password`).",
        }
    }
    assert [name for name in LEVELS if declared[name]["schema"]] == [
        "no-admin-port-open-to-internet",
        "credentials-not-in-plain-config",
    ]


# -- no-admin-port-open-to-internet -------------------------------------------------------------


def os_rule(
    *,
    protocol: str | None = None,
    ports: tuple[int, int] | None = None,
    prefix: str | None = None,
    group: str | None = None,
    direction: str = "ingress",
    ethertype: str = "IPv4",
) -> dict[str, Any]:
    """OpenStack security-group rule inputs, keys left out as Neutron's defaults leave them."""
    inputs: dict[str, Any] = {"direction": direction, "ethertype": ethertype, "securityGroupId": "sg"}
    optional = {"protocol": protocol, "remoteIpPrefix": prefix, "remoteGroupId": group}
    inputs.update({k: v for k, v in optional.items() if v is not None})
    if ports:
        inputs.update(portRangeMin=ports[0], portRangeMax=ports[1])
    return inputs


SSH, API, SUPERVISOR = "22 (SSH)", "6443 (Kubernetes API)", "9345 (RKE2 supervisor)"
EVERY_ADMIN_PORT = (SSH, API, SUPERVISOR)


def opens(what: str, source: str, *ports: str) -> list[str]:
    """The messages of no-admin-port-open-to-internet for one rule, in the order it reports them."""
    return [f"ingress {what} opens {port} to {source}" for port in ports]


def said(found: list[Any]) -> list[str]:
    """What each violation reported (the message after the policy's description)."""
    return [v.message.rsplit("\n", 1)[-1] for v in found]


def ec2_rule(protocol: Any, first: Any, last: Any, cidrs: list[str] | None = None) -> dict[str, Any]:
    """An aws.ec2.SecurityGroupRule of type ingress (from 0.0.0.0/0 unless `cidrs` says otherwise)."""
    return {
        "type": "ingress",
        "securityGroupId": "sg-1",
        "protocol": protocol,
        "fromPort": first,
        "toPort": last,
        "cidrBlocks": cidrs or ["0.0.0.0/0"],
    }


OPEN_ADMIN = [
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="0.0.0.0/0"), opens("rule", "0.0.0.0/0", SSH)),
    # No remote prefix and no remote group: Neutron admits every source.
    (SG_RULE, os_rule(protocol="tcp", ports=(6443, 6443)), opens("rule", "0.0.0.0/0", API)),
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), ethertype="IPv6"), opens("rule", "::/0", SSH)),
    # No protocol and no ports: every port of every protocol.
    (SG_RULE, os_rule(prefix="::/0", ethertype="IPv6"), opens("rule", "::/0", *EVERY_ADMIN_PORT)),
    (
        SG_RULE,
        os_rule(protocol="6", ports=(9000, 9400), prefix="0.0.0.0/0"),
        opens("rule", "0.0.0.0/0", SUPERVISOR),
    ),
    # A protocol number given as a number reaches the pack as a float (6.0); 0 is Neutron's "any".
    (
        SG_RULE,
        {"direction": "ingress", "protocol": 6, "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "::/0"},
        opens("rule", "::/0", SSH),
    ),
    (
        SG_RULE,
        {"direction": "ingress", "protocol": 0, "remoteIpPrefix": "0.0.0.0/0"},
        opens("rule", "0.0.0.0/0", *EVERY_ADMIN_PORT),
    ),
    # pulumi-openstack sends its 0 default as an unset bound (gophercloud omitempty): Neutron then
    # takes null..null, every port (neutron/db/securitygroups_db.py _validate_port_range).
    (SG_RULE, os_rule(protocol="tcp", ports=(0, 0), prefix="0.0.0.0/0"), opens("rule", "0.0.0.0/0", *EVERY_ADMIN_PORT)),
    # The whole internet, spelled as Neutron also takes it (netaddr.IPNetwork reads the prefix with
    # int() or as a netmask, and keeps host bits): every one is prefix length 0.
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="0.0.0.0/0 "), opens("rule", "0.0.0.0/0 ", SSH)),
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="192.0.2.1/0"), opens("rule", "192.0.2.1/0", SSH)),
    (
        SG_RULE,
        os_rule(protocol="tcp", ports=(22, 22), prefix="0.0.0.0/0.0.0.0"),
        opens("rule", "0.0.0.0/0.0.0.0", SSH),
    ),
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="::/::", ethertype="IPv6"), opens("rule", "::/::", SSH)),
    (
        INGRESS_RULE,
        {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "::/0"},
        opens("rule", "::/0", SSH),
    ),
    (
        INGRESS_RULE,
        {"securityGroupId": "sg-1", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"},
        opens("rule", "0.0.0.0/0", *EVERY_ADMIN_PORT),
    ),
    (EC2_RULE, ec2_rule("tcp", 6443, 6443, ["10.0.0.0/8", "0.0.0.0/0"]), opens("rule", "0.0.0.0/0", API)),
    (EC2_RULE, ec2_rule("tcp", 0, 80), opens("rule", "0.0.0.0/0", SSH)),
    # An absent bound is open too (not an unparsable range): ports up to 80, SSH alone.
    (
        INGRESS_RULE,
        {"securityGroupId": "sg-1", "ipProtocol": "tcp", "toPort": 80, "cidrIpv4": "0.0.0.0/0"},
        opens("rule", "0.0.0.0/0", SSH),
    ),
    (
        INGRESS_RULE,
        {"securityGroupId": "sg-1", "ipProtocol": "6", "fromPort": 6000, "toPort": 7000, "cidrIpv4": "0.0.0.0/0"},
        opens("rule", "0.0.0.0/0", API),
    ),
    # -1 is EC2's "every port"; a bound that is no port number fails closed.
    (EC2_RULE, ec2_rule("tcp", -1, -1), opens("rule", "0.0.0.0/0", *EVERY_ADMIN_PORT)),
    (EC2_RULE, ec2_rule("tcp", "22-6443", "22-6443"), opens("rule", "0.0.0.0/0", *EVERY_ADMIN_PORT)),
    (
        GROUP,
        {
            "vpcId": "vpc-1",
            "ingress": [
                {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
                {"protocol": "tcp", "fromPort": 0, "toPort": 65535, "ipv6CidrBlocks": ["::/0"]},
            ],
        },
        opens("ingress[1]", "::/0", *EVERY_ADMIN_PORT),
    ),
    (
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        {
            "vpcId": "vpc-1",
            "ingress": [
                {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]},
                {
                    "protocol": "tcp",
                    "fromPort": 22,
                    "toPort": 22,
                    "cidrBlocks": ["0.0.0.0/0"],
                    "ipv6CidrBlocks": ["::/0"],
                },
            ],
        },
        opens("ingress[1]", "0.0.0.0/0, ::/0", SSH),
    ),
    (
        LISTENER,
        {"loadbalancerId": "lb", "protocol": "TCP", "protocolPort": 6443},
        ["listener on 6443 (Kubernetes API) has no allowedCidrs: Octavia admits every source"],
    ),
    (
        LISTENER,
        {"loadbalancerId": "lb", "protocol": "TCP", "protocolPort": 22, "allowedCidrs": ["192.0.2.0/25", "0.0.0.0/0"]},
        ["listener on 22 (SSH) allows 0.0.0.0/0"],
    ),
]

CLOSED_ADMIN = [
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="192.0.2.0/25")),
    # A bare address is one host (0.0.0.0/32 too); a netmask other than all zeros is a network.
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="192.0.2.10")),
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="0.0.0.0")),
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="192.0.2.0/255.255.255.0")),
    # Neutron reads the prefix after the first slash (netaddr refuses this one): it opens nothing.
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="192.0.2.0/24/0")),
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="192.0.2.0/any")),
    (SG_RULE, os_rule(group="sg")),
    (SG_RULE, {**os_rule(protocol="tcp", ports=(22, 22)), "remoteAddressGroupId": "admins"}),
    (SG_RULE, os_rule(prefix="0.0.0.0/0", direction="egress")),
    (SG_RULE, os_rule(protocol="tcp", ports=(443, 443), prefix="0.0.0.0/0")),
    (SG_RULE, os_rule(protocol="udp", ports=(22, 22), prefix="0.0.0.0/0")),
    (
        INGRESS_RULE,
        {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
    ),
    (INGRESS_RULE, {"securityGroupId": "sg-1", "ipProtocol": "-1", "referencedSecurityGroupId": "sg-1"}),
    (EC2_RULE, ec2_rule("tcp", 443, 443)),
    (EC2_RULE, {**ec2_rule("-1", 0, 0), "type": "egress"}),
    (
        GROUP,
        {
            "vpcId": "vpc-1",
            "ingress": [{"protocol": "tcp", "fromPort": 6443, "toPort": 6443, "cidrBlocks": ["192.0.2.0/25"]}],
        },
    ),
    (LISTENER, {"loadbalancerId": "lb", "protocol": "TCP", "protocolPort": 6443, "allowedCidrs": ["192.0.2.0/25"]}),
    (LISTENER, {"loadbalancerId": "lb", "protocol": "HTTPS", "protocolPort": 443}),
    # An admin port over UDP or SCTP is not the admin service.
    (LISTENER, {"loadbalancerId": "lb", "protocol": "UDP", "protocolPort": 22}),
    (LISTENER, {"loadbalancerId": "lb", "protocol": "SCTP", "protocolPort": 6443}),
]


@pytest.mark.parametrize(("type_", "inputs", "messages"), OPEN_ADMIN)
def test_admin_port_open_to_internet_is_reported(
    analyzer: Analyzer, type_: str, inputs: dict[str, Any], messages: list[str]
) -> None:
    found = assert_violation(analyzer, "no-admin-port-open-to-internet", resource(type_, "open", inputs))
    assert said(found) == messages


@pytest.mark.parametrize(("type_", "inputs"), CLOSED_ADMIN)
def test_admin_ports_open_only_to_admin_networks_pass(analyzer: Analyzer, type_: str, inputs: dict[str, Any]) -> None:
    assert_clean(analyzer, "no-admin-port-open-to-internet", resource(type_, "closed", inputs))


def test_extra_ports_config_adds_admin_ports(analyzer: Analyzer) -> None:
    rule = resource(SG_RULE, "vault", os_rule(protocol="tcp", ports=(8200, 8200), prefix="0.0.0.0/0"))
    listener = resource(LISTENER, "vault-lb", {"loadbalancerId": "lb", "protocol": "TCP", "protocolPort": 8200})
    policy = "no-admin-port-open-to-internet"
    assert_clean(analyzer, policy, rule, listener)
    config = {policy: {"extra_ports": [8200, 22]}}
    found = hits(analyzer, policy, rule, listener, config=config)
    assert sorted((v.urn, v.level, said([v])[0]) for v in found) == sorted(
        [
            (rule["urn"], "mandatory", "ingress rule opens 8200 (port 8200) to 0.0.0.0/0"),
            (
                listener["urn"],
                "mandatory",
                "listener on 8200 (port 8200) has no allowedCidrs: Octavia admits every source",
            ),
        ]
    )
    # A listed admin port keeps its name.
    ssh = resource(SG_RULE, "ssh", os_rule(protocol="tcp", ports=(22, 22), prefix="0.0.0.0/0"))
    assert said(hits(analyzer, policy, ssh, config=config)) == opens("rule", "0.0.0.0/0", SSH)


# -- no-all-traffic-from-internet ---------------------------------------------------------------

ALL_TRAFFIC = [
    (SG_RULE, os_rule(prefix="0.0.0.0/0"), "ingress rule admits all traffic from 0.0.0.0/0"),
    (SG_RULE, os_rule(protocol="any"), "ingress rule admits all traffic from 0.0.0.0/0"),
    (SG_RULE, os_rule(protocol="tcp", prefix="::/0", ethertype="IPv6"), "ingress rule admits every TCP port from ::/0"),
    (SG_RULE, os_rule(protocol="udp", ports=(0, 0)), "ingress rule admits every UDP port from 0.0.0.0/0"),
    (
        INGRESS_RULE,
        {"securityGroupId": "sg-1", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"},
        "ingress rule admits all traffic from 0.0.0.0/0",
    ),
    (
        EC2_RULE,
        {
            "type": "ingress",
            "securityGroupId": "sg-1",
            "protocol": "all",
            "fromPort": 0,
            "toPort": 0,
            "ipv6CidrBlocks": ["::/0"],
        },
        "ingress rule admits all traffic from ::/0",
    ),
    (EC2_RULE, ec2_rule("tcp", "1-65535", "1-65535"), "ingress rule admits every TCP port from 0.0.0.0/0"),
    (
        GROUP,
        {
            "vpcId": "vpc-1",
            "ingress": [{"protocol": "udp", "fromPort": 1, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]}],
        },
        "ingress ingress[0] admits every UDP port from 0.0.0.0/0",
    ),
]

NOT_ALL_TRAFFIC = [
    (SG_RULE, os_rule(protocol="tcp", ports=(443, 443), prefix="0.0.0.0/0")),
    (SG_RULE, os_rule(group="sg")),
    (SG_RULE, os_rule(prefix="10.40.0.0/16")),
    (SG_RULE, os_rule(protocol="icmp", prefix="0.0.0.0/0")),
    (INGRESS_RULE, {"securityGroupId": "sg-1", "ipProtocol": "-1", "referencedSecurityGroupId": "sg-1"}),
    (EC2_RULE, {**ec2_rule("-1", 0, 0), "type": "egress"}),
    # Wide ranges that leave out the first or the last port are not every port.
    (EC2_RULE, ec2_rule("udp", 1, 1000)),
    (EC2_RULE, ec2_rule("udp", 1000, 65535)),
    (
        GROUP,
        {
            "vpcId": "vpc-1",
            "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}],
        },
    ),
]


@pytest.mark.parametrize(("type_", "inputs", "message"), ALL_TRAFFIC)
def test_all_traffic_from_internet_is_reported(
    analyzer: Analyzer, type_: str, inputs: dict[str, Any], message: str
) -> None:
    found = assert_violation(analyzer, "no-all-traffic-from-internet", resource(type_, "wide-open", inputs))
    assert said(found) == [message]


@pytest.mark.parametrize(("type_", "inputs"), NOT_ALL_TRAFFIC)
def test_narrow_ingress_passes_all_traffic_policy(analyzer: Analyzer, type_: str, inputs: dict[str, Any]) -> None:
    assert_clean(analyzer, "no-all-traffic-from-internet", resource(type_, "narrow", inputs))


# -- EKS ----------------------------------------------------------------------------------------


def eks(**overrides: Any) -> dict[str, Any]:
    """An EKS cluster as Meridian builds it (every EKS policy satisfied), with `overrides` applied."""
    inputs: dict[str, Any] = {
        "name": "eo4eu-burst",
        "roleArn": "arn:aws:iam::111122223333:role/burst",
        "version": "1.34",
        "vpcConfig": {
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["192.0.2.0/25"],
            "subnetIds": ["subnet-1", "subnet-2"],
        },
        "encryptionConfig": {
            "resources": ["secrets"],
            "provider": {"keyArn": "arn:aws:kms:eu-west-1:111122223333:key/1"},
        },
        "enabledClusterLogTypes": ["api", "audit", "authenticator"],
    }
    for key, value in overrides.items():
        if value is None:
            inputs.pop(key)
        else:
            inputs[key] = value
    return resource(EKS, "burst-eks", inputs)


def test_meridian_shaped_eks_cluster_passes_every_eks_policy(analyzer: Analyzer) -> None:
    for policy in ("eks-endpoint-restricted", "eks-secrets-encrypted", "eks-audit-logging"):
        assert_clean(analyzer, policy, eks())
    assert_clean(
        analyzer,
        "eks-endpoint-restricted",
        eks(vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": False}),
    )
    # pulumi_aws before 7 took encryptionConfig as a list of objects.
    listed = eks(encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:eu-west-1:1:key/1"}}])
    assert_clean(analyzer, "eks-secrets-encrypted", listed)


NO_CIDRS = "the public API endpoint has no publicAccessCidrs (AWS then allows 0.0.0.0/0)"
NOT_PRIVATE = "endpointPrivateAccess is not true: nodes would reach the API over the public endpoint"


@pytest.mark.parametrize(
    ("vpc", "messages"),
    [
        # endpointPublicAccess unset: AWS's default is a public endpoint, here with no CIDR limit.
        ({"endpointPrivateAccess": True, "subnetIds": ["subnet-1"]}, [NO_CIDRS]),
        (
            {"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
            ["the public API endpoint allows 0.0.0.0/0"],
        ),
        (
            {"endpointPrivateAccess": True, "publicAccessCidrs": ["192.0.2.0/25", "0.0.0.0/0", "::/0"]},
            ["the public API endpoint allows 0.0.0.0/0, ::/0"],
        ),
        ({"endpointPrivateAccess": False, "endpointPublicAccess": False}, [NOT_PRIVATE]),
        ({"endpointPublicAccess": True, "publicAccessCidrs": ["192.0.2.0/25"]}, [NOT_PRIVATE]),
        (None, [NO_CIDRS, NOT_PRIVATE]),
        # A string where the API takes a list is no list of CIDRs.
        ({"endpointPrivateAccess": True, "publicAccessCidrs": "0.0.0.0/0"}, [NO_CIDRS]),
    ],
)
def test_open_eks_endpoint_is_reported(analyzer: Analyzer, vpc: dict[str, Any] | None, messages: list[str]) -> None:
    found = assert_violation(analyzer, "eks-endpoint-restricted", eks(vpcConfig=vpc))
    assert said(found) == messages


@pytest.mark.parametrize(
    "encryption",
    [
        None,
        {"resources": ["configmaps"], "provider": {"keyArn": "arn:aws:kms:eu-west-1:111122223333:key/1"}},
        {"resources": ["secrets"], "provider": {}},
        {"resources": ["secrets"], "provider": {"keyArn": ""}},
        [{"resources": ["secrets"]}, {"resources": ["configmaps"], "provider": {"keyArn": "arn:aws:kms:x:1:key/1"}}],
    ],
)
def test_eks_without_secrets_encryption_is_reported(analyzer: Analyzer, encryption: Any) -> None:
    found = assert_violation(analyzer, "eks-secrets-encrypted", eks(encryptionConfig=encryption))
    assert said(found) == ['no encryptionConfig with resources ["secrets"] and a provider.keyArn']


@pytest.mark.parametrize("log_types", [None, ["api", "authenticator"]])
def test_eks_without_audit_logs_is_advised(analyzer: Analyzer, log_types: list[str] | None) -> None:
    found = assert_violation(analyzer, "eks-audit-logging", eks(enabledClusterLogTypes=log_types))
    assert said(found) == ['enabledClusterLogTypes does not include "audit"']


# -- keys, volumes, addresses -------------------------------------------------------------------


def test_kms_key_rotation(analyzer: Analyzer) -> None:
    policy = "kms-key-rotation"
    assert_clean(analyzer, policy, resource(KMS, "rotating", {"enableKeyRotation": True}))
    # KMS cannot rotate asymmetric keys: they are not held to this rule.
    assert_clean(
        analyzer, policy, resource(KMS, "signing", {"customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"})
    )
    # Nor are keys whose material KMS does not hold, or that do not encrypt with a symmetric key.
    assert_clean(analyzer, policy, resource(KMS, "external", {"customKeyStoreId": "cks-1"}))
    assert_clean(
        analyzer, policy, resource(KMS, "rsa", {"customerMasterKeySpec": "RSA_2048", "keyUsage": "ENCRYPT_DECRYPT"})
    )
    assert_clean(
        analyzer,
        policy,
        resource(KMS, "hmac", {"customerMasterKeySpec": "SYMMETRIC_DEFAULT", "keyUsage": "GENERATE_VERIFY_MAC"}),
    )
    for key in (
        resource(KMS, "unset", {"description": "no rotation"}),
        resource(KMS, "off", {"enableKeyRotation": False, "customerMasterKeySpec": "SYMMETRIC_DEFAULT"}),
        resource(KMS, "explicit", {"keyUsage": "ENCRYPT_DECRYPT", "enableKeyRotation": "false"}),
    ):
        assert said(assert_violation(analyzer, policy, key)) == ["enableKeyRotation is not true on a symmetric key"]


def test_ebs_volumes_and_launch_templates_encrypted(analyzer: Analyzer) -> None:
    policy = "ebs-volumes-encrypted"
    assert_clean(
        analyzer, policy, resource(VOLUME, "data", {"availabilityZone": "eu-west-1a", "size": 100, "encrypted": True})
    )
    # Launch-template block devices take encryption as a string, as pulumi_aws serializes it.
    good_template = {
        "blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}},
            {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"},
        ]
    }
    assert_clean(analyzer, policy, resource(LAUNCH_TEMPLATE, "nodes", good_template))
    found = assert_violation(
        analyzer, policy, resource(VOLUME, "plain", {"availabilityZone": "eu-west-1a", "size": 100})
    )
    assert said(found) == ["the volume is not encrypted (encrypted: true)"]
    bad_template = {
        "blockDeviceMappings": [
            {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"},
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": "false", "volumeSize": 100}},
            {"ebs": {"volumeSize": 100}},
        ]
    }
    found = assert_violation(analyzer, policy, resource(LAUNCH_TEMPLATE, "plain-nodes", bad_template))
    assert said(found) == [
        'block device /dev/xvda is not encrypted (ebs.encrypted: "true")',
        'block device ? is not encrypted (ebs.encrypted: "true")',
    ]


def test_no_public_ip_on_launch(analyzer: Analyzer) -> None:
    policy = "no-public-ip-on-launch"
    assert_clean(
        analyzer,
        policy,
        resource(SUBNET, "private", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/20", "mapPublicIpOnLaunch": False}),
    )
    assert_clean(analyzer, policy, resource(INSTANCE, "node", {"ami": "ami-1", "instanceType": "m6i.large"}))
    assert_clean(
        analyzer,
        policy,
        resource(LAUNCH_TEMPLATE, "nodes", {"networkInterfaces": [{"associatePublicIpAddress": "false"}, {}]}),
    )
    public = resource(SUBNET, "public", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/20", "mapPublicIpOnLaunch": True})
    assert said(assert_violation(analyzer, policy, public)) == [
        "mapPublicIpOnLaunch is true: every instance launched here gets a public address"
    ]
    exposed = resource(
        INSTANCE, "exposed", {"ami": "ami-1", "instanceType": "m6i.large", "associatePublicIpAddress": True}
    )
    assert said(assert_violation(analyzer, policy, exposed)) == ["associatePublicIpAddress is true"]
    interfaces = {"networkInterfaces": [{"associatePublicIpAddress": "false"}, {"associatePublicIpAddress": "true"}]}
    found = assert_violation(analyzer, policy, resource(LAUNCH_TEMPLATE, "exposed-nodes", interfaces))
    assert said(found) == ["networkInterfaces[1].associatePublicIpAddress is true"]


# -- public storage -----------------------------------------------------------------------------

ALL_BLOCKED = {
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}


def test_public_access_block_sets_all_four_flags(analyzer: Analyzer) -> None:
    policy = "s3-buckets-not-public"
    assert_clean(analyzer, policy, resource(PAB, "data-pab", {"bucket": "eo4eu-data", **ALL_BLOCKED}))
    found = assert_violation(
        analyzer,
        policy,
        resource(PAB, "leaky-pab", {"bucket": "eo4eu-data", **ALL_BLOCKED, "blockPublicPolicy": False}),
    )
    assert said(found) == ["blockPublicPolicy must be true"]
    found = assert_violation(analyzer, policy, resource(PAB, "half-pab", {"bucket": "b", "blockPublicPolicy": True}))
    assert said(found) == ["blockPublicAcls, ignorePublicAcls, restrictPublicBuckets must be true"]


ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


@pytest.mark.parametrize(
    ("type_", "inputs", "messages"),
    [
        (
            "aws:s3/bucketAcl:BucketAcl",
            {"bucket": "eo4eu-data", "acl": "public-read"},
            ["canned ACL public-read makes the bucket public"],
        ),
        (
            "aws:s3/bucketAclV2:BucketAclV2",
            {"bucket": "eo4eu-data", "acl": "authenticated-read"},
            ["canned ACL authenticated-read makes the bucket public"],
        ),
        (
            "aws:s3/bucketAcl:BucketAcl",
            {
                "bucket": "eo4eu-data",
                "accessControlPolicy": {
                    "owner": {"id": "owner"},
                    "grants": [
                        {"permission": "READ", "grantee": {"type": "CanonicalUser", "id": "owner"}},
                        {"permission": "READ", "grantee": {"type": "Group", "uri": ALL_USERS}},
                    ],
                },
            },
            [f"the ACL grants access to {ALL_USERS}"],
        ),
        (
            BUCKET,
            {"bucket": "eo4eu-data", "acl": "public-read-write"},
            ["canned ACL public-read-write makes the bucket public"],
        ),
        # The deprecated inline ACL of the bucket itself: grants[].uri.
        (
            BUCKET_V2,
            {
                "bucket": "eo4eu-data",
                "grants": [
                    {"type": "CanonicalUser", "id": "owner", "permissions": ["FULL_CONTROL"]},
                    {"type": "Group", "uri": AUTHENTICATED_USERS, "permissions": ["READ"]},
                ],
            },
            [f"the ACL grants access to {AUTHENTICATED_USERS}"],
        ),
    ],
)
def test_public_bucket_acls_are_reported(
    analyzer: Analyzer, type_: str, inputs: dict[str, Any], messages: list[str]
) -> None:
    found = assert_violation(analyzer, "s3-buckets-not-public", resource(type_, "public-acl", inputs))
    assert said(found) == messages


def test_private_bucket_acl_passes(analyzer: Analyzer) -> None:
    assert_clean(
        analyzer,
        "s3-buckets-not-public",
        resource("aws:s3/bucketAcl:BucketAcl", "private-acl", {"bucket": "eo4eu-data", "acl": "private"}),
    )


def test_every_bucket_needs_a_public_access_block(analyzer: Analyzer) -> None:
    policy = "s3-bucket-has-public-access-block"
    named = resource(BUCKET, "data", {"bucket": "eo4eu-data"})
    by_name = resource(PAB, "data-pab", {"bucket": "eo4eu-data", **ALL_BLOCKED})
    assert_clean(analyzer, policy, named, by_name)
    # The usual wiring: bucket=bucket.id, which makes the bucket a dependency of its block.
    autonamed = resource(BUCKET_V2, "scratch", {"forceDestroy": False})
    by_id = resource(PAB, "scratch-pab", {"bucket": "scratch-4f2a9c1b", **ALL_BLOCKED}, depends_on=[autonamed["urn"]])
    assert_clean(analyzer, policy, autonamed, by_id)
    orphan = resource(BUCKET, "orphan", {"bucket": "eo4eu-orphan"})
    found = assert_violation(analyzer, policy, orphan, named, by_name)
    assert said(found) == ["bucket orphan has no aws:s3/bucketPublicAccessBlock pointing at it"]
    # Every bucket is looked at, whichever comes first.
    assert_violation(analyzer, policy, orphan, autonamed, by_id)
    assert_violation(analyzer, policy, orphan, by_name, named)
    lonely = resource(BUCKET_V2, "lonely", {})
    assert_violation(analyzer, policy, lonely)
    assert_violation(analyzer, policy, lonely, named, by_name)


def test_public_access_blocks_whose_buckets_are_unknown(analyzer: Analyzer) -> None:
    """Unknown names leave undecided only the buckets they may concern; the rest is decided now."""
    policy = "s3-bucket-has-public-access-block"
    notice = ("advisory", "string value at .bucket can't be known during preview")
    named = resource(BUCKET, "data", {"bucket": "eo4eu-data"})
    by_name = resource(PAB, "data-pab", {"bucket": "eo4eu-data", **ALL_BLOCKED})
    unnamed = resource(BUCKET_V2, "scratch", {"bucket": UNKNOWN})
    orphan = resource(BUCKET, "orphan", {"bucket": "eo4eu-orphan"})

    def seen(*items: dict[str, Any]) -> list[tuple[str, str]]:
        found = hits(analyzer, policy, *items)
        return sorted((v.level, said([v])[0].split(" during preview: ")[-1]) for v in found)

    # A bucket whose name is not known yet may be the one a block names: undecided.
    assert seen(unnamed, named, by_name) == [notice]
    # ... but another bucket no block names is reported now, before or after it.
    orphaned = ("mandatory", "bucket orphan has no aws:s3/bucketPublicAccessBlock pointing at it")
    assert seen(unnamed, orphan, named, by_name) == [notice, orphaned]
    assert seen(orphan, unnamed, named, by_name) == [notice, orphaned]
    # No block names any bucket: an unknown name cannot be covered.
    unnamed_alone = ("mandatory", "bucket scratch has no aws:s3/bucketPublicAccessBlock pointing at it")
    assert seen(unnamed) == [unnamed_alone]
    # A block whose target is unknown may point at any bucket not otherwise covered.
    unknown_block = resource(PAB, "later-pab", {"bucket": UNKNOWN, **ALL_BLOCKED})
    assert seen(orphan, unknown_block, named, by_name) == [notice]


def test_swift_containers_not_public(analyzer: Analyzer) -> None:
    policy = "object-containers-not-public"
    assert_clean(analyzer, policy, resource(CONTAINER, "private", {"name": "results"}))
    assert_clean(
        analyzer, policy, resource(CONTAINER, "shared", {"name": "results", "containerRead": "project-id:user-id"})
    )
    assert_clean(
        analyzer, policy, resource(CONTAINER, "deny-only", {"name": "results", "containerRead": ".r:-bad.example.org"})
    )
    found = assert_violation(
        analyzer, policy, resource(CONTAINER, "public", {"name": "results", "containerRead": ".r:*,.rlistings"})
    )
    assert said(found) == ["containerRead '.r:*,.rlistings' grants anonymous read (.r:*)"]
    acl = "project-id:user-id, .r:-bad.example.org, .r:partner.example.org"
    found = assert_violation(
        analyzer, policy, resource(CONTAINER, "referrer", {"name": "results", "containerRead": acl})
    )
    assert said(found) == [f"containerRead {acl!r} grants anonymous read (.r:partner.example.org)"]


# -- credentials-not-in-plain-config ------------------------------------------------------------


HELM = ("Helm values", "a Secret the chart reads (existingSecret)")


def config_map(data: dict[str, Any], name: str = "settings", key: str = "data") -> dict[str, Any]:
    return resource(
        CONFIG_MAP,
        name,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "jupyterhub"}, key: data},
    )


def release(values: dict[str, Any], name: str = "hub") -> dict[str, Any]:
    return resource(
        RELEASE,
        name,
        {
            "chart": "jupyterhub",
            "version": "4.4.0",
            "namespace": "jupyterhub",
            "repositoryOpts": {"repo": "https://hub.jupyter.org/helm-chart/"},
            "values": values,
        },
    )


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        (config_map({"DB_PASSWORD": "hunter2", "config.yaml": "a: 1"}), "data.DB_PASSWORD"),
        (config_map({"kubeconfig": "YXBpVmVyc2lvbjogdjE="}, key="binaryData"), "binaryData.kubeconfig"),
        (
            release({"hub": {"config": {"GitHubOAuthenticator": {"client_id": "id", "client_secret": "s3cr3t"}}}}),
            "values.hub.config.GitHubOAuthenticator.client_secret",
        ),
        (release({"proxy": {"secretToken": "0123abcd"}}), "values.proxy.secretToken"),
        (
            release({"extraFiles": [{"name": "key", "privateKey": "-----BEGIN PRIVATE KEY-----"}]}),
            "values.extraFiles[0].privateKey",
        ),
        (release({"singleuser": {"extraEnv": {"API_TOKEN": "t0ken"}}}), "values.singleuser.extraEnv.API_TOKEN"),
        (release({"git": {"sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----"}}), "values.git.sshPrivateKey"),
        (release({"hub": {"extraEnv": [{"name": "DB_PASSWORD", "value": "hunter2"}]}}), "values.hub.extraEnv[0].value"),
        # The v4 Chart component (analyzed by the engine; marked custom so the offline gate sends it too).
        (
            resource(CHART_V4, "hub-v4", {"chart": "jupyterhub", "values": {"proxy": {"secretToken": "ab"}}}),
            "values.proxy.secretToken",
        ),
    ],
)
def test_credentials_in_config_maps_and_helm_values_are_reported(
    analyzer: Analyzer, bad: dict[str, Any], path: str
) -> None:
    found = assert_violation(analyzer, "credentials-not-in-plain-config", bad)
    where, remedy = ("ConfigMap", "a Secret") if bad["type"] == CONFIG_MAP else HELM
    assert said(found) == [f"{where} key {path} holds a credential in plain text; move it to {remedy}"]


@pytest.mark.parametrize(
    "good",
    [
        config_map({"config.yaml": "a: 1", "time-sliced-4": "version: v1"}),
        # References to Secrets and non-literal settings are the remedy, not the problem.
        release(
            {
                "grafana": {"admin": {"existingSecret": "grafana-admin"}},
                "hub": {"existingSecret": "hub-secret", "secretName": "hub-tls"},
                "auth": {"tokenTTL": "1h", "password": ""},
                "serviceAccount": {"automountServiceAccountToken": True},
                "env": [
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    {"name": "API_TOKEN", "value": " "},
                    # A value known only once another resource exists is no literal.
                    {"name": "DB_PASSWORD", "value": UNKNOWN},
                ],
            }
        ),
    ],
)
def test_secret_references_pass(analyzer: Analyzer, good: dict[str, Any]) -> None:
    assert_clean(analyzer, "credentials-not-in-plain-config", good)


def test_the_hub_configmap_naming_its_pull_secret_passes_by_default(analyzer: Analyzer) -> None:
    # zero-to-jupyterhub 4.4.0 templates/hub/configmap.yaml: component -> object name, so the key
    # `image-pull-secret` holds the pull Secret's name. The default exempts exactly that path.
    policy = "credentials-not-in-plain-config"
    names = config_map({"image-pull-secret": "image-pull-secret", "hub": "hub"}, name="hub")
    assert_clean(analyzer, policy, names)
    # Only in a ConfigMap's data: the same key in Helm values, or another config, is still reported.
    assert len(hits(analyzer, policy, release({"image-pull-secret": "registry-password"}))) == 1
    assert (
        len(hits(analyzer, policy, config_map({"image-pull-secret": "x"}), config={policy: {"allowed_keys": []}})) == 1
    )


def test_alertmanagers_config_secret_name_passes_by_default(analyzer: Analyzer) -> None:
    # kube-prometheus-stack passes alertmanagerSpec.configSecret to the Prometheus Operator's
    # AlertmanagerSpec.configSecret: a Secret's name. Exactly that path is exempt.
    policy = "credentials-not-in-plain-config"
    assert_clean(analyzer, policy, release({"alertmanager": {"alertmanagerSpec": {"configSecret": "meridian-am"}}}))
    assert len(hits(analyzer, policy, release({"grafana": {"configSecret": "hunter2"}}))) == 1


@pytest.mark.parametrize("reference", ["${SWIFT_APPLICATION_CREDENTIAL_SECRET}", "$__env{GF_CLIENT_SECRET}"])
def test_an_environment_reference_is_not_a_credential(analyzer: Analyzer, reference: str) -> None:
    # Loki expands ${VAR} in its configuration (-config.expand-env), Grafana $__env{VAR}: the value is
    # read from the pod's environment (a Secret), and the values hold only its name.
    policy = "credentials-not-in-plain-config"
    assert_clean(analyzer, policy, release({"loki": {"swift": {"application_credential_secret": reference}}}))
    # Anything around the reference makes it a literal again.
    literal = release({"loki": {"swift": {"application_credential_secret": f"x{reference}"}}})
    assert len(hits(analyzer, policy, literal)) == 1


def test_allowed_keys_config_exempts_reviewed_paths(analyzer: Analyzer) -> None:
    policy = "credentials-not-in-plain-config"
    bad = release(
        {"hub": {"config": {"GitHubOAuthenticator": {"client_secret": "s3cr3t"}}}, "proxy": {"secretToken": "0123abcd"}}
    )
    assert len(hits(analyzer, policy, bad)) == 2
    config = {policy: {"allowed_keys": ["hub.config.*.client_secret"]}}
    found = hits(analyzer, policy, bad, config=config)
    assert [("proxy.secretToken" in v.message, v.level) for v in found] == [(True, "mandatory")]
    assert_clean(
        analyzer, policy, bad, config={policy: {"allowed_keys": ["hub.config.*.client_secret", "values.proxy.*"]}}
    )


@pytest.mark.parametrize(
    ("values", "unknown", "path"),
    [
        ({"db": {"password": UNKNOWN}, "proxy": {"secretToken": "0123abcd"}}, "db.password", "proxy.secretToken"),
        # Beside the unknown, in the same mapping or list.
        ({"db": {"apiToken": UNKNOWN, "password": "hunter2"}}, "db.apiToken", "db.password"),
        ({"db": {"password": UNKNOWN, "token": "t0ken"}}, "db.password", "db.token"),
        (
            {"extraFiles": [{"password": UNKNOWN}, {"privateKey": "-----BEGIN"}]},
            "extraFiles.0.password",
            "extraFiles[1].privateKey",
        ),
    ],
)
def test_unknown_credential_does_not_hide_a_literal_one(
    analyzer: Analyzer, values: dict[str, Any], unknown: str, path: str
) -> None:
    found = hits(analyzer, "credentials-not-in-plain-config", release(values))
    assert sorted((v.level, said([v])[0].split(" during preview: ")[-1]) for v in found) == [
        ("advisory", f"string value at .values.{unknown} can't be known during preview"),
        (
            "mandatory",
            f"Helm values key values.{path} holds a credential in plain text; move it to a Secret the chart "
            "reads (existingSecret)",
        ),
    ]


def test_an_unknown_list_item_does_not_hide_a_literal_after_it(analyzer: Analyzer) -> None:
    bad = release({"hub": {"extraEnv": [UNKNOWN, {"name": "DB_PASSWORD", "value": "hunter2"}]}})
    found = assert_violation(analyzer, "credentials-not-in-plain-config", bad)
    assert said(found) == [
        "Helm values key values.hub.extraEnv[1].value holds a credential in plain text; move it to a Secret the "
        "chart reads (existingSecret)"
    ]


# -- unknowns and bundled stacks ------------------------------------------------------------------

UNKNOWN_INPUTS = {
    SG_RULE: [
        "direction",
        "ethertype",
        "protocol",
        "portRangeMin",
        "portRangeMax",
        "remoteIpPrefix",
        "remoteGroupId",
        "securityGroupId",
    ],
    LISTENER: ["loadbalancerId", "protocol", "protocolPort", "allowedCidrs"],
    INGRESS_RULE: ["securityGroupId", "ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6"],
    EC2_RULE: ["type", "securityGroupId", "protocol", "fromPort", "toPort", "cidrBlocks", "ipv6CidrBlocks"],
    GROUP: ["vpcId", "ingress", "egress"],
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ["vpcId", "ingress"],
    EKS: ["name", "roleArn", "vpcConfig", "encryptionConfig", "enabledClusterLogTypes"],
    KMS: ["enableKeyRotation", "customerMasterKeySpec", "keyUsage", "customKeyStoreId"],
    VOLUME: ["encrypted", "size"],
    LAUNCH_TEMPLATE: ["blockDeviceMappings", "networkInterfaces"],
    PAB: ["bucket", "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"],
    "aws:s3/bucketAcl:BucketAcl": ["bucket", "acl", "accessControlPolicy"],
    "aws:s3/bucketAclV2:BucketAclV2": ["bucket", "acl"],
    BUCKET: ["bucket", "acl", "grants"],
    BUCKET_V2: ["bucket"],
    CONTAINER: ["name", "containerRead"],
    SUBNET: ["vpcId", "mapPublicIpOnLaunch"],
    INSTANCE: ["associatePublicIpAddress"],
    CONFIG_MAP: ["metadata", "data", "binaryData"],
    RELEASE: ["chart", "version", "repositoryOpts", "values"],
}


def _partly_unknown() -> list[dict[str, Any]]:
    """Known shapes with unknown leaves, as a first preview shows them (IDs and ARNs of new resources)."""
    return [
        resource(
            SG_RULE,
            "p-rule",
            {
                "direction": "ingress",
                "ethertype": "IPv4",
                "protocol": "tcp",
                "portRangeMin": 22,
                "portRangeMax": 22,
                "remoteIpPrefix": UNKNOWN,
                "securityGroupId": UNKNOWN,
            },
        ),
        resource(
            EKS,
            "p-eks",
            {
                "vpcConfig": {
                    "endpointPrivateAccess": True,
                    "endpointPublicAccess": UNKNOWN,
                    "publicAccessCidrs": [UNKNOWN],
                },
                "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN}},
                "enabledClusterLogTypes": [UNKNOWN],
            },
        ),
        resource(
            GROUP, "p-group", {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": [UNKNOWN]}]}
        ),
        resource(BUCKET, "p-bucket", {"bucket": UNKNOWN}),
        resource(PAB, "p-pab", {"bucket": UNKNOWN, **ALL_BLOCKED}),
        config_map({"password": UNKNOWN}, name="p-cm"),
    ]


@pytest.mark.parametrize("shape", ["all-unknown", "partly-unknown"])
def test_unknown_inputs_only_give_the_preview_notice(analyzer: Analyzer, shape: str) -> None:
    if shape == "all-unknown":
        items = [
            resource(t, f"u{i}", dict.fromkeys(keys, UNKNOWN)) for i, (t, keys) in enumerate(UNKNOWN_INPUTS.items())
        ]
    else:
        items = _partly_unknown()
    report = violations(analyzer, plan_of_resources(*items), only_these())
    mine = [v for v in report.violations if v.policy in LEVELS]
    assert mine, "no policy read an unknown value"
    assert all(v.level == "advisory" and "during preview" in v.message for v in mine), [
        (v.policy, v.message) for v in mine if "during preview" not in v.message
    ]
    # The analyzer keeps answering after the unknowns.
    open_rule = resource(INGRESS_RULE, "after", {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"})
    assert_violation(analyzer, "no-all-traffic-from-internet", open_rule)


def test_bundled_stacks_exercise_the_security_policies(bundled_plan: Callable[[str], Plan]) -> None:
    """The bundled-stack check means something: the stacks hold what these policies inspect."""
    types = {r["type"] for stack in BUNDLED for r in bundled_plan(stack).resources}
    assert {SG_RULE, LISTENER, INGRESS_RULE, EKS, KMS, SUBNET} <= types
