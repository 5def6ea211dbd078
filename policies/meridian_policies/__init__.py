"""Meridian's policies, grouped by concern; each module exposes POLICIES."""

from typing import Any

from pulumi_policy import EnforcementLevel, Policy

# common first: it puts the repository root on sys.path for the modules that read facts from
# components/ (clouds, gpu, kubernetes), whatever order the rest is imported in.
from . import common  # noqa: F401  # isort: skip
from . import clouds, governance, gpu, kubernetes, security

PACK_NAME = "meridian"
POLICIES: list[Policy] = [
    *security.POLICIES,
    *clouds.POLICIES,
    *kubernetes.POLICIES,
    *gpu.POLICIES,
    *governance.POLICIES,
]

#: The PolicyPack's arguments, in one place: the pack's __main__.py and the gate's in-process
#: mode for mutation testing (scripts/gate.py) build the same analyzer from them.
PACK: dict[str, Any] = {
    "name": PACK_NAME,
    "policies": POLICIES,
    "enforcement_level": EnforcementLevel.MANDATORY,
    "description": "Meridian guardrails for research platforms",
}
