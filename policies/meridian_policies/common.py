"""Helpers every policy module shares: one way to read properties, tags, workloads and ports."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

# The Pulumi CLI starts the pack as its own program with cwd policies/, where the repository's
# packages are importable only if Meridian happens to be installed into the virtualenv. Facts
# the program and the pack share (admin ports, the GPU catalogue) have one source in
# components/ (plain data, no provider SDK), so put the repository root on the path rather
# than copy them here.
_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.append(str(_REPO))

# mypy checks the pack from policies/ (its __main__ would clash with the program's), where the
# repository root is not on its search path.
from components.ports import ADMIN_PORTS as ADMIN_PORTS  # type: ignore[import-not-found]  # noqa: E402

# mypy checks the pack from policies/ (its __main__ would clash with the program's), where the
# repository root is not on its search path.

EVERYWHERE = ("0.0.0.0/0", "::/0")

Validate = Callable[[ResourceValidationArgs, ReportViolation], None]
ValidateStack = Callable[[StackValidationArgs, ReportViolation], None]


def _metadata(
    severity: Severity, remediation: str, level: EnforcementLevel, config: dict[str, dict[str, Any]] | None
) -> dict[str, Any]:
    """The metadata every Meridian policy carries (config: JSON-schema properties with defaults)."""
    return {
        "enforcement_level": level,
        "severity": severity,
        "remediation_steps": remediation,
        "config_schema": PolicyConfigSchema(properties=config) if config else None,
    }


def resource_policy(
    name: str,
    description: str,
    validate: Validate,
    *,
    severity: Severity,
    remediation: str,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    config: dict[str, dict[str, Any]] | None = None,
) -> ResourceValidationPolicy:
    """A resource policy with every piece of metadata Meridian requires."""
    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, **_metadata(severity, remediation, level, config)
    )


def stack_policy(
    name: str,
    description: str,
    validate: ValidateStack,
    *,
    severity: Severity,
    remediation: str,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    config: dict[str, dict[str, Any]] | None = None,
) -> StackValidationPolicy:
    """A stack policy with every piece of metadata Meridian requires."""
    return StackValidationPolicy(
        name=name, description=description, validate=validate, **_metadata(severity, remediation, level, config)
    )


def get(props: Any, *path: str | int, default: Any = None) -> Any:
    """props[path...] or `default` where any step is missing (unknowns still raise, as pulumi_policy intends)."""
    value = props
    for step in path:
        if isinstance(step, int):
            # Lists reach policies as pulumi_policy's proxies: Sequences, not lists.
            if not isinstance(value, Sequence) or isinstance(value, str) or step >= len(value):
                return default
            value = value[step]
        else:
            if not isinstance(value, Mapping) or step not in value:
                return default
            value = value[step]
    return default if value is None else value


def is_everywhere(cidr: str | None) -> bool:
    """Whether a CIDR is the whole IPv4 or IPv6 internet (a missing source counts as everywhere)."""
    if cidr is None:
        return True
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def port_range_covers(first: Any, last: Any, port: int) -> bool:
    """Whether [first, last] includes `port`; an absent range means every port."""
    if first in (None, "", 0, -1) and last in (None, "", 0, -1):
        return True
    low = int(first if first not in (None, "") else 0)
    high = int(last if last not in (None, "") else 65535)
    return low <= port <= high


def tag_map(resource_type: str, props: Any) -> dict[str, str] | None:
    """Tags as a map: AWS `tags` maps as they are, OpenStack `key=value` strings split; None when absent."""
    tags = get(props, "tags")
    if tags is None:
        return None
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    pairs: dict[str, str] = {}
    for tag in tags:
        key, _, value = str(tag).partition("=")
        pairs[key] = value
    return pairs


#: Kubernetes kinds that carry a pod template, and where it sits.
POD_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def pod_spec(resource_type: str, props: Any) -> Mapping[str, Any] | None:
    """The pod spec of a workload resource, or None for anything else."""
    path = POD_PATHS.get(resource_type)
    if path is None:
        return None
    spec = get(props, *path)
    return spec if isinstance(spec, Mapping) else None


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every container of a pod spec, init containers included."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, Mapping):
                yield container


def namespace_of(props: Any) -> str:
    """The namespace a Kubernetes object is created in ("default" when unset)."""
    return str(get(props, "metadata", "namespace", default="default"))


def items(value: Any) -> list[Any]:
    """A list input as a Python list (proxied lists are Sequences, not lists); [] when absent."""
    if value is None or isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    return list(value)


def list_setting(default: list[Any], description: str, item: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON schema of a list-valued policy setting (strings unless `item` says otherwise)."""
    return {
        "type": "array",
        "items": item or {"type": "string", "minLength": 1},
        "default": default,
        "description": description,
    }


def config_strings(config: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    """A list-of-strings setting (`default` when absent or of the wrong shape)."""
    value = config.get(key)
    if value is None or isinstance(value, str) or not isinstance(value, Sequence):
        return list(default)
    return [str(entry) for entry in value]
