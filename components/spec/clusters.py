"""Spec of Kubernetes clusters, their node pools and per-cluster add-ons.

Rules that need the site (backend fits the site, GPU flavors, versions) live in
`PlatformSpec`; rules about one cluster live here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..secrets import SecretRef
from .base import Cidr, LabelKey, LabelValue, Name, SpecModel, case_clashes
from .catalog import BACKEND_VERSIONS
from .errors import CrossFieldError


class TaintSpec(SpecModel):
    """A Kubernetes node taint."""

    key: LabelKey = Field(description="Taint key, e.g. nvidia.com/gpu.")
    value: Annotated[str, Field(max_length=63)] = Field(default="", description="Taint value (may be empty).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(description="Taint effect.")


#: Taint and label every GPU pool gets unless it says otherwise: only pods that ask for
#: GPUs (and tolerate the taint) land on GPU nodes; the label lets the GPU Operator's
#: operands select them before node-feature-discovery has run.
GPU_TAINT = ("nvidia.com/gpu", "present", "NoSchedule")
GPU_LABEL = ("nvidia.com/gpu.present", "true")


class GpuSpec(SpecModel):
    """GPUs of a node pool (checked against the flavor's real GPUs)."""

    model: str = Field(min_length=1, max_length=32, description="GPU model, e.g. A100-80GB, H100-80GB, L40S, T4.")
    count: int = Field(ge=1, le=16, description="GPUs per node.")


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
        """Labels the nodes register with: GPU defaults first, then the pool's own."""
        defaults = dict([GPU_LABEL]) if self.gpu else {}
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
    def _sizes(self) -> NodePoolSpec:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is greater than max_size ({self.max_size})")
        if self.desired_size is not None and not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"desired_size ({self.desired_size}) must lie between min_size ({self.min_size}) "
                f"and max_size ({self.max_size})"
            )
        return self


class AddonToggle(SpecModel):
    """An add-on that is either on or off for a cluster."""

    enabled: bool = Field(default=True, description="Install the add-on on this cluster.")


class AddonsSpec(SpecModel):
    """Add-ons installed on a cluster through its Kubernetes provider."""

    ingress: AddonToggle = Field(default_factory=AddonToggle, description="Ingress controller and cert-manager.")
    jupyterhub: AddonToggle = Field(
        default_factory=lambda: AddonToggle(enabled=False), description="JupyterHub for scientists."
    )
    observability: AddonToggle = Field(
        default_factory=AddonToggle, description="Metrics and logs shipped to the project's central observability."
    )
    gitops: AddonToggle = Field(
        default_factory=lambda: AddonToggle(enabled=False), description="GitOps agent (Fleet or Sveltos)."
    )


class ControlPlaneSpec(SpecModel):
    """The Kubernetes control plane of a cluster the project runs itself (rke2, magnum)."""

    count: int = Field(default=3, description="Control-plane nodes: 1 (development) or 3 (HA).")
    flavor: str | None = Field(
        default=None, min_length=1, max_length=64, description="Flavor of the servers (required for rke2 and magnum)."
    )
    disk_gb: int = Field(default=80, ge=40, le=2048, description="Root disk of each server in GiB (etcd lives here).")

    @model_validator(mode="after")
    def _odd(self) -> ControlPlaneSpec:
        if self.count not in (1, 3):
            problems = CrossFieldError()
            problems.add(("count",), f"{self.count} servers: etcd needs an odd number of members, use 1 or 3")
            problems.raise_if_any()
        return self


class ClusterSpec(SpecModel):
    """A Kubernetes cluster on one site."""

    site: str = Field(min_length=1, max_length=40, description="Key of the site (in `sites`) the cluster runs on.")
    backend: Literal["rke2", "magnum", "eks", "attached"] = Field(
        description="How the cluster is provisioned: rke2 or magnum on OpenStack, eks on AWS, attached for an "
        "existing cluster."
    )
    version: str = Field(pattern=r"^1\.[0-9]{2}$", description="Kubernetes minor version, e.g. 1.33.")
    control_plane: ControlPlaneSpec = Field(default_factory=ControlPlaneSpec, description="Control-plane shape.")
    api_cidrs: list[Cidr] = Field(
        default_factory=list,
        max_length=32,
        description="Extra networks allowed to reach the Kubernetes API, besides the site's admin_cidrs.",
    )
    node_pools: dict[Name, NodePoolSpec] = Field(
        default_factory=dict, max_length=32, description="Worker node pools, keyed by pool name."
    )
    addons: AddonsSpec = Field(default_factory=AddonsSpec, description="Add-ons installed on the cluster.")
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
    admin_role_arns: list[Annotated[str, Field(pattern=r"^arn:aws:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")]] = Field(
        default_factory=list,
        max_length=16,
        description="eks only: IAM roles granted cluster-admin through EKS access entries.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_case_twins(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("node_pools"), dict):
            problems = CrossFieldError()
            for first, second in case_clashes([str(k) for k in data["node_pools"]]):
                wrong, right = (first, second) if first != first.lower() else (second, first)
                problems.add(("node_pools", wrong), f"pool name differs only in case from '{right}'")
            problems.raise_if_any()
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
        if self.backend in ("rke2", "magnum") and self.control_plane.flavor is None:
            problems.add(("control_plane", "flavor"), f"{self.backend} clusters need a control-plane flavor")
        if self.backend == "magnum":
            if self.image is None:
                problems.add(("image",), "magnum clusters need an image whose kube_version property is the version")
            for name, pool in self.node_pools.items():
                if pool.min_size == 0:
                    # LP#2098002: magnum-capi-helm cannot create or keep a node group at zero nodes.
                    problems.add(("node_pools", name, "min_size"), "magnum node groups cannot scale to zero")
        if self.admin_role_arns and self.backend != "eks":
            problems.add(("admin_role_arns",), "only eks clusters take IAM admin roles")
        problems.raise_if_any()
        return self
