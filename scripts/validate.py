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
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from components.charts import chart_lock
from components.workloads import POD_SPEC_PATHS

from .crdschema import crd_key, schema_of
from .upstream import chart_crd_files, crd_file


@dataclass(frozen=True)
class Problem:
    """One object that does not validate."""

    where: str
    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.name}: {self.message}"


#: Kinds the API schemas list under every group that are not resources discovery serves.
NOT_RESOURCES = frozenset({"DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIVersions", "APIResourceList"})
#: (apiVersion, kind) -> the locked CRD serving it (None: none does), filled as kinds are looked up.
_KNOWN_CRDS: dict[tuple[str, str], dict[str, Any] | None] = {}
#: Objects already found valid: (kube version, partial, canonical JSON digest, id of the serving CRD).
_VALID: set[tuple[str, bool, str, int]] = set()


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's SafeLoader where PyYAML has it (the PyPI wheels do), ten times faster than SafeLoader.

    The same YAML 1.1 reading as yaml.SafeLoader, on the megabytes of CRDs and rendered charts.
    YAML 1.1's `=` "value" type (an unquoted `=`, as in the Prometheus Operator's CRDs, whose
    relabel `action` enum lists it) is read as the string `=`, as Kubernetes' YAML 1.2 reader does;
    PyYAML resolves it to a tag it has no constructor for.
    """


_FastLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
_FAST_LOADER: Any = _FastLoader


#: Parsed CustomResourceDefinition documents by the digest of their text: the same CRDs come with
#: every release of a chart (kube-prometheus-stack's 4.6 MB on each observed cluster), read once per
#: process. Shared, so read-only: callers that change a rendered object copy it first (render.as_resources).
_CRD_DOCUMENTS: dict[bytes, list[Any]] = {}
_CRD_KIND = "\nkind: CustomResourceDefinition\n"
#: A document separator of `helm template` output and CRD files: `---` alone on its line (inside a
#: block scalar the line would be indented).
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
#: Comment and blank lines at the head of a document.
_HEAD = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?(?:\n|\Z))*")


def load_documents(text: str) -> list[Any]:
    """Every YAML document of trusted upstream text (CRDs, `helm template` output), as the safe loader reads it.

    CRD documents are parsed once per process (`_CRD_DOCUMENTS`) and returned shared: do not modify them.
    """
    if _CRD_KIND not in text:
        return list(yaml.load_all(text, Loader=_FAST_LOADER))
    documents: list[Any] = []
    for chunk in _SEPARATOR.split(text):
        if _CRD_KIND in f"\n{chunk}":
            # The same CRD from its file and from `helm template --include-crds`, which heads it with
            # a `# Source:` comment and ends it with one newline more or less: comments and blank
            # lines around a CRD change nothing (none ends in a block scalar that keeps them).
            body = _HEAD.sub("", chunk).rstrip() + "\n"
            key = hashlib.sha256(body.encode()).digest()
            if key not in _CRD_DOCUMENTS:
                _CRD_DOCUMENTS[key] = list(yaml.load_all(body, Loader=_FAST_LOADER))
            documents.extend(_CRD_DOCUMENTS[key])
        else:
            documents.extend(yaml.load_all(chunk, Loader=_FAST_LOADER))
    return documents


def locked_crd(key: tuple[str, str]) -> dict[str, Any] | None:
    """The CRD the locked charts (`crds/`, subcharts included) or locked CRD files serve `key` with.

    Looked up lazily: parsing all of them (15 MB of YAML) costs seconds per process, and a stack
    needs a few. Only the CRD documents whose text holds the kind as a `kind:` value and the group
    as a `group:` value are parsed (a CRD spells both so, in `names` and `spec`); when several
    serve it, the last in file order does, as if all were read in turn.
    """
    if key not in _KNOWN_CRDS:
        api_version, kind = key
        group = api_version.rpartition("/")[0]
        found = None
        spelled = re.compile(rf"""^[ \t]*group:[ \t]*["']?{re.escape(group)}["']?[ \t]*$""", re.MULTILINE)
        for chunk in _crd_chunks().get(kind, []) if group else []:
            if not spelled.search(chunk):
                continue
            for document in load_documents(chunk):
                if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                    found = document if key in crd_key(document) else found
        _KNOWN_CRDS[key] = found
    return _KNOWN_CRDS[key]


#: A `kind:` value (a CRD's `names.kind`, quoted or not): which CRD documents can serve a kind.
_KIND_VALUE = re.compile(r"""^[ \t]*kind:[ \t]*["']?([A-Za-z0-9]+)["']?[ \t]*$""", re.MULTILINE)


@cache
def _crd_chunks() -> dict[str, list[str]]:
    """Every CRD document's text of the locked charts and CRD files (in file order), by each `kind:` value in it."""
    verified = [name for name, chart in chart_lock().charts.items() if chart.digest is not None]
    paths = [path for name in verified for path in chart_crd_files(name)]
    paths += [crd_file(path) for path in chart_lock().crds]
    chunks: dict[str, list[str]] = {}
    for path in paths:
        for chunk in _SEPARATOR.split(path.read_text(encoding="utf-8")):
            if _CRD_KIND in f"\n{chunk}":
                for kind in dict.fromkeys(_KIND_VALUE.findall(chunk)):
                    chunks.setdefault(kind, []).append(chunk)
    return chunks


@cache
def builtin_api_versions(kube_version: str) -> frozenset[str]:
    """`group/version/Kind` of every GA built-in kind of `kube_version`, from kubernetes-validate's schemas.

    A real `helm install` learns these from the cluster's discovery; `helm template` knows only
    group/version strings (Helm pkg/chartutil/capabilities.go `allKnownVersions`), so a chart
    testing `.Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget"` would render its
    fallback. Only GA versions (v1, v2) count: beta APIs are off by default on a real cluster.
    """
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{_minor(kube_version)}-local"
    definitions = json.loads((root / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
    found = set()
    for definition in definitions.values():
        for gvk in definition.get("x-kubernetes-group-version-kind", []) if isinstance(definition, dict) else []:
            kind, version = str(gvk["kind"]), str(gvk["version"])
            if re.fullmatch(r"v[0-9]+", version) and not kind.endswith("List") and kind not in NOT_RESOURCES:
                found.add(f"{gvk['group']}/{version}/{kind}".lstrip("/"))
    return frozenset(found)


def _minor(kube_version: str) -> str:
    """`v1.33.13` -> `1.33.0`: kubernetes-validate's schemas are per minor release."""
    major, minor = kube_version.lstrip("v").split(".")[:2]
    return f"{major}.{minor}.0"


def validate_objects(
    objects: Iterable[dict[str, Any]],
    kube_version: str,
    where: str,
    *,
    partial: bool = False,
    crds: Iterable[dict[str, Any]] = (),
) -> list[Problem]:
    """Problems of every object (empty when all validate).

    CRDs among `objects`, and the CRDs given (those the cluster's releases install), serve the
    others before the locked ones.
    """
    documents = list(objects)
    served: dict[tuple[str, str], dict[str, Any]] = {}
    for document in [*crds, *documents]:
        if document.get("kind") == "CustomResourceDefinition":
            for key in crd_key(document):
                served[key] = document
    for document in documents:
        key = (str(document.get("apiVersion")), str(document.get("kind")))
        crd = served.get(key) or locked_crd(key)
        if crd is not None:
            served[key] = crd
    version = _minor(kube_version)
    problems = []
    for document in documents:
        digest = hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()
        # Valid against which schema: the CRD serving it (by identity) or the built-in one.
        schema = id(served.get((str(document.get("apiVersion")), str(document.get("kind")))))
        if (version, partial, digest, schema) in _VALID:
            continue
        kind = f"{document.get('apiVersion')}/{document.get('kind')}"
        name = str((document.get("metadata") or {}).get("name", "?"))
        message = _check(document, version, served, partial)
        if message is None:
            _VALID.add((version, partial, digest, schema))
        else:
            problems.append(Problem(where, kind, name, message))
    return problems


@cache
def _builtin_validator(kind: str, api_version: str, version: str) -> Any:
    """kubernetes-validate's strict schema of a built-in kind at `version`, compiled once (None: no such kind).

    The same schema files, version choice and reference registry as `kubernetes_validate.validate`
    (kubernetes_validate/utils.py), which reads and compiles them again on every call: the
    definitions file alone is megabytes of JSON, read once per object.
    """
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    wanted = utils.major_minor(version)
    if wanted > utils.latest_version():
        raise kubernetes_validate.VersionNotSupportedError(version=wanted)
    resolved = [v for v in utils.all_versions() if utils.major_minor(v) <= wanted][-1]
    directory = f"kubernetes-json-schema/v{resolved}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"{directory}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        return None
    definitions = _definitions(directory, version)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@cache
def _definitions(directory: str, version: str) -> Any:
    from kubernetes_validate import utils

    return utils.schema_contents(f"{directory}/_definitions.json", version)


#: Compiled validators of CRD schemas, by (CRD digest, version, partial), and each CRD document's digest.
_CRD_VALIDATORS: dict[tuple[str, str, bool], Any] = {}
_CRD_DIGESTS: dict[int, tuple[dict[str, Any], str]] = {}


def _crd_validator(crd: dict[str, Any], version: str, partial: bool) -> Any:
    """The strict schema of a CRD's version, compiled once per distinct CRD (releases render the same CRDs)."""
    entry = _CRD_DIGESTS.get(id(crd))
    if entry is None or entry[0] is not crd:
        entry = (crd, hashlib.sha256(json.dumps(crd, sort_keys=True, default=str).encode()).hexdigest())
        _CRD_DIGESTS[id(crd)] = entry
    key = (entry[1], version, partial)
    if key not in _CRD_VALIDATORS:
        schema = schema_of(crd, version, partial=partial)
        _CRD_VALIDATORS[key] = jsonschema.validators.validator_for(schema)(schema)
    return _CRD_VALIDATORS[key]


def _check(document: dict[str, Any], version: str, crds: dict[tuple[str, str], Any], partial: bool) -> str | None:
    key = (str(document.get("apiVersion")), str(document.get("kind")))
    crd = crds.get(key)
    if crd is None:
        validator = _builtin_validator(key[1], key[0], version)
        if validator is None:
            return f"no schema: not a Kubernetes {version} kind and no locked CRD serves it"
        try:
            validator.validate(document)
        except jsonschema.ValidationError as error:
            path = ".".join(str(p) for p in error.path) or "(top)"
            return f"{path}: {error.message}"
        return port_clash(document) or pod_references(document) or value_rules(document) or enum_values(document)
    unknown = sorted(set(document.get("metadata") or {}) - _OBJECT_META)
    if unknown:
        # A CRD's schema leaves metadata to the API server, which drops what ObjectMeta lacks: a
        # misspelt `namespace` puts the object in the provider's default namespace.
        return f"metadata: {', '.join(unknown)}: not a field of ObjectMeta"
    try:
        body = {k: v for k, v in document.items() if k != "metadata"}
        _crd_validator(crd, key[0].rsplit("/", 1)[-1], partial).validate(body)
    except jsonschema.ValidationError as error:
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        return f"{path}: {error.message}"
    return None


#: ObjectMeta's fields (k8s.io/apimachinery pkg/apis/meta/v1 types.go), for custom resources.
_OBJECT_META = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields",
})  # fmt: skip
#: Where each workload kind keeps its pod spec (components/workloads.py, shared with the policy pack).
_POD_SPEC_PATHS = {kind: path for (_, kind), path in POD_SPEC_PATHS.items()}


def _pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    """A workload's pod spec (`_POD_SPEC_PATHS`), None for other kinds."""
    spec: Any = document
    for field in _POD_SPEC_PATHS.get(str(document.get("kind")), ()):
        spec = spec.get(field) if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or document.get("kind") not in _POD_SPEC_PATHS:
        return None
    return spec


#: Workloads whose selector must select their own pod template (apps/v1 validation).
_SELECTING = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})


def pod_references(document: dict[str, Any]) -> str | None:
    """What a pod spec names inside itself, which the schema cannot check and the cluster refuses.

    * A volume mount names a volume of the pod (or a StatefulSet's claim template), volume and
      container names are unique
      (k8s.io/kubernetes pkg/apis/core/validation: ValidateVolumes' duplicates, the volume
      mounts' "not found"; the API's own doc of `VolumeMount.name`: it must match a volume).
    * A Deployment, StatefulSet, DaemonSet or ReplicaSet selects its own template's labels
      (pkg/apis/apps/validation: "`selector` does not match template `labels`").
    * A probe's named port is a port name of its container: the kubelet resolves it there and
      the probe fails without it (pkg/probe/util.go ResolveContainerPort), so the pod is never
      ready (readiness) or is restarted for ever (liveness, startup).
    """
    spec = _pod_spec(document)
    if spec is None:
        return None
    volumes = [str(volume.get("name")) for volume in spec.get("volumes") or []]
    if len(set(volumes)) != len(volumes):
        return f"volumes: a name used twice ({sorted(v for v in set(volumes) if volumes.count(v) > 1)})"
    if document.get("kind") == "StatefulSet":
        # Its claims' volumes, which the StatefulSet controller sets in each pod (a pod volume of
        # the same name gives way: pkg/controller/statefulset/stateful_set_utils.go updateStorage).
        claims = (document.get("spec") or {}).get("volumeClaimTemplates") or []
        volumes += [str((claim.get("metadata") or {}).get("name")) for claim in claims]
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    names = [str(container.get("name")) for container in containers]
    if len(set(names)) != len(names):
        return f"containers: a name used twice ({sorted(n for n in set(names) if names.count(n) > 1)})"
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                return f"containers: {container.get('name')} mounts {mount.get('name')!r}, not a volume of the pod"
        ports = {str(port.get("name")) for port in container.get("ports") or [] if port.get("name")}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            handler = container.get(probe) or {}
            for action in ("httpGet", "tcpSocket"):
                port = (handler.get(action) or {}).get("port")
                if isinstance(port, str) and port not in ports:
                    return f"containers: {container.get('name')} {probe} port {port!r} is none of its ports"
    if document.get("kind") in _SELECTING:
        selector = (document.get("spec") or {}).get("selector") or {}
        template = ((document.get("spec") or {}).get("template") or {}).get("metadata") or {}
        if not selects(selector, template.get("labels") or {}):
            return "spec.selector does not select spec.template.metadata.labels: the API server refuses it"
    return None


#: apimachinery pkg/util/validation IsValidPortName (an IANA service name): 1 to 15 of a-z, 0-9
#: and single inner hyphens, with at least one letter.
_PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")
#: apimachinery pkg/util/validation IsDNS1123Label: at most 63 of a-z, 0-9 and inner hyphens.
_DNS_LABEL = re.compile(r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: apimachinery pkg/api/resource quantity.go (ParseQuantity): a decimal number, then a binary
#: (Ki..Ei) or decimal (n, u, m, k, M..E) suffix or a decimal exponent.
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


_SCALE: dict[str, int | Decimal] = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_SCALE |= {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1, "k": 10**3}
_SCALE |= {"M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def quantity_value(quantity: str | float) -> Decimal:
    """A quantity's value (`_QUANTITY`'s grammar), exactly: `500m` is 0.5, `1Gi` 1073741824."""
    text = str(quantity)
    found = _QUANTITY.match(text)
    if found is None:
        raise ValueError(f"not a quantity: {text!r}")
    suffix = found.group(3) or ""
    number = Decimal(text[: len(text) - len(suffix)])
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SCALE[suffix]


#: Values the Kubernetes API enumerates (k8s.io/api `+enum` types, enforced by the API server's
#: validation) and its OpenAPI schemas, so kubernetes-validate, do not: by the field's key, or by
#: its parent's key and its own (list positions left out).
_ENUMS: dict[tuple[str, ...], frozenset[str]] = {
    ("imagePullPolicy",): frozenset({"Always", "Never", "IfNotPresent"}),
    ("protocol",): frozenset({"TCP", "UDP", "SCTP"}),
    ("dnsPolicy",): frozenset({"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"}),
    ("terminationMessagePolicy",): frozenset({"File", "FallbackToLogsOnError"}),
    ("whenUnsatisfiable",): frozenset({"DoNotSchedule", "ScheduleAnyway"}),
    ("pathType",): frozenset({"Exact", "Prefix", "ImplementationSpecific"}),
    ("externalTrafficPolicy",): frozenset({"Cluster", "Local"}),
    ("internalTrafficPolicy",): frozenset({"Cluster", "Local"}),
    ("concurrencyPolicy",): frozenset({"Allow", "Forbid", "Replace"}),
    ("podManagementPolicy",): frozenset({"OrderedReady", "Parallel"}),
    ("policyTypes",): frozenset({"Ingress", "Egress"}),
    ("httpGet", "scheme"): frozenset({"HTTP", "HTTPS"}),
    ("seccompProfile", "type"): frozenset({"Unconfined", "RuntimeDefault", "Localhost"}),
    ("strategy", "type"): frozenset({"Recreate", "RollingUpdate"}),
    ("updateStrategy", "type"): frozenset({"RollingUpdate", "OnDelete"}),
    # Empty: Equal, and every effect (pkg/apis/core/validation ValidateTolerations).
    ("tolerations", "operator"): frozenset({"Exists", "Equal", ""}),
    ("tolerations", "effect"): frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute", ""}),
    # A pod's (narrower for workloads: `enum_values`); a container's own (a sidecar's) is Always only.
    ("spec", "restartPolicy"): frozenset({"Always", "OnFailure", "Never"}),
    ("initContainers", "restartPolicy"): frozenset({"Always"}),
}
_JOB_RESTART = frozenset({"OnFailure", "Never"})
_ENUM_KINDS = frozenset({*_POD_SPEC_PATHS, "Service", "Ingress", "NetworkPolicy"})


def enum_values(document: dict[str, Any]) -> str | None:
    """The first enumerated field whose value is not one the API takes (`_ENUMS`).

    Of workloads, Services, Ingresses and NetworkPolicies (a CustomResourceDefinition's schema
    has such keys with other meanings).
    """
    if document.get("kind") not in _ENUM_KINDS:
        return None
    job = document.get("kind") in ("Job", "CronJob")
    # A Deployment's, StatefulSet's, DaemonSet's or ReplicaSet's pods restart Always only
    # (pkg/apis/apps/validation ValidatePodTemplateSpecForReplicaSet, ValidateDaemonSetSpec,
    # ValidateStatefulSetSpec: "Unsupported value"); a Job's OnFailure or Never
    # (pkg/apis/batch/validation).
    restart = _JOB_RESTART if job else frozenset({"Always"}) if document.get("kind") in _SELECTING else None

    def walk(value: Any, keys: tuple[str, ...]) -> str | None:
        if isinstance(value, dict):
            for key, item in value.items():
                found = walk(item, (*keys, str(key)))
                if found:
                    return found
            return None
        if isinstance(value, list):
            for item in value:
                found = walk(item, keys)
                if found:
                    return found
            return None
        allowed = _ENUMS.get(keys[-2:]) or _ENUMS.get(keys[-1:]) if keys else None
        if keys[-2:] == ("spec", "restartPolicy") and restart is not None:
            allowed = restart
        if allowed is not None and isinstance(value, str) and value not in allowed:
            return f"{'.'.join(keys)}: {value!r} is none of {', '.join(v or repr(v) for v in sorted(allowed))}"
        return None

    if document.get("kind") == "Service":
        kind = ((document.get("spec") or {}).get("type")) or "ClusterIP"
        if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            return f"spec.type: {kind!r} is none of ClusterIP, ExternalName, LoadBalancer, NodePort"
    return walk({k: v for k, v in document.items() if k != "metadata"}, ())


def resources_problem(resources: Mapping[str, Any]) -> str | None:
    """What the API server refuses in a container's `resources` (also Helm values' `resources` blocks).

    Requests or limits that are not quantities (`_QUANTITY`), or a request above its limit
    (pkg/apis/core/validation ValidateResourceRequirements: "must be less than or equal to ... limit").
    """
    for bound in ("requests", "limits"):
        for resource, quantity in (resources.get(bound) or {}).items():
            if (
                isinstance(quantity, bool)
                or not isinstance(quantity, str | int | float)
                or not _QUANTITY.match(str(quantity))
            ):
                return f"{bound}.{resource}: {quantity!r} is not a quantity"
    limits = resources.get("limits") or {}
    for resource, request in (resources.get("requests") or {}).items():
        if resource in limits and quantity_value(request) > quantity_value(limits[resource]):
            return f"requests.{resource} {request!r} is above its limit {limits[resource]!r}"
    return None


def value_rules(document: dict[str, Any]) -> str | None:
    """Values the schema types as plain strings and the API server parses (it refuses the object).

    * A named port is an IANA service name (`_PORT_NAME`): a container port's name, a probe's
      port, a Service's `targetPort`, a NetworkPolicy's port (pkg/apis/core/validation
      ValidatePortNumOrName; pkg/apis/networking/validation).
    * A container's requests and limits are quantities (`_QUANTITY`), no request above its limit;
      an emptyDir's size limit is one too.
    * An Ingress path is absolute (pkg/apis/networking/validation validateHTTPIngressPath).
    * A Namespace's Pod Security labels name a level and a version.
    * A binding binds a role of a kind it may, to subjects of a known kind.
    """
    named: list[tuple[str, Any]] = []
    spec = _pod_spec(document)
    pod = spec or {}
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        where = f"containers: {container.get('name')}"
        named += [(f"{where} port", port.get("name")) for port in container.get("ports") or [] if "name" in port]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            for action in ("httpGet", "tcpSocket"):
                named.append((f"{where} {probe}", ((container.get(probe) or {}).get(action) or {}).get("port")))
        problem = resources_problem(container.get("resources") or {})
        if problem is not None:
            return f"{where} {problem}"
    for volume in pod.get("volumes") or []:
        size = (volume.get("emptyDir") or {}).get("sizeLimit")
        if isinstance(size, str) and not _QUANTITY.match(size):
            return f"volumes: {volume.get('name')} emptyDir.sizeLimit: {size!r} is not a quantity"
    body = document.get("spec") or {}
    kind = document.get("kind")
    if kind == "Service":
        ports = body.get("ports") or []
        named += [("spec.ports targetPort", port.get("targetPort")) for port in ports]
        # pkg/apis/core/validation ValidateService: with more than one port each has a name, a
        # DNS label, unique; no port number twice for one protocol.
        names = [port.get("name") for port in ports]
        for name in names:
            if (len(ports) > 1 or name) and not _DNS_LABEL.match(str(name or "")):
                return f"spec.ports name {name!r}: not a DNS label (required with more than one port)"
        if len(set(names)) != len(names):
            return f"spec.ports: a name used twice ({sorted(str(n) for n in set(names) if names.count(n) > 1)})"
        bound = [(port.get("port"), port.get("protocol", "TCP")) for port in ports]
        if len(set(bound)) != len(bound):
            return "spec.ports: a port number twice for one protocol"
    if kind == "NetworkPolicy":
        for direction in ("ingress", "egress"):
            for rule in body.get(direction) or []:
                named += [(f"spec.{direction} port", port.get("port")) for port in rule.get("ports") or []]
    for where, port in named:
        if isinstance(port, str) and not _PORT_NAME.match(port):
            return f"{where} {port!r}: not a port name (1 to 15 of a-z, 0-9 and inner hyphens, a letter)"
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        # pkg/apis/rbac/validation: a ClusterRoleBinding binds a ClusterRole, a RoleBinding either;
        # subjects are ServiceAccounts (with their namespace), Users or Groups.
        ref = document.get("roleRef") or {}
        kinds = ("ClusterRole",) if kind == "ClusterRoleBinding" else ("Role", "ClusterRole")
        if ref.get("apiGroup") != "rbac.authorization.k8s.io" or ref.get("kind") not in kinds:
            wanted = " or ".join(kinds)
            return f"roleRef: {ref.get('apiGroup')}/{ref.get('kind')} is not rbac.authorization.k8s.io/{wanted}"
        for subject in document.get("subjects") or []:
            if subject.get("kind") not in ("ServiceAccount", "User", "Group"):
                return f"subjects: kind {subject.get('kind')!r} is none of Group, ServiceAccount, User"
            if (
                subject.get("kind") == "ServiceAccount"
                and kind == "ClusterRoleBinding"
                and not subject.get("namespace")
            ):
                return f"subjects: ServiceAccount {subject.get('name')!r} without its namespace"
    if kind == "Namespace":
        # Pod Security Admission refuses a namespace whose level labels it cannot parse
        # (k8s.io/pod-security-admission api/helpers.go ParseLevel, ParseVersion).
        for key, value in ((document.get("metadata") or {}).get("labels") or {}).items():
            mode = key.removeprefix("pod-security.kubernetes.io/")
            if mode in ("enforce", "audit", "warn") and value not in ("privileged", "baseline", "restricted"):
                return f"metadata.labels {key}: {value!r} is none of privileged, baseline, restricted"
            if mode in ("enforce-version", "audit-version", "warn-version") and not re.match(
                r"^(latest|v1\.(0|[1-9][0-9]*))$", str(value)
            ):
                return f"metadata.labels {key}: {value!r} is neither latest nor v1.<minor>"
    if kind == "Ingress":
        for rule in body.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                if "path" in path and not str(path["path"]).startswith("/"):
                    return f"spec.rules path {path['path']!r}: not an absolute path"
    return None


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects `labels` (apimachinery labels/selector.go)."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def port_clash(document: dict[str, Any]) -> str | None:
    """A port two of a pod's containers (or one twice) declare: the schema allows it, the process cannot bind it.

    The API server only warns about a duplicate `containerPort`/`protocol` (Kubernetes docs,
    "Container ports"); the second listener fails with "address already in use" (containers of a
    pod share one network namespace). Init containers run one at a time and are left out.
    """
    spec = _pod_spec(document)
    if spec is None:
        return None
    seen: dict[tuple[int, str], str] = {}
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            bound = (int(port.get("containerPort", 0)), str(port.get("protocol", "TCP")))
            where = f"{container.get('name')}/{port.get('name', port.get('containerPort'))}"
            if bound in seen:
                return f"containers: port {bound[0]}/{bound[1]} declared twice ({seen[bound]}, {where}): one bind fails"
            seen[bound] = where
    return None


def _namespace(document: Mapping[str, Any]) -> str:
    return str((document.get("metadata") or {}).get("namespace") or "default")


def _pod_templates(documents: list[dict[str, Any]]) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """Each workload's namespace, pod labels and pod spec (a bare Pod's own labels)."""
    found = []
    for document in documents:
        spec = _pod_spec(document)
        if spec is None:
            continue
        path = _POD_SPEC_PATHS[str(document.get("kind"))]
        holder: Any = document
        for field in path[:-1]:
            holder = holder.get(field) or {}
        labels = (holder.get("metadata") or {}).get("labels") or {}
        found.append((_namespace(document), labels, spec))
    return found


def _container_ports(spec: Mapping[str, Any]) -> set[str]:
    return {
        str(port["name"])
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        for port in container.get("ports") or []
        if port.get("name")
    }


def _in_namespaces(selector: Mapping[str, Any] | None, own: str, namespace: str) -> bool:
    """Whether a monitor's `namespaceSelector` (`any`, `matchNames`; its own namespace when empty) takes `namespace`."""
    selector = selector or {}
    if selector.get("any"):
        return True
    return namespace in (selector.get("matchNames") or [own])


def runtime_objects(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the cluster's controllers make at run time from these objects, as far as monitors and Services name it.

    * The API server's own Service, `default/kubernetes`, labelled `component: apiserver`,
      `provider: kubernetes`, port `https` (k8s.io/kubernetes pkg/controlplane/controller
      kubernetesservice).
    * The kubelets' Service a Prometheus Operator with `--kubelet-service=<namespace>/<name>`
      keeps (labels `k8s-app`/`app.kubernetes.io/name: kubelet`, ports `https-metrics` 10250,
      `http-metrics` 10255, `cadvisor` 4194: prometheus-operator pkg/kubelet controller).
    * A CloudNativePG Cluster's instance pods, labelled `cnpg.io/cluster: <name>`, with the
      exporter's port `metrics` (9187) beside `postgresql` (cloudnative-pg pkg/specs pods.go,
      pkg/management/url: PostgresMetricsPort).
    """
    made: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {"ports": [{"name": "https", "port": 443}]},
        }
    ]
    for _, _, spec in _pod_templates(documents):
        for container in spec.get("containers") or []:
            for argument in container.get("args") or []:
                if isinstance(argument, str) and argument.startswith("--kubelet-service="):
                    namespace, _, name = argument.partition("=")[2].partition("/")
                    made.append(
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "metadata": {
                                "name": name,
                                "namespace": namespace,
                                "labels": {"k8s-app": "kubelet", "app.kubernetes.io/name": "kubelet"},
                            },
                            "spec": {
                                "ports": [
                                    {"name": "https-metrics", "port": 10250},
                                    {"name": "http-metrics", "port": 10255},
                                    {"name": "cadvisor", "port": 4194},
                                ]
                            },
                        }
                    )
    for document in documents:
        if document.get("kind") == "Cluster" and str(document.get("apiVersion")).startswith("postgresql.cnpg.io/"):
            metadata = document.get("metadata") or {}
            ports = [{"name": "postgresql", "containerPort": 5432}, {"name": "metrics", "containerPort": 9187}]
            made.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{metadata.get('name')}-1",
                        "namespace": _namespace(document),
                        "labels": {"cnpg.io/cluster": str(metadata.get("name"))},
                    },
                    "spec": {"containers": [{"name": "postgres", "ports": ports}]},
                }
            )
    return made


def references(documents: Iterable[dict[str, Any]]) -> list[tuple[int, str]]:
    """What the objects of one cluster name in each other, which no server checks: (the object's index, problem).

    The API server takes any name in these fields; the mistake shows only as traffic or metrics
    that never arrive.

    * An Ingress backend names a Service of the cluster's objects in its own namespace, and one
      of that Service's ports by number or by name (k8s.io/api networking/v1
      IngressServiceBackend: "port of the referenced service"; a controller without the Service
      or the port answers 503).
    * A Service's named `targetPort` is a port name of the pods it selects, where the cluster's
      objects hold pods it selects (the EndpointSlice controller leaves a pod without that name
      out: k8s.io/kubernetes pkg/api/v1/pod FindPort).
    * A ServiceMonitor selects Services and a PodMonitor pods, of the objects or of what the
      cluster makes from them (`runtime_objects`), and each endpoint's `port` names a port of
      them (prometheus-operator: a target per matching port only; nothing is scraped otherwise).
    """
    documents = list(documents)
    present = [*documents, *runtime_objects(documents)]
    services = [d for d in present if d.get("kind") == "Service" and str(d.get("apiVersion")) == "v1"]
    templates = _pod_templates(present)
    problems: list[tuple[int, str]] = []
    for index, document in enumerate(documents):
        kind, body, namespace = document.get("kind"), document.get("spec") or {}, _namespace(document)
        if kind == "Ingress":
            backends = [("spec.defaultBackend", body.get("defaultBackend") or {})]
            for rule in body.get("rules") or []:
                backends += [
                    (f"spec.rules {rule.get('host', '*')}{path.get('path', '')}", path.get("backend") or {})
                    for path in (rule.get("http") or {}).get("paths") or []
                ]
            for where, backend in backends:
                service = backend.get("service")
                if not service:
                    continue
                target = [
                    s for s in services
                    if (s.get("metadata") or {}).get("name") == service.get("name") and _namespace(s) == namespace
                ]  # fmt: skip
                if not target:
                    problems.append(
                        (index, f"{where}: no Service {namespace}/{service.get('name')} among the cluster's objects")
                    )
                    continue
                port = service.get("port") or {}
                offered = (target[0].get("spec") or {}).get("ports") or []
                if not any(
                    p.get("port") == port.get("number") or (port.get("name") and p.get("name") == port.get("name"))
                    for p in offered
                ):
                    wanted = port.get("name") or port.get("number")
                    problems.append(
                        (index, f"{where}: Service {namespace}/{service.get('name')} has no port {wanted!r}")
                    )
        if kind == "Service" and body.get("selector"):
            pods = [
                spec
                for ns, labels, spec in templates
                if ns == namespace and selects({"matchLabels": body["selector"]}, labels)
            ]
            for port in body.get("ports") or []:
                target = port.get("targetPort")
                if pods and isinstance(target, str) and not any(target in _container_ports(spec) for spec in pods):
                    problems.append(
                        (index, f"spec.ports {port.get('name', '')}: targetPort {target!r} names no port of its pods")
                    )
        if kind in ("ServiceMonitor", "PodMonitor"):
            selector, namespaces = body.get("selector") or {}, body.get("namespaceSelector")
            if kind == "ServiceMonitor":
                offered = [
                    {str(p.get("name")) for p in (s.get("spec") or {}).get("ports") or []}
                    for s in services
                    if _in_namespaces(namespaces, namespace, _namespace(s))
                    and selects(selector, (s.get("metadata") or {}).get("labels") or {})
                ]
                endpoints = body.get("endpoints") or []
            else:
                offered = [
                    _container_ports(spec)
                    for ns, labels, spec in templates
                    if _in_namespaces(namespaces, namespace, ns) and selects(selector, labels)
                ]
                endpoints = body.get("podMetricsEndpoints") or []
            if not offered:
                problems.append(
                    (index, f"selects no {'Service' if kind == 'ServiceMonitor' else 'pod'}: nothing is scraped")
                )
            for endpoint in endpoints:
                port = endpoint.get("port")
                if offered and isinstance(port, str) and not any(port in names for names in offered):
                    problems.append((index, f"endpoint port {port!r} is no port name of what it selects"))
    return problems
