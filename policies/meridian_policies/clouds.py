"""Clouds: inputs the real OpenStack APIs refuse, caught in the plan instead of at `pulumi up`.

The facts come from components/cloudrules.py (one source for the spec and this pack), each
with the upstream file it rests on: Neutron's default policy rules for attributes only an
admin may send, and each service's tag rules (Nova, Neutron, Octavia).
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

# mypy checks the pack from policies/, where the repository root is not on its search path.
from components.cloudrules import (  # type: ignore[import-not-found]
    NEUTRON_ADMIN_ONLY,
    TAG_RULES_BY_TYPE,
    refused_by_neutron,
)

from .common import get, items, resource_policy


def _admin_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for path, attribute in NEUTRON_ADMIN_ONLY.get(args.resource_type, {}).items():
        if refused_by_neutron(attribute, get(args.props, *path)):
            report(  # pragma: no mutate - urn None is report_violation's default
                f"{'.'.join(path)} is set, and Neutron's default policy '{attribute.rule}' allows it to admins "
                "only: a project member's credential gets 403 Forbidden",
                None,
            )


def _tags_accepted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    rules = TAG_RULES_BY_TYPE.get(args.resource_type)
    if rules is None:
        return
    for problem in rules.problems([str(tag) for tag in items(get(args.props, "tags"))]):
        report(  # pragma: no mutate - urn None is report_violation's default
            problem,
            None,
        )


POLICIES = [
    resource_policy(
        "openstack-admin-only-attributes",
        "No OpenStack resource sends an attribute Neutron's default policy reserves for admins "
        "(router SNAT and fixed gateway IPs, shared or external networks, provider segments, port bindings).",
        _admin_only,
        severity=Severity.HIGH,
        remediation="Leave the attribute unset: the cloud's default applies (SNAT is on by default, "
        "neutron enable_snat_by_default), or ask the cloud's operators to create the resource.",
    ),
    resource_policy(
        "openstack-tags-accepted",
        "Tags on OpenStack resources follow the rules of the service that stores them "
        "(Nova: 1-60 characters, no ',' or '/', 50 per server; Neutron and Octavia: up to 255 characters).",
        _tags_accepted,
        severity=Severity.HIGH,
        remediation="Shorten or rename the label the tag comes from (project or site labels, owner, cost centre); "
        "`meridian plan` names its key path.",
    ),
]
