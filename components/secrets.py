"""Secret references in the spec, resolved once, before any resource exists, into secret Outputs.

A spec field of type `SecretRef` never holds a secret, only where to find it:

* `config:<key>`  a secret key of the stack's config (`pulumi config set --secret meridian:<key>`);
  `<key>` may carry its own namespace (`config:aws:secretKey`), else `meridian:` is meant.
* `vault:<mount>/<path>#<field>`  field `<field>` of the KV v2 secret `<path>` on mount
  `<mount>` of HashiCorp Vault, read with hvac from `VAULT_ADDR` and `VAULT_TOKEN` (or
  the token file `~/.vault-token`, as the Vault CLI does).

`resolve_references` runs when the spec is loaded: a missing key, an unreachable Vault or
a missing field is a spec error naming the stack file and the key path, and nothing is
registered. Values are wrapped with `Output.secret` at once and are never logged.
The offline engine installs a resolver that returns marked placeholders instead.
"""

from __future__ import annotations

import os
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

_VAULT = re.compile(r"^vault:(?P<mount>[^/]+)/(?P<path>[^#]+)#(?P<field>.+)$")


class SecretUnavailableError(Exception):
    """A reference could not be resolved; the message says why without revealing any value."""


#: Reads one Vault field: (mount, path, field) -> value. Replaceable (the offline engine does).
VaultReader = Callable[[str, str, str], str]


def read_vault_field(mount: str, path: str, field: str) -> str:
    """Read a KV v2 field from the Vault at VAULT_ADDR with hvac."""
    import hvac  # imported here: only stacks that use Vault pay for it

    address = os.environ.get("VAULT_ADDR")
    if not address:
        raise SecretUnavailableError("VAULT_ADDR is not set")
    # hvac.Client reads the URL from VAULT_ADDR and the token from VAULT_TOKEN, else from the
    # token file ~/.vault-token as the Vault CLI writes it (hvac/v1/__init__.py, hvac/utils.py
    # get_token_from_env): the same sources, so they are left to it. It does not read
    # VAULT_NAMESPACE, which is passed on.
    client = hvac.Client(namespace=os.environ.get("VAULT_NAMESPACE"))
    try:
        # Explicit True: the default (None) means True today with a DeprecationWarning in the
        # user's output, and False from hvac 3 (a deleted latest version would then be read as
        # metadata without data instead of an error).
        response = client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True)
    except hvac.exceptions.Forbidden:
        raise SecretUnavailableError(f"Vault denied reading {mount}/{path} (check the token's policy)") from None
    except hvac.exceptions.InvalidPath:
        raise SecretUnavailableError(f"no secret at {mount}/{path} in Vault") from None
    except (hvac.exceptions.VaultError, OSError) as exc:
        raise SecretUnavailableError(f"Vault at {address} could not be read ({type(exc).__name__})") from None
    data = response["data"]["data"]  # KV v2 read: {"data": {"data": {...}, "metadata": {...}}}
    if field not in data:
        raise SecretUnavailableError(f"secret {mount}/{path} in Vault has no field '{field}'")
    return str(data[field])


VAULT_READER: ContextVar[VaultReader] = ContextVar("meridian_vault_reader", default=read_vault_field)
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
    match = _VAULT.match(ref)
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
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for path, ref in references(model):
        if ref in resolved:
            continue
        try:
            resolved[ref] = _resolve(ref)
        except SecretUnavailableError as exc:
            problems.append((path, str(exc)))
    _RESOLVED.set(resolved)
    return problems


def secret(ref: str) -> pulumi.Output[str]:
    """The secret Output for a reference resolved when the spec was loaded."""
    resolved = _RESOLVED.get()
    if resolved is None or ref not in resolved:
        raise KeyError("secret reference was not resolved with the spec (load the spec with load_platform_spec)")
    return resolved[ref]
