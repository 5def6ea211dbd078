"""GpuOperator: the NVIDIA GPU Operator on a cluster with GPU pools, configured per pool.

Children (`parent=self`, all through the cluster's Kubernetes provider):

* `<c>-gpu-operator`               core/v1 Namespace `gpu-operator` (Pod Security: privileged — the
                                   driver, toolkit and MIG manager need host access)
* `<c>-gpu-operator-time-slicing`  ConfigMap of device-plugin configurations, one per replica count
                                   (only when a pool is time-sliced)
* `<c>-gpu-operator-mig-parted`    ConfigMap of mig-parted configurations (only for custom layouts)
* `<c>-gpu-operator`               helm.v3.Release of nvidia/gpu-operator at GPU_OPERATOR_VERSION

On magnum clusters the driver's cluster-addons chart has already installed the operator
(ADOPTED_RELEASE): no Namespace and no Release, the ConfigMaps go to its namespace, and

* `<c>-gpu-operator-cluster-policy` apiextensions.CustomResourcePatch of the ClusterPolicy with the
                                   fields Meridian owns (cluster_policy_spec)

Pools select their mode by node labels set at registration (see NodePoolSpec.node_labels):
`nvidia.com/mig.config` for the MIG manager, `nvidia.com/device-plugin.config` for the
device plugin; nodes without a label get whole GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..charts import locked
from ..spec import ClusterSpec
from ..spec.clusters import GPU_TAINT
from ..spec.gitops import LABEL_PREFIX
from ..spec.gpu import ClusterGpuSummary, gpu_summary
from ..yamlout import dump
from .base import AddonContext, ChartRelease, chart_release
from .base import namespace as addon_namespace

GPU_OPERATOR_CHART = "gpu-operator"
#: Version and repository from the chart lock (components/charts.lock.yaml), the one place they live.
GPU_OPERATOR_VERSION = locked(GPU_OPERATOR_CHART).version
NAMESPACE = "gpu-operator"
TIME_SLICING_CONFIG = "meridian-time-slicing"
MIG_PARTED_CONFIG = "meridian-mig-parted"
#: RKE2 runs its own containerd at its own socket, and that is all the toolkit is told: the
#: RKE2 documentation for the v26 operator line (rancher/rke2-docs docs/add-ons/gpu_operators.md,
#: tabs v25.10.x and v26.3.x) sets only CONTAINERD_SOCKET. RKE2 finds the NVIDIA runtimes on
#: its PATH and adds them to the containerd config it renders itself (k3s
#: pkg/agent/containerd/runtimes.go), and ships the `nvidia` RuntimeClass (rke2-runtimeclasses).
#: The older recipe that pointed CONTAINERD_CONFIG at RKE2's config.toml.tmpl wrote a
#: rendered config into RKE2's template, and nodes did not come back after a reboot
#: (NVIDIA/gpu-operator#992; NVIDIA removed that recipe in cloud-native-docs ff98a125). The
#: MIG manager reboots these nodes (WITH_REBOOT below). With CDI (on by default since
#: v25.10) nothing makes `nvidia` the default runtime of every pod: workloads get GPUs from
#: the device plugin's CDI devices, not from a runtime class.
RKE2_TOOLKIT_ENV = [{"name": "CONTAINERD_SOCKET", "value": "/run/k3s/containerd/containerd.sock"}]
#: The CDI hook of the nvidia-container-toolkit package on eks's AL2023 NVIDIA AMI.
AMI_CDI_HOOK = "/usr/bin/nvidia-cdi-hook"
#: The chart's own node-feature-discovery worker tolerations besides the GPU taint
#: (gpu-operator v26.7.0 values.yaml `node-feature-discovery.worker.tolerations`): a values list
#: replaces the default, so what it had is carried over.
NFD_WORKER_DEFAULT_TOLERATIONS = [
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "value": "", "effect": "NoSchedule"}
]
#: Magnum (magnum-capi-helm) clusters get the GPU Operator from the capi-helm `cluster-addons`
#: chart, whose `nvidiaGPUOperator` add-on is on by default and which no Magnum label switches
#: off (magnum_capi_helm/driver.py passes no GPU setting; azimuth-cloud/capi-helm-charts 0.27.0
#: cluster-addons values.yaml `nvidiaGPUOperator.enabled: true`, templates/nvidia-gpu-operator.yaml
#: `releaseName: nvidia-gpu-operator`, shared NFD in templates/nfd.yaml). Meridian adopts that
#: operator instead of installing a second one (which would collide on its cluster-scoped
#: objects) and delivers only what it owns: the ConfigMaps and the ClusterPolicy fields that
#: select them, the MIG strategy, the operands' tolerations and the reboot setting.
#: The adopted ClusterPolicy exists before anything here is sent: Magnum reports CREATE_COMPLETE
#: only once every add-on HelmRelease of the cluster is `Deployed` (magnum-capi-helm 1.4.0
#: driver.py `_update_status_updating`), the cluster resource waits for that status, and the
#: cluster's Kubernetes provider is built from its kubeconfig after the API answers (readiness.py).
ADOPTED_RELEASE = {"magnum": "nvidia-gpu-operator"}
#: The ClusterPolicy the chart creates (templates/clusterpolicy.yaml `name: cluster-policy`).
CLUSTER_POLICY = "cluster-policy"
#: Label the observability stack's Prometheus selects ServiceMonitors by.
SCRAPE_LABEL = {"meridian.io/scrape": "true"}


def time_slicing_configs(cluster: ClusterSpec) -> dict[str, str]:
    """Device-plugin configurations (config name -> YAML), one per distinct replica count."""
    configs = {}
    for pool in cluster.gpu_pools.values():
        assert pool.gpu is not None
        sharing = pool.gpu.time_slicing
        if sharing is None:
            continue
        configs[sharing.config_name] = dump(
            {
                "version": "v1",
                "flags": {"migStrategy": "none"},
                "sharing": {
                    "timeSlicing": {
                        # Keep the resource name nvidia.com/gpu so workloads need no change, and
                        # refuse requests for more than one share (they would not get more GPU).
                        "renameByDefault": False,
                        "failRequestsGreaterThanOne": True,
                        "resources": [{"name": "nvidia.com/gpu", "replicas": sharing.replicas}],
                    }
                },
            }
        )
    return configs


def mig_parted_config(cluster: ClusterSpec) -> str | None:
    """A mig-parted config.yaml with every layout the cluster's pools use, when any pool has a custom layout.

    A custom ConfigMap replaces the MIG manager's generated one, so it lists the built-in
    configurations the other pools use as well, plus `all-disabled`.
    """
    gpus = [pool.gpu for pool in cluster.gpu_pools.values() if pool.gpu is not None]
    if not any(gpu.mig is not None and gpu.mig.custom is not None for gpu in gpus):
        return None
    layouts: dict[str, dict[str, int]] = {}
    for gpu in gpus:
        # A validated pool has a layout exactly when it has a mig block (unknown profiles are refused).
        if gpu.mig is None or gpu.mig_layout is None:  # pragma: no mutate
            continue
        layouts[gpu.mig.config_name] = gpu.mig_layout
    configs: dict[str, Any] = {"all-disabled": [{"devices": "all", "mig-enabled": False}]}
    for name, layout in sorted(layouts.items()):
        configs[name] = [{"devices": "all", "mig-enabled": True, "mig-devices": dict(sorted(layout.items()))}]
    return dump({"version": "v1", "mig-configs": configs})


def gpu_operator_values(cluster: ClusterSpec) -> dict[str, Any]:
    """The chart values for a cluster: the one place the GPU Operator's configuration comes from."""
    gpus = [pool.gpu for pool in cluster.gpu_pools.values() if pool.gpu is not None]
    if not gpus:
        raise ValueError("the GPU Operator is only installed on clusters with GPU pools")
    operator_driver = cluster.gpu_driver(gpus[0]) == "operator"  # the spec makes it uniform per cluster
    strategies = {gpu.mig.strategy for gpu in gpus if gpu.mig is not None}
    uses_mig = bool(strategies)
    # The operands (driver, toolkit, device plugin, MIG manager, DCGM) must run on every GPU
    # node: tolerate the GPU taint and every taint a GPU pool adds of its own.
    tolerations = [{"key": GPU_TAINT[0], "operator": "Exists", "effect": GPU_TAINT[2]}]
    for pool in cluster.gpu_pools.values():
        for taint in pool.node_taints:
            toleration = {"key": taint.key, "operator": "Exists", "effect": taint.effect}
            if toleration not in tolerations:
                tolerations.append(toleration)
    values: dict[str, Any] = {
        "cdi": {"enabled": True},
        "nfd": {"enabled": True},
        # The NFD worker has tolerations of its own (not daemonsets.tolerations): without every
        # GPU pool's taints it never runs on such a pool, the node never gets NFD's NVIDIA PCI
        # labels, and the operator then resets nvidia.com/gpu.present and removes its deploy
        # labels, so no driver or device plugin runs there. NFD's master and gc are Deployments
        # that run on any untainted node, and the operator Deployment needs no GPU node.
        "node-feature-discovery": {"worker": {"tolerations": [*NFD_WORKER_DEFAULT_TOLERATIONS, *tolerations]}},
        "daemonsets": {
            "priorityClassName": "system-node-critical",
            "tolerations": tolerations,
            "updateStrategy": "RollingUpdate",
        },
        "driver": {"enabled": operator_driver},
        # The container toolkit follows the node image, not the driver: the AL2023 NVIDIA AMI (eks)
        # ships it with the driver; an OpenStack image with a preinstalled driver ships no `nvidia`
        # runtime handler, which every operand pod names (gpu-operator v26.7.0 object_controls.go
        # setRuntimeClassName), so the operator installs the toolkit there (RKE2 docs, add-ons, GPU
        # operators: toolkit on with a preinstalled driver).
        "toolkit": {
            "enabled": cluster.backend != "eks",
            "env": RKE2_TOOLKIT_ENV if cluster.backend == "rke2" else [],
        },
        "mig": {"strategy": strategies.pop() if uses_mig else "single"},
        "migManager": {
            "enabled": uses_mig,
            # Changing MIG mode needs a GPU reset; GPUs passed through to OpenStack VMs only
            # reset with a reboot of the VM (GPU Operator docs, "MIG support": WITH_REBOOT).
            "env": [
                {"name": "WITH_REBOOT", "value": "true" if cluster.backend in ("rke2", "magnum", "capi") else "false"},
                # With the operator's toolkit off (eks), the operator gives the MIG manager no CDI hook
                # path (gpu-operator v26.7.0 object_controls.go) and mig-parted falls back to the
                # toolkit's install directory (v0.15.0 cmd/nvidia-mig-manager), absent on the NVIDIA
                # AMI, whose nvidia-container-toolkit package puts the hook in /usr/bin.
                *([{"name": "NVIDIA_CDI_HOOK_PATH", "value": AMI_CDI_HOOK}] if cluster.backend == "eks" else []),
            ],
            "config": {"default": "all-disabled", "create": False, "name": ""},
        },
        "devicePlugin": {"enabled": True},
        "dcgmExporter": {
            "enabled": True,
            # The ServiceMonitor CRD comes with the cluster's collector; without it, no monitor.
            "serviceMonitor": {
                "enabled": cluster.addons.observed,
                "interval": "15s",
                "scrapeTimeout": "10s",
                "honorLabels": False,
                "additionalLabels": dict(SCRAPE_LABEL),
            },
        },
        "gfd": {"enabled": True},
    }
    if time_slicing_configs(cluster):
        values["devicePlugin"]["config"] = {"create": False, "name": TIME_SLICING_CONFIG, "default": ""}
    if mig_parted_config(cluster) is not None:
        values["migManager"]["config"]["name"] = MIG_PARTED_CONFIG
    return values


def gpu_operator_release(cluster_name: str, cluster: ClusterSpec) -> ChartRelease:
    """The release record of the operator on `cluster_name` (installed unless adopted, ADOPTED_RELEASE)."""
    return chart_release(
        f"{cluster_name}-gpu-operator",
        GPU_OPERATOR_CHART,
        namespace=NAMESPACE,
        values=gpu_operator_values(cluster),
        # The DCGM exporter's ServiceMonitor is an object of the collector's CRDs.
        waits_for=("observability",) if cluster.addons.observed else (),
    )


def cluster_policy_spec(cluster: ClusterSpec) -> dict[str, Any]:
    """The ClusterPolicy fields Meridian owns on an adopted operator, taken from `gpu_operator_values`.

    The chart copies these values into the ClusterPolicy's spec under the same names
    (templates/clusterpolicy.yaml: daemonsets.tolerations, mig.strategy, migManager.env and
    .config, devicePlugin.config), so one function decides them whoever installed the chart.
    """
    values = gpu_operator_values(cluster)
    manager = values["migManager"]
    spec: dict[str, Any] = {
        "daemonsets": {"tolerations": values["daemonsets"]["tolerations"]},
        "mig": {"strategy": values["mig"]["strategy"]},
        "migManager": {"env": manager["env"]},
    }
    if manager["config"]["name"]:
        spec["migManager"]["config"] = {"name": manager["config"]["name"], "default": manager["config"]["default"]}
    plugin = values["devicePlugin"].get("config")
    if plugin is not None:
        spec["devicePlugin"] = {"config": {"name": plugin["name"], "default": plugin["default"]}}
    return spec


class GpuOperator(pulumi.ComponentResource):
    """The NVIDIA GPU Operator for one cluster, with per-pool MIG and time-slicing configuration."""

    summary: ClusterGpuSummary
    """What the cluster's GPU pools offer, in the resource names pods request."""
    release: ChartRelease
    """The release record (delivered unless the cluster's provisioner installed the operator)."""
    values: dict[str, Any]
    """The chart values the release was given."""

    def __init__(
        self,
        name: str,
        context: AddonContext,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Install the GPU Operator on the context's cluster.

        :param name: `<cluster>-gpu-operator`; prefixes the children's names.
        :param context: the cluster's add-on context: its spec (the GPU pools decide the
            configuration), its explicit provider, labels, and how its releases are delivered
            (directly, or by the project's GitOps engine with `addons.delivery: gitops`).
        :param depends_on: what the operator's objects need first: the add-ons its release waits for
            (`gpu_operator_release`), the collector whose CRDs the DCGM ServiceMonitor needs.
        :param opts: options of the component itself.
        """
        super().__init__("meridian:addons:GpuOperator", name, None, opts)
        cluster_name, cluster = context.cluster_name, context.cluster
        provider, labels = context.provider, context.labels
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        self.summary = gpu_summary(cluster_name, cluster)
        self.release = gpu_operator_release(cluster_name, cluster)
        adopted = ADOPTED_RELEASE.get(cluster.backend)
        namespace_name: pulumi.Input[str] = NAMESPACE
        depends: list[pulumi.Resource] = list(depends_on)
        if adopted is None:
            # The driver, toolkit and MIG manager need host access.
            namespace = addon_namespace(
                name, NAMESPACE, labels=labels, enforce="privileged", warn="privileged", provider=provider, parent=self
            )
            namespace_name = namespace.metadata.name
        time_slicing = time_slicing_configs(cluster)
        if time_slicing:
            depends.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-time-slicing",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=TIME_SLICING_CONFIG, namespace=namespace_name, labels=labels
                    ),
                    data=time_slicing,
                    opts=on_cluster,
                )
            )
        mig_parted = mig_parted_config(cluster)
        if mig_parted is not None:
            depends.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-mig-parted",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=MIG_PARTED_CONFIG, namespace=namespace_name, labels=labels
                    ),
                    # The MIG manager requires the key config.yaml (chart values.yaml, migManager.config).
                    data={"config.yaml": mig_parted},
                    opts=on_cluster,
                )
            )
        if adopted is None:
            # On a `delivery: gitops` cluster the project's engine installs the chart on GPU clusters
            # (the label), this one by name; the namespace and the ConfigMaps it reads exist first.
            context.deliver(
                self.release,
                parent=self,
                depends_on=[*depends, namespace],
                namespace=namespace_name,
                selector={f"{LABEL_PREFIX}gpu": "true"},
            )
        else:
            # Server-side apply of Meridian's fields only; patchForce takes them over from the
            # field manager of the driver's Helm release (Pulumi Kubernetes docs, "Server-side
            # apply": patch resources and the pulumi.com/patchForce annotation).
            k8s.apiextensions.CustomResourcePatch(
                f"{name}-cluster-policy",
                api_version="nvidia.com/v1",
                kind="ClusterPolicy",
                metadata={
                    "name": CLUSTER_POLICY,
                    "annotations": {"pulumi.com/patchForce": "true", "meridian.io/adopted-release": adopted},
                },
                spec=cluster_policy_spec(cluster),
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends),
            )
        self.register_outputs(
            {
                "cluster": self.summary.cluster,
                "namespace": NAMESPACE,
                "version": GPU_OPERATOR_VERSION if adopted is None else f"adopted: {adopted}",
                "resources": self.summary.resources,
            }
        )
