"""rke2: RKE2 on OpenStack VMs, servers behind an Octavia load balancer with a floating IP.

Children of the KubernetesCluster (`parent=cluster`; cloud resources through the site's provider):

* `<c>-join-token`                 random.RandomPassword: the RKE2 server token (secret)
* `<c>-agent-token`                random.RandomPassword: the RKE2 agent token, all agents join with (secret)
* `<c>-server-ca`, `<c>-client-ca`, `<c>-request-header-ca`, `<c>-etcd-server-ca`, `<c>-etcd-peer-ca`
                                   tls.PrivateKey + tls.SelfSignedCert each: the cluster's CAs
* `<c>-service-account-key`        tls.PrivateKey: the service-account token signing key
* `<c>-admin`                      tls.PrivateKey + CertRequest + LocallySignedCert: admin client cert
* `<c>-nodes`                      networking.SecGroup + SecGroupRules RKE2 needs between nodes
* `<c>-api`                        loadbalancer.LoadBalancer on the site subnet, FloatingIp + FloatingIpAssociate
* `<c>-api-{6443,9345}`            Listener, Pool, Monitor per port; Member per server
* `<c>-server-<i>`                 compute.Instance per control-plane node (RKE2 server)
* `<c>-<pool>` NodePool with `<c>-<pool>-<i>` compute.Instance per node (RKE2 agent)
* `<c>-api-ready`                  command.local.Command: waits for /readyz through the floating IP once
                                   the servers and members exist; the kubeconfig depends on it (readiness.py)

Trust model (decided here, see README "RKE2 kubeconfig"): the program generates the
cluster's CAs (RKE2's whole custom-CA set) and an admin client certificate, so the kubeconfig is
known at `pulumi up` without logging in to a node. The CA private keys therefore live in
the Pulumi state (encrypted as secrets) and in the first server's user data, which
tenancy members can read through the Nova API. Anyone with the stack's secrets or that
tenancy can mint cluster-admin credentials; treat both as cluster-admin. The admin
certificate is valid for a year and renewed by `pulumi up` in its last 30 days.
"""

from __future__ import annotations

import base64
import hashlib
from functools import partial
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random
import pulumi_tls as tls

from .. import octavia, ports, reachability
from ..sites.openstack import security_group
from ..spec import ClusterSpec, NodePoolSpec, TaintSpec
from ..spec.catalog import BACKEND_VERSIONS
from ..spec.clusters import CONTROL_PLANE
from ..yamlout import dump
from . import readiness

if TYPE_CHECKING:
    from ..sites.openstack import OpenStackSite
    from .cluster import KubernetesCluster

#: The CAs Meridian generates and places on the first server before RKE2 starts, as paths
#: under TLS_DIR without suffix: the full custom-CA set of docs.rke2.io/security/certificates.
CUSTOM_CAS = ("server-ca", "client-ca", "request-header-ca", "etcd/server-ca", "etcd/peer-ca")
#: The PEMs `ca_files` takes: each CA's certificate and key, then the service-account key.
CA_PEMS = 2 * len(CUSTOM_CAS) + 1
#: RKE2's default CNI; its VXLAN and health ports are opened between nodes below.
CNI = "canal"
#: RKE2's packaged ingress controller, which every server is told not to deploy (`server_config`).
PACKAGED_INGRESS = "rke2-ingress-nginx"
INSTALL_URL = "https://get.rke2.io"
TLS_DIR = "/var/lib/rancher/rke2/server/tls"
CONFIG_PATH = "/etc/rancher/rke2/config.yaml"
INSTALL_SCRIPT = "/usr/local/sbin/meridian-install-rke2"
#: Taint on servers when worker pools exist: only critical add-ons run on the control plane
#: (RKE2 HA docs, "Taint server nodes").
SERVER_TAINT = "CriticalAddonsOnly=true:NoExecute"
#: What stands, in a boot record, for the values a plan has no business holding (tokens, keys)
#: or cannot know yet (addresses): the rest of the user data is fixed by the spec and the code.
DEPLOYMENT_VALUE = "<set at deployment>"

#: Node-to-node rules from docs.rke2.io/install/requirements ("Inbound Network Rules"):
#: (description, protocol, first port, last port). All are admitted from members of the
#: cluster's node group only.
NODE_RULES: tuple[tuple[str, str, int, int], ...] = (
    ("kubelet", "tcp", 10250, 10250),
    ("etcd client, peer and metrics", "tcp", 2379, 2381),
    ("Canal VXLAN", "udp", 8472, 8472),
    ("Canal health checks", "tcp", 9099, 9099),
    ("NodePort services", "tcp", 30000, 32767),
    # Not in RKE2's list: the collector's node exporter (hostNetwork), scraped from other nodes.
    ("node exporter", "tcp", ports.NODE_EXPORTER, ports.NODE_EXPORTER),
)


def build(cluster: KubernetesCluster, spec: ClusterSpec, site: OpenStackSite) -> pulumi.Output[str]:
    """Create the RKE2 control plane and agent pools of `cluster` on an OpenStack site; return the kubeconfig."""
    name = cluster.name
    settings = site.spec.openstack
    assert settings is not None  # the spec only allows rke2 on OpenStack sites
    assert spec.control_plane.flavor is not None  # required for rke2 by ClusterSpec
    local = pulumi.ResourceOptions(parent=cluster)
    on_site = pulumi.ResourceOptions(parent=cluster, provider=site.provider)
    tags = sorted([*site.tags, f"cluster={name}"])
    version = BACKEND_VERSIONS["rke2"][spec.version]

    # Servers join with the server token, agents with the agent token (RKE2 `agent-token`,
    # docs.rke2.io/security/token): an agent's token cannot join a server, so a compromised
    # worker cannot become a control-plane node or read the bootstrap data (every CA key).
    token = random.RandomPassword(f"{name}-join-token", length=64, special=False, opts=local)
    agent_token = random.RandomPassword(f"{name}-agent-token", length=64, special=False, opts=local)
    cas = {
        path: _certificate_authority(f"{name}-{path.replace('/', '-')}", f"rke2-{path.replace('/', '-')}@{name}", local)
        for path in CUSTOM_CAS
    }
    server_ca, client_ca = cas["server-ca"], cas["client-ca"]
    # The key kube-apiserver signs service-account tokens with (RKE2's custom-CA set, service.key).
    service_key = tls.PrivateKey(f"{name}-service-account-key", algorithm="RSA", rsa_bits=2048, opts=local)
    admin_key = tls.PrivateKey(f"{name}-admin", algorithm="ECDSA", ecdsa_curve="P256", opts=local)
    admin_request = tls.CertRequest(
        f"{name}-admin",
        private_key_pem=admin_key.private_key_pem,
        # system:masters is bound to cluster-admin by the API server itself.
        subject=tls.CertRequestSubjectArgs(common_name="meridian-admin", organization="system:masters"),
        opts=local,
    )
    admin_cert = tls.LocallySignedCert(
        f"{name}-admin",
        cert_request_pem=admin_request.cert_request_pem,
        ca_private_key_pem=client_ca[0].private_key_pem,
        ca_cert_pem=client_ca[1].cert_pem,
        validity_period_hours=24 * 365,
        early_renewal_hours=24 * 30,
        allowed_uses=["client_auth", "digital_signature", "key_encipherment"],
        opts=local,
    )

    nodes = security_group(
        f"{name}-nodes",
        f"{site.prefix}-{name}-nodes",
        f"RKE2 traffic between the nodes of cluster {name}",
        tags,
        on_site,
    )
    cluster.node_security_group_id = nodes.id
    for description, protocol, first, last in NODE_RULES:
        openstack.networking.SecGroupRule(
            f"{name}-nodes-{protocol}-{first}",
            security_group_id=nodes.id,
            description=f"{description} between cluster nodes",
            direction="ingress",
            ethertype="IPv4",
            protocol=protocol,
            port_range_min=first,
            port_range_max=last,
            remote_group_id=nodes.id,
            opts=on_site,
        )
    # Octavia amphorae connect to members from the VIP subnet (the site subnet), so the
    # API and supervisor ports are admitted from there; who may reach the load balancer
    # itself is decided by each listener's allowed_cidrs.
    for port in (ports.KUBE_API, ports.RKE2_SUPERVISOR):
        octavia.admit_from_site(
            f"{name}-nodes-tcp-{port}",
            nodes.id,
            port,
            f"{ports.ADMIN_PORTS[port]} from the site subnet (load balancer and nodes)",
            site=site,
            opts=on_site,
        )

    # Octavia refuses allowed_cidrs of another IP version than the VIP's (listener.py:
    # _validate_cidr_compatible_with_vip), and the VIP and floating IP are IPv4: IPv6 admin
    # networks reach SSH through the site's security group, not the API through this LB.
    # Other sites named in api_cidrs arrive from their egress addresses (reachability.sources).
    balancer, lb_pools = octavia.tcp_load_balancer(
        f"{name}-api",
        display_name=f"{site.prefix}-{name}-api",
        description=f"Kubernetes API and RKE2 supervisor of cluster {name}",
        site=site,
        tags=tags,
        listeners=[
            # Admins and the API sources reach the API; nodes (site subnet) reach both ports.
            octavia.TcpListener(
                ports.KUBE_API,
                reachability.cidrs(
                    [*reachability.sources(site.spec.admin_cidrs), *cluster.api_sources], site.spec.cidr
                ),
                f"{ports.ADMIN_PORTS[ports.KUBE_API]} of cluster {name}",
                f"RKE2 servers of cluster {name}, port {ports.KUBE_API}",
            ),
            octavia.TcpListener(
                ports.RKE2_SUPERVISOR,
                [site.spec.cidr],
                f"{ports.ADMIN_PORTS[ports.RKE2_SUPERVISOR]} of cluster {name}",
                f"RKE2 servers of cluster {name}, port {ports.RKE2_SUPERVISOR}",
            ),
        ],
        opts=on_site,
    )
    floating_ip = openstack.networking.FloatingIp(
        f"{name}-api",
        pool=settings.external_network,
        description=f"Kubernetes API of cluster {name}",
        tags=tags,
        opts=on_site,
    )
    openstack.networking.FloatingIpAssociate(
        f"{name}-api", floating_ip=floating_ip.address, port_id=balancer.vip_port_id, opts=on_site
    )
    image = openstack.images.get_image_output(
        name=spec.image or settings.image,
        most_recent=True,
        opts=pulumi.InvokeOutputOptions(provider=site.provider),
    )
    zones = settings.availability_zones
    api_name = f"api.{name}.{site.spec.dns.domain}"
    join_url = balancer.vip_address.apply(supervisor_url)
    san = pulumi.Output.all(floating_ip.address, balancer.vip_address).apply(
        lambda ips: tls_sans(ips[0], ips[1], api_name)
    )
    # Servers run the control plane only: the spec guarantees a pool without GPUs for everything else.
    server_taints = [SERVER_TAINT]
    server_groups = [site.admin_security_group_name, nodes.name]
    control_plane: list[pulumi.Resource] = []

    ca_pems = pulumi.Output.all(
        *(pem for key, cert in cas.values() for pem in (cert.cert_pem, key.private_key_pem)),
        service_key.private_key_pem,
    )

    def render_server(args: list[Any], first: bool) -> str:
        token_value, agent_value, url, tls_san, pems = args
        config = server_config(
            token=token_value,
            agent_token=agent_value,
            join_url=None if first else url,
            tls_san=tls_san,
            taints=server_taints,
            cluster=name,
        )
        return cloud_init("server", version, config, ca_files(pems) if first else [])

    # The servers' user data as `render_server` writes it, every secret or address a placeholder.
    hidden = DEPLOYMENT_VALUE
    unknown = [hidden, hidden, supervisor_url(hidden), tls_sans(hidden, hidden, api_name), [hidden] * CA_PEMS]
    cluster.boot[CONTROL_PLANE] = boot_record(
        render_server(unknown, first=False),
        labels=[f"meridian.io/cluster={name}", "meridian.io/role=server"],
        taints=server_taints,
        # The first server of a cluster not yet initialized founds it, with the CA files.
        bootstrap=None if spec.control_plane.initialized else render_server(unknown, first=True),
    )
    for index in range(spec.control_plane.count):
        # Only the very first server of a new cluster starts etcd; once the cluster exists
        # (control_plane.initialized), a replaced server-0 joins like the others instead of
        # founding a second cluster behind the same load balancer.
        first = index == 0 and not spec.control_plane.initialized
        user_data: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(token.result, agent_token.result, join_url, san, ca_pems).apply(
                partial(render_server, first=first)
            )
        )
        server = _instance(
            f"{name}-server-{index}",
            f"{site.prefix}-{name}-server-{index}",
            flavor=spec.control_plane.flavor,
            disk_gb=spec.control_plane.disk_gb,
            image_id=image.id,
            zone=zones[index % len(zones)],
            site=site,
            security_groups=server_groups,
            user_data=user_data,
            metadata={"cluster": name, "role": "server"},
            tags=tags,
            opts=on_site,
        )
        control_plane.append(server)
        for port, lb_pool in lb_pools.items():
            control_plane.append(
                octavia.member(
                    f"{name}-api-{port}-server-{index}",
                    lb_pool,
                    server.access_ip_v4,
                    port,
                    site=site,
                    tags=tags,
                    opts=on_site,
                )
            )

    for pool_name, pool_spec in spec.node_pools.items():
        pool = cluster.open_pool(pool_name)
        in_pool = pulumi.ResourceOptions(parent=pool, provider=site.provider)

        def render_agent(
            args: list[Any], labels: dict[str, str] = pool.node_labels, spec: NodePoolSpec = pool_spec
        ) -> str:
            config = agent_config(token=args[0], join_url=args[1], labels=labels, taints=spec.node_taints, cluster=name)
            return cloud_init("agent", version, config, [])

        agent_data: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(agent_token.result, join_url).apply(render_agent)
        )
        placeholder = agent_config(
            token=hidden, join_url=hidden, labels=pool.node_labels, taints=pool_spec.node_taints, cluster=name
        )
        cluster.boot[pool_name] = boot_record(
            render_agent([hidden, supervisor_url(hidden)]),
            labels=placeholder["node-label"],
            taints=placeholder.get("node-taint", []),
        )
        # RKE2 pools are fixed-size: `initial_size` instances (min_size unless desired_size is set).
        for index in range(pool_spec.initial_size):
            agent = _instance(
                f"{name}-{pool_name}-{index}",
                f"{site.prefix}-{name}-{pool_name}-{index}",
                flavor=pool_spec.flavor,
                disk_gb=pool_spec.disk_gb,
                image_id=image.id,
                zone=zones[index % len(zones)],
                site=site,
                security_groups=[nodes.name],
                user_data=agent_data,
                metadata={"cluster": name, "role": "agent", "pool": pool_name},
                tags=tags,
                opts=in_pool,
            )
            cluster.agents[f"{pool_name}-{index}"] = agent.access_ip_v4
        pool.finish({"size": pool_spec.initial_size})

    api_url = floating_ip.address.apply(lambda address: f"https://{address}:{ports.KUBE_API}")
    config = pulumi.Output.all(api_url, server_ca[1].cert_pem, admin_cert.cert_pem, admin_key.private_key_pem).apply(
        lambda args: kubeconfig(name, args[0], args[1], args[2], args[3])
    )
    # The kubeconfig is known before any server boots: hand it out only once the API answers.
    ready = readiness.api_ready(
        name,
        server=api_url,
        ca_pem=server_ca[1].cert_pem,
        cert_pem=admin_cert.cert_pem,
        key_pem=admin_key.private_key_pem,
        after=control_plane,
        parent=cluster,
    )
    return readiness.after_ready(ready, config)


def _certificate_authority(
    name: str, common_name: str, opts: pulumi.ResourceOptions
) -> tuple[tls.PrivateKey, tls.SelfSignedCert]:
    key = tls.PrivateKey(name, algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    cert = tls.SelfSignedCert(
        name,
        private_key_pem=key.private_key_pem,
        is_ca_certificate=True,
        subject=tls.SelfSignedCertSubjectArgs(common_name=common_name),
        validity_period_hours=24 * 365 * 10,  # RKE2's own CAs also last ten years
        allowed_uses=["cert_signing", "crl_signing", "digital_signature", "key_encipherment"],
        opts=opts,
    )
    return key, cert


def _instance(
    name: str,
    display_name: str,
    *,
    flavor: str,
    disk_gb: int,
    image_id: pulumi.Input[str],
    zone: str,
    site: OpenStackSite,
    security_groups: list[pulumi.Output[str]],
    user_data: pulumi.Output[str],
    metadata: dict[str, str],
    tags: list[str],
    opts: pulumi.ResourceOptions,
) -> openstack.compute.Instance:
    return openstack.compute.Instance(
        name,
        name=display_name,
        flavor_name=flavor,
        availability_zone=zone,
        key_pair=site.keypair_name,
        security_groups=security_groups,
        networks=[openstack.compute.InstanceNetworkArgs(uuid=site.network_id)],
        # Boot from a volume of the pool's size (the flavor's disk may be smaller or absent).
        block_devices=[
            openstack.compute.InstanceBlockDeviceArgs(
                source_type="image",
                uuid=image_id,
                destination_type="volume",
                volume_size=disk_gb,
                boot_index=0,
                delete_on_termination=True,
            )
        ],
        user_data=user_data,
        metadata=metadata,
        tags=tags,
        # A changed cloud-init, a newer image uploaded under the same name or a changed zone
        # list would each replace every node at once, servers (and their etcd) included.
        # Such changes roll out deliberately, node by node (pulumi up --replace <urn>).
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(ignore_changes=["userData", "blockDevices", "availabilityZone"])
        ),
    )


def _taint(taint: TaintSpec) -> str:
    return f"{taint.key}={taint.value}:{taint.effect}" if taint.value else f"{taint.key}:{taint.effect}"


def server_config(
    *, token: str, agent_token: str, join_url: str | None, tls_san: list[str], taints: list[str], cluster: str
) -> dict[str, Any]:
    """RKE2 server config.yaml (docs.rke2.io/reference/server_config); the first server has no `server`.

    `agent-token` must be the same on every server ("Critical Configuration Values"); agents
    join with it as their `token`.
    """
    config: dict[str, Any] = {
        "token": token,
        "agent-token": agent_token,
        "tls-san": tls_san,
        "cni": CNI,
        # RKE2 1.32-1.34 deploy their own ingress-nginx (hostPorts 80/443 on every node, an admission
        # webhook) unless told not to (docs.rke2.io networking_services, "Nginx Ingress Controller");
        # Meridian's ingress is Traefik (components/addons/ingress.py), so it stays off.
        "disable": [PACKAGED_INGRESS],
        "profile": "cis",
        "write-kubeconfig-mode": "0600",
        "node-label": [f"meridian.io/cluster={cluster}", "meridian.io/role=server"],
        "etcd-snapshot-schedule-cron": "0 */6 * * *",
        "etcd-snapshot-retention": 20,
        "secrets-encryption": True,
    }
    if taints:
        config["node-taint"] = taints
    if join_url is not None:
        config["server"] = join_url
    return config


def agent_config(
    *, token: str, join_url: str, labels: dict[str, str], taints: list[TaintSpec], cluster: str
) -> dict[str, Any]:
    """RKE2 agent config.yaml: labels and taints are set at registration, so nodes come up right."""
    labels = {"meridian.io/cluster": cluster, "meridian.io/role": "agent", **labels}
    config: dict[str, Any] = {
        "token": token,
        "server": join_url,
        "profile": "cis",
        "node-label": [f"{key}={value}" for key, value in labels.items()],
    }
    if taints:
        config["node-taint"] = [_taint(taint) for taint in taints]
    return config


def ca_files(pems: list[str]) -> list[dict[str, str]]:
    """The custom CA files placed before the first start (docs.rke2.io/security/certificates, custom CAs).

    `pems` holds, for each of CUSTOM_CAS in order, the certificate then the key, and last the
    service-account signing key. The RKE2 documentation lists exactly this set as required;
    k3s would generate missing CAs itself (pkg/daemons/control/deps: createSigningCertKey only
    creates what is absent), but a partial set is not what upstream documents or tests.
    """
    files = []
    for index, path in enumerate(CUSTOM_CAS):
        cert, key = pems[2 * index], pems[2 * index + 1]
        files.append({"path": f"{TLS_DIR}/{path}.crt", "content": cert, "permissions": "0644"})
        files.append({"path": f"{TLS_DIR}/{path}.key", "content": key, "permissions": "0600"})
    files.append({"path": f"{TLS_DIR}/service.key", "content": pems[2 * len(CUSTOM_CAS)], "permissions": "0600"})
    return files


def install_script(role: str, version: str) -> str:
    """The script cloud-init runs once: install RKE2 `version` as `role`, apply the CIS prerequisites, start it.

    One script under `set -euo pipefail`, so a failed download or a missing file stops the
    boot loudly (runcmd entries would carry on past a failure); the download retries while
    the network comes up. The tarball method is explicit: its paths are the ones used here
    on any distribution (the RPM method would put the CIS sysctl file elsewhere).
    """
    lines = [
        "#!/bin/bash",
        "# Written by Meridian: RKE2 installed and started once, at first boot.",  # pragma: no mutate - a comment
        "set -euo pipefail",
        f"curl -sfL --retry 10 --retry-delay 6 --retry-all-errors -o /root/rke2-install.sh {INSTALL_URL}",
        # The install script verifies the release tarball's sha256 before unpacking it.
        f"INSTALL_RKE2_VERSION={version} INSTALL_RKE2_TYPE={role} INSTALL_RKE2_METHOD=tar sh /root/rke2-install.sh",
        # The CIS profile needs RKE2's kernel settings applied before the first start ...
        "cp -f /usr/local/share/rke2/rke2-cis-sysctl.conf /etc/sysctl.d/60-rke2-cis.conf",
        "systemctl restart systemd-sysctl",
    ]
    if role == "server":
        # ... and an etcd system user on servers (docs.rke2.io/security/hardening_guide).
        lines.append('id -u etcd >/dev/null 2>&1 || useradd -r -c "etcd user" -s /sbin/nologin -M etcd -U')
    lines.append(f"systemctl enable --now rke2-{role}.service")
    return "\n".join(lines) + "\n"


def cloud_init(role: str, version: str, config: dict[str, Any], files: list[dict[str, str]]) -> str:
    """The #cloud-config that installs RKE2 `version` as `role` (server|agent) with `config`."""
    document = {
        "write_files": [
            {"path": CONFIG_PATH, "owner": "root:root", "permissions": "0600", "content": dump(config)},
            *({"owner": "root:root", **item} for item in files),
            {
                "path": INSTALL_SCRIPT,
                "owner": "root:root",
                "permissions": "0700",
                "content": install_script(role, version),
            },
        ],
        "runcmd": [[INSTALL_SCRIPT]],
    }
    # Any width beyond the longest line writes the same document (no folded scalars).
    return "#cloud-config\n" + dump(document, width=1_000_000)  # pragma: no mutate - any width past the longest line


def supervisor_url(address: str) -> str:
    """Where servers and agents join: the supervisor port behind the load balancer's address."""
    return f"https://{address}:{ports.RKE2_SUPERVISOR}"


def tls_sans(floating_ip: str, vip: str, api_name: str) -> list[str]:
    """Every name the API's certificate must carry: the floating IP, the VIP and the API's DNS name."""
    return [floating_ip, vip, api_name]


def boot_record(
    user_data: str, *, labels: list[str], taints: list[str], bootstrap: str | None = None
) -> dict[str, Any]:
    """What a group of machines boots with, secret-free: fingerprints of its user data, its labels and taints.

    The user data is secret (join tokens, CA keys) and ignored after creation (`_instance`), so
    neither a plan nor `pulumi preview` can show that it changed, and the engine never applies
    the change to existing machines. `user_data` (and `bootstrap`, the first server's while the
    cluster is not initialized) is the document the machines get, rendered by the same code with
    DEPLOYMENT_VALUE in place of every secret and address: it changes exactly when what the spec
    and Meridian's code put there changes (labels, taints, MIG layout labels, the install script,
    the join port), and a review flags those machines (scripts/diffreport.py).
    """

    def digest(text: str) -> str:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]

    record: dict[str, Any] = {"user_data": digest(user_data), "node_labels": list(labels), "node_taints": list(taints)}
    if bootstrap is not None:
        record["user_data_bootstrap"] = digest(bootstrap)
    return record


def kubeconfig(cluster: str, server: str, ca_pem: str, cert_pem: str, key_pem: str) -> str:
    """An admin kubeconfig with the client certificate minted by this program."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [
            {
                "name": f"{cluster}-admin",
                "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)},
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": f"{cluster}-admin"}}],
        "current-context": cluster,
    }
    return dump(document)
