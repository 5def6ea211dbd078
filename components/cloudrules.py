"""What the clouds and the kubelet accept, from their own sources: one place for the spec and the policy pack.

Mocks accept anything; a real `pulumi up` meets Neutron's policy engine, Nova's API
schemas and the kubelet's flag validation. The facts below are plain data (no provider
SDK), so the spec refuses input that cannot work before anything is registered, and the
policy pack (`policies/meridian_policies/clouds.py`) checks every planned resource
against the same table. Each fact names its source; update it together with that source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# -- Neutron: attributes a project member may not send ------------------------------------------


@dataclass(frozen=True)
class AdminOnly:
    """An attribute Neutron's default policy reserves for admins, and when sending it is refused."""

    rule: str
    #: The value Neutron would use anyway: sending it is allowed. `ANY` for a sub-attribute,
    #: whose rule Neutron checks whenever the key is in the request body, whatever its value.
    default: object


#: Sub-attributes are checked by presence (neutron/policy.py `_build_subattr_match_rule`); a
#: top-level attribute only when its value differs from the attribute's default
#: (neutron/policy.py `_is_attribute_explicitly_set`).
ANY = object()

#: Inputs (paths of the engine's camelCase input names) that Neutron's default policy reserves
#: for admins, by resource type (openstack/neutron neutron/conf/policies/{router,network,port}.py,
#: 2026.2 2131d26f: each rule below is check_str=lib_rules.ADMIN, or SERVICE only). The OpenStack
#: provider sends an input whenever it is set (terraform-provider-openstack
#: resource_openstack_networking_router_v2.go: `getOkExists(d, "enable_snat")`), so
#: `enable_snat=True`, though it is the default (neutron/conf/db/l3_gwmode_db.py
#: `enable_snat_by_default=True`), is a 403 for a project member's application credential.
NEUTRON_ADMIN_ONLY: dict[str, dict[tuple[str, ...], AdminOnly]] = {
    "openstack:networking/router:Router": {
        ("enableSnat",): AdminOnly("create_router:external_gateway_info:enable_snat", ANY),
        ("externalFixedIps",): AdminOnly("create_router:external_gateway_info:external_fixed_ips", ANY),
        # neutron-lib api/definitions/dvr.py: default ATTR_NOT_SPECIFIED, so any value is explicit.
        ("distributed",): AdminOnly("create_router:distributed", ANY),
    },
    "openstack:networking/network:Network": {
        # neutron-lib api/definitions/network.py and external_net.py: both default to False.
        ("shared",): AdminOnly("create_network:shared", False),
        ("external",): AdminOnly("create_network:router:external", False),
        ("segments",): AdminOnly("create_network:segments", ANY),
        ("valueSpecs", "provider:network_type"): AdminOnly("create_network:provider:network_type", ANY),
        ("valueSpecs", "provider:physical_network"): AdminOnly("create_network:provider:physical_network", ANY),
        ("valueSpecs", "provider:segmentation_id"): AdminOnly("create_network:provider:segmentation_id", ANY),
        # neutron-lib api/definitions/auto_allocated_topology.py: is_default defaults to False.
        ("valueSpecs", "is_default"): AdminOnly("create_network:is_default", False),
    },
    "openstack:networking/port:Port": {
        # neutron-lib api/definitions/portbindings.py: host_id and profile default to ATTR_NOT_SPECIFIED.
        ("binding", "hostId"): AdminOnly("create_port:binding:host_id", ANY),
        ("binding", "profile"): AdminOnly("create_port:binding:profile", ANY),
    },
}


def refused_by_neutron(attribute: AdminOnly, value: object) -> bool:
    """Whether sending `value` for the attribute is refused to a project member."""
    if value is None:
        return False
    if attribute.default is ANY:
        return True
    if isinstance(attribute.default, bool) and isinstance(value, str):
        value = value.strip().lower() == "true"  # value_specs travel as strings
    return value != attribute.default


# -- tags ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagRules:
    """What one OpenStack service accepts as resource tags."""

    service: str
    max_length: int
    max_count: int
    #: Characters a tag may not contain, as a regex character class body ("" for none).
    forbidden: str
    source: str

    def problems(self, tags: list[str]) -> list[str]:
        """Why `tags` would be refused by the service (empty when they are accepted).

        Messages name a tag by its key (the part before '='), never by its value.
        """
        found = []
        for tag in tags:
            name = tag.partition("=")[0]
            if not tag or len(tag) > self.max_length:
                found.append(
                    f"{self.service} tags have at most {self.max_length} characters; the tag for '{name}' "
                    f"(key=value) has {len(tag)}"
                )
            if self.forbidden and re.search(f"[{self.forbidden}]", tag):
                shown = " or ".join(f"'{c}'" for c in self.forbidden)
                found.append(f"{self.service} tags may not contain {shown}, which the tag for '{name}' does")
        if len(tags) > self.max_count:
            found.append(f"{self.service} takes at most {self.max_count} tags per resource, not {len(tags)}")
        return found


#: Nova: nova/api/validation/parameter_types.py `tag` ({"pattern": "^[^,/]*$", "minLength": 1,
#: "maxLength": MAX_TAG_LENGTH}), nova/objects/tag.py MAX_TAG_LENGTH = 60,
#: nova/objects/instance.py MAX_TAG_COUNT = 50 (openstack/nova 00a03040).
NOVA_TAGS = TagRules("Nova", 60, 50, ",/", "openstack/nova parameter_types.tag, objects/tag.py, objects/instance.py")
#: Neutron: neutron/extensions/tagging.py MAX_TAG_LEN = 255, MAX_TAGS_COUNT = 50; commas are
#: not forbidden by the API but break tag filtering (doc/source/admin/ops-resource-tags.rst:
#: "do not put such a tag name to resources"), so Meridian refuses them.
NEUTRON_TAGS = TagRules("Neutron", 255, 50, ",", "openstack/neutron neutron/extensions/tagging.py")
#: Octavia: octavia/api/v2/types/*.py `tags = ArrayType(StringType(max_length=255))`; no count
#: limit in the API; the Neutron count is used as a sane bound.
OCTAVIA_TAGS = TagRules("Octavia", 255, 50, "", "openstack/octavia api/v2/types/load_balancer.py")

#: Which service's rules apply to the tags of each OpenStack resource type Meridian tags.
TAG_RULES_BY_TYPE: dict[str, TagRules] = {
    "openstack:compute/instance:Instance": NOVA_TAGS,
    "openstack:networking/network:Network": NEUTRON_TAGS,
    "openstack:networking/subnet:Subnet": NEUTRON_TAGS,
    "openstack:networking/router:Router": NEUTRON_TAGS,
    "openstack:networking/secGroup:SecGroup": NEUTRON_TAGS,
    "openstack:networking/floatingIp:FloatingIp": NEUTRON_TAGS,
    "openstack:networking/port:Port": NEUTRON_TAGS,
    "openstack:loadbalancer/loadBalancer:LoadBalancer": OCTAVIA_TAGS,
    "openstack:loadbalancer/listener:Listener": OCTAVIA_TAGS,
    "openstack:loadbalancer/pool:Pool": OCTAVIA_TAGS,
    "openstack:loadbalancer/member:Member": OCTAVIA_TAGS,
}

# -- kubelet node labels ---------------------------------------------------------------------------

#: Labels in the kubernetes.io / k8s.io namespaces a kubelet may set on its own node
#: (kubernetes/kubernetes staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go `kubeletLabels`).
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    }
)
#: Namespaces (and their subdomains) a kubelet may label itself in (`kubeletLabelNamespaces`).
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def _in_namespace(namespace: str, root: str) -> bool:
    return namespace == root or namespace.endswith("." + root)


def kubelet_refuses(key: str) -> bool:
    """Whether the kubelet refuses `key` in --node-labels (and NodeRestriction on self-update).

    cmd/kubelet/app/options/options.go: a key in the kubernetes.io or k8s.io namespace
    (or a subdomain) must be a kubelet label (`IsKubeletLabel`), else the kubelet exits
    with "unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels"; that
    covers node-role.kubernetes.io/* and node-restriction.kubernetes.io/* (the latter
    forbidden to kubelets by plugin/pkg/admission/noderestriction as well).
    """
    namespace, slash, _ = key.partition("/")
    if not slash:
        return False
    if not (_in_namespace(namespace, "kubernetes.io") or _in_namespace(namespace, "k8s.io")):
        return False
    if key in KUBELET_LABELS:
        return False
    return not any(_in_namespace(namespace, allowed) for allowed in KUBELET_LABEL_NAMESPACES)


KUBELET_LABEL_RULE = (
    "the kubelet refuses kubernetes.io and k8s.io labels outside its allowed set (kubelet --node-labels: "
    f"{', '.join(sorted(KUBELET_LABELS))}, or under {' / '.join(KUBELET_LABEL_NAMESPACES)}); "
    "use your own prefix, e.g. meridian.io/role"
)


# -- EKS and EC2: name lengths the AWS provider checks ------------------------------------------

#: An EKS cluster's name: at most 100 characters (terraform-provider-aws internal/service/eks
#: validClusterName; EKS API CreateCluster `name`).
EKS_CLUSTER_NAME_MAX = 100
#: A managed node group's `node_group_name_prefix`: 63 characters less the 26 of the unique
#: suffix the provider appends (internal/service/eks/node_group.go: StringLenBetween(0,
#: 63-id.UniqueIDSuffixLength); terraform-plugin-sdk id.UniqueIDSuffixLength = 26).
EKS_NODE_GROUP_PREFIX_MAX = 63 - 26
#: A launch template's `name_prefix` (internal/verify validate.go ValidLaunchTemplateName: "cannot
#: be longer than 99 characters, name is limited to 125").
LAUNCH_TEMPLATE_PREFIX_MAX = 99

#: An EC2 instance type's name: series, generation, options, then `.size` (or `-<variant>.size`);
#: the option `g` is "AWS Graviton processors" (Amazon EC2 Instance Types guide, "Instance type
#: naming conventions"), i.e. arm64.
_EC2_TYPE = re.compile(r"^(?P<series>[a-z]+)(?P<generation>[0-9]+)(?P<options>[a-z]*)[.-]")


def ec2_is_arm64(instance_type: str) -> bool:
    """Whether `instance_type` runs on Graviton (arm64) processors: `m7g.large`, `c6gn.xlarge`, `t4g.small`."""
    found = _EC2_TYPE.match(instance_type)
    return found is not None and "g" in found["options"]
