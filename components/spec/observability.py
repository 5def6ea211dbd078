"""Spec of a project's observability: one central view, a collector on every cluster, the alerts.

`PlatformSpec.observability` names the cluster that runs the central stack (Prometheus with the
remote-write receiver, Alertmanager, Grafana, Loki), its public hostnames, retention, receivers
and alert thresholds. Every other cluster's collector ships to it (README, "Observability").
Rules that need the clusters and sites (the central cluster exists, has an ingress with an
ACME issuer, hostnames inside its site's zone) are `PlatformSpec`'s.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..secrets import SecretRef
from .addons import AuthenticatorSpec, Hostname
from .base import EMAIL_PATTERN, Name, SpecModel
from .errors import CrossFieldError

#: Severities the alert rules carry (components/addons/alerts.py); receivers subscribe to them.
Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")


class AlertThresholds(SpecModel):
    """When each alert fires (components/addons/alerts.py); defaults suit a research platform."""

    site_stale_minutes: int = Field(
        default=10, ge=2, le=1440, description="No samples from a cluster's collector for this long: SiteStale."
    )
    remote_write_lag_seconds: int = Field(
        default=300,
        ge=30,
        le=86_400,
        description="A collector's newest sample sent is this far behind its newest sample read: RemoteWriteLagging.",
    )
    remote_write_failure_percent: int = Field(
        default=5, ge=1, le=100, description="Share of samples a collector failed to send, over 15 minutes."
    )
    node_not_ready_minutes: int = Field(default=10, ge=1, le=1440, description="A node not Ready for this long.")
    crash_restarts: int = Field(
        default=5, ge=1, le=100, description="Container restarts within 15 minutes that count as crash-looping."
    )
    volume_full_percent: int = Field(
        default=85, ge=50, le=99, description="A persistent volume this full (bytes or inodes): VolumeFilling."
    )
    gpu_memory_percent: int = Field(
        default=95, ge=50, le=100, description="Framebuffer memory in use on a GPU for 15 minutes: GpuMemoryPressure."
    )
    certificate_expiry_days: int = Field(
        default=14,
        ge=1,
        le=60,
        description="A certificate (cert-manager's, or any public endpoint's as probed) expiring within this many "
        "days. cert-manager renews Let's Encrypt certificates 30 days before expiry, so firing means renewal failed.",
    )
    hub_down_minutes: int = Field(default=5, ge=1, le=60, description="JupyterHub unreachable for this long.")


class ReceiverSpec(SpecModel):
    """Where alerts go: e-mail, a webhook, or a Slack-compatible incoming webhook (Slack, Mattermost, Matrix)."""

    kind: Literal["email", "webhook", "slack"] = Field(description="email, webhook or slack.")
    severities: list[Severity] = Field(
        default_factory=lambda: list(SEVERITIES),
        min_length=1,
        max_length=2,
        description="Which alerts this receiver gets.",
    )
    to: list[Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]] = Field(
        default_factory=list, max_length=32, description="email: recipients."
    )
    sender: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=254, description="email: From address.")
    smarthost: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?:[0-9]{1,5}$",
        description="email: the SMTP relay as host:port (STARTTLS is required).",
    )
    username: str | None = Field(default=None, min_length=1, max_length=256, description="email: SMTP user.")
    password: SecretRef | None = Field(default=None, description="email: the SMTP user's password (secret reference).")
    url: SecretRef | None = Field(
        default=None,
        description="webhook and slack: the endpoint URL as a secret reference (incoming-webhook URLs are "
        "credentials).",
    )
    channel: str | None = Field(
        default=None, pattern=r"^[#@]?[A-Za-z0-9_.-]{1,80}$", description="slack: the channel, when the hook allows."
    )

    @model_validator(mode="after")
    def _complete(self) -> ReceiverSpec:
        problems = CrossFieldError()
        email_keys = ("to", "sender", "smarthost", "username", "password")
        if self.kind == "email":
            for key in ("to", "sender", "smarthost"):
                if not getattr(self, key):
                    problems.add((key,), "an e-mail receiver needs it")
            if self.username is not None and self.password is None:
                problems.add(("password",), "the SMTP user needs its password (a secret reference)")
            for key in ("url", "channel"):
                if key in self.model_fields_set:
                    problems.add((key,), "e-mail receivers take no such setting")
        else:
            if self.url is None:
                problems.add(("url",), f"a {self.kind} receiver needs its endpoint URL (a secret reference)")
            for key in email_keys:
                if key in self.model_fields_set:
                    problems.add((key,), f"{self.kind} receivers take no such setting")
            if self.kind == "webhook" and self.channel is not None:
                problems.add(("channel",), "webhook receivers take no channel")
        if len(set(self.severities)) < len(self.severities):
            problems.add(("severities",), "names a severity twice")
        problems.raise_if_any()
        return self


class RetentionSpec(SpecModel):
    """How long the central store keeps what the sites send."""

    metrics_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days of metrics kept in object storage (Thanos, queried through Grafana like the recent ones).",
    )
    local_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="Days of metrics the central Prometheus also keeps on its volume (fast queries, and the "
        "window for a site's late samples).",
    )
    logs_days: int = Field(default=30, ge=1, le=3650, description="Days of logs Loki keeps in object storage.")
    metrics_storage_gb: int = Field(
        default=100,
        ge=10,
        le=16_384,
        description="The central Prometheus's volume for local_days (also caps it by size).",
    )


class CentralSpec(SpecModel):
    """The central stack: Prometheus (remote-write receiver), Alertmanager, Grafana and Loki on one cluster."""

    cluster: Name = Field(description="The project's cluster that runs the central stack.")
    grafana_hostname: Hostname = Field(description="Grafana's public name (login with the project's OIDC).")
    metrics_hostname: Hostname = Field(description="Where collectors remote-write metrics (TLS, basic auth).")
    logs_hostname: Hostname = Field(description="Where collectors push logs to Loki (TLS, basic auth).")
    login: AuthenticatorSpec = Field(
        description="Grafana's login: the project's OAuth2/OIDC provider or GitHub (admins get Grafana's Admin role)."
    )


class ObservabilitySpec(SpecModel):
    """A project's observability: the central stack, what every collector buffers, the alerts and their receivers."""

    central: CentralSpec = Field(description="The cluster and endpoints of the central stack.")
    push_password: SecretRef = Field(
        description="The password collectors authenticate to the central endpoints with (user: the project name), "
        "as a secret reference. Rotate it here; every collector and the endpoints follow."
    )
    buffer_minutes: int = Field(
        default=120,
        ge=10,
        le=2880,
        description="How long a central outage the collectors survive without losing data: their write-ahead "
        "logs keep this much, and the central store accepts samples this old.",
    )
    retention: RetentionSpec = Field(default_factory=RetentionSpec, description="What the central store keeps.")
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds, description="When the alerts fire.")
    receivers: dict[Name, ReceiverSpec] = Field(
        min_length=1, max_length=16, description="Where alerts go, keyed by name."
    )

    @model_validator(mode="after")
    def _buffer_fits(self) -> ObservabilitySpec:
        problems = CrossFieldError()
        # metrics_days is at least local_days (below), so the central volume's days are the ones to check.
        for key in ("local_days", "logs_days"):
            if getattr(self.retention, key) * 24 * 60 < self.buffer_minutes:
                problems.add(
                    ("retention", key),
                    f"is shorter than the collectors' buffer ({self.buffer_minutes} minutes): data a collector "
                    "sends after an outage would already be past retention",
                )
        if self.retention.local_days > self.retention.metrics_days:
            problems.add(
                ("retention", "local_days"),
                f"is longer than metrics_days ({self.retention.metrics_days}): metrics are kept in object storage for "
                "metrics_days, on the central volume for local_days of those",
            )
        problems.raise_if_any()
        return self
