"""Validate Kubernetes objects against schemas nobody here wrote.

* Built-in kinds: `kubernetes-validate --strict` at the cluster's Kubernetes version (the
  upstream OpenAPI schemas; unknown fields are errors).
* Custom resources: their CRD's `openAPIV3Schema`, strictly (`scripts/crdschema.py`), from
  the CRDs rendered beside them (a chart's `crds/`), the locked charts' `crds/`, or the
  locked CRD files of the mirror (`components/charts.lock.yaml`).

Each distinct object is validated once per Kubernetes version (objects repeat across
clusters and stacks), so validating every bundled stack costs what its distinct objects cost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from components.charts import chart_lock

from .crdschema import crd_key, schema_of
from .upstream import chart_dir, crd_file


@dataclass(frozen=True)
class Problem:
    """One object that does not validate."""

    where: str
    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.name}: {self.message}"


#: (apiVersion, kind) -> CRD document, from the locked charts and CRD files; filled on first use.
_KNOWN_CRDS: dict[tuple[str, str], dict[str, Any]] = {}
#: Objects already found valid: (kube version, partial, canonical JSON digest).
_VALID: set[tuple[str, bool, str]] = set()


def locked_crds() -> dict[tuple[str, str], dict[str, Any]]:
    """Every CRD the locked charts ship in `crds/` (subcharts included) and every locked CRD file."""
    if not _KNOWN_CRDS:
        paths = [path for name in chart_lock().charts for path in sorted(chart_dir(name).rglob("crds/**/*.y*ml"))]
        paths += [crd_file(path) for path in chart_lock().crds]
        for path in paths:
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                    for key in crd_key(document):
                        _KNOWN_CRDS[key] = document
    return _KNOWN_CRDS


def _minor(kube_version: str) -> str:
    """`v1.33.13` -> `1.33.0`: kubernetes-validate's schemas are per minor release."""
    major, minor = kube_version.lstrip("v").split(".")[:2]
    return f"{major}.{minor}.0"


def validate_objects(
    objects: Iterable[dict[str, Any]], kube_version: str, where: str, *, partial: bool = False
) -> list[Problem]:
    """Problems of every object (empty when all validate); CRDs among `objects` serve the others."""
    documents = list(objects)
    crds = dict(locked_crds())
    for document in documents:
        if document.get("kind") == "CustomResourceDefinition":
            for key in crd_key(document):
                crds[key] = document
    version = _minor(kube_version)
    problems = []
    for document in documents:
        digest = hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()
        if (version, partial, digest) in _VALID:
            continue
        kind = f"{document.get('apiVersion')}/{document.get('kind')}"
        name = str((document.get("metadata") or {}).get("name", "?"))
        message = _check(document, version, crds, partial)
        if message is None:
            _VALID.add((version, partial, digest))
        else:
            problems.append(Problem(where, kind, name, message))
    return problems


def _check(document: dict[str, Any], version: str, crds: dict[tuple[str, str], Any], partial: bool) -> str | None:
    key = (str(document.get("apiVersion")), str(document.get("kind")))
    crd = crds.get(key)
    if crd is None:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return f"no schema: not a Kubernetes {version} kind and no locked CRD serves it"
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path) or "(top)"
            return f"{path}: {error.message}"
        return None
    try:
        schema = schema_of(crd, key[0].rsplit("/", 1)[-1], partial=partial)
        body = {k: v for k, v in document.items() if k != "metadata"}
        jsonschema.validate(body, schema)
    except jsonschema.ValidationError as error:
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        return f"{path}: {error.message}"
    return None
