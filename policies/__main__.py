"""Meridian's policy pack. Constructing PolicyPack starts the analyzer server and blocks: nothing else may."""

from meridian_policies import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Meridian guardrails for research platforms",
)
