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
    assert declared["no-admin-port-open-to-internet"]["schema"]["extra_ports"]["default"] == []
    assert declared["credentials-not-in-plain-config"]["schema"]["allowed_keys"]["default"] == []


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


OPEN_ADMIN = [
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="0.0.0.0/0")),
    # No remote prefix and no remote group: Neutron admits every source.
    (SG_RULE, os_rule(protocol="tcp", ports=(6443, 6443))),
    # No protocol and no ports: every port of every protocol.
    (SG_RULE, os_rule(prefix="::/0", ethertype="IPv6")),
    (SG_RULE, os_rule(protocol="6", ports=(9000, 9400), prefix="0.0.0.0/0")),
    (INGRESS_RULE, {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "::/0"}),
    (INGRESS_RULE, {"securityGroupId": "sg-1", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}),
    (
        EC2_RULE,
        {
            "type": "ingress",
            "securityGroupId": "sg-1",
            "protocol": "tcp",
            "fromPort": 6443,
            "toPort": 6443,
            "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"],
        },
    ),
    (
        GROUP,
        {
            "vpcId": "vpc-1",
            "ingress": [
                {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
                {"protocol": "tcp", "fromPort": 0, "toPort": 65535, "ipv6CidrBlocks": ["::/0"]},
            ],
        },
    ),
    (LISTENER, {"loadbalancerId": "lb", "protocol": "TCP", "protocolPort": 6443}),
    (
        LISTENER,
        {"loadbalancerId": "lb", "protocol": "TCP", "protocolPort": 22, "allowedCidrs": ["192.0.2.0/25", "0.0.0.0/0"]},
    ),
]

CLOSED_ADMIN = [
    (SG_RULE, os_rule(protocol="tcp", ports=(22, 22), prefix="192.0.2.0/25")),
    (SG_RULE, os_rule(group="sg")),
    (SG_RULE, os_rule(prefix="0.0.0.0/0", direction="egress")),
    (SG_RULE, os_rule(protocol="tcp", ports=(443, 443), prefix="0.0.0.0/0")),
    (SG_RULE, os_rule(protocol="udp", ports=(22, 22), prefix="0.0.0.0/0")),
    (
        INGRESS_RULE,
        {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
    ),
    (INGRESS_RULE, {"securityGroupId": "sg-1", "ipProtocol": "-1", "referencedSecurityGroupId": "sg-1"}),
    (
        EC2_RULE,
        {
            "type": "egress",
            "securityGroupId": "sg-1",
            "protocol": "-1",
            "fromPort": 0,
            "toPort": 0,
            "cidrBlocks": ["0.0.0.0/0"],
        },
    ),
    (
        GROUP,
        {
            "vpcId": "vpc-1",
            "ingress": [{"protocol": "tcp", "fromPort": 6443, "toPort": 6443, "cidrBlocks": ["192.0.2.0/25"]}],
        },
    ),
    (LISTENER, {"loadbalancerId": "lb", "protocol": "TCP", "protocolPort": 6443, "allowedCidrs": ["192.0.2.0/25"]}),
    (LISTENER, {"loadbalancerId": "lb", "protocol": "HTTPS", "protocolPort": 443}),
]


@pytest.mark.parametrize(("type_", "inputs"), OPEN_ADMIN)
def test_admin_port_open_to_internet_is_reported(analyzer: Analyzer, type_: str, inputs: dict[str, Any]) -> None:
    found = assert_violation(analyzer, "no-admin-port-open-to-internet", resource(type_, "open", inputs))
    assert any(str(port) in v.message for v in found for port in (22, 6443, 9345))


@pytest.mark.parametrize(("type_", "inputs"), CLOSED_ADMIN)
def test_admin_ports_open_only_to_admin_networks_pass(analyzer: Analyzer, type_: str, inputs: dict[str, Any]) -> None:
    assert_clean(analyzer, "no-admin-port-open-to-internet", resource(type_, "closed", inputs))


def test_extra_ports_config_adds_admin_ports(analyzer: Analyzer) -> None:
    rule = resource(SG_RULE, "vault", os_rule(protocol="tcp", ports=(8200, 8200), prefix="0.0.0.0/0"))
    listener = resource(LISTENER, "vault-lb", {"loadbalancerId": "lb", "protocol": "TCP", "protocolPort": 8200})
    policy = "no-admin-port-open-to-internet"
    assert_clean(analyzer, policy, rule, listener)
    config = {policy: {"extra_ports": [8200]}}
    found = hits(analyzer, policy, rule, listener, config=config)
    assert {v.urn for v in found} == {rule["urn"], listener["urn"]}
    assert all("8200" in v.message and v.level == "mandatory" for v in found)


# -- no-all-traffic-from-internet ---------------------------------------------------------------

ALL_TRAFFIC = [
    (SG_RULE, os_rule(prefix="0.0.0.0/0")),
    (SG_RULE, os_rule(protocol="any")),
    (SG_RULE, os_rule(protocol="tcp", prefix="::/0", ethertype="IPv6")),
    (INGRESS_RULE, {"securityGroupId": "sg-1", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}),
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
    ),
    (
        GROUP,
        {
            "vpcId": "vpc-1",
            "ingress": [{"protocol": "udp", "fromPort": 1, "toPort": 65535, "cidrBlocks": ["0.0.0.0/0"]}],
        },
    ),
]

NOT_ALL_TRAFFIC = [
    (SG_RULE, os_rule(protocol="tcp", ports=(443, 443), prefix="0.0.0.0/0")),
    (SG_RULE, os_rule(group="sg")),
    (SG_RULE, os_rule(prefix="10.40.0.0/16")),
    (SG_RULE, os_rule(protocol="icmp", prefix="0.0.0.0/0")),
    (INGRESS_RULE, {"securityGroupId": "sg-1", "ipProtocol": "-1", "referencedSecurityGroupId": "sg-1"}),
    (
        EC2_RULE,
        {
            "type": "egress",
            "securityGroupId": "sg-1",
            "protocol": "-1",
            "fromPort": 0,
            "toPort": 0,
            "cidrBlocks": ["0.0.0.0/0"],
        },
    ),
    (
        GROUP,
        {
            "vpcId": "vpc-1",
            "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}],
        },
    ),
]


@pytest.mark.parametrize(("type_", "inputs"), ALL_TRAFFIC)
def test_all_traffic_from_internet_is_reported(analyzer: Analyzer, type_: str, inputs: dict[str, Any]) -> None:
    assert_violation(analyzer, "no-all-traffic-from-internet", resource(type_, "wide-open", inputs))


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


@pytest.mark.parametrize(
    ("vpc", "words"),
    [
        # endpointPublicAccess unset: AWS's default is a public endpoint, here with no CIDR limit.
        ({"endpointPrivateAccess": True, "subnetIds": ["subnet-1"]}, "publicAccessCidrs"),
        (
            {"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
            "0.0.0.0/0",
        ),
        ({"endpointPrivateAccess": False, "endpointPublicAccess": False}, "endpointPrivateAccess"),
        ({"endpointPublicAccess": True, "publicAccessCidrs": ["192.0.2.0/25"]}, "endpointPrivateAccess"),
    ],
)
def test_open_eks_endpoint_is_reported(analyzer: Analyzer, vpc: dict[str, Any], words: str) -> None:
    found = assert_violation(analyzer, "eks-endpoint-restricted", eks(vpcConfig=vpc))
    assert any(words in v.message for v in found)


@pytest.mark.parametrize(
    "encryption",
    [
        None,
        {"resources": ["configmaps"], "provider": {"keyArn": "arn:aws:kms:eu-west-1:111122223333:key/1"}},
        {"resources": ["secrets"], "provider": {}},
    ],
)
def test_eks_without_secrets_encryption_is_reported(analyzer: Analyzer, encryption: dict[str, Any] | None) -> None:
    assert_violation(analyzer, "eks-secrets-encrypted", eks(encryptionConfig=encryption))


@pytest.mark.parametrize("log_types", [None, ["api", "authenticator"]])
def test_eks_without_audit_logs_is_advised(analyzer: Analyzer, log_types: list[str] | None) -> None:
    assert_violation(analyzer, "eks-audit-logging", eks(enabledClusterLogTypes=log_types))


# -- keys, volumes, addresses -------------------------------------------------------------------


def test_kms_key_rotation(analyzer: Analyzer) -> None:
    policy = "kms-key-rotation"
    assert_clean(analyzer, policy, resource(KMS, "rotating", {"enableKeyRotation": True}))
    # KMS cannot rotate asymmetric keys: they are not held to this rule.
    assert_clean(
        analyzer, policy, resource(KMS, "signing", {"customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"})
    )
    assert_violation(analyzer, policy, resource(KMS, "unset", {"description": "no rotation"}))
    assert_violation(
        analyzer,
        policy,
        resource(KMS, "off", {"enableKeyRotation": False, "customerMasterKeySpec": "SYMMETRIC_DEFAULT"}),
    )


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
    assert_violation(analyzer, policy, resource(VOLUME, "plain", {"availabilityZone": "eu-west-1a", "size": 100}))
    bad_template = {
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false", "volumeSize": 100}}]
    }
    found = assert_violation(analyzer, policy, resource(LAUNCH_TEMPLATE, "plain-nodes", bad_template))
    assert "/dev/xvda" in found[0].message


def test_no_public_ip_on_launch(analyzer: Analyzer) -> None:
    policy = "no-public-ip-on-launch"
    assert_clean(
        analyzer,
        policy,
        resource(SUBNET, "private", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/20", "mapPublicIpOnLaunch": False}),
    )
    assert_clean(analyzer, policy, resource(INSTANCE, "node", {"ami": "ami-1", "instanceType": "m6i.large"}))
    assert_violation(
        analyzer,
        policy,
        resource(SUBNET, "public", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/20", "mapPublicIpOnLaunch": True}),
    )
    assert_violation(
        analyzer,
        policy,
        resource(INSTANCE, "exposed", {"ami": "ami-1", "instanceType": "m6i.large", "associatePublicIpAddress": True}),
    )
    assert_violation(
        analyzer,
        policy,
        resource(LAUNCH_TEMPLATE, "exposed-nodes", {"networkInterfaces": [{"associatePublicIpAddress": "true"}]}),
    )


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
    assert "blockPublicPolicy" in found[0].message


@pytest.mark.parametrize(
    ("type_", "inputs"),
    [
        ("aws:s3/bucketAcl:BucketAcl", {"bucket": "eo4eu-data", "acl": "public-read"}),
        ("aws:s3/bucketAclV2:BucketAclV2", {"bucket": "eo4eu-data", "acl": "authenticated-read"}),
        (
            "aws:s3/bucketAcl:BucketAcl",
            {
                "bucket": "eo4eu-data",
                "accessControlPolicy": {
                    "owner": {"id": "owner"},
                    "grants": [
                        {
                            "permission": "READ",
                            "grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
                        }
                    ],
                },
            },
        ),
        (BUCKET, {"bucket": "eo4eu-data", "acl": "public-read-write"}),
    ],
)
def test_public_bucket_acls_are_reported(analyzer: Analyzer, type_: str, inputs: dict[str, Any]) -> None:
    assert_violation(analyzer, "s3-buckets-not-public", resource(type_, "public-acl", inputs))


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
    assert_violation(analyzer, policy, resource(BUCKET, "orphan", {"bucket": "eo4eu-orphan"}), named, by_name)
    assert_violation(analyzer, policy, resource(BUCKET_V2, "lonely", {}))


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
    assert ".r:*" in found[0].message


# -- credentials-not-in-plain-config ------------------------------------------------------------


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
    assert [path in v.message for v in found] == [True]


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
                "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
            }
        ),
    ],
)
def test_secret_references_pass(analyzer: Analyzer, good: dict[str, Any]) -> None:
    assert_clean(analyzer, "credentials-not-in-plain-config", good)


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


def test_unknown_credential_does_not_hide_a_literal_one(analyzer: Analyzer) -> None:
    bad = release({"db": {"password": UNKNOWN}, "proxy": {"secretToken": "0123abcd"}})
    found = hits(analyzer, "credentials-not-in-plain-config", bad)
    assert sorted((v.level, "secretToken" in v.message, "during preview" in v.message) for v in found) == [
        ("advisory", False, True),
        ("mandatory", True, False),
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
