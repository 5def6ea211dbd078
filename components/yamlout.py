"""YAML rendering for generated documents (cloud-init, kubeconfigs, operator configs)."""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's emitter is several times faster than PyYAML's pure-Python one and emits the
# same documents; it ships in PyYAML's wheels, with the Python emitter as the fallback.
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any, *, width: int | None = None) -> str:
    """Render `data` as block YAML, keys in the order given."""
    return str(yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, width=width))
