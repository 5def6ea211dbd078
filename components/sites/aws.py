"""AwsSite: one AWS account/region, with a VPC laid out for Kubernetes.

Children (all `parent=self`, all through the site's explicit provider):

* `<name>-provider`            pulumi_aws.Provider, pinned to the spec's account and region
* `<name>-vpc`                 ec2.Vpc with DNS support, `<name>-default-sg` DefaultSecurityGroup
                               emptied of rules (nothing may use the default group by accident)
* `<name>-igw`                 ec2.InternetGateway
* `<name>-{private,public}-<az>` ec2.Subnet per availability zone (layout: `aws_subnet_layout`)
* `<name>-public-rt`           ec2.RouteTable + `-default` Route to the internet gateway + associations
* `<name>-nat-<az>`            ec2.Eip + ec2.NatGateway (one per zone, or one in the first zone)
* `<name>-private-rt-<az>`     ec2.RouteTable + `-default` Route to the zone's NAT gateway + association
* `<name>-admin`               ec2.SecurityGroup; vpc.SecurityGroupIngressRule per admin CIDR and port
* `<name>-internal`            ec2.SecurityGroup admitting all traffic between members
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws

from .. import ports
from ..labels import cidr_slug, cloud_tags, site_labels
from ..spec import ProjectSpec, SiteSpec, aws_subnet_layout


class AwsSite(pulumi.ComponentResource):
    """An AWS account/region prepared for Kubernetes: VPC, subnets per zone, NAT, routes, security groups."""

    provider: aws.Provider
    """Explicit provider for every resource on this site, refusing any account but the spec's."""
    vpc_id: pulumi.Output[str]
    """ID of the site's VPC."""
    private_subnet_ids: list[pulumi.Output[str]]
    """Private subnets, in availability-zone order (nodes live here)."""
    public_subnet_ids: list[pulumi.Output[str]]
    """Public subnets, in availability-zone order (NAT gateways and internet-facing load balancers)."""
    admin_security_group_id: pulumi.Output[str]
    """Security group admitting SSH and the Kubernetes API from the admin CIDRs."""
    internal_security_group_id: pulumi.Output[str]
    """Security group admitting all traffic between its members."""
    egress_addresses: list[pulumi.Output[str]]
    """Where the site's traffic to other sites comes from: the NAT gateways' Elastic IPs, in zone
    order (one, or one per zone). Allow-lists elsewhere name the site as `site:<name>`."""
    labels: dict[str, str]
    """Labels of the site's resources (Kubernetes-safe; cloud tags add the owner)."""
    tags: dict[str, str]
    """AWS tags for every taggable resource on the site (add a `Name` per resource)."""
    prefix: str
    """`<project>-<site>`: the prefix of cloud-side names."""
    spec: SiteSpec
    """The site's spec (clusters read its region, account and admin CIDRs)."""

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
        :param spec: the site's validated spec (must have `aws` set).
        :param project: the project spec, for names and tags.
        :param opts: options of the component itself (never merged into children).
        """
        super().__init__("meridian:sites:AwsSite", name, None, opts)
        settings = spec.aws
        if settings is None:  # the Platform dispatches on spec.kind; this is a programming error
            raise TypeError("AwsSite needs a site spec with 'aws' set")
        self.labels = site_labels(project, name, spec.labels)
        base_tags = self.tags = cloud_tags(project, self.labels)
        prefix = self.prefix = f"{project.name}-{name}"
        self.spec = spec

        def tags(role: str, **extra: str) -> dict[str, str]:
            return {**base_tags, "Name": f"{prefix}-{role}", **extra}

        # Tags are set on each resource rather than through the provider's default_tags so that
        # the plan, the policy pack and `pulumi preview` see them on every resource's inputs.
        self.provider = aws.Provider(
            f"{name}-provider",
            region=settings.region,
            allowed_account_ids=[settings.account_id],
            profile=settings.profile,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_site = pulumi.ResourceOptions(parent=self, provider=self.provider)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=spec.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=on_site,
        )
        # Adopting the default security group with no rules removes its allow-all rules (CIS AWS 5.4).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], tags=tags("default-deny"), opts=on_site
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=on_site)

        layout = aws_subnet_layout(spec.cidr, settings.availability_zones)
        private: dict[str, aws.ec2.Subnet] = {}
        public: dict[str, aws.ec2.Subnet] = {}
        for zone, cidrs in layout.items():
            public[zone] = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidrs["public"],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=tags(f"public-{zone}", **{"kubernetes.io/role/elb": "1"}),
                opts=on_site,
            )
            private[zone] = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidrs["private"],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=tags(f"private-{zone}", **{"kubernetes.io/role/internal-elb": "1"}),
                opts=on_site,
            )

        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, tags=tags("public"), opts=on_site)
        aws.ec2.Route(
            f"{name}-public-rt-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=on_site,
        )
        for zone, subnet in public.items():
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rt-{zone}", route_table_id=public_rt.id, subnet_id=subnet.id, opts=on_site
            )

        zones = settings.availability_zones
        nat_zones = zones if settings.nat == "per-az" else zones[:1]
        nats: dict[str, aws.ec2.NatGateway] = {}
        self.egress_addresses = []
        for zone in nat_zones:
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags=tags(f"nat-{zone}"), opts=on_site)
            self.egress_addresses.append(eip.public_ip)
            nats[zone] = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=eip.allocation_id,
                subnet_id=public[zone].id,
                connectivity_type="public",
                tags=tags(f"nat-{zone}"),
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[igw]),
            )
        for zone, subnet in private.items():
            nat = nats.get(zone, nats[nat_zones[0]])
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{zone}", vpc_id=vpc.id, tags=tags(f"private-{zone}"), opts=on_site
            )
            aws.ec2.Route(
                f"{name}-private-rt-{zone}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=on_site,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rt-{zone}", route_table_id=rt.id, subnet_id=subnet.id, opts=on_site
            )

        admin = aws.ec2.SecurityGroup(
            f"{name}-admin",
            name=f"{prefix}-admin",
            description=f"SSH and Kubernetes API of {project.name} at {name}, from admin networks",
            vpc_id=vpc.id,
            revoke_rules_on_delete=True,
            tags=tags("admin"),
            opts=on_site,
        )
        for cidr in spec.admin_cidrs:
            v4 = ipaddress.ip_network(cidr).version == 4
            for port, role in ports.ADMIN_ACCESS:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-admin-{role}-{cidr_slug(cidr)}",
                    security_group_id=admin.id,
                    description=f"{ports.ADMIN_PORTS[port]} from admin network {cidr}",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    tags=tags(f"admin-{role}"),
                    cidr_ipv4=cidr if v4 else None,
                    cidr_ipv6=None if v4 else cidr,
                    opts=on_site,
                )

        internal = aws.ec2.SecurityGroup(
            f"{name}-internal",
            name=f"{prefix}-internal",
            description=f"Traffic between the nodes of {project.name} at {name}",
            vpc_id=vpc.id,
            revoke_rules_on_delete=True,
            tags=tags("internal"),
            opts=on_site,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-internal-members",
            security_group_id=internal.id,
            description="All traffic from members of this group",
            ip_protocol="-1",
            referenced_security_group_id=internal.id,
            tags=tags("internal-members"),
            opts=on_site,
        )
        for group, role in ((admin, "admin"), (internal, "internal")):
            for family_name, ipv4, ipv6 in (("ipv4", "0.0.0.0/0", None), ("ipv6", None, "::/0")):
                aws.vpc.SecurityGroupEgressRule(
                    f"{name}-{role}-egress-{family_name}",
                    security_group_id=group.id,
                    description=f"All outbound {family_name} traffic",
                    ip_protocol="-1",
                    cidr_ipv4=ipv4,
                    cidr_ipv6=ipv6,
                    tags=tags(f"{role}-egress"),
                    opts=on_site,
                )

        self.vpc_id = vpc.id
        self.private_subnet_ids = [private[zone].id for zone in zones]
        self.public_subnet_ids = [public[zone].id for zone in zones]
        self.admin_security_group_id = admin.id
        self.internal_security_group_id = internal.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
                "admin_security_group_id": self.admin_security_group_id,
                "internal_security_group_id": self.internal_security_group_id,
                "egress_addresses": self.egress_addresses,
            }
        )
