"""Looking resource types up in the installed provider SDKs, through the SDKs' own tables."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from pulumi import _types
from pulumi.runtime import rpc

#: Packages whose type tokens Meridian registers; importing them fills the SDK's tables.
PACKAGES = ("pulumi_aws", "pulumi_openstack", "pulumi_kubernetes", "pulumi_random", "pulumi_tls", "pulumi_command")


def load_packages() -> None:
    """Import the provider SDKs so their type tokens are registered."""
    for package in PACKAGES:
        importlib.import_module(package)


def sdk_class(token: str, version: str | None = None) -> Any:
    """The SDK class registered for a type token (and SDK version); LookupError when none is."""
    pkg, mod, name = token.split(":")
    if pkg == "pulumi" and mod == "providers":
        package = rpc.get_resource_package(name, version or "")
        if package is None:
            raise LookupError(f"no SDK package registers {token}")
        info = package.pkg_info  # type: ignore[attr-defined]
        return getattr(importlib.import_module(info["fqn"]), info["class"])
    module = rpc.get_resource_module(pkg, mod, version or "")
    if module is None and pkg == "kubernetes" and "." in mod.split("/")[0]:
        # Custom resources of any CRD group (`kubernetes:nvidia.com/v1:ClusterPolicy`) register
        # through pulumi_kubernetes' generic classes, which take the token from apiVersion and
        # kind (a `<Kind>Patch` token from CustomResourcePatch). Their contents are checked
        # against the CRD's own schema, not here.
        from pulumi_kubernetes import apiextensions

        return apiextensions.CustomResourcePatch if name.endswith("Patch") else apiextensions.CustomResource
    if module is None:
        raise LookupError(f"no SDK module registers {token}")
    info = module.mod_info  # type: ignore[attr-defined]
    return getattr(importlib.import_module(info["fqn"]), info["classes"][token])


def args_class(cls: Any) -> Any:
    """The `@input_type` Args class of a resource class.

    `Vpc` -> `VpcArgs`; pulumi_kubernetes 4.x names a resource's own Args `<Name>InitArgs`
    (its `<Name>Args` is the nested object type), so that name is tried first.
    """
    module = importlib.import_module(cls.__module__)
    args = getattr(module, f"{cls.__name__}InitArgs", None) or getattr(module, f"{cls.__name__}Args")
    if not _types.is_input_type(args):
        raise LookupError(f"{cls.__name__} has no input type")
    return args


def wire_to_python(cls: Any) -> dict[str, str]:
    """The SDK's own name table for a resource's inputs: serialized (camelCase) name -> Python keyword."""
    return {wire: py for py, wire in _types.input_type_py_to_pulumi_names(args_class(cls)).items()}


def takes_tags(token: str, version: str | None = None) -> bool:
    """Whether the SDK constructor of a type has a `tags` argument."""
    return "tags" in inspect.signature(sdk_class(token, version)._internal_init).parameters
