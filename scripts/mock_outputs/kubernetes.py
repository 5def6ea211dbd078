"""Mock outputs for the kubernetes area (see scripts.mocks for the table formats)."""

from __future__ import annotations

from typing import Any

from ..mocks import CallBuilder, ResourceBuilder

RESOURCES: dict[str, ResourceBuilder] = {}
CALLS: dict[str, CallBuilder] = {}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}

__all__ = ["AWS_IDS", "CALLS", "RESOURCES", "Any"]
