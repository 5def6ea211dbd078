"""Nothing is sent to a cluster's API before it answers: the readiness wait, planned and run for real.

Three layers:

* the plan: on rke2 and magnum the Kubernetes provider (and so every add-on) depends on the
  `<cluster>-api-ready` command, which depends on the control plane's servers and load-balancer
  members and polls the API's public address with the admin client certificate (secret);
* the script: shellcheck passes it (and fails a broken copy);
* its behaviour: bash runs it against a local HTTPS server that demands a client certificate,
  as RKE2's API server does (anonymous auth off), answering 503 and then 200, or never 200.
"""

from __future__ import annotations

import base64
import copy
import http.server
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PlanCache, local_server

from components.clusters import readiness
from scripts.harness import SECRET, Plan

COMMAND = "command:local:Command"
K8S_PROVIDER = "pulumi:providers:kubernetes"
INSTANCE = "openstack:compute/instance:Instance"
MEMBER = "openstack:loadbalancer/member:Member"
MAGNUM_CLUSTER = "openstack:containerinfra/cluster:Cluster"
SECRET_VARIABLES = {"MERIDIAN_API_CERT", "MERIDIAN_API_KEY"}


CLUSTERS: dict[str, Any] = {
    "lab": {
        "site": "os-a",
        "backend": "rke2",
        "version": "1.33",
        "control_plane": {"count": 3, "flavor": "m1.large"},
        "node_pools": {"w": {"flavor": "m1.large"}},
    },
    "mag": {
        "site": "os-a",
        "backend": "magnum",
        "version": "1.34",
        "image": "ubuntu-2404-kube-v1.34.7",
        "control_plane": {"count": 1, "flavor": "m1.large"},
        "node_pools": {"w": {"flavor": "m1.large"}, "g": {"flavor": "m1.large", "labels": {"tier": "x"}}},
    },
}
_PLANS: dict[str, Plan] = PlanCache()


@pytest.fixture
def both(plan_of: Callable[..., Plan], base_platform: dict[str, Any]) -> Plan:
    """An rke2 and a magnum cluster on the minimal platform, secrets revealed (evaluated once)."""
    if "both" not in _PLANS:
        platform = copy.deepcopy(base_platform)
        platform["clusters"] = copy.deepcopy(CLUSTERS)
        _PLANS["both"] = plan_of(platform, reveal_secrets=True)
    return _PLANS["both"]


def _env(plan: Plan, cluster: str) -> dict[str, str]:
    command = plan.one(COMMAND, f"{cluster}-api-ready")
    environment: dict[str, str] = plan.revealed[command["urn"]]["environment"]
    return environment


# -- the plan ----------------------------------------------------------------------------------------


def test_rke2_provider_waits_for_the_api_and_the_api_for_the_control_plane(both: Plan) -> None:
    ready = both.one(COMMAND, "lab-api-ready")
    servers = [r["urn"] for r in both.by_type(INSTANCE) if r["name"].startswith("lab-server-")]
    members = [r["urn"] for r in both.by_type(MEMBER) if r["name"].startswith("lab-api-")]
    assert len(servers) == 3 and len(members) == 6  # 3 servers x (6443, 9345)
    assert set(servers) | set(members) <= set(ready["depends_on"])
    provider = both.one(K8S_PROVIDER, "lab-k8s")
    assert ready["urn"] in provider["depends_on"]
    # Agents are not waited for: the API is ready once the servers are.
    agents = [r["urn"] for r in both.by_type(INSTANCE) if r["name"].startswith("lab-w-")]
    assert agents and not set(agents) & set(ready["depends_on"])


@pytest.mark.parametrize("cluster", ["lab", "mag"])
def test_wait_uses_the_kubeconfigs_server_and_credentials(both: Plan, cluster: str) -> None:
    # The same admin credentials the add-ons' provider will use (Magnum: its kubeconfig's fields).
    env = _env(both, cluster)
    kubeconfig = yaml.safe_load(both.revealed[both.one(K8S_PROVIDER, f"{cluster}-k8s")["urn"]]["kubeconfig"])
    (entry,) = kubeconfig["clusters"]
    assert env["MERIDIAN_API_SERVER"] == entry["cluster"]["server"]
    assert env["MERIDIAN_API_SERVER"].endswith(":6443")
    assert base64.b64decode(entry["cluster"]["certificate-authority-data"]).decode() == env["MERIDIAN_API_CA"]
    (user,) = kubeconfig["users"]
    assert base64.b64decode(user["user"]["client-certificate-data"]).decode() == env["MERIDIAN_API_CERT"]
    assert base64.b64decode(user["user"]["client-key-data"]).decode() == env["MERIDIAN_API_KEY"]
    assert env["MERIDIAN_READY_TIMEOUT"] == str(readiness.READY_TIMEOUT_SECONDS)


@pytest.mark.parametrize("cluster", ["lab", "mag"])
def test_credentials_are_secret_in_the_plan(both: Plan, cluster: str) -> None:
    command = both.one(COMMAND, f"{cluster}-api-ready")
    for variable in SECRET_VARIABLES:
        assert f"environment.{variable}" in command["secret_paths"]
        assert command["inputs"]["environment"][variable] == SECRET
    assert command["inputs"]["interpreter"] == ["/bin/bash", "-c"]
    assert command["inputs"]["create"] == readiness.READY_SCRIPT


def test_magnum_provider_and_node_setup_wait_for_the_api(both: Plan) -> None:
    ready = both.one(COMMAND, "mag-api-ready")
    assert both.one(MAGNUM_CLUSTER, "mag-cluster")["urn"] in ready["depends_on"]
    for provider in ("mag-k8s", "mag-bootstrap-k8s"):
        assert ready["urn"] in both.one(K8S_PROVIDER, provider)["depends_on"], provider
    env = _env(both, "mag")
    assert env["MERIDIAN_API_SERVER"].startswith("https://")
    assert "BEGIN CERTIFICATE" in env["MERIDIAN_API_CA"]


# -- the script -------------------------------------------------------------------------------------


def _shellcheck(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", "-"], input=script, capture_output=True, text=True
    )


def test_the_script_passes_shellcheck() -> None:
    assert shutil.which("shellcheck"), "shellcheck is missing: run `make tools`"
    result = _shellcheck(readiness.READY_SCRIPT)
    assert result.returncode == 0, result.stdout


def test_shellcheck_catches_a_broken_copy() -> None:
    broken = readiness.READY_SCRIPT.replace('"$work/ca.pem"', "$work/ca.pem").replace("((", "( (")
    result = _shellcheck(broken)
    assert result.returncode != 0 and "SC2086" in result.stdout


# -- the script, run against a local API that demands a client certificate -------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    assert shutil.which("openssl") and shutil.which("curl"), "openssl and curl are needed: run `make tools`"
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(extension + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)  # fmt: skip
    return d


class _Api(http.server.BaseHTTPRequestHandler):
    """/readyz: 503 for the first `not_ready` requests, then 200 (unless `never`)."""

    not_ready = 0
    never = False
    #: An HTTP status to answer every request with (401, 403), or 0.
    refuse = 0
    seen: list[str] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        ready = not type(self).never and len(type(self).seen) > type(self).not_ready
        if type(self).refuse:
            self.send_response(type(self).refuse)
            self.end_headers()
            return
        self.send_response(200 if ready and self.path == "/readyz" else 503)
        self.end_headers()
        self.wfile.write(b"ok" if ready else b"[-]etcd failed")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api(pki: Path) -> Iterator[tuple[str, type[_Api]]]:
    handler = type("Api", (_Api,), {"seen": [], "not_ready": 0, "never": False, "refuse": 0})
    # No client certificate, no answer: anonymous auth off.
    with local_server(handler, pki, client_certificates=True) as url:
        yield url, handler


def _run(pki: Path, server: str, *, timeout: int, client: str = "client") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "MERIDIAN_API_SERVER": server,
        "MERIDIAN_API_CA": (pki / "ca.pem").read_text(),
        "MERIDIAN_API_CERT": (pki / f"{client}.pem").read_text(),
        "MERIDIAN_API_KEY": (pki / f"{client}.key").read_text(),
        "MERIDIAN_READY_TIMEOUT": str(timeout),
        "MERIDIAN_READY_INTERVAL": "1",
        "MERIDIAN_ATTEMPT_TIMEOUT": "5",
    }
    return subprocess.run(["/bin/bash", "-c", readiness.READY_SCRIPT], env=env, capture_output=True, text=True)


def test_the_script_waits_until_the_api_is_ready(pki: Path, api: tuple[str, type[_Api]]) -> None:
    server, handler = api
    handler.not_ready = 2
    result = _run(pki, server, timeout=60)
    assert result.returncode == 0, result.stderr
    assert handler.seen == ["/readyz"] * 3
    assert result.stdout.strip() == f"ready: {server}"
    # The credentials never reach the output.
    assert "PRIVATE KEY" not in result.stdout + result.stderr


def test_the_script_gives_up_after_its_bound(pki: Path, api: tuple[str, type[_Api]]) -> None:
    server, handler = api
    handler.never = True
    result = _run(pki, server, timeout=2)
    assert result.returncode == 1
    assert f"the Kubernetes API at {server} did not become ready in 2 s" in result.stderr
    assert len(handler.seen) >= 2


@pytest.mark.parametrize("status", [401, 403])
def test_the_script_stops_at_once_when_the_credentials_are_refused(
    pki: Path, api: tuple[str, type[_Api]], status: int
) -> None:
    # Authentication or RBAC will not change by waiting: one answer is enough.
    server, handler = api
    handler.refuse = status
    result = _run(pki, server, timeout=60)
    assert result.returncode == 1 and handler.seen == ["/readyz"]
    assert f"refused the admin credentials (HTTP {status})" in result.stderr


def test_the_script_presents_its_client_certificate(pki: Path, api: tuple[str, type[_Api]]) -> None:
    # A certificate the API's CA did not sign is refused in the TLS handshake: never ready.
    server, handler = api
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
             "-subj", "/CN=stranger", "-keyout", "stranger.key", "-out", "stranger.pem", cwd=pki)  # fmt: skip
    result = _run(pki, server, timeout=1, client="stranger")
    assert result.returncode == 1 and handler.seen == []
