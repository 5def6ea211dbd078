"""Facts about the outside world the spec is checked against: Kubernetes versions per backend, GPUs.

Each table says where its facts come from; update them together with that source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

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
    "capi": {"1.34": "v1.34.7", "1.35": "v1.35.5"},
    "eks": {"1.33": "1.33", "1.34": "1.34", "1.35": "1.35"},
    "attached": {f"1.{minor}": f"1.{minor}" for minor in range(30, 36)},
}


@dataclass(frozen=True)
class GpuModel:
    """A GPU model and how MIG can partition it (NVIDIA MIG user guide, "Supported MIG Profiles").

    A MIG GPU instance profile `<c>g.<m>gb` takes `c` of the GPU's compute slices and
    `m / memory_slice_gb` of its memory slices; `+me` variants add the media engines and
    exist once per GPU. Models with no compute slices do not support MIG.
    """

    memory_gb: int
    compute_slices: int = 0
    memory_slices: int = 0
    profiles: tuple[str, ...] = ()
    #: The `all-balanced` mig-parted configuration: profile -> instances per GPU.
    balanced: tuple[tuple[str, int], ...] = ()

    @property
    def supports_mig(self) -> bool:
        """Whether the model can be partitioned with MIG."""
        return self.compute_slices > 0

    def slices(self, profile: str) -> tuple[int, int]:
        """(compute, memory) slices a GPU instance of `profile` takes."""
        compute, memory = profile.split("+")[0].removesuffix("gb").split("g.")
        return int(compute), int(memory) // (self.memory_gb // self.memory_slices)

    def most(self, profile: str) -> int:
        """How many instances of `profile` fit on one GPU."""
        if "+me" in profile:
            return 1
        compute, memory = self.slices(profile)
        return min(self.compute_slices // compute, self.memory_slices // memory)

    @property
    def mig_configs(self) -> dict[str, dict[str, int]]:
        """mig-parted's built-in configurations for the model (config-default.yaml): name -> layout per GPU."""
        if not self.supports_mig:
            return {}
        configs = {f"all-{p.replace('+me', '.me')}": {p: self.most(p)} for p in self.profiles}
        configs["all-balanced"] = dict(self.balanced)
        return configs


#: GPU models Meridian knows (NVIDIA MIG user guide: supported GPUs and profiles;
#: A10G, L4, L40S and T4 have no MIG).
_A100_80 = ("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
_A100_80_BALANCED = (("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1))
GPU_MODELS: dict[str, GpuModel] = {
    "A100-40GB": GpuModel(
        40,
        compute_slices=7,
        memory_slices=8,
        profiles=("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
        balanced=(("1g.5gb", 2), ("2g.10gb", 1), ("3g.20gb", 1)),
    ),
    "A100-80GB": GpuModel(80, compute_slices=7, memory_slices=8, profiles=_A100_80, balanced=_A100_80_BALANCED),
    "H100-80GB": GpuModel(80, compute_slices=7, memory_slices=8, profiles=_A100_80, balanced=_A100_80_BALANCED),
    "A30": GpuModel(
        24,
        compute_slices=4,
        memory_slices=4,
        profiles=("1g.6gb", "1g.6gb+me", "2g.12gb", "2g.12gb+me", "4g.24gb"),
        balanced=(("1g.6gb", 2), ("2g.12gb", 1)),
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


@dataclass(frozen=True)
class InstanceSize:
    """vCPUs and memory of an EC2 instance type."""

    vcpus: int
    memory_gib: float


#: EC2 instance types' sizes (AWS EC2 instance type pages: general purpose M6i, accelerated
#: computing G4dn, G5, G6, G6e, P4, P5). Their on-demand prices are in `aws-prices.json`
#: (`aws_on_demand_price`); a site's own `flavors` take precedence over both.
AWS_INSTANCE_SIZES: dict[str, InstanceSize] = {
    "m6i.large": InstanceSize(2, 8),
    "m6i.xlarge": InstanceSize(4, 16),
    "m6i.2xlarge": InstanceSize(8, 32),
    "m6i.4xlarge": InstanceSize(16, 64),
    "g4dn.xlarge": InstanceSize(4, 16),
    "g4dn.12xlarge": InstanceSize(48, 192),
    "g5.xlarge": InstanceSize(4, 16),
    "g5.2xlarge": InstanceSize(8, 32),
    "g5.12xlarge": InstanceSize(48, 192),
    "g5.48xlarge": InstanceSize(192, 768),
    "g6.xlarge": InstanceSize(4, 16),
    "g6.12xlarge": InstanceSize(48, 192),
    "g6e.xlarge": InstanceSize(4, 32),
    "g6e.12xlarge": InstanceSize(48, 384),
    "p4d.24xlarge": InstanceSize(96, 1152),
    "p4de.24xlarge": InstanceSize(96, 1152),
    "p5.48xlarge": InstanceSize(192, 2048),
}


#: The AWS on-demand price catalogue: USD per instance-hour (Linux, shared tenancy) by region and
#: instance type of `AWS_INSTANCE_SIZES`, with its source and date; written by `python -m
#: scripts.prices` (which says where the prices come from and what it refuses), never by hand.
AWS_PRICES_FILE = Path(__file__).with_name("aws-prices.json")


@cache
def aws_prices() -> dict[str, Any]:
    """The catalogue (`AWS_PRICES_FILE`): source, as_of, currency, terms, excluded, prices."""
    loaded: dict[str, Any] = json.loads(AWS_PRICES_FILE.read_text())
    return loaded


def aws_on_demand_price(region: str, instance_type: str) -> float | None:
    """The catalogue's price per hour (USD) of an instance type in a region; None where it has none."""
    price: float | None = aws_prices()["prices"].get(region, {}).get(instance_type)
    return price
