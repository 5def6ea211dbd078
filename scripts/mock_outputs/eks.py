"""Mock outputs for the eks area (see scripts.mocks for the table formats).

IAM, KMS and EKS identifiers are not EC2-style (`<prefix>-<hex>`), so these types stay out of
AWS_IDS: each builder computes its ARN, account and region itself, from the resource's provider
(its `allowedAccountIds` and `region`), in the formats the services really return.
"""

from __future__ import annotations

import base64
import textwrap
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs

from components.spec.sites import aws_partition

from ..mocks import ID_KEY, CallBuilder, ResourceBuilder, account_and_region, digest, stable_uuid

#: The timestamp every mocked resource was "created" at (plans must be reproducible).
CREATED = "2026-01-15T09:30:00Z"
#: The role the offline engine deploys as, and its session: `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
DEPLOYER_ROLE = "meridian-deployer"
DEPLOYER_SESSION = "ci"


def _iam_unique_id(prefix: str, *parts: str) -> str:
    """IAM unique IDs: a 4-letter type prefix (AROA for roles) and 17 upper-case characters."""
    return prefix + digest(*parts)[:17].upper()


def _autoname(args: MockResourceArgs) -> str:
    """The physical name Pulumi gives a resource without an explicit `name`: `<name>-<7 hex>`."""
    return str(args.inputs.get("name") or f"{args.name}-{digest(args.typ, args.name)[:7]}")


def _tagged(args: MockResourceArgs) -> dict[str, Any]:
    return {"tagsAll": dict(args.inputs.get("tags") or {})}


def _role(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    name = _autoname(args)
    path = str(args.inputs.get("path") or "/")
    return {
        ID_KEY: name,  # an IAM role's ID is its name
        "name": name,
        # A role's path sits between `role/` and its name: /team/ -> role/team/<name>.
        "arn": f"arn:{aws_partition(region)}:iam::{account}:role/{path.lstrip('/')}{name}",
        "uniqueId": _iam_unique_id("AROA", args.typ, args.name),
        "createDate": CREATED,
        "path": path,
        "maxSessionDuration": args.inputs.get("maxSessionDuration", 3600),
        **_tagged(args),
    }


def kms_key_id(name: str) -> str:
    """The key ID (a UUID) of the mocked KMS key registered as `name`."""
    return stable_uuid("aws:kms/key:Key", name)


def _kms_key(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    key_id = kms_key_id(args.name)
    return {
        ID_KEY: key_id,
        "keyId": key_id,
        "arn": f"arn:{aws_partition(region)}:kms:{region}:{account}:key/{key_id}",
        "keyUsage": args.inputs.get("keyUsage", "ENCRYPT_DECRYPT"),
        "customerMasterKeySpec": args.inputs.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
        "isEnabled": args.inputs.get("isEnabled", True),
        "multiRegion": args.inputs.get("multiRegion", False),
        "rotationPeriodInDays": args.inputs.get("rotationPeriodInDays", 365),
        "region": region,
        **_tagged(args),
    }


def _kms_alias(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    name = _autoname(args)
    target = str(args.inputs.get("targetKeyId", ""))
    # targetKeyId may be a key ID or a key ARN; the service reports the ARN either way.
    target_arn = (
        target if target.startswith("arn:") else f"arn:{aws_partition(region)}:kms:{region}:{account}:key/{target}"
    )
    return {
        "name": name,
        "arn": f"arn:{aws_partition(region)}:kms:{region}:{account}:{name}",
        "targetKeyArn": target_arn,
        "region": region,
    }


def cluster_id(name: str) -> str:
    """The 32 upper-case hex characters EKS puts in a cluster's endpoint host and OIDC issuer path."""
    return digest("aws:eks/cluster:Cluster", name)[:32].upper()


def _certificate(name: str) -> str:
    """A PEM-looking certificate, base64-encoded as EKS returns `certificateAuthority.data`."""
    body = base64.b64encode(bytes.fromhex(digest("ca", name) * 12)).decode()
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(body, 64)) + "\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def _eks_cluster(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    name = _autoname(args)
    host_id = cluster_id(name)
    vpc_config = dict(args.inputs.get("vpcConfig") or {})
    vpc_config.setdefault("endpointPublicAccess", True)
    vpc_config.setdefault("endpointPrivateAccess", False)
    vpc_config["clusterSecurityGroupId"] = f"sg-{digest('eks-cluster-sg', name)[:17]}"
    vpc_config["vpcId"] = f"vpc-{digest('eks-vpc', name)[:17]}"
    return {
        ID_KEY: name,  # an EKS cluster's ID is its name
        "name": name,
        "arn": f"arn:{aws_partition(region)}:eks:{region}:{account}:cluster/{name}",
        "endpoint": f"https://{host_id}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": _certificate(name)},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{host_id}"}]}],
        "status": "ACTIVE",
        "platformVersion": "eks.8",
        "createdAt": CREATED,
        "version": args.inputs.get("version", "1.34"),
        "vpcConfig": vpc_config,
        "kubernetesNetworkConfig": {"ipFamily": "ipv4", "serviceIpv4Cidr": "172.20.0.0/16"},
        "region": region,
        **_tagged(args),
    }


def _eks_node_group(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    cluster = str(args.inputs.get("clusterName", ""))
    prefix = args.inputs.get("nodeGroupNamePrefix")
    # EKS appends a timestamp-like suffix to a prefix (as the provider does for name_prefix).
    group = str(
        args.inputs.get("nodeGroupName") or (f"{prefix}{digest(args.name)[:26]}" if prefix else _autoname(args))
    )
    group_uuid = stable_uuid("aws:eks/nodeGroup:NodeGroup", cluster, group)
    return {
        ID_KEY: f"{cluster}:{group}",
        "nodeGroupName": group,
        "arn": f"arn:{aws_partition(region)}:eks:{region}:{account}:nodegroup/{cluster}/{group}/{group_uuid}",
        "status": "ACTIVE",
        "version": args.inputs.get("version", "1.34"),
        "releaseVersion": f"{args.inputs.get('version', '1.34')}.0-20260110",
        "capacityType": args.inputs.get("capacityType", "ON_DEMAND"),
        "amiType": args.inputs.get("amiType", "AL2023_x86_64_STANDARD"),
        "diskSize": args.inputs.get("diskSize", 20),
        "resources": [
            {"autoscalingGroups": [{"name": f"eks-{group}-{group_uuid}"}], "remoteAccessSecurityGroupId": ""}
        ],
        "region": region,
        **_tagged(args),
    }


def _principal_kind(principal: str) -> str:
    """`role` or `user`, from an IAM principal ARN."""
    return "user" if ":user/" in principal else "role"


def _eks_access_entry(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    cluster = str(args.inputs.get("clusterName", ""))
    principal = str(args.inputs.get("principalArn", ""))
    principal_name = principal.rsplit("/", 1)[-1]
    kind = _principal_kind(principal)
    entry_uuid = stable_uuid("aws:eks/accessEntry:AccessEntry", cluster, principal)
    # EKS maps an IAM role to a per-session Kubernetes user name, a user to its ARN.
    user_name = (
        f"arn:{aws_partition(region)}:sts::{account}:assumed-role/{principal_name}/{{{{SessionName}}}}"
        if kind == "role"
        else principal
    )
    return {
        "accessEntryArn": f"arn:{aws_partition(region)}:eks:{region}:{account}:access-entry/{cluster}/{kind}/{account}/"
        f"{principal_name}/{entry_uuid}",
        "type": args.inputs.get("type", "STANDARD"),
        "userName": args.inputs.get("userName") or user_name,
        "kubernetesGroups": list(args.inputs.get("kubernetesGroups") or []),
        "createdAt": CREATED,
        "modifiedAt": CREATED,
        "region": region,
        **_tagged(args),
    }


def _eks_access_policy_association(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    _, region = account_and_region(provider)
    return {"associatedAt": CREATED, "modifiedAt": CREATED, "region": region}


def _eks_addon(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    cluster = str(args.inputs.get("clusterName", ""))
    addon = str(args.inputs.get("addonName", ""))
    addon_uuid = stable_uuid("aws:eks/addon:Addon", cluster, addon)
    return {
        # The provider's ID is `<cluster>:<add-on>`; EKS reports the version it installed.
        ID_KEY: f"{cluster}:{addon}",
        "arn": f"arn:{aws_partition(region)}:eks:{region}:{account}:addon/{cluster}/{addon}/{addon_uuid}",
        "addonVersion": args.inputs.get("addonVersion") or "v1.66.0-eksbuild.1",
        "createdAt": CREATED,
        "modifiedAt": CREATED,
        "region": region,
        **_tagged(args),
    }


def oidc_provider_arn(account: str, issuer: str, region: str = "eu-west-1") -> str:
    """The ARN IAM gives the OIDC provider of `issuer`: the issuer's host and path, without the scheme."""
    return f"arn:{aws_partition(region)}:iam::{account}:oidc-provider/{issuer.removeprefix('https://')}"


def _oidc_provider(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    issuer = str(args.inputs.get("url", ""))
    return {
        "arn": oidc_provider_arn(account, issuer, region),
        # The thumbprint of the root CA IAM keeps for EKS issuers (IAM OIDC provider docs).
        "thumbprintLists": list(args.inputs.get("thumbprintLists") or ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]),
        **_tagged(args),
    }


def _caller_identity(args: MockCallArgs, provider: dict[str, Any]) -> dict[str, Any]:
    account, region = account_and_region(provider)
    role_id = _iam_unique_id("AROA", "aws:iam/role:Role", DEPLOYER_ROLE)
    return {
        "accountId": account,
        "arn": f"arn:{aws_partition(region)}:sts::{account}:assumed-role/{DEPLOYER_ROLE}/{DEPLOYER_SESSION}",
        "id": account,
        "userId": f"{role_id}:{DEPLOYER_SESSION}",
    }


def _session_context(args: MockCallArgs, provider: dict[str, Any]) -> dict[str, Any]:
    arn = str(args.args.get("arn", ""))
    prefix, _, resource = arn.partition(":assumed-role/")
    if not resource:
        # Not an assumed-role session: the data source hands the ARN back as its own issuer.
        return {"arn": arn, "id": arn, "issuerArn": arn, "issuerId": "", "issuerName": "", "sessionName": ""}
    role, _, session = resource.rpartition("/")
    account = prefix.rsplit(":", 1)[-1]
    partition = prefix.split(":")[1]
    return {
        "arn": arn,
        "id": arn,
        "issuerArn": f"arn:{partition}:iam::{account}:role/{role}",
        "issuerId": _iam_unique_id("AROA", "aws:iam/role:Role", role.rsplit("/", 1)[-1]),
        "issuerName": role.rsplit("/", 1)[-1],
        "sessionName": session,
    }


def _launch_template(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    prefix = str(args.inputs.get("namePrefix") or "")
    return {
        "name": f"{prefix}{digest('lt', args.name)[:26]}",
        "latestVersion": 1,
        "defaultVersion": 1,
        **_tagged(args),
    }


RESOURCES: dict[str, ResourceBuilder] = {
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:iam/role:Role": _role,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _eks_node_group,
    "aws:eks/accessEntry:AccessEntry": _eks_access_entry,
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _eks_access_policy_association,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:eks/addon:Addon": _eks_addon,
}
CALLS: dict[str, CallBuilder] = {
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:iam/getSessionContext:getSessionContext": _session_context,
}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2).
#: Empty: none of this area's types has an EC2-style ID (see the module docstring).
AWS_IDS: dict[str, tuple[str, str]] = {"aws:ec2/launchTemplate:LaunchTemplate": ("lt", "launch-template")}

__all__ = ["AWS_IDS", "CALLS", "RESOURCES", "account_and_region", "cluster_id", "kms_key_id", "oidc_provider_arn"]
