"""Governance: who pays (tags), where it runs (regions, flavors), what must survive (protection)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, Severity

from .common import resource_policy


def _explicit_provider(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # random and tls run locally: no credentials, no region, nothing ambient to pick up.
    if args.resource_type.startswith(("pulumi:providers:", "random:", "tls:")):
        return
    provider = args.provider
    if provider is None or provider.name.startswith("default"):
        report("uses the default provider: credentials and region would come from the ambient environment", None)


POLICIES = [
    resource_policy(
        "explicit-provider",
        "Every cloud and Kubernetes resource goes through an explicit provider, never the ambient default.",
        _explicit_provider,
        severity=Severity.HIGH,
        remediation="Pass the site's or cluster's provider in ResourceOptions(provider=...).",
        level=EnforcementLevel.ADVISORY,
    ),
]
