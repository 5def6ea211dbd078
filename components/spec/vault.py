"""Spec of how a stack reads Vault: the auth method, the namespace, and what TLS settings it may take.

`PlatformSpec.vault` is optional; without it Meridian logs in with a token (`VAULT_TOKEN`, else
the token file `~/.vault-token`) and refuses the TLS overrides of the environment. The server's
address is always `VAULT_ADDR`: where Vault is depends on where the run happens (a CI runner,
an operator's laptop), what it may do is the stack's (README, "Secrets").
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import HttpsUrl, Source, SpecModel
from .errors import CrossFieldError

#: An environment variable's name (POSIX portable: letters, digits, underscore; not a digit first).
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
#: A Vault auth mount path or a role name (Vault accepts more; these are the characters its
#: paths are safe with in a URL without escaping).
VAULT_PATH = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
VAULT_NAME = r"^[A-Za-z0-9_.@-]{1,128}$"
#: Where a Kubernetes pod finds its service account's token (Kubernetes docs, "Service account
#: token volume projection": the kubelet mounts it there by default).
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class VaultAuthSpec(SpecModel):
    """How a run logs in to Vault: once per run, the token kept in memory only."""

    method: Literal["token", "approle", "jwt", "kubernetes"] = Field(
        default="token",
        description="token: VAULT_TOKEN or ~/.vault-token; approle: a role ID and secret ID; jwt: a CI job's "
        "identity token (GitLab CI id_tokens, GitHub Actions OIDC); kubernetes: the pod's service account.",
    )
    mount: str | None = Field(
        default=None,
        pattern=VAULT_PATH,
        max_length=128,
        description="The auth method's mount path (default: the method's name: approle, jwt, kubernetes).",
    )
    role: str | None = Field(
        default=None, pattern=VAULT_NAME, description="The role to log in as (jwt and kubernetes; required there)."
    )
    role_id_env: str = Field(
        default="VAULT_ROLE_ID", pattern=ENV_NAME, description="approle: the variable holding the role ID."
    )
    secret_id_env: str = Field(
        default="VAULT_SECRET_ID",
        pattern=ENV_NAME,
        description="approle: the variable holding the secret ID (unless secret_id_file is set).",
    )
    secret_id_file: str | None = Field(
        default=None,
        max_length=4096,
        description="approle: a file holding the secret ID (a response-wrapped delivery, a mounted Secret).",
    )
    token_source: Literal["env", "github-actions"] = Field(
        default="env",
        description="jwt: where the identity token comes from: a variable (token_env; GitLab CI `id_tokens`) or "
        "GitHub Actions' OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL, the job needs `id-token: write`).",
    )
    token_env: str = Field(
        default="VAULT_ID_TOKEN", pattern=ENV_NAME, description="jwt with token_source env: the variable."
    )
    audience: str | None = Field(
        default=None,
        max_length=256,
        description="jwt with token_source github-actions: the audience to request (the role's bound_audiences).",
    )
    token_file: str = Field(
        default=SERVICE_ACCOUNT_TOKEN,
        max_length=4096,
        description="kubernetes: the service account token file.",
    )

    @model_validator(mode="after")
    def _role_where_needed(self) -> VaultAuthSpec:
        problems = CrossFieldError()
        if self.method in ("jwt", "kubernetes") and self.role is None:
            problems.add(("role",), f"the {self.method} auth method logs in as a role: name it")
        if self.method == "jwt" and self.token_source == "github-actions" and self.audience is None:
            problems.add(
                ("audience",), "GitHub Actions issues identity tokens for an audience: name the role's bound audience"
            )
        problems.raise_if_any()
        return self

    @property
    def mount_path(self) -> str:
        """The auth mount, defaulting to the method's name as Vault does when enabling it."""
        return self.mount or self.method


class VaultTlsSpec(SpecModel):
    """Which TLS overrides from the environment a run may take (each is refused unless allowed here)."""

    allow_ca_from_environment: bool = Field(
        default=False,
        description="Trust the CA in VAULT_CACERT / VAULT_CAPATH (a site's private CA). Off: either set is an error, "
        "so a variable on a runner cannot change whom the run trusts with its credentials.",
    )
    allow_skip_verify: bool = Field(
        default=False,
        description="Honour VAULT_SKIP_VERIFY (no certificate check at all; a lab's self-signed Vault). Off: set is "
        "an error.",
    )


class VaultWriteBackSpec(SpecModel):
    """Where `pulumi up` stores the credentials the platform generates (components/writeback.py)."""

    mount: str = Field(pattern=VAULT_PATH, max_length=128, description="The KV version 2 mount written to.")
    path: str = Field(
        pattern=VAULT_PATH,
        max_length=256,
        description="The prefix inside the mount: <path>/clusters/<cluster>/kubeconfig, "
        "<path>/clusters/<cluster>/jupyterhub, <path>/observability/grafana.",
    )


class VaultInClusterSpec(SpecModel):
    """Secrets read by the clusters themselves, at run time (components/addons/external_secrets.py).

    Every cluster gets a Kubernetes auth mount of its own in Vault (its API address and CA), a
    role bound to one service account of the External Secrets Operator, and a ClusterSecretStore
    that logs in with it. The role's policy reads `<mount>/<path>/*` and nothing else.
    """

    address: HttpsUrl = Field(
        description="Vault's URL as the clusters' pods reach it (the run's VAULT_ADDR may be another way in)."
    )
    egress: list[Source] = Field(
        min_length=1,
        max_length=16,
        description="Where Vault's own calls to each cluster's API come from (it asks the API to review the "
        "service account tokens it is shown): CIDRs, or `site:<name>` where Vault runs on a site of the project. "
        "Every cluster's API allow-list admits them.",
    )
    mount: str = Field(pattern=VAULT_PATH, max_length=128, description="The KV mount the clusters read.")
    kv_version: Literal[1, 2] = Field(
        default=2,
        description="The mount's KV version, which the policy's paths and the store's protocol depend on (the "
        "offline plan cannot ask Vault; `meridian plan --vault` checks it).",
    )
    path: str = Field(
        pattern=VAULT_PATH,
        max_length=256,
        description="The project's prefix inside the mount: the clusters read `<path>/*`, nothing else.",
    )
    auth_mount_prefix: str = Field(
        default="kubernetes",
        pattern=r"^[a-z0-9][a-z0-9-]{0,40}$",
        description="Each cluster's auth mount is `<prefix>-<project>-<cluster>` (not nested under an existing "
        "`kubernetes` mount, which Vault would refuse).",
    )
    ca_bundle: str | None = Field(
        default=None,
        max_length=65536,
        pattern=r"^-----BEGIN CERTIFICATE-----",
        description="PEM CA bundle the pods verify Vault's certificate with, where a private CA signed it "
        "(default: the operator image's public roots).",
    )
    refresh_interval: str = Field(
        default="1h",
        pattern=r"^([0-9]+(s|m|h))+$",
        description="How often an ExternalSecret reads Vault again: a rotated secret reaches its Kubernetes Secret "
        "within it, and a pod that reads it from its environment at its next restart.",
    )

    @model_validator(mode="after")
    def _path_inside_the_mount(self) -> VaultInClusterSpec:
        # ESO strips a leading `<mount>/` from a key before reading (providers/v1/vault/client_get.go
        # buildPath): a prefix starting with the mount's name would be read elsewhere than the policy grants.
        if self.path == self.mount or self.path.startswith(f"{self.mount}/"):
            problems = CrossFieldError()
            problems.add(
                ("path",),
                f"a prefix starting with the mount's name ({self.mount}/) is read by the External Secrets Operator "
                "without it: name the path inside the mount",
            )
            problems.raise_if_any()
        return self


class VaultSpec(SpecModel):
    """How the stack reads its `vault:` references."""

    auth: VaultAuthSpec = Field(default_factory=VaultAuthSpec, description="How a run logs in.")
    namespace: str | None = Field(
        default=None,
        pattern=VAULT_PATH,
        max_length=256,
        description="The Vault namespace (Enterprise, OpenBao) every reference is read in; default VAULT_NAMESPACE.",
    )
    tls: VaultTlsSpec = Field(default_factory=VaultTlsSpec, description="TLS overrides a run may take.")
    write_back: VaultWriteBackSpec | None = Field(
        default=None,
        description="Store the credentials the platform generates (admin kubeconfigs, Grafana's admin, the hubs' "
        "tokens) in Vault KV, as resources `pulumi up` writes and preview shows. Off unless set; needs token or "
        "jwt auth.",
    )
    in_cluster: VaultInClusterSpec | None = Field(
        default=None,
        description="Let every cluster read the project's secrets from Vault at run time: the External Secrets "
        "Operator with a ClusterSecretStore, and the Vault side (a Kubernetes auth mount, a policy, a role) as "
        "resources `pulumi up` writes. Off unless set; needs token or jwt auth.",
    )

    @model_validator(mode="after")
    def _write_back_login(self) -> VaultSpec:
        # The Vault provider logs in by itself; from the environment only for a token (VAULT_TOKEN)
        # or a JWT (TERRAFORM_VAULT_AUTH_JWT). AppRole and Kubernetes logins go through its generic
        # `auth_login`, whose parameters (the secret ID, the service account token) would be kept
        # in the stack's state and replayed on later runs (terraform-provider-vault auth_generic.go).
        if self.auth.method in ("approle", "kubernetes"):
            problems = CrossFieldError()
            for key in ("write_back", "in_cluster"):
                if getattr(self, key) is not None:
                    problems.add(
                        (key,),
                        f"the Vault provider cannot log in with {self.auth.method} without keeping its credentials "
                        f"in the stack's state: use token or jwt auth for {key}",
                    )
            problems.raise_if_any()
        return self

    @property
    def provider_needed(self) -> bool:
        """Whether `pulumi up` writes to Vault (write-back, the clusters' auth mounts and role)."""
        return self.write_back is not None or self.in_cluster is not None
