"""Building blocks shared by every spec model: the strict base and the checked scalar types."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..secrets import SECRET_REF_PATTERN

#: Names users give to keyed collections (sites, clusters, pools). Resource names and
#: Kubernetes labels are derived from them, so they must be DNS-label safe.
NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
NAME_RULE = "use 1-40 lowercase letters, digits and '-', starting with a letter and not ending with '-'"


class SpecModel(BaseModel):
    """Strict, immutable base of every spec model (unknown keys and type coercion are errors)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        str_strip_whitespace=False,
        validate_default=True,
    )


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    # Messages never quote the value (ipaddress's own do): errors must not echo input.
    try:
        return ipaddress.ip_network(value)  # strict: host bits set are an error
    except ValueError:
        pass
    try:
        ipaddress.ip_network(
            value,
            strict=False,  # pragma: no mutate - ip_network treats strict=None as False (only `if strict:` reads it)
        )
    except ValueError:
        raise ValueError("not a valid CIDR (expected e.g. 10.40.0.0/16)") from None
    raise ValueError("not a valid CIDR: it has host bits set (use the network address)") from None


def _cidr(value: str) -> str:
    network = _network(value)
    if network.version != 4:
        raise ValueError("only IPv4 CIDRs are supported for site networks")
    return str(network)


def _any_cidr(value: str) -> str:
    return str(_network(value))


#: A MIG slice size (`1g.10gb`, `1g.10gb+me`): 1 to 7 compute slices, as mig-parted names them.
MIG_SLICE_PATTERN = r"^[1-7]g\.[0-9]+gb(\+me)?$"

#: How an allow-list names another site of the project: `site:<site name>` stands for that
#: site's egress addresses (components/reachability.py).
SITE_REF_PREFIX = "site:"


def _source(value: str) -> str:
    if value.startswith(SITE_REF_PREFIX):
        if not re.match(NAME_PATTERN, value.removeprefix(SITE_REF_PREFIX)):
            raise ValueError(f"not a site reference: use site:<site name> ({NAME_RULE})")
        return value
    try:
        return _any_cidr(value)
    except ValueError as error:
        raise ValueError(f"{error}; or name a site of the project: site:<site name>") from None


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError("not a valid IPv4 address") from None


_SSH_KEY = re.compile(
    r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com) "
    r"[A-Za-z0-9+/=]{40,}( .*)?$"
)


def _ssh_public_key(value: str) -> str:
    if not _SSH_KEY.match(value):
        raise ValueError("not an OpenSSH public key (expected e.g. 'ssh-ed25519 AAAA... comment')")
    return value


#: An IPv4 network in CIDR notation with no host bits set (10.40.0.0/16).
Ipv4Cidr = Annotated[str, AfterValidator(_cidr)]
#: An IPv4 or IPv6 network in CIDR notation (admin access lists may be either).
Cidr = Annotated[str, AfterValidator(_any_cidr)]
#: An https:// URL (no query or fragment in the host part).
HttpsUrl = Annotated[str, Field(pattern=r"^https://[^\s/?#]+(/[^\s]*)?$", max_length=512)]
#: An allow-list entry: an IPv4 or IPv6 CIDR, or `site:<name>` for the egress addresses of a site.
Source = Annotated[str, AfterValidator(_source)]
Ipv4Address = Annotated[str, AfterValidator(_ipv4)]
SshPublicKey = Annotated[str, AfterValidator(_ssh_public_key)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$"
#: Kubernetes label keys: an optional DNS prefix of at most 253 characters and '/', then a name of
#: at most 63 (apimachinery validation.IsQualifiedName).
LABEL_KEY_PATTERN = r"^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"
LabelValue = Annotated[str, Field(min_length=1, max_length=63, pattern=LABEL_VALUE_PATTERN)]
LabelKey = Annotated[str, Field(min_length=1, max_length=317, pattern=LABEL_KEY_PATTERN)]

#: Git URLs the engines clone: HTTPS, or SSH as a URL or in scp form (git@host:path).
GIT_URL = r"^(https://[^\s/?#@]+/[^\s?#]+|ssh://[^\s/?#]+/[^\s?#]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s?#]+)$"
#: A branch or tag name or a commit SHA: components of letters, digits, '_', '-' and single dots,
#: joined by single '/', none ending in '.' or '.lock' (git check-ref-format's rules, as a subset).
GIT_REF = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)*$"
#: Plain-words explanations of the spec's formats, used in place of a raw regex in errors.
PATTERN_RULES = {
    NAME_PATTERN: f"invalid name: {NAME_RULE}",
    LABEL_KEY_PATTERN: "invalid label key: an optional DNS prefix (253 characters at most) and '/', then up to 63 "
    "letters, digits, '-', '_' or '.', starting and ending alphanumeric",
    LABEL_VALUE_PATTERN: "invalid label value: letters, digits, '-', '_' or '.', starting and ending alphanumeric",
    EMAIL_PATTERN: "not an e-mail address",
    SECRET_REF_PATTERN: "not a secret reference: use config:<key> or vault:<mount>/<path>#<field>",
    GIT_URL: "not a Git URL: https://host/path, ssh://host/path or user@host:path",
    GIT_REF: "not a branch, tag or commit: names of letters, digits, '-', '_' and single dots, joined by single "
    "'/', not ending in '.'",
}


def case_twins(names: list[str]) -> list[tuple[str, str]]:
    """(name to rename, name it collides with) for names differing only in letter case.

    The twin blamed is the one that is not lowercase: names must be lowercase anyway, and
    resource names derived from both would collide.
    """
    seen: dict[str, str] = {}
    twins = []
    for name in names:
        first = seen.setdefault(name.casefold(), name)
        if first != name:
            twins.append((first, name) if first != first.lower() else (name, first))
    return twins
