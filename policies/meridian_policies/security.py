"""security policies (being written)."""

from pulumi_policy import Policy

POLICIES: list[Policy] = []
