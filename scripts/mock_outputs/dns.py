"""Mock outputs for DNS: Designate zones and record sets, Route53 hosted zones and records (see scripts.mocks)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs

from ..mocks import ID_KEY, CallBuilder, ResourceBuilder, digest, stable_uuid


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


def route53_zone_id(name: str, private: bool = False) -> str:
    """A hosted zone ID as Route53 gives them (`Z` and 20 upper-case letters and digits).

    A private zone of the same name is another zone, with its own ID.
    """
    return "Z" + digest("route53-zone", name.rstrip("."), "private" if private else "public")[:20].upper()


def _hosted_zone(args: MockCallArgs, provider: dict[str, Any]) -> dict[str, Any]:
    # What the aws provider's getZone returns for a public hosted zone (name without the final dot).
    name = str(args.args.get("name", "")).rstrip(".")
    # The data source looks up the public zone unless privateZone is set (its default is false).
    private = bool(args.args.get("privateZone", False))
    zone_id = route53_zone_id(name, private)
    servers = [f"ns-{n}.awsdns-{n % 64:02d}.{tld}" for n, tld in ((101, "com"), (602, "net"), (1203, "org"))]
    return {
        "id": zone_id,
        "zoneId": zone_id,
        "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
        "name": name,
        "callerReference": stable_uuid("route53-caller", name),
        "comment": "",
        "nameServers": servers,
        "primaryNameServer": servers[0],
        "privateZone": private,
        "resourceRecordSetCount": 2,  # the zone's own SOA and NS
        "linkedServiceDescription": "",
        "linkedServicePrincipal": "",
        "tags": {},
        "vpcId": "",
    }


def _route53_record(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # The provider's ID is <zone>_<name>_<type>; fqdn is the name as Route53 stores it.
    name = str(args.inputs.get("name", "")).rstrip(".")
    return {
        ID_KEY: f"{args.inputs.get('zoneId')}_{name}_{args.inputs.get('type')}",
        "fqdn": name,
    }


RESOURCES: dict[str, ResourceBuilder] = {
    "openstack:dns/recordSet:RecordSet": _record_set,
    "aws:route53/record:Record": _route53_record,
}
CALLS: dict[str, CallBuilder] = {
    "openstack:dns/getDnsZone:getDnsZone": _zone,
    "aws:route53/getZone:getZone": _hosted_zone,
}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}
