"""Validate custom resources against their CRD's openAPIV3Schema the way the API server does, strictly.

The API server prunes fields a structural schema does not declare (unless
x-kubernetes-preserve-unknown-fields), so a misspelled field is silently dropped; the
strict form here refuses them instead, as `kubectl apply --validate=strict` does. For
patches (server-side apply of a few fields), `partial` drops `required`: the other fields
live in the object being patched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

#: Keywords whose values are schemas, or lists or maps of schemas; every other keyword's value
#: (`enum`, `default`, `example`, `required`, ...) is data and is copied as it is.
_SCHEMA_KEYWORDS = frozenset({"items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"})


def strict(schema: Any, *, partial: bool = False) -> Any:
    """A copy of an openAPIV3Schema that refuses undeclared fields (and ignores `required` when `partial`)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if partial and key == "required":
            continue
        if key == "properties" and isinstance(value, dict):
            # Field names, not keywords: a field may be called `required` or `default`.
            out[key] = {name: strict(field, partial=partial) for name, field in value.items()}
        elif key == "pattern" and isinstance(value, str):
            out[key] = python_pattern(value)
        elif key in _SCHEMA_KEYWORDS:
            out[key] = (
                [strict(item, partial=partial) for item in value]
                if isinstance(value, list)
                else strict(value, partial=partial)
            )
        else:
            out[key] = value
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


#: A Go (RE2) inline flag group, which RE2 takes anywhere and Python only at the start.
_INLINE_FLAGS = re.compile(r"\(\?[ims]+\)")


def python_pattern(pattern: str) -> str:
    """A CRD's (Go RE2) pattern as Python's `re` reads it: inline flags moved to the front.

    The Prometheus Operator's PrometheusRule CRD has `^(?i)(abort|warn)?$`
    (partial_response_strategy), which RE2 accepts and Python refuses; `(?i)^(abort|warn)?$`
    matches the same strings. Patterns without a flag group come back unchanged.
    """
    flags = "".join(sorted({flag for group in _INLINE_FLAGS.findall(pattern) for flag in group[2:-1]}))
    return f"(?{flags}){_INLINE_FLAGS.sub('', pattern)}" if flags else pattern


def crd_schema(path: Path, version: str, *, partial: bool = False) -> dict[str, Any]:
    """The strict schema of `version` of the CRD in the YAML file `path`."""
    return schema_of(yaml.safe_load(path.read_text(encoding="utf-8")), version, partial=partial)


def schema_of(crd: dict[str, Any], version: str, *, partial: bool = False) -> dict[str, Any]:
    """The strict schema of `version` of a CustomResourceDefinition document."""
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = strict(served["schema"]["openAPIV3Schema"], partial=partial)
    # metadata is validated by the API server itself, not by the CRD's schema (which may still
    # list it as required: Traefik's do).
    schema.get("properties", {}).pop("metadata", None)
    if "metadata" in schema.get("required", []):
        schema["required"] = [name for name in schema["required"] if name != "metadata"]
    return schema


def crd_key(crd: dict[str, Any]) -> list[tuple[str, str]]:
    """(apiVersion, kind) of every version a CRD serves: `("nvidia.com/v1", "ClusterPolicy")`."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    return [(f"{group}/{v['name']}", kind) for v in crd["spec"]["versions"] if v.get("served", True)]


def validate(document: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `document` (without its metadata) breaks `schema`."""
    body = {key: value for key, value in document.items() if key != "metadata"}
    # The schema's own validity against the metaschema is not checked each time (jsonschema.validate
    # does, and on a CRD's schema that costs more than the validation): CRDs are upstream's.
    jsonschema.validators.validator_for(schema)(schema).validate(body)
