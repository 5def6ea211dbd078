"""Public DNS records for what add-ons publish through the ingress: on the site's own DNS service.

One A record per hostname, pointing at the addresses Meridian owns for the cluster's ingress
load balancer (components/addons/ingress.py), in the zone of the site's `dns.domain` (the spec
refuses a hostname outside it). The zone must exist: Designate zones and Route53 hosted zones
are created once by the cloud's operators or the project, and delegated from the parent domain.
Chosen over external-dns: no controller in the cluster holds DNS credentials, and every record
is in the plan and the preview diff.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

#: Seconds resolvers keep a record: short enough that moving a hostname takes minutes.
TTL = 300


def route53_zone(site: Any) -> Any:
    """The public Route53 hosted zone of the site's `dns.domain`, through the site's provider.

    Public only (`get_zone`'s private_zone defaults to false): a private zone of the same name
    would answer only inside its VPCs.
    """
    import pulumi_aws as aws

    invoke = pulumi.InvokeOutputOptions(provider=site.provider)
    return aws.route53.get_zone_output(name=site.spec.dns.domain, opts=invoke)


def public_record(
    name: str, hostname: str, addresses: Sequence[pulumi.Input[str]], site: Any, parent: pulumi.Resource, what: str
) -> pulumi.CustomResource:
    """The A record `hostname` -> `addresses`, registered as `<name>-dns` on the site's DNS service.

    :param what: what the hostname serves, for the record's description (Designate).
    """
    domain = site.spec.dns.domain
    opts = pulumi.ResourceOptions(parent=parent, provider=site.provider)
    invoke = pulumi.InvokeOutputOptions(provider=site.provider)
    if site.spec.openstack is not None:
        import pulumi_openstack as openstack

        designate_zone = openstack.dns.get_dns_zone_output(name=f"{domain}.", opts=invoke)
        return openstack.dns.RecordSet(
            f"{name}-dns",
            zone_id=designate_zone.id,
            name=f"{hostname}.",
            type="A",
            records=list(addresses),
            ttl=TTL,
            description=f"{what} {hostname}",
            opts=opts,
        )
    import pulumi_aws as aws

    hosted_zone = route53_zone(site)
    return aws.route53.Record(
        f"{name}-dns",
        zone_id=hosted_zone.zone_id,
        name=hostname,
        type="A",
        records=list(addresses),
        ttl=TTL,
        opts=opts,
    )
