"""The project's private certificate authority for the central observability's push endpoints.

Children of `<project>-push-ca` (`meridian:addons:PushAuthority`, parented to the Platform, built
once per project that declares `observability`):

* `<project>-push-ca`   tls.PrivateKey (ECDSA P-256) and tls.SelfSignedCert: the CA, valid ten years

Why a private CA rather than Let's Encrypt. The push endpoints sit behind a load balancer of
their own that admits the project's sites only (ingress.py, `PUSH_ENTRY`). An ACME HTTP-01
challenge comes from Let's Encrypt's validation addresses, which it does not publish and which
are no site's, so it could never reach them; DNS-01 exists only where the zone is Route53. The
endpoints' only clients are Meridian's own collectors, so no public trust is needed: each
collector trusts this CA for the push endpoints (and nothing else does), a certificate from any
public CA for those hostnames would not be accepted by them, and the hostnames stay out of
Certificate Transparency logs.

Who holds what. The CA key lives in the Pulumi state (secret) and in one `kubernetes.io/tls`
Secret on the central cluster, where cert-manager's CA issuer (a namespaced Issuer, central.py)
signs the endpoints' certificates and renews them before they expire (ingress-shim's defaults:
90 days, renewed 30 days before), with no `pulumi up` needed. Every observed cluster gets the CA
certificate, which is public, in a ConfigMap its collectors read (observability.py, logs.py); the
log collector and the blackbox exporter mount it as a file, which the kubelet updates in place.

Rotation (every ten years, or after a leak): replace the CA (`pulumi up --replace` on the
SelfSignedCert and its key); the same `up` rewrites the issuer's Secret and every collector's
ConfigMap; then delete the endpoints' certificate Secrets (`central-remote-write-tls`,
`central-logs-tls` in `monitoring`) so cert-manager reissues them from the new CA. README,
"Observability".
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

#: Ten years, as RKE2's own CAs (components/clusters/rke2.py).
CA_VALIDITY_HOURS = 24 * 365 * 10
#: The ConfigMap (key `ca.crt`) with the CA certificate, in each namespace whose pods call the
#: push endpoints: the agent's and the log collector's on every site, the blackbox exporter's.
PUSH_CA_CONFIGMAP = "meridian-push-ca"
PUSH_CA_KEY = "ca.crt"
#: Where pods that read it from a file mount that ConfigMap (the log collector, the blackbox exporter).
PUSH_CA_DIR = "/etc/meridian/push-ca"
PUSH_CA_FILE = f"{PUSH_CA_DIR}/{PUSH_CA_KEY}"


def ca_configmap(
    name: str,
    namespace: pulumi.Input[str],
    cert_pem: pulumi.Input[str],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> pulumi.Resource:
    """The CA certificate's ConfigMap in `namespace` (a ConfigMap: the certificate is public)."""
    import pulumi_kubernetes as k8s

    return k8s.core.v1.ConfigMap(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=PUSH_CA_CONFIGMAP, namespace=namespace, labels=labels),
        data={PUSH_CA_KEY: cert_pem},
        opts=opts,
    )


def authority(project: Mapping[str, pulumi.Resource]) -> PushAuthority:
    """The project's PushAuthority from `AddonContext.project` (present whenever observability is declared)."""
    found = project.get("push_authority")
    if not isinstance(found, PushAuthority):
        raise ValueError("the push CA is built by the Platform for every project that declares observability")
    return found


class PushAuthority(pulumi.ComponentResource):
    """The project's push CA: its certificate (public) and key (secret)."""

    cert_pem: pulumi.Output[str]
    """The CA certificate, PEM: what every collector trusts for the push endpoints."""
    key_pem: pulumi.Output[str]
    """The CA key, PEM, secret: the central cluster's CA issuer signs with it."""

    def __init__(self, name: str, project: str, *, opts: pulumi.ResourceOptions | None = None) -> None:
        """Create the CA.

        :param name: `<project>-push-ca`.
        :param project: the project's name, in the CA's subject.
        :param opts: options of the component (parented to the Platform).
        """
        super().__init__("meridian:addons:PushAuthority", name, None, opts)
        import pulumi_tls as tls

        child = pulumi.ResourceOptions(parent=self)
        key = tls.PrivateKey(name, algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        cert = tls.SelfSignedCert(
            name,
            private_key_pem=key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"Meridian observability push CA ({project})", organization="Meridian"
            ),
            validity_period_hours=CA_VALIDITY_HOURS,
            # A CA signs certificates (and CRLs); it serves nothing itself (RFC 5280 4.2.1.3).
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=child,
        )
        self.cert_pem = cert.cert_pem
        self.key_pem = pulumi.Output.secret(key.private_key_pem)
        self.register_outputs({"cert_pem": self.cert_pem})
