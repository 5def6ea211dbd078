"""Kubernetes workload kinds that carry a pod template, and where it sits in each.

Shared by the render validation (scripts/validate.py, which refuses a pod whose containers
declare one port twice) and the policy pack (policies/meridian_policies/common.py, which
polices every pod spec).
"""

#: (API group/version as Pulumi's type tokens write it, kind) -> the keys down to the pod spec.
POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("core/v1", "Pod"): ("spec",),
    ("apps/v1", "Deployment"): ("spec", "template", "spec"),
    ("apps/v1", "StatefulSet"): ("spec", "template", "spec"),
    ("apps/v1", "DaemonSet"): ("spec", "template", "spec"),
    ("apps/v1", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch/v1", "Job"): ("spec", "template", "spec"),
    ("batch/v1", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
