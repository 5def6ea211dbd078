"""capi: a cluster built by Cluster API on an OpenStack site, reconciled from its management cluster.

The cluster's desired state lives as Cluster API objects on the management cluster (`management_cluster`
in the spec), whose controllers (components/addons/cluster_api.py) create the machines, heal them
and roll upgrades. Objects are the program's own, not azimuth's openstack-cluster chart: the chart
still renders Cluster API's v1beta1 objects (its SOURCE in the mirror), while Meridian writes v1beta2
wherever Cluster API v1.14 serves it (CAPO v0.14.7 serves v1beta1 only), and each object is its own
Pulumi resource, so a pool's size change is an update of its MachineDeployment alone and a version
change an in-place update of the control plane and the MachineDeployments. The object shapes follow
CAPO v0.14.7's own templates/cluster-template.yaml (v1beta2 Cluster API objects with v1beta1 CAPO ones).

Children of the KubernetesCluster `<c>` (on the management cluster, through its provider, in the
namespace `capi-<c>` unless noted):

* `<c>-capi-namespace`        Namespace `capi-<c>` (Pod Security restricted): the cluster's objects, its
                              autoscaler; Cluster API references name objects of the Cluster's namespace only
* `<c>-cloud-config`          Secret: clouds.yaml with the site's cluster application credential (secret)
* `<c>-openstack-cluster`     OpenStackCluster: the site's network, subnet and external network (the
                              site's router gives the nodes egress), the API load balancer and its allow-list
* `<c>-cluster`               Cluster: pod and service ranges, references to the two objects around it
* `<c>-control-plane-machines` OpenStackMachineTemplate (its name carries a digest of its content)
* `<c>-control-plane`         KubeadmControlPlane: count, version; awaited until Available at the version
* per pool, under the NodePool `<c>-<pool>`: `<c>-<pool>-machines` OpenStackMachineTemplate,
  `<c>-<pool>-bootstrap` KubeadmConfigTemplate, `<c>-<pool>` MachineDeployment (autoscaler annotations),
  `<c>-<pool>-health` MachineHealthCheck
* `<c>-kubeconfig`            read of the Secret `<c>-kubeconfig` Cluster API writes (key `value`), once the
                              control plane is Available; secret from the first moment
* `<c>-api-ready`             command.local.Command: /readyz through the API load balancer (readiness.py)
* `<c>-bootstrap-k8s`         Kubernetes provider on the new cluster, for its CNI only
* `<c>-calico`                yaml/v2:ConfigFile: Calico's release manifest (the cluster's CNI)
* `<c>-occm-*`                the OpenStack cloud controller manager (occm.py): its Secret, account,
                              rights and DaemonSet; the kubeconfig handed to add-ons waits for it and Calico
* `<c>-autoscaler-*`          ServiceAccount, Role, RoleBinding and Deployment of the cluster-autoscaler
                              (clusterapi provider), only when a pool autoscales

Machine templates are immutable (CAPO v0.14.7 pkg/webhooks/openstackmachinetemplate_webhook.go) and
a changed KubeadmConfigTemplate rolls no machine (Cluster API book, "Updating Machine Templates"):
so both are named after a digest of their content. A change (a new image with a new version, a
flavor, labels) makes new templates, and the MachineDeployment or control plane referencing them
is updated in place, which is what rolls the machines; the old templates go once the references moved.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

import pulumi
import yaml

from .. import reachability
from ..ports import NODE_EXPORTER
from ..spec import ClusterSpec, NodePoolSpec, TaintSpec
from ..spec.catalog import BACKEND_VERSIONS
from ..spec.platform import CAPI_POD_CIDR, CAPI_SERVICE_CIDR
from . import autoscaler, occm, readiness

if TYPE_CHECKING:
    from ..sites.openstack import OpenStackSite
    from .cluster import KubernetesCluster, NodePool

CLUSTER_API = "cluster.x-k8s.io/v1beta2"
CONTROL_PLANE_API = "controlplane.cluster.x-k8s.io/v1beta2"
BOOTSTRAP_API = "bootstrap.cluster.x-k8s.io/v1beta2"
#: CAPO v0.14.7 serves v1beta1 only (crds/cluster-api-provider-openstack/SOURCE in the mirror).
OPENSTACK_API = "infrastructure.cluster.x-k8s.io/v1beta1"
#: Pod and service ranges: Calico's default pool and kubeadm's default service range. The spec
#: keeps site networks out of them (PlatformSpec._cluster_api).
POD_CIDR = CAPI_POD_CIDR
SERVICE_CIDR = CAPI_SERVICE_CIDR
#: Calico, the cluster's CNI, from its release manifest (Calico docs, "Component versions": 3.31.3).
#: Its default IP-in-IP encapsulation and BGP sessions are admitted between nodes (ALL_NODES_RULES).
CALICO_VERSION = "v3.31.3"
CALICO_MANIFEST = f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests/calico.yaml"
#: Rules CAPO adds to every node's managed security group: for Calico (CAPO v0.14.7
#: templates/cluster-template.yaml), BGP between nodes and IP-in-IP (IP protocol 4); and the node exporter.
ALL_NODES_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "BGP (Calico)",
        "description": "Calico BGP between the cluster's nodes",
        "direction": "ingress",
        "etherType": "IPv4",
        "protocol": "tcp",
        "portRangeMin": 179,
        "portRangeMax": 179,
        "remoteManagedGroups": ["controlplane", "worker"],
    },
    {
        "name": "IP-in-IP (Calico)",
        "description": "Calico IP-in-IP between the cluster's nodes",
        "direction": "ingress",
        "etherType": "IPv4",
        "protocol": "4",
        "remoteManagedGroups": ["controlplane", "worker"],
    },
    {
        # The collector's node exporter listens on each node's own network (ports.NODE_EXPORTER);
        # CAPO's managed rules open only etcd, the kubelet, the API and NodePorts between nodes.
        "name": "node exporter",
        "description": "Prometheus node exporter, scraped by the cluster's collector",
        "direction": "ingress",
        "etherType": "IPv4",
        "protocol": "tcp",
        "portRangeMin": NODE_EXPORTER,
        "portRangeMax": NODE_EXPORTER,
        "remoteManagedGroups": ["controlplane", "worker"],
    },
)
#: The kubelet's node name and provider ID, as CAPO's templates give them: cloud-init fills the
#: jinja variables (Cluster API's kubeadm bootstrap writes `## template: jinja` cloud-config). The
#: provider ID is what Cluster API matches a Machine to its Node by; with it set by the kubelet,
#: no cloud controller is needed for that.
NODE_NAME = "{{ local_hostname }}"
PROVIDER_ID = "openstack:///'{{ instance_id }}'"
#: Annotations the cluster-autoscaler's clusterapi provider reads on a MachineDeployment
#: (kubernetes/autoscaler cluster-autoscaler/cloudprovider/clusterapi/README.md).
MIN_SIZE = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
MAX_SIZE = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
CAPACITY = "capacity.cluster-autoscaler.kubernetes.io/"
GPU_RESOURCE = "nvidia.com/gpu"
#: The user the site's break-glass key logs in as on every machine (kubeadm `users`, cloud-init).
BREAK_GLASS_USER = "meridian"
#: Where the autoscaler reads the workload cluster's kubeconfig (the Secret's key `value`).
KUBECONFIG_MOUNT = "/etc/kubernetes/workload"
#: How long the control plane may take to come up or to roll to a new version (3 machines).
CONTROL_PLANE_TIMEOUT_SECONDS = 3600
#: MachineHealthCheck: a node not Ready for this long is replaced; a machine whose node never
#: registers is replaced after NODE_STARTUP_SECONDS (Cluster API's default, 600, is short for GPU images).
UNHEALTHY_SECONDS = 300
NODE_STARTUP_SECONDS = 1200


def namespace_of(name: str) -> str:
    """The management cluster's namespace holding cluster `name`'s objects."""
    return f"capi-{name}"


def _ref(api_version: str, kind: str, name: str) -> dict[str, str]:
    """A v1beta2 contract reference (apiGroup, kind, name: the object lives in the Cluster's namespace)."""
    return {"apiGroup": api_version.split("/")[0], "kind": kind, "name": name}


def _digest(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:8]


def clouds_yaml(cloud: str, region: str, auth_url: str, credential_id: str, secret: str) -> str:
    """clouds.yaml with one entry, an application credential (CAPO docs, openstack-cluster-identity.md)."""
    entry = {
        "auth_type": "v3applicationcredential",
        "auth": {
            "auth_url": auth_url,
            "application_credential_id": credential_id,
            "application_credential_secret": secret,
        },
        "region_name": region,
        "interface": "public",
        "identity_api_version": 3,
    }
    return yaml.safe_dump({"clouds": {cloud: entry}}, sort_keys=True)


def kubelet_args(labels: dict[str, str]) -> list[dict[str, str]]:
    """The kubelet's extra arguments, as a v1beta2 list of name and value.

    The external cloud provider (occm.py initialises the nodes), the provider ID, the node's labels.
    """
    args = [{"name": "cloud-provider", "value": "external"}, {"name": "provider-id", "value": PROVIDER_ID}]
    if labels:
        args.append({"name": "node-labels", "value": ",".join(f"{k}={v}" for k, v in sorted(labels.items()))})
    return args


def _taints(taints: list[TaintSpec]) -> list[dict[str, str]]:
    return [
        {"key": t.key, "value": t.value, "effect": t.effect} if t.value else {"key": t.key, "effect": t.effect}
        for t in taints
    ]


def machine_template(flavor: str, image: str, disk_gb: int, admin_group: Any, tags: list[str]) -> dict[str, Any]:
    """An OpenStackMachineTemplate's spec: flavor, image by name, a root volume, the site's admin group.

    No Nova key pair: key pairs belong to the user who made them (the deployer's, the site's), and
    CAPO creates servers as the cluster credential's user. The break-glass key comes with the boot
    configuration instead (BREAK_GLASS_USER); the site's admin group admits SSH from its admin CIDRs.
    """
    return {
        "template": {
            "spec": {
                "flavor": flavor,
                "image": {"filter": {"name": image}},
                "rootVolume": {"sizeGiB": disk_gb},
                "securityGroups": [{"id": admin_group}],
                "tags": tags,
            }
        }
    }


def break_glass(public_key: str) -> list[dict[str, Any]]:
    """The kubeadm boot configuration's `users`: the site's break-glass key on every machine."""
    return [
        {
            "name": BREAK_GLASS_USER,
            "sshAuthorizedKeys": [public_key],
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "shell": "/bin/bash",
        }
    ]


def autoscaling_annotations(pool: NodePoolSpec, flavor: Any, labels: dict[str, str]) -> dict[str, str]:
    """The autoscaler's annotations of a pool that autoscales (min < max); none for a fixed-size pool.

    The capacity annotations describe a node of the pool to the autoscaler when the pool has no
    node to look at (scale from zero): CPU, memory, root disk, GPUs, labels and taints (the clusterapi
    provider README, "Scale from zero support"; quantities and `k=v:Effect` lists as it parses them).
    """
    if pool.min_size == pool.max_size:
        return {}
    annotations = {MIN_SIZE: str(pool.min_size), MAX_SIZE: str(pool.max_size)}
    if flavor is not None and flavor.vcpus is not None and flavor.memory_gib is not None:
        annotations[CAPACITY + "cpu"] = str(flavor.vcpus)
        annotations[CAPACITY + "memory"] = f"{int(flavor.memory_gib * 1024)}Mi"
        annotations[CAPACITY + "ephemeral-disk"] = f"{pool.disk_gb}Gi"
        gpus = pool.gpu.resources().get(GPU_RESOURCE) if pool.gpu is not None else None
        if gpus is not None:
            # What a node advertises as nvidia.com/gpu: whole GPUs, time-sliced shares or single-strategy
            # MIG slices. Mixed-strategy slices are resources of their own, which the autoscaler's
            # annotations cannot describe (the spec keeps such pools above zero).
            annotations[CAPACITY + "gpu-type"] = GPU_RESOURCE
            annotations[CAPACITY + "gpu-count"] = str(gpus)
        annotations[CAPACITY + "labels"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        taints = [f"{t.key}={t.value}:{t.effect}" for t in pool.node_taints]
        if taints:
            annotations[CAPACITY + "taints"] = ",".join(taints)
    return annotations


def build(cluster: KubernetesCluster, spec: ClusterSpec, site: OpenStackSite) -> pulumi.Output[str]:
    """Write the cluster's Cluster API objects on its management cluster; return its kubeconfig (secret)."""
    import pulumi_kubernetes as k8s

    from ..addons.base import kubernetes_object
    from ..addons.base import namespace as addon_namespace
    from ..secrets import secret

    management = cluster.management
    assert management is not None, "the Platform hands capi clusters their management cluster"
    settings = site.spec.openstack
    assert settings is not None and settings.cluster_credential is not None  # PlatformSpec requires both
    assert spec.image is not None and spec.control_plane.flavor is not None  # ClusterSpec requires both
    name = cluster.name
    namespace = namespace_of(name)
    version = BACKEND_VERSIONS["capi"][spec.version]
    provider = management.cluster.provider
    labels = dict(cluster.labels)
    tags = sorted([*site.tags, f"cluster={name}"])

    def place(resource: str, document: dict[str, Any], parent: pulumi.Resource, after: list[pulumi.Resource]) -> Any:
        document["metadata"] = {"namespace": namespace, "labels": labels, **document.get("metadata", {})}
        return kubernetes_object(resource, document, provider=provider, parent=parent, depends_on=after)

    home = addon_namespace(
        f"{name}-capi-namespace", namespace, labels=labels, enforce="restricted", provider=provider, parent=cluster
    )
    credential = settings.cluster_credential
    cloud: pulumi.Output[str] = pulumi.Output.all(secret(credential.secret)).apply(
        lambda values: clouds_yaml(
            "openstack", settings.region, str(credential.auth_url), credential.id, str(values[0])
        )
    )
    cloud_config = k8s.core.v1.Secret(
        f"{name}-cloud-config",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-cloud-config",
            namespace=home.metadata.name,
            # clusterctl move carries the Secret with the cluster (CAPO's templates label it so).
            labels={**labels, "clusterctl.cluster.x-k8s.io/move": "true"},
        ),
        string_data={"clouds.yaml": pulumi.Output.secret(cloud)},  # type: ignore[arg-type]
        opts=pulumi.ResourceOptions(parent=cluster, provider=provider),
    )
    # Every object of the cluster waits for the providers (their CRDs and webhooks) and its namespace.
    base = [*management.providers.ready, home]
    allowed = reachability.cidrs([*reachability.sources(site.spec.admin_cidrs), *cluster.api_sources], site.spec.cidr)
    openstack_cluster = place(
        f"{name}-openstack-cluster",
        {
            "apiVersion": OPENSTACK_API,
            "kind": "OpenStackCluster",
            "metadata": {"name": name},
            "spec": {
                # The region is clouds.yaml's (clouds_yaml); identityRef.region is immutable once set.
                "identityRef": {"cloudName": "openstack", "name": f"{name}-cloud-config", "type": "Secret"},
                "externalNetwork": {"id": site.external_network_id},
                # The site's network and subnet, behind the site's router (its egress, its gateway).
                "network": {"id": site.network_id},
                "subnets": [{"id": site.subnet_id}],
                # Named, so CAPO admits its gateway address on the API load balancer: nodes reach the
                # API at its floating IP, and Neutron gives such traffic the router's address
                # (neutron router_info.py; CAPO v0.14.7 loadbalancer.go adds the router's IPs it knows).
                "router": {"id": site.router_id},
                "apiServerLoadBalancer": {
                    "enabled": True,
                    "provider": settings.load_balancer_provider,
                    # Octavia takes IPv4 sources on an IPv4 VIP (as on rke2, clusters/rke2.py).
                    "allowedCIDRs": allowed,
                },
                "managedSecurityGroups": {
                    "allowAllInClusterTraffic": False,
                    "allNodesSecurityGroupRules": [dict(rule) for rule in ALL_NODES_RULES],
                },
                "controlPlaneAvailabilityZones": list(settings.availability_zones),
                "tags": tags,
            },
        },
        cluster,
        [*base, cloud_config],
    )
    kcp_name = f"{name}-control-plane"
    capi_cluster = place(
        f"{name}-cluster",
        {
            "apiVersion": CLUSTER_API,
            "kind": "Cluster",
            # Sveltos on the management cluster selects the cluster by these labels (spec.gitops.discovered).
            "metadata": {"name": name, "labels": {**labels, **management.engine_labels}},
            "spec": {
                "clusterNetwork": {
                    "pods": {"cidrBlocks": [POD_CIDR]},
                    "services": {"cidrBlocks": [SERVICE_CIDR]},
                    "serviceDomain": "cluster.local",
                },
                "controlPlaneRef": _ref(CONTROL_PLANE_API, "KubeadmControlPlane", kcp_name),
                "infrastructureRef": _ref(OPENSTACK_API, "OpenStackCluster", name),
            },
        },
        cluster,
        [*base, openstack_cluster],
    )
    plane = spec.control_plane
    assert plane.flavor is not None  # ClusterSpec requires it for capi
    plane_machines, plane_template = _machines(
        place, kcp_name, (plane.flavor, spec.image, plane.disk_gb), site, tags, cluster, base
    )
    registration = {"name": NODE_NAME, "kubeletExtraArgs": kubelet_args({})}
    control_plane = place(
        f"{name}-control-plane",
        {
            "apiVersion": CONTROL_PLANE_API,
            "kind": "KubeadmControlPlane",
            "metadata": {
                "name": kcp_name,
                "annotations": {
                    # Created: Available (API server and etcd healthy on a machine). Updated to a new
                    # version: every control-plane machine at it, so the pools roll after it.
                    "pulumi.com/waitFor": json.dumps(
                        ["condition=Available", f"jsonpath={{.status.version}}={version}"]
                    ),
                    "pulumi.com/timeoutSeconds": str(CONTROL_PLANE_TIMEOUT_SECONDS),
                },
            },
            "spec": {
                "replicas": spec.control_plane.count,
                "version": version,
                "machineTemplate": {
                    "spec": {"infrastructureRef": _ref(OPENSTACK_API, "OpenStackMachineTemplate", plane_machines)}
                },
                "kubeadmConfigSpec": {
                    # Cloud loops run in the OpenStack cloud controller manager (occm.py), as CAPO's templates set it.
                    "clusterConfiguration": {
                        "controllerManager": {"extraArgs": [{"name": "cloud-provider", "value": "external"}]}
                    },
                    "initConfiguration": {"nodeRegistration": registration},
                    "joinConfiguration": {"nodeRegistration": registration},
                    "users": break_glass(settings.ssh_public_key),
                },
            },
        },
        cluster,
        [*base, capi_cluster, plane_template],
    )
    autoscaled = False
    for pool_name, pool in spec.node_pools.items():
        component = cluster.open_pool(pool_name)
        autoscaled |= pool.min_size != pool.max_size
        _pool(cluster, component, pool_name, pool, site, version, tags, place, [*base, capi_cluster, control_plane])
    # Cluster API writes the admin kubeconfig into `<c>-kubeconfig` (key `value`) as the control plane
    # comes up; it is read once the control plane is Available, and it is secret from that moment.
    # The ID comes from the control plane's: unknown while it is to be created, so a preview does
    # not read a Secret that does not exist yet (the engine reads during previews when it can).
    stored = k8s.core.v1.Secret.get(
        f"{name}-kubeconfig",
        control_plane.id.apply(lambda _: f"{namespace}/{name}-kubeconfig"),
        opts=pulumi.ResourceOptions(parent=cluster, provider=provider, depends_on=[control_plane]),
    )
    decoded: pulumi.Output[str] = stored.data.apply(lambda data: base64.b64decode((data or {})["value"]).decode())
    kubeconfig: pulumi.Output[str] = pulumi.Output.secret(decoded)
    parts = kubeconfig.apply(lambda text: _credentials(text, name))
    ready = readiness.api_ready(
        name,
        server=parts.apply(lambda p: p[0]),
        ca_pem=parts.apply(lambda p: p[1]),
        cert_pem=pulumi.Output.secret(parts.apply(lambda p: p[2])),
        key_pem=pulumi.Output.secret(parts.apply(lambda p: p[3])),
        after=[control_plane],
        parent=cluster,
    )
    bootstrap = k8s.Provider(
        f"{name}-bootstrap-k8s",
        kubeconfig=readiness.after_ready(ready, kubeconfig),
        delete_unreachable=True,
        opts=pulumi.ResourceOptions(parent=cluster),
    )
    calico = k8s.yaml.v2.ConfigFile(
        f"{name}-calico", file=CALICO_MANIFEST, opts=pulumi.ResourceOptions(parent=cluster, provider=bootstrap)
    )
    # The cloud controller manager: nodes are tainted uninitialised until it ran (occm.py).
    occm_config: pulumi.Output[str] = pulumi.Output.all(
        cloud_config_global(settings), site.external_network_id, site.subnet_id
    ).apply(
        lambda parts: parts[0] + "\n" + occm.load_balancer_conf(parts[1], parts[2], settings.load_balancer_provider)
    )
    controller = occm.install(
        name, spec.version, config=pulumi.Output.secret(occm_config), labels=labels, provider=bootstrap, parent=cluster
    )
    if autoscaled:
        _autoscaler(name, spec, labels, place, cluster, [home, control_plane])
    # Handed to the add-ons once the network and the cloud controller run.
    return pulumi.Output.all(calico.resources, controller.id, readiness.after_ready(ready, kubeconfig)).apply(
        lambda args: str(args[2])
    )


def cloud_config_global(settings: Any) -> pulumi.Output[str]:
    """cloud.conf's [Global]: the site's cluster application credential (secret), as Cinder CSI's."""
    from ..secrets import secret

    credential = settings.cluster_credential
    return secret(credential.secret).apply(
        lambda value: occm.cloud_conf(str(credential.auth_url), credential.id, value, settings.region)
    )


def _machines(
    place: Any,
    prefix: str,
    shape: tuple[str, str, int],
    site: OpenStackSite,
    tags: list[str],
    parent: pulumi.Resource,
    after: list[pulumi.Resource],
) -> tuple[str, Any]:
    """The OpenStackMachineTemplate `<prefix>-machines` of (flavor, image, disk): its object name and resource.

    The name carries a digest of the shape: templates are immutable (see the module docstring).
    """
    flavor, image, disk_gb = shape
    object_name = f"{prefix}-{_digest(list(shape))}"
    resource = place(
        f"{prefix}-machines",
        {
            "apiVersion": OPENSTACK_API,
            "kind": "OpenStackMachineTemplate",
            "metadata": {"name": object_name},
            "spec": machine_template(flavor, image, disk_gb, site.admin_security_group_id, tags),
        },
        parent,
        after,
    )
    return object_name, resource


def _credentials(kubeconfig: str, cluster: str = "") -> tuple[str, str, str, str]:
    """(server, CA, client certificate, client key) of a kubeadm admin kubeconfig (PEMs decoded).

    Raises KubeconfigError naming what is missing or unreadable, never the text: the kubeconfig
    holds the admin key, and an exception raised here is what `pulumi up` prints.
    """
    where = f"Cluster API's kubeconfig of cluster {cluster}".rstrip()
    try:
        document = yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        # PyYAML's message quotes the offending lines: not repeated.
        raise KubeconfigError(f"{where} is not YAML") from None
    clusters = document.get("clusters") if isinstance(document, dict) else None
    users = document.get("users") if isinstance(document, dict) else None
    entry = (clusters or [{}])[0].get("cluster") if isinstance(clusters, list) and clusters else None
    user = (users or [{}])[0].get("user") if isinstance(users, list) and users else None
    fields = (
        ("server", entry),
        ("certificate-authority-data", entry),
        ("client-certificate-data", user),
        ("client-key-data", user),
    )
    missing = [name for name, holder in fields if not isinstance(holder, dict) or not holder.get(name)]
    if missing:
        raise KubeconfigError(f"{where} has no {', '.join(missing)}")
    assert isinstance(entry, dict) and isinstance(user, dict)  # checked just above

    def pem(field: str, holder: dict[str, Any]) -> str:
        try:
            return base64.b64decode(str(holder[field]), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise KubeconfigError(f"{where}: {field} is not base64-encoded PEM") from None

    return (
        str(entry["server"]),
        pem("certificate-authority-data", entry),
        pem("client-certificate-data", user),
        pem("client-key-data", user),
    )


class KubeconfigError(ValueError):
    """A kubeconfig Cluster API wrote that cannot be used; its message never holds the kubeconfig's text."""


def _pool(
    cluster: KubernetesCluster,
    component: NodePool,
    pool_name: str,
    pool: NodePoolSpec,
    site: OpenStackSite,
    version: str,
    tags: list[str],
    place: Any,
    after: list[pulumi.Resource],
) -> None:
    """One pool: its machine and bootstrap templates, MachineDeployment and MachineHealthCheck."""
    name = cluster.name
    image = cluster.spec.image
    md_name = f"{name}-{pool_name}"
    assert site.spec.openstack is not None  # capi runs on OpenStack sites only (PlatformSpec)
    key = site.spec.openstack.ssh_public_key
    machines_name, machines = _machines(
        place, md_name, (pool.flavor, str(image), pool.disk_gb), site, tags, component, after
    )
    join = {
        "users": break_glass(key),
        "joinConfiguration": {
            "nodeRegistration": {
                "name": NODE_NAME,
                "kubeletExtraArgs": kubelet_args(component.node_labels),
                # Listed even when empty: an absent list would give kubeadm's default, no taint for workers.
                "taints": _taints(pool.node_taints),
            }
        },
    }
    bootstrap_name = f"{md_name}-{_digest(join)}"
    bootstrap = place(
        f"{md_name}-bootstrap",
        {
            "apiVersion": BOOTSTRAP_API,
            "kind": "KubeadmConfigTemplate",
            "metadata": {"name": bootstrap_name},
            "spec": {"template": {"spec": join}},
        },
        component,
        after,
    )
    selector = {"cluster.x-k8s.io/cluster-name": name, "cluster.x-k8s.io/deployment-name": md_name}
    annotations = autoscaling_annotations(pool, site.spec.flavors.get(pool.flavor), component.node_labels)
    deployment_spec: dict[str, Any] = {
        "clusterName": name,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": selector},
            "spec": {
                "clusterName": name,
                "version": version,
                "bootstrap": {"configRef": _ref(BOOTSTRAP_API, "KubeadmConfigTemplate", bootstrap_name)},
                "infrastructureRef": _ref(OPENSTACK_API, "OpenStackMachineTemplate", machines_name),
            },
        },
    }
    if not annotations:
        # A fixed-size pool; an autoscaled one leaves replicas to the autoscaler (Cluster API's webhook
        # starts a new MachineDeployment at the min-size annotation).
        deployment_spec["replicas"] = pool.min_size
    metadata: dict[str, Any] = {"name": md_name}
    if annotations:
        metadata["annotations"] = annotations
    deployment = place(
        md_name,
        {"apiVersion": CLUSTER_API, "kind": "MachineDeployment", "metadata": metadata, "spec": deployment_spec},
        component,
        [*after, machines, bootstrap],
    )
    place(
        f"{md_name}-health",
        {
            "apiVersion": CLUSTER_API,
            "kind": "MachineHealthCheck",
            "metadata": {"name": f"{md_name}-health"},
            "spec": {
                "clusterName": name,
                "selector": {"matchLabels": selector},
                "checks": {
                    "nodeStartupTimeoutSeconds": NODE_STARTUP_SECONDS,
                    "unhealthyNodeConditions": [
                        {"type": "Ready", "status": status, "timeoutSeconds": UNHEALTHY_SECONDS}
                        for status in ("False", "Unknown")
                    ],
                },
            },
        },
        component,
        [*after, deployment],
    )
    component.finish({"machine_deployment": md_name})


def _autoscaler(
    name: str,
    spec: ClusterSpec,
    labels: dict[str, str],
    place: Any,
    parent: pulumi.Resource,
    after: list[pulumi.Resource],
) -> None:
    """The cluster-autoscaler on the management cluster, scaling this cluster's MachineDeployments.

    Run as the clusterapi provider README's "autoscaler running in the management cluster" case:
    `--kubeconfig` is the workload cluster's (Cluster API's `<c>-kubeconfig` Secret, mounted), and
    `--clusterapi-cloud-config-authoritative` keeps the Machine* objects on the in-cluster
    (management) API. Its rights there are a Role in the cluster's namespace only.
    """
    account = f"{name}-autoscaler"
    place(
        f"{name}-autoscaler-account",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}},
        parent,
        after,
    )
    place(
        f"{name}-autoscaler-role",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": account},
            "rules": [
                {
                    "apiGroups": ["cluster.x-k8s.io"],
                    "resources": [
                        "machinedeployments",
                        "machinedeployments/scale",
                        "machines",
                        "machinesets",
                        "machinepools",
                    ],
                    "verbs": ["get", "list", "update", "watch", "patch"],
                },
                {
                    "apiGroups": ["infrastructure.cluster.x-k8s.io"],
                    "resources": ["openstackmachinetemplates"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        },
        parent,
        after,
    )
    place(
        f"{name}-autoscaler-binding",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace_of(name)}],
        },
        parent,
        after,
    )
    app = {"app.kubernetes.io/name": autoscaler.APP_NAME, "app.kubernetes.io/instance": name}
    place(
        f"{name}-autoscaler",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": account},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": app},
                "template": {
                    "metadata": {"labels": {**labels, **app}},
                    "spec": {
                        "serviceAccountName": account,
                        "securityContext": autoscaler.pod_security_context(),
                        "containers": [
                            autoscaler.container(
                                spec.version,
                                [
                                    "--cloud-provider=clusterapi",
                                    f"--kubeconfig={KUBECONFIG_MOUNT}/value",
                                    "--clusterapi-cloud-config-authoritative",
                                    f"--node-group-auto-discovery=clusterapi:namespace={namespace_of(name)},clusterName={name}",
                                ],
                                volumeMounts=[
                                    {"name": "workload-kubeconfig", "mountPath": KUBECONFIG_MOUNT, "readOnly": True}
                                ],
                            )
                        ],
                        "volumes": [{"name": "workload-kubeconfig", "secret": {"secretName": f"{name}-kubeconfig"}}],
                    },
                },
            },
        },
        parent,
        after,
    )
