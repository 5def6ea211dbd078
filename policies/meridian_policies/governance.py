"""Governance: who pays (tags), where it runs (regions, flavors), what must survive (protection).

Which resource types take tags is decided by the provider SDKs themselves: a type token is
resolved to its SDK class through the registry every Pulumi Python SDK fills when imported
(`pulumi.runtime.rpc`'s resource modules, as tests/test_sites.py does), and a type is taggable
when the class's constructor takes `tags`. Only cloud packages are asked (AWS and OpenStack);
Kubernetes, random and tls resources carry no cloud tags.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping
from typing import Any

from pulumi.runtime import rpc
from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, Severity

from .common import config_strings, get, list_setting, resource_policy, tag_map

#: Cloud packages whose resources carry tags, and the SDK module that registers their types.
CLOUD_SDKS = {"aws": "pulumi_aws", "openstack": "pulumi_openstack"}
DEFAULT_REQUIRED_TAGS = ["project", "site", "managed-by", "cost-centre", "owner"]

REGION_PROVIDERS = ("pulumi:providers:aws", "pulumi:providers:openstack")

#: Compute types and the inputs that name their size (a list input, like instanceTypes, holds several).
FLAVOR_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:eks/nodeGroup:NodeGroup": ("instanceTypes",),
    "aws:ec2/instance:Instance": ("instanceType",),
    "openstack:compute/instance:Instance": ("flavorName",),
    "openstack:containerinfra/nodeGroup:NodeGroup": ("flavorId",),
    "openstack:containerinfra/clusterTemplate:ClusterTemplate": ("flavor", "masterFlavor"),
    # A Magnum cluster may override its template's flavors.
    "openstack:containerinfra/cluster:Cluster": ("flavor", "masterFlavor"),
}

#: Resources whose loss loses data or keys: deleting or replacing them must take a deliberate unprotect.
STATEFUL_TYPES = frozenset(
    {
        "aws:kms/key:Key",
        "aws:ebs/volume:Volume",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:efs/fileSystem:FileSystem",
        "openstack:blockstorage/volume:Volume",
        "openstack:objectstorage/container:Container",
        "kubernetes:core/v1:PersistentVolumeClaim",
    }
)

_TAKES_TAGS: dict[str, bool | None] = {}


def takes_tags(token: str) -> bool | None:
    """Whether the SDK class of `token` takes `tags`; False outside cloud packages, None if no SDK knows it."""
    if token in _TAKES_TAGS:
        return _TAKES_TAGS[token]
    # A type token is <package>:<module>:<Type> (pulumi.runtime.rpc resource modules are keyed by the first two).
    package, module_name, _ = token.split(":")
    verdict: bool | None = False
    if package in CLOUD_SDKS:
        importlib.import_module(CLOUD_SDKS[package])  # registers the package's type tokens with rpc
        module = rpc.get_resource_module(package, module_name, "")
        info: Mapping[str, Any] = getattr(module, "mod_info", None) or {}
        class_name = (info.get("classes") or {}).get(token)
        verdict = None
        if class_name is not None:
            cls = getattr(importlib.import_module(info["fqn"]), class_name)
            # Generated SDK classes take their arguments in _internal_init.
            verdict = "tags" in inspect.signature(cls._internal_init).parameters
    _TAKES_TAGS[token] = verdict
    return verdict


def _provider_default_tags(args: ResourceValidationArgs) -> dict[str, str]:
    """Tags the resource's AWS provider adds to everything (`defaultTags.tags`; provider inputs may be JSON)."""
    if args.provider is None or args.provider.resource_type != "pulumi:providers:aws":
        return {}
    default_tags = get(args.provider.props, "defaultTags")
    if isinstance(default_tags, str):
        try:
            default_tags = json.loads(default_tags)
        except ValueError:
            return {}
    tags = get(default_tags, "tags")
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {}


def _required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    taggable = takes_tags(args.resource_type)
    if taggable is False or (taggable is None and "tags" not in args.props):
        return
    required = config_strings(args.get_config(), "required_tags", DEFAULT_REQUIRED_TAGS)
    tags = {**_provider_default_tags(args), **tag_map(args.props)}
    missing = [key for key in required if not tags.get(key)]
    if missing:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"missing required tags: {', '.join(missing)}",
            None,
        )


def _allowed_regions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in REGION_PROVIDERS:
        return
    allowed = config_strings(args.get_config(), "allowed_regions")
    if not allowed:
        return
    region = get(args.props, "region")
    if region is None:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"the provider sets no region, so it would come from the environment; allowed: {', '.join(allowed)}",
            None,
        )
    elif str(region) not in allowed:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"region {region} is not allowed (allowed: {', '.join(allowed)})",
            None,
        )


def _allowed_flavors(args: ResourceValidationArgs, report: ReportViolation) -> None:
    inputs = FLAVOR_INPUTS.get(args.resource_type)
    if inputs is None:
        return
    allowed = config_strings(args.get_config(), "allowed_flavors")
    if not allowed:
        return
    if args.resource_type == "openstack:compute/instance:Instance" and get(args.props, "flavorName") is None:
        inputs = ("flavorId",)  # an instance may name its flavor by ID instead
    for key in inputs:
        value = get(args.props, key)
        sizes = [value] if isinstance(value, str) else list(value or [])
        for size in sizes:
            if str(size) not in allowed:
                report(  # pragma: no mutate - urn None is report_violation's default
                    f"{key} {size} is not an allowed flavor (allowed: {', '.join(allowed)})",
                    None,
                )


#: Helm leaves an object carrying this annotation in place when its release is uninstalled (Helm
#: docs, "Tell Helm not to uninstall a resource"; helm pkg/kube/resource_policy.go). It is how an
#: object a chart renders is protected: Pulumi's `protect` reaches only the release.
HELM_KEEP = ("helm.sh/resource-policy", "keep")


def _stateful_resources_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in STATEFUL_TYPES or args.opts.protect:
        return
    if args.resource_type.startswith("kubernetes:"):
        annotations = get(args.props, "metadata", "annotations")
        if isinstance(annotations, Mapping) and annotations.get(HELM_KEEP[0]) == HELM_KEEP[1]:
            return
    report(  # pragma: no mutate - urn None is report_violation's default
        f"{args.resource_type} {args.name} holds data or keys but is not protected",
        None,
    )


def _explicit_provider(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # random and tls run locally: no credentials, no region, nothing ambient to pick up; a
    # command:local resource runs on the machine running Pulumi by definition (the readiness
    # wait) and gets its inputs explicitly. Meridian's own components take no provider.
    if args.resource_type.startswith(("pulumi:providers:", "random:", "tls:", "command:local:", "meridian:")):
        return
    provider = args.provider
    if provider is None or provider.name.startswith("default"):
        report(  # pragma: no mutate - urn None is report_violation's default
            "uses the default provider: credentials and region would come from the ambient environment",
            None,
        )


POLICIES = [
    resource_policy(
        "required-tags",
        "Every cloud resource that takes tags carries the tags cost and ownership reports are built from.",
        _required_tags,
        severity=Severity.MEDIUM,
        remediation="Tag the resource with the site's tags (components/labels.py: cloud_tags); AWS tags are a map, "
        "OpenStack tags key=value strings.",
        config={
            "required_tags": list_setting(
                DEFAULT_REQUIRED_TAGS, "Tag keys every taggable cloud resource must carry with a non-empty value."
            )
        },
    ),
    resource_policy(
        "allowed-regions",
        "Cloud providers work only in the regions the project may use (data residency, agreements).",
        _allowed_regions,
        severity=Severity.HIGH,
        remediation="Place the site in an allowed region, or extend allowed_regions in the policy config once "
        "the region is approved.",
        config={"allowed_regions": list_setting([], "Regions AWS and OpenStack providers may use; empty allows any.")},
    ),
    resource_policy(
        "allowed-flavors",
        "Nodes and instances use only approved flavors and instance types.",
        _allowed_flavors,
        severity=Severity.MEDIUM,
        remediation="Pick an allowed flavor or instance type, or extend allowed_flavors in the policy config.",
        config={
            "allowed_flavors": list_setting(
                [], "EC2 instance types and OpenStack flavors nodes may use; empty allows any."
            )
        },
    ),
    resource_policy(
        "stateful-resources-protected",
        "Keys, volumes, buckets, databases, file systems and persistent volume claims are protected.",
        _stateful_resources_protected,
        severity=Severity.HIGH,
        remediation="Create the resource with ResourceOptions(protect=True) (and retain_on_delete=True where the "
        "data must outlive the stack); an object a Helm chart renders carries the annotation "
        "helm.sh/resource-policy: keep.",
    ),
    resource_policy(
        "explicit-provider",
        "Every cloud and Kubernetes resource goes through an explicit provider, never the ambient default.",
        _explicit_provider,
        severity=Severity.HIGH,
        remediation="Pass the site's or cluster's provider in ResourceOptions(provider=...).",
        level=EnforcementLevel.ADVISORY,
    ),
]
