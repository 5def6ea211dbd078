"""Facts about the outside world the spec is checked against: Kubernetes versions per backend, GPUs.

Each table says where its facts come from; update them together with that source.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Kubernetes minor versions each backend can run, with the exact release where the
#: backend needs one.
#: * rke2: release tags from the RKE2 release notes (docs.rke2.io/release-notes); the
#:   install script is pinned to exactly this tag (INSTALL_RKE2_VERSION).
#: * magnum: the magnum-capi-helm driver takes the version from the Glance image's
#:   `kube_version` property; StackHPC CI covers 1.34 and 1.35.
#: * eks: versions in standard or extended support (AWS EKS Kubernetes versions page);
#:   1.33 left standard support on 2026-07-29 and is kept for extended support only.
#: * attached: whatever the owner runs, within the kubernetes provider's supported skew.
BACKEND_VERSIONS: dict[str, dict[str, str]] = {
    "rke2": {"1.32": "v1.32.13+rke2r1", "1.33": "v1.33.13+rke2r2", "1.34": "v1.34.5+rke2r1"},
    "magnum": {"1.34": "v1.34.7", "1.35": "v1.35.5"},
    "eks": {"1.33": "1.33", "1.34": "1.34", "1.35": "1.35"},
    "attached": {f"1.{minor}": f"1.{minor}" for minor in range(30, 36)},
}


@dataclass(frozen=True)
class GpuModel:
    """A GPU model and how it can be partitioned."""

    memory_gb: int
    #: mig-parted configurations (NVIDIA/mig-parted config-default.yaml); empty: no MIG.
    mig_configs: tuple[str, ...] = ()


_A100_80_H100 = (
    "all-1g.10gb",
    "all-1g.10gb.me",
    "all-1g.20gb",
    "all-2g.20gb",
    "all-3g.40gb",
    "all-4g.40gb",
    "all-7g.80gb",
    "all-balanced",
)

#: GPU models Meridian knows (NVIDIA MIG user guide: supported GPUs and profiles).
GPU_MODELS: dict[str, GpuModel] = {
    "A100-40GB": GpuModel(
        40,
        (
            "all-1g.5gb",
            "all-1g.5gb.me",
            "all-1g.10gb",
            "all-2g.10gb",
            "all-3g.20gb",
            "all-4g.20gb",
            "all-7g.40gb",
            "all-balanced",
        ),
    ),
    "A100-80GB": GpuModel(80, _A100_80_H100),
    "H100-80GB": GpuModel(80, _A100_80_H100),
    "A30": GpuModel(
        24, ("all-1g.6gb", "all-1g.6gb.me", "all-2g.12gb", "all-2g.12gb.me", "all-4g.24gb", "all-balanced")
    ),
    "A10G": GpuModel(24),
    "L4": GpuModel(24),
    "L40S": GpuModel(48),
    "T4": GpuModel(16),
}


@dataclass(frozen=True)
class GpuFlavor:
    """What a flavor or instance type carries."""

    model: str
    count: int


#: EC2 instance types with NVIDIA GPUs (AWS accelerated-computing instance pages).
AWS_GPU_INSTANCES: dict[str, GpuFlavor] = {
    "p4d.24xlarge": GpuFlavor("A100-40GB", 8),
    "p4de.24xlarge": GpuFlavor("A100-80GB", 8),
    "p5.48xlarge": GpuFlavor("H100-80GB", 8),
    "g5.xlarge": GpuFlavor("A10G", 1),
    "g5.2xlarge": GpuFlavor("A10G", 1),
    "g5.12xlarge": GpuFlavor("A10G", 4),
    "g5.48xlarge": GpuFlavor("A10G", 8),
    "g6.xlarge": GpuFlavor("L4", 1),
    "g6.12xlarge": GpuFlavor("L4", 4),
    "g6e.xlarge": GpuFlavor("L40S", 1),
    "g6e.12xlarge": GpuFlavor("L40S", 4),
    "g4dn.xlarge": GpuFlavor("T4", 1),
    "g4dn.12xlarge": GpuFlavor("T4", 4),
}

#: OpenStack flavors are named by each cloud; sites declare theirs in `gpu_flavors`.
#: This table holds the GPU flavor names our OpenStack clouds share (a site's own
#: `gpu_flavors` entries take precedence).
OPENSTACK_GPU_FLAVORS: dict[str, GpuFlavor] = {
    "vm.a100.1gpu": GpuFlavor("A100-80GB", 1),
    "vm.a100.2gpu": GpuFlavor("A100-80GB", 2),
    "vm.a30.1gpu": GpuFlavor("A30", 1),
}
