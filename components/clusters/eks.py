"""eks: an Amazon EKS control plane with managed node groups, on an AwsSite.

Children of the KubernetesCluster (`parent=cluster`, all through the site's explicit provider):

* `<cluster>-cluster-role`      iam.Role EKS assumes to run the control plane, with
                                `<cluster>-cluster-policy` RolePolicyAttachment (AmazonEKSClusterPolicy)
* `<cluster>-node-role`         iam.Role the nodes' instances assume, with RolePolicyAttachments
                                `<cluster>-node-{worker,cni,ecr}` (AmazonEKSWorkerNodePolicy,
                                AmazonEKS_CNI_Policy, AmazonEC2ContainerRegistryReadOnly)
* `<cluster>-secrets-key`       kms.Key encrypting Kubernetes Secrets (protected, retained on delete) and
                                kms.Alias `alias/<project>-<cluster>-eks`
* `<cluster>-eks`               eks.Cluster `<project>-<site>-<cluster>`: private subnets, API-only access
                                entries, control-plane logs, secrets envelope-encrypted with the key
* `<cluster>-deployer`          eks.AccessEntry + AccessPolicyAssociation (cluster admin) for the IAM role
                                that runs Pulumi, so it keeps reaching the cluster it created
* `<cluster>-admin-<role name>` eks.AccessEntry + AccessPolicyAssociation per `admin_role_arns` entry
* `<cluster>-oidc`              iam.OpenIdConnectProvider for the cluster's issuer (IAM roles for service accounts)
* `<cluster>-ebs-csi-role`      iam.Role the EBS CSI controller's service account assumes (IRSA), with
                                `<cluster>-ebs-csi-policy` RolePolicyAttachment (AmazonEBSCSIDriverPolicy)
* `<cluster>-ebs-csi`           eks.Addon `aws-ebs-csi-driver`, pinned: volumes for PersistentVolumeClaims
                                (the StorageClass is the `block_storage` add-on's, components/addons/storage.py)
* `<cluster>-metrics-server`    eks.Addon `metrics-server`, pinned: the resource metrics API
* `<cluster>-autoscaler-role`   iam.Role the cluster-autoscaler's service account assumes (IRSA), with the
                                inline `<cluster>-autoscaler-policy`: read the node groups, scale only this
                                cluster's Auto Scaling groups
* `<cluster>-autoscaler-*`      on the cluster (its provider), in kube-system: ServiceAccount, ClusterRole,
                                ClusterRoleBinding, Role, RoleBinding and Deployment of the cluster-autoscaler

Children of each NodePool `<cluster>-<pool>` (`parent=<the NodePool>`):

* `<cluster>-<pool>-nodes`      eks.NodeGroup of the pool's instance type, sized by the pool's spec
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from ..reachability import Source
from ..spec import ClusterSpec
from ..spec.catalog import BACKEND_VERSIONS
from ..spec.clusters import eks_names
from ..spec.sites import aws_partition
from ..yamlout import dump
from . import autoscaler

if TYPE_CHECKING:
    from ..sites.aws import AwsSite
    from .cluster import KubernetesCluster

#: Control-plane logs shipped to CloudWatch (EKS control plane logging guide): all five kinds,
#: so API calls and authentication decisions can be audited.
#: Days the control-plane logs are kept (audit logs included).
LOG_RETENTION_DAYS = 90
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

#: The cluster-autoscaler on eks (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md):
#: EKS tags every managed node group's Auto Scaling group `k8s.io/cluster-autoscaler/enabled` and
#: `k8s.io/cluster-autoscaler/<cluster name>` (EKS user guide, "Managed node groups": "automatically
#: tagged for auto-discovery"), which `--node-group-auto-discovery` finds; for a group at zero nodes
#: it reads the group's labels and taints with eks:DescribeNodegroup and its CPUs, memory and GPUs
#: from the instance type, so no template tags are needed.
AUTOSCALER_SERVICE_ACCOUNT = ("kube-system", "cluster-autoscaler")
#: The README's IAM policy (its "Full Cluster Autoscaler Features" policy at cluster-autoscaler-1.33.6
#: and 1.35.2): reads, eks:DescribeNodegroup and the two scaling calls, with what auto-discovery of
#: launch-template groups needs (autoscaling:DescribeTags, ec2:DescribeLaunchTemplateVersions).
AUTOSCALER_READS = (
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
)
AUTOSCALER_WRITES = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")
#: The label the autoscaler's aws provider reads to know a node has GPUs before the device plugin
#: advertises them (its README, "Special note on GPU instances"): without it a pending GPU pod
#: makes it start a second node while the first one's GPUs are still coming up.
GPU_NODE_LABEL = "k8s.amazonaws.com/accelerator"
#: The autoscaler's objects' Pulumi names: `<cluster>-autoscaler<suffix>` by kind.
AUTOSCALER_SUFFIXES = {
    "ServiceAccount": "-account",
    "ClusterRole": "-cluster-role",
    "ClusterRoleBinding": "-cluster-binding",
    "Role": "-status-role",
    "RoleBinding": "-status-binding",
    "Deployment": "",
}


def gpu_label(model: str) -> str:
    """The accelerator label's value for a GPU model (`L40S` -> `nvidia-l40s`): any value marks a GPU node."""
    return f"nvidia-{model.lower()}"


#: AWS managed policies of the node role, by the role they play in resource names.
NODE_POLICIES = {
    "worker": "AmazonEKSWorkerNodePolicy",
    "cni": "AmazonEKS_CNI_Policy",
    "ecr": "AmazonEC2ContainerRegistryReadOnly",
}

#: Kubernetes taint effects as the EKS API spells them (eks:Taint.effect).
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}

#: Amazon Linux 2023 EKS-optimized AMIs; the NVIDIA variant carries the driver and container toolkit.
AMI_STANDARD = "AL2023_x86_64_STANDARD"
AMI_NVIDIA = "AL2023_x86_64_NVIDIA"

CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"

#: The Amazon EBS CSI driver as an EKS add-on (EKS user guide, "Amazon EBS CSI driver"): the
#: add-on name, its pinned version, and the service account its controller runs as, which the
#: IRSA role trusts. v1.66.0-eksbuild.1 is the version EKS marked default for Kubernetes 1.36 in
#: September 2026 (mitodl/ol-infrastructure#5959); public records of 2026 show it running on 1.33
#: (beside kube-proxy v1.33.10-eksbuild.29, an eksctl cluster) and 1.35 clusters, and 1.34 lies
#: between (README, "EKS and Magnum specifics"). Check with `aws eks describe-addon-versions
#: --addon-name aws-ebs-csi-driver --kubernetes-version <version>` before moving it or adding a
#: Kubernetes version to the catalog.
EBS_CSI_ADDON = "aws-ebs-csi-driver"
#: The Kubernetes Metrics Server as an EKS community add-on. EKS runs none by default (EKS user
#: guide, "View resource usage with the Kubernetes Metrics Server"), so without it no
#: HorizontalPodAutoscaler on CPU (a model service's default target) ever gets a metric and
#: `kubectl top` answers nothing; rke2 (rke2-metrics-server) and Magnum (its cluster-addons chart,
#: `metricsServer.enabled`) bring one. v0.8.1-eksbuild.5 is the version a public aws-cdk-lib
#: (aws-eks-v2) project of 2026 pins per Kubernetes version for 1.31 to 1.35, so for each of the
#: catalog's EKS versions (components/spec/catalog.py); check with `aws eks describe-addon-versions
#: --addon-name metrics-server --kubernetes-version <version>` before adding a version to the catalog.
METRICS_SERVER_ADDON = "metrics-server"
METRICS_SERVER_VERSION = "v0.8.1-eksbuild.5"
EBS_CSI_VERSION = "v1.66.0-eksbuild.1"
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
#: The AWS managed policy the driver's controller needs (it sits under the service-role/ path).
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"


def trust_policy(service: str) -> str:
    """An IAM trust policy letting the AWS service `service` assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def public_access_cidrs(admin_cidrs: list[str], api_sources: list[Source]) -> pulumi.Output[list[str]] | None:
    """The networks allowed to the public API endpoint: IPv4 admin CIDRs and API sources, in order, without repeats.

    EKS takes only IPv4 blocks in `publicAccessCidrs`; IPv6 admin networks cannot reach
    the public endpoint at all, so they are left out rather than refused. None when nothing
    is left: the public endpoint then stays off (decided from the spec, not from an Output).
    """
    chosen = [
        *(c for c in admin_cidrs if ipaddress.ip_network(c).version == 4),
        *(s.cidr for s in api_sources if s.version == 4),
    ]
    if not chosen:
        return None
    return pulumi.Output.all(*chosen).apply(lambda found: list(dict.fromkeys(found)))


def irsa_trust_policy(provider_arn: str, issuer: str, accounts: Sequence[tuple[str, str]]) -> str:
    """An IAM trust policy letting Kubernetes service accounts assume the role through the cluster's OIDC issuer.

    The conditions pin the token's subject to exactly those service accounts ((namespace, name)
    pairs) and its audience to STS (EKS user guide, "Assign IAM roles to Kubernetes service
    accounts"); the condition keys name the issuer without its scheme. Several subjects are one
    condition with several values, any of which matches (IAM User Guide, "Condition with multiple
    values"); one subject stays a plain string.
    """
    host = issuer.removeprefix("https://")
    subjects = [f"system:serviceaccount:{namespace}:{name}" for namespace, name in accounts]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{host}:sub": subjects[0] if len(subjects) == 1 else subjects,
                            f"{host}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


def autoscaler_policy(eks_name: str) -> str:
    """The cluster-autoscaler's IAM policy: read every group, scale only this cluster's.

    The scaling calls are allowed on Auto Scaling groups tagged `k8s.io/cluster-autoscaler/<eks
    name>` = `owned`, the tag and value EKS gives its managed node groups' groups, so the role
    cannot resize another cluster's nodes (the condition of the Cluster Autoscaler policy in the
    EKS user guide's former Cluster Autoscaler page and the EKS best-practices guide; no AWS page
    at hand states the tag's value by itself: an AccessDenied on SetDesiredCapacity in the
    autoscaler's log would say it is otherwise).
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": list(AUTOSCALER_READS), "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": list(AUTOSCALER_WRITES),
                    "Resource": "*",
                    "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{eks_name}": "owned"}},
                },
            ],
        }
    )


def autoscaler_objects(
    cluster: str,
    eks_name: str,
    region: str,
    version: str,
    role_arn: pulumi.Input[str],
    project_labels: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The cluster-autoscaler's objects on an eks cluster, as the API takes them.

    Rights as the upstream chart grants them (kubernetes/autoscaler charts/cluster-autoscaler,
    templates/clusterrole.yaml and role.yaml); the pod runs as the IRSA service account, with
    `AWS_REGION` set: a pod cannot reach the instance metadata (hop limit 1, the node groups'
    launch templates), where the autoscaler would otherwise look its region up (cloudprovider/aws
    aws_util.go GetCurrentAwsRegion reads AWS_REGION first).
    """
    namespace, account = AUTOSCALER_SERVICE_ACCOUNT
    # The cluster's key as the instance: a label value has 63 characters at most, an EKS name up to 100.
    app = {"app.kubernetes.io/name": autoscaler.APP_NAME, "app.kubernetes.io/instance": cluster}
    # The project's labels on every object (as on every other object Meridian makes); the selector
    # only the app's, which never change.
    labels = {**project_labels, **app}
    read = ["get", "list", "watch"]
    cluster_rules = [
        {"apiGroups": [""], "resources": ["events", "endpoints"], "verbs": ["create", "patch"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["update"]},
        {"apiGroups": [""], "resources": ["endpoints"], "resourceNames": [account], "verbs": ["get", "update"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": [*read, "update"]},
        {
            "apiGroups": [""],
            "resources": [
                "namespaces",
                "pods",
                "services",
                "replicationcontrollers",
                "persistentvolumeclaims",
                "persistentvolumes",
                "configmaps",
            ],
            "verbs": read,
        },
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": read},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets", "replicasets", "statefulsets"], "verbs": read},
        {
            "apiGroups": ["storage.k8s.io"],
            "resources": ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"],
            "verbs": read,
        },
        # From 1.35 dynamic resource allocation is always on (config/flags/flags.go locks
        # --enable-dynamic-resource-allocation to true) and the autoscaler waits for these informers
        # to sync before anything else: without the rule it hangs at start, looking Ready (the chart
        # grants it from 9.54.0, commit d4a3ca1d9b). Harmless to grant on 1.33 and 1.34.
        {
            "apiGroups": ["resource.k8s.io"],
            "resources": ["resourceclaims", "resourceslices", "deviceclasses"],
            "verbs": read,
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [account],
            "verbs": ["get", "update"],
        },
    ]
    status = "cluster-autoscaler-status"
    role_rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [status],
            "verbs": ["delete", "get", "update"],
        },
    ]
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    rbac = "rbac.authorization.k8s.io"
    discovery = f"asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{eks_name}"
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": account,
                "namespace": namespace,
                "labels": labels,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn},
            },
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": account, "labels": labels},
            "rules": cluster_rules,
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": account, "labels": labels},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": account},
            "subjects": [subject],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "Role",
            "metadata": {"name": account, "namespace": namespace, "labels": labels},
            "rules": role_rules,
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account, "namespace": namespace, "labels": labels},
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": account},
            "subjects": [subject],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": account, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": app},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": account,
                        # As the upstream examples run it: not evicted before the workloads it makes room for.
                        "priorityClassName": "system-cluster-critical",
                        "securityContext": autoscaler.pod_security_context(),
                        "containers": [
                            autoscaler.container(
                                version,
                                [
                                    "--cloud-provider=aws",
                                    f"--node-group-auto-discovery={discovery}",
                                    # Of several pools that fit a pending pod, the one left least idle.
                                    "--expander=least-waste",
                                ],
                                env=[{"name": "AWS_REGION", "value": region}],
                            )
                        ],
                    },
                },
            },
        },
    ]


def role_name(arn: str) -> str:
    """The role name of an IAM role ARN (the part after the last `/`, past any path)."""
    return arn.rsplit("/", 1)[1]


def render_kubeconfig(*, name: str, endpoint: str, ca_data: str, region: str, profile: str | None) -> str:
    """A kubeconfig for the EKS cluster `name` that fetches a token with `aws eks get-token` on every use.

    No credential is written into it: whoever uses it authenticates as their own AWS
    identity (the profile, when given, or the ambient credential chain).
    """
    command: dict[str, object] = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": ["--region", region, "eks", "get-token", "--cluster-name", name, "--output", "json"],
        # Never prompt: under `pulumi up` in CI there is no one to answer.
        "interactiveMode": "Never",
    }
    if profile is not None:
        command["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [{"name": name, "user": {"exec": command}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return dump(document)


def build(cluster: KubernetesCluster, spec: ClusterSpec, site: AwsSite) -> pulumi.Output[str]:
    """Create the EKS control plane, its IAM, KMS and access entries, and one node group per pool.

    Returns the cluster's exec-based kubeconfig; it resolves only once the deploying
    principal's admin access exists, so nothing on the cluster is attempted before then.
    """
    name = cluster.name
    settings = site.spec.aws
    assert settings is not None  # an eks cluster runs on an AWS site (PlatformSpec checks it)
    arn_partition = aws_partition(settings.region)
    # The names the spec holds to EKS's and the provider's limits (spec.clusters.eks_names).
    eks_name = eks_names(cluster.project.name, spec.site, name, "")[0]
    base_tags = {**site.tags, "cluster": name}
    on_cluster = pulumi.ResourceOptions(parent=cluster, provider=site.provider)

    def tags(role: str) -> dict[str, str]:
        return {**base_tags, "Name": f"{eks_name}-{role}"}

    def managed_policy(policy: str) -> str:
        return f"arn:{arn_partition}:iam::aws:policy/{policy}"

    # Names come from the role name so that reordering the list never replaces an entry
    # (ClusterSpec refuses two roles of one name, which would collide).
    admins = {role_name(arn): arn for arn in spec.admin_role_arns}

    # -- IAM -----------------------------------------------------------------------------------
    cluster_role = aws.iam.Role(
        f"{name}-cluster-role",
        assume_role_policy=trust_policy("eks.amazonaws.com"),
        description=f"EKS control plane of {eks_name}",
        tags=tags("cluster-role"),
        opts=on_cluster,
    )
    cluster_policy = aws.iam.RolePolicyAttachment(
        f"{name}-cluster-policy",
        role=cluster_role.name,
        policy_arn=managed_policy("AmazonEKSClusterPolicy"),
        opts=on_cluster,
    )
    node_role = aws.iam.Role(
        f"{name}-node-role",
        assume_role_policy=trust_policy("ec2.amazonaws.com"),
        description=f"Worker nodes of {eks_name}",
        tags=tags("node-role"),
        opts=on_cluster,
    )
    node_policies = [
        aws.iam.RolePolicyAttachment(
            f"{name}-node-{role}", role=node_role.name, policy_arn=managed_policy(policy), opts=on_cluster
        )
        for role, policy in NODE_POLICIES.items()
    ]

    # -- secrets encryption ----------------------------------------------------------------------
    # Every Kubernetes Secret is envelope-encrypted with this key: losing it makes all of them
    # unreadable, so Pulumi must neither delete it with the stack nor replace it on a change.
    key = aws.kms.Key(
        f"{name}-secrets-key",
        description=f"Envelope encryption of Kubernetes Secrets in EKS cluster {eks_name}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        tags=tags("secrets-key"),
        opts=pulumi.ResourceOptions(parent=cluster, provider=site.provider, protect=True, retain_on_delete=True),
    )
    aws.kms.Alias(
        f"{name}-secrets-key",
        name=f"alias/{cluster.project.name}-{name}-eks",
        target_key_id=key.key_id,
        opts=on_cluster,
    )

    # -- control plane -----------------------------------------------------------------------------
    public_cidrs = public_access_cidrs(site.spec.admin_cidrs, cluster.api_sources)
    # EKS creates /aws/eks/<name>/cluster itself, unmanaged and kept forever; owning it first
    # gives the control-plane logs a retention period and a place in the plan.
    logs = aws.cloudwatch.LogGroup(
        f"{name}-eks-logs",
        name=f"/aws/eks/{eks_name}/cluster",
        retention_in_days=LOG_RETENTION_DAYS,
        tags={**base_tags, "Name": f"{eks_name}-control-plane-logs"},
        opts=pulumi.ResourceOptions(parent=cluster, provider=site.provider),
    )
    control_plane = aws.eks.Cluster(
        f"{name}-eks",
        name=eks_name,
        version=BACKEND_VERSIONS["eks"][spec.version],
        role_arn=cluster_role.arn,
        vpc_config=aws.eks.ClusterVpcConfigArgs(
            subnet_ids=site.private_subnet_ids,
            security_group_ids=[site.internal_security_group_id],
            endpoint_private_access=True,
            # With no IPv4 admin network the public endpoint stays off; EKS would otherwise
            # default its allow list to 0.0.0.0/0.
            endpoint_public_access=public_cidrs is not None,
            public_access_cidrs=public_cidrs,
        ),
        encryption_config=aws.eks.ClusterEncryptionConfigArgs(
            provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn),
            resources=["secrets"],
        ),
        # Access entries only (no aws-auth ConfigMap), and no invisible admin grant for whoever
        # created the cluster: every admin is an entry below, in the plan and revocable.
        access_config=aws.eks.ClusterAccessConfigArgs(
            authentication_mode="API",
            bootstrap_cluster_creator_admin_permissions=False,
        ),
        enabled_cluster_log_types=LOG_TYPES,
        tags={**base_tags, "Name": eks_name},
        # The role's policy must be attached before EKS uses the role, and must outlive the
        # cluster on delete, or EKS cannot clean up its network interfaces.
        opts=pulumi.ResourceOptions(parent=cluster, provider=site.provider, depends_on=[cluster_policy, logs]),
    )

    # -- access ----------------------------------------------------------------------------------
    # The principal running Pulumi must keep cluster-admin, or the Kubernetes provider is locked
    # out of the cluster it just created. Access entries take the IAM role, not the STS session
    # (arn:aws:sts::...:assumed-role/<role>/<session>), so resolve the session to its issuer.
    invoke = pulumi.InvokeOutputOptions(provider=site.provider)
    caller = aws.get_caller_identity_output(opts=invoke)
    session = aws.iam.get_session_context_output(arn=caller.arn, opts=invoke)
    admin_policy_arn = f"arn:{arn_partition}:eks::aws:cluster-access-policy/{CLUSTER_ADMIN_POLICY}"

    def grant_admin(role: str, principal: pulumi.Input[str]) -> aws.eks.AccessPolicyAssociation:
        entry = aws.eks.AccessEntry(
            f"{name}-{role}",
            cluster_name=control_plane.name,
            principal_arn=principal,
            type="STANDARD",
            tags=tags(role),
            opts=on_cluster,
        )
        return aws.eks.AccessPolicyAssociation(
            f"{name}-{role}",
            cluster_name=control_plane.name,
            # The entry's own output: the association cannot be made before its entry exists.
            principal_arn=entry.principal_arn,
            policy_arn=admin_policy_arn,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=on_cluster,
        )

    # The spec's deployer role when set (stable whoever runs `pulumi up`); else the caller's.
    deployer_admin = grant_admin("deployer", spec.deployer_role_arn or session.issuer_arn)
    for admin, arn in admins.items():
        grant_admin(f"admin-{admin}", arn)

    # IRSA: pods assume IAM roles through the cluster's OIDC issuer. No thumbprint: IAM trusts the
    # EKS issuers' certificate authorities itself (IAM OIDC provider docs, 2023 onwards).
    issuer = control_plane.identities.apply(_issuer)
    oidc = aws.iam.OpenIdConnectProvider(
        f"{name}-oidc",
        url=issuer,
        client_id_lists=["sts.amazonaws.com"],
        tags=tags("oidc"),
        opts=on_cluster,
    )
    cluster.service_account_issuer = (oidc.arn, issuer)

    # -- node pools ------------------------------------------------------------------------------
    groups: list[aws.eks.NodeGroup] = []
    for pool_key, pool_spec in spec.node_pools.items():
        pool = cluster.open_pool(pool_key)
        # A launch template, because the node group's own disk_size leaves the root volume
        # unencrypted unless the account encrypts EBS by default, and cannot require IMDSv2.
        template = aws.ec2.LaunchTemplate(
            f"{name}-{pool_key}-nodes",
            name_prefix=eks_names(cluster.project.name, spec.site, name, pool_key)[2],
            description=f"Nodes of pool {pool_key} of EKS cluster {eks_name}",
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",  # the AL2023 AMIs' root device
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=pool_spec.disk_gb,
                        volume_type="gp3",
                        # The account's aws/ebs key: a customer key would need a key policy for
                        # the Auto Scaling service-linked role, or instances fail to launch.
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            # IMDSv2 only, with a hop limit of 1: a token's reply dies one hop out, so only processes
            # in the node's own network namespace (kubelet, aws-node, kube-proxy) get one, and pods
            # (a scientist's notebook) never read the node role's credentials (EKS best practices,
            # security, "Restrict access to the instance profile assigned to the worker node").
            # NetworkPolicies, which would otherwise be the guard, are not enforced on eks (README).
            # Pods that call AWS use IRSA roles; the EBS CSI node plugin falls back to the Kubernetes
            # API for its instance data (aws-ebs-csi-driver docs/install.md, "Kubernetes metadata").
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags(pool_key))
                for kind in ("instance", "volume")
            ],
            tags=tags(pool_key),
            opts=pulumi.ResourceOptions(parent=pool, provider=site.provider),
        )
        group = aws.eks.NodeGroup(
            f"{name}-{pool_key}-nodes",
            cluster_name=control_plane.name,
            # A prefix, not a name: changing the instance type or AMI type replaces the group, and
            # the replacement is created first; under a fixed name EKS would refuse it.
            node_group_name_prefix=eks_names(cluster.project.name, spec.site, name, pool_key)[1],
            # Follow the control plane's version: an upgrade rolls the nodes after the control plane.
            version=control_plane.version,
            node_role_arn=node_role.arn,
            subnet_ids=site.private_subnet_ids,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                desired_size=pool_spec.initial_size,
                min_size=pool_spec.min_size,
                max_size=pool_spec.max_size,
            ),
            instance_types=[pool_spec.flavor],
            ami_type=AMI_NVIDIA if pool_spec.gpu is not None else AMI_STANDARD,
            capacity_type="ON_DEMAND",
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            # The pool label, GPU and partitioning labels: the GPU Operator acts on nodes as they register;
            # GPU nodes also tell the autoscaler they have GPUs before the device plugin says so.
            labels={**pool.node_labels, **({GPU_NODE_LABEL: gpu_label(pool_spec.gpu.model)} if pool_spec.gpu else {})},
            taints=[
                aws.eks.NodeGroupTaintArgs(key=taint.key, value=taint.value, effect=TAINT_EFFECTS[taint.effect])
                for taint in pool_spec.node_taints
            ],
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            tags=tags(pool_key),
            opts=pulumi.ResourceOptions(
                parent=pool,
                provider=site.provider,
                # The nodes cannot join before their role may pull images and run the CNI.
                depends_on=node_policies,
                # After creation the cluster autoscaler owns the node count; re-applying the spec's
                # initial size would undo its scaling on every `pulumi up`.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        groups.append(group)
        pool.finish({"node_group_name": group.node_group_name, "node_group_arn": group.arn})

    # -- block storage ---------------------------------------------------------------------------
    # EKS installs no volume driver (EKS user guide: the EBS CSI driver "isn't installed when you
    # first create a cluster"), so without this no PersistentVolumeClaim is ever bound.
    namespace, service_account = EBS_CSI_SERVICE_ACCOUNT
    ebs_role = aws.iam.Role(
        f"{name}-ebs-csi-role",
        assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(
            lambda found: irsa_trust_policy(found[0], found[1], [(namespace, service_account)])
        ),
        description=f"EBS CSI driver controller of {eks_name}",
        tags=tags("ebs-csi-role"),
        opts=on_cluster,
    )
    ebs_policy = aws.iam.RolePolicyAttachment(
        f"{name}-ebs-csi-policy", role=ebs_role.name, policy_arn=managed_policy(EBS_CSI_POLICY), opts=on_cluster
    )
    cluster.volume_driver = aws.eks.Addon(
        f"{name}-ebs-csi",
        cluster_name=control_plane.name,
        addon_name=EBS_CSI_ADDON,
        addon_version=EBS_CSI_VERSION,
        service_account_role_arn=ebs_role.arn,
        # EKS owns the driver's objects: a hand edit is overwritten rather than failing the apply.
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=tags("ebs-csi"),
        # The add-on becomes ACTIVE only once its pods run, so the nodes come first; the role's
        # policy must be attached before the controller first calls EC2.
        opts=pulumi.ResourceOptions(parent=cluster, provider=site.provider, depends_on=[ebs_policy, *groups]),
    )
    # The resource metrics API (metrics.k8s.io) the autoscalers read; it needs no AWS permission.
    aws.eks.Addon(
        f"{name}-metrics-server",
        cluster_name=control_plane.name,
        addon_name=METRICS_SERVER_ADDON,
        addon_version=METRICS_SERVER_VERSION,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=tags("metrics-server"),
        # ACTIVE only once its pods run: after the nodes.
        opts=pulumi.ResourceOptions(parent=cluster, provider=site.provider, depends_on=groups),
    )

    # -- node autoscaling ------------------------------------------------------------------------
    # EKS scales nothing by itself (EKS user guide, "Scale cluster compute with Karpenter and Cluster
    # Autoscaler": both are installed by the cluster's owner): without this a pool stays at its
    # initial size and a GPU pool at zero never gets a node.
    autoscaler_role = aws.iam.Role(
        f"{name}-autoscaler-role",
        assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(
            lambda found: irsa_trust_policy(found[0], found[1], [AUTOSCALER_SERVICE_ACCOUNT])
        ),
        description=f"Cluster autoscaler of {eks_name}",
        tags=tags("autoscaler-role"),
        opts=on_cluster,
    )
    scaling = aws.iam.RolePolicy(
        f"{name}-autoscaler-policy", role=autoscaler_role.id, policy=autoscaler_policy(eks_name), opts=on_cluster
    )

    def place_autoscaler(provider: pulumi.ProviderResource) -> None:
        from ..addons.base import kubernetes_object

        documents = autoscaler_objects(
            name, eks_name, settings.region, spec.version, autoscaler_role.arn, cluster.labels
        )
        for document in documents:
            kubernetes_object(
                f"{name}-autoscaler{AUTOSCALER_SUFFIXES[document['kind']]}",
                document,
                provider=provider,
                parent=cluster,
                # Its pod needs a node; its first calls need the policy.
                depends_on=[scaling, *groups],
            )

    cluster.on_provider.append(place_autoscaler)

    # Including the deployer's admin association makes the kubeconfig (and so the Kubernetes
    # provider built from it) wait until the deployer may use the cluster.
    def kubeconfig(values: list[Any]) -> str:
        cluster_name, endpoint, ca_data, _ = values
        return render_kubeconfig(
            name=cluster_name, endpoint=endpoint, ca_data=ca_data, region=settings.region, profile=settings.profile
        )

    # Read `data` before Output.all: it turns output types such as ClusterCertificateAuthority into plain dicts.
    ca_data = control_plane.certificate_authority.apply(_ca_data)
    return pulumi.Output.all(control_plane.name, control_plane.endpoint, ca_data, deployer_admin.id).apply(kubeconfig)


def _ca_data(authority: aws.eks.outputs.ClusterCertificateAuthority) -> str:
    """The cluster's base64-encoded CA bundle (EKS always reports one for an active cluster)."""
    if authority.data is None:
        raise ValueError("EKS reported no certificate authority for the cluster")
    return authority.data


def _issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    """The OIDC issuer URL of the cluster (EKS reports exactly one identity with one issuer)."""
    oidcs = identities[0].oidcs or []
    issuer = oidcs[0].issuer if oidcs else None
    if issuer is None:
        raise ValueError("EKS reported no OIDC issuer for the cluster")
    return issuer
