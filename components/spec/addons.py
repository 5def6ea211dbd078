"""Spec of the add-ons a cluster runs: ingress with certificates, JupyterHub, observability, GitOps.

Rules about one add-on live on its model; rules that need the cluster's pools
(`JupyterHubSpec.pool_problems`) are called by `ClusterSpec`, and rules that need the
site (a hostname inside the site's DNS zone) by `PlatformSpec`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from ..secrets import SecretRef
from .base import MIG_SLICE_PATTERN, HttpsUrl, Name, Source, SpecModel
from .errors import CrossFieldError, Path

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .clusters import NodePoolSpec

#: A DNS name of at least two labels (RFC 1123 labels, lowercase).
Hostname = Annotated[
    str,
    Field(
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
        max_length=253,
        description="A fully qualified DNS name in lowercase, e.g. hub.bologna.eo4eu.eu.",
    ),
]
#: A container image repository (registry/path), without tag or digest.
ImageName = Annotated[str, Field(pattern=r"^[a-z0-9]+([._/:-][a-z0-9]+)*$", max_length=255)]


#: The whole IPv4 internet, as an allow-list entry.
INTERNET = "0.0.0.0/0"


class CollectorToggle(SpecModel):
    """The cluster's observability collector, which follows the project's `observability` block by default."""

    enabled: bool | None = Field(
        default=None,
        description="Ship this cluster's metrics and logs to the project's central observability. Unset: on "
        "when the project declares `observability`; false leaves the cluster unobserved.",
    )


# -- ingress and certificates -------------------------------------------------------------------------


class AcmeSpec(SpecModel):
    """The ACME account cert-manager's ClusterIssuer uses (Let's Encrypt)."""

    email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        max_length=254,
        description="Contact address of the ACME account (expiry and policy notices).",
    )
    environment: Literal["staging", "production"] = Field(
        default="production",
        description="Let's Encrypt production (trusted certificates, strict rate limits) or staging (untrusted, "
        "for trying a new stack).",
    )
    challenge: Literal["http-01", "dns-01"] = Field(
        default="http-01",
        description="How Let's Encrypt checks the hostname is ours: http-01 (through the ingress, which must then "
        "admit the internet) or dns-01 (a TXT record in the site's Route53 zone; eks clusters only, and the "
        "ingress may admit only some sources).",
    )

    @property
    def issuer(self) -> str:
        """The ClusterIssuer's name."""
        return f"letsencrypt-{self.environment}"


class IngressSpec(SpecModel):
    """The cluster's ingress controller and cert-manager, with an ACME issuer for public hostnames."""

    enabled: bool = Field(
        default=True,
        description="Install the ingress controller and cert-manager on the cluster when it publishes a service "
        "(today: JupyterHub).",
    )
    allowed_sources: list[Source] = Field(
        default_factory=list,
        max_length=32,
        description="Who may reach the ingress load balancer: CIDRs (0.0.0.0/0 for the whole internet) or "
        "`site:<name>` for another site's egress addresses. Required when the cluster publishes a service.",
    )
    acme: AcmeSpec | None = Field(
        default=None, description="ACME account for certificates of public hostnames; without it, no TLS issuer."
    )


# -- JupyterHub ---------------------------------------------------------------------------------------


class ImageSpec(SpecModel):
    """A container image pinned by tag, and by digest where it is known."""

    name: ImageName = Field(description="Repository, e.g. quay.io/jupyter/scipy-notebook.")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="A pinned tag (never `latest`).")
    digest: str | None = Field(
        default=None, pattern=r"^sha256:[0-9a-f]{64}$", description="The image's sha256 digest, when known."
    )

    @model_validator(mode="after")
    def _pinned(self) -> ImageSpec:
        if self.tag == "latest":
            raise ValueError("pin a tag: `latest` moves under running servers")
        return self

    @property
    def reference(self) -> str:
        """`tag` or `tag@sha256:...`: z2jh builds `<name>:<tag>`, so a digest rides in the tag."""
        return self.tag if self.digest is None else f"{self.tag}@{self.digest}"


#: The eduPerson entitlement claim: group memberships at AARC identity providers (EGI Check-in), which
#: release it to clients that ask for the scope of the same name (AARC-G002; EGI Check-in docs, "Scopes").
ENTITLEMENT = "eduperson_entitlement"


def missing_entitlement_scope(groups_claim: str | None, scopes: Sequence[str]) -> str | None:
    """The problem of asking for the entitlements claim without its scope (None when there is none).

    Without the scope the claim never arrives: the login finds no groups and lets no group member in
    (oauthenticator 17.4.0 oauth2.py get_user_groups; oauth2-proxy's allowed groups alike). Shared
    by the hub's authenticator and the MLOps login.
    """
    if groups_claim == ENTITLEMENT and ENTITLEMENT not in scopes:
        return f"the {ENTITLEMENT} claim is released with the scope of that name: add it"
    return None


class AuthenticatorSpec(SpecModel):
    """How scientists log in: an OAuth2/OIDC identity provider (Keycloak, EGI Check-in) or GitHub."""

    kind: Literal["generic-oauth", "github"] = Field(
        description="generic-oauth (any OAuth2/OIDC provider: Keycloak, EGI Check-in) or github."
    )
    client_id: str = Field(min_length=1, max_length=256, description="The OAuth client's ID.")
    client_secret: SecretRef = Field(
        description="The OAuth client's secret: `config:<key>` (a secret stack config key) or "
        "`vault:<mount>/<path>#<field>`."
    )
    authorize_url: HttpsUrl | None = Field(default=None, description="generic-oauth: the authorization endpoint.")
    token_url: HttpsUrl | None = Field(default=None, description="generic-oauth: the token endpoint.")
    userdata_url: HttpsUrl | None = Field(default=None, description="generic-oauth: the userinfo endpoint.")
    username_claim: str = Field(
        default="preferred_username", min_length=1, max_length=64, description="generic-oauth: the username claim."
    )
    scope: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        max_length=16,
        description="OAuth scopes; default openid, profile, email, and eduperson_entitlement when that is the "
        "groups claim (generic-oauth), or read:org when organizations are allowed (github).",
    )
    groups_claim: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_:.-]{1,64}$",
        description="generic-oauth: the userinfo claim holding the user's groups (needed for allowed_groups and "
        "admin_groups), e.g. groups or eduperson_entitlement.",
    )
    allow_all: bool = Field(default=False, description="Let everyone with an account at the identity provider log in.")
    allowed_users: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=1000, description="Usernames allowed to log in."
    )
    admin_users: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=100, description="Usernames that administer the hub."
    )
    allowed_groups: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=100, description="generic-oauth: groups whose members may log in."
    )
    admin_groups: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=100, description="generic-oauth: groups whose members administer the hub."
    )
    allowed_organizations: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+(:[A-Za-z0-9_.-]+)?$")]] = Field(
        default_factory=list, max_length=100, description="github: organizations (or org:team) allowed to log in."
    )

    @model_validator(mode="after")
    def _complete(self) -> AuthenticatorSpec:
        problems = CrossFieldError()
        endpoints = ("authorize_url", "token_url", "userdata_url")
        if self.kind == "generic-oauth":
            for key in endpoints:
                if getattr(self, key) is None:
                    problems.add((key,), "generic-oauth needs the provider's endpoint here")
            # The default scopes include it (`scopes`); a list of the spec's own must too.
            missing = missing_entitlement_scope(self.groups_claim, self.scopes)
            if missing is not None:
                problems.add(("scope",), missing)
            if (self.allowed_groups or self.admin_groups) and self.groups_claim is None:
                # OAuthenticator 17 refuses group settings without the claim to read groups from
                # (oauthenticator 17.4.0 oauth2.py: allowed_groups/admin_groups need manage_groups).
                problems.add(("groups_claim",), "allowed_groups and admin_groups need the claim that holds groups")
        else:
            github_has_no = (*endpoints, "groups_claim", "allowed_groups", "admin_groups")
            for key in github_has_no:
                if key in self.model_fields_set:
                    problems.add((key,), "github takes no such setting (its endpoints and teams are fixed)")
        if self.kind != "github" and self.allowed_organizations:
            problems.add(("allowed_organizations",), "only github has organizations; use allowed_groups")
        admins = self.admin_users or self.admin_groups
        allowed = self.allow_all or self.allowed_users or self.allowed_groups or self.allowed_organizations
        if not admins and not allowed:
            # OAuthenticator 16+ lets nobody in unless something allows them (oauth2.py allow_all help).
            problems.add(
                ("allowed_users",),
                "nobody could log in or administer the hub: list allowed users, groups or organizations, and admins",
            )
        elif self.allow_all and not admins:
            problems.add(
                ("admin_users",),
                "allow_all lets everyone with an account at the identity provider in: name the hub's admins",
            )
        problems.raise_if_any()
        return self

    @property
    def scopes(self) -> list[str]:
        """The scopes asked of the provider."""
        if self.scope is not None:
            return list(self.scope)
        if self.kind == "generic-oauth":
            return ["openid", "profile", "email", *([ENTITLEMENT] if self.groups_claim == ENTITLEMENT else [])]
        # Reading organization and team membership needs read:org (oauthenticator github.py allowed_organizations).
        return ["read:org"] if self.allowed_organizations else []


class CullingSpec(SpecModel):
    """The idle culler: stops notebook servers nobody uses, so their nodes (and GPUs) are freed."""

    enabled: bool = Field(default=True, description="Stop idle servers.")
    timeout_minutes: int = Field(default=60, ge=5, le=7 * 24 * 60, description="Idle time before a server stops.")
    every_minutes: int = Field(default=10, ge=1, le=60, description="How often the culler looks.")
    max_age_hours: int = Field(
        default=0, ge=0, le=30 * 24, description="Stop servers older than this even when busy (0: never)."
    )
    disabled_because: str | None = Field(
        default=None,
        min_length=10,
        max_length=256,
        description="Why culling is off: required with enabled: false, so turning it off is a decision.",
    )

    @model_validator(mode="after")
    def _override(self) -> CullingSpec:
        if not self.enabled and self.disabled_because is None:
            raise ValueError(
                "culling off keeps idle servers (and their GPUs) forever: say why in disabled_because, or keep it on"
            )
        if self.enabled and self.disabled_because is not None:
            raise ValueError("disabled_because is only for enabled: false")
        if self.max_age_hours and self.max_age_hours * 60 <= self.timeout_minutes:
            raise ValueError("max_age_hours must be longer than timeout_minutes (or 0 for no maximum age)")
        return self


class StorageSpec(SpecModel):
    """A persistent volume size and storage class."""

    size_gb: int = Field(default=10, ge=1, le=10_000, description="Size of the volume in GiB.")
    storage_class: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
        description="StorageClass; unset: the cluster's default class.",
    )


class ProfileGpuSpec(SpecModel):
    """The GPUs a profile's server gets, from one GPU pool of the cluster."""

    pool: Name = Field(description="The GPU pool the server runs on.")
    count: int = Field(default=1, ge=1, le=64, description="GPUs (or MIG slices) per server; one on time-sliced pools.")
    slice: str | None = Field(
        default=None,
        pattern=MIG_SLICE_PATTERN,
        description="A MIG slice size the pool offers, e.g. 1g.10gb (MIG pools; required with the mixed strategy).",
    )


class ProfileSpec(SpecModel):
    """A server size scientists choose at login."""

    display_name: str = Field(min_length=1, max_length=64, description="What the profile is called in the list.")
    description: str = Field(default="", max_length=256, description="One line under the name.")
    default: bool = Field(default=False, description="Preselected in the list (at most one profile).")
    cpu: float = Field(ge=0.1, le=256, description="Guaranteed CPUs.")
    cpu_limit: float | None = Field(default=None, ge=0.1, le=256, description="CPU limit; default: cpu.")
    memory_gb: int = Field(ge=1, le=4096, description="Guaranteed memory in GiB.")
    memory_limit_gb: int | None = Field(default=None, ge=1, le=4096, description="Memory limit; default: memory_gb.")
    gpu: ProfileGpuSpec | None = Field(default=None, description="GPUs for the server.")
    image: ImageSpec | None = Field(default=None, description="The server image; default: the hub's image.")

    @model_validator(mode="after")
    def _limits(self) -> ProfileSpec:
        problems = CrossFieldError()
        if self.cpu_limit is not None and self.cpu_limit < self.cpu:
            problems.add(("cpu_limit",), f"is below the guaranteed cpu ({self.cpu})")
        if self.memory_limit_gb is not None and self.memory_limit_gb < self.memory_gb:
            problems.add(("memory_limit_gb",), f"is below the guaranteed memory_gb ({self.memory_gb})")
        problems.raise_if_any()
        return self


class JupyterHubSpec(SpecModel):
    """JupyterHub (zero-to-jupyterhub) for the project's scientists."""

    enabled: bool = Field(default=True, description="Install the hub on this cluster.")
    hostname: Hostname = Field(description="Public name of the hub, inside the site's DNS domain.")
    tls: bool = Field(
        default=True, description="Serve the hub over HTTPS with a certificate from the cluster's ACME issuer."
    )
    authenticator: AuthenticatorSpec = Field(description="How scientists log in.")
    image: ImageSpec = Field(
        default_factory=lambda: ImageSpec(name="quay.io/jupyterhub/k8s-singleuser-sample", tag="4.4.0"),
        description="The default server image (profiles may set their own).",
    )
    profiles: dict[Name, ProfileSpec] = Field(
        min_length=1, max_length=32, description="Server sizes scientists choose from, keyed by slug."
    )
    culling: CullingSpec = Field(default_factory=CullingSpec, description="The idle culler.")
    user_storage: StorageSpec = Field(default_factory=StorageSpec, description="Each user's home volume.")
    database: StorageSpec = Field(
        default_factory=lambda: StorageSpec(size_gb=1), description="The hub's database volume (sqlite)."
    )
    gpu_quota: dict[Annotated[str, Field(pattern=r"^nvidia\.com/[a-z0-9.-]+$")], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        max_length=16,
        description="Most of each GPU resource all servers together may request (e.g. nvidia.com/gpu: 4); "
        "unset: what the hub's pools offer at their max size.",
    )

    @model_validator(mode="after")
    def _one_default(self) -> JupyterHubSpec:
        defaults = [name for name, profile in self.profiles.items() if profile.default]
        if len(defaults) > 1:
            raise ValueError(f"at most one profile is the default (now: {', '.join(defaults)})")
        return self

    def pool_problems(self, pools: Mapping[str, NodePoolSpec], where: Path) -> list[tuple[Path, str]]:
        """Profiles and quotas against the cluster's pools: each GPU profile fits a pool's offer."""
        problems: list[tuple[Path, str]] = []
        gpu_pools = {name: pool for name, pool in pools.items() if pool.gpu is not None}
        for slug, profile in self.profiles.items():
            if profile.gpu is None:
                continue
            at = (*where, "profiles", slug, "gpu")
            if not gpu_pools:
                problems.append((at, "the cluster has no GPU pools: remove the gpu block or add a GPU pool"))
                continue
            found = profile_resource(profile.gpu, gpu_pools)
            if isinstance(found, tuple):
                problems.append(((*at, found[0]), found[1]))
        offered = {name for pool in gpu_pools.values() if pool.gpu for name in pool.gpu.resources()}
        for name in self.gpu_quota:
            if name not in offered:
                known = ", ".join(sorted(offered)) or "none"
                problems.append(((*where, "gpu_quota", name), f"no pool offers {name} (offered: {known})"))
        return problems


def profile_resource(gpu: ProfileGpuSpec, gpu_pools: Mapping[str, NodePoolSpec]) -> str | tuple[str, str]:
    """The extended resource a GPU profile requests, or (key, problem) when the pools cannot give it.

    What a pool's nodes advertise comes from `GpuSpec.resources()`: nvidia.com/gpu for whole GPUs,
    time-sliced shares and MIG slices under the single strategy; nvidia.com/mig-<slice> under the
    mixed strategy (GPU Operator docs, "GPU Operator with MIG": strategies).
    """
    pool = gpu_pools.get(gpu.pool)
    if pool is None or pool.gpu is None:
        known = ", ".join(sorted(gpu_pools))
        return "pool", f"'{gpu.pool}' is not a GPU pool of the cluster (GPU pools: {known})"
    spec = pool.gpu
    offers = spec.resources()
    layout = spec.mig_layout or {}
    if gpu.slice is not None:
        if spec.mig is None:
            return "slice", f"pool '{gpu.pool}' is not partitioned with MIG; remove slice"
        if gpu.slice not in layout:
            return "slice", f"pool '{gpu.pool}' offers no {gpu.slice} slice (its slices: {', '.join(sorted(layout))})"
        resource = (
            "nvidia.com/gpu" if spec.mig.strategy == "single" else f"nvidia.com/mig-{gpu.slice.replace('+me', '.me')}"
        )
    elif spec.mig is not None and spec.mig.strategy == "mixed":
        return "slice", f"pool '{gpu.pool}' offers several MIG slices: choose one ({', '.join(sorted(layout))})"
    else:
        resource = "nvidia.com/gpu"
    per_node = offers[resource]
    if spec.sharing == "time-sliced" and gpu.count > 1:
        # Meridian's device plugin configuration refuses such requests (gpu_operator.py
        # `failRequestsGreaterThanOne`; GPU Operator docs, "Time-Slicing GPUs in Kubernetes"): the
        # pod would fail admission on every spawn; two shares of one GPU give no more of it anyway.
        return "count", f"pool '{gpu.pool}' shares its GPUs by time-slicing: a server gets one share, not {gpu.count}"
    if gpu.count > per_node:
        return "count", f"a node of pool '{gpu.pool}' offers {per_node} {resource}, fewer than {gpu.count}"
    return resource


class AddonsSpec(SpecModel):
    """Add-ons installed on a cluster through its Kubernetes provider."""

    ingress: IngressSpec = Field(default_factory=IngressSpec, description="Ingress controller and cert-manager.")
    jupyterhub: JupyterHubSpec | None = Field(default=None, description="JupyterHub for scientists.")
    observability: CollectorToggle = Field(
        default_factory=lambda: CollectorToggle(),
        description="The cluster's collector: metrics and logs shipped to the project's central observability.",
    )
    delivery: Literal["direct", "gitops"] = Field(
        default="direct",
        description="How the cluster's charts are installed: direct (a Helm release through the cluster's provider) "
        "or gitops (by the project's GitOps engine, from objects on its management cluster that select the "
        "cluster by its labels; today the GPU Operator's chart, README 'GitOps').",
    )

    @property
    def observed(self) -> bool:
        """Whether the cluster's collector is on (PlatformSpec settles an unset toggle from the project)."""
        return self.observability.enabled is True

    @property
    def hub(self) -> JupyterHubSpec | None:
        """The hub when it is enabled."""
        return self.jupyterhub if self.jupyterhub is not None and self.jupyterhub.enabled else None

    @model_validator(mode="after")
    def _tls_issuer(self) -> AddonsSpec:
        hub = self.hub
        problems = CrossFieldError()
        if hub is not None and not self.ingress.enabled:
            problems.add(("ingress", "enabled"), "the hub is published through the ingress add-on: keep it on")
        elif hub is not None and not self.ingress.allowed_sources:
            problems.add(
                ("ingress", "allowed_sources"),
                "the hub is published: list who may reach it (CIDRs, site:<name>, or 0.0.0.0/0 for the internet)",
            )
        if (
            self.ingress.acme is not None
            and self.ingress.acme.challenge == "http-01"
            and self.ingress.allowed_sources
            and INTERNET not in self.ingress.allowed_sources
        ):
            # HTTP-01: Let's Encrypt connects to port 80 from addresses it does not publish, and
            # they change (letsencrypt.org/docs/faq, validation IP addresses); cert-manager's
            # self-check comes from the cluster's own egress. A load balancer that admits only
            # some sources never gets a certificate.
            problems.add(
                ("ingress", "acme"),
                "ACME HTTP-01 validation comes from Let's Encrypt's unpublished addresses: an ingress that "
                f"admits only some sources never gets a certificate; allow {INTERNET}, or use challenge: dns-01 "
                "(eks clusters)",
            )
        if hub is not None and hub.tls and self.ingress.acme is None:
            problems.add(
                ("jupyterhub", "tls"),
                "TLS needs an issuer: give the ingress add-on its ACME account (addons.ingress.acme)",
            )
        problems.raise_if_any()
        return self
