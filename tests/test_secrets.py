"""Secret references: resolved before anything is registered, secret from the start, never in a plan."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from components.secrets import SecretUnavailableError, read_vault_field
from components.spec import SpecError
from scripts.harness import Plan, PlanRecorder, evaluate, write_plan
from scripts.mocks import MeridianMocks

PROVIDER = "pulumi:providers:openstack"
CREDENTIAL_ID = "0123456789abcdef0123456789abcdef"


def _with_credential(platform: dict[str, Any], ref: str) -> dict[str, Any]:
    platform["sites"]["os-a"]["openstack"]["application_credential"] = {"id": CREDENTIAL_ID, "secret": ref}
    return platform


def test_vault_reference_is_a_secret_input_and_never_in_the_plan(
    plan_of: Callable[..., Plan], base_platform: dict[str, Any], tmp_path: Path
) -> None:
    plan = plan_of(_with_credential(base_platform, "vault:kv/testproj/openstack#app_secret"))
    provider = plan.one(PROVIDER, "os-a-provider")
    assert provider["inputs"]["applicationCredentialId"] == CREDENTIAL_ID
    assert provider["inputs"]["applicationCredentialSecret"] == "[secret]"
    assert provider["secret_paths"] == ["applicationCredentialSecret"]
    out = tmp_path / "plan.json"
    write_plan(plan, out)
    assert "placeholder" not in out.read_text()


def test_config_reference_needs_a_secure_key(write_stack: Callable[..., Path], base_platform: dict[str, Any]) -> None:
    platform = _with_credential(base_platform, "config:osCredential")
    plain = write_stack(platform, **{"meridian:osCredential": "not-encrypted"})
    with pytest.raises(SpecError) as error:
        evaluate(plain)
    message = str(error.value)
    assert "meridian:platform.sites.os-a.openstack.application_credential.secret" in message
    assert "is not a secret" in message
    assert "not-encrypted" not in message

    secure = write_stack(platform, name="secure", **{"meridian:osCredential": {"secure": "v1:abc=="}})
    provider = evaluate(secure).one(PROVIDER, "os-a-provider")
    assert provider["secret_paths"] == ["applicationCredentialSecret"]


def test_missing_config_key_fails_before_any_resource(
    write_stack: Callable[..., Path], base_platform: dict[str, Any]
) -> None:
    path = write_stack(_with_credential(base_platform, "config:nothingHere"))
    recorder = PlanRecorder(MeridianMocks())
    with pytest.raises(SpecError, match=r"config key meridian:nothingHere is not set"):
        evaluate(path, recorder=recorder)
    assert [r["type"] for r in recorder.records] == ["pulumi:pulumi:Stack"]


@pytest.mark.parametrize("ref", ["vault:kv", "vault:kv/path", "config:", "env:HOME", "vault:kv/p#"])
def test_malformed_references_are_spec_errors(
    plan_of: Callable[..., Plan], base_platform: dict[str, Any], ref: str
) -> None:
    with pytest.raises(SpecError, match=r"application_credential\.secret"):
        plan_of(_with_credential(base_platform, ref))


# -- the real Vault reader, against a loopback stand-in speaking Vault's KV v2 HTTP API ------------


class _FakeVault(BaseHTTPRequestHandler):
    secrets = {"kv/data/testproj/openstack": {"app_secret": "s3cr3t-value"}}
    token = "hvs.test-token"

    def do_GET(self) -> None:
        if self.headers.get("X-Vault-Token") != self.token:
            self._reply(403, {"errors": ["permission denied"]})
            return
        data = self.secrets.get(self.path.removeprefix("/v1/"))
        if data is None:
            self._reply(404, {"errors": []})
            return
        self._reply(200, {"data": {"data": data, "metadata": {"version": 3, "deletion_time": ""}}})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeVault)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("VAULT_ADDR", address)
    monkeypatch.setenv("VAULT_TOKEN", _FakeVault.token)
    monkeypatch.delenv("VAULT_NAMESPACE", raising=False)
    yield address
    server.shutdown()
    server.server_close()


def test_reads_a_kv2_field_with_hvac(vault: str) -> None:
    assert read_vault_field("kv", "testproj/openstack", "app_secret") == "s3cr3t-value"


def test_vault_errors_name_the_place_not_the_value(vault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SecretUnavailableError, match=r"has no field 'other'"):
        read_vault_field("kv", "testproj/openstack", "other")
    with pytest.raises(SecretUnavailableError, match=r"no secret at kv/elsewhere"):
        read_vault_field("kv", "elsewhere", "x")
    monkeypatch.setenv("VAULT_TOKEN", "hvs.wrong")
    with pytest.raises(SecretUnavailableError, match=r"denied") as error:
        read_vault_field("kv", "testproj/openstack", "app_secret")
    assert "s3cr3t" not in str(error.value)


def test_no_vault_address_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    with pytest.raises(SecretUnavailableError, match="VAULT_ADDR is not set"):
        read_vault_field("kv", "a", "b")
