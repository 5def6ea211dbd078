"""Spec of Kubernetes clusters, their node pools and per-cluster add-ons.

The shapes are complete enough to validate stack files now; the cluster and add-on
components that consume them arrive in later work (see the README roadmap).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Cidr, LabelKey, LabelValue, SpecModel


class TaintSpec(SpecModel):
    """A Kubernetes node taint."""

    key: LabelKey = Field(description="Taint key, e.g. nvidia.com/gpu.")
    value: Annotated[str, Field(max_length=63)] = Field(default="", description="Taint value (may be empty).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(description="Taint effect.")


class GpuSpec(SpecModel):
    """GPUs of a node pool."""

    model: str = Field(min_length=1, max_length=32, description="GPU model, e.g. A100-80GB, H100, L40S, T4.")
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
    """The Kubernetes control plane of a cluster the project runs itself."""

    count: Literal[1, 3] = Field(default=3, description="Control-plane nodes: 1 (dev) or 3 (HA, odd for etcd quorum).")
    flavor: str | None = Field(default=None, min_length=1, max_length=64, description="Flavor of the servers.")


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
    node_pools: dict[str, NodePoolSpec] = Field(
        default_factory=dict, max_length=32, description="Worker node pools, keyed by pool name."
    )
    addons: AddonsSpec = Field(default_factory=AddonsSpec, description="Add-ons installed on the cluster.")
