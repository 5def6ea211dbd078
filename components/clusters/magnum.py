"""magnum: a Kubernetes cluster made by OpenStack Magnum with the magnum-capi-helm driver.

Children of the KubernetesCluster `<cluster>` (all through the site's OpenStack provider
unless noted):

* `<cluster>-template`         containerinfra.ClusterTemplate: image, flavors, network, driver labels
* `<cluster>-cluster`          containerinfra.Cluster: the control plane and Magnum's `default-worker`
                               node group, which *is* the first pool of `node_pools`
* `<cluster>-api-ready`        command.local.Command: waits for the API's /readyz (readiness.py)
* `<cluster>-bootstrap-k8s`    pulumi_kubernetes.Provider from the cluster's admin kubeconfig, for the
                               objects below (the cluster's public `<cluster>-k8s` provider is made by
                               KubernetesCluster from what `build` returns)
* `<cluster>-node-setup`       ServiceAccount, ClusterRole (nodes: get, list, patch) and
                               ClusterRoleBinding in kube-system, through the bootstrap provider

Children of each NodePool `<cluster>-<pool>`:

* `<cluster>-<pool>-nodegroup`   containerinfra.NodeGroup, for every pool but the first; each one
                                 waits for the previous one (Magnum node groups must be changed
                                 one at a time)
* `<cluster>-<pool>-node-setup`  batch/v1 CronJob that puts the pool's Kubernetes labels (the
                                 NodePool's `node_labels`, which always hold the pool label) and
                                 taints (the spec's; every GPU pool has one) on its nodes

Things Magnum decides that users must know:

* The first pool in spec order is Magnum's `default-worker` node group, which belongs to
  the Magnum cluster itself and goes only with it. Its flavor, sizes and disk live in the
  cluster template, and Magnum refuses to change a template that a cluster uses
  (magnum/db/sqlalchemy/api.py `_do_update_cluster_template` allows only name, public,
  hidden and tags). So changing the first pool's flavor, min/max or disk, the image or
  the version fails at `pulumi up` rather than rebuilding anything; and removing the first
  pool or putting another pool first does not remove the default-worker group: it makes
  the new first pool's values the template's (refused when they differ) and deletes that
  pool's own node group. Changing the first pool means a new cluster (a new cluster key).
  Renaming the first pool only renames its NodePool and node-setup job.
* magnum-capi-helm has one root-disk size for every machine (the `boot_volume_size`
  label): it is the first pool's `disk_gb`; other pools' `disk_gb` and
  `control_plane.disk_gb` cannot be honoured by this backend.
* Node counts belong to the cluster autoscaler once the cluster exists: `desired_size`
  (or `min_size`) is the size at creation only (and magnum-capi-helm starts an autoscaled
  default-worker group at `min_node_count` whatever `node_count` says: release note
  autoscaling-default-worker-group).
* Kubernetes labels and taints reach the nodes through the node-setup jobs, within one
  schedule period of a node joining; `--overwrite` updates values, but a label or taint
  removed from the spec stays on the nodes until removed by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

from .. import reachability
from ..spec import ClusterSpec, TaintSpec
from ..spec.catalog import BACKEND_VERSIONS
from . import readiness

if TYPE_CHECKING:
    from ..sites.openstack import OpenStackSite
    from .cluster import KubernetesCluster, NodePool

#: Magnum's name for the worker node group every cluster is created with (the first pool).
DEFAULT_WORKER_GROUP = "default-worker"
#: The label magnum-capi-helm's chart puts on every node of a node group, with the group's
#: (sanitized) name as value: the only label that reaches the nodes
#: (azimuth-cloud/capi-helm-charts#84).
NODE_GROUP_LABEL = "capi.stackhpc.com/node-group"
#: Where the node-setup objects live.
NODE_SETUP_NAMESPACE = "kube-system"
#: Name of the node-setup ServiceAccount, ClusterRole and ClusterRoleBinding.
NODE_SETUP_NAME = "meridian-node-setup"
#: How often the node-setup CronJobs run: new nodes (autoscaler, auto-healing) get their
#: labels and taints within this time.
NODE_SETUP_SCHEDULE = "*/5 * * * *"
#: Writable scratch space for kubectl's discovery cache (the root filesystem is read-only).
_SCRATCH = "/tmp"  # noqa: S108 - an emptyDir of the pod, not the host's /tmp


def build(cluster: KubernetesCluster, spec: ClusterSpec, site: OpenStackSite) -> pulumi.Output[str]:
    """Create the Magnum cluster, its node groups and the node-setup jobs under `cluster`.

    :param cluster: the KubernetesCluster component; parent of every resource created here.
    :param spec: the cluster's validated spec (backend magnum: image, control-plane flavor and
        at least one pool with min_size >= 1 are guaranteed by ClusterSpec).
    :param site: the OpenStack site the cluster runs on (provider, network, keypair).
    :returns: the cluster's admin kubeconfig (secret).
    """
    assert spec.image is not None  # ClusterSpec requires it for magnum
    assert spec.control_plane.flavor is not None  # ... and this
    settings = site.spec.openstack
    assert settings is not None  # magnum runs on OpenStack sites only (PlatformSpec)
    pools = list(spec.node_pools.items())
    first_key, first = pools[0]
    kube_tag = BACKEND_VERSIONS["magnum"][spec.version]
    on_site = pulumi.ResourceOptions(parent=cluster, provider=site.provider)
    nameservers = site.spec.dns.nameservers

    template = openstack.containerinfra.ClusterTemplate(
        f"{cluster.name}-template",
        name=f"{site.prefix}-{cluster.name}",
        coe="kubernetes",
        # magnum-capi-helm takes the Kubernetes version from this image's `kube_version`
        # property; ClusterSpec documents that `image` must be such an image.
        image=spec.image,
        external_network_id=site.external_network_id,
        fixed_network=site.network_id,
        fixed_subnet=site.subnet_id,
        dns_nameserver=nameservers[0] if nameservers else None,
        master_flavor=spec.control_plane.flavor,
        flavor=first.flavor,
        network_driver="calico",
        master_lb_enabled=True,  # the API sits behind an Octavia load balancer (HA control plane)
        floating_ip_enabled=False,  # nodes get no public addresses
        tls_disabled=False,
        keypair_id=site.keypair_name,
        public=False,
        labels=template_labels(
            spec,
            # Octavia VIPs here are IPv4; IPv6 sources cannot be listed on them. Magnum's
            # management cluster must reach the API to build the cluster (CAPO configuration.md).
            reachability.cidrs(
                [*reachability.sources(site.spec.admin_cidrs), *cluster.api_sources],
                site.spec.cidr,
                *settings.magnum_management_cidrs,
            ),
            settings.load_balancer_provider,
        ),
        # Magnum reads the labels when it creates a cluster and refuses any change to a template in
        # use (magnum/db/sqlalchemy/api.py `_do_update_cluster_template`). The API allow-list and
        # the Octavia provider matter only at creation, and a changed allow-list (or a Meridian
        # release that adds a management network or the provider label) would fail every `pulumi
        # up` of the running cluster without changing it: they are ignored once the template
        # exists and take effect on a new cluster (a new key). Other template changes (the first
        # pool's flavor, sizes or disk) still fail loudly.
        opts=pulumi.ResourceOptions.merge(
            on_site,
            pulumi.ResourceOptions(ignore_changes=["labels.api_master_lb_allowed_cidrs", "labels.octavia_provider"]),
        ),
    )

    magnum = openstack.containerinfra.Cluster(
        f"{cluster.name}-cluster",
        name=f"{site.prefix}-{cluster.name}",
        cluster_template_id=template.id,
        master_count=spec.control_plane.count,
        # The first pool is Magnum's default-worker group, part of this resource: see the module
        # docstring for what removing or reordering the first pool does.
        node_count=first.initial_size,
        keypair=site.keypair_name,
        fixed_network=site.network_id,
        fixed_subnet=site.subnet_id,
        create_timeout=60,
        # The cluster autoscaler owns the node count once the cluster runs (the size in the
        # spec is the size at creation), as terraform-aws-eks does for desired_size.
        opts=pulumi.ResourceOptions.merge(on_site, pulumi.ResourceOptions(ignore_changes=["node_count"])),
    )

    # The kubeconfig map is a secret output of the provider; raw_config is the whole file. It is
    # handed out once the API answers from where Pulumi runs (readiness.py): the admin and
    # runner networks are on the allow-list, and a wrong one fails here, not in an add-on.
    def field(key: str) -> pulumi.Output[str]:
        return pulumi.Output.secret(magnum.kubeconfig.apply(lambda config: str(config[key])))

    ready = readiness.api_ready(
        cluster.name,
        server=field("host"),
        ca_pem=field("cluster_ca_certificate"),
        cert_pem=field("client_certificate"),
        key_pem=field("client_key"),
        after=[magnum],
        parent=cluster,
    )
    kubeconfig: pulumi.Output[str] = pulumi.Output.secret(readiness.after_ready(ready, field("raw_config")))
    # Pools open first: whether node-setup objects exist depends on the labels their nodes need.
    opened = {key: cluster.open_pool(key) for key, _ in pools}
    # Every pool needs node setup: its nodes carry at least the pool label (NodePool.node_labels).
    bootstrap = k8s.Provider(
        f"{cluster.name}-bootstrap-k8s",
        kubeconfig=kubeconfig,
        # A cluster that is gone must not block `pulumi destroy` of the objects on it.
        delete_unreachable=True,
        opts=pulumi.ResourceOptions(parent=cluster),
    )
    _node_setup_rbac(cluster, pulumi.ResourceOptions(parent=cluster, provider=bootstrap))
    tolerations = _tolerations(spec)
    image = f"registry.k8s.io/kubectl:{kube_tag}"

    previous: pulumi.Resource = magnum
    for key, pool in opened.items():
        pool_spec = pool.spec
        pool_name = f"{cluster.name}-{key}"  # the NodePool's name; prefixes its children's
        outputs: dict[str, object]
        if key == first_key:
            group = DEFAULT_WORKER_GROUP
            outputs = {"node_group": group, "cluster_id": magnum.id}
        else:
            group = key  # pool keys are DNS labels: the driver's sanitized group name is the key itself
            node_group = openstack.containerinfra.NodeGroup(
                f"{pool_name}-nodegroup",
                cluster_id=magnum.id,
                name=group,
                role=key,
                flavor_id=pool_spec.flavor,
                node_count=pool_spec.initial_size,
                min_node_count=pool_spec.min_size,
                max_node_count=pool_spec.max_size,
                opts=pulumi.ResourceOptions(
                    parent=pool,
                    provider=site.provider,
                    # Magnum node groups must be created and changed one after another:
                    # concurrent requests race in the driver and fail (LP#2097946,
                    # https://bugs.launchpad.net/magnum/+bug/2097946; 2i2c-org/infrastructure
                    # terraform/openstack/cluster.tf runs terraform with --parallelism=1).
                    # Chaining in spec order makes creates (and, reversed, deletes) sequential.
                    depends_on=[previous],
                    ignore_changes=["node_count"],  # owned by the cluster autoscaler
                ),
            )
            previous = node_group
            outputs = {"node_group": group, "node_group_id": node_group.id}
        _node_setup_job(pool, pool_name, key, group, image, tolerations, cluster.labels, bootstrap)
        pool.finish(outputs)

    return kubeconfig


def template_labels(
    spec: ClusterSpec, allowed_cidrs: pulumi.Input[list[str]], octavia_provider: str
) -> dict[str, pulumi.Input[str]]:
    """Magnum driver labels of the cluster template (settings of the driver, not Kubernetes node labels).

    Every label here is read by magnum-capi-helm (openstack/magnum-capi-helm
    `magnum_capi_helm/driver.py`), except `kube_tag`, which the Heat and Vexxhost drivers
    read and capi-helm ignores (it takes the version from the image's `kube_version`).
    """
    first = next(iter(spec.node_pools.values()))
    return {
        "kube_tag": BACKEND_VERSIONS["magnum"][spec.version],
        # Meridian brings its own observability (SiteObservability add-on).
        "monitoring_enabled": "false",
        # No Kubernetes dashboard: one more privileged web UI nobody here asked for.
        "kube_dashboard_enabled": "false",
        # MachineHealthChecks replace failed nodes (the driver's default, stated).
        "auto_healing_enabled": "true",
        "auto_scaling_enabled": "true",
        # The default-worker group takes its autoscaler bounds from these labels (driver.py
        # `_get_node_counts`); further groups from their own min/max_node_count.
        "min_node_count": str(first.min_size),
        "max_node_count": str(first.max_size),
        # One root-volume size for every machine of the cluster (control plane included).
        "boot_volume_size": str(first.disk_gb),
        # Who may reach the API load balancer (driver.py: api_master_lb_allowed_cidrs; Cluster
        # API's OpenStack provider adds the node subnet and router itself). A cluster takes
        # its template's labels at creation; the template ignores later changes of this list
        # (see its ignore_changes).
        "api_master_lb_allowed_cidrs": pulumi.Output.from_input(allowed_cidrs).apply(",".join),
        # The Octavia provider of the API and Service load balancers (driver.py _get_octavia_provider),
        # the site's, explicit; the driver then picks the matching algorithm (ROUND_ROBIN for amphora).
        "octavia_provider": octavia_provider,
    }


def label_args(labels: Mapping[str, str], group: str) -> list[str]:
    """Arguments of `kubectl` that put Kubernetes `labels` on the nodes of the Magnum node group `group`."""
    pairs = [f"{key}={value}" for key, value in labels.items()]
    return ["label", "nodes", "-l", f"{NODE_GROUP_LABEL}={group}", *pairs, "--overwrite"]


def taint_args(taints: Sequence[TaintSpec], group: str) -> list[str]:
    """Arguments of `kubectl` that put `taints` on the nodes of the Magnum node group `group`."""
    return ["taint", "nodes", "-l", f"{NODE_GROUP_LABEL}={group}", *map(_taint, taints), "--overwrite"]


def _taint(taint: TaintSpec) -> str:
    return f"{taint.key}={taint.value}:{taint.effect}" if taint.value else f"{taint.key}:{taint.effect}"


def _tolerations(spec: ClusterSpec) -> list[k8s.core.v1.TolerationArgsDict]:
    """What node-setup pods tolerate: CriticalAddonsOnly, and every taint they put on nodes themselves.

    Without the latter, a cluster whose workers are all tainted by Meridian (say, only GPU
    pools) would leave the jobs nowhere to run after their first success.
    """
    tolerations: list[k8s.core.v1.TolerationArgsDict] = [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    seen: set[tuple[str, str]] = set()
    for pool in spec.node_pools.values():
        for taint in pool.node_taints:
            if (taint.key, taint.effect) not in seen:
                seen.add((taint.key, taint.effect))
                tolerations.append({"key": taint.key, "operator": "Exists", "effect": taint.effect})
    return tolerations


def _node_setup_rbac(cluster: KubernetesCluster, opts: pulumi.ResourceOptions) -> None:
    """The identity of the node-setup jobs: may read and patch Node objects, nothing else."""
    metadata: k8s.meta.v1.ObjectMetaArgsDict = {"name": NODE_SETUP_NAME, "labels": _object_labels(cluster.labels)}
    k8s.core.v1.ServiceAccount(
        f"{cluster.name}-node-setup",
        metadata={**metadata, "namespace": NODE_SETUP_NAMESPACE},
        opts=opts,
    )
    k8s.rbac.v1.ClusterRole(
        f"{cluster.name}-node-setup",
        metadata=metadata,
        # `kubectl label|taint nodes -l ...` lists the nodes, then patches each one.
        rules=[{"api_groups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]}],
        opts=opts,
    )
    k8s.rbac.v1.ClusterRoleBinding(
        f"{cluster.name}-node-setup",
        metadata=metadata,
        role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NODE_SETUP_NAME},
        subjects=[{"kind": "ServiceAccount", "name": NODE_SETUP_NAME, "namespace": NODE_SETUP_NAMESPACE}],
        opts=opts,
    )


def _node_setup_job(
    pool: NodePool,
    pool_name: str,
    key: str,
    group: str,
    image: str,
    tolerations: list[k8s.core.v1.TolerationArgsDict],
    labels: dict[str, str],
    provider: k8s.Provider,
) -> None:
    """A CronJob that labels and taints the nodes of one node group.

    Magnum node-group labels are driver settings and never reach the nodes, and the
    driver passes no node labels or taints to the capi-helm chart
    (azimuth-cloud/capi-helm-charts#84; 2i2c-org/infrastructure terraform/openstack/cluster.tf
    works around the same gap). So the nodes are found by the one label the chart does
    set, `capi.stackhpc.com/node-group`, and labelled and tainted from inside the cluster;
    a new node is untainted for up to one schedule period.
    """
    label = _kubectl_container("label", image, label_args(pool.node_labels, group))
    taint = (
        _kubectl_container("taint", image, taint_args(pool.spec.node_taints, group)) if pool.spec.node_taints else None
    )
    pod: k8s.core.v1.PodSpecArgsDict = {
        "service_account_name": NODE_SETUP_NAME,
        "automount_service_account_token": True,
        "restart_policy": "Never",
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": 65534,
            "run_as_group": 65534,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "tolerations": tolerations,
        # Labels first (an init container), then taints: the last step is the pod's container.
        "containers": [label if taint is None else taint],
        "volumes": [{"name": "scratch", "empty_dir": {"size_limit": "16Mi"}}],
    }
    if taint is not None:
        pod["init_containers"] = [label]
    k8s.batch.v1.CronJob(
        f"{pool_name}-node-setup",
        metadata={
            # CronJob names may have 52 characters (Jobs append 11); pool keys have at most 40.
            "name": f"node-setup-{key}",
            "namespace": NODE_SETUP_NAMESPACE,
            "labels": _object_labels(labels),
        },
        spec={
            "schedule": NODE_SETUP_SCHEDULE,
            "concurrency_policy": "Forbid",
            "starting_deadline_seconds": 120,
            "successful_jobs_history_limit": 1,
            "failed_jobs_history_limit": 3,
            "job_template": {
                "spec": {
                    "backoff_limit": 1,
                    "active_deadline_seconds": 240,
                    "template": {"metadata": {"labels": _object_labels(labels)}, "spec": pod},
                },
            },
        },
        opts=pulumi.ResourceOptions(parent=pool, provider=provider),
    )


def _kubectl_container(name: str, image: str, args: list[str]) -> k8s.core.v1.ContainerArgsDict:
    """A locked-down container running one kubectl command (the image's entrypoint is /bin/kubectl)."""
    return {
        "name": name,
        "image": image,
        "args": args,
        "env": [{"name": "HOME", "value": _SCRATCH}],  # kubectl caches API discovery under $HOME/.kube
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": 65534,
            "allow_privilege_escalation": False,
            "read_only_root_filesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volume_mounts": [{"name": "scratch", "mount_path": _SCRATCH}],
    }


def _object_labels(labels: dict[str, str]) -> dict[str, str]:
    return {**labels, "app.kubernetes.io/name": NODE_SETUP_NAME, "app.kubernetes.io/managed-by": "meridian"}
