"""Read a stack file (`stacks/Pulumi.<stack>.yaml`) into config the way the Pulumi CLI hands it to a program.

The CLI gives the language host a flat map of `namespace:key` to strings (structured
values JSON-encoded) plus the list of keys that are secret. Offline there is no
passphrase or cloud KMS to decrypt `secure:` values, so each becomes a clearly marked
placeholder, still flagged secret, and the plan redacts it like any other secret.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.spec.limits import (
    INT64_RANGE,
    MAX_CONFIG_CHARS,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_SCALAR_CHARS,
    MAX_STACK_FILE_BYTES,
)

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


# -- plain scalars, as go-yaml v3 resolves them ------------------------------------------------
# gopkg.in/yaml.v3 v3.0.1 (the CLI's, pulumi sdk/go.mod) resolve.go `resolve`: the first
# character picks the candidates; a table of spellings comes first (only true/false are
# booleans: `yes`, `on`, `n` stay strings); then, for a digit or sign, a timestamp, an integer
# (strconv.ParseInt base 0 once every `_` is removed: decimal, 0b/0o/0x in either case, a
# leading 0 for octal), a float matching yamlStyleFloat; after a `.`, strconv.ParseFloat.
# There is no base 60 (`1:20` is a string), and `<<` merges only as a key (`_mapping`).

_GO_TABLE: dict[str, tuple[str, Any]] = {
    **{word: ("bool", True) for word in ("true", "True", "TRUE")},
    **{word: ("bool", False) for word in ("false", "False", "FALSE")},
    **{word: ("null", None) for word in ("", "~", "null", "Null", "NULL")},
    **{word: ("float", math.nan) for word in (".nan", ".NaN", ".NAN")},
    **{
        f"{sign}{word}": ("float", math.inf if sign != "-" else -math.inf)
        for sign in ("", "+", "-")
        for word in (".inf", ".Inf", ".INF")
    },
}
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)")
_GO_STYLE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
#: strconv.ParseFloat of a scalar starting with `.`: Go float syntax, `_` only between digits.
#: Python's float() reads the same syntax (underscores included), so the match is passed as it is.
_GO_DOT_FLOAT = re.compile(r"\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?")
#: allowedTimestampFormats: 2006-1-2, with T/t and a zone, or a space and no zone.
_GO_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})"
    r"(?:[Tt](?P<t>[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2})(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})"
    r"| (?P<s>[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2})(?:\.[0-9]+)?)?"
)
#: resolve.go's hint: only a scalar starting with a sign or a digit may be a timestamp, an int or
#: a float (after a `.` only ParseFloat is tried; `_1` is a string although `1` is an int).
_GO_NUMBER_HINT = re.compile(r"[-+0-9]")
#: A leading 0 and more digits: octal to strconv.ParseInt base 0, refused by Python's int(..., 0).
_GO_LEADING_ZERO_OCTAL = re.compile(r"[-+]?0[0-7]+")


def _go_timestamp(text: str) -> bool:
    match = _GO_TIMESTAMP.fullmatch(text)
    if match is None:
        return False
    year, month, day = (int(part) for part in match["date"].split("-"))
    hour, minute, second = (int(part) for part in (match["t"] or match["s"] or "0:0:0").split(":"))
    try:
        datetime.datetime(year, month, day, hour, minute, second)  # time.Parse's range checks
    except ValueError:
        return False
    return True


def _go_int(plain: str) -> int:
    """strconv.ParseInt(plain, 0, 64)'s value for a `_GO_INT` match (the range is checked later).

    Python's base 0 reads a sign, decimals and 0b/0o/0x in either case as ParseInt does; only
    a leading 0 followed by digits, which ParseInt reads as octal, needs base 8.
    """
    return int(plain, 8 if _GO_LEADING_ZERO_OCTAL.fullmatch(plain) else 0)


def go_resolve(text: str) -> tuple[str, Any]:
    """The tag (`str`, `bool`, `null`, `int`, `float`, `timestamp`) and value of a plain scalar."""
    if text in _GO_TABLE:  # every spelling in the table starts with a character that consults it
        return _GO_TABLE[text]
    if text.startswith("."):
        if _GO_DOT_FLOAT.fullmatch(text):
            return "float", float(text)
    elif _GO_NUMBER_HINT.match(text):
        if _go_timestamp(text):
            return "timestamp", text
        plain = text.replace("_", "")
        if _GO_INT.fullmatch(plain):
            # Beyond any 64-bit literal (0b and 64 digits) the value is not computed: refused later.
            return "int", _go_int(plain) if len(plain) <= 67 else None
        if _GO_STYLE_FLOAT.fullmatch(plain):
            return "float", float(plain)  # `08`, `09` too: not octal, so ParseFloat reads them
    return "str", text


class _LimitError(yaml.MarkedYAMLError):
    """Well-formed YAML that exceeds one of Meridian's limits (components/spec/limits.py)."""


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that reads YAML as the Pulumi CLI (go-yaml v3) does, within Meridian's limits.

    Plain scalars resolve as go-yaml v3 resolves them (`go_resolve`); duplicate keys are
    errors (PyYAML would keep the last); unquoted dates are refused (go-yaml v3 makes them Go
    times, which the CLI renders as "2025-06-30 00:00:00 +0000 UTC"). Hostile documents are refused while
    they are composed, before any value is built (components/spec/limits.py): nesting
    deeper than MAX_DEPTH, scalars longer than MAX_SCALAR_CHARS, an alias to a node that
    contains it, more than MAX_EXPANDED_NODES nodes or MAX_CONFIG_CHARS characters once
    aliases are expanded (what the program would be handed), integers beyond 64 bits and
    numbers that overflow a double.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        #: Expanded size (nodes, scalar characters; aliases counted in full) of each node composed so far, by id.
        self._sizes: dict[int, tuple[int, int]] = {}

    def _refuse(self, problem: str, mark: Any) -> None:
        raise _LimitError(None, None, f"refused: {problem}", mark)

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, refusing what exceeds the limits (see the class docstring)."""
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                # PyYAML registers an anchor before its children: this alias is inside its own anchor.
                self._refuse(f"alias *{event.anchor} refers to a node that contains it", event.start_mark)
            return super().compose_node(parent, index)  # pragma: no mutate - parent/index feed path resolvers only
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
            self._refuse(f"a value longer than {MAX_SCALAR_CHARS} characters", event.start_mark)
        collection = isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent)
        self._depth += collection
        if self._depth > MAX_DEPTH:
            self._refuse(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        try:
            node = super().compose_node(parent, index)  # pragma: no mutate - parent/index feed path resolvers only
        finally:
            self._depth -= collection
        nodes, chars = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        for child in children:
            child_nodes, child_chars = self._sizes[id(child)]
            nodes, chars = nodes + child_nodes, chars + child_chars
        if nodes > MAX_EXPANDED_NODES or chars > MAX_CONFIG_CHARS:
            self._refuse(
                f"more than {MAX_EXPANDED_NODES} values or {MAX_CONFIG_CHARS} characters once its aliases are "
                "expanded (an alias bomb?)",
                event.start_mark,
            )
        self._sizes[id(node)] = (nodes, chars)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Construct one node; a value its tag cannot read (`!!int abc`, `!!bool maybe`) is a YAML error."""
        try:
            return super().construct_object(node, deep=deep)  # pragma: no mutate - never deep (safe constructors)
        except (ValueError, TypeError, LookupError, AttributeError):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the value is not a valid {node.tag.replace('tag:yaml.org,2002:', '!!')}",
                node.start_mark,
            ) from None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """Tag a plain scalar as go-yaml v3 would (`go_resolve`); anything else as PyYAML does."""
        if kind is yaml.ScalarNode and implicit[0]:
            return f"tag:yaml.org,2002:{go_resolve(value)[0]}"
        return super().resolve(  # type: ignore[no-untyped-call]
            kind,
            value,  # pragma: no mutate - PyYAML reads value only for implicit plain scalars, tagged above
            implicit,
        )

    def _scalar(self, node: yaml.ScalarNode, *tags: str) -> Any:
        """The value of a scalar whose (possibly explicit) tag is one of `tags`; ValueError otherwise."""
        text = str(node.value)
        if len(text.lstrip("+-").replace("_", "")) > 66 and go_resolve(text)[0] == "int":
            # Longer than any 64-bit literal (0b and 64 digits): refused before int() parses it.
            self._refuse("an integer beyond 64 bits: quote it if it is meant as text", node.start_mark)
        tag, value = go_resolve(text)
        if tag not in tags:
            raise ValueError  # construct_object reports it as "the value is not a valid !!<tag>"
        return value

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer within 64 bits (the CLI reads integers as int64/uint64)."""
        value: int = self._scalar(node, "int")
        if not INT64_RANGE[0] <= value <= INT64_RANGE[1]:
            self._refuse("an integer beyond 64 bits: quote it if it is meant as text", node.start_mark)
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        """A finite number (`.inf` and overflowing literals have no place in a spec); `!!float 1` is 1.0."""
        value = float(self._scalar(node, "float", "int"))
        if not math.isfinite(value):
            self._refuse("a number that is infinite or not a number: quote it if it is meant as text", node.start_mark)
        return value

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> bool:
        """true/false in go-yaml's spellings only (`!!bool yes` is an error there too)."""
        value: bool = self._scalar(node, "bool")
        return value

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """Refused: go-yaml v3 reads it as a Go time, which reaches the program as Go's rendering of it."""
        self._scalar(node, "timestamp")
        self._refuse("a date or time: quote it (the Pulumi CLI would not pass it on as written)", node.start_mark)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:bool", _StrictLoader.construct_yaml_bool)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)
# Plain scalars are resolved by `go_resolve` (_StrictLoader.resolve), not by PyYAML's table.
_StrictLoader.yaml_implicit_resolvers = {}


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    # Duplicates are checked among the keys written in this mapping only: a key that
    # overrides one brought in by a `<<` merge is legal YAML (and go-yaml accepts it).
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:str" and key_node.value == "<<" and key_node.style is None:
            # A plain `<<` merges as a key (go-yaml v3 decode.go isMerge); as a value it is a string.
            key_node.tag = "tag:yaml.org,2002:merge"
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)  # pragma: no mutate - deep is always False here
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",  # pragma: no mutate - read_stack_file shows only problem and mark
                node.start_mark,  # pragma: no mutate - read_stack_file shows only the problem and its mark
                "found a complex mapping key",
                key_node.start_mark,
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",  # pragma: no mutate - read_stack_file shows only problem and mark
                node.start_mark,  # pragma: no mutate - read_stack_file shows only the problem and its mark
                f"found duplicate key {key!r} (first defined on line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)  # pragma: no mutate - deep is always False here


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


def _as_decoded_twice(value: Any) -> Any:
    """`value` as the program receives it after the CLI's round trip through YAML.

    The CLI decodes the stack file, re-encodes it (Go floats written shortest, `1.0` as `1`)
    and decodes it again (pulumi sdk/go/common/workspace/loaders.go LoadProjectStackBytes),
    so a float with an integral value below 1e21 arrives as an integer; keys that are not
    strings are rendered with Go's %v (config/object.go), where null is `<nil>`.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 10**21:
        return int(value)
    if isinstance(value, list):
        return [_as_decoded_twice(item) for item in value]
    if isinstance(value, dict):
        return {
            ("<nil>" if key is None else _as_decoded_twice(key)): _as_decoded_twice(item) for key, item in value.items()
        }
    return value


def _as_config_string(value: Any) -> str:
    # The CLI passes strings as they are and everything else JSON-encoded (`true`, `3`, `{...}`).
    if isinstance(value, str):
        return value
    return json.dumps(_as_decoded_twice(value))


def read_stack_file(path: Path, display: str | None = None) -> StackConfig:
    """Parse a stack file; raise StackFileError for YAML errors and shapes the CLI would reject."""
    shown = display or str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_STACK_FILE_BYTES + 1)
    except OSError as exc:
        raise StackFileError(f"{shown}: cannot read the stack file ({exc.strerror})") from None
    if len(data) > MAX_STACK_FILE_BYTES:
        raise StackFileError(f"{shown}: larger than {MAX_STACK_FILE_BYTES} bytes, the limit for a stack file")
    try:
        text = data.decode("utf-8")  # pragma: no mutate - codec names are case-insensitive
    except UnicodeDecodeError as exc:
        raise StackFileError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        # PyYAML marks every problem it raises while loading; the guard is for the type checker.
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""  # pragma: no mutate
        kind = "" if isinstance(exc, _LimitError) else "invalid YAML: "
        raise StackFileError(f"{shown}: {where}{kind}{exc.problem}") from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (NUL, most control characters): say where, in one line.
        line = text.count("\n", 0, exc.position) + 1  # pragma: no mutate - a start of None is 0
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1  # pragma: no mutate - None is 0
        raise StackFileError(
            f"{shown}: line {line}, column {column}: invalid YAML: character U+{exc.character:04X} is not allowed"
        ) from None
    except yaml.YAMLError as exc:  # a safety net: loading text raises only the two kinds above
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__  # pragma: no mutate - unreachable
        raise StackFileError(f"{shown}: invalid YAML: {first}") from None  # pragma: no mutate - unreachable
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
        # A key without a namespace is the project's (sdk/go/common/workspace/loaders.go
        # stackConfigNamespacedWithProject). The CLI then parses keys as `<namespace>:<name>`, or
        # the legacy `<namespace>:config:<name>`, which means the same key, and refuses anything
        # else (sdk/go/common/resource/config/key.go ParseKey).
        namespace, colon, name = raw_key.partition(":")
        if not colon:
            namespace, name = PROJECT, raw_key
        if not namespace or not name:
            raise StackFileError(f"{shown}: config.{raw_key}: config keys are <namespace>:<name>, e.g. {PROJECT}:name")
        if re.fullmatch(r"config:[^:]+", name):
            name = name.removeprefix("config:")
        elif ":" in name:
            raise StackFileError(
                f"{shown}: config.{raw_key}: config keys are <namespace>:<name> (or <namespace>:config:<name>)"
            )
        key = f"{namespace}:{name}"
        if key in config:
            # The CLI keeps one of the two at random (config.Map is a Go map): refuse rather than guess.
            raise StackFileError(f"{shown}: config.{raw_key}: names the same key as another entry ({key})")
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
