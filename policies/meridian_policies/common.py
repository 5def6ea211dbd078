"""Helpers every policy module shares: one way to read properties, tags, workloads and ports.

Violations are reported as `report(message, None)`: pulumi_policy's `ReportViolation` type
takes the urn positionally (mypy refuses a call without it), while the callback the analyzer
passes defaults it to None, so dropping the argument is a mutation no test can observe. Each
such call opens with `report(  # pragma: no mutate - ...` on its own line: the pragma covers
the call itself and the message lines below it are still mutated.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

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
from components.workloads import POD_SPEC_PATHS  # type: ignore[import-not-found]  # noqa: E402

# mypy checks the pack from policies/ (its __main__ would clash with the program's), where the
# repository root is not on its search path.

EVERYWHERE = ("0.0.0.0/0", "::/0")

Validate = Callable[[ResourceValidationArgs, ReportViolation], None]
ValidateStack = Callable[[StackValidationArgs, ReportViolation], None]


class PolicyMetadata(TypedDict, total=False):
    """The metadata every Meridian policy carries (config: JSON-schema properties with defaults)."""

    severity: Required[Severity]
    remediation: Required[str]
    level: EnforcementLevel
    config: dict[str, dict[str, Any]] | None


def _metadata(
    *,
    severity: Severity,
    remediation: str,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    config: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """PolicyMetadata as the pulumi_policy constructors take it (mandatory unless `level` says otherwise)."""
    return {
        "enforcement_level": level,
        "severity": severity,
        "remediation_steps": remediation,
        "config_schema": PolicyConfigSchema(properties=config) if config else None,
    }


def resource_policy(
    name: str, description: str, validate: Validate, **metadata: Unpack[PolicyMetadata]
) -> ResourceValidationPolicy:
    """A resource policy with every piece of metadata Meridian requires."""
    return ResourceValidationPolicy(name=name, description=description, validate=validate, **_metadata(**metadata))


def stack_policy(
    name: str, description: str, validate: ValidateStack, **metadata: Unpack[PolicyMetadata]
) -> StackValidationPolicy:
    """A stack policy with every piece of metadata Meridian requires."""
    return StackValidationPolicy(name=name, description=description, validate=validate, **_metadata(**metadata))


#: The GitOps engines' objects that install Helm charts (components/gitops.py): Fleet's HelmOp
#: (`spec.helm`), Sveltos's ClusterProfile (`spec.helmCharts[]`).
HELMOP = "kubernetes:fleet.cattle.io/v1alpha1:HelmOp"
CLUSTER_PROFILE = "kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile"


def profile_chart(chart: Any) -> str:
    """The chart of a ClusterProfile's `helmCharts` entry: `chartName` is `<repositoryName>/<chart>`."""
    return str(get(chart, "chartName", default="")).rpartition("/")[2]


def get(props: Any, *path: str, default: Any = None) -> Any:
    """props[path...] or `default` where any step is missing (unknowns still raise, as pulumi_policy intends)."""
    value = props
    for step in path:
        if not isinstance(value, Mapping) or step not in value:
            return default
        value = value[step]
    return default if value is None else value


def is_everywhere(cidr: str) -> bool:
    """Whether a source CIDR is the whole IPv4 or IPv6 internet: prefix length 0, whatever the address.

    The prefix is read as Neutron reads a remote_ip_prefix (neutron-lib convert_ip_prefix_to_cidr:
    netaddr.IPNetwork, whose parse_ip_network keeps host bits and takes the prefix as Python's
    int() does, so "0 ", "00" and "+0" are 0 too, else as a netmask, all zeros ("0.0.0.0", "::")
    for length 0). EC2 takes canonical CIDRs only, which read the same.
    """
    prefix = cidr.partition("/")[2]
    try:
        return int(prefix) == 0
    except ValueError:
        pass
    try:
        return int(ipaddress.ip_address(prefix)) == 0
    except ValueError:
        return False


#: The lowest and highest port a TCP/UDP rule can name (0 is reserved).
LOWEST_PORT, HIGHEST_PORT = 1, 65535
#: Port bounds that leave their side of a range open. Neutron takes port_range_min/max both null
#: as every port (neutron/db/securitygroups_db.py _validate_port_range), and pulumi-openstack sends
#: its 0 default as unset (gophercloud's `port_range_min,omitempty`); EC2 writes "all" as -1 (every
#: ICMP type, the ports of protocol -1). Read as open, a stray 0 or -1 fails closed.
OPEN_BOUNDS = (None, 0, -1)


def port_bounds(first: Any, last: Any) -> tuple[int, int] | None:
    """The ports [low, high] a rule's bounds admit, an open bound reaching LOWEST/HIGHEST_PORT.

    None when a bound is not a whole number (a range the provider cannot parse either).
    """
    try:
        low, high = (None if bound is None else int(bound) for bound in (first, last))
    except (TypeError, ValueError):
        return None
    return (LOWEST_PORT if low in OPEN_BOUNDS else low, HIGHEST_PORT if high in OPEN_BOUNDS else high)


def tag_map(props: Any) -> dict[str, str]:
    """Tags as a map: AWS `tags` maps as they are, OpenStack `key=value` strings split at the first '='."""
    tags = get(props, "tags")
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {key: value for key, _, value in (str(tag).partition("=") for tag in items(tags))}


#: Kubernetes kinds that carry a pod template, and where it sits, by Pulumi type token.
POD_PATHS: dict[str, tuple[str, ...]] = {
    f"kubernetes:{group_version}:{kind}": path for (group_version, kind), path in POD_SPEC_PATHS.items()
}


def pod_spec(resource_type: str, props: Any) -> Mapping[str, Any] | None:
    """The pod spec of a workload resource, or None for anything else."""
    path = POD_PATHS.get(resource_type)
    if path is None:
        return None
    spec = get(props, *path)
    return spec if isinstance(spec, Mapping) else None


#: Where a pod spec lists its containers.
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def containers(spec: Mapping[str, Any], lists: Sequence[str] = CONTAINER_LISTS) -> Iterator[Mapping[str, Any]]:
    """Every container of a pod spec in `lists` (all of them, init and ephemeral containers included)."""
    for key in lists:
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


#: The items of a list-valued setting of names (tags, regions, flavors, workloads).
NAMES: dict[str, Any] = {"type": "string", "minLength": 1}


def list_setting(default: list[Any], description: str, item: Mapping[str, Any] = NAMES) -> dict[str, Any]:
    """The JSON schema of a list-valued policy setting (of names unless `item` says otherwise)."""
    return {"type": "array", "items": dict(item), "default": default, "description": description}


def config_strings(config: Mapping[str, Any], key: str, default: Sequence[str] = ()) -> list[str]:
    """A list-of-strings setting; `default` when the engine sent no config (it sends schema defaults)."""
    return [str(entry) for entry in items(config.get(key, default))]
