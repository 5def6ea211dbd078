"""GPUs: tainted GPU nodes, the GPU Operator wherever GPU nodes run, JupyterHub on GPUs, and GPU caps.

What makes a node a GPU node comes from Meridian's GPU catalogue (components/spec/catalog.py:
EC2 instance types and the OpenStack flavors our clouds share) plus the `gpu_flavors` policy
config for flavors a site declares itself. GPUs "at max size" count every node a pool may
grow to: an EKS node group's scalingConfig.maxSize, a Magnum node group's maxNodeCount, the
default-worker group's `max_node_count` template label, and each fixed-size RKE2 instance.

Stack policies keep going when a value is unknown during preview: they judge everything that
is known, report what is certain, and only then raise the first UnknownValueError, so the
SDK adds its advisory "can't run during preview" notice without hiding real violations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

# The repository root is on the path (common.py); mypy, run from policies/, cannot see it.
from components.spec.catalog import (  # type: ignore[import-not-found]
    AWS_GPU_INSTANCES,
    OPENSTACK_GPU_FLAVORS,
)

from .common import CLUSTER_PROFILE, HELMOP, get, items, profile_chart, resource_policy, stack_policy

#: GPUs per node: EC2 instance type -> count, and the OpenStack flavors our clouds share -> count.
AWS_GPUS: dict[str, int] = {name: int(flavor.count) for name, flavor in AWS_GPU_INSTANCES.items()}
OPENSTACK_GPUS: dict[str, int] = {name: int(flavor.count) for name, flavor in OPENSTACK_GPU_FLAVORS.items()}

EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EC2_INSTANCE = "aws:ec2/instance:Instance"
OS_INSTANCE = "openstack:compute/instance:Instance"
MAGNUM_NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"
MAGNUM_CLUSTER = "openstack:containerinfra/cluster:Cluster"
MAGNUM_TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"
MACHINE_DEPLOYMENT = "kubernetes:cluster.x-k8s.io/v1beta2:MachineDeployment"
OS_MACHINE_TEMPLATE = "kubernetes:infrastructure.cluster.x-k8s.io/v1beta1:OpenStackMachineTemplate"
KUBEADM_CONFIG_TEMPLATE = "kubernetes:bootstrap.cluster.x-k8s.io/v1beta2:KubeadmConfigTemplate"
#: The autoscaler's bounds on a MachineDeployment (kubernetes/autoscaler clusterapi provider README).
CAPI_MAX_SIZE = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
CLUSTER = "meridian:clusters:KubernetesCluster"
NODE_POOL = "meridian:clusters:NodePool"

GPU_OPERATOR_CHART = "gpu-operator"
#: The GPU Operator's ClusterPolicy, patched where Meridian adopts an operator another installer brought.
CLUSTER_POLICY_PATCH = "kubernetes:nvidia.com/v1:ClusterPolicyPatch"
#: The label naming a registered cluster (components/spec/gitops.py cluster_labels).
CLUSTER_NAME_LABEL = "meridian.io/cluster"
JUPYTERHUB_CHART = "jupyterhub"
#: The taint that keeps ordinary pods off GPU nodes (components/spec/clusters.py GPU_TAINT:
#: nvidia.com/gpu=present:NoSchedule), and its effect as the EKS API spells it (eks:NodeGroupTaint.effect).
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"
EKS_NO_SCHEDULE = "NO_SCHEDULE"
#: Extended resources a pod requests GPUs by: whole GPUs, or MIG slices under the mixed strategy
#: (nvidia.com/mig-<profile>).
GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
#: The KubeSpawner settings a GPU profile turns on: the extended resources it asks for, and its tolerations.
RESOURCE_SETTINGS = ("extra_resource_limits", "extra_resource_guarantees")

#: Authenticators that let anyone in (any name and password) or nobody need to be known:
#: JupyterHub's entry-point names and class paths of the dummy and null authenticators.
OPEN_AUTHENTICATORS = frozenset(
    {
        "dummy",
        "null",
        "jupyterhub.auth.dummyauthenticator",
        "jupyterhub.auth.nullauthenticator",
        "dummyauthenticator.dummyauthenticator",
        "nullauthenticator.nullauthenticator",
    }
)
#: z2jh chart defaults (jupyterhub chart 4.4.0 values.yaml): hub.config.JupyterHub.authenticator_class
#: is `dummy`; cull.enabled is true and cull.timeout 3600 seconds. Values a release leaves out get these.
CHART_AUTHENTICATOR = "dummy"
CHART_CULL_TIMEOUT = 3600
#: jupyterhub-idle-culler's own --timeout default, in seconds (jupyterhub_idle_culler/__init__.py).
CULLER_DEFAULT_TIMEOUT = 600

DEFAULT_MAX_IDLE_SECONDS = 8 * 3600
DEFAULT_MAX_GPUS_PER_POOL = 64
DEFAULT_MAX_GPUS_PER_STACK = 256

GPU_FLAVORS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "OpenStack flavors with GPUs beyond Meridian's catalogue (a site's own `gpu_flavors`): a "
    "flavor name (its GPU count unknown, counted as 1 per node) or {name, gpus}.",
    "items": {
        "anyOf": [
            {"type": "string", "minLength": 1},
            {
                "type": "object",
                "properties": {"name": {"type": "string", "minLength": 1}, "gpus": {"type": "integer", "minimum": 1}},
                "required": ["name", "gpus"],
                "additionalProperties": False,
            },
        ]
    },
    "default": [],
}

T = TypeVar("T")


# -- reading config and values ---------------------------------------------------------------------


def _config_int(config: Mapping[str, Any], key: str, default: int) -> int:
    """An integer setting (JSON numbers arrive as floats through the analyzer protocol)."""
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def _gpu_flavors(config: Mapping[str, Any]) -> dict[str, int]:
    """OpenStack flavor -> GPUs per node: the catalogue, then the config's `gpu_flavors` over it."""
    flavors = dict(OPENSTACK_GPUS)
    entries = config.get("gpu_flavors")
    for entry in entries if isinstance(entries, list | tuple) else []:
        if isinstance(entry, str) and entry:
            flavors.setdefault(entry, 1)  # a GPU flavor of unknown count: at least one GPU per node
        elif isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            # The engine checks config against GPU_FLAVORS_SCHEMA (an integer >= 1); anything else counts 1.
            flavors[entry["name"]] = max(1, int(_number(entry.get("gpus")) or 1))
    return flavors


def _number(value: Any) -> float | None:
    """A count or duration given as a number or a numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one (values of the wrong shape hold nothing to check)."""
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> list[str]:
    """A list input as strings (a single string counts as a one-item list)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return [str(item) for item in value if item is not None]
    return []


def chart_name(props: Mapping[str, Any]) -> str:
    """The chart a Helm release installs: `repo/name`, `oci://.../name` and paths reduced to the name."""
    chart = get(props, "chart", default="")  # pragma: no mutate - a missing chart read "None" is no chart either
    return str(chart).rstrip("/").rpartition("/")[2]


class _Deferred:
    """Run checks that may meet unknown values; remember the first unknown and raise it at the end."""

    def __init__(self) -> None:
        self.first: UnknownValueError | None = None

    def attempt(self, check: Callable[..., T], *args: Any) -> T | None:
        """`check(*args)`, or None when it met an unknown value."""
        try:
            return check(*args)
        except UnknownValueError as error:
            if self.first is None:
                self.first = error
            return None

    def raise_if_any(self) -> None:
        """Hand the first unknown to the SDK, which reports it as an advisory preview notice."""
        if self.first is not None:
            raise self.first


# -- the resources that create GPU nodes ---------------------------------------------------------------


def _eks_gpus_per_node(props: Mapping[str, Any]) -> int:
    """GPUs per node of an EKS node group: the largest of its instance types; 1 for an uncatalogued GPU AMI."""
    counts = [AWS_GPUS[t] for t in _strings(get(props, "instanceTypes")) if t in AWS_GPUS]
    if counts:
        return max(counts)
    ami = str(get(props, "amiType", default="")).upper()  # pragma: no mutate - "NONE" is no GPU AMI either
    # AL2023_x86_64_NVIDIA, BOTTLEROCKET_*_NVIDIA and the older AL2_x86_64_GPU are the GPU AMIs.
    return 1 if "NVIDIA" in ami or ami.endswith("_GPU") else 0


def is_gpu_node_group(props: Mapping[str, Any]) -> bool:
    """Whether an EKS node group runs GPU instances (catalogued instance type or an NVIDIA AMI)."""
    return _eks_gpus_per_node(props) > 0


@dataclass(frozen=True)
class GpuNodes:
    """Nodes one resource creates at most, and the GPUs each carries."""

    resource: PolicyResource
    flavor: str
    nodes: int
    gpus_per_node: int

    @property
    def gpus(self) -> int:
        """Physical GPUs at max size."""
        return self.nodes * self.gpus_per_node


class Graph:
    """The stack's resources with their parent chains: which cluster and pool each resource belongs to."""

    def __init__(self, resources: list[PolicyResource]) -> None:
        """Index `resources` by URN."""
        self.resources = resources
        self.by_urn = {r.urn: r for r in resources}

    def ancestor(self, resource: PolicyResource, token: str) -> PolicyResource | None:
        """The nearest ancestor of type `token` (parents, then their parents).

        A chain holds each of the stack's resources at most once, so it ends within that many steps;
        so does a malformed plan's cyclic one.
        """
        parent = resource.parent
        for _ in self.resources:
            if parent is None or parent.resource_type == token:
                return parent
            parent = parent.parent
        return None

    def dependency(self, resource: PolicyResource, token: str) -> PolicyResource | None:
        """The first resource of type `token` that `resource` depends on."""
        return next((d for d in resource.dependencies if d.resource_type == token), None)

    def referenced(self, resource: PolicyResource, token: str, name: Any) -> PolicyResource | None:
        """The object of type `token` named `name` in `resource`'s namespace, through the same provider.

        Cluster API references carry a name only: the object is in the referrer's namespace (its
        ContractVersionedObjectReference), on the same cluster.
        """
        namespace = get(resource.props, "metadata", "namespace")
        provider = resource.provider.urn if resource.provider is not None else None
        for other in self.resources:
            if (
                other.resource_type == token
                and get(other.props, "metadata", "name") == name
                and get(other.props, "metadata", "namespace") == namespace
                and (other.provider.urn if other.provider is not None else None) == provider
            ):
                return other
        return None

    def template_of(self, cluster: PolicyResource) -> PolicyResource | None:
        """The ClusterTemplate a Magnum cluster is made from: its dependency, else its only sibling template."""
        template = self.dependency(cluster, MAGNUM_TEMPLATE)
        if template is not None:
            return template
        siblings = [
            r
            for r in self.resources
            if r.resource_type == MAGNUM_TEMPLATE and r.parent is not None and r.parent is cluster.parent
        ]
        return siblings[0] if len(siblings) == 1 else None


def _most(*values: Any) -> int:
    """The largest of the numeric values given (1 when none is: a resource creates at least one node)."""
    numbers = [n for n in (_number(v) for v in values) if n is not None]
    return int(max(numbers)) if numbers else 1


def gpu_nodes(resource: PolicyResource, graph: Graph, flavors: Mapping[str, int]) -> GpuNodes | None:
    """The GPU nodes `resource` creates at max size, or None when it creates no GPU node."""
    props, kind = resource.props, resource.resource_type
    flavor: Any  # a name, or None where the plan names none
    if kind == EKS_NODE_GROUP:
        per_node = _eks_gpus_per_node(props)
        # A GPU group has a catalogued instance type or, without one, an NVIDIA/GPU AMI to name it by.
        flavor = ",".join(_strings(get(props, "instanceTypes"))) or str(get(props, "amiType"))
        # The provider requires minSize, desiredSize and maxSize, and EKS refuses a group unless
        # minSize <= desiredSize <= maxSize (CreateNodegroup, UpdateNodegroupConfig): maxSize is the most.
        nodes = _most(get(props, "scalingConfig", "maxSize"))
    elif kind == EC2_INSTANCE:
        flavor = str(get(props, "instanceType"))
        per_node, nodes = AWS_GPUS.get(flavor, 0), 1
    elif kind == OS_INSTANCE:
        # Nova takes a flavor by name or ID (None when neither is set: no flavor is named so).
        flavor = get(props, "flavorName", default=get(props, "flavorId"))
        per_node, nodes = flavors.get(flavor, 0), 1
    elif kind == MAGNUM_NODE_GROUP:
        flavor = get(props, "flavorId")
        if flavor is None:
            # Without a flavor a new node group takes its cluster's (magnum api/controllers/v1/
            # nodegroup.py post(): flavor_id defaults to cluster.flavor_id).
            cluster = graph.dependency(resource, MAGNUM_CLUSTER)
            flavor = _magnum_cluster_flavor(cluster, graph) if cluster is not None else None
        per_node = flavors.get(flavor, 0)
        # Magnum refuses minNodeCount above nodeCount or maxNodeCount (nodegroup.py _validate_node_count),
        # and maxNodeCount is optional: the most nodes is maxNodeCount, else nodeCount.
        nodes = _most(get(props, "maxNodeCount"), get(props, "nodeCount"))
    elif kind == MAGNUM_CLUSTER:
        # The default-worker node group: flavor and autoscaler bounds from the cluster, else its template.
        template = graph.template_of(resource)
        template_props: Mapping[str, Any] = template.props if template is not None else {}
        flavor = _magnum_cluster_flavor(resource, graph)
        per_node = flavors.get(flavor, 0)
        nodes = _most(
            get(props, "nodeCount"),
            get(props, "labels", "max_node_count", default=get(template_props, "labels", "max_node_count")),
        )
    elif kind == MACHINE_DEPLOYMENT:
        # Cluster API (components/clusters/capi.py): the flavor is its OpenStackMachineTemplate's; the
        # most nodes the autoscaler's max-size annotation, else its replicas.
        template = graph.referenced(resource, OS_MACHINE_TEMPLATE, machine_template_name(props))
        flavor = get(template.props, "spec", "template", "spec", "flavor") if template is not None else None
        per_node = flavors.get(flavor, 0)
        nodes = _most(get(props, "metadata", "annotations", CAPI_MAX_SIZE), get(props, "spec", "replicas"))
    else:
        return None
    return GpuNodes(resource, flavor, nodes, per_node) if per_node > 0 else None


def machine_template_name(props: Mapping[str, Any]) -> Any:
    """The OpenStackMachineTemplate a MachineDeployment's machines are made from."""
    return get(props, "spec", "template", "spec", "infrastructureRef", "name")


def _magnum_cluster_flavor(cluster: PolicyResource, graph: Graph) -> Any:
    """The flavor of a Magnum cluster's workers: its own, else its template's (None when neither says)."""
    template = graph.template_of(cluster)
    return get(cluster.props, "flavor", default=get(template.props, "flavor") if template is not None else None)


def _inventory(args: StackValidationArgs, deferred: _Deferred) -> tuple[Graph, list[GpuNodes]]:
    graph = Graph(args.resources)
    flavors = _gpu_flavors(args.get_config())
    found = [deferred.attempt(gpu_nodes, r, graph, flavors) for r in args.resources]
    return graph, [item for item in found if item is not None]


# -- policies -------------------------------------------------------------------------------------------


def _gpu_nodes_tainted(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    graph = Graph(args.resources)
    flavors = _gpu_flavors(args.get_config())
    for resource in args.resources:
        if resource.resource_type == EKS_NODE_GROUP:
            deferred.attempt(_eks_group_tainted, resource, report)
        elif resource.resource_type == MACHINE_DEPLOYMENT:
            deferred.attempt(_machine_deployment_tainted, resource, graph, flavors, report)
    deferred.raise_if_any()


def _eks_group_tainted(resource: PolicyResource, report: ReportViolation) -> None:
    if not is_gpu_node_group(resource.props):
        return
    for taint in get(resource.props, "taints", default=[]):
        if get(taint, "key") == GPU_TAINT_KEY and get(taint, "effect") == EKS_NO_SCHEDULE:
            return
    types = ", ".join(_strings(get(resource.props, "instanceTypes"))) or "GPU AMI"
    report(
        f"GPU node group ({types}) has no {GPU_TAINT_KEY} taint with effect {EKS_NO_SCHEDULE}: "
        "any pod could be scheduled onto (and keep busy) its expensive nodes",
        resource.urn,
    )


def _machine_deployment_tainted(
    resource: PolicyResource, graph: Graph, flavors: Mapping[str, int], report: ReportViolation
) -> None:
    """A Cluster API pool's nodes register with the taints of its KubeadmConfigTemplate's join configuration."""
    nodes = gpu_nodes(resource, graph, flavors)
    if nodes is None:
        return
    name = get(resource.props, "spec", "template", "spec", "bootstrap", "configRef", "name")
    bootstrap = graph.referenced(resource, KUBEADM_CONFIG_TEMPLATE, name)
    registration = ("spec", "template", "spec", "joinConfiguration", "nodeRegistration")
    taints = get(bootstrap.props, *registration, "taints", default=[]) if bootstrap is not None else []
    for taint in taints:
        if get(taint, "key") == GPU_TAINT_KEY and get(taint, "effect") in (GPU_TAINT_EFFECT, "NoExecute"):
            return
    report(
        f"GPU MachineDeployment ({nodes.flavor}) registers its nodes without a {GPU_TAINT_KEY} "
        f"{GPU_TAINT_EFFECT} taint (its KubeadmConfigTemplate {name}): any pod could be scheduled onto its "
        "expensive nodes",
        resource.urn,
    )


def _gpu_operator_on_gpu_clusters(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    graph, inventory = _inventory(args, deferred)
    gpu_clusters: dict[str, list[str]] = {}
    for item in inventory:
        cluster = graph.ancestor(item.resource, CLUSTER)
        if cluster is not None:
            gpu_clusters.setdefault(cluster.urn, []).append(f"{item.resource.name} ({item.flavor})")
    covered: set[str] = set()
    for resource in args.resources:
        targets = deferred.attempt(_gitops_operator_targets, resource)
        if targets is None:
            # An engine's operator whose clusters are not known yet may be any cluster's: claim none missing.
            covered |= set(gpu_clusters)
        else:
            covered |= {urn for urn in gpu_clusters if graph.by_urn[urn].name in targets}
    for resource in args.resources:
        if resource.resource_type == CLUSTER_POLICY_PATCH:
            # An operator installed by the cluster's own provisioner (Magnum's cluster-addons) and
            # adopted by Meridian, which patches its ClusterPolicy (components/addons/gpu_operator.py).
            cluster = graph.ancestor(resource, CLUSTER)
            if cluster is not None and _on_cluster(resource, cluster, graph):
                covered.add(cluster.urn)
            continue
        if resource.resource_type not in HELM_TYPES:
            continue
        cluster = graph.ancestor(resource, CLUSTER)
        if cluster is None:
            continue
        chart = deferred.attempt(chart_name, resource.props)
        if chart is None:
            covered.add(cluster.urn)  # an unknown chart may be the operator: do not claim it is missing
        elif chart == GPU_OPERATOR_CHART and _on_cluster(resource, cluster, graph):
            covered.add(cluster.urn)
    for urn, nodes in gpu_clusters.items():
        if urn not in covered:
            report(
                f"cluster {graph.by_urn[urn].name} has GPU nodes ({', '.join(sorted(nodes))}) but no "
                f"{GPU_OPERATOR_CHART} Helm release: without the driver, device plugin and DCGM exporter "
                "no pod can request a GPU",
                urn,
            )
    deferred.raise_if_any()


def _gitops_operator_targets(resource: PolicyResource) -> list[str]:
    """The clusters a GitOps engine's object installs the operator's chart on, by name.

    Meridian's Fleet HelmOps and Sveltos ClusterProfiles (components/gitops.py) name them in their
    selector: `meridian.io/cluster In [...]`. Other selectors say nothing this policy can check.
    """
    # The chart first: an unknown elsewhere in another chart's object must not hide anything.
    if resource.resource_type == HELMOP:
        if get(resource.props, "spec", "helm", "chart") != GPU_OPERATOR_CHART:
            return []
        selectors = [get(target, "clusterSelector") for target in items(get(resource.props, "spec", "targets"))]
    elif resource.resource_type == CLUSTER_PROFILE:
        charts = [profile_chart(chart) for chart in items(get(resource.props, "spec", "helmCharts"))]
        if GPU_OPERATOR_CHART not in charts:
            return []
        selectors = [get(resource.props, "spec", "clusterSelector")]
    else:
        return []
    return [
        str(name)
        for selector in selectors
        for expression in items(get(selector, "matchExpressions"))
        if get(expression, "key") == CLUSTER_NAME_LABEL and get(expression, "operator") == "In"
        for name in items(get(expression, "values"))
    ]


def _on_cluster(release: PolicyResource, cluster: PolicyResource, graph: Graph) -> bool:
    """Whether a release under `cluster` also deploys to it (its provider belongs to no other cluster)."""
    if release.provider is None:
        return True
    provider = graph.by_urn.get(release.provider.urn)
    if provider is None:
        return True  # pragma: no mutate - unreachable: the stack's resources hold every provider a release names
    owner = graph.ancestor(provider, CLUSTER)
    return owner is None or owner.urn == cluster.urn


def _jupyterhub_values(args: ResourceValidationArgs, report: ReportViolation) -> Mapping[str, Any] | None:
    """The values of a JupyterHub release (None for other resources, or when they cannot be read)."""
    if args.resource_type not in HELM_TYPES or chart_name(args.props) != JUPYTERHUB_CHART:
        return None
    values = get(args.props, "values", default={})
    if not isinstance(values, Mapping):
        # Offline, values that are secret as a whole are a "[secret]" placeholder: keep secrets at the leaves.
        report(  # pragma: no mutate - urn None is report_violation's default
            "the release's values are secret as a whole and cannot be checked; make only the secret keys secret",
            None,
        )
        return None
    return values


def _jupyterhub_real_authenticator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    values = _jupyterhub_values(args, report)
    if values is None:
        return
    chosen = get(values, "hub", "config", "JupyterHub", "authenticator_class", default=CHART_AUTHENTICATOR)
    if str(chosen).strip().lower() in OPEN_AUTHENTICATORS:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"hub.config.JupyterHub.authenticator_class is {chosen!r}: anyone can log in with any password (or "
            "nobody can); set a real authenticator (e.g. generic-oauth with the site's identity provider)",
            None,
        )


def _jupyterhub_idle_culling(args: ResourceValidationArgs, report: ReportViolation) -> None:
    values = _jupyterhub_values(args, report)
    if values is None:
        return
    limit = _config_int(args.get_config(), "max_idle_seconds", DEFAULT_MAX_IDLE_SECONDS)
    # The chart's values schema types cull.enabled boolean (jupyterhub 4.4.0 values.schema.json), so
    # Helm refuses any other value; absent, it is the chart's default (on).
    if get(values, "cull", "enabled") is False:
        report(  # pragma: no mutate - urn None is report_violation's default
            "cull.enabled is false: idle notebook servers keep their nodes (and GPUs) forever",
            None,
        )
        return
    raw = get(values, "cull", "timeout", default=CHART_CULL_TIMEOUT)
    # The hub passes --timeout only when the value is truthy (z2jh 4.4.0 files/hub/jupyterhub_config.py:
    # `if cull_timeout:`), so null or 0 leave the culler at its own default.
    timeout = _number(raw) if raw else CULLER_DEFAULT_TIMEOUT
    if timeout is None or timeout > limit:
        # Numbers arrive through the analyzer's protobuf Struct as floats: 86400, not 86400.0.
        shown = repr(raw) if timeout is None else format(timeout, ".15g")
        report(  # pragma: no mutate - urn None is report_violation's default
            f"cull.timeout is {shown} seconds; idle servers must be culled within {limit} seconds",
            None,
        )


def requests_gpus(settings: Any) -> bool:
    """Whether KubeSpawner settings ask for GPUs (whole or MIG slices) in their extra resources."""
    for key in RESOURCE_SETTINGS:
        for name, amount in _mapping(get(settings, key)).items():
            wanted = str(name) == GPU_RESOURCE or str(name).startswith(MIG_RESOURCE_PREFIX)
            if wanted and _number(amount) != 0:
                return True
    return False


def _tolerates_gpu_taint(toleration: Any) -> bool:
    """Whether one toleration tolerates the GPU taint nvidia.com/gpu=present:NoSchedule.

    Kubernetes' matching (k8s.io/api core/v1 toleration.go ToleratesTaint): a set effect must be
    the taint's (empty matches every effect), a set key must be the taint's (empty matches every
    key); operator Exists matches any value, Equal or empty (empty means Equal) only the taint's
    value, anything else (Lt and Gt compare integers, and "present" is none) nothing. The API
    server refuses an empty key without Exists and a value with Exists (pkg/apis/core/validation
    ValidateTolerations), so a pod carrying either is never created.
    """
    key = get(toleration, "key", default="")
    operator = get(toleration, "operator", default="")
    value = get(toleration, "value", default="")
    if get(toleration, "effect", default="") not in ("", GPU_TAINT_EFFECT) or key not in ("", GPU_TAINT_KEY):
        return False
    if operator == "Exists":
        return bool(value == "")
    return key != "" and operator in ("", "Equal") and value == GPU_TAINT_VALUE


def tolerates_gpu_taint(tolerations: Any) -> bool:
    """Whether a pod with these tolerations (a list, or KubeSpawner's dict of them) may run on GPU nodes."""
    listed = tolerations.values() if isinstance(tolerations, Mapping) else items(tolerations)
    return any(_tolerates_gpu_taint(toleration) for toleration in listed)


def _plain(value: Any) -> Any:
    """`value` with its mappings, nested ones too, as dicts (policy inputs are read-only Mapping proxies)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _recursive_update(target: dict[str, Any], new: Mapping[str, Any]) -> None:
    """KubeSpawner's merge of a dict override (kubespawner/utils.py recursive_update): None deletes a key."""
    for key, value in new.items():
        if isinstance(value, Mapping):
            nested = target.get(key)
            if not isinstance(nested, dict):  # KubeSpawner would fail on a non-dict here; start afresh
                nested = target[key] = {}
            _recursive_update(nested, value)
        elif value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _spawner_settings(values: Mapping[str, Any], *overrides: Any) -> dict[str, Any]:
    """A user pod's GPU settings after KubeSpawner applies `overrides` in turn (spawner.py _apply_overrides).

    z2jh starts KubeSpawner's tolerations as scheduling.userPods.tolerations plus
    singleuser.extraTolerations (jupyterhub_config.py), its extra resources empty. A dict override
    is merged into a dict setting; anything else replaces the setting.
    """
    settings: dict[str, Any] = {key: {} for key in RESOURCE_SETTINGS}
    settings["tolerations"] = [
        *items(get(values, "scheduling", "userPods", "tolerations")),
        *items(get(values, "singleuser", "extraTolerations")),
    ]
    for override in overrides:
        for key, current in settings.items():
            value = _plain(get(override, key))
            if isinstance(value, dict) and isinstance(current, dict):
                _recursive_update(current, value)
            elif value is not None:
                settings[key] = value
    return settings


def _untolerated_gpu_profiles(values: Mapping[str, Any]) -> list[str]:
    """Profiles (and profile option choices) that request GPUs without tolerating the GPU taint.

    KubeSpawner applies a profile's kubespawner_override, then the chosen option's: a choice
    inherits the profile's tolerations unless it sets its own, and its extra resources are merged
    into the profile's. Each choice is judged with the profile alone (not with other options' choices).
    """
    problems = []
    for index, profile in enumerate(items(get(values, "singleuser", "profileList"))):
        label = str(get(profile, "display_name", default=f"#{index}"))
        base = get(profile, "kubespawner_override")
        choices: list[tuple[str, Any]] = []
        for option_name, option in _mapping(get(profile, "profile_options")).items():
            for choice_name, choice in _mapping(get(option, "choices")).items():
                choices.append((f"{label} ({option_name}={choice_name})", get(choice, "kubespawner_override")))
            # KubeSpawner refuses an unlisted value unless the option enables it (_validate_user_options).
            if get(option, "unlisted_choice", "enabled"):
                unlisted = get(option, "unlisted_choice", "kubespawner_override")
                choices.append((f"{label} ({option_name}=<unlisted>)", unlisted))
        for where, override in choices or [(label, None)]:
            settings = _spawner_settings(values, base, override)
            if requests_gpus(settings) and not tolerates_gpu_taint(settings["tolerations"]):
                problems.append(where)
    return problems


def _jupyterhub_gpu_profiles_tolerate(args: ResourceValidationArgs, report: ReportViolation) -> None:
    values = _jupyterhub_values(args, report)
    if values is None:
        return
    problems = _untolerated_gpu_profiles(values)
    if problems:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"profiles request GPUs but do not tolerate the {GPU_TAINT_KEY} taint, so their pods never schedule "
            f"on GPU nodes: {'; '.join(problems)}",
            None,
        )


def _gpu_cap_per_pool(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    graph, inventory = _inventory(args, deferred)
    limit = _config_int(args.get_config(), "max_gpus_per_pool", DEFAULT_MAX_GPUS_PER_POOL)
    pools: dict[str, list[GpuNodes]] = {}
    for item in inventory:
        # RKE2 pools are instances under a NodePool component; other node groups are a pool on their own.
        pool = graph.ancestor(item.resource, NODE_POOL) or item.resource
        pools.setdefault(pool.urn, []).append(item)
    for urn, nodes in pools.items():
        total = sum(item.gpus for item in nodes)
        if total > limit:
            shown = graph.by_urn[urn].name
            report(f"pool {shown} can grow to {total} GPUs, over the cap of {limit} per pool ({_describe(nodes)})", urn)
    deferred.raise_if_any()


def _describe(items: list[GpuNodes]) -> str:
    """`6 nodes x g6e.12xlarge (4 GPUs each)`, one part per flavor."""
    nodes: dict[tuple[str, int], int] = {}
    for item in items:
        nodes[(item.flavor, item.gpus_per_node)] = nodes.get((item.flavor, item.gpus_per_node), 0) + item.nodes
    return ", ".join(f"{count} nodes x {flavor} ({gpus} GPUs each)" for (flavor, gpus), count in nodes.items())


def _gpu_cap_per_stack(args: StackValidationArgs, report: ReportViolation) -> None:
    deferred = _Deferred()
    _, inventory = _inventory(args, deferred)
    limit = _config_int(args.get_config(), "max_gpus_per_stack", DEFAULT_MAX_GPUS_PER_STACK)
    total = sum(item.gpus for item in inventory)
    if total > limit:
        largest = sorted(inventory, key=lambda i: -i.gpus)[:5]
        parts = ", ".join(f"{i.resource.name}: {i.gpus}" for i in largest)
        report(  # pragma: no mutate - urn None is report_violation's default
            f"the stack can grow to {total} GPUs, over the cap of {limit} (largest: {parts})",
            None,
        )
    deferred.raise_if_any()


_GPU_FLAVORS_CONFIG = {"gpu_flavors": GPU_FLAVORS_SCHEMA}

POLICIES = [
    stack_policy(
        "gpu-nodes-tainted",
        "GPU node groups (EKS) and MachineDeployments (Cluster API) carry the nvidia.com/gpu NoSchedule taint, so "
        "only pods that ask for GPUs land there.",
        _gpu_nodes_tainted,
        severity=Severity.MEDIUM,
        remediation="Give the node group the taint key nvidia.com/gpu with effect NO_SCHEDULE, or the "
        "MachineDeployment's KubeadmConfigTemplate the taint nvidia.com/gpu NoSchedule in its join configuration "
        "(Meridian adds it to every pool with a gpu block); GPU workloads tolerate it.",
        config=_GPU_FLAVORS_CONFIG,
    ),
    stack_policy(
        "gpu-operator-on-gpu-clusters",
        "Every cluster with GPU nodes runs the NVIDIA GPU Operator.",
        _gpu_operator_on_gpu_clusters,
        severity=Severity.HIGH,
        remediation="Declare the pool's gpu block so Meridian installs the GpuOperator add-on on the cluster, or "
        "install the gpu-operator chart under the cluster through its Kubernetes provider, or from a GitOps "
        "HelmOp or ClusterProfile selecting it by its meridian.io/cluster label.",
        config=_GPU_FLAVORS_CONFIG,
    ),
    resource_policy(
        "jupyterhub-real-authenticator",
        "JupyterHub authenticates users: never the dummy or null authenticator (the chart's default is dummy).",
        _jupyterhub_real_authenticator,
        severity=Severity.CRITICAL,
        remediation="Set hub.config.JupyterHub.authenticator_class to a real authenticator (generic-oauth, github, "
        "ldapauthenticator, ...) and configure it.",
    ),
    resource_policy(
        "jupyterhub-idle-culling",
        "JupyterHub culls idle notebook servers so their nodes and GPUs return to the pool.",
        _jupyterhub_idle_culling,
        severity=Severity.MEDIUM,
        remediation="Keep cull.enabled true and set cull.timeout (seconds) at or below the configured maximum.",
        config={
            "max_idle_seconds": {
                "type": "integer",
                "minimum": 60,
                "default": DEFAULT_MAX_IDLE_SECONDS,
                "description": "Longest idle time (cull.timeout, seconds) a notebook server may keep its resources.",
            }
        },
    ),
    resource_policy(
        "jupyterhub-gpu-profiles-tolerate",
        "JupyterHub profiles that request GPUs tolerate the nvidia.com/gpu taint of the GPU nodes.",
        _jupyterhub_gpu_profiles_tolerate,
        severity=Severity.MEDIUM,
        remediation="Add {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule} to kubespawner_override."
        "tolerations of every profile (or profile option choice) that sets nvidia.com/gpu or nvidia.com/mig-* in "
        "extra_resource_limits or extra_resource_guarantees.",
    ),
    stack_policy(
        "gpu-cap-per-pool",
        "No node pool can grow beyond the configured number of GPUs.",
        _gpu_cap_per_pool,
        severity=Severity.MEDIUM,
        remediation="Lower the pool's max_size (or use a flavor with fewer GPUs), or raise max_gpus_per_pool in the "
        "policy config after the budget holder agrees.",
        config={
            "max_gpus_per_pool": {
                "type": "integer",
                "minimum": 0,
                "default": DEFAULT_MAX_GPUS_PER_POOL,
                "description": "Most physical GPUs one node pool may reach at its maximum size.",
            },
            **_GPU_FLAVORS_CONFIG,
        },
    ),
    stack_policy(
        "gpu-cap-per-stack",
        "A stack cannot grow beyond the configured number of GPUs across all its clusters.",
        _gpu_cap_per_stack,
        severity=Severity.HIGH,
        remediation="Lower GPU pools' max_size, or raise max_gpus_per_stack in the policy config after the budget "
        "holder agrees.",
        config={
            "max_gpus_per_stack": {
                "type": "integer",
                "minimum": 0,
                "default": DEFAULT_MAX_GPUS_PER_STACK,
                "description": "Most physical GPUs all pools of the stack together may reach at their maximum sizes.",
            },
            **_GPU_FLAVORS_CONFIG,
        },
    ),
]
