"""The benchmark's floor: the platform's own resources, registered bare.

Each resource of the platform's plan is registered again with the same SDK class (so
the SDK does the same per-property work), the same name and the same inputs, flat at the
top of the stack: no Meridian components around them, no spec, no Output plumbing
between resources. Components become childless ComponentResources, so the count
matches. What the platform costs above this is what Meridian itself adds.
"""

import importlib
import json
from pathlib import Path
from typing import Any

import pulumi
from pulumi import _types
from pulumi.runtime import rpc


def sdk_class(token: str, version: str) -> Any:
    """The SDK class registered for a type token (the SDK's own token tables)."""
    pkg, mod, name = token.split(":")
    if pkg == "pulumi" and mod == "providers":
        info = rpc.get_resource_package(name, version).pkg_info  # type: ignore[union-attr]
        return getattr(importlib.import_module(info["fqn"]), info["class"])
    info = rpc.get_resource_module(pkg, mod, version).mod_info  # type: ignore[union-attr]
    return getattr(importlib.import_module(info["fqn"]), info["classes"][token])


def python_names(cls: Any) -> dict[str, str]:
    """Serialized (camelCase) input name -> the constructor's keyword."""
    module = importlib.import_module(cls.__module__)
    args = getattr(module, f"{cls.__name__}InitArgs", None) or getattr(module, f"{cls.__name__}Args")
    return {wire: py for py, wire in _types.input_type_py_to_pulumi_names(args).items()}


for package in ("pulumi_aws", "pulumi_openstack", "pulumi_kubernetes", "pulumi_random", "pulumi_tls"):
    importlib.import_module(package)  # registers the packages' type tokens

plan = json.loads(Path(pulumi.Config("bench").require("plan")).read_text(encoding="utf-8"))
for resource in plan["resources"]:
    if resource["type"] == "pulumi:pulumi:Stack":
        continue
    if not resource["custom"]:
        pulumi.ComponentResource(resource["type"], resource["name"])
        continue
    cls = sdk_class(resource["type"], resource["version"] or "")
    names = python_names(cls)
    secret_keys = {path.split(".")[0].split("[")[0] for path in resource["secret_paths"]}
    kwargs = {
        names.get(key, key): pulumi.Output.secret(value) if key in secret_keys else value
        for key, value in resource["inputs"].items()
        if key in names
    }
    cls(resource["name"], **kwargs)
