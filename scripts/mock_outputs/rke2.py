"""Mock outputs for RKE2 clusters: local secrets (random, tls), Octavia, floating IPs, instances, images."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs

from ..mocks import CallBuilder, ResourceBuilder, address_in, digest, documentation_ip, stable_uuid


def _pem(kind: str, *parts: str) -> str:
    """A PEM block of the right kind with stable, obviously fake content."""
    body = base64.b64encode(bytes.fromhex(digest(*parts) * 4)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----", ""])


def _random_password(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    seed = digest("password", args.name) * 4
    length = int(args.inputs.get("length", 16))
    return {"result": "".join(alphabet[int(seed[i : i + 2], 16) % len(alphabet)] for i in range(0, 2 * length, 2))}


def _random_bytes(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # Outputs as pulumi-random documents them: hex is twice the length, base64 the standard encoding.
    raw = bytes.fromhex((digest("bytes", args.name) * 8)[: 2 * int(args.inputs.get("length", 32))])
    return {"hex": raw.hex(), "base64": base64.b64encode(raw).decode()}


def _private_key(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    kind = "EC PRIVATE KEY" if args.inputs.get("algorithm") == "ECDSA" else "RSA PRIVATE KEY"
    return {
        "privateKeyPem": _pem(kind, "key", args.name),
        "privateKeyPemPkcs8": _pem("PRIVATE KEY", "pkcs8", args.name),
        "publicKeyPem": _pem("PUBLIC KEY", "pub", args.name),
        "publicKeyOpenssh": f"ecdsa-sha2-nistp256 {base64.b64encode(bytes.fromhex(digest('ssh', args.name))).decode()}",
        "publicKeyFingerprintSha256": "SHA256:" + base64.b64encode(bytes.fromhex(digest("fp", args.name))).decode(),
    }


def _certificate(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    # The provider's validity window runs from creation for validity_period_hours.
    start = datetime(2026, 11, 21, 8, tzinfo=UTC)
    end = start + timedelta(hours=float(args.inputs.get("validityPeriodHours", 24 * 365)))
    return {
        "certPem": _pem("CERTIFICATE", "cert", args.name),
        "validityStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "readyForRenewal": False,
    }


def _cert_request(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    return {"certRequestPem": _pem("CERTIFICATE REQUEST", "csr", args.name)}


def _load_balancer(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    subnet = args.inputs.get("vipSubnetId", "")
    return {
        "vipAddress": address_in(subnet, "vip", args.name),
        "vipPortId": stable_uuid("vip-port", args.name),
        "vipNetworkId": stable_uuid("vip-network", subnet),
        "loadbalancerProvider": "amphora",
        "adminStateUp": True,
    }


def _floating_ip(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    return {"address": documentation_ip("fip", args.name), "fixedIp": "", "portId": ""}


def _instance(args: MockResourceArgs, _: dict[str, Any]) -> dict[str, Any]:
    networks = args.inputs.get("networks") or [{}]
    address = address_in(networks[0].get("uuid", ""), "instance", args.name)
    return {
        "accessIpV4": address,
        "accessIpV6": "",
        "networks": [
            {
                **networks[0],
                "fixedIpV4": address,
                "mac": "fa:16:3e:" + ":".join(digest(args.name)[i : i + 2] for i in range(0, 6, 2)),
            }
        ],
        "powerState": "active",
        "created": "2026-11-21T08:00:00Z",
    }


def _image(args: MockCallArgs, provider: dict[str, Any]) -> dict[str, Any]:
    name = args.args.get("name", "")
    return {
        "id": stable_uuid("image", name),
        "name": name,
        "region": provider.get("region", "RegionOne"),
        "containerFormat": "bare",
        "diskFormat": "qcow2",
        "minDiskGb": 10,
        "minRamMb": 0,
        "status": "active",
        "visibility": "public",
        "properties": {"os_distro": "ubuntu", "os_version": "24.04"},
        "tags": [],
    }


RESOURCES: dict[str, ResourceBuilder] = {
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomBytes:RandomBytes": _random_bytes,
    "tls:index/privateKey:PrivateKey": _private_key,
    "tls:index/selfSignedCert:SelfSignedCert": _certificate,
    "tls:index/locallySignedCert:LocallySignedCert": _certificate,
    "tls:index/certRequest:CertRequest": _cert_request,
    "openstack:loadbalancer/loadBalancer:LoadBalancer": _load_balancer,
    "openstack:networking/floatingIp:FloatingIp": _floating_ip,
    "openstack:compute/instance:Instance": _instance,
}
CALLS: dict[str, CallBuilder] = {"openstack:images/getImage:getImage": _image}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}
