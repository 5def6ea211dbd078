"""Mock outputs for pulumi-command resources (see scripts.mocks for the table formats).

A `command:local:Command` reports what its script printed. The readiness wait
(components/clusters/readiness.py) prints one line on success; its server URL comes from a
secret environment, so the mock answers with a fixed line rather than echo it.
"""

from __future__ import annotations

from typing import Any

from pulumi.runtime import MockResourceArgs

from ..mocks import CallBuilder, ResourceBuilder


def _local_command(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    return {"stdout": "ready", "stderr": ""}


RESOURCES: dict[str, ResourceBuilder] = {"command:local:Command": _local_command}
CALLS: dict[str, CallBuilder] = {}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}
