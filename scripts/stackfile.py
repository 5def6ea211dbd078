"""Read a stack file (`stacks/Pulumi.<stack>.yaml`) into config the way the Pulumi CLI hands it to a program.

The CLI gives the language host a flat map of `namespace:key` to strings (structured
values JSON-encoded) plus the list of keys that are secret. Offline there is no
passphrase or cloud KMS to decrypt `secure:` values, so each becomes a clearly marked
placeholder, still flagged secret, and the plan redacts it like any other secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT = "meridian"
OFFLINE_SECRET = "[offline placeholder for secure config {key}]"


class StackFileError(Exception):
    """The stack file cannot be read as Pulumi stack config; the message names the file and the place."""


@dataclass(frozen=True)
class StackConfig:
    """What the CLI would pass to the program: config strings and which keys are secret."""

    stack: str
    path: Path
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that reads YAML as the Pulumi CLI (go-yaml v3) does.

    Duplicate keys are errors (PyYAML would keep the last), and unquoted timestamps stay
    strings (go-yaml does not turn them into dates).
    """


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    # Duplicates are checked among the keys written in this mapping only: a key that
    # overrides one brought in by a `<<` merge is legal YAML (and go-yaml accepts it).
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found a complex mapping key", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r} (first defined on line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def stack_name_of(path: Path) -> str:
    """`stacks/Pulumi.eo4eu.yaml` -> `eo4eu`; any other file name -> its stem."""
    name = path.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.removeprefix("Pulumi.")


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return True
        return any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _placeholders(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return OFFLINE_SECRET.format(key=key)
        return {k: _placeholders(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v, key) for v in value]
    return value


def _as_config_string(value: Any) -> str:
    # The CLI passes strings as they are and everything else JSON-encoded (`true`, `3`, `{...}`).
    if isinstance(value, str):
        return value
    return json.dumps(value)


def read_stack_file(path: Path, display: str | None = None) -> StackConfig:
    """Parse a stack file; raise StackFileError for YAML errors and shapes the CLI would reject."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StackFileError(f"{shown}: cannot read the stack file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise StackFileError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise StackFileError(f"{shown}: {where}invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{shown}: invalid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackFileError(f"{shown}: a stack file must be a YAML mapping with a 'config' key")
    unknown = sorted(
        str(key)
        for key in document
        if key not in {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}
    )
    if unknown:
        raise StackFileError(f"{shown}: unknown top-level key(s) {unknown}; stack settings go under 'config'")
    raw_config = document.get("config") or {}
    if not isinstance(raw_config, dict):
        raise StackFileError(f"{shown}: config: must be a mapping of 'namespace:key' to values")

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for raw_key, value in raw_config.items():
        if not isinstance(raw_key, str) or not raw_key:
            raise StackFileError(f"{shown}: config: keys must be non-empty strings")
        # The CLI parses stack-file keys as `<namespace>:<name>` and refuses anything else
        # (`pulumi config set key` adds the project namespace itself; the file never omits it).
        namespace, _, name = raw_key.partition(":")
        if not namespace or not name:
            raise StackFileError(
                f"{shown}: config.{raw_key}: config keys must be <namespace>:<name>, e.g. {PROJECT}:{raw_key}"
            )
        key = raw_key
        if _has_secure(value):
            secret_keys.append(key)
            value = _placeholders(value, key)
        try:
            config[key] = _as_config_string(value)
        except (TypeError, ValueError):
            raise StackFileError(
                f"{shown}: config.{raw_key}: holds a value that is not plain YAML data (binary or tagged)"
            ) from None
    return StackConfig(stack=stack_name_of(path), path=path, config=config, secret_keys=secret_keys)
