"""Security: what faces the internet, what is encrypted, what is public, where credentials live.

Every property name below is the engine's camelCase input name as the provider SDKs
serialize it (pulumi_aws 7.51, pulumi_openstack 5.5, pulumi_kubernetes 4.34). Numbers
arrive as floats (protobuf Structs carry doubles) and a few AWS launch-template flags
as the strings "true"/"false"; the readers here accept both.

An unknown value (an output of a resource not created yet) raises UnknownValueError
when read, which the SDK turns into an advisory "can't run during preview" notice.
Where one unknown must not hide the rest of a resource (a Helm values tree, a stack
of buckets), the definite violations are reported first and the unknown re-raised last.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

from .common import (
    ADMIN_PORTS,
    EVERYWHERE,
    HIGHEST_PORT,
    LOWEST_PORT,
    get,
    is_everywhere,
    items,
    list_setting,
    port_bounds,
    resource_policy,
    stack_policy,
)

# -- types -------------------------------------------------------------------------------------

OS_SEC_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
OS_LISTENER = "openstack:loadbalancer/listener:Listener"
OS_CONTAINER = "openstack:objectstorage/container:Container"
AWS_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
#: Security groups with an inline `ingress` list (the default group takes the same list).
AWS_INLINE_GROUPS = ("aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
AWS_EKS_CLUSTER = "aws:eks/cluster:Cluster"
AWS_KMS_KEY = "aws:kms/key:Key"
AWS_EBS_VOLUME = "aws:ebs/volume:Volume"
AWS_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AWS_SUBNET = "aws:ec2/subnet:Subnet"
AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
#: pulumi_aws 7: `s3.Bucket` is the current bucket, `s3.BucketV2` its deprecated twin; the same for ACLs.
AWS_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
AWS_BUCKET_ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
K8S_CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART_V4 = "kubernetes:helm.sh/v4:Chart"

# -- reading values ----------------------------------------------------------------------------


def _is_true(value: Any) -> bool:
    """True for a boolean true and for the string "true" (launch-template flags are strings)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _number(value: Any) -> str:
    """A protocol or port as text: floats from the wire lose their ".0"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip().lower()


#: Protocol values meaning "every protocol": Neutron takes null, "any" or 0; EC2 takes -1 (or "all").
OPENSTACK_ANY_PROTOCOL = frozenset({"", "any", "0"})
AWS_ANY_PROTOCOL = frozenset({"-1", "all"})
#: IP protocol numbers of the protocols that carry ports.
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "132": "sctp", "33": "dccp", "136": "udplite"}
PORTED = frozenset(PROTOCOL_NAMES.values())


def _protocol(value: Any, any_values: frozenset[str]) -> str:
    text = _number(value)
    if text in any_values:
        return "all"
    return PROTOCOL_NAMES.get(text, text)


@dataclass(frozen=True)
class Ingress:
    """One ingress rule reduced to what the internet-facing policies ask of it."""

    what: str
    #: The internet-wide sources it admits ("0.0.0.0/0", "::/0"); empty when none.
    sources: tuple[str, ...]
    #: "all", a port-carrying protocol name ("tcp", "udp", ...) or another protocol.
    protocol: str
    first: Any
    last: Any

    def covers(self, port: int) -> bool:
        """Whether the rule admits TCP `port` (admin services are all TCP)."""
        if self.protocol == "all":
            return True
        if self.protocol != "tcp":
            return False
        bounds = port_bounds(self.first, self.last)
        # A range the provider cannot parse either: fail closed.
        return bounds is None or bounds[0] <= port <= bounds[1]

    def every_port(self) -> bool:
        """Whether the rule admits every protocol, or every port of a port-carrying one."""
        if self.protocol == "all":
            return True
        if self.protocol not in PORTED:
            return False
        bounds = port_bounds(self.first, self.last)
        return bounds is None or (bounds[0] <= LOWEST_PORT and bounds[1] >= HIGHEST_PORT)


def _open_sources(*cidrs: Any) -> tuple[str, ...]:
    """The CIDRs among `cidrs` that are the whole internet (absent ones are not sources)."""
    return tuple(str(cidr) for cidr in cidrs if cidr and is_everywhere(str(cidr)))


def _cidr_rule(what: str, rule: Any, protocol_key: str) -> Ingress:
    """An EC2 rule with cidrBlocks/ipv6CidrBlocks (SecurityGroupRule, inline ingress)."""
    cidrs = [*items(get(rule, "cidrBlocks")), *items(get(rule, "ipv6CidrBlocks"))]
    return Ingress(
        what=what,
        sources=_open_sources(*cidrs),
        protocol=_protocol(get(rule, protocol_key), AWS_ANY_PROTOCOL),
        first=get(rule, "fromPort"),
        last=get(rule, "toPort"),
    )


def ingress_rules(resource_type: str, props: Any) -> Iterator[Ingress]:
    """Every ingress rule a security-group resource declares, normalized."""
    if resource_type == OS_SEC_GROUP_RULE:
        if str(get(props, "direction")).lower() != "ingress":
            return
        prefix = get(props, "remoteIpPrefix")
        if prefix:
            cidrs = [prefix]
        elif get(props, "remoteGroupId") or get(props, "remoteAddressGroupId"):
            cidrs = []
        else:
            # Neutron: no remote prefix and no remote group admits every address of the ethertype
            # (IPv4 unless set).
            ipv6 = str(get(props, "ethertype")).lower() == "ipv6"
            cidrs = [EVERYWHERE[1] if ipv6 else EVERYWHERE[0]]
        yield Ingress(
            what="rule",
            sources=_open_sources(*cidrs),
            protocol=_protocol(get(props, "protocol"), OPENSTACK_ANY_PROTOCOL),
            first=get(props, "portRangeMin"),
            last=get(props, "portRangeMax"),
        )
    elif resource_type == AWS_INGRESS_RULE:
        yield Ingress(
            what="rule",
            sources=_open_sources(get(props, "cidrIpv4"), get(props, "cidrIpv6")),
            protocol=_protocol(get(props, "ipProtocol"), AWS_ANY_PROTOCOL),
            first=get(props, "fromPort"),
            last=get(props, "toPort"),
        )
    elif resource_type == AWS_SG_RULE:
        if str(get(props, "type")).lower() == "ingress":
            yield _cidr_rule("rule", props, "protocol")
    elif resource_type in AWS_INLINE_GROUPS:
        for index, rule in enumerate(items(get(props, "ingress"))):
            yield _cidr_rule(f"ingress[{index}]", rule, "protocol")


def _port(value: Any) -> int | None:
    """A port number from the wire (a float, an int or a numeric string); None when it is none."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _admin_ports(config: Mapping[str, Any]) -> dict[int, str]:
    ports = dict(ADMIN_PORTS)
    for value in items(config.get("extra_ports")):
        port = _port(value)
        if port is not None:
            ports.setdefault(port, f"port {port}")
    return ports


# -- 1, 2: what faces the internet -------------------------------------------------------------

DEFAULT_EXTRA_PORTS: list[int] = []
#: Octavia listener protocols that are not TCP: an admin port over UDP or SCTP is not the admin service.
NON_TCP_LISTENERS = frozenset({"udp", "sctp"})


def _no_admin_port_open(args: ResourceValidationArgs, report: ReportViolation) -> None:
    ports = _admin_ports(args.get_config())
    if args.resource_type == OS_LISTENER:
        port = _port(get(args.props, "protocolPort"))
        if port is None or port not in ports or str(get(args.props, "protocol")).lower() in NON_TCP_LISTENERS:
            return
        cidrs = [str(c) for c in items(get(args.props, "allowedCidrs"))]
        if not cidrs:
            report(  # pragma: no mutate - urn None is report_violation's default
                f"listener on {port} ({ports[port]}) has no allowedCidrs: Octavia admits every source",
                None,
            )
        elif open_cidrs := _open_sources(*cidrs):
            report(  # pragma: no mutate - urn None is report_violation's default
                f"listener on {port} ({ports[port]}) allows {', '.join(open_cidrs)}",
                None,
            )
        return
    for rule in ingress_rules(args.resource_type, args.props):
        if not rule.sources:
            continue
        for port, service in sorted(ports.items()):
            if rule.covers(port):
                report(  # pragma: no mutate - urn None is report_violation's default
                    f"ingress {rule.what} opens {port} ({service}) to {', '.join(rule.sources)}",
                    None,
                )


def _no_all_traffic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for rule in ingress_rules(args.resource_type, args.props):
        if rule.sources and rule.every_port():
            traffic = "all traffic" if rule.protocol == "all" else f"every {rule.protocol.upper()} port"
            report(  # pragma: no mutate - urn None is report_violation's default
                f"ingress {rule.what} admits {traffic} from {', '.join(rule.sources)}",
                None,
            )


# -- 3, 4, 5: EKS ----------------------------------------------------------------------------------


def _eks_endpoint_restricted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != AWS_EKS_CLUSTER:
        return
    vpc = get(args.props, "vpcConfig")
    # AWS's default for endpointPublicAccess is true: an unset flag is a public endpoint.
    if get(vpc, "endpointPublicAccess") is not False:
        cidrs = [str(c) for c in items(get(vpc, "publicAccessCidrs"))]
        if not cidrs:
            report(  # pragma: no mutate - urn None is report_violation's default
                "the public API endpoint has no publicAccessCidrs (AWS then allows 0.0.0.0/0)",
                None,
            )
        elif open_cidrs := _open_sources(*cidrs):
            report(  # pragma: no mutate - urn None is report_violation's default
                f"the public API endpoint allows {', '.join(open_cidrs)}",
                None,
            )
    if get(vpc, "endpointPrivateAccess") is not True:
        report(  # pragma: no mutate - urn None is report_violation's default
            "endpointPrivateAccess is not true: nodes would reach the API over the public endpoint",
            None,
        )


def _encryption_configs(props: Any) -> list[Any]:
    config = get(props, "encryptionConfig")
    # pulumi_aws 7 takes one object; older majors took a list of them.
    return [config] if isinstance(config, Mapping) else items(config)


def _eks_secrets_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != AWS_EKS_CLUSTER:
        return
    for config in _encryption_configs(args.props):
        if "secrets" in [str(r) for r in items(get(config, "resources"))] and get(config, "provider", "keyArn"):
            return
    report(  # pragma: no mutate - urn None is report_violation's default
        'no encryptionConfig with resources ["secrets"] and a provider.keyArn',
        None,
    )


def _eks_audit_logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != AWS_EKS_CLUSTER:
        return
    if "audit" not in [str(t) for t in items(get(args.props, "enabledClusterLogTypes"))]:
        report(  # pragma: no mutate - urn None is report_violation's default
            'enabledClusterLogTypes does not include "audit"',
            None,
        )


# -- 6, 7: keys and volumes ----------------------------------------------------------------------


def _kms_key_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != AWS_KMS_KEY:
        return
    spec = str(get(args.props, "customerMasterKeySpec", default="SYMMETRIC_DEFAULT"))
    usage = str(get(args.props, "keyUsage", default="ENCRYPT_DECRYPT"))
    # KMS rotates only symmetric encryption keys held by KMS itself (not in a custom key store).
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT" or get(args.props, "customKeyStoreId"):
        return
    if not _is_true(get(args.props, "enableKeyRotation")):
        report(  # pragma: no mutate - urn None is report_violation's default
            "enableKeyRotation is not true on a symmetric key",
            None,
        )


def _ebs_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == AWS_EBS_VOLUME:
        if not _is_true(get(args.props, "encrypted")):
            report(  # pragma: no mutate - urn None is report_violation's default
                "the volume is not encrypted (encrypted: true)",
                None,
            )
    elif args.resource_type == AWS_LAUNCH_TEMPLATE:
        for mapping in items(get(args.props, "blockDeviceMappings")):
            ebs = get(mapping, "ebs")
            if ebs is not None and not _is_true(get(ebs, "encrypted")):
                device = get(mapping, "deviceName", default="?")
                report(  # pragma: no mutate - urn None is report_violation's default
                    f'block device {device} is not encrypted (ebs.encrypted: "true")',
                    None,
                )


# -- 8, 9: public storage --------------------------------------------------------------------

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_GRANTEES = frozenset(
    {"http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}
)


def _s3_not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == AWS_PUBLIC_ACCESS_BLOCK:
        unset = [flag for flag in PUBLIC_ACCESS_FLAGS if get(args.props, flag) is not True]
        if unset:
            report(  # pragma: no mutate - urn None is report_violation's default
                f"{', '.join(unset)} must be true",
                None,
            )
        return
    if args.resource_type not in (*AWS_BUCKET_ACLS, *AWS_BUCKETS):
        return
    acl = str(get(args.props, "acl"))
    if acl in PUBLIC_CANNED_ACLS:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"canned ACL {acl} makes the bucket public",
            None,
        )
    # BucketAcl: accessControlPolicy.grants[].grantee.uri; the deprecated inline Bucket ACL: grants[].uri.
    grants = [get(g, "grantee") for g in items(get(args.props, "accessControlPolicy", "grants"))]
    for grant in [*grants, *items(get(args.props, "grants"))]:
        uri = str(get(grant, "uri"))
        if uri in PUBLIC_GRANTEES:
            report(  # pragma: no mutate - urn None is report_violation's default
                f"the ACL grants access to {uri}",
                None,
            )


def _named_by_a_block(bucket: Any, targets: set[str]) -> bool:
    """Whether a block's `bucket` input names the bucket (raises UnknownValueError for an unknown name)."""
    name = get(bucket.props, "bucket")
    return name is not None and str(name) in targets


def _bucket_has_public_access_block(args: StackValidationArgs, report: ReportViolation) -> None:
    buckets = [r for r in args.resources if r.resource_type in AWS_BUCKETS]
    if not buckets:
        return
    # A block points at a bucket by its name (the `bucket` input) or by an output of the bucket
    # (bucket.id / bucket.bucket), which makes the bucket one of the block's dependencies.
    blocks = [r for r in args.resources if r.resource_type == AWS_PUBLIC_ACCESS_BLOCK]
    dependents = {d.urn for block in blocks for d in block.dependencies}
    dependents |= {d.urn for block in blocks for deps in block.property_dependencies.values() for d in deps}
    targets: set[str] = set()
    unknown_targets: list[UnknownValueError] = []
    for block in blocks:
        try:
            target = get(block.props, "bucket")
        except UnknownValueError as error:
            unknown_targets.append(error)
        else:
            if target:
                targets.add(str(target))
    undecided: list[UnknownValueError] = []
    for bucket in buckets:
        if bucket.urn in dependents:
            continue
        try:
            # With no block naming any bucket, the bucket's own name (known or not) does not matter.
            named = bool(targets) and _named_by_a_block(bucket, targets)
        except UnknownValueError as error:
            undecided.append(error)  # a block may name it; that cannot be known yet
        else:
            # An unknown block target may be this bucket: decided at update time.
            if not named and not unknown_targets:
                report(f"bucket {bucket.name} has no aws:s3/bucketPublicAccessBlock pointing at it", bucket.urn)
    if unknown_targets or undecided:
        raise [*unknown_targets, *undecided][0]


def _object_container_not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != OS_CONTAINER:
        return
    acl = str(get(args.props, "containerRead"))
    # Swift referrer ACLs: ".r:*" (or ".r:<host>", spoofable) grants anonymous read; ".r:-<host>" only denies.
    public = [e.strip() for e in acl.split(",") if e.strip().startswith(".r:") and not e.strip().startswith(".r:-")]
    if public:
        report(  # pragma: no mutate - urn None is report_violation's default
            f"containerRead {acl!r} grants anonymous read ({', '.join(public)})",
            None,
        )


# -- 10: addresses ------------------------------------------------------------------------------


def _no_public_ip_on_launch(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == AWS_SUBNET:
        if _is_true(get(args.props, "mapPublicIpOnLaunch")):
            report(  # pragma: no mutate - urn None is report_violation's default
                "mapPublicIpOnLaunch is true: every instance launched here gets a public address",
                None,
            )
    elif args.resource_type == AWS_INSTANCE:
        if _is_true(get(args.props, "associatePublicIpAddress")):
            report(  # pragma: no mutate - urn None is report_violation's default
                "associatePublicIpAddress is true",
                None,
            )
    elif args.resource_type == AWS_LAUNCH_TEMPLATE:
        for index, interface in enumerate(items(get(args.props, "networkInterfaces"))):
            if _is_true(get(interface, "associatePublicIpAddress")):
                report(  # pragma: no mutate - urn None is report_violation's default
                    f"networkInterfaces[{index}].associatePublicIpAddress is true",
                    None,
                )


# -- 11: credentials in plain configuration -----------------------------------------------------

#: Last words of a key that holds a credential ("adminPassword", "proxy.secretToken", "client_secret").
CREDENTIAL_WORDS = frozenset({"password", "passwd", "token", "secret", "kubeconfig"})
#: Words that make a key a reference to a credential kept elsewhere ("existingSecret").
REFERENCE_WORDS = frozenset({"existing", "ref", "from"})
#: zero-to-jupyterhub 4.4.0's hub ConfigMap maps each component to its object's name
#: (templates/hub/configmap.yaml, `get_name`): `image-pull-secret` holds the pull Secret's name.
#: kube-prometheus-stack passes `alertmanagerSpec.configSecret` to the Prometheus Operator's
#: AlertmanagerSpec.configSecret: the name of the Secret holding Alertmanager's configuration.
DEFAULT_ALLOWED_KEYS: list[str] = ["data.image-pull-secret", "values.alertmanager.alertmanagerSpec.configSecret"]


#: A value that only names an environment variable the program expands when it reads its
#: configuration (Loki's `-config.expand-env`: `${VAR}`; Grafana's `$__env{VAR}`): a reference.
ENV_REFERENCE = re.compile(r"^(\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$__env\{[A-Za-z_][A-Za-z0-9_]*\})$")


def _words(key: str) -> list[str]:
    """`client_secret` -> [client, secret]; `privateKey` -> [private, key]; `KUBECONFIG` -> [kubeconfig]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def is_credential_key(key: str) -> bool:
    """Whether a configuration key names a credential itself (not a reference to one)."""
    words = _words(key)
    if not words or REFERENCE_WORDS.intersection(words):
        return False
    return words[-1] in CREDENTIAL_WORDS or words[-2:] == ["private", "key"]


def _env_literal(entry: Mapping[str, Any]) -> bool:
    """Whether an environment entry ({name: DB_PASSWORD, value: ...}) holds a credential literally."""
    try:
        name, literal = entry.get("name"), entry.get("value")
    except UnknownValueError:
        return False  # an unknown name or value is no literal
    return isinstance(name, str) and isinstance(literal, str) and bool(literal.strip()) and is_credential_key(name)


def _credential_literals(value: Any, path: str, unknown: list[UnknownValueError]) -> Iterator[str]:
    """The path (below `path`) of every credential-named key or env entry holding a non-empty string.

    Unknown values are skipped (they cannot be literals); one under a credential-named key is
    remembered so the caller can say the check could not finish.
    """
    if isinstance(value, Mapping):
        if _env_literal(value):
            yield f"{path}.value"
        for key in list(value):
            child = f"{path}.{key}"
            try:
                item = value[key]
            except UnknownValueError as error:
                if is_credential_key(str(key)):
                    unknown.append(error)
                continue
            if isinstance(item, str):
                if item.strip() and is_credential_key(str(key)) and not ENV_REFERENCE.match(item.strip()):
                    yield child
            else:
                yield from _credential_literals(item, child, unknown)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                continue
            if not isinstance(item, str):
                yield from _credential_literals(item, f"{path}[{index}]", unknown)


def _credentials_not_in_plain_config(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == K8S_CONFIG_MAP:
        sections = {"data": get(args.props, "data"), "binaryData": get(args.props, "binaryData")}
        where, remedy = "ConfigMap", "a Secret"
    elif args.resource_type in (HELM_RELEASE, HELM_CHART_V4):
        sections = {"values": get(args.props, "values")}
        where, remedy = "Helm values", "a Secret the chart reads (existingSecret)"
    else:
        return
    allowed = [str(p) for p in items(args.get_config().get("allowed_keys"))]
    unknown: list[UnknownValueError] = []
    for section, content in sections.items():
        for path in _credential_literals(content, section, unknown):
            # A pattern names the path inside the section or, prefixed, in the whole resource.
            if any(fnmatch.fnmatchcase(p, a) for a in allowed for p in (path.removeprefix(f"{section}."), path)):
                continue
            report(  # pragma: no mutate - urn None is report_violation's default
                f"{where} key {path} holds a credential in plain text; move it to {remedy}",
                None,
            )
    if unknown:
        raise unknown[0]


# -- the policies ------------------------------------------------------------------------------

POLICIES = [
    resource_policy(
        "no-admin-port-open-to-internet",
        "No ingress rule or load-balancer listener opens SSH, the Kubernetes API or the RKE2 supervisor "
        "to 0.0.0.0/0 or ::/0.",
        _no_admin_port_open,
        severity=Severity.CRITICAL,
        remediation="Open admin ports only to the project's admin networks (the site's `admin_cidrs`): "
        "set remoteIpPrefix / cidrIpv4 / cidrBlocks to those CIDRs, and allowedCidrs on Octavia listeners.",
        config={
            "extra_ports": list_setting(
                DEFAULT_EXTRA_PORTS,
                "Further TCP ports treated as admin ports, besides 22, 6443 and 9345.",
                {"type": "integer", "minimum": 1, "maximum": 65535},
            )
        },
    ),
    resource_policy(
        "no-all-traffic-from-internet",
        "No ingress rule admits every protocol, or every port of a protocol, from 0.0.0.0/0 or ::/0.",
        _no_all_traffic,
        severity=Severity.CRITICAL,
        remediation="Open only the ports a service needs (443 for ingress), or restrict the source to known CIDRs "
        "or a security group.",
    ),
    resource_policy(
        "eks-endpoint-restricted",
        "An EKS API endpoint is private to the VPC and, where public, limited to listed CIDRs.",
        _eks_endpoint_restricted,
        severity=Severity.HIGH,
        remediation="Set vpcConfig.endpointPrivateAccess: true and either endpointPublicAccess: false or "
        "publicAccessCidrs to the admin networks (never 0.0.0.0/0).",
    ),
    resource_policy(
        "eks-secrets-encrypted",
        "EKS envelope-encrypts Kubernetes Secrets with a KMS key.",
        _eks_secrets_encrypted,
        severity=Severity.HIGH,
        remediation='Set encryptionConfig: {resources: ["secrets"], provider: {keyArn: <KMS key ARN>}}.',
    ),
    resource_policy(
        "eks-audit-logging",
        "EKS control-plane audit logs are sent to CloudWatch.",
        _eks_audit_logging,
        severity=Severity.MEDIUM,
        remediation='Add "audit" to enabledClusterLogTypes.',
        level=EnforcementLevel.ADVISORY,
    ),
    resource_policy(
        "kms-key-rotation",
        "Symmetric KMS keys rotate their key material automatically.",
        _kms_key_rotation,
        severity=Severity.MEDIUM,
        remediation="Set enableKeyRotation: true on the aws.kms.Key.",
    ),
    resource_policy(
        "ebs-volumes-encrypted",
        "EBS volumes and launch-template block devices are encrypted.",
        _ebs_encrypted,
        severity=Severity.HIGH,
        remediation='Set encrypted: true on aws.ebs.Volume and ebs.encrypted: "true" on every launch-template '
        "block device mapping.",
    ),
    resource_policy(
        "s3-buckets-not-public",
        "S3 public-access blocks set all four flags, and no bucket ACL grants public access.",
        _s3_not_public,
        severity=Severity.CRITICAL,
        remediation="Set blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets to true; "
        "use the private canned ACL (or none) and share data through signed URLs or IAM.",
    ),
    stack_policy(
        "s3-bucket-has-public-access-block",
        "Every S3 bucket has a public-access block pointing at it.",
        _bucket_has_public_access_block,
        severity=Severity.HIGH,
        remediation="Create an aws.s3.BucketPublicAccessBlock with bucket=<the bucket>.id and all four flags true.",
    ),
    resource_policy(
        "object-containers-not-public",
        "OpenStack Swift containers grant no anonymous (referrer) read access.",
        _object_container_not_public,
        severity=Severity.HIGH,
        remediation='Remove ".r:" entries from containerRead; share objects with temporary URLs or project ACLs.',
    ),
    resource_policy(
        "no-public-ip-on-launch",
        "AWS subnets and instances do not hand out public addresses: nodes sit behind NAT, load balancers "
        "get the addresses.",
        _no_public_ip_on_launch,
        severity=Severity.HIGH,
        remediation="Set mapPublicIpOnLaunch: false on subnets and leave associatePublicIpAddress unset or false.",
    ),
    resource_policy(
        "credentials-not-in-plain-config",
        "Passwords, tokens, secrets, private keys and kubeconfigs are not written into ConfigMaps or Helm values.",
        _credentials_not_in_plain_config,
        severity=Severity.HIGH,
        remediation="Put the credential in a Kubernetes Secret and reference it (the chart's existingSecret, "
        "secretKeyRef); exempt a reviewed key path with the `allowed_keys` config.",
        config={
            "allowed_keys": list_setting(
                DEFAULT_ALLOWED_KEYS,
                "Key paths exempted, as glob patterns over dotted paths inside `values` or "
                "`data` (e.g. `hub.config.*.client_secret`, `data.password`).",
                {"type": "string"},
            )
        },
    ),
]
