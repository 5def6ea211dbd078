"""A GitOps-delivered release is waited for: the plan's wait, and the wait's script run for real.

Two layers:

* the plan: on a `delivery: gitops` cluster, each delivered release has a `<c>-<release>-delivered`
  command after the engine's object, logging in with the engine's token (secret), and what needs
  the chart (the collector's ServiceMonitors, the GPU Operator's release with its DCGM monitor)
  comes after it;
* the script (components/delivered.py, run with `python3 -c` as the command runs it) against a
  local HTTPS API that demands the bearer token and lists Helm's storage Secrets as the API does,
  encoded as Helm encodes them (base64 of gzip of JSON, under the API's own base64). No
  Kubernetes API server can be had here; the stand-in answers only the one list call.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.server
import io
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import local_server, revealed_plan
from test_readiness import pki  # noqa: F401 - the module's CA and server certificate fixture

from components import delivered
from components.charts import locked
from components.gitops import DELIVERY_INTERVAL_SECONDS
from scripts.harness import SECRET

COMMAND = "command:local:Command"
HELMOP = "kubernetes:fleet.cattle.io/v1alpha1:HelmOp"
CLUSTER_PROFILE = "kubernetes:config.projectsveltos.io/v1beta1:ClusterProfile"
MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
TOKEN = "engine-token-7f3a"


# -- the plan ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "cluster", "engine_type", "suffix"),
    [
        ("destine-extremes", "extremes-kajaani", HELMOP, "-helmop"),
        ("buildspace", "city-services", CLUSTER_PROFILE, "-clusterprofile"),
    ],
)
def test_each_delivered_release_is_waited_for_after_the_engines_object(
    bundled_plan: Any, stack: str, cluster: str, engine_type: str, suffix: str
) -> None:
    plan = bundled_plan(stack)
    for release, namespace, chart in (
        ("kube-prometheus-stack", "monitoring", "kube-prometheus-stack"),
        ("alloy", "node-agents", "alloy"),
        ("gpu-operator", "gpu-operator", "gpu-operator"),
    ):
        engine_object = plan.one(engine_type, f"{cluster}-{release}{suffix}")
        # The engine's object belongs to the engine's component (what `pulumi stack` shows under it).
        [engine] = [r for r in plan.resources if r["type"].startswith("meridian:gitops:")]
        assert engine_object["parent"] == engine["urn"]
        wait = plan.one(COMMAND, f"{cluster}-{release}-delivered")
        assert engine_object["urn"] in wait["depends_on"]
        inputs = wait["inputs"]
        assert inputs["interpreter"] == ["python3", "-c"]
        assert inputs["create"] == Path(delivered.__file__).read_text(encoding="utf-8")
        # ASCII, so the script is the same text whatever the codec reading it (components/gitops.py).
        assert inputs["create"].isascii()
        # The wait's progress goes to stderr, which Pulumi shows; nothing of it is kept in outputs.
        assert inputs["logging"] == "stderr"
        environment = inputs["environment"]
        version = locked(chart).version
        assert environment["MERIDIAN_RELEASE"] == release
        assert environment["MERIDIAN_RELEASE_NAMESPACE"] == namespace
        assert environment["MERIDIAN_CHART_VERSION"] == version
        # The token is the engine's own; it, and the API's address and CA read from the cluster's
        # kubeconfig, are secrets in the state.
        for variable in ("MERIDIAN_API_TOKEN", "MERIDIAN_API_SERVER", "MERIDIAN_API_CA"):
            assert environment[variable] == SECRET
            assert f"environment.{variable}" in wait["secret_paths"]
        assert int(environment["MERIDIAN_WAIT_TIMEOUT"]) > 1200
        # Every variable delivered.py reads, and only those; one look every DELIVERY_INTERVAL_SECONDS.
        read = set(re.findall(r'environ\["(MERIDIAN_[A-Z_]+)"\]', inputs["create"]))
        assert set(environment) == read and len(read) == 8
        assert environment["MERIDIAN_WAIT_INTERVAL"] == str(DELIVERY_INTERVAL_SECONDS)
        # Runs again when the chart or its values change; the values themselves are not shown: the
        # second trigger is the digest of the values the engine's object carries, as canonical JSON
        # (sorted keys), so the same values in another order are no change.
        spec = revealed_plan(stack).revealed[engine_object["urn"]]["spec"]
        # A HelmOp carries the values as an object, a ClusterProfile as JSON text (components/gitops.py).
        values = spec["helm"]["values"] if "helm" in spec else json.loads(spec["helmCharts"][0]["values"])
        canonical = json.dumps(values, sort_keys=True).encode()
        assert inputs["triggers"] == [version, hashlib.sha256(canonical).hexdigest()]


def test_the_wait_logs_in_where_and_as_the_engine_does() -> None:
    """The API address, CA and token are the ones of the engine's registration of the cluster."""
    import yaml

    plan = revealed_plan("destine-extremes")
    registration = plan.one("kubernetes:core/v1:Secret", "extremes-kajaani-fleet-kubeconfig")
    kubeconfig = yaml.safe_load(plan.revealed[registration["urn"]]["stringData"]["value"])
    [cluster] = kubeconfig["clusters"]
    [user] = kubeconfig["users"]
    wait = plan.one(COMMAND, "extremes-kajaani-alloy-delivered")
    environment = plan.revealed[wait["urn"]]["environment"]
    assert environment["MERIDIAN_API_SERVER"] == cluster["cluster"]["server"]
    assert environment["MERIDIAN_API_SERVER"].startswith("https://") and environment["MERIDIAN_API_SERVER"].endswith(
        ":6443"
    )
    assert (
        base64.b64encode(environment["MERIDIAN_API_CA"].encode()).decode()
        == cluster["cluster"]["certificate-authority-data"]
    )
    assert environment["MERIDIAN_API_TOKEN"] == user["user"]["token"]


def test_the_chart_version_waited_for_is_the_engines(bundled_plan: Any) -> None:
    plan = bundled_plan("destine-extremes")
    for release in ("kube-prometheus-stack", "alloy", "gpu-operator"):
        helmop = plan.one(HELMOP, f"extremes-kajaani-{release}-helmop")
        wait = plan.one(COMMAND, f"extremes-kajaani-{release}-delivered")
        assert wait["inputs"]["environment"]["MERIDIAN_CHART_VERSION"] == helmop["inputs"]["spec"]["helm"]["version"]
        assert wait["inputs"]["environment"]["MERIDIAN_RELEASE"] == helmop["inputs"]["spec"]["helm"]["releaseName"]


def _after(plan: Any, resource: dict[str, Any]) -> set[str]:
    """Every resource `resource` is created after: its dependencies, a component's children, transitively."""
    children: dict[str, list[str]] = {}
    for item in plan.resources:
        children.setdefault(item.get("parent") or "", []).append(item["urn"])
    by_urn = {item["urn"]: item for item in plan.resources}
    seen: set[str] = set()
    todo = list(resource["depends_on"])
    while todo:
        urn = todo.pop()
        if urn in seen:
            continue
        seen.add(urn)
        found = by_urn.get(urn)  # a resource read, not created (Cluster API's kubeconfig Secret), has none
        if found is not None:
            todo.extend(found["depends_on"])
            if not found["custom"]:
                todo.extend(children.get(urn, []))
    return seen


def test_what_needs_the_chart_waits_for_the_delivered_release(tmp_path: Path, bundled_plan: Any) -> None:
    from conftest import edited_stack as edited

    plan = bundled_plan("destine-extremes")
    # The GPU Operator's chart holds a ServiceMonitor (DCGM): its engine object waits for the
    # collector's chart (and CRDs) to be installed by the engine first.
    collector = plan.one(COMMAND, "extremes-kajaani-kube-prometheus-stack-delivered")
    component = plan.one("meridian:addons:SiteObservability", "extremes-kajaani-observability")
    assert collector["parent"] == component["urn"]
    assert collector["urn"] in _after(plan, plan.one(HELMOP, "extremes-kajaani-gpu-operator-helmop"))

    def postproc_by_engine(platform: dict[str, Any]) -> None:
        # The central stack (always direct) moves to Bologna; postproc's add-ons go by the engine.
        central = platform["observability"]["central"]
        central["cluster"] = "extremes-bologna"
        for key in ("grafana_hostname", "metrics_hostname", "logs_hostname"):
            central[key] = central[key].replace("frankfurt", "bologna")
        platform["clusters"]["extremes-bologna"].setdefault("addons", {})["ingress"] = {
            "allowed_sources": ["0.0.0.0/0"],
            "acme": {"email": "platform@destine-x.eu", "environment": "production", "challenge": "http-01"},
        }
        platform["mlops"]["model_services"]["emulator"]["target"] = {"cpu_percent": 70}
        platform["clusters"]["postproc"]["addons"]["delivery"] = "gitops"

    # postproc runs a hub, its ingress and MLOps services: every monitor of theirs on the cluster
    # is made after the engine installed the collector's chart.
    moved = edited(tmp_path, "destine-extremes", postproc_by_engine)
    wait = moved.one(COMMAND, "postproc-kube-prometheus-stack-delivered")
    needing = [
        r
        for r in moved.resources
        if r["type"].startswith("kubernetes:monitoring.coreos.com/") and r["name"].startswith("postproc-")
    ]
    assert {r["name"] for r in needing} == {
        "postproc-jupyterhub-monitor",
        "postproc-mlflow-db-monitor",
        "postproc-mlflow-login-monitor",
        "postproc-mlflow-monitor",
        "postproc-model-emulator-login-monitor",
        "postproc-monitor-cert-manager",
        "postproc-monitor-traefik",
    }
    for resource in needing:
        assert wait["urn"] in _after(moved, resource), resource["name"]
    assert not [
        r for r in moved.by_type("kubernetes:helm.sh/v3:Release") if r["name"] == "postproc-kube-prometheus-stack"
    ]


# -- the script, run against a local API ------------------------------------------------------------


def helm_secret(release: str, version: str, status: str, revision: int = 1, *, gzipped: bool = True) -> dict[str, Any]:
    """A storage Secret as Helm writes it and the API lists it (data base64-encoded once more)."""
    document = {
        "name": release,
        "namespace": "monitoring",
        "version": revision,
        "info": {"status": status},
        "chart": {"metadata": {"name": release, "version": version}},
    }
    raw = json.dumps(document).encode()
    helm_encoded = base64.b64encode(gzip.compress(raw) if gzipped else raw)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{release}.v{revision}",
            "labels": {"owner": "helm", "name": release, "status": status, "version": str(revision)},
        },
        "data": {"release": base64.b64encode(helm_encoded).decode()},
    }


class _Api(http.server.BaseHTTPRequestHandler):
    """Lists Helm's storage Secrets: `answers` in turn (the last one repeated), to the bearer token only."""

    answers: list[list[dict[str, Any]]] = []
    status = 0
    #: Answer with a body shorter than its Content-Length says (a connection cut mid-answer).
    truncate = False
    #: Seconds to wait before answering (an API that hangs).
    delay = 0.0
    seen: list[str] = []

    def do_GET(self) -> None:
        handler = type(self)
        handler.seen.append(self.path)
        time.sleep(handler.delay)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        if handler.status:
            self.send_response(handler.status)
            self.end_headers()
            return
        url = urllib.parse.urlparse(self.path)
        selector = urllib.parse.parse_qs(url.query)["labelSelector"][0]
        wanted = dict(part.split("=") for part in selector.split(","))
        items = handler.answers[min(len(handler.seen), len(handler.answers)) - 1]
        matching = [i for i in items if all(i["metadata"]["labels"].get(k) == v for k, v in wanted.items())]
        body = json.dumps({"apiVersion": "v1", "kind": "SecretList", "items": matching}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) + (100 if handler.truncate else 0)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api(pki: Path) -> Iterator[tuple[str, type[_Api]]]:  # noqa: F811 - the imported fixture
    handler = type("Api", (_Api,), {"answers": [[]], "status": 0, "truncate": False, "delay": 0.0, "seen": []})
    with local_server(handler, pki) as url:
        yield url, handler


def _run(
    pki: Path,  # noqa: F811 - the imported fixture's value
    server: str,
    *,
    timeout: int,
    version: str = "88.5.3",
    token: str = TOKEN,
    as_script: bool = False,
) -> subprocess.CompletedProcess[str]:
    """The wait against `server`: its `main` in this process, or (`as_script`) the script as the command runs it."""
    env = {
        "PATH": os.environ["PATH"],
        "MERIDIAN_API_SERVER": server,
        "MERIDIAN_API_CA": (pki / "ca.pem").read_text(),
        "MERIDIAN_API_TOKEN": token,
        "MERIDIAN_RELEASE": "kube-prometheus-stack",
        "MERIDIAN_RELEASE_NAMESPACE": "monitoring",
        "MERIDIAN_CHART_VERSION": version,
        "MERIDIAN_WAIT_TIMEOUT": str(timeout),
        "MERIDIAN_WAIT_INTERVAL": "0.2",
    }
    if not as_script:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = delivered.main(env)
        return subprocess.CompletedProcess(["main"], code, out.getvalue(), err.getvalue())
    # As the command runs it: the module's source as `__main__`, nothing of the repository on the
    # path (the command passes the source to `python3 -c`; test_each_delivered_release_... checks
    # `create` is the file's source). runpy reads the file: a mutation run's copy is too long for
    # one argument. The mutant under test, if any, reaches the script (scripts/mutation.py).
    env.update({key: os.environ[key] for key in ("MUTANT_UNDER_TEST",) if key in os.environ})
    runner = f"import runpy; runpy.run_path({delivered.__file__!r}, run_name='__main__')"
    return subprocess.run([sys.executable, "-c", runner], env=env, capture_output=True, text=True, timeout=60)


def test_the_wait_ends_when_the_wanted_version_is_deployed(pki: Path, api: tuple[str, type[_Api]]) -> None:  # noqa: F811
    server, handler = api
    handler.answers = [
        [],  # the engine has not started
        [helm_secret("kube-prometheus-stack", "88.5.3", "pending-install")],
        [helm_secret("kube-prometheus-stack", "88.5.3", "deployed")],
    ]
    result = _run(pki, server, timeout=30, as_script=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"deployed: release monitoring/kube-prometheus-stack (chart version 88.5.3) on {server}"
    )
    assert len(handler.seen) == 3
    path = urllib.parse.urlparse(handler.seen[0])
    assert path.path == "/api/v1/namespaces/monitoring/secrets"
    assert urllib.parse.parse_qs(path.query) == {
        "labelSelector": ["owner=helm,name=kube-prometheus-stack,status=deployed"]
    }
    assert TOKEN not in result.stdout + result.stderr


def test_an_older_deployed_version_is_not_enough(pki: Path, api: tuple[str, type[_Api]]) -> None:  # noqa: F811
    # An upgrade: the previous revision stays deployed until the new one is (Helm supersedes it then).
    # Two revisions left `deployed` (Helm can leave an interrupted upgrade's predecessor so): both named.
    server, handler = api
    handler.answers = [
        [
            helm_secret("kube-prometheus-stack", "88.5.2", "deployed", 2),
            helm_secret("kube-prometheus-stack", "88.5.1", "deployed", 1),
        ]
    ]
    result = _run(pki, server, timeout=1)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"the GitOps engine did not deploy release monitoring/kube-prometheus-stack (chart version 88.5.3) on "
        f"{server} in 1 s (deployed versions seen: 88.5.1, 88.5.2)"
    )
    assert len(handler.seen) >= 2


def test_releases_stored_before_helm_compressed_them_are_read(pki: Path, api: tuple[str, type[_Api]]) -> None:  # noqa: F811
    server, handler = api
    handler.answers = [[helm_secret("kube-prometheus-stack", "88.5.3", "deployed", gzipped=False)]]
    result = _run(pki, server, timeout=5)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"deployed: release monitoring/kube-prometheus-stack (chart version 88.5.3) on {server}\n"


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_ends_the_wait_at_once(pki: Path, api: tuple[str, type[_Api]], status: int) -> None:  # noqa: F811
    server, handler = api
    handler.status = status
    result = _run(pki, server, timeout=60)
    assert result.returncode == 1 and len(handler.seen) == 1
    assert result.stderr.strip() == f"the Kubernetes API at {server} refused the GitOps engine's token (HTTP {status})"


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        # http.client raises IncompleteRead (not an OSError) for an answer cut short.
        {"truncate": True},
        # Slower than the wait's interval (0.2 s), which bounds each look: a hung API never stalls it.
        {"delay": 1.0},
    ],
    ids=["server-error", "cut-short", "hung"],
)
def test_a_failed_look_is_retried_until_the_time_runs_out(
    pki: Path,  # noqa: F811
    api: tuple[str, type[_Api]],
    fault: dict[str, Any],
) -> None:
    server, handler = api
    handler.answers = [[helm_secret("kube-prometheus-stack", "88.5.3", "deployed")]]
    for key, value in fault.items():
        setattr(handler, key, value)
    result = _run(pki, server, timeout=1)
    assert result.returncode == 1 and len(handler.seen) >= 2
    assert "(deployed versions seen: none)" in result.stderr


def test_one_look_at_an_api_that_does_not_answer_in_time_fails(pki: Path, api: tuple[str, type[_Api]]) -> None:  # noqa: F811
    server, handler = api
    handler.answers = [[helm_secret("kube-prometheus-stack", "88.5.3", "deployed")]]
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    url = delivered.storage_url(server, "monitoring", "kube-prometheus-stack")
    handler.delay = 1.0
    assert delivered.attempt(url, TOKEN, context, 0.1) is None
    handler.delay = 0.0
    assert delivered.attempt(url, TOKEN, context, 5) == ["88.5.3"]


def test_an_api_whose_certificate_the_ca_did_not_sign_is_never_trusted(
    pki: Path,  # noqa: F811
    api: tuple[str, type[_Api]],
    tmp_path: Path,
) -> None:
    server, handler = api
    handler.answers = [[helm_secret("kube-prometheus-stack", "88.5.3", "deployed")]]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=other-ca", "-keyout", "other.key", "-out", "ca.pem"],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / "server.pem").write_text("")
    result = _run(tmp_path, server, timeout=1)
    assert result.returncode == 1 and "did not deploy" in result.stderr
    assert handler.seen == []  # the TLS handshake failed: no request, no token sent


def test_a_ca_that_is_not_a_certificate_ends_the_wait_with_one_line(
    pki: Path,  # noqa: F811
    api: tuple[str, type[_Api]],
    tmp_path: Path,
) -> None:
    server, handler = api
    (tmp_path / "ca.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    )
    result = _run(tmp_path, server, timeout=60)
    assert result.returncode == 1 and handler.seen == []
    assert result.stderr == f"the Kubernetes API's CA for {server} is not a PEM certificate\n"


def test_an_address_that_is_not_https_is_refused(pki: Path) -> None:  # noqa: F811
    result = _run(pki, "http://127.0.0.1:1", timeout=1)
    assert result.returncode == 1
    assert result.stderr.strip() == "the Kubernetes API address 'http://127.0.0.1:1' is not https"


def test_the_decoder_reads_only_deployed_helm_releases() -> None:
    listing = {
        "items": [
            {"type": "Opaque", "data": {"release": "bm90IGhlbG0="}},  # labelled alike, but not Helm's
            {"type": "helm.sh/release.v1", "data": {}},  # a storage object without its release
            helm_secret("x", "1.0.0", "superseded", 1),
            helm_secret("x", "1.1.0", "deployed", 2),
            helm_secret("x", "1.2.0", "deployed", 3, gzipped=False),
        ]
    }
    assert delivered.deployed_versions(listing) == ["1.1.0", "1.2.0"]
    assert delivered.deployed_versions({"items": None}) == []
    assert delivered.storage_url("https://api:6443/", "ns", "r") == (
        "https://api:6443/api/v1/namespaces/ns/secrets?labelSelector=owner%3Dhelm%2Cname%3Dr%2Cstatus%3Ddeployed"
    )
