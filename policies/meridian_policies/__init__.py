"""Meridian's policies, grouped by concern; each module exposes POLICIES."""

from pulumi_policy import Policy

from . import governance, gpu, kubernetes, security

PACK_NAME = "meridian"
POLICIES: list[Policy] = [*security.POLICIES, *kubernetes.POLICIES, *gpu.POLICIES, *governance.POLICIES]
