"""The benchmark's floor: the platform's own resources, registered bare.

Each resource of the platform's plan is registered again with the same SDK class (so
the SDK does the same per-property work), the same name and the same inputs, flat at the
top of the stack: no Meridian components around them, no spec, no Output plumbing
between resources. Components become childless ComponentResources, so the count
matches. What the platform costs above this is what Meridian itself adds.

The floor runs through the same entry point as `__main__.py` (`components.program.run`:
collector thresholds, registrations started before the SDK's shutdown wait). That entry
changes the SDK's own cost several times over; a floor without it would make the ratio
measure the entry rather than the components.
"""

import json
from typing import Any

import pulumi

from components.program import run
from scripts.bench import floor_plan
from scripts.paths import path_segments
from scripts.sdk import load_packages, sdk_class, wire_to_python


def provider_input(value: Any) -> Any:
    """A provider's input from its wire form: the SDK sends non-string provider inputs JSON-encoded."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return value if isinstance(decoded, str) else decoded
    return value


def register_bare() -> None:
    """Register every resource of the plan named by config `bench:plan`, bare."""
    load_packages()
    for resource in floor_plan(pulumi.Config("bench").require("plan")).resources:
        if resource["type"] == "pulumi:pulumi:Stack":
            continue
        if not resource["custom"]:
            pulumi.ComponentResource(resource["type"], resource["name"])
            continue
        cls = sdk_class(resource["type"], resource["version"] or "")
        names = wire_to_python(cls)
        inputs = resource["inputs"]
        if resource["type"].startswith("pulumi:providers:"):
            # A string that reads as JSON goes back as that value: the wire form is the same.
            inputs = {key: provider_input(value) for key, value in inputs.items()}
        for path in resource["secret_paths"]:
            inputs = with_secret(inputs, path_segments(path))
        kwargs = {names.get(key, key): value for key, value in inputs.items() if key in names}
        cls(resource["name"], **kwargs)


def with_secret(value: Any, segments: list[str]) -> Any:
    """`value` with the item at `segments` (a property path, split) wrapped as a secret, as the platform sent it."""
    if not segments:
        return pulumi.Output.secret(value)
    head, rest = segments[0], segments[1:]
    if isinstance(value, dict) and head in value:
        return {**value, head: with_secret(value[head], rest)}
    if isinstance(value, list) and head.isdigit() and int(head) < len(value):
        index = int(head)
        return [*value[:index], with_secret(value[index], rest), *value[index + 1 :]]
    return value


run(register_bare)
