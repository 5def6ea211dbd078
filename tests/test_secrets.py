"""Secret references: resolved before anything is registered, secret from the start, never in a plan."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.config import set_all_config
from pydantic import BaseModel

from components.secrets import VAULT_READER, SecretRef, references, resolve_references, secret
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


# -- finding and resolving references (the real Vault reader is tested against OpenBao: test_vault.py) ----


class _Leaf(BaseModel):
    token: SecretRef
    maybe: SecretRef | None = None
    plain: str = "config:notAReference"


class _Tree(BaseModel):
    leaf: _Leaf
    many: list[SecretRef] = []
    named: dict[str, SecretRef] = {}
    leaves: list[_Leaf] = []


def _in_context(fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run on an event loop (Outputs need one) with fresh config and resolution state (context variables)."""
    return contextvars.copy_context().run(asyncio.run, fn())


async def _value(output: pulumi.Output[str]) -> tuple[str | None, bool]:
    return await output.future(), await output.is_secret()


def test_references_are_found_in_every_shape_of_field() -> None:
    tree = _Tree(
        leaf=_Leaf(token="config:a", maybe="config:b"),
        many=["config:c", "vault:kv/p/q#f"],
        named={"x": "config:d"},
        leaves=[_Leaf(token="config:e")],
    )
    assert list(references(tree)) == [
        (("leaf", "token"), "config:a"),
        (("leaf", "maybe"), "config:b"),
        (("many", 0), "config:c"),
        (("many", 1), "vault:kv/p/q#f"),
        (("named", "x"), "config:d"),
        (("leaves", 0, "token"), "config:e"),
    ]


def test_config_references_resolve_to_secret_outputs_of_their_own_namespace() -> None:
    async def run() -> Any:
        set_all_config(
            {"meridian:hubCookie": "c00kie", "aws:secretKey": "k3y"}, ["meridian:hubCookie", "aws:secretKey"]
        )
        tree = _Tree(leaf=_Leaf(token="config:hubCookie", maybe="config:aws:secretKey"))
        assert resolve_references(tree) == []
        return await _value(secret("config:hubCookie")), await _value(secret("config:aws:secretKey"))

    assert _in_context(run) == (("c00kie", True), ("k3y", True))


def test_a_reference_with_a_namespace_is_looked_up_there() -> None:
    tree = _Tree(leaf=_Leaf(token="config:aws:nothing"))

    async def run() -> Any:
        return resolve_references(tree)

    problems = _in_context(run)
    assert problems == [
        (
            ("leaf", "token"),
            "config:aws:nothing: config key aws:nothing is not set (pulumi config set --secret aws:nothing ...)",
        )
    ]


def test_vault_references_are_read_once_each_and_secret() -> None:
    calls: list[tuple[str, str, str]] = []

    def reader(mount: str, path: str, field: str) -> str:
        calls.append((mount, path, field))
        return f"value-of-{field}"

    async def run() -> Any:
        VAULT_READER.set(reader)
        tree = _Tree(
            leaf=_Leaf(token="vault:kv/eo4eu/os#app", maybe="vault:kv/eo4eu/os#app"),
            many=["vault:secret/a/b/c#pw"],
        )
        assert resolve_references(tree) == []
        return await _value(secret("vault:kv/eo4eu/os#app")), await _value(secret("vault:secret/a/b/c#pw"))

    assert _in_context(run) == (("value-of-app", True), ("value-of-pw", True))
    # A reference used twice is read once; the one after the duplicate is read too.
    assert calls == [("kv", "eo4eu/os", "app"), ("secret", "a/b/c", "pw")]


def test_a_value_that_is_no_reference_is_refused_by_the_resolver_too() -> None:
    # The spec's pattern refuses it first; the resolver does not rely on that.
    tree = _Tree.model_construct(leaf=_Leaf.model_construct(token="env:HOME"), many=[], named={}, leaves=[])

    async def run() -> Any:
        return resolve_references(tree)

    assert _in_context(run) == [(("leaf", "token"), "env:HOME: not a secret reference")]


def test_an_unresolved_reference_is_a_programming_error() -> None:
    expected = "secret reference was not resolved with the spec (load the spec with load_platform_spec)"

    async def before_loading() -> None:
        with pytest.raises(KeyError) as caught:
            secret("config:a")
        assert caught.value.args == (expected,)

    async def another_reference() -> None:
        set_all_config({"meridian:a": "x"}, ["meridian:a"])
        assert resolve_references(_Tree(leaf=_Leaf(token="config:a"))) == []
        with pytest.raises(KeyError) as caught:
            secret("config:b")
        assert caught.value.args == (expected,)

    _in_context(before_loading)
    _in_context(another_reference)
