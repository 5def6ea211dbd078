"""Spec of Kubernetes clusters, their node pools and per-cluster add-ons.

Rules that need the site (backend fits the site, GPU flavors, versions) live in
`PlatformSpec`; rules about one cluster live here.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..cloudrules import KUBELET_LABEL_RULE, kubelet_refuses
from ..secrets import SecretRef
from .addons import AddonsSpec
from .base import MIG_SLICE_PATTERN, SITE_REF_PREFIX, LabelKey, LabelValue, Name, Source, SpecModel
from .catalog import BACKEND_VERSIONS, GPU_MODELS
from .errors import CrossFieldError, refuse_case_twins


class TaintSpec(SpecModel):
    """A Kubernetes node taint."""

    key: LabelKey = Field(description="Taint key, e.g. nvidia.com/gpu.")
    value: Annotated[str, Field(max_length=63)] = Field(default="", description="Taint value (may be empty).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(description="Taint effect.")


#: Taint every GPU pool gets unless it sets that key itself: only pods that ask for GPUs
#: (and tolerate the taint) land on GPU nodes.
#:
#: Meridian sets no `nvidia.com/gpu.present` label: the GPU Operator owns it. Its node
#: labeller sets it from node-feature-discovery's NVIDIA PCI labels
#: (feature.node.kubernetes.io/pci-10de.present and the 0300/0302 variants) and, on a node
#: without them, rewrites it to "false" and removes every `nvidia.com/gpu.deploy.*` label,
#: so no operand runs there (NVIDIA/gpu-operator v26.7.0 controllers/nodelabeling_controller.go,
#: state_manager.go `gpuNodeLabels`, `removeAllGPUStateLabels`). A label set at registration
#: therefore cannot make operands run before NFD has labelled the node; it only fought the
#: operator (Magnum's node-setup job re-applied it every few minutes).
GPU_TAINT = ("nvidia.com/gpu", "present", "NoSchedule")


#: Node label naming the pool a node belongs to (every backend sets it at registration).
POOL_LABEL = "meridian.io/pool"
#: Node label the GPU Operator's MIG manager reads to partition a node's GPUs.
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
#: Node label selecting the device plugin's configuration (time-slicing) for a node.
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"


class MigSpec(SpecModel):
    """MIG partitioning of every GPU of a pool: a mig-parted configuration or a custom layout."""

    strategy: Literal["single", "mixed"] = Field(
        description="single: every slice is exposed as nvidia.com/gpu (one slice size per cluster); "
        "mixed: each slice size is its own resource, nvidia.com/mig-<profile>."
    )
    profile: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="A mig-parted configuration of the model, e.g. all-1g.10gb, all-3g.40gb, all-balanced.",
    )
    custom: dict[Annotated[str, Field(pattern=MIG_SLICE_PATTERN)], Annotated[int, Field(ge=1, le=7)]] | None = Field(
        default=None,
        max_length=7,
        description="A custom layout per GPU, e.g. {2g.20gb: 2, 3g.40gb: 1}; Meridian ships it to the "
        "MIG manager as its own mig-parted configuration.",
    )

    @model_validator(mode="after")
    def _one_layout(self) -> MigSpec:
        if (self.profile is None) == (self.custom is None):
            raise ValueError("set exactly one of 'profile' (a mig-parted configuration) or 'custom' (a layout)")
        return self

    @property
    def config_name(self) -> str:
        """The mig-parted configuration nodes are labelled with (custom layouts get a name from their content)."""
        if self.profile is not None:
            return self.profile
        assert self.custom is not None
        return "custom-" + "-".join(
            f"{count}x{profile.replace('+', '.')}" for profile, count in sorted(self.custom.items())
        )


class TimeSlicingSpec(SpecModel):
    """Time-slicing: each GPU is advertised as several, shared in time (no memory isolation)."""

    replicas: int = Field(ge=2, le=64, description="Schedulable shares per GPU (at least 2).")

    @property
    def config_name(self) -> str:
        """The device-plugin configuration nodes of such pools are labelled with."""
        return f"time-sliced-{self.replicas}"


class GpuSpec(SpecModel):
    """GPUs of a node pool (checked against the flavor's real GPUs) and how they are shared."""

    model: str = Field(min_length=1, max_length=32, description="GPU model, e.g. A100-80GB, H100-80GB, L40S, T4.")
    count: int = Field(ge=1, le=16, description="GPUs per node.")
    sharing: Literal["exclusive", "time-sliced", "mig"] = Field(
        default="exclusive",
        description="exclusive: whole GPUs; time-sliced: shares of a GPU (set time_slicing); mig: hardware "
        "partitions (set mig).",
    )
    mig: MigSpec | None = Field(default=None, description="MIG layout; with sharing: mig.")
    time_slicing: TimeSlicingSpec | None = Field(default=None, description="Shares per GPU; with sharing: time-sliced.")
    driver: Literal["operator", "preinstalled"] | None = Field(
        default=None,
        description="Who installs the NVIDIA driver: the GPU Operator, or the node image (preinstalled). "
        "Default: preinstalled on eks (AL2023 NVIDIA AMI), operator elsewhere.",
    )

    @model_validator(mode="after")
    def _sharing(self) -> GpuSpec:
        problems = CrossFieldError()
        model = GPU_MODELS.get(self.model)
        if model is None:
            problems.add(("model",), f"unknown GPU model (known: {', '.join(GPU_MODELS)})")
        if self.mig is not None and self.time_slicing is not None:
            # Name the block that contradicts `sharing` (both, when sharing is neither).
            extra = {"mig": ("time_slicing",), "time-sliced": ("mig",)}.get(self.sharing, ("sharing",))
            problems.add(extra, "MIG and time-slicing cannot be combined on one pool: choose one")
        elif self.sharing == "mig" and self.mig is None:
            problems.add(("mig",), "sharing: mig needs a mig block (strategy and profile or custom layout)")
        elif self.sharing == "time-sliced" and self.time_slicing is None:
            problems.add(("time_slicing",), "sharing: time-sliced needs time_slicing.replicas")
        elif self.sharing != "mig" and self.mig is not None:
            problems.add(("mig",), f"a mig block needs sharing: mig (the pool says {self.sharing})")
        elif self.sharing != "time-sliced" and self.time_slicing is not None:
            problems.add(("time_slicing",), f"time_slicing needs sharing: time-sliced (the pool says {self.sharing})")
        if model is not None and self.mig is not None:
            if not model.supports_mig:
                problems.add(("sharing",), f"{self.model} does not support MIG")
            else:
                layout = self.mig_layout
                if self.mig.profile is not None and layout is None:
                    problems.add(
                        ("mig", "profile"),
                        f"{self.model} has no mig-parted configuration '{self.mig.profile}' "
                        f"(it offers: {', '.join(model.mig_configs)})",
                    )
                if self.mig.custom is not None:
                    unknown = [p for p in self.mig.custom if p not in model.profiles]
                    if unknown:
                        problems.add(
                            ("mig", "custom"),
                            f"{self.model} has no MIG profile {', '.join(unknown)} "
                            f"(it offers: {', '.join(model.profiles)})",
                        )
                    else:
                        compute = sum(model.slices(p)[0] * n for p, n in self.mig.custom.items())
                        memory = sum(model.slices(p)[1] * n for p, n in self.mig.custom.items())
                        media = sum(n for p, n in self.mig.custom.items() if "+me" in p)
                        if compute > model.compute_slices or memory > model.memory_slices:
                            problems.add(
                                ("mig", "custom"),
                                f"the layout needs {compute} compute and {memory} memory slices; each {self.model} "
                                f"has {model.compute_slices} and {model.memory_slices}",
                            )
                        if media > 1:
                            problems.add(
                                ("mig", "custom"),
                                "a GPU has one set of media engines: at most one '+me' instance per GPU",
                            )
                if layout is not None:
                    kinds = len(layout)
                    if self.mig.strategy == "mixed" and kinds == 1:
                        problems.add(
                            ("mig", "strategy"),
                            "mixed strategy with a single profile: use single (every slice is then nvidia.com/gpu)",
                        )
                    if self.mig.strategy == "single" and kinds > 1:
                        problems.add(
                            ("mig", "strategy"),
                            "single strategy needs one slice size; this layout mixes sizes: use mixed",
                        )
        problems.raise_if_any()
        return self

    @property
    def mig_layout(self) -> dict[str, int] | None:
        """MIG instances per GPU, by profile (None without MIG or for an unknown configuration)."""
        if self.mig is None:
            return None
        if self.mig.custom is not None:
            return dict(self.mig.custom)
        model = GPU_MODELS.get(self.model)
        return model.mig_configs.get(self.mig.profile or "") if model else None

    @property
    def partition_labels(self) -> dict[str, str]:
        """Node labels that put a node's GPUs in the pool's mode as soon as it registers."""
        if self.mig is not None:
            return {MIG_CONFIG_LABEL: self.mig.config_name}
        if self.time_slicing is not None:
            return {DEVICE_PLUGIN_CONFIG_LABEL: self.time_slicing.config_name}
        return {}

    def resources(self) -> dict[str, int]:
        """Extended resources one node advertises (what pods request and quotas count)."""
        layout = self.mig_layout
        # A validated pool has a MIG layout exactly when it has a mig block (unknown profiles are refused).
        if self.mig is not None and layout is not None:  # pragma: no mutate
            if self.mig.strategy == "single":
                return {"nvidia.com/gpu": self.count * sum(layout.values())}
            return {f"nvidia.com/mig-{p.replace('+me', '.me')}": self.count * n for p, n in sorted(layout.items())}
        if self.time_slicing is not None:
            return {"nvidia.com/gpu": self.count * self.time_slicing.replicas}
        return {"nvidia.com/gpu": self.count}


#: A Kubernetes release inside an image name (image-builder: `ubuntu-2404-kube-v1.34.7`).
IMAGE_KUBE_RELEASE = re.compile(r"kube-?v?(1\.[0-9]+\.[0-9]+)")

#: The control plane's key beside the node pools wherever pools are listed (capacity, boot records).
CONTROL_PLANE = "control-plane"


class NodePoolSpec(SpecModel):
    """A group of identical worker nodes."""

    flavor: str = Field(min_length=1, max_length=64, description="OpenStack flavor or EC2 instance type.")
    min_size: int = Field(default=1, ge=0, le=1000, description="Fewest nodes the autoscaler may keep.")
    max_size: int = Field(default=3, ge=1, le=1000, description="Most nodes the autoscaler may start.")
    desired_size: int | None = Field(
        default=None, ge=0, le=1000, description="Nodes at creation; defaults to min_size."
    )
    disk_gb: int = Field(default=100, ge=20, le=16384, description="Root disk size in GiB.")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=32, description="Node labels.")
    taints: list[TaintSpec] = Field(default_factory=list, max_length=16, description="Node taints.")
    gpu: GpuSpec | None = Field(default=None, description="Set for GPU nodes.")

    @property
    def node_labels(self) -> dict[str, str]:
        """Labels the nodes register with: GPU partitioning labels first, then the pool's own."""
        defaults = self.gpu.partition_labels if self.gpu else {}
        return {**defaults, **self.labels}

    @property
    def node_taints(self) -> list[TaintSpec]:
        """Taints the nodes register with: the GPU taint (unless the pool sets that key itself), then the pool's."""
        taints = list(self.taints)
        if self.gpu and all(taint.key != GPU_TAINT[0] for taint in taints):
            key, value, effect = GPU_TAINT
            taints.insert(0, TaintSpec(key=key, value=value, effect=effect))  # type: ignore[arg-type]
        return taints

    @property
    def initial_size(self) -> int:
        """Nodes at creation."""
        return self.min_size if self.desired_size is None else self.desired_size

    @model_validator(mode="after")
    def _kubelet_accepts_labels(self) -> NodePoolSpec:
        # Every backend hands pool labels to the kubelet (--node-labels, EKS node group labels)
        # or to a node-labelling job; a label the kubelet refuses keeps the node from registering.
        problems = CrossFieldError()
        for key in self.labels:
            if kubelet_refuses(key):
                problems.add(("labels", key), KUBELET_LABEL_RULE)
        problems.raise_if_any()
        return self

    @model_validator(mode="after")
    def _sizes(self) -> NodePoolSpec:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is greater than max_size ({self.max_size})")
        if self.desired_size is not None and not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"desired_size ({self.desired_size}) must lie between min_size ({self.min_size}) "
                f"and max_size ({self.max_size})"
            )
        return self


class ControlPlaneSpec(SpecModel):
    """The Kubernetes control plane of a cluster the project runs itself (rke2, magnum)."""

    count: int = Field(default=3, ge=1, le=7, description="Control-plane nodes: 1 (development) or 3 (HA).")
    flavor: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Flavor of the servers (required for rke2, magnum and capi).",
    )
    disk_gb: int = Field(default=80, ge=40, le=2048, description="Root disk of each server in GiB (etcd lives here).")
    initialized: bool = Field(
        default=False,
        description="rke2: set to true once the cluster exists (after its first `pulumi up`), so that a "
        "replaced first server joins the cluster instead of founding a new one.",
    )

    @model_validator(mode="after")
    def _odd(self) -> ControlPlaneSpec:
        if self.count not in (1, 3):
            problems = CrossFieldError()
            problems.add(
                ("count",),
                f"{self.count} servers: etcd needs an odd number of members for quorum; "
                "Meridian builds 1 (development) or 3 (HA)",
            )
            problems.raise_if_any()
        return self


#: An IAM role ARN (paths allowed).
RoleArn = Annotated[str, Field(pattern=r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")]


class ClusterSpec(SpecModel):
    """A Kubernetes cluster on one site."""

    site: str = Field(min_length=1, max_length=40, description="Key of the site (in `sites`) the cluster runs on.")
    backend: Literal["rke2", "magnum", "capi", "eks", "attached"] = Field(
        description="How the cluster is provisioned: rke2, magnum or capi (Cluster API, reconciled by "
        "`management_cluster`) on OpenStack, eks on AWS, attached for an existing cluster."
    )
    management_cluster: Name | None = Field(
        default=None,
        description="capi only: the project's cluster whose Cluster API controllers build, heal and upgrade this "
        "one (they run there, with its autoscaler).",
    )
    version: str = Field(pattern=r"^1\.[0-9]{2}$", description="Kubernetes minor version, e.g. 1.33.")
    control_plane: ControlPlaneSpec = Field(default_factory=ControlPlaneSpec, description="Control-plane shape.")
    api_cidrs: list[Source] = Field(
        default_factory=list,
        max_length=32,
        description="Extra sources allowed to reach the Kubernetes API, besides the site's admin_cidrs: CIDRs, or "
        "`site:<name>` for the egress addresses of another site of the project (its NAT gateways or router). "
        "Another site's private range is refused unless an interconnect joins the two sites.",
    )
    node_pools: dict[Name, NodePoolSpec] = Field(
        default_factory=dict, max_length=32, description="Worker node pools, keyed by pool name."
    )
    addons: AddonsSpec = Field(default_factory=AddonsSpec, description="Add-ons installed on the cluster.")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=32,
        description="The cluster's own labels where a GitOps engine registers it (besides the automatic "
        "meridian.io/... ones, which these may not set): what repos and add-ons select clusters by.",
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Node image (Glance name) overriding the site's; for magnum an image whose kube_version "
        "property matches `version` (magnum-capi-helm takes the version from it).",
    )
    kubeconfig: SecretRef | None = Field(
        default=None,
        description="attached only: where the existing cluster's kubeconfig lives (config:<key> or vault:...).",
    )
    deployer_role_arn: RoleArn | None = Field(
        default=None,
        description="eks only: the IAM role `pulumi up` runs as (CI's), granted cluster-admin. Unset, it is the "
        "caller's role at each run, so a run by someone else replaces the entry and revokes the previous one.",
    )
    admin_role_arns: list[RoleArn] = Field(
        default_factory=list,
        max_length=16,
        description="eks only: IAM roles granted cluster-admin through EKS access entries.",
    )

    def _capi_rules(self, problems: CrossFieldError) -> None:
        """What a Cluster API cluster needs: a management cluster, an image built for its exact version."""
        if self.management_cluster is None:
            problems.add(("management_cluster",), "a capi cluster is built by another cluster of the project: name it")
        if self.control_plane.initialized:
            problems.add(
                ("control_plane", "initialized"),
                "rke2 only: a capi control plane's state is kept by its management cluster",
            )
        release = BACKEND_VERSIONS["capi"].get(self.version)
        if self.image is None:
            problems.add(
                ("image",),
                "capi machines boot an image with kubeadm, kubelet and containerd of the cluster's version "
                f"(an image-builder image, e.g. ubuntu-2404-kube-{release or 'v1.34.7'})",
            )
        elif release is not None:
            # image-builder names its OpenStack images after the Kubernetes release they carry
            # (images/capi/packer/openstack: `ubuntu-2404-kube-v1.34.7`): a name naming another release
            # is an image from before an upgrade, which kubeadm would refuse to join with.
            found = IMAGE_KUBE_RELEASE.search(self.image)
            if found is not None and found.group(1) != release.removeprefix("v"):
                problems.add(
                    ("image",),
                    f"{self.image} carries Kubernetes v{found.group(1)}; the cluster runs {release} "
                    "(upgrade the image with the version)",
                )

    def gpu_driver(self, gpu: GpuSpec) -> Literal["operator", "preinstalled"]:
        """Who installs the driver on a GPU pool of this cluster (the spec's choice or the backend's default)."""
        if gpu.driver is not None:
            return gpu.driver
        return "preinstalled" if self.backend == "eks" else "operator"

    @property
    def gpu_pools(self) -> dict[str, NodePoolSpec]:
        """Pools with GPUs, by name."""
        return {name: pool for name, pool in self.node_pools.items() if pool.gpu is not None}

    @model_validator(mode="before")
    @classmethod
    def _no_case_twins(cls, data: object) -> object:
        refuse_case_twins(data, {"node_pools": "pool name"})
        return data

    @model_validator(mode="after")
    def _backend_rules(self) -> ClusterSpec:
        problems = CrossFieldError()
        supported = BACKEND_VERSIONS[self.backend]
        if self.version not in supported:
            problems.add(
                ("version",), f"{self.backend} clusters can run Kubernetes {', '.join(supported)}, not {self.version}"
            )
        if self.backend == "attached":
            if self.kubeconfig is None:
                problems.add(("kubeconfig",), "an attached cluster needs its kubeconfig (config:<key> or vault:...)")
            if self.node_pools:
                problems.add(("node_pools",), "an attached cluster's nodes are managed by its owner: list no pools")
        else:
            if self.kubeconfig is not None:
                problems.add(("kubeconfig",), f"only attached clusters take a kubeconfig; {self.backend} makes its own")
            if not self.node_pools:
                problems.add(("node_pools",), "a cluster needs at least one node pool")
            if CONTROL_PLANE in self.node_pools:
                # The control plane's key beside the pools in the `capacity` and `clusters.<c>.boot`
                # outputs (components/capacity.py, clusters/rke2.py): a pool of that name would hide it.
                problems.add(
                    ("node_pools", CONTROL_PLANE), f"'{CONTROL_PLANE}' names the control plane: rename the pool"
                )
        if self.backend == "capi":
            self._capi_rules(problems)
        elif self.management_cluster is not None:
            problems.add(("management_cluster",), f"only capi clusters have a management cluster, not {self.backend}")
        if self.backend in ("rke2", "magnum", "capi") and self.control_plane.flavor is None:
            problems.add(("control_plane", "flavor"), f"{self.backend} clusters need a control-plane flavor")
        if self.backend == "magnum":
            for reserved in ("default-worker", "default-master"):
                if reserved in self.node_pools:
                    problems.add(
                        ("node_pools", reserved), f"'{reserved}' is Magnum's own node group name: rename the pool"
                    )
            if self.image is None:
                problems.add(("image",), "magnum clusters need an image whose kube_version property is the version")
            for name, pool in self.node_pools.items():
                if pool.min_size == 0:
                    # LP#2098002: magnum-capi-helm cannot create or keep a node group at zero nodes.
                    problems.add(("node_pools", name, "min_size"), "magnum node groups cannot scale to zero")
                for index, taint in enumerate(pool.taints if pool.gpu else []):
                    if taint.effect == "NoExecute":
                        # Magnum's cluster-addons runs the shared node-feature-discovery, whose worker
                        # tolerates NoSchedule taints only (capi-helm-charts 0.27.0 templates/nfd.yaml):
                        # on a NoExecute-tainted GPU pool NFD never labels the GPUs, so the adopted GPU
                        # Operator (components/addons/gpu_operator.py) never runs there.
                        problems.add(
                            ("node_pools", name, "taints", index, "effect"),
                            "on magnum GPU pools use NoSchedule: the node-feature-discovery worker of Magnum's "
                            "cluster-addons tolerates NoSchedule taints only, so NoExecute keeps the GPU Operator off",
                        )
        if self.admin_role_arns and self.backend != "eks":
            problems.add(("admin_role_arns",), "only eks clusters take IAM admin roles")
        if self.deployer_role_arn is not None:
            if self.backend != "eks":
                problems.add(("deployer_role_arn",), "only eks clusters take a deployer role")
            elif self.deployer_role_arn in self.admin_role_arns:
                # EKS allows one access entry per principal.
                problems.add(("deployer_role_arn",), "is also listed in admin_role_arns: list it once")
        if self.node_pools and not any(pool.gpu is None for pool in self.node_pools.values()):
            # Tainted GPU nodes (and tainted rke2 servers) leave CoreDNS, the GPU Operator and
            # node-feature-discovery nowhere to run.
            problems.add(("node_pools",), "a cluster needs at least one pool without GPUs for its system services")
        role_names: dict[str, int] = {}
        for index, arn in enumerate(self.admin_role_arns):
            role = arn.rsplit("/", 1)[-1].lower()  # IAM role names are case-insensitive
            if role in role_names:
                # Access entries are named after the role: two roles of one name would collide.
                problems.add(
                    ("admin_role_arns", index), f"role name '{role}' is already listed (entry {role_names[role]})"
                )
            role_names.setdefault(role, index)
        for index, cidr in enumerate(self.api_cidrs):
            if not cidr.startswith(SITE_REF_PREFIX) and ipaddress.ip_network(cidr).prefixlen == 0:
                problems.add(("api_cidrs", index), f"{cidr} would open the Kubernetes API to the whole internet")
        # Settings the backend cannot honour are refused rather than silently ignored.
        ignored = {
            "eks": ("control_plane", "image"),
            "attached": ("control_plane", "image", "api_cidrs"),
        }.get(self.backend, ())
        for key in ignored:
            if key in self.model_fields_set:
                problems.add((key,), f"{self.backend} clusters do not take {key} (their control plane is not ours)")
        # The GPU Operator's MIG strategy and driver setting are per cluster, not per pool.
        strategies: dict[str, str] = {}
        drivers: dict[str, str] = {}
        for name, pool in self.node_pools.items():
            if pool.gpu is None:
                continue
            if pool.gpu.mig is not None:
                strategies.setdefault(pool.gpu.mig.strategy, name)
            driver = self.gpu_driver(pool.gpu)
            drivers.setdefault(driver, name)
            if self.backend == "eks" and driver == "operator":
                problems.add(
                    ("node_pools", name, "gpu", "driver"),
                    "eks GPU nodes run the AL2023 NVIDIA AMI, whose driver is preinstalled",
                )
        # A generated mig-parted ConfigMap names layouts; one name must mean one layout.
        if any(p.gpu and p.gpu.mig and p.gpu.mig.custom for p in self.node_pools.values()):
            layouts: dict[str, tuple[str, str]] = {}
            for name, pool in self.node_pools.items():
                if pool.gpu is None or pool.gpu.mig is None:
                    continue
                config = pool.gpu.mig.config_name
                first = layouts.setdefault(config, (name, pool.gpu.model))
                if first[1] != pool.gpu.model:
                    problems.add(
                        ("node_pools", name, "gpu", "mig", "profile"),
                        f"'{config}' means another layout on {pool.gpu.model} than on pool '{first[0]}' "
                        f"({first[1]}); with a custom layout in the cluster, spell this one out as custom too",
                    )
        # Under the single strategy every slice is nvidia.com/gpu: one size per cluster, or
        # a request for "one GPU" would get different hardware on different pools.
        single_sizes = {
            tuple(sorted((p.gpu.mig_layout or {}).keys())): name
            for name, p in self.node_pools.items()
            if p.gpu and p.gpu.mig and p.gpu.mig.strategy == "single"
        }
        if len(single_sizes) > 1:
            name = list(single_sizes.values())[-1]
            problems.add(
                ("node_pools", name, "gpu", "mig", "profile"),
                "with the single strategy all MIG pools of a cluster must use one slice size "
                f"(pool '{next(iter(single_sizes.values()))}' uses another); use mixed",
            )
        if len(strategies) > 1:
            problems.add(
                ("node_pools", strategies["mixed"], "gpu", "mig", "strategy"),
                f"one cluster has one MIG strategy; pool '{strategies['single']}' uses single",
            )
        if len(drivers) > 1:
            problems.add(
                ("node_pools", drivers["preinstalled"], "gpu", "driver"),
                f"the GPU Operator's driver is on or off per cluster: pool '{drivers['operator']}' asks the "
                "operator to install it; use the same driver setting on every GPU pool",
            )
        hub = self.addons.hub
        if hub is not None:
            for path, message in hub.pool_problems(self.node_pools, ("addons", "jupyterhub")):
                problems.add(path, message)
        problems.raise_if_any()
        return self


def eks_names(project: str, site: str, cluster: str, pool: str) -> tuple[str, str, str]:
    """The EKS cluster's name, and its pool's node group and launch template name prefixes.

    What components/clusters/eks.py builds, and the spec holds to EKS's and the AWS provider's
    limits (platform.py `_eks`): the EKS cluster
    `<project>-<site>-<cluster>`, the node group prefix `<cluster>-<pool>-` and the launch template
    prefix `<EKS cluster>-<pool>-`.
    """
    eks_name = f"{project}-{site}-{cluster}"
    return eks_name, f"{cluster}-{pool}-", f"{eks_name}-{pool}-"
