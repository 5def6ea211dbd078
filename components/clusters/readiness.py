"""Wait, boundedly, for a new cluster's Kubernetes API before anything is sent to it.

A cluster's kubeconfig can be known long before its API answers: an rke2 cluster's is built
from the floating IP and the certificates Meridian generates, which exist before any server
has booted. A Kubernetes provider built from it alone lets `pulumi up` send add-ons to an API
that is still starting, which fails ("configured Kubernetes cluster is unreachable"). So the
kubeconfig a backend hands out depends on `api_ready`: a `command.local.Command` (pulumi-command,
a real provider resource, never a resource created inside `apply`) that runs on the machine
running Pulumi, after the control plane's resources exist, and polls `GET /readyz` through the
API's public address until it answers 200 or the time runs out.

* RKE2 runs kube-apiserver with `--anonymous-auth=false` (k3s pkg/daemons/control/server.go;
  RKE2 CIS self-assessment 1.2.1), so `/readyz` needs a client certificate: the admin one.
* The credentials reach the script through its environment as secret Outputs (stored
  encrypted in the state) and are written to a private temporary directory removed on exit.
* `/readyz` answers 200 only once every readiness check of the API server passes (Kubernetes
  docs, "Kubernetes API health endpoints"); a refused connection, a TLS failure or a 5xx is
  retried, a 401 or 403 (credentials the API will never accept) ends the wait at once.

Backends that need it: rke2 (the kubeconfig predates the servers) and magnum (the Magnum
cluster resource completes when Magnum says so; the wait makes the API's reachability from
where Pulumi runs explicit). eks needs none: the EKS cluster resource completes only when
the cluster is ACTIVE (terraform-provider-aws `waitClusterCreated`), and its kubeconfig
resolves only after the deployer's access entry exists. attached clusters exist before
Meridian; their kubeconfig may authenticate in ways a script cannot reproduce (exec plugins).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_command as command

#: Seconds to wait for the API: RKE2 downloads and starts in a few minutes; a first boot
#: with image pulls on a slow mirror takes longer. Past this, `pulumi up` fails loudly.
READY_TIMEOUT_SECONDS = 1200
#: Seconds between attempts, and the most one attempt may take.
READY_INTERVAL_SECONDS = 10
ATTEMPT_TIMEOUT_SECONDS = 10

#: The script, run with bash on the machine running Pulumi (it needs curl). Every value comes
#: from the environment; nothing secret is on a command line or printed.
READY_SCRIPT = """\
set -euo pipefail
umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '%s' "$MERIDIAN_API_CA" > "$work/ca.pem"
printf '%s' "$MERIDIAN_API_CERT" > "$work/cert.pem"
printf '%s' "$MERIDIAN_API_KEY" > "$work/key.pem"
deadline=$((SECONDS + MERIDIAN_READY_TIMEOUT))
while true; do
  code="$(curl --silent --output /dev/null --write-out '%{http_code}' \\
    --max-time "$MERIDIAN_ATTEMPT_TIMEOUT" \\
    --cacert "$work/ca.pem" --cert "$work/cert.pem" --key "$work/key.pem" \\
    "$MERIDIAN_API_SERVER/readyz" || true)"
  case "$code" in
    200) break ;;
    401|403)
      echo "the Kubernetes API at $MERIDIAN_API_SERVER refused the admin credentials (HTTP $code)" >&2
      exit 1 ;;
  esac
  if (( SECONDS >= deadline )); then
    echo "the Kubernetes API at $MERIDIAN_API_SERVER did not become ready in $MERIDIAN_READY_TIMEOUT s" >&2
    exit 1
  fi
  sleep "$MERIDIAN_READY_INTERVAL"
done
echo "ready: $MERIDIAN_API_SERVER"
"""


def api_ready(
    name: str,
    *,
    server: pulumi.Input[str],
    ca_pem: pulumi.Input[str],
    cert_pem: pulumi.Input[str],
    key_pem: pulumi.Input[str],
    after: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> command.local.Command:
    """The readiness wait `<cluster>-api-ready` for the API at `server` (https://host:port).

    :param name: the cluster's name (the resource is `<name>-api-ready`).
    :param server: the API's URL as the kubeconfig names it.
    :param ca_pem: the CA that signed the API's serving certificate.
    :param cert_pem: a client certificate the API accepts (the admin one).
    :param key_pem: its private key.
    :param after: resources that must exist first (servers, load-balancer members).
    :param parent: the cluster component.
    """
    return command.local.Command(
        f"{name}-api-ready",
        create=READY_SCRIPT,
        interpreter=["/bin/bash", "-c"],
        environment={
            "MERIDIAN_API_SERVER": server,
            "MERIDIAN_API_CA": ca_pem,
            "MERIDIAN_API_CERT": pulumi.Output.secret(cert_pem),
            "MERIDIAN_API_KEY": pulumi.Output.secret(key_pem),
            "MERIDIAN_READY_TIMEOUT": str(READY_TIMEOUT_SECONDS),
            "MERIDIAN_READY_INTERVAL": str(READY_INTERVAL_SECONDS),
            "MERIDIAN_ATTEMPT_TIMEOUT": str(ATTEMPT_TIMEOUT_SECONDS),
        },
        # A new address (a replaced floating IP) means a new API to wait for.
        triggers=[server],
        # Nothing it prints is needed; keep the log to what it says on failure.
        logging=command.local.Logging.STDERR,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )


def after_ready(ready: command.local.Command, kubeconfig: pulumi.Output[str]) -> pulumi.Output[str]:
    """`kubeconfig`, available only once `ready` has succeeded (the provider built from it depends on it)."""
    return pulumi.Output.all(ready.stdout, kubeconfig).apply(lambda args: str(args[1]))
