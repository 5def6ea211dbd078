"""Octavia TCP load balancers the program builds itself, on an OpenStack site's subnet.

One shape serves every balancer Meridian owns (the rke2 API and supervisor, the rke2 ingress):
amphora provider, TCP listeners restricted by `allowed_cidrs`, long data timeouts, one
LEAST_CONNECTIONS pool and TCP health monitor per listener, members on the site subnet. The
amphorae reach the members from that subnet, so the members' security group admits each member
port from the site's CIDR (`admit_from_site`); who may reach the balancer itself is each
listener's `allowed_cidrs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_openstack as openstack

if TYPE_CHECKING:
    from .sites.openstack import OpenStackSite

#: Idle timeout of client and member connections: Octavia's 50 s default would cut kubectl
#: watches and `logs -f`, and the websockets of idle notebook kernels and terminals.
IDLE_TIMEOUT_MS = 3_600_000


@dataclass(frozen=True)
class TcpListener:
    """One listening port of a balancer and who may reach it."""

    port: int
    allowed_cidrs: pulumi.Input[Sequence[str]]
    description: str
    #: What the port's pool balances over (its description).
    members: str


def tcp_load_balancer(
    name: str,
    *,
    display_name: str,
    description: str,
    site: OpenStackSite,
    tags: list[str],
    listeners: list[TcpListener],
    opts: pulumi.ResourceOptions,
) -> tuple[openstack.loadbalancer.LoadBalancer, dict[int, openstack.loadbalancer.Pool]]:
    """The balancer `name` with a listener, pool and monitor `<name>-<port>` per listener; its pools by port."""
    settings = site.spec.openstack
    assert settings is not None  # an OpenStackSite's spec has its openstack settings
    balancer = openstack.loadbalancer.LoadBalancer(
        name,
        name=display_name,
        description=description,
        vip_subnet_id=site.subnet_id,
        # Explicit: the listeners use amphora-only settings (allowed_cidrs, timeouts,
        # LEAST_CONNECTIONS), so a cloud whose default provider is ovn fails here, clearly.
        loadbalancer_provider=settings.load_balancer_provider,
        tags=tags,
        # The provider forces replacement (terraform-provider-openstack
        # resource_openstack_lb_loadbalancer_v2.go), and Octavia may report an older load balancer's
        # provider by its deprecated alias `octavia` (octavia/common/config.py): a replaced
        # balancer gets a new VIP that whatever was configured with the old one (an rke2 server's
        # tls-san, the agents' `server:` in ignored user data) does not know. The provider is
        # explicit for new balancers only.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["loadbalancerProvider"])),
    )
    pools: dict[int, openstack.loadbalancer.Pool] = {}
    for spec in listeners:
        listener = openstack.loadbalancer.Listener(
            f"{name}-{spec.port}",
            loadbalancer_id=balancer.id,
            protocol="TCP",
            protocol_port=spec.port,
            allowed_cidrs=spec.allowed_cidrs,
            timeout_client_data=IDLE_TIMEOUT_MS,
            timeout_member_data=IDLE_TIMEOUT_MS,
            description=spec.description,
            tags=tags,
            opts=opts,
        )
        pools[spec.port] = openstack.loadbalancer.Pool(
            f"{name}-{spec.port}",
            listener_id=listener.id,
            protocol="TCP",
            lb_method="LEAST_CONNECTIONS",
            description=spec.members,
            tags=tags,
            opts=opts,
        )
        openstack.loadbalancer.Monitor(
            f"{name}-{spec.port}",
            pool_id=pools[spec.port].id,
            type="TCP",
            delay=10,
            timeout=5,
            max_retries=3,
            max_retries_down=3,
            opts=opts,
        )
    return balancer, pools


def member(
    name: str,
    pool: openstack.loadbalancer.Pool,
    address: pulumi.Input[str],
    port: int,
    *,
    site: OpenStackSite,
    tags: list[str],
    opts: pulumi.ResourceOptions,
) -> openstack.loadbalancer.Member:
    """A node of the site subnet in `pool`, on `port`."""
    return openstack.loadbalancer.Member(
        name, pool_id=pool.id, address=address, protocol_port=port, subnet_id=site.subnet_id, tags=tags, opts=opts
    )


def admit_from_site(
    name: str,
    security_group_id: pulumi.Input[str],
    port: int,
    description: str,
    *,
    site: OpenStackSite,
    opts: pulumi.ResourceOptions,
) -> openstack.networking.SecGroupRule:
    """Admit TCP `port` from the site subnet (where the amphorae and the nodes are) into the members' group."""
    return openstack.networking.SecGroupRule(
        name,
        security_group_id=security_group_id,
        description=description,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=port,
        port_range_max=port,
        remote_ip_prefix=site.spec.cidr,
        opts=opts,
    )
