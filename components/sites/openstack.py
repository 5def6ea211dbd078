"""OpenStackSite: one OpenStack tenancy, networked and locked down for Kubernetes.

Children (all `parent=self`, all through the site's explicit provider):

* `<name>-provider`    pulumi_openstack.Provider (clouds.yaml entry + region)
* `<name>-network`     networking.Network, `<name>-subnet` networking.Subnet
* `<name>-router`      networking.Router with the external gateway (SNAT by the cloud's default),
                       `<name>-router-subnet` RouterInterface
* `<name>-admin`       networking.SecGroup: SSH and the Kubernetes API from the admin CIDRs only
* `<name>-internal`    networking.SecGroup: all traffic between members (the site's nodes)
* `<name>-<sg>-<rule>` networking.SecGroupRule, one per rule; names derive from rule content, not position
* `<name>-keypair`     compute.Keypair for break-glass SSH
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_openstack as openstack

from .. import ports
from ..labels import cidr_slug, cloud_tags, openstack_tags, site_labels
from ..secrets import secret
from ..spec import ProjectSpec, SiteSpec


class OpenStackSite(pulumi.ComponentResource):
    """An OpenStack tenancy prepared for Kubernetes: network, routed subnet, security groups, keypair."""

    provider: openstack.Provider
    """Explicit provider for every resource on this site (never the ambient OS_* environment)."""
    network_id: pulumi.Output[str]
    """ID of the site's private network."""
    subnet_id: pulumi.Output[str]
    """ID of the site's subnet (the spec's `cidr`)."""
    router_id: pulumi.Output[str]
    """ID of the router that gives the subnet its external gateway."""
    external_network_id: pulumi.Output[str]
    """ID of the external network (for floating IPs and load balancer VIPs)."""
    admin_security_group_id: pulumi.Output[str]
    """Security group admitting SSH and the Kubernetes API from the admin CIDRs."""
    internal_security_group_id: pulumi.Output[str]
    """Security group admitting all traffic between its members."""
    admin_security_group_name: pulumi.Output[str]
    """Name of the admin group (Nova instances take security groups by name)."""
    keypair_name: pulumi.Output[str]
    """Name of the site's SSH keypair."""
    egress_addresses: list[pulumi.Output[str]]
    """Where the site's traffic to other sites comes from: the router's external gateway address
    (IPv4; instances have no public addresses, the router SNATs them). Allow-lists elsewhere
    name the site as `site:<name>` (components/reachability.py)."""
    labels: dict[str, str]
    """Labels of the site's resources (Kubernetes-safe; cloud tags add the owner)."""
    tags: list[str]
    """OpenStack tags (`key=value`) for every taggable resource on the site."""
    prefix: str
    """`<project>-<site>`: the prefix of cloud-side names."""
    spec: SiteSpec
    """The site's spec (clusters read its CIDR, image and flavors)."""

    def __init__(
        self,
        name: str,
        spec: SiteSpec,
        *,
        project: ProjectSpec,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Create the site `name` from its spec.

        :param name: the site's key in the spec; prefixes every child's name.
        :param spec: the site's validated spec (must have `openstack` set).
        :param project: the project spec, for names and tags.
        :param opts: options of the component itself (never merged into children).
        """
        super().__init__("meridian:sites:OpenStackSite", name, None, opts)
        settings = spec.openstack
        if settings is None:  # the Platform dispatches on spec.kind; this is a programming error
            raise TypeError("OpenStackSite needs a site spec with 'openstack' set")
        self.labels = site_labels(project, name, spec.labels)
        tags = self.tags = openstack_tags(cloud_tags(project, self.labels))
        prefix = self.prefix = f"{project.name}-{name}"
        self.spec = spec
        child = pulumi.ResourceOptions(parent=self)

        credential = settings.application_credential
        self.provider = openstack.Provider(
            f"{name}-provider",
            cloud=settings.cloud,
            region=settings.region,
            application_credential_id=credential.id if credential else None,
            application_credential_secret=secret(credential.secret) if credential else None,
            opts=child,
        )
        on_site = pulumi.ResourceOptions(parent=self, provider=self.provider)

        external = openstack.networking.get_network_output(
            name=settings.external_network,
            external=True,
            opts=pulumi.InvokeOutputOptions(provider=self.provider),
        )
        self.external_network_id = external.id

        network = openstack.networking.Network(
            f"{name}-network",
            name=prefix,
            description=f"Private network of {project.name} at {name}",
            admin_state_up=True,
            port_security_enabled=True,
            tags=tags,
            opts=on_site,
        )
        subnet = openstack.networking.Subnet(
            f"{name}-subnet",
            name=prefix,
            network_id=network.id,
            cidr=spec.cidr,
            ip_version=4,
            enable_dhcp=True,
            dns_nameservers=list(spec.dns.nameservers),
            tags=tags,
            opts=on_site,
        )
        router = openstack.networking.Router(
            f"{name}-router",
            name=prefix,
            description=f"Gateway of {project.name} at {name} to {settings.external_network}",
            admin_state_up=True,
            external_network_id=self.external_network_id,
            # SNAT is not sent: it is on by default (neutron enable_snat_by_default), and sending
            # the field at all is admin-only under Neutron's default policy
            # (create_router:external_gateway_info:enable_snat), a 403 for project members
            # (components/cloudrules.py NEUTRON_ADMIN_ONLY; osism/testbed#12).
            tags=tags,
            opts=on_site,
        )
        openstack.networking.RouterInterface(
            f"{name}-router-subnet", router_id=router.id, subnet_id=subnet.id, opts=on_site
        )

        admin = security_group(
            f"{name}-admin",
            f"{prefix}-admin",
            f"SSH and Kubernetes API of {project.name} at {name}, from admin networks",
            tags,
            on_site,
        )
        for cidr in spec.admin_cidrs:
            for port, role in ports.ADMIN_ACCESS:
                openstack.networking.SecGroupRule(
                    f"{name}-admin-{role}-{cidr_slug(cidr)}",
                    security_group_id=admin.id,
                    description=f"{ports.ADMIN_PORTS[port]} from admin network {cidr}",
                    direction="ingress",
                    ethertype=_ethertype(cidr),
                    protocol="tcp",
                    port_range_min=port,
                    port_range_max=port,
                    remote_ip_prefix=cidr,
                    opts=on_site,
                )

        internal = security_group(
            f"{name}-internal",
            f"{prefix}-internal",
            f"Traffic between the nodes of {project.name} at {name}",
            tags,
            on_site,
        )
        openstack.networking.SecGroupRule(
            f"{name}-internal-members",
            security_group_id=internal.id,
            description="All traffic from members of this group",
            direction="ingress",
            ethertype="IPv4",
            remote_group_id=internal.id,
            opts=on_site,
        )

        keypair = openstack.compute.Keypair(
            f"{name}-keypair", name=prefix, public_key=settings.ssh_public_key, opts=on_site
        )

        self.egress_addresses = [router.external_fixed_ips.apply(_gateway_ipv4)]
        self.network_id = network.id
        self.subnet_id = subnet.id
        self.router_id = router.id
        self.admin_security_group_id = admin.id
        self.admin_security_group_name = admin.name
        self.internal_security_group_id = internal.id
        self.keypair_name = keypair.name
        self.register_outputs(
            {
                "network_id": self.network_id,
                "subnet_id": self.subnet_id,
                "router_id": self.router_id,
                "external_network_id": self.external_network_id,
                "admin_security_group_id": self.admin_security_group_id,
                "internal_security_group_id": self.internal_security_group_id,
                "keypair_name": self.keypair_name,
                "egress_addresses": self.egress_addresses,
            }
        )


def security_group(
    name: str, display_name: str, description: str, tags: list[str], opts: pulumi.ResourceOptions
) -> openstack.networking.SecGroup:
    """Create a security group with OpenStack's default rules removed and explicit egress for IPv4 and IPv6.

    OpenStack adds allow-all egress rules to a new group; deleting them and stating egress
    explicitly keeps every rule of the group visible in code, plans and policy checks.
    """
    group = openstack.networking.SecGroup(
        name,
        name=display_name,
        description=description,
        delete_default_rules=True,
        tags=tags,
        opts=opts,
    )
    for ethertype, everywhere in (("IPv4", "0.0.0.0/0"), ("IPv6", "::/0")):
        openstack.networking.SecGroupRule(
            f"{name}-egress-{ethertype.lower()}",
            security_group_id=group.id,
            description=f"All outbound {ethertype} traffic",
            direction="egress",
            ethertype=ethertype,
            remote_ip_prefix=everywhere,
            opts=opts,
        )
    return group


def _gateway_ipv4(fixed_ips: Sequence[Any] | None) -> str:
    """The router's IPv4 gateway address (Neutron reports one fixed IP per external subnet)."""
    for fixed in fixed_ips or []:
        address = fixed.get("ip_address") if isinstance(fixed, dict) else getattr(fixed, "ip_address", None)
        if address and ipaddress.ip_address(address).version == 4:
            return str(address)
    raise ValueError("the router reports no IPv4 gateway address on its external network")


def _ethertype(cidr: str) -> str:
    return "IPv4" if ipaddress.ip_network(cidr).version == 4 else "IPv6"
