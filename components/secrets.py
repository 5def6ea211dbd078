"""Secret references in the spec, resolved once, before any resource exists, into secret Outputs.

A spec field of type `SecretRef` never holds a secret, only where to find it:

* `config:<key>`  a secret key of the stack's config (`pulumi config set --secret meridian:<key>`);
  `<key>` may carry its own namespace (`config:aws:secretKey`), else `meridian:` is meant.
* `vault:<mount>/<path>#<field>`  field `<field>` of the secret `<path>` on the KV mount
  `<mount>` (version 1 or 2, asked of Vault) of HashiCorp Vault or OpenBao, read with hvac from
  `VAULT_ADDR`, logged in as the spec's `vault.auth` says (components/vault.py).

`resolve_references` runs when the spec is loaded: a missing key, an unreachable Vault or
a missing field is a spec error naming the stack file and the key path, and nothing is
registered; each problem names the reference and its key path. Values are wrapped with
`Output.secret` at once and are never logged.
The offline engine installs a resolver that returns marked placeholders instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Annotated, Any, get_args

import pulumi
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

SECRET_REF_PATTERN = (
    r"^(config:([A-Za-z0-9_.-]+:)?[A-Za-z0-9_.-]+|vault:[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+#[A-Za-z0-9_.-]+)$"
)


class _SecretRefMarker:
    """Marks SecretRef fields in a model's metadata so `references` can find them."""


_MARKER = _SecretRefMarker()
#: Where a secret lives (never the secret itself): `config:<key>` or `vault:<mount>/<path>#<field>`.
SecretRef = Annotated[str, Field(pattern=SECRET_REF_PATTERN), _MARKER]

#: A `vault:` reference taken apart: mount, path inside it, field.
VAULT_REF = re.compile(r"^vault:(?P<mount>[^/]+)/(?P<path>[^#]+)#(?P<field>.+)$")


class SecretUnavailableError(Exception):
    """A reference could not be resolved; the message says why without revealing any value."""


#: Reads one Vault field: (mount, path, field) -> value. Replaceable (the offline engine does).
VaultReader = Callable[[str, str, str], str]


def read_vault_field(mount: str, path: str, field: str) -> str:
    """Read a KV field (version 1 or 2) from the Vault at VAULT_ADDR with this run's session (components/vault.py)."""
    session = _SESSION.get()
    if session is None:  # outside `resolve_references`: a session of its own, with the defaults
        from .vault import VaultSession

        session = VaultSession()
    value: str = session.read(mount, path, field)
    return value


VAULT_READER: ContextVar[VaultReader] = ContextVar("meridian_vault_reader", default=read_vault_field)
#: The run's Vault session (one login per run): made by `resolve_references` from the spec's
#: `vault` block, else on first use with the defaults.
_SESSION: ContextVar[Any] = ContextVar("meridian_vault_session", default=None)
_RESOLVED: ContextVar[dict[str, pulumi.Output[str]] | None] = ContextVar("meridian_resolved_secrets", default=None)


def _config_key(ref: str) -> str:
    key = ref.removeprefix("config:")
    return key if ":" in key else f"meridian:{key}"


def _resolve(ref: str) -> pulumi.Output[str]:
    if ref.startswith("config:"):
        key = _config_key(ref)
        value = pulumi.runtime.get_config(key)
        if value is None:
            raise SecretUnavailableError(f"config key {key} is not set (pulumi config set --secret {key} ...)")
        if not pulumi.runtime.is_config_secret(key):
            raise SecretUnavailableError(
                f"config key {key} is not a secret: set it with `pulumi config set --secret {key}`"
            )
        return pulumi.Output.secret(str(value))
    match = VAULT_REF.match(ref)
    if match is None:  # the spec's pattern makes this unreachable
        raise SecretUnavailableError("not a secret reference")
    return pulumi.Output.secret(VAULT_READER.get()(match["mount"], match["path"], match["field"]))


def references(model: BaseModel, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every SecretRef value in a spec tree, with its key path."""
    for name, info in type(model).model_fields.items():
        yield from _walk(getattr(model, name), (*path, name), _is_ref_field(info))


def _is_ref_field(info: FieldInfo) -> bool:
    # `x: SecretRef` keeps the marker in the field's metadata; `x: SecretRef | None` inside the union.
    if _MARKER in info.metadata:
        return True
    return any(_MARKER in getattr(arg, "__metadata__", ()) for arg in get_args(info.annotation))


def _walk(value: Any, path: tuple[str | int, ...], is_ref: bool) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, BaseModel):
        yield from references(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key), is_ref)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index), is_ref)
    elif is_ref and isinstance(value, str):
        yield path, value


def resolve_references(model: BaseModel) -> list[tuple[tuple[str | int, ...], str]]:
    """Resolve every reference in the spec now; return the problems (key path, message), if any."""
    resolved: dict[str, pulumi.Output[str]] = {}
    found = list(references(model))
    session = None
    settings = getattr(model, "vault", None)
    # A Vault session when a reference reads Vault, or the stack's own Vault resources need the provider.
    if any(ref.startswith("vault:") for _, ref in found) or (settings is not None and settings.provider_needed):
        from .vault import VaultSession

        session = VaultSession(settings)
    tls_problem = session.tls_problem() if session is not None and session.address else None
    if tls_problem is not None:
        # The TLS overrides of the environment the stack does not allow, said once (the Vault
        # provider of write-back would take them too).
        _RESOLVED.set(resolved)
        return [(("vault", "tls"), tls_problem)]
    # One session (one login) for every reference of this spec; dropped, token and all, once resolved.
    token = _SESSION.set(session)
    try:
        problems = _resolve_all(found, resolved)
    finally:
        _SESSION.reset(token)
    _RESOLVED.set(resolved)
    return problems


def _resolve_all(
    found: list[tuple[tuple[str | int, ...], str]], resolved: dict[str, pulumi.Output[str]]
) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    failed: dict[str, str] = {}
    for path, ref in found:
        if ref in failed:
            problems.append((path, failed[ref]))
        if ref in resolved or ref in failed:
            continue
        try:
            resolved[ref] = _resolve(ref)
        except SecretUnavailableError as exc:
            # The reference is where the secret lives, never the secret: safe to name.
            failed[ref] = f"{ref}: {exc}"
            problems.append((path, failed[ref]))
    return problems


def secret(ref: str) -> pulumi.Output[str]:
    """The secret Output for a reference resolved when the spec was loaded."""
    resolved = _RESOLVED.get()
    if resolved is None or ref not in resolved:
        raise KeyError("secret reference was not resolved with the spec (load the spec with load_platform_spec)")
    return resolved[ref]
