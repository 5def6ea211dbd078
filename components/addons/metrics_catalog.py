"""The metric names each exporter in Meridian's collector stack produces, grouped by exporter.

Dashboards (`components/addons/dashboards.py`) and alert rules may only name metrics listed here;
tests extract every metric a PromQL expression selects and check it against `KNOWN_METRICS`, so a
renamed or misspelt metric fails in CI instead of drawing an empty panel.

Each group names where its names were read: repository, file and the version the collector runs
(the versions the locked charts pin, components/charts.lock.yaml, or the nearest release tag where that tag was
not published yet). Names are facts carried over; no upstream code is copied. A histogram's series
are listed with their `_bucket`, `_sum` and `_count` suffixes and a summary's with `_sum` and
`_count`, because queries select those series, not the family name.

Label facts the dashboards depend on are kept here too, next to the metrics they belong to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..spec.clusters import POOL_LABEL


@dataclass(frozen=True)
class ExporterMetrics:
    """The metric names one exporter produces and where they were read."""

    #: What produces them, as the collector stack names it.
    exporter: str
    #: Repository, file(s) and version the names were read from.
    source: str
    #: Series names a query can select (histogram and summary suffixes included).
    names: frozenset[str]


# The catalog's helpers below run at import only, building the constants, where mutmut's
# per-call switch never reaches: their mutants cannot be observed by it. What they build is checked
# wherever a dashboard or an alert names a metric (a wrong histogram suffix fails the known-metrics
# check, applied by hand); an entry no query names is inert data.
def _histograms(*families: str) -> tuple[str, ...]:
    """The three series a classic Prometheus histogram family is exposed as."""
    # pragma: no mutate block - runs at import only (see the note above _histograms)
    return tuple(f"{family}{suffix}" for family in families for suffix in ("_bucket", "_sum", "_count"))


def _summaries(*families: str) -> tuple[str, ...]:
    """The series a summary family without quantile objectives is exposed as (plus the family for quantiles)."""
    # pragma: no mutate block - runs at import only (see the note above _histograms)
    return tuple(f"{family}{suffix}" for family in families for suffix in ("", "_sum", "_count"))


def _words(text: str) -> tuple[str, ...]:
    """The whitespace-separated names of a long list, kept as compact text rather than one name a line."""
    # pragma: no mutate block - runs at import only (see the note above _histograms)
    return tuple(text.split())


def _group(exporter: str, source: str, names: Iterable[str]) -> ExporterMetrics:
    # pragma: no mutate block - runs at import only (see the note above _histograms)
    return ExporterMetrics(exporter=exporter, source=source, names=frozenset(names))


# --- Label facts ---------------------------------------------------------------------------------

#: The node label the GPU pools carry (one source: components/spec/clusters.py).
POOL_NODE_LABEL = POOL_LABEL
#: The GPU model label GPU feature discovery sets on GPU nodes (NVIDIA/gpu-feature-discovery).
GPU_PRODUCT_NODE_LABEL = "nvidia.com/gpu.product"


def kube_state_metrics_label(node_label: str) -> str:
    """The label `kube_node_labels` carries for an allow-listed node label.

    kube-state-metrics prefixes `label_` and replaces every character outside `[a-zA-Z0-9_]` with
    `_` (kubernetes/kube-state-metrics v2.20.0, internal/store/utils.go, SanitizeLabelName).
    """
    return "label_" + "".join(c if c.isascii() and c.isalnum() else "_" for c in node_label)


#: DCGM exporter's label holding the node name (set from NODE_NAME, which the GPU Operator's
#: daemonset fills from spec.nodeName: NVIDIA/gpu-operator v26.7.0 assets/state-dcgm-exporter/
#: 0800_daemonset.yaml). Releases up to 4.5.3-4.8.2 call it `Hostname`; NVIDIA/dcgm-exporter
#: commit d5e5f51 (PR #655, 2026-05-12, after that tag) renamed it `hostname`. The GPU Operator
#: v26.7.0 pins 4.6.0-4.8.3, so dashboards accept either spelling.
DCGM_NODE_LABELS: tuple[str, ...] = ("Hostname", "hostname")
#: DCGM exporter's per-device labels (internal/pkg/rendermetrics/render_metrics.go): `gpu` index,
#: `UUID`, `pci_bus_id`, `device`, `modelName`; on MIG instances also `GPU_I_PROFILE` and `GPU_I_ID`.
DCGM_MIG_PROFILE_LABEL = "GPU_I_PROFILE"
DCGM_MODEL_LABEL = "modelName"

# --- Groups --------------------------------------------------------------------------------------

#: Every documented metric (docs/metrics/**, all statuses) of kube-state-metrics v2.20.0, the
#: appVersion of the kube-state-metrics 8.4.0 chart kube-prometheus-stack 88.5.3 depends on.
KUBE_STATE_METRICS = _group(
    "kube-state-metrics",
    "kubernetes/kube-state-metrics v2.20.0, docs/metrics/*/*-metrics.md (custom resource state excluded)",
    _words(
        """
    kube_certificatesigningrequest_annotations kube_certificatesigningrequest_cert_length
    kube_certificatesigningrequest_condition kube_certificatesigningrequest_created
    kube_certificatesigningrequest_labels kube_clusterrole_annotations kube_clusterrole_created
    kube_clusterrole_info kube_clusterrole_labels kube_clusterrole_metadata_resource_version
    kube_clusterrolebinding_annotations kube_clusterrolebinding_created kube_clusterrolebinding_info
    kube_clusterrolebinding_labels kube_clusterrolebinding_metadata_resource_version kube_configmap_annotations
    kube_configmap_created kube_configmap_info kube_configmap_labels kube_configmap_metadata_resource_version
    kube_cronjob_annotations kube_cronjob_created kube_cronjob_info kube_cronjob_labels
    kube_cronjob_metadata_resource_version kube_cronjob_next_schedule_time kube_cronjob_schedule_invalid
    kube_cronjob_spec_failed_job_history_limit kube_cronjob_spec_starting_deadline_seconds
    kube_cronjob_spec_successful_job_history_limit kube_cronjob_spec_suspend kube_cronjob_status_active
    kube_cronjob_status_last_schedule_time kube_cronjob_status_last_successful_time kube_daemonset_annotations
    kube_daemonset_created kube_daemonset_deletion_timestamp kube_daemonset_labels
    kube_daemonset_metadata_generation kube_daemonset_status_current_number_scheduled
    kube_daemonset_status_desired_number_scheduled kube_daemonset_status_number_available
    kube_daemonset_status_number_misscheduled kube_daemonset_status_number_ready
    kube_daemonset_status_number_unavailable kube_daemonset_status_observed_generation
    kube_daemonset_status_updated_number_scheduled kube_deployment_annotations kube_deployment_created
    kube_deployment_deletion_timestamp kube_deployment_labels kube_deployment_metadata_generation
    kube_deployment_owner kube_deployment_spec_paused kube_deployment_spec_replicas
    kube_deployment_spec_strategy_rollingupdate_max_surge
    kube_deployment_spec_strategy_rollingupdate_max_unavailable kube_deployment_status_condition
    kube_deployment_status_observed_generation kube_deployment_status_replicas
    kube_deployment_status_replicas_available kube_deployment_status_replicas_ready
    kube_deployment_status_replicas_unavailable kube_deployment_status_replicas_updated
    kube_deployment_status_terminating_replicas kube_endpoint_address kube_endpoint_annotations
    kube_endpoint_created kube_endpoint_info kube_endpoint_labels kube_endpoint_ports
    kube_endpointslice_annotations kube_endpointslice_created kube_endpointslice_endpoints
    kube_endpointslice_endpoints_hints kube_endpointslice_info kube_endpointslice_labels
    kube_endpointslice_ports kube_horizontalpodautoscaler_annotations kube_horizontalpodautoscaler_created
    kube_horizontalpodautoscaler_deletion_timestamp kube_horizontalpodautoscaler_info
    kube_horizontalpodautoscaler_labels kube_horizontalpodautoscaler_metadata_generation
    kube_horizontalpodautoscaler_spec_behavior_scale_down_tolerance
    kube_horizontalpodautoscaler_spec_behavior_scale_up_tolerance
    kube_horizontalpodautoscaler_spec_max_replicas kube_horizontalpodautoscaler_spec_min_replicas
    kube_horizontalpodautoscaler_spec_target_metric kube_horizontalpodautoscaler_status_condition
    kube_horizontalpodautoscaler_status_current_replicas kube_horizontalpodautoscaler_status_desired_replicas
    kube_horizontalpodautoscaler_status_target_metric kube_ingress_annotations kube_ingress_created
    kube_ingress_info kube_ingress_labels kube_ingress_metadata_resource_version kube_ingress_path
    kube_ingress_tls kube_ingressclass_annotations kube_ingressclass_created kube_ingressclass_info
    kube_ingressclass_labels kube_job_annotations kube_job_complete kube_job_created kube_job_failed
    kube_job_info kube_job_labels kube_job_owner kube_job_spec_active_deadline_seconds
    kube_job_spec_completions kube_job_spec_parallelism kube_job_status_active kube_job_status_completion_time
    kube_job_status_failed kube_job_status_ready kube_job_status_start_time kube_job_status_succeeded
    kube_job_status_suspended kube_lease_owner kube_lease_renew_time kube_limitrange kube_limitrange_created
    kube_mutatingadmissionpolicy_created kube_mutatingadmissionpolicy_info
    kube_mutatingadmissionpolicybinding_created kube_mutatingadmissionpolicybinding_info
    kube_mutatingwebhookconfiguration_created kube_mutatingwebhookconfiguration_info
    kube_mutatingwebhookconfiguration_metadata_resource_version
    kube_mutatingwebhookconfiguration_webhook_clientconfig_service kube_namespace_annotations
    kube_namespace_created kube_namespace_labels kube_namespace_status_condition kube_namespace_status_phase
    kube_networkpolicy_annotations kube_networkpolicy_created kube_networkpolicy_labels
    kube_networkpolicy_spec_egress_rules kube_networkpolicy_spec_ingress_rules kube_node_annotations
    kube_node_created kube_node_deletion_timestamp kube_node_info kube_node_labels kube_node_role
    kube_node_spec_pod_cidrs kube_node_spec_taint kube_node_spec_unschedulable kube_node_status_addresses
    kube_node_status_allocatable kube_node_status_capacity kube_node_status_condition
    kube_persistentvolume_access_mode kube_persistentvolume_annotations kube_persistentvolume_capacity_bytes
    kube_persistentvolume_claim_ref kube_persistentvolume_created kube_persistentvolume_csi_attributes
    kube_persistentvolume_deletion_timestamp kube_persistentvolume_info kube_persistentvolume_labels
    kube_persistentvolume_status_phase kube_persistentvolume_volume_mode kube_persistentvolumeclaim_access_mode
    kube_persistentvolumeclaim_annotations kube_persistentvolumeclaim_created
    kube_persistentvolumeclaim_deletion_timestamp kube_persistentvolumeclaim_info
    kube_persistentvolumeclaim_labels kube_persistentvolumeclaim_resource_requests_storage_bytes
    kube_persistentvolumeclaim_status_condition kube_persistentvolumeclaim_status_phase kube_pod_annotations
    kube_pod_completion_time kube_pod_container_info kube_pod_container_resource_limits
    kube_pod_container_resource_requests kube_pod_container_state_started
    kube_pod_container_status_last_terminated_exitcode kube_pod_container_status_last_terminated_reason
    kube_pod_container_status_last_terminated_timestamp kube_pod_container_status_ready
    kube_pod_container_status_restarts_total kube_pod_container_status_running
    kube_pod_container_status_terminated kube_pod_container_status_terminated_reason
    kube_pod_container_status_waiting kube_pod_container_status_waiting_reason kube_pod_created
    kube_pod_deletion_timestamp kube_pod_info kube_pod_init_container_info
    kube_pod_init_container_resource_limits kube_pod_init_container_resource_requests
    kube_pod_init_container_state_started kube_pod_init_container_status_last_terminated_exitcode
    kube_pod_init_container_status_last_terminated_reason
    kube_pod_init_container_status_last_terminated_timestamp kube_pod_init_container_status_ready
    kube_pod_init_container_status_restarts_total kube_pod_init_container_status_running
    kube_pod_init_container_status_terminated kube_pod_init_container_status_terminated_reason
    kube_pod_init_container_status_waiting kube_pod_init_container_status_waiting_reason kube_pod_ips
    kube_pod_labels kube_pod_nodeselectors kube_pod_overhead_cpu_cores kube_pod_overhead_memory_bytes
    kube_pod_owner kube_pod_resourceclaim_info kube_pod_restart_policy kube_pod_runtimeclass_name_info
    kube_pod_scheduler kube_pod_service_account kube_pod_spec_volumes_persistentvolumeclaims_info
    kube_pod_spec_volumes_persistentvolumeclaims_readonly kube_pod_start_time
    kube_pod_status_container_ready_time kube_pod_status_disruption_reason kube_pod_status_initialized_time
    kube_pod_status_phase kube_pod_status_qos_class kube_pod_status_ready kube_pod_status_ready_time
    kube_pod_status_reason kube_pod_status_scheduled kube_pod_status_scheduled_time
    kube_pod_status_unschedulable kube_pod_status_unscheduled_time kube_pod_tolerations
    kube_poddisruptionbudget_annotations kube_poddisruptionbudget_created
    kube_poddisruptionbudget_deletion_timestamp kube_poddisruptionbudget_labels
    kube_poddisruptionbudget_status_current_healthy kube_poddisruptionbudget_status_desired_healthy
    kube_poddisruptionbudget_status_expected_pods kube_poddisruptionbudget_status_observed_generation
    kube_poddisruptionbudget_status_pod_disruptions_allowed kube_replicaset_annotations kube_replicaset_created
    kube_replicaset_labels kube_replicaset_metadata_generation kube_replicaset_owner
    kube_replicaset_spec_replicas kube_replicaset_status_fully_labeled_replicas
    kube_replicaset_status_observed_generation kube_replicaset_status_ready_replicas
    kube_replicaset_status_replicas kube_replicaset_status_terminating_replicas
    kube_replicationcontroller_created kube_replicationcontroller_metadata_generation
    kube_replicationcontroller_owner kube_replicationcontroller_spec_replicas
    kube_replicationcontroller_status_available_replicas
    kube_replicationcontroller_status_fully_labeled_replicas
    kube_replicationcontroller_status_observed_generation kube_replicationcontroller_status_ready_replicas
    kube_replicationcontroller_status_replicas kube_resourcequota kube_resourcequota_annotations
    kube_resourcequota_created kube_resourcequota_labels kube_role_annotations kube_role_created kube_role_info
    kube_role_labels kube_role_metadata_resource_version kube_rolebinding_annotations kube_rolebinding_created
    kube_rolebinding_info kube_rolebinding_labels kube_rolebinding_metadata_resource_version
    kube_secret_annotations kube_secret_created kube_secret_info kube_secret_labels
    kube_secret_metadata_resource_version kube_secret_owner kube_secret_type kube_service_annotations
    kube_service_created kube_service_deletion_timestamp kube_service_info kube_service_labels
    kube_service_spec_external_ip kube_service_spec_type kube_service_status_load_balancer_ingress
    kube_serviceaccount_annotations kube_serviceaccount_created kube_serviceaccount_deleted
    kube_serviceaccount_image_pull_secret kube_serviceaccount_info kube_serviceaccount_labels
    kube_serviceaccount_secret kube_statefulset_annotations kube_statefulset_created
    kube_statefulset_deletion_timestamp kube_statefulset_labels kube_statefulset_metadata_generation
    kube_statefulset_ordinals_start kube_statefulset_persistentvolumeclaim_retention_policy
    kube_statefulset_replicas kube_statefulset_status_current_revision
    kube_statefulset_status_observed_generation kube_statefulset_status_replicas
    kube_statefulset_status_replicas_available kube_statefulset_status_replicas_current
    kube_statefulset_status_replicas_ready kube_statefulset_status_replicas_updated
    kube_statefulset_status_update_revision kube_storageclass_annotations kube_storageclass_created
    kube_storageclass_info kube_storageclass_labels kube_validatingadmissionpolicy_created
    kube_validatingadmissionpolicy_info kube_validatingadmissionpolicybinding_created
    kube_validatingadmissionpolicybinding_info kube_validatingadmissionpolicybinding_validation_action
    kube_validatingwebhookconfiguration_created kube_validatingwebhookconfiguration_info
    kube_validatingwebhookconfiguration_metadata_resource_version
    kube_validatingwebhookconfiguration_webhook_clientconfig_service kube_volumeattachment_created
    kube_volumeattachment_info kube_volumeattachment_labels kube_volumeattachment_spec_source_persistentvolume
    kube_volumeattachment_status_attached kube_volumeattachment_status_attachment_metadata
    """
    ),
)

#: Default-enabled Linux collectors of node_exporter v1.12.1 (prometheus-node-exporter chart
#: 4.56.1 appVersion). The subset Meridian queries; meminfo and netdev names are built from the
#: /proc field names (collector/meminfo_linux.go, collector/netdev_linux.go).
NODE_EXPORTER = _group(
    "node-exporter",
    "prometheus/node_exporter v1.12.1, collector/{cpu_common,filesystem_common,loadavg,stat_linux,uname,"
    "diskstats_common,netdev_common,meminfo}.go",
    (
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemFree_bytes",
        "node_filesystem_size_bytes",
        "node_filesystem_free_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_files",
        "node_filesystem_files_free",
        "node_filesystem_readonly",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_boot_time_seconds",
        "node_time_seconds",
        "node_uname_info",
        "node_disk_read_bytes_total",
        "node_disk_written_bytes_total",
        "node_disk_io_time_seconds_total",
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
        "node_network_receive_errs_total",
        "node_network_transmit_errs_total",
        "node_exporter_build_info",
    ),
)

#: The kubelet's own metrics and the cAdvisor metrics it serves on /metrics/cadvisor
#: (kube-prometheus-stack's kubelet ServiceMonitor scrapes both). cAdvisor names from
#: google/cadvisor v0.60.5 lib/metrics/prometheus.go (the subset Meridian queries); kubelet names
#: from kubernetes/kubernetes pkg/kubelet/metrics/metrics.go and
#: pkg/kubelet/metrics/collectors/volume_stats.go.
KUBELET = _group(
    "kubelet",
    "kubernetes/kubernetes pkg/kubelet/metrics/{metrics.go,collectors/volume_stats.go}; "
    "google/cadvisor v0.60.5 lib/metrics/prometheus.go",
    (
        "kubelet_node_name",
        "kubelet_running_pods",
        "kubelet_running_containers",
        "kubelet_volume_stats_capacity_bytes",
        "kubelet_volume_stats_available_bytes",
        "kubelet_volume_stats_used_bytes",
        "kubelet_volume_stats_inodes",
        "kubelet_volume_stats_inodes_free",
        "kubelet_volume_stats_inodes_used",
        "container_cpu_usage_seconds_total",
        "container_cpu_cfs_periods_total",
        "container_cpu_cfs_throttled_periods_total",
        "container_memory_working_set_bytes",
        "container_memory_rss",
        "container_memory_cache",
        "container_memory_usage_bytes",
        "container_memory_swap",
        "container_oom_events_total",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
        "container_fs_usage_bytes",
        "container_fs_limit_bytes",
        "container_last_seen",
    ),
)

#: DCGM exporter's default counters. NVIDIA/dcgm-exporter etc/default-counters.csv and
#: etc/dcp-metrics-included.csv (the file the GPU Operator v26.7.0 points DCGM_EXPORTER_COLLECTORS
#: at, internal/state/dcgm_exporter.go) list the same counters at the newest mirrored commit
#: (d5e5f51, after tag 4.5.3-4.8.2; the operator pins 4.6.0-4.8.3). DCGM_FI_DRIVER_VERSION is
#: of type `label` there: it becomes a label, not a series, so it is not listed.
DCGM_EXPORTER = _group(
    "dcgm-exporter",
    "NVIDIA/dcgm-exporter etc/default-counters.csv and etc/dcp-metrics-included.csv (4.5.3-4.8.2..d5e5f51)",
    (
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_CLOCK",
        "DCGM_FI_DEV_MEMORY_TEMP",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "DCGM_FI_DEV_ENC_UTIL",
        "DCGM_FI_DEV_DEC_UTIL",
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_RESERVED",
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "DCGM_FI_DEV_VGPU_LICENSE_STATUS",
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        "DCGM_FI_DEV_ROW_REMAP_FAILURE",
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "DCGM_FI_PROF_PCIE_RX_BYTES",
    ),
)

#: Remote-write self metrics of the collector (Prometheus in agent mode; prometheus v3.14.0 is the
#: image kube-prometheus-stack 88.5.3 runs). Per-queue gauges and counters carry the constant labels
#: `remote_name` and `url`. `highest_timestamp_in_seconds` is deprecated upstream in favour of
#: `queue_highest_timestamp_seconds` but still served.
PROMETHEUS_REMOTE_WRITE = _group(
    "prometheus-remote-write",
    "prometheus/prometheus v3.14.0, storage/remote/{queue_manager.go,write.go}",
    (
        *(
            f"prometheus_remote_storage_{name}"
            for name in (
                "samples_total",
                "exemplars_total",
                "histograms_total",
                "metadata_total",
                "samples_failed_total",
                "exemplars_failed_total",
                "histograms_failed_total",
                "metadata_failed_total",
                "samples_retried_total",
                "exemplars_retried_total",
                "histograms_retried_total",
                "metadata_retried_total",
                "samples_dropped_total",
                "exemplars_dropped_total",
                "histograms_dropped_total",
                "enqueue_retries_total",
                "queue_highest_timestamp_seconds",
                "queue_highest_sent_timestamp_seconds",
                "samples_pending",
                "exemplars_pending",
                "histograms_pending",
                "shard_capacity",
                "shards",
                "shards_max",
                "shards_min",
                "shards_desired",
                "bytes_total",
                "metadata_bytes_total",
                "max_samples_per_send",
                "samples_in_total",
                "exemplars_in_total",
                "histograms_in_total",
                "highest_timestamp_in_seconds",
            )
        ),
        *_histograms("prometheus_remote_storage_sent_batch_duration_seconds"),
    ),
)

#: Series Prometheus adds to every scrape target (prometheus/prometheus v3.14.0, scrape/scrape.go).
SCRAPE = _group(
    "scrape",
    "prometheus/prometheus v3.14.0, scrape/scrape.go (synthetic series of every target)",
    (
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ),
)

#: cert-manager v1.21.1 (the locked chart): controller metrics and the certificate/issuer collectors.
CERT_MANAGER = _group(
    "cert-manager",
    "cert-manager/cert-manager v1.21.1, pkg/metrics/metrics.go and internal/collectors/*_collector.go",
    (
        "certmanager_certificate_challenge_status",
        "certmanager_certificate_ready_status",
        "certmanager_certificate_not_after_timestamp_seconds",
        "certmanager_certificate_not_before_timestamp_seconds",
        "certmanager_certificate_expiration_timestamp_seconds",
        "certmanager_certificate_renewal_timestamp_seconds",
        "certmanager_clusterissuer_ready_status",
        "certmanager_issuer_ready_status",
        "certmanager_clock_time_seconds",
        "certmanager_clock_time_seconds_gauge",
        "certmanager_acme_client_request_count",
        "certmanager_controller_sync_call_count",
        "certmanager_controller_sync_error_count",
        "certmanager_venafi_oauth_token_requests_total",
        *_summaries(
            "certmanager_acme_client_request_duration_seconds", "certmanager_venafi_client_request_duration_seconds"
        ),
        *_histograms("certmanager_venafi_oauth_token_request_duration_seconds"),
    ),
)

#: blackbox_exporter v0.28.0 (prometheus-blackbox-exporter chart 11.17.2 appVersion).
BLACKBOX = _group(
    "blackbox-exporter",
    "prometheus/blackbox_exporter v0.28.0, prober/*.go",
    _words(
        """
    probe_dns_additional_rrs probe_dns_answer_rrs probe_dns_authority_rrs probe_dns_duration_seconds
    probe_dns_lookup_time_seconds probe_dns_query_succeeded probe_dns_serial probe_duration_seconds
    probe_expect_info probe_failed_due_to_bytes probe_failed_due_to_cel probe_failed_due_to_regex
    probe_grpc_duration_seconds probe_grpc_healthcheck_response probe_grpc_ssl probe_grpc_status_code
    probe_http_content_length probe_http_duration_seconds probe_http_last_modified_timestamp_seconds
    probe_http_redirects probe_http_ssl probe_http_status_code probe_http_uncompressed_body_length
    probe_http_version probe_icmp_duration_seconds probe_icmp_reply_hop_limit probe_ip_addr_hash
    probe_ip_protocol probe_ssl_earliest_cert_expiry probe_ssl_last_chain_expiry_timestamp_seconds
    probe_ssl_last_chain_info probe_success probe_tls_cipher_info probe_tls_version_info
    """
    ),
)

#: JupyterHub 5.5.0 (the appVersion of the locked zero-to-jupyterhub chart 4.4.0), with the
#: default JUPYTERHUB_METRICS_PREFIX `jupyterhub`. `active_users` has a `period` label
#: (24h, 7d, 30d); `server_spawn_duration_seconds` a `status` label (success, failure,
#: already-pending, throttled, too-many-users).
JUPYTERHUB = _group(
    "jupyterhub",
    "jupyterhub/jupyterhub 5.5.0, jupyterhub/metrics.py",
    (
        "jupyterhub_running_servers",
        "jupyterhub_total_users",
        "jupyterhub_active_users",
        *_histograms(
            "jupyterhub_request_duration_seconds",
            "jupyterhub_server_spawn_duration_seconds",
            "jupyterhub_check_routes_duration_seconds",
            "jupyterhub_hub_startup_duration_seconds",
            "jupyterhub_init_spawners_duration_seconds",
            "jupyterhub_proxy_poll_duration_seconds",
            "jupyterhub_proxy_add_duration_seconds",
            "jupyterhub_server_poll_duration_seconds",
            "jupyterhub_server_stop_seconds",
            "jupyterhub_proxy_delete_duration_seconds",
            "jupyterhub_event_loop_interval_seconds",
        ),
    ),
)

#: Traefik v3.7 (the locked chart 41.3.0 runs v3.7.11; names read at v3.7.9, the newest mirrored
#: v3.7 tag; patch releases do not rename metrics).
TRAEFIK = _group(
    "traefik",
    "traefik/traefik v3.7.9, pkg/observability/metrics/prometheus.go",
    (
        "traefik_config_reloads_total",
        "traefik_config_last_reload_success",
        "traefik_tls_certs_not_after",
        "traefik_open_connections",
        *(
            f"traefik_{scope}_{name}"
            for scope in ("entrypoint", "router", "service")
            for name in ("requests_total", "requests_tls_total", "requests_bytes_total", "responses_bytes_total")
        ),
        "traefik_service_retries_total",
        "traefik_service_server_up",
        *_histograms(
            "traefik_entrypoint_request_duration_seconds",
            "traefik_router_request_duration_seconds",
            "traefik_service_request_duration_seconds",
        ),
    ),
)

#: MLflow's tracking server (mlflow 3.18 server/prometheus_exporter.py: prometheus_flask_exporter
#: 0.23.2 `GunicornInternalPrometheusMetrics` with `defaults_prefix="mlflow"`, grouped by MLflow's
#: version, so no `path` label; server/otlp_metrics.py). Requests served by MLflow's FastAPI routers
#: ahead of the Flask app (proxied artifacts, OTLP traces, the gateway) are not counted.
MLFLOW = _group(
    "mlflow",
    "mlflow 3.18.0 wheel, mlflow/server/prometheus_exporter.py and mlflow/server/otlp_metrics.py",
    (
        "mlflow_http_request_total",
        "mlflow_http_request_exceptions_total",
        "mlflow_exporter_info",
        "mlflow_spans_ingested_total",
        "mlflow_trace_ingestion_server_errors_total",
        *_histograms(
            "mlflow_http_request_duration_seconds",
            "mlflow_otlp_request_duration_seconds",
            "mlflow_otlp_request_payload_bytes",
            "mlflow_otlp_spans_per_request",
        ),
    ),
)

#: oauth2-proxy, the login in front of MLflow and the model services (requests by `code`, durations
#: by lower-case `method`; /ping and /ready are answered before the middleware and not counted).
OAUTH2_PROXY = _group(
    "oauth2-proxy",
    "oauth2-proxy/oauth2-proxy v7.15.3, pkg/middleware/metrics.go",
    (
        "oauth2_proxy_requests_total",
        "oauth2_proxy_requests_in_flight",
        *_histograms("oauth2_proxy_response_duration_seconds"),
    ),
)

#: Argo Workflows' controller (OpenTelemetry metrics exported with the namespace `argo_workflows`, no
#: counter or unit suffixes: util/telemetry/exporter_prometheus.go). Non-leader controllers serve none.
ARGO_WORKFLOWS = _group(
    "argo-workflows",
    "argoproj/argo-workflows v4.0.6, docs/metrics.md and util/telemetry/exporter_prometheus.go",
    (
        "argo_workflows_gauge",
        "argo_workflows_total_count",
        "argo_workflows_workflow_condition",
        "argo_workflows_error_count",
        "argo_workflows_log_messages",
        "argo_workflows_is_leader",
        "argo_workflows_pods_gauge",
        "argo_workflows_queue_depth_gauge",
        "argo_workflows_workers_busy_count",
        "argo_workflows_version",
        *_histograms(
            "argo_workflows_operation_duration_seconds",
            "argo_workflows_queue_latency",
            "argo_workflows_queue_duration",
            "argo_workflows_k8s_request_duration",
            "argo_workflows_workflowtemplate_runtime",
        ),
    ),
)

#: CloudNativePG's instance exporter (port `metrics`): the built-in collector and the default
#: queries (`cnpg_<query>_<column>`). The backup timestamps are filled by the in-tree Barman Cloud
#: backup MLflow's database uses, on the primary, 0 until the first backup.
CLOUDNATIVE_PG = _group(
    "cloudnative-pg",
    "cloudnative-pg/cloudnative-pg v1.30.0, pkg/management/postgres/webserver/metricserver/pg_collector.go and "
    "config/manager/default-monitoring.yaml",
    (
        "cnpg_collector_up",
        "cnpg_collector_postgres_version",
        "cnpg_collector_last_collection_error",
        "cnpg_collector_collections_total",
        "cnpg_collector_collection_errors_total",
        "cnpg_collector_fencing_on",
        "cnpg_collector_nodes_used",
        "cnpg_collector_manual_switchover_required",
        "cnpg_collector_replica_mode",
        "cnpg_collector_sync_replicas",
        "cnpg_collector_pg_wal",
        "cnpg_collector_pg_wal_archive_status",
        "cnpg_collector_last_available_backup_timestamp",
        "cnpg_collector_last_failed_backup_timestamp",
        "cnpg_collector_first_recoverability_point",
        "cnpg_pg_replication_lag",
        "cnpg_pg_replication_in_recovery",
        "cnpg_pg_replication_is_wal_receiver_up",
        "cnpg_pg_replication_streaming_replicas",
        "cnpg_pg_stat_replication_replay_lag_seconds",
        "cnpg_pg_stat_replication_replay_diff_bytes",
        "cnpg_pg_stat_archiver_last_archived_time",
        "cnpg_pg_stat_archiver_seconds_since_last_archival",
        "cnpg_pg_stat_archiver_failed_count",
        "cnpg_pg_database_size_bytes",
        "cnpg_pg_postmaster_start_time",
    ),
)

#: DCGM attributes a GPU's series to the pod it is allocated to (`pod`, `namespace`, `container`;
#: gpu-operator sets DCGM_EXPORTER_KUBERNETES); the GPU Operator's ServiceMonitor does not honour the
#: exporter's labels, so they arrive prefixed (Prometheus `honor_labels: false`).
DCGM_POD_NAMESPACE_LABEL = "exported_namespace"
DCGM_POD_LABEL = "exported_pod"

#: Every group by exporter.
EXPORTER_METRICS: Mapping[str, ExporterMetrics] = MappingProxyType(
    {
        group.exporter: group
        for group in (
            KUBE_STATE_METRICS,
            NODE_EXPORTER,
            KUBELET,
            DCGM_EXPORTER,
            PROMETHEUS_REMOTE_WRITE,
            SCRAPE,
            CERT_MANAGER,
            BLACKBOX,
            JUPYTERHUB,
            TRAEFIK,
            MLFLOW,
            OAUTH2_PROXY,
            ARGO_WORKFLOWS,
            CLOUDNATIVE_PG,
        )
    }
)

#: Every metric name any exporter of the stack produces.
KNOWN_METRICS: frozenset[str] = frozenset().union(*(group.names for group in EXPORTER_METRICS.values()))


def exporter_of(metric: str) -> str | None:
    """The exporter that produces `metric`, or None when no known exporter does."""
    return next((group.exporter for group in EXPORTER_METRICS.values() if metric in group.names), None)


# --- Which metrics a PromQL expression selects ---------------------------------------------------

#: Words that are PromQL syntax, never metric names (Prometheus docs, "Querying basics" and
#: "Operators"; promql/parser/lex.go's key words): binary set operators, vector matching and
#: grouping modifiers, `offset`, `bool`, the `@` modifier's `start`/`end`, and the float literals.
PROMQL_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "atan2",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "start",
        "end",
        "inf",
        "nan",
    }
)
#: Modifiers followed by a parenthesised list of label names.
_LABEL_LIST_MODIFIERS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+(?![a-zA-Z0-9_]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<identifier>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<operator>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@:])
    """,
    re.VERBOSE,
)


def promql_tokens(expr: str) -> list[tuple[str, str]]:
    """The (kind, text) tokens of a PromQL expression, spaces and comments dropped.

    Kinds: string, duration, number, identifier, operator. Raises ValueError at a character PromQL
    has no token for (a Grafana variable like `$__rate_interval` left in place is one).
    """
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"no PromQL token at {position}: {expr[position : position + 20]!r} in {expr!r}")
        # Every alternative of _TOKEN is a named group: lastgroup is never None.
        kind = match.lastgroup or ""  # pragma: no mutate - the fallback is never taken
        if kind not in ("space", "comment"):
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def promql_metric_names(expr: str) -> frozenset[str]:
    """The metric names a PromQL expression selects.

    An identifier is a metric name unless it is a keyword, a function or aggregation (followed by
    `(`, or by `by`/`without` as in `sum by (job) (...)`), a label name inside a matcher's `{...}`,
    a label in the list after a grouping or vector-matching modifier (`by`, `without`, `on`,
    `ignoring`, `group_left`, `group_right`), or inside a range's `[...]`. Strings, numbers and
    durations are never names.
    """
    tokens = promql_tokens(expr)
    names: set[str] = set()
    braces = 0
    brackets = 0
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        # The last token's follower: valid PromQL never ends in a name followed by `(`, `by` or
        # `without`, so what stands in for "none", and where "last" starts, are never compared.
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""  # pragma: no mutate - above
        if text == "{":
            braces += 1
        elif text == "}":
            braces -= 1
        elif text == "[":
            brackets += 1
        elif text == "]":
            brackets -= 1
        elif kind == "identifier" and braces == 0 and brackets == 0:
            word = text.lower()
            if word in _LABEL_LIST_MODIFIERS and following == "(":
                # Skip the label list: up to its closing parenthesis (label lists do not nest).
                while index < len(tokens) and tokens[index][1] != ")":
                    index += 1
            elif word not in PROMQL_KEYWORDS and following.lower() not in ("(", "by", "without"):
                names.add(text)
        index += 1
    if braces != 0 or brackets != 0:
        raise ValueError(f"unbalanced braces or brackets in {expr!r}")
    return frozenset(names)
