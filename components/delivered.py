"""Wait, boundedly, until a GitOps engine has installed a release on its cluster (run by `pulumi up`).

When a cluster's add-ons are delivered by the project's GitOps engine (`addons.delivery: gitops`),
Pulumi creates the engine's object (a Fleet HelmOp, a Sveltos ClusterProfile) on the management
cluster and the engine installs the chart some minutes later. What Pulumi itself still creates on
that cluster from the chart's CRDs (the collector's ServiceMonitors, an issuer, a secret store)
must wait for that install: its kind does not exist before, and a webhook the chart runs must be
answering. The wait is this file, run with `python3 -c` by a `command.local.Command` on the machine
running Pulumi (components/gitops.py `GitOps.deliver`), standard library only; the resources that
need the chart depend on it.

It reads the release where both engines keep it: they install with Helm's SDK into its Secrets
storage (Fleet v0.16.1 internal/helmdeployer/deployer.go `createCfg`, `driver.NewSecrets`; Sveltos
addon-controller v1.13.0 controllers/handlers_helm.go, `actionConfig.Init(..., "secret")`): Secrets
of type `helm.sh/release.v1` labelled `owner=helm`, `name=<release>`, `status=deployed`, whose key
`release` holds the release as base64 of gzip of JSON (Helm's pkg/storage/driver secrets.go and
util.go). The wait ends when a deployed revision of the wanted chart version exists. Both engines
are told to wait for the release's resources before marking it deployed (Fleet: a HelmOp with
`timeoutSeconds` installs with Helm's status-watcher wait strategy, install.go; Sveltos: the
ClusterProfile's `options.wait`), so by then the chart's CRDs are served and its webhooks answer.
A values-only change of the same chart version passes at once (the deployed revision already
matches): the objects that waited for the chart's kinds on the first install do not need the new
values.

It logs in as the engine's own service account on the cluster (a bearer token,
components/gitops.py `_login`), which works the same for every backend (an eks kubeconfig's
exec plugin does not run here). A refused login (401, 403) ends the wait at once; a connection
failure, a 5xx or no deployed revision yet is retried until the time runs out.

Every input comes from the environment, the token as a secret Output (stored encrypted in the
state); nothing secret is printed.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

#: The first bytes of gzip data; Helm stores releases written before it compressed them as plain JSON.
GZIP_MAGIC = b"\x1f\x8b\x08"


def decode_release(stored: str) -> dict[str, Any]:
    """A Helm release from a storage Secret's `data.release` (the API's base64 of Helm's base64 of gzip of JSON)."""
    helm_encoded = base64.b64decode(stored)
    raw = base64.b64decode(helm_encoded)
    if raw[:3] == GZIP_MAGIC:
        raw = gzip.decompress(raw)
    release: dict[str, Any] = json.loads(raw)
    return release


def deployed_versions(secret_list: Mapping[str, Any]) -> list[str]:
    """The chart versions of the deployed revisions in a SecretList of Helm's storage."""
    versions = []
    for item in secret_list.get("items") or []:
        stored = (item.get("data") or {}).get("release")
        if item.get("type") != "helm.sh/release.v1" or not stored:
            # Not Helm's (the label selector is only labels), or a storage object without a release.
            continue
        release = decode_release(stored)
        if (release.get("info") or {}).get("status") == "deployed":
            versions.append(str(((release.get("chart") or {}).get("metadata") or {}).get("version")))
    return versions


def storage_url(server: str, namespace: str, release: str) -> str:
    """The API path listing the deployed revisions of `release` in `namespace` (Helm's storage labels)."""
    selector = urllib.parse.quote(f"owner=helm,name={release},status=deployed")
    return (
        f"{server.removesuffix('/')}/api/v1/namespaces/{urllib.parse.quote(namespace)}/secrets?labelSelector={selector}"
    )


class RefusedError(Exception):
    """The API refused the credentials: waiting longer cannot help."""


def attempt(url: str, token: str, context: ssl.SSLContext, timeout: float) -> list[str] | None:
    """One look at the release's storage: the deployed chart versions, or None if the API did not answer."""
    # `main` admits only https addresses. No Accept header: the API answers JSON to a request
    # without one (k8s.io/apiserver handlers/negotiation, the first serializer when none is asked).
    headers = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:  # noqa: S310
            return deployed_versions(json.loads(answer.read()))
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise RefusedError(f"HTTP {error.code}") from None
        return None
    except (OSError, ValueError, http.client.HTTPException):
        # Refused or reset connections, TLS failures, timeouts, a truncated answer, an answer that is
        # not a SecretList yet.
        return None


def main(environ: Mapping[str, str]) -> int:
    """Wait for the release; 0 once the wanted version is deployed, 1 (with one line on stderr) otherwise."""
    server = environ["MERIDIAN_API_SERVER"]
    release = environ["MERIDIAN_RELEASE"]
    namespace = environ["MERIDIAN_RELEASE_NAMESPACE"]
    version = environ["MERIDIAN_CHART_VERSION"]
    deadline = time.monotonic() + float(environ["MERIDIAN_WAIT_TIMEOUT"])
    interval = float(environ["MERIDIAN_WAIT_INTERVAL"])
    if not server.startswith("https://"):
        print(f"the Kubernetes API address {server!r} is not https", file=sys.stderr)
        return 1
    try:
        context = ssl.create_default_context(cadata=environ["MERIDIAN_API_CA"])
    except ssl.SSLError:
        print(f"the Kubernetes API's CA for {server} is not a PEM certificate", file=sys.stderr)
        return 1
    url = storage_url(server, namespace, release)
    where = f"release {namespace}/{release} (chart version {version}) on {server}"
    while True:
        try:
            versions = attempt(url, environ["MERIDIAN_API_TOKEN"], context, interval)
        except RefusedError as refused:
            print(f"the Kubernetes API at {server} refused the GitOps engine's token ({refused})", file=sys.stderr)
            return 1
        if versions is not None and version in versions:
            print(f"deployed: {where}")
            return 0
        if time.monotonic() >= deadline:
            seen = ", ".join(sorted(set(versions or []))) or "none"
            print(
                f"the GitOps engine did not deploy {where} in {environ['MERIDIAN_WAIT_TIMEOUT']} s "
                f"(deployed versions seen: {seen})",
                file=sys.stderr,
            )
            return 1
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main(os.environ))
