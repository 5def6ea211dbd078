"""The eks backend: the values that matter in an EKS cluster's plan, checked against the mocks and the AWS SDK.

Every plan comes from the one offline harness (`plan_of`). Inputs that reference another
resource hold what the mocks gave that resource, so wiring is checked by recomputing the
referenced resource's mock outputs with `scripts.mocks`, through the same provider inputs
(account and region) the plan recorded - never by comparing with a hard-coded ARN.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import pulumi_aws  # noqa: F401 - importing a provider SDK registers its type tokens
import pytest
import yaml
from conftest import PlanCache
from pulumi.runtime import MockCallArgs, MockResourceArgs
from test_provider_contract import contract_violations

from components.clusters.eks import render_kubeconfig
from components.spec import SpecError
from components.spec.clusters import MIG_CONFIG_LABEL, POOL_LABEL
from components.spec.sites import aws_partition as partition
from scripts.harness import SECRET, Plan
from scripts.mock_outputs import eks as eks_mocks
from scripts.mocks import MeridianMocks

CLUSTER = "ml"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
EKS_NAME = f"testproj-aws-b-{CLUSTER}"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/platform-admins"
BREAK_GLASS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops/break-glass"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

KUBERNETES_CLUSTER = "meridian:clusters:KubernetesCluster"
NODE_POOL = "meridian:clusters:NodePool"
AWS_PROVIDER = "pulumi:providers:aws"
K8S_PROVIDER = "pulumi:providers:kubernetes"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KMS_KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
RBAC = "kubernetes:rbac.authorization.k8s.io/v1"
#: The autoscaler's objects on the cluster: their Pulumi name's suffix after `<cluster>-autoscaler`, and type.
AUTOSCALER_KINDS = {
    "-account": "kubernetes:core/v1:ServiceAccount",
    "-cluster-role": f"{RBAC}:ClusterRole",
    "-cluster-binding": f"{RBAC}:ClusterRoleBinding",
    "-status-role": f"{RBAC}:Role",
    "-status-binding": f"{RBAC}:RoleBinding",
    "": "kubernetes:apps/v1:Deployment",
}


def template_id(name: str) -> str:
    """The mock's EC2 ID for a launch template registered as `name`."""
    from scripts.mocks import digest

    return f"lt-{digest(LAUNCH_TEMPLATE, name)[:17]}"


KMS_ALIAS = "aws:kms/alias:Alias"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
EKS_ADDON = "aws:eks/addon:Addon"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"


def eks_cluster_spec() -> dict[str, Any]:
    """The cluster under test: an IPv4 and an IPv6 API network, one admin role, a CPU and a GPU pool."""
    return {
        "site": "aws-b",
        "backend": "eks",
        "version": "1.34",
        "api_cidrs": ["203.0.113.0/28", "2001:db8:1::/48"],
        "admin_role_arns": [ADMIN_ROLE],
        "node_pools": {
            "cpu": {"flavor": "m6i.2xlarge", "min_size": 1, "max_size": 6},
            "a10": {
                "flavor": "g5.12xlarge",
                "min_size": 0,
                "max_size": 4,
                "gpu": {"model": "A10G", "count": 4},
            },
        },
    }


def _main(platform: dict[str, Any]) -> dict[str, Any]:
    platform = copy.deepcopy(platform)
    platform["clusters"] = {CLUSTER: eks_cluster_spec()}
    return platform


#: A region of the China partition for the `cn-north-1` plan; its zones, and no admin roles: the spec's
#: RoleArn pattern accepts `arn:aws:` role ARNs only, which no China account has.
CHINA_REGION = "cn-north-1"


def _china(platform: dict[str, Any]) -> dict[str, Any]:
    """The main cluster on a site in AWS China (Beijing), whose ARNs live in the `aws-cn` partition."""
    platform = _main(platform)
    platform["sites"]["aws-b"]["aws"]["region"] = CHINA_REGION
    platform["sites"]["aws-b"]["aws"]["availability_zones"] = [f"{CHINA_REGION}a", f"{CHINA_REGION}b"]
    platform["clusters"][CLUSTER]["admin_role_arns"] = []
    return platform


def _variant(platform: dict[str, Any]) -> dict[str, Any]:
    """IPv6-only admin and API networks, a named AWS profile, two admin roles (one with a path), custom taints, MIG."""
    platform = _main(platform)
    site = platform["sites"]["aws-b"]
    site["admin_cidrs"] = ["2001:db8:bb::/48"]
    site["aws"]["profile"] = "research-admin"
    cluster = platform["clusters"][CLUSTER]
    cluster["api_cidrs"] = ["2001:db8:1::/48"]
    cluster["admin_role_arns"] = [BREAK_GLASS_ROLE, ADMIN_ROLE]
    cluster["node_pools"]["batch"] = {
        "flavor": "c6i.4xlarge",
        "min_size": 2,
        "max_size": 10,
        "desired_size": 3,
        "disk_gb": 200,
        "labels": {"workload": "batch"},
        "taints": [
            {"key": "dedicated", "value": "batch", "effect": "NoExecute"},
            {"key": "spot-like", "effect": "PreferNoSchedule"},
            {"key": "team", "value": "eo", "effect": "NoSchedule"},
        ],
    }
    cluster["node_pools"]["a100"] = {
        "flavor": "p4d.24xlarge",
        "min_size": 0,
        "max_size": 2,
        "gpu": {
            "model": "A100-40GB",
            "count": 8,
            "sharing": "mig",
            "mig": {"strategy": "single", "profile": "all-1g.5gb"},
        },
    }
    return platform


_PLANS: dict[str, tuple[dict[str, Any], Plan]] = PlanCache()
Plans = Callable[[str], tuple[dict[str, Any], Plan]]


@pytest.fixture
def plans(plan_of: Callable[..., Plan], base_platform: dict[str, Any]) -> Plans:
    """`(platform mapping, plan)` for "main", "variant" or CHINA_REGION; each evaluated once per test process."""

    def get(which: str) -> tuple[dict[str, Any], Plan]:
        if which not in _PLANS:
            build = {"main": _main, "variant": _variant, CHINA_REGION: _china}[which]
            platform = build(base_platform)
            _PLANS[which] = (platform, plan_of(platform))
        return _PLANS[which]

    return get


class Cluster:
    """What the backend put under the cluster component (its descendants, add-ons left out) and their mock outputs."""

    def __init__(self, plan: Plan, name: str = CLUSTER) -> None:
        self.plan = plan
        self.component = plan.one(KUBERNETES_CLUSTER, name)
        by_urn = {r["urn"]: r for r in plan.resources}

        def inside(resource: dict[str, Any]) -> bool:
            parent = resource["parent"]
            while parent:
                if parent == self.component["urn"]:
                    return not resource["type"].startswith("meridian:addons:")
                ancestor = by_urn.get(parent)
                if ancestor is None or ancestor["type"].startswith("meridian:addons:"):
                    return False  # add-ons' resources go through the cluster's Kubernetes provider
                parent = ancestor["parent"]
            return False

        scope = Plan(plan.project, plan.stack, [r for r in plan.resources if inside(r)])
        self.resources, self.all, self.one = scope.resources, scope.by_type, scope.one
        # The mocks answer as the engine did: each resource through its provider's recorded inputs.
        self.mocks = MeridianMocks()
        for resource in plan.resources:
            if resource["type"].startswith("pulumi:providers:"):
                self.mocks.providers[resource["urn"]] = resource["inputs"]
        self.site_provider = plan.one(AWS_PROVIDER, "aws-b-provider")

    def mock(self, resource: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The ID and output state the mocks gave `resource`."""
        args = MockResourceArgs(
            resource["type"], resource["name"], dict(resource["inputs"]), resource["provider"], None, True
        )
        resource_id, state = self.mocks.new_resource(args)
        assert resource_id
        return resource_id, state

    def site_mock_id(self, token: str, name: str) -> str:
        return self.mock(self.plan.one(token, name))[0]

    def deployer_role_arn(self) -> str:
        """The IAM role the mocked caller's STS session came from (getCallerIdentity, then getSessionContext)."""
        provider = f"{self.site_provider['urn']}::ignored-id"
        caller = self.mocks.call(MockCallArgs("aws:index/getCallerIdentity:getCallerIdentity", {}, provider))
        context = self.mocks.call(
            MockCallArgs("aws:iam/getSessionContext:getSessionContext", {"arn": caller["arn"]}, provider)
        )
        return str(context["issuerArn"])


# --------------------------------------------------------------------------------------------
# Shape: what exists, where it hangs, which provider it uses, and that the SDK accepts it.


@pytest.mark.parametrize("which", ["main", "variant"])
def test_every_input_is_an_aws_sdk_input(plans: Plans, which: str) -> None:
    _, plan = plans(which)
    cluster = Cluster(plan)
    custom = [r for r in cluster.resources if r["custom"]]
    assert {r["type"] for r in custom} == {
        LOG_GROUP,
        LAUNCH_TEMPLATE,
        ROLE,
        ATTACHMENT,
        KMS_KEY,
        KMS_ALIAS,
        EKS_CLUSTER,
        NODE_GROUP,
        ACCESS_ENTRY,
        ACCESS_POLICY,
        OIDC,
        EKS_ADDON,
        ROLE_POLICY,
        K8S_PROVIDER,
        *AUTOSCALER_KINDS.values(),
    }
    assert contract_violations(custom) == []


@pytest.mark.parametrize("which", ["main", "variant"])
def test_resources_hang_under_the_cluster_and_use_the_site_provider(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    cluster = Cluster(plan)
    pools = {p["name"]: p for p in cluster.all(NODE_POOL)}
    assert set(pools) == {f"{CLUSTER}-{key}" for key in platform["clusters"][CLUSTER]["node_pools"]}
    assert all(p["parent"] == cluster.component["urn"] for p in pools.values())

    groups = cluster.all(NODE_GROUP)
    assert len(groups) == len(pools)
    for group in groups:
        pool_name = group["name"].removesuffix("-nodes")
        assert group["parent"] == pools[pool_name]["urn"], group["name"]

    # The cluster's own objects (its autoscaler) go through the cluster's provider, the rest through the site's.
    k8s_provider = cluster.one(K8S_PROVIDER, f"{CLUSTER}-k8s")
    on_cluster = [r for r in cluster.resources if r["type"].startswith("kubernetes:")]
    assert {r["type"] for r in on_cluster} == set(AUTOSCALER_KINDS.values())
    assert all(r["provider"].startswith(f"{k8s_provider['urn']}::") for r in on_cluster)
    assert all(r["parent"] == cluster.component["urn"] for r in on_cluster)
    cloud = [r for r in cluster.resources if r["custom"] and r["type"].startswith("aws:")]
    assert len(cloud) > 10
    for resource in cloud:
        assert resource["provider"], f"{resource['name']} uses the ambient default provider"
        assert resource["provider"].startswith(cluster.site_provider["urn"] + "::"), resource["name"]
        if resource["type"] in (NODE_GROUP, LAUNCH_TEMPLATE):
            # A pool's node group and its launch template sit under the pool's component.
            assert resource["parent"] == pools[resource["name"].removesuffix("-nodes")]["urn"], resource["name"]
        else:
            assert resource["parent"] == cluster.component["urn"], resource["name"]
        assert resource["name"].startswith(f"{CLUSTER}-"), resource["name"]


# --------------------------------------------------------------------------------------------
# IAM and KMS


def test_iam_roles_trust_their_service_and_carry_the_managed_policies(plans: Plans) -> None:
    _, plan = plans("main")
    cluster = Cluster(plan)
    expected = {
        f"{CLUSTER}-cluster-role": ("eks.amazonaws.com", {"AmazonEKSClusterPolicy"}),
        f"{CLUSTER}-node-role": (
            "ec2.amazonaws.com",
            {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"},
        ),
    }
    # The EBS CSI driver's and the autoscaler's roles are assumed by service accounts, not services (below).
    assert {r["name"] for r in cluster.all(ROLE)} == {
        *expected,
        f"{CLUSTER}-ebs-csi-role",
        f"{CLUSTER}-autoscaler-role",
    }
    for role_name, (service, policies) in expected.items():
        role = cluster.one(ROLE, role_name)
        trust = json.loads(role["inputs"]["assumeRolePolicy"])
        assert trust["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ]
        physical_name = cluster.mock(role)[1]["name"]
        attached = {a["inputs"]["policyArn"] for a in cluster.all(ATTACHMENT) if a["inputs"]["role"] == physical_name}
        assert attached == {f"arn:aws:iam::aws:policy/{policy}" for policy in policies}


def test_ebs_csi_driver_runs_as_its_own_service_account_role(plans: Plans) -> None:
    """The EBS CSI add-on, pinned, with an IRSA role only its controller's service account can assume.

    EKS user guide, "Amazon EBS CSI driver": add-on `aws-ebs-csi-driver`, the AWS managed policy
    service-role/AmazonEBSCSIDriverPolicy, service account kube-system/ebs-csi-controller-sa; IAM
    roles for service accounts: Federated principal = the cluster's OIDC provider, conditions on
    `<issuer without https://>:sub` and `:aud` = sts.amazonaws.com.
    """
    _, plan = plans("main")
    cluster = Cluster(plan)
    issuer = cluster.mock(cluster.one(EKS_CLUSTER, f"{CLUSTER}-eks"))[1]["identities"][0]["oidcs"][0]["issuer"]
    host = issuer.removeprefix("https://")
    oidc_arn = cluster.mock(cluster.one(OIDC, f"{CLUSTER}-oidc"))[1]["arn"]
    role = cluster.one(ROLE, f"{CLUSTER}-ebs-csi-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    assert trust == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa",
                        f"{host}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }
    role_state = cluster.mock(role)[1]
    attachment = cluster.one(ATTACHMENT, f"{CLUSTER}-ebs-csi-policy")
    assert attachment["inputs"] == {
        "role": role_state["name"],
        "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
    }
    addon = cluster.one(EKS_ADDON, f"{CLUSTER}-ebs-csi")
    assert addon["inputs"] == {
        "clusterName": EKS_NAME,
        "addonName": "aws-ebs-csi-driver",
        "addonVersion": "v1.66.0-eksbuild.1",
        "serviceAccountRoleArn": role_state["arn"],
        "resolveConflictsOnCreate": "OVERWRITE",
        "resolveConflictsOnUpdate": "OVERWRITE",
        "tags": addon["inputs"]["tags"],
    }
    assert addon["inputs"]["tags"]["Name"] == f"{EKS_NAME}-ebs-csi"
    # Its pods need nodes to become ACTIVE, and its controller the policy from its first call.
    groups = {g["urn"] for g in cluster.all(NODE_GROUP)}
    assert groups and groups | {attachment["urn"]} <= set(addon["depends_on"])
    assert cluster.mock(addon)[0] == f"{EKS_NAME}:aws-ebs-csi-driver"


def test_the_metrics_server_add_on_serves_the_autoscalers(plans: Plans) -> None:
    """EKS runs no Metrics Server (EKS user guide, "View resource usage with the Kubernetes Metrics Server"):
    without the community add-on `metrics-server`, a CPU autoscaler never gets a metric."""
    _, plan = plans("main")
    cluster = Cluster(plan)
    addon = cluster.one(EKS_ADDON, f"{CLUSTER}-metrics-server")
    assert addon["inputs"] == {
        "clusterName": EKS_NAME,
        "addonName": "metrics-server",
        "addonVersion": "v0.8.1-eksbuild.5",
        "resolveConflictsOnCreate": "OVERWRITE",
        "resolveConflictsOnUpdate": "OVERWRITE",
        "tags": addon["inputs"]["tags"],
    }
    assert addon["inputs"]["tags"]["Name"] == f"{EKS_NAME}-metrics-server"
    groups = {g["urn"] for g in cluster.all(NODE_GROUP)}
    assert groups and groups <= set(addon["depends_on"])
    assert cluster.mock(addon)[0] == f"{EKS_NAME}:metrics-server"


def test_the_cluster_autoscaler_scales_this_clusters_node_groups_only(plans: Plans) -> None:
    """EKS scales no node group by itself (EKS user guide, "Scale cluster compute with Karpenter and Cluster
    Autoscaler"): without an autoscaler the GPU pool at zero never gets a node.

    kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md: the IAM policy (its minimum,
    plus autoscaling:DescribeTags and ec2:DescribeLaunchTemplateVersions for auto-discovery of
    launch-template groups), `--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,
    k8s.io/cluster-autoscaler/<cluster name>` (the tags EKS puts on managed node groups' Auto Scaling
    groups, with `owned` as the second's value); aws_util.go GetCurrentAwsRegion reads AWS_REGION
    before the instance metadata, which pods cannot reach here (hop limit 1).
    """
    _, plan = plans("main")
    cluster = Cluster(plan)
    issuer = cluster.mock(cluster.one(EKS_CLUSTER, f"{CLUSTER}-eks"))[1]["identities"][0]["oidcs"][0]["issuer"]
    host = issuer.removeprefix("https://")
    role = cluster.one(ROLE, f"{CLUSTER}-autoscaler-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"Federated": cluster.mock(cluster.one(OIDC, f"{CLUSTER}-oidc"))[1]["arn"]}
    assert statement["Condition"] == {
        "StringEquals": {
            f"{host}:sub": "system:serviceaccount:kube-system:cluster-autoscaler",
            f"{host}:aud": "sts.amazonaws.com",
        }
    }
    role_id, role_state = cluster.mock(role)
    policy = cluster.one(ROLE_POLICY, f"{CLUSTER}-autoscaler-policy")
    assert policy["inputs"]["role"] == role_id
    assert json.loads(policy["inputs"]["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                # Only this cluster's groups: the role cannot resize another cluster's nodes.
                "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{EKS_NAME}": "owned"}},
            },
        ],
    }

    objects = {suffix: cluster.one(kind, f"{CLUSTER}-autoscaler{suffix}") for suffix, kind in AUTOSCALER_KINDS.items()}
    app = {"app.kubernetes.io/name": "cluster-autoscaler", "app.kubernetes.io/instance": CLUSTER}
    # The project's labels too, as every object Meridian makes carries them (the spec's, the
    # site's and the cluster's); the Deployment selects by the app's alone, which never change.
    project = {"managed-by": "meridian", "project": "testproj", "cost-centre": "CC-0001"}
    labels = {**project, "data-classification": "internal", "site": "aws-b", "cluster": CLUSTER, **app}
    account = objects["-account"]["inputs"]["metadata"]
    assert account == {
        "name": "cluster-autoscaler",
        "namespace": "kube-system",
        "labels": labels,
        "annotations": {"eks.amazonaws.com/role-arn": role_state["arn"]},
    }
    subject = [{"kind": "ServiceAccount", "name": "cluster-autoscaler", "namespace": "kube-system"}]
    for binding, kind in (("-cluster-binding", "ClusterRole"), ("-status-binding", "Role")):
        inputs = objects[binding]["inputs"]
        assert inputs["subjects"] == subject
        assert inputs["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": kind,
            "name": "cluster-autoscaler",
        }
    rules = objects["-cluster-role"]["inputs"]["rules"]

    def verbs(group: str, resource: str, name: str | None = None) -> set[str]:
        return {
            verb
            for rule in rules
            if group in rule["apiGroups"]
            and resource in rule["resources"]
            and (name is None) == ("resourceNames" not in rule)
            and (name is None or name in rule["resourceNames"])
            for verb in rule["verbs"]
        }

    # What it does: evicts pods off nodes it drains, marks nodes, reads what decides whether a pod fits.
    assert verbs("", "pods/eviction") == {"create"}
    assert verbs("", "nodes") == {"get", "list", "watch", "update"}
    for group, resource in (("", "pods"), ("apps", "daemonsets"), ("storage.k8s.io", "csinodes"), ("", "configmaps")):
        assert verbs(group, resource) == {"get", "list", "watch"}, resource
    assert verbs("policy", "poddisruptionbudgets") == {"list", "watch"}
    # 1.35 always runs dynamic resource allocation and waits for these informers before anything else
    # (cluster-autoscaler-1.35.2 config/flags/flags.go, main.go; chart 9.54.0 clusterrole.yaml).
    for resource in ("resourceclaims", "resourceslices", "deviceclasses"):
        assert verbs("resource.k8s.io", resource) == {"get", "list", "watch"}, resource
    assert verbs("coordination.k8s.io", "leases") == {"create"}
    assert verbs("coordination.k8s.io", "leases", "cluster-autoscaler") == {"get", "update"}
    # Nothing it could use to read Secrets or change workloads.
    assert not any(resource in rule["resources"] for rule in rules for resource in ("secrets", "deployments", "*"))
    status = objects["-status-role"]["inputs"]
    assert status["metadata"]["namespace"] == "kube-system"
    assert status["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["cluster-autoscaler-status"],
            "verbs": ["delete", "get", "update"],
        },
    ]

    deployment = objects[""]
    assert deployment["inputs"]["metadata"] == {
        "name": "cluster-autoscaler",
        "namespace": "kube-system",
        "labels": labels,
    }
    assert deployment["inputs"]["spec"]["selector"] == {"matchLabels": app}
    assert deployment["inputs"]["spec"]["template"]["metadata"] == {"labels": labels}
    for placed in objects.values():
        assert placed["inputs"]["metadata"]["labels"] == labels, placed["name"]
    pod = deployment["inputs"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "cluster-autoscaler"
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [container] = pod["containers"]
    # The autoscaler's release of the cluster's minor (1.34), as for capi.
    assert container["image"] == "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.5"
    assert container["command"] == ["/cluster-autoscaler"]
    assert container["args"] == [
        "--cloud-provider=aws",
        f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{EKS_NAME}",
        "--expander=least-waste",
    ]
    assert container["env"] == [{"name": "AWS_REGION", "value": REGION}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # Its pod needs a node, and its first calls the policy; the role ARN it annotates waits for the role.
    groups = {g["urn"] for g in cluster.all(NODE_GROUP)}
    for placed in objects.values():
        assert groups | {policy["urn"]} <= set(placed["depends_on"]), placed["name"]


def test_kms_key_is_protected_and_encrypts_the_clusters_secrets(plans: Plans) -> None:
    _, plan = plans("main")
    cluster = Cluster(plan)
    key = cluster.one(KMS_KEY, f"{CLUSTER}-secrets-key")
    assert key["protect"] is True
    assert key["retain_on_delete"] is True
    assert key["inputs"]["enableKeyRotation"] is True
    assert key["inputs"]["deletionWindowInDays"] == 30
    assert key["inputs"]["description"]

    key_state = cluster.mock(key)[1]
    # The mock computed the ARN in the site's account and region, not in a default one.
    assert key_state["arn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    eks = cluster.one(EKS_CLUSTER, f"{CLUSTER}-eks")
    assert eks["inputs"]["encryptionConfig"] == {"provider": {"keyArn": key_state["arn"]}, "resources": ["secrets"]}

    alias = cluster.one(KMS_ALIAS, f"{CLUSTER}-secrets-key")
    assert alias["inputs"] == {"name": f"alias/testproj-{CLUSTER}-eks", "targetKeyId": key_state["keyId"]}
    assert alias["protect"] is False  # only the key holds state


# --------------------------------------------------------------------------------------------
# Partitions: ARNs of AWS-managed policies name the partition of the site's region


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        # "In the Beijing and Ningxia Regions, the Amazon Resource Name (ARN) syntax includes a cn:
        # arn:aws-cn" (docs.amazonaws.cn, general/latest/gr/ARNs.html).
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        # "aws-us-gov - AWS GovCloud (US) Regions" (IAM User Guide, "Identify AWS resources with ARNs").
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        # Every other region is in the commercial partition.
        ("eu-west-1", "aws"),
        ("us-east-1", "aws"),
        ("ap-east-1", "aws"),
    ],
)
def test_partition_of_a_region(region: str, expected: str) -> None:
    assert partition(region) == expected


def test_a_china_site_names_its_managed_policies_in_the_aws_cn_partition(plans: Plans) -> None:
    # AWS-managed policies of a China account are named arn:aws-cn:...; arn:aws:... names nothing there.
    _, plan = plans(CHINA_REGION)
    cluster = Cluster(plan)
    attached = {a["inputs"]["policyArn"] for a in cluster.all(ATTACHMENT)}
    policies = {
        "AmazonEKSClusterPolicy",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryReadOnly",
        "service-role/AmazonEBSCSIDriverPolicy",
    }
    assert attached == {f"arn:aws-cn:iam::aws:policy/{policy}" for policy in policies}
    [association] = cluster.all(ACCESS_POLICY)  # the deployer's only: no admin roles here
    assert association["inputs"]["policyArn"] == (
        "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )


# --------------------------------------------------------------------------------------------
# Control plane


def test_public_endpoint_admits_exactly_the_ipv4_admin_and_api_networks(plans: Plans) -> None:
    platform, plan = plans("main")
    cluster = Cluster(plan)
    vpc_config = cluster.one(EKS_CLUSTER, f"{CLUSTER}-eks")["inputs"]["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is True
    expected = ["198.51.100.0/24", "203.0.113.0/28"]  # site admin CIDR, then the IPv4 API CIDR; IPv6 left out
    assert vpc_config["publicAccessCidrs"] == expected
    listed = platform["sites"]["aws-b"]["admin_cidrs"] + platform["clusters"][CLUSTER]["api_cidrs"]
    assert [c for c in listed if ipaddress.ip_network(c).version == 4] == expected


def test_public_endpoint_is_off_without_an_ipv4_network(plans: Plans) -> None:
    _, plan = plans("variant")
    vpc_config = Cluster(plan).one(EKS_CLUSTER, f"{CLUSTER}-eks")["inputs"]["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc_config  # unset rather than an empty list


@pytest.mark.parametrize("which", ["main", "variant"])
def test_control_plane_settings(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    cluster = Cluster(plan)
    eks = cluster.one(EKS_CLUSTER, f"{CLUSTER}-eks")
    inputs = eks["inputs"]
    assert inputs["name"] == EKS_NAME
    assert inputs["version"] == "1.34"
    assert inputs["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert inputs["roleArn"] == cluster.mock(cluster.one(ROLE, f"{CLUSTER}-cluster-role"))[1]["arn"]

    zones = platform["sites"]["aws-b"]["aws"]["availability_zones"]
    vpc_config = inputs["vpcConfig"]
    assert vpc_config["subnetIds"] == [cluster.site_mock_id(SUBNET, f"aws-b-private-{zone}") for zone in zones]
    assert vpc_config["securityGroupIds"] == [cluster.site_mock_id(SECURITY_GROUP, "aws-b-internal")]

    tags = inputs["tags"]
    assert tags["Name"] == EKS_NAME
    assert tags["cluster"] == CLUSTER
    assert tags["site"] == "aws-b"
    assert tags["owner"] == platform["project"]["owner"]
    assert cluster.one(ATTACHMENT, f"{CLUSTER}-cluster-policy")["urn"] in eks["depends_on"]


@pytest.mark.parametrize("which", ["main", "variant"])
def test_deployer_and_admin_roles_get_cluster_admin_entries(plans: Plans, which: str) -> None:
    platform, plan = plans(which)
    cluster = Cluster(plan)
    deployer = cluster.deployer_role_arn()
    assert deployer == f"arn:aws:iam::{ACCOUNT}:role/{eks_mocks.DEPLOYER_ROLE}"  # the role, not the STS session
    expected = {f"{CLUSTER}-deployer": deployer}
    for arn in platform["clusters"][CLUSTER]["admin_role_arns"]:
        expected[f"{CLUSTER}-admin-{arn.rsplit('/', 1)[1]}"] = arn  # named by role name, not list position

    entries = {e["name"]: e for e in cluster.all(ACCESS_ENTRY)}
    associations = {a["name"]: a for a in cluster.all(ACCESS_POLICY)}
    assert {name: e["inputs"]["principalArn"] for name, e in entries.items()} == expected
    assert set(associations) == set(expected)
    for name, principal in expected.items():
        entry = entries[name]
        assert entry["inputs"]["clusterName"] == EKS_NAME
        assert entry["inputs"]["type"] == "STANDARD"
        association = associations[name]
        assert association["inputs"] == {
            "clusterName": EKS_NAME,
            "principalArn": principal,
            "policyArn": ADMIN_POLICY,
            "accessScope": {"type": "cluster"},
        }
        assert entry["urn"] in association["depends_on"]  # the entry exists before its policy is associated


def test_oidc_provider_trusts_the_clusters_issuer(plans: Plans) -> None:
    _, plan = plans("main")
    cluster = Cluster(plan)
    state = cluster.mock(cluster.one(EKS_CLUSTER, f"{CLUSTER}-eks"))[1]
    issuer = state["identities"][0]["oidcs"][0]["issuer"]
    assert issuer.startswith(f"https://oidc.eks.{REGION}.amazonaws.com/id/")
    oidc = cluster.one(OIDC, f"{CLUSTER}-oidc")
    assert oidc["inputs"]["url"] == issuer
    assert oidc["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]
    assert cluster.mock(oidc)[1]["arn"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer.removeprefix('https://')}"


# --------------------------------------------------------------------------------------------
# Node groups


def test_node_groups_follow_the_pool_specs(plans: Plans) -> None:
    _, plan = plans("main")
    cluster = Cluster(plan)
    node_role_arn = cluster.mock(cluster.one(ROLE, f"{CLUSTER}-node-role"))[1]["arn"]
    node_policies = {a["urn"] for a in cluster.all(ATTACHMENT) if a["name"].startswith(f"{CLUSTER}-node-")}
    assert len(node_policies) == 3
    private = [cluster.site_mock_id(SUBNET, f"aws-b-private-{zone}") for zone in ("eu-west-1a", "eu-west-1b")]

    cpu = cluster.one(NODE_GROUP, f"{CLUSTER}-cpu-nodes")
    gpu = cluster.one(NODE_GROUP, f"{CLUSTER}-a10-nodes")
    assert cpu["inputs"]["scalingConfig"] == {"desiredSize": 1, "minSize": 1, "maxSize": 6}
    assert gpu["inputs"]["scalingConfig"] == {"desiredSize": 0, "minSize": 0, "maxSize": 4}  # min 0 stays 0
    assert cpu["inputs"]["amiType"] == "AL2023_x86_64_STANDARD"
    assert gpu["inputs"]["amiType"] == "AL2023_x86_64_NVIDIA"
    assert cpu["inputs"]["instanceTypes"] == ["m6i.2xlarge"]
    assert gpu["inputs"]["instanceTypes"] == ["g5.12xlarge"]

    # Only the GPU pool is tainted and labelled for the GPU Operator.
    assert gpu["inputs"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    # The accelerator label tells the cluster-autoscaler a node has GPUs before its device plugin does
    # (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md, "Special note on GPU instances").
    assert gpu["inputs"]["labels"] == {POOL_LABEL: "a10", "k8s.amazonaws.com/accelerator": "nvidia-a10g"}
    assert not cpu["inputs"].get("taints")
    assert cpu["inputs"]["labels"] == {POOL_LABEL: "cpu"}

    for group, pool in ((cpu, "cpu"), (gpu, "a10")):
        inputs = group["inputs"]
        # A prefix, so a replacement (new instance or AMI type) can be created before the old goes.
        assert "nodeGroupName" not in inputs
        assert inputs["nodeGroupNamePrefix"] == f"{CLUSTER}-{pool}-"
        assert inputs["clusterName"] == EKS_NAME
        assert inputs["nodeRoleArn"] == node_role_arn
        assert inputs["subnetIds"] == private
        assert inputs["capacityType"] == "ON_DEMAND"
        assert "diskSize" not in inputs  # the launch template sizes (and encrypts) the root volume
        template = Cluster(plan).one(LAUNCH_TEMPLATE, f"{CLUSTER}-{pool}-nodes")
        assert inputs["launchTemplate"] == {"id": template_id(f"{CLUSTER}-{pool}-nodes"), "version": "1"}
        [device] = template["inputs"]["blockDeviceMappings"]
        assert device["ebs"]["encrypted"] == "true" and device["ebs"]["volumeSize"] == 100
        # IMDSv2 and one hop: pods (a notebook) get no token, so never the node role's credentials.
        assert template["inputs"]["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
        }
        assert inputs["updateConfig"] == {"maxUnavailable": 1}
        assert inputs["tags"]["cluster"] == CLUSTER
        assert "scalingConfig.desiredSize" in group["ignore_changes"]
        assert node_policies <= set(group["depends_on"])


def test_pool_taints_use_the_eks_effect_names(plans: Plans) -> None:
    _, plan = plans("variant")
    batch = Cluster(plan).one(NODE_GROUP, f"{CLUSTER}-batch-nodes")["inputs"]
    assert batch["taints"] == [
        {"key": "dedicated", "value": "batch", "effect": "NO_EXECUTE"},
        {"key": "spot-like", "value": "", "effect": "PREFER_NO_SCHEDULE"},
        {"key": "team", "value": "eo", "effect": "NO_SCHEDULE"},
    ]
    assert batch["labels"] == {POOL_LABEL: "batch", "workload": "batch"}
    assert batch["scalingConfig"] == {"desiredSize": 3, "minSize": 2, "maxSize": 10}
    template = Cluster(plan).one(LAUNCH_TEMPLATE, f"{CLUSTER}-batch-nodes")["inputs"]
    assert template["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 200
    assert batch["amiType"] == "AL2023_x86_64_STANDARD"


def test_mig_pool_registers_with_its_partitioning_label(plans: Plans) -> None:
    _, plan = plans("variant")
    a100 = Cluster(plan).one(NODE_GROUP, f"{CLUSTER}-a100-nodes")["inputs"]
    # The GPU Operator's MIG manager partitions the GPUs from this label as soon as the node joins.
    assert a100["labels"] == {
        POOL_LABEL: "a100",
        MIG_CONFIG_LABEL: "all-1g.5gb",
        "k8s.amazonaws.com/accelerator": "nvidia-a100-40gb",
    }
    assert a100["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert a100["amiType"] == "AL2023_x86_64_NVIDIA"
    assert a100["instanceTypes"] == ["p4d.24xlarge"]


# --------------------------------------------------------------------------------------------
# Kubeconfig


def test_kubeconfig_is_secret_and_waits_for_the_deployers_access(plans: Plans) -> None:
    _, plan = plans("main")
    cluster = Cluster(plan)
    assert plan.outputs["kubeconfigs"] == {CLUSTER: SECRET}
    provider = cluster.one(K8S_PROVIDER, f"{CLUSTER}-k8s")
    assert "kubeconfig" in provider["secret_paths"]
    assert provider["inputs"]["kubeconfig"] == SECRET
    # Add-ons reach the cluster through this provider; it must not be used before the deployer is admin.
    assert cluster.one(ACCESS_POLICY, f"{CLUSTER}-deployer")["urn"] in provider["depends_on"]


def _certificate_data() -> str:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


@pytest.mark.parametrize("profile", [None, "research-admin"])
def test_rendered_kubeconfig_runs_aws_eks_get_token(profile: str | None) -> None:
    endpoint = "https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"
    ca_data = _certificate_data()
    text = render_kubeconfig(name=EKS_NAME, endpoint=endpoint, ca_data=ca_data, region=REGION, profile=profile)
    config = yaml.safe_load(text)
    assert config["apiVersion"] == "v1"
    assert config["kind"] == "Config"
    assert config["clusters"] == [
        {"name": EKS_NAME, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
    ]
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    assert context["cluster"] == EKS_NAME
    user = next(u for u in config["users"] if u["name"] == context["user"])["user"]
    assert set(user) == {"exec"}  # no token or key is written into the file
    command = user["exec"]
    assert command["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert command["command"] == "aws"
    assert command["args"] == ["--region", REGION, "eks", "get-token", "--cluster-name", EKS_NAME, "--output", "json"]
    if profile is None:
        assert "env" not in command
    else:
        assert command["env"] == [{"name": "AWS_PROFILE", "value": profile}]


# --------------------------------------------------------------------------------------------
# Mocks: realistic, and computed from the provider they were asked through.


def test_cluster_mock_outputs_look_like_eks(plans: Plans) -> None:
    _, plan = plans("main")
    cluster = Cluster(plan)
    state = cluster.mock(cluster.one(EKS_CLUSTER, f"{CLUSTER}-eks"))[1]
    host_id = eks_mocks.cluster_id(EKS_NAME)
    assert len(host_id) == 32 and host_id == host_id.upper()
    assert state["endpoint"] == f"https://{host_id}.gr7.{REGION}.eks.amazonaws.com"
    assert state["identities"][0]["oidcs"][0]["issuer"].endswith(f"/id/{host_id}")
    assert state["arn"] == f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{EKS_NAME}"
    pem = base64.b64decode(state["certificateAuthority"]["data"]).decode()
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n") and pem.endswith("-----END CERTIFICATE-----\n")
    assert state["status"] == "ACTIVE"


def test_session_context_mock_resolves_sessions_only() -> None:
    mocks = MeridianMocks()
    token = "aws:iam/getSessionContext:getSessionContext"
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/team/deployer/ci-42"
    context = mocks.call(MockCallArgs(token, {"arn": session}, ""))
    assert context["issuerArn"] == f"arn:aws:iam::{ACCOUNT}:role/team/deployer"
    assert context["issuerName"] == "deployer"
    assert context["sessionName"] == "ci-42"
    user = f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert mocks.call(MockCallArgs(token, {"arn": user}, ""))["issuerArn"] == user


# --------------------------------------------------------------------------------------------
# Refusals


def test_two_admin_roles_with_one_name_are_refused(plan_of: Callable[..., Plan], base_platform: dict[str, Any]) -> None:
    platform = _main(base_platform)
    platform["clusters"][CLUSTER]["admin_role_arns"] = [ADMIN_ROLE, "arn:aws:iam::444455556666:role/platform-admins"]
    with pytest.raises(SpecError, match=r"clusters\.ml\.admin_role_arns\[1\]: role name 'platform-admins' is already"):
        plan_of(platform)


def test_control_plane_logs_are_kept_for_a_bounded_time(plans: Plans) -> None:
    _, plan = plans("main")
    cluster = Cluster(plan)
    [logs] = [r for r in cluster.resources if r["type"] == LOG_GROUP]
    [eks] = [r for r in cluster.resources if r["type"] == EKS_CLUSTER]
    # EKS writes to exactly this group; owning it first gives it a retention period.
    assert logs["inputs"]["name"] == f"/aws/eks/{eks['inputs']['name']}/cluster"
    assert logs["inputs"]["retentionInDays"] == 90
    assert logs["urn"] in eks["depends_on"]


def test_a_pinned_deployer_role_replaces_the_callers(
    plan_of: Callable[..., Plan], base_platform: dict[str, Any]
) -> None:
    platform = _main(base_platform)
    deployer = "arn:aws:iam::111122223333:role/ci-deployer"
    platform["clusters"][CLUSTER]["deployer_role_arn"] = deployer
    cluster = Cluster(plan_of(platform))
    [entry] = [r for r in cluster.resources if r["type"] == ACCESS_ENTRY and r["name"] == f"{CLUSTER}-deployer"]
    # Whoever runs `pulumi up`, the entry stays CI's: no replacement, no lost admin.
    assert entry["inputs"]["principalArn"] == deployer


def test_the_providers_kubeconfig_is_the_rendered_one_for_the_real_cluster(
    plan_of: Callable[..., Plan], base_platform: dict[str, Any]
) -> None:
    # The provider's kubeconfig names the EKS cluster and reaches it at the endpoint and CA EKS
    # reports (here: the mocks' answers for the control plane), through `aws eks get-token`.
    plan = plan_of(_main(base_platform), reveal_secrets=True)
    cluster = Cluster(plan)
    provider = cluster.one(K8S_PROVIDER, f"{CLUSTER}-k8s")
    state = cluster.mock(cluster.one(EKS_CLUSTER, f"{CLUSTER}-eks"))[1]
    kubeconfig = yaml.safe_load(plan.revealed[provider["urn"]]["kubeconfig"])
    assert kubeconfig == yaml.safe_load(
        render_kubeconfig(
            name=EKS_NAME,
            endpoint=state["endpoint"],
            ca_data=state["certificateAuthority"]["data"],
            region=REGION,
            profile=None,
        )
    )
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")
    # No prompt under `pulumi up` (client.authentication.k8s.io/v1beta1 ExecConfig.interactiveMode).
    assert kubeconfig["users"][0]["user"]["exec"]["interactiveMode"] == "Never"


def test_eks_outputs_without_a_ca_or_an_issuer_are_refused() -> None:
    from types import SimpleNamespace

    from components.clusters import eks

    with pytest.raises(ValueError, match=r"^EKS reported no certificate authority for the cluster$"):
        eks._ca_data(SimpleNamespace(data=None))  # type: ignore[arg-type]
    assert eks._ca_data(SimpleNamespace(data="Q0E=")) == "Q0E="  # type: ignore[arg-type]
    no_issuers: list[list[object] | None] = [[], None]
    for oidcs in no_issuers:
        with pytest.raises(ValueError, match=r"^EKS reported no OIDC issuer for the cluster$"):
            eks._issuer([SimpleNamespace(oidcs=oidcs)])  # type: ignore[list-item]
    issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    assert eks._issuer([SimpleNamespace(oidcs=[SimpleNamespace(issuer=issuer)])]) == issuer  # type: ignore[list-item]


def test_components_register_what_pulumi_stack_shows(plans: Plans) -> None:
    _, plan = plans("main")
    cluster = plan.one(KUBERNETES_CLUSTER, CLUSTER)
    outputs = plan.component_outputs[cluster["urn"]]
    assert outputs["kubeconfig"] == SECRET
    assert set(outputs) == {"kubeconfig", "pools"}
    pools = [r for r in plan.resources if r["type"] == NODE_POOL and r["parent"] == cluster["urn"]]
    assert sorted(r["name"].removeprefix(f"{CLUSTER}-") for r in pools) == outputs["pools"]
    for pool in pools:
        finished = plan.component_outputs[pool["urn"]]
        assert set(finished) == {"node_labels", "node_group_name", "node_group_arn"}
        assert finished["node_group_arn"].startswith("arn:aws:eks:")


def test_a_named_aws_profile_reaches_the_providers_kubeconfig(
    plan_of: Callable[..., Plan], base_platform: dict[str, Any]
) -> None:
    # The variant's site names an AWS profile: `aws eks get-token` must run with it.
    plan = plan_of(_variant(base_platform), reveal_secrets=True)
    provider = Cluster(plan).one(K8S_PROVIDER, f"{CLUSTER}-k8s")
    kubeconfig = yaml.safe_load(plan.revealed[provider["urn"]]["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["env"] == [{"name": "AWS_PROFILE", "value": "research-admin"}]
