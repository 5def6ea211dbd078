"""Read the platform spec from the stack's Pulumi config and validate it."""

from __future__ import annotations

import json
from contextvars import ContextVar

import pulumi
from pydantic import ValidationError

from ..secrets import resolve_references
from .errors import SpecError, dotted, format_problems
from .limits import MAX_CONFIG_CHARS, MAX_DEPTH, depth_of
from .platform import PlatformSpec

#: The config key holding the whole spec: `meridian:platform` in the stack file.
CONFIG_NAMESPACE = "meridian"
CONFIG_KEY = "platform"
QUALIFIED_KEY = f"{CONFIG_NAMESPACE}:{CONFIG_KEY}"

#: Where the current stack's file lives when it is not `stacks/Pulumi.<stack>.yaml`
#: (the offline engine sets it when it plans a fixture file). Errors name this file.
STACK_FILE: ContextVar[str | None] = ContextVar("meridian_stack_file", default=None)


#: Set by `meridian plan --strict`: warnings about the spec are errors. A stack makes them errors
#: for `pulumi up` too with the config key `meridian:strict: true`.
STRICT: ContextVar[bool] = ContextVar("meridian_strict", default=False)


def stack_file_name() -> str:
    """The stack file the running program's config came from (Pulumi.yaml sets stackConfigDir: stacks)."""
    return STACK_FILE.get() or f"stacks/Pulumi.{pulumi.get_stack()}.yaml"


def parse_platform(raw: object, source: str) -> PlatformSpec:
    """Validate a decoded `meridian:platform` value; raise one SpecError naming `source` and every key path."""
    try:
        return PlatformSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(source, format_problems(error, QUALIFIED_KEY)) from None


def decode_platform(text: str, source: str) -> PlatformSpec:
    """Decode and validate the JSON text the CLI hands over for `meridian:platform`.

    Hostile sizes and nesting end here as spec errors, not as a RecursionError or a long
    stall (components/spec/limits.py).
    """
    if len(text) > MAX_CONFIG_CHARS:
        raise SpecError(source, [(QUALIFIED_KEY, f"is larger than {MAX_CONFIG_CHARS} characters")])
    too_deep = SpecError(source, [(QUALIFIED_KEY, f"nests deeper than {MAX_DEPTH} levels")])
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raise SpecError(source, [(QUALIFIED_KEY, "must be a YAML mapping, not a plain string")]) from None
    except RecursionError:
        raise too_deep from None
    if depth_of(raw) > MAX_DEPTH:
        raise too_deep
    return parse_platform(raw, source)


def load_platform_spec() -> PlatformSpec:
    """Read and validate `meridian:platform` from the running stack's config."""
    source = stack_file_name()
    if pulumi.runtime.is_config_secret(QUALIFIED_KEY):
        raise SpecError(
            source,
            [(QUALIFIED_KEY, "must not hold secure values: put each secret in its own config key and refer to it")],
        )
    text = pulumi.Config(CONFIG_NAMESPACE).get(CONFIG_KEY)  # pragma: no mutate - the project is named meridian
    if text is None:
        raise SpecError(source, [(QUALIFIED_KEY, "required key is missing from the stack's config")])
    spec = decode_platform(text, source)
    problems = resolve_references(spec)
    if problems:
        raise SpecError(source, [(dotted((QUALIFIED_KEY, *path)), message) for path, message in problems])
    found = [(dotted((QUALIFIED_KEY, *path)), message) for path, message in spec_warnings(spec)]
    strict = STRICT.get() or pulumi.Config(CONFIG_NAMESPACE).get_bool("strict")  # pragma: no mutate - the project
    if found and strict:
        raise SpecError(source, [(key, f"{message} (an error in strict mode)") for key, message in found])
    for key, message in found:
        # `pulumi up` and `meridian plan` show it; nothing is registered yet, so it comes first.
        pulumi.log.warn(f"{source}: {key}: {message}")
    return spec


def spec_warnings(spec: PlatformSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """What is valid but almost certainly not meant (key path, message): GitOps repos or deliveries reaching nothing."""
    from .gitops import warnings

    return warnings(spec)
