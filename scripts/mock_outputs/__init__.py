"""Mock outputs by area; each module defines RESOURCES, CALLS and AWS_IDS (see scripts.mocks)."""

from types import ModuleType


def modules() -> list[ModuleType]:
    """The area modules, imported on first use (they import scripts.mocks for its types)."""
    from . import command, dns, eks, kubernetes, magnum, rke2, storage, vault

    return [rke2, eks, magnum, kubernetes, command, dns, storage, vault]
