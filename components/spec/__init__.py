"""The typed platform spec: one pydantic model tree for everything a stack file may say."""

from .addons import AddonsSpec, JupyterHubSpec
from .base import SpecModel
from .clusters import ClusterSpec, GpuSpec, NodePoolSpec, TaintSpec
from .errors import SpecError
from .load import QUALIFIED_KEY, STACK_FILE, load_platform_spec, parse_platform, stack_file_name
from .platform import PlatformSpec
from .project import AUTOMATIC_LABELS, ProjectSpec
from .sites import AwsSettings, DnsSpec, OpenStackSettings, SiteSpec, aws_subnet_layout

__all__ = [
    "AUTOMATIC_LABELS",
    "QUALIFIED_KEY",
    "STACK_FILE",
    "AddonsSpec",
    "AwsSettings",
    "ClusterSpec",
    "DnsSpec",
    "GpuSpec",
    "JupyterHubSpec",
    "NodePoolSpec",
    "OpenStackSettings",
    "PlatformSpec",
    "ProjectSpec",
    "SiteSpec",
    "SpecError",
    "SpecModel",
    "TaintSpec",
    "aws_subnet_layout",
    "load_platform_spec",
    "parse_platform",
    "stack_file_name",
]
