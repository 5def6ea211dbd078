"""Mock outputs for DNS: Designate zones and record sets (see scripts.mocks for the table formats)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs

from ..mocks import CallBuilder, ResourceBuilder, stable_uuid


def _zone(args: MockCallArgs, provider: dict[str, Any]) -> dict[str, Any]:
    # What Designate's v2 API returns for a zone (GET /v2/zones?name=...), as the provider maps it.
    name = str(args.args.get("name", ""))
    return {
        "id": stable_uuid("zone", name),
        "name": name,
        "email": f"hostmaster@{name.rstrip('.')}",
        "ttl": 3600,
        "type": "PRIMARY",
        "status": "ACTIVE",
        "serial": 1764460800,
        "version": 1,
        "poolId": stable_uuid("dns-pool", "default"),
        "projectId": stable_uuid("project", name),
        "region": provider.get("region", "RegionOne"),
        "masters": [],
        "attributes": {},
        "description": "",
        "createdAt": "2026-01-05T09:00:00.000000",
        "updatedAt": "2026-01-05T09:00:00.000000",
        "transferredAt": "",
        "allProjects": "false",
    }


def _record_set(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # Designate answers with the record set's own fields; the rest are the inputs.
    return {"ttl": args.inputs.get("ttl", 3600), "disableStatusCheck": False}


RESOURCES: dict[str, ResourceBuilder] = {"openstack:dns/recordSet:RecordSet": _record_set}
CALLS: dict[str, CallBuilder] = {"openstack:dns/getDnsZone:getDnsZone": _zone}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}
