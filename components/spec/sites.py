"""Spec of a cloud site: one OpenStack tenancy or one AWS account/region."""

from __future__ import annotations

import ipaddress
import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..secrets import SecretRef
from .base import Cidr, HttpsUrl, Ipv4Address, Ipv4Cidr, LabelKey, LabelValue, SpecModel, SshPublicKey
from .catalog import AWS_GPU_INSTANCES, GPU_MODELS, OPENSTACK_GPU_FLAVORS, GpuFlavor
from .errors import CrossFieldError
from .project import RESERVED_LABELS


class GpuFlavorSpec(SpecModel):
    """The GPUs a flavor carries."""

    model: str = Field(description=f"GPU model, one of: {', '.join(GPU_MODELS)}.")
    count: int = Field(ge=1, le=16, description="GPUs per instance of the flavor.")

    @model_validator(mode="after")
    def _known_model(self) -> GpuFlavorSpec:
        if self.model not in GPU_MODELS:
            problems = CrossFieldError()
            problems.add(("model",), f"unknown GPU model (known: {', '.join(GPU_MODELS)})")
            problems.raise_if_any()
        return self


class ApplicationCredential(SpecModel):
    """An OpenStack application credential for the site's provider (instead of the password in clouds.yaml)."""

    id: str = Field(min_length=1, max_length=64, description="Application credential ID (not secret).")
    secret: SecretRef = Field(
        description="Where its secret lives: `config:<key>` (a secret stack config key) or "
        "`vault:<mount>/<path>#<field>` (HashiCorp Vault KV v2)."
    )


class ClusterCredential(ApplicationCredential):
    """The application credential the site's clusters use from inside, for the cloud's own APIs.

    Cinder CSI's controller on rke2 clusters creates, attaches and resizes volumes with it (its
    node plugins make no OpenStack call and never see it). Create it once per project with the
    `member` role (restricted: it cannot create other credentials), never reuse the deployer's.
    """

    auth_url: HttpsUrl = Field(
        description="Keystone v3 endpoint the in-cluster plugins authenticate at, e.g. "
        "https://keystone.example.org:5000/v3 (the `auth_url` of the site's clouds.yaml entry, which Meridian "
        "does not read)."
    )


class S3EndpointSpec(SpecModel):
    """The site's S3-compatible object storage API (Swift's s3api middleware, or Ceph RGW).

    Swift containers the program creates are buckets of the same name there, for EC2-style keys of
    the same project (`openstack ec2 credentials create`). MLflow and CloudNativePG's backups speak
    S3 only: on OpenStack they reach the project's containers through this endpoint.
    """

    endpoint: HttpsUrl = Field(description="The S3 API's URL, e.g. https://object-store.example.org.")
    region: str = Field(
        default="us-east-1",
        min_length=1,
        max_length=64,
        description="The region S3 signatures name (Swift s3api's `location`, us-east-1 unless the cloud set it).",
    )
    access_key_id: SecretRef = Field(description="The EC2-style access key of the project, as a secret reference.")
    secret_access_key: SecretRef = Field(description="Its secret key, as a secret reference.")


class OpenStackSettings(SpecModel):
    """How to reach an OpenStack tenancy and what it offers."""

    cloud: str = Field(
        min_length=1,
        max_length=64,
        description="Entry in clouds.yaml (OS_CLOUD) holding the tenancy's credentials; the site's "
        "explicit provider authenticates with it.",
    )
    region: str = Field(min_length=1, max_length=64, description="OpenStack region name, e.g. RegionOne.")
    external_network: str = Field(
        min_length=1,
        max_length=255,
        description="Name of the provider (external) network the router's gateway and floating IPs use.",
    )
    availability_zones: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=lambda: ["nova"],
        min_length=1,
        max_length=6,
        description="Nova availability zones instances may be spread across.",
    )
    ssh_public_key: SshPublicKey = Field(
        description="OpenSSH public key installed on every instance of the site (break-glass access)."
    )
    image: str = Field(
        default="Ubuntu-24.04",
        min_length=1,
        max_length=255,
        description="Glance image (name) of the site's nodes; RKE2 supports Ubuntu 24.04 LTS.",
    )
    gpu_flavors: dict[Annotated[str, Field(min_length=1, max_length=64)], GpuFlavorSpec] = Field(
        default_factory=dict,
        max_length=32,
        description="GPU flavors of this cloud beyond Meridian's table (components/spec/catalog.py).",
    )
    application_credential: ApplicationCredential | None = Field(
        default=None,
        description="Authenticate with this application credential; auth URL and the rest still come from "
        "the clouds.yaml entry.",
    )
    cluster_credential: ClusterCredential | None = Field(
        default=None,
        description="Application credential for the in-cluster OpenStack integration of the site's rke2 clusters "
        "(Cinder CSI volumes); required when the site runs rke2 clusters.",
    )
    load_balancer_provider: Literal["amphora", "ovn"] = Field(
        default="amphora",
        description="Octavia provider of the site's load balancers, sent explicitly so a cloud without it fails "
        "at the load balancer, not later. Only amphora is supported: see the validator for why not ovn.",
    )
    object_storage: S3EndpointSpec | None = Field(
        default=None,
        description="The site's S3-compatible object storage API and the project's keys for it; required for "
        "services that keep objects over S3 (MLflow's artifacts and database backups).",
    )
    magnum_management_cidrs: list[Ipv4Cidr] = Field(
        default_factory=list,
        max_length=16,
        description="Egress addresses of the cloud's Magnum management cluster (ask the cloud's operators). Its "
        "Cluster API controllers must reach every magnum cluster's API load balancer, so they join its allow-list; "
        "required on sites with magnum clusters.",
    )

    @model_validator(mode="after")
    def _amphora_only(self) -> OpenStackSettings:
        if self.load_balancer_provider == "ovn":
            # ovn-octavia-provider (10.0.0): allowed_cidrs raises UnsupportedOptionError, listener
            # timeouts are not applied, and released versions balance with SOURCE_IP_PORT only
            # (driver.py, common/constants.py OVN_NATIVE_LB_ALGORITHMS); amphora has no
            # SOURCE_IP_PORT (amphora_driver/v2/driver.py). No one configuration fits both.
            problems = CrossFieldError()
            problems.add(
                ("load_balancer_provider",),
                "the ovn Octavia provider refuses allowed_cidrs (the Kubernetes API allow-list) and "
                "LEAST_CONNECTIONS and ignores listener timeouts; Meridian's load balancers need amphora",
            )
            problems.raise_if_any()
        return self


def aws_partition(region: str) -> str:
    """The AWS partition of `region`: ARNs name it (`arn:aws-cn:...` in the Beijing and Ningxia regions)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class AwsSettings(SpecModel):
    """How to reach an AWS account and where the site lives in it."""

    account_id: str = Field(
        pattern=r"^[0-9]{12}$",
        description="12-digit AWS account ID; the site's provider refuses to act on any other account.",
    )
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", description="AWS region, e.g. eu-central-1.")
    availability_zones: list[Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$")]] = Field(
        min_length=2,
        max_length=6,
        description="Availability zones of the region to spread subnets over (two or more for HA).",
    )
    nat: Literal["single", "per-az"] = Field(
        default="per-az",
        description="NAT gateways: one per availability zone (zone-failure tolerant) or a single shared one (cheaper).",
    )
    profile: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Named AWS CLI profile for the site's provider; unset uses the ambient credential chain.",
    )

    @model_validator(mode="after")
    def _zones_in_region(self) -> AwsSettings:
        problems = CrossFieldError()
        seen: set[str] = set()
        for index, zone in enumerate(self.availability_zones):
            if not zone.startswith(self.region):
                problems.add(("availability_zones", index), f"zone {zone} is not in region {self.region}")
            if zone in seen:
                problems.add(("availability_zones", index), f"zone {zone} is listed twice")
            seen.add(zone)
        problems.raise_if_any()
        return self


class DnsSpec(SpecModel):
    """Name resolution for a site."""

    domain: str = Field(
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description="DNS domain the site's services are published under (e.g. bologna.eo4eu.eu).",
    )
    nameservers: list[Ipv4Address] = Field(
        default_factory=list,
        max_length=3,
        description="Resolvers handed to instances by DHCP (OpenStack); empty keeps the cloud's default. "
        "AWS VPCs always use the Amazon-provided resolver.",
    )


class FlavorSpec(SpecModel):
    """What one flavor or instance type of a site offers and costs (capacity and cost in PR reviews)."""

    vcpus: int | None = Field(default=None, ge=1, le=1024, description="vCPUs per instance.")
    memory_gib: float | None = Field(default=None, gt=0, le=65536, description="Memory per instance, GiB.")
    price_per_hour: float | None = Field(
        default=None, ge=0, le=100000, description="What one instance costs per hour, in the site's `currency`."
    )


class SiteSpec(SpecModel):
    """A site: exactly one of `openstack` or `aws`, plus its network and access rules."""

    openstack: OpenStackSettings | None = Field(default=None, description="Set for an OpenStack tenancy.")
    aws: AwsSettings | None = Field(default=None, description="Set for an AWS account/region.")
    cidr: Ipv4Cidr = Field(
        description="The site's private network (OpenStack subnet, AWS VPC). Must not overlap any other "
        "site of the project, so that interconnects and allow-lists naming it stay unambiguous."
    )
    admin_cidrs: list[Cidr] = Field(
        min_length=1,
        max_length=32,
        description="Networks allowed to reach SSH and the Kubernetes API. 0.0.0.0/0 and ::/0 are refused.",
    )
    dns: DnsSpec = Field(description="DNS domain and resolvers of the site.")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=16,
        description="Extra labels for this site's resources, merged over the project's labels "
        "(the automatic labels cannot be overridden).",
    )
    flavors: dict[Annotated[str, Field(min_length=1, max_length=64)], FlavorSpec] = Field(
        default_factory=dict,
        max_length=128,
        description="Sizes and prices of the site's flavors (OpenStack) or instance types (AWS: over the sizes "
        "Meridian knows, components/spec/catalog.py), for the capacity and cost a review shows; a flavor "
        "without a price is shown unpriced.",
    )
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = Field(
        default=None,
        description="ISO 4217 code of the site's prices (`flavors.*.price_per_hour`); default USD on AWS, EUR "
        "on OpenStack.",
    )

    @model_validator(mode="after")
    def _one_cloud(self) -> SiteSpec:
        if (self.openstack is None) == (self.aws is None):
            raise ValueError("set exactly one of 'openstack' or 'aws'")
        problems = CrossFieldError()
        for key in sorted(set(self.labels) & set(RESERVED_LABELS)):
            problems.add(("labels", key), "is set by Meridian itself and cannot be overridden")
        for index, cidr in enumerate(self.admin_cidrs):
            if ipaddress.ip_network(cidr).prefixlen == 0:
                problems.add(
                    ("admin_cidrs", index),
                    f"{cidr} would open SSH and the Kubernetes API to the whole internet; list your admin networks",
                )
        largest = 24 if self.openstack is not None else 20
        if ipaddress.ip_network(self.cidr).prefixlen > largest:
            # AWS VPCs are cut into 16 subnets (see AWS_VPC_BLOCKS); each must stay >= /24.
            problems.add(("cidr",), f"{self.cidr} is too small for an {self.kind} site: use /{largest} or larger")
        problems.raise_if_any()
        return self

    @property
    def kind(self) -> Literal["openstack", "aws"]:
        """Which cloud the site is on."""
        return "openstack" if self.openstack is not None else "aws"

    def gpu_flavor(self, flavor: str) -> GpuFlavor | None:
        """The GPUs of a flavor or instance type on this site, or None when it has none."""
        if self.aws is not None:
            return AWS_GPU_INSTANCES.get(flavor)
        assert self.openstack is not None
        own = self.openstack.gpu_flavors.get(flavor)
        return GpuFlavor(own.model, own.count) if own else OPENSTACK_GPU_FLAVORS.get(flavor)

    @property
    def region(self) -> str:
        """The cloud region of the site."""
        settings = self.openstack or self.aws
        assert settings is not None  # guaranteed by _one_cloud
        return settings.region


#: An AWS VPC is carved into this many equal blocks: private subnets take blocks 0-5 and
#: public ones blocks 8-13, by zone position. The split never depends on the number of
#: zones, so appending a zone never moves an existing subnet (that would replace nodes).
AWS_VPC_BLOCKS = 16


def aws_subnet_layout(vpc_cidr: str, zones: list[str]) -> dict[str, dict[str, str]]:
    """Carve a VPC into one private and one public subnet per zone: `{zone: {"private": .., "public": ..}}`.

    Private subnets carry the nodes; public ones hold NAT gateways and load balancers.
    """
    blocks = list(ipaddress.ip_network(vpc_cidr).subnets(prefixlen_diff=int(math.log2(AWS_VPC_BLOCKS))))
    half = AWS_VPC_BLOCKS // 2
    return {zone: {"private": str(blocks[i]), "public": str(blocks[half + i])} for i, zone in enumerate(zones)}
