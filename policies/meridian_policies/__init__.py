"""Meridian's policies, grouped by concern; each module exposes POLICIES."""

from pulumi_policy import Policy

from . import clouds, governance, gpu, kubernetes, security

PACK_NAME = "meridian"
POLICIES: list[Policy] = [
    *security.POLICIES,
    *clouds.POLICIES,
    *kubernetes.POLICIES,
    *gpu.POLICIES,
    *governance.POLICIES,
]
