"""Labels and tags every taggable resource carries, from one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the spec validates tags with these functions, so no runtime import of it here
    from .spec import ProjectSpec

MANAGED_BY = "meridian"


def site_labels(project: ProjectSpec, site_name: str, site_labels: Mapping[str, str]) -> dict[str, str]:
    """Labels for resources of one site: the automatic ones, then the project's, then the site's own."""
    return {
        "project": project.name,
        "site": site_name,
        "managed-by": MANAGED_BY,
        "cost-centre": project.cost_centre,
        **project.labels,
        **site_labels,
    }


def cloud_tags(project: ProjectSpec, labels: Mapping[str, str]) -> dict[str, str]:
    """Cloud tags: the labels plus the owner's address (not a valid Kubernetes label value, so cloud-only)."""
    return {**labels, "owner": project.owner}


def openstack_tags(tags: Mapping[str, str]) -> list[str]:
    """OpenStack tags are plain strings; encode each as `key=value`, sorted so order never churns."""
    return sorted(f"{key}={value}" for key, value in tags.items())


def cidr_slug(cidr: str) -> str:
    """`193.61.196.0/24` -> `193-61-196-0-24`: a rule name that survives reordering the CIDR list."""
    return cidr.replace(".", "-").replace(":", "-").replace("/", "-").strip("-")
