"""Spec of a project's GitOps: which engine, the management cluster it runs on, and the Git repos it delivers.

`PlatformSpec.gitops` is optional. With an engine (Rancher Fleet or Sveltos), the management
cluster runs it and every other cluster of the project is registered with it, labelled with
what it is (`cluster_labels`: project, site, backend, Kubernetes version, its GPUs) plus the
cluster's own `labels`; each repo reaches the clusters its `clusters` selector matches
(components/gitops.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from ..secrets import SecretRef
from .base import GIT_REF, GIT_URL, LabelKey, LabelValue, Name, SpecModel
from .errors import CrossFieldError

if TYPE_CHECKING:
    from .platform import PlatformSpec

#: The prefix of the labels Meridian gives every registered cluster (`cluster_labels`); a
#: cluster's own `labels` may not use it.
LABEL_PREFIX = "meridian.io/"
#: A path inside the repository, relative, without `..`.
REPO_PATH = r"^(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/-]{1,256}$"


class GitCredentialsSpec(SpecModel):
    """How the engine logs in to the Git server: from secret references only, never plain text."""

    username: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="https: the user (a token's owner, or any name the server accepts with a token).",
    )
    password: SecretRef | None = Field(
        default=None, description="https: the password or access token, as a reference (config:<key> or vault:...)."
    )
    ssh_private_key: SecretRef | None = Field(
        default=None, description="ssh: the private key (a deploy key), as a reference (config:<key> or vault:...)."
    )
    known_hosts: str | None = Field(
        default=None,
        min_length=1,
        max_length=16384,
        description="ssh: the server's host keys as known_hosts lines; host keys are always checked.",
    )


class GitRepoSpec(SpecModel):
    """One Git repository the engine delivers to the clusters its selector matches."""

    url: str = Field(pattern=GIT_URL, max_length=512, description="The repository: https://..., ssh://... or git@...")
    branch: str = Field(
        default="main", max_length=200, pattern=GIT_REF, description="The branch followed (unless revision is set)."
    )
    revision: str | None = Field(
        default=None,
        max_length=200,
        pattern=GIT_REF,
        description="A tag or commit to stay on instead of following the branch.",
    )
    paths: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Directories of the repository to deliver (relative paths); none: the repository's root.",
    )
    clusters: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=16,
        description="Label selector (matchLabels) of the registered clusters the repo goes to; empty: all of them. "
        "Labels are the automatic meridian.io/... ones and each cluster's own `labels`.",
    )
    credentials: GitCredentialsSpec | None = Field(
        default=None, description="How to log in to the Git server; none for a public HTTPS repository."
    )

    @model_validator(mode="after")
    def _credentials_fit_the_url(self) -> GitRepoSpec:
        problems = CrossFieldError()
        for key, ref in (("branch", self.branch), ("revision", self.revision)):
            parts = (ref or "").split("/")
            if any(part.endswith(".lock") or part.startswith("-") for part in parts):
                # git check-ref-format: no component ends in `.lock` (nor starts with '-', for a branch).
                problems.add((key,), "git refuses a name part ending in '.lock' or starting with '-'")
        for index, path in enumerate(self.paths):
            if not re.match(REPO_PATH, path):
                problems.add(("paths", index), "a relative path inside the repository, without '..'")
        ssh = not self.url.startswith("https://")
        given = self.credentials
        if ssh and (given is None or given.ssh_private_key is None):
            problems.add(("credentials", "ssh_private_key"), "an SSH repository needs a deploy key (a reference)")
        if ssh and (given is None or given.known_hosts is None):
            problems.add(
                ("credentials", "known_hosts"), "give the Git server's host keys: they are always checked over SSH"
            )
        if given is not None and not ssh:
            if given.ssh_private_key is not None or given.known_hosts is not None:
                problems.add(("credentials",), "an https repository takes username and password, not SSH settings")
            elif given.username is None or given.password is None:
                problems.add(("credentials",), "https credentials are a username and a password (or token) together")
        if given is not None and ssh and (given.username is not None or given.password is not None):
            problems.add(("credentials",), "an SSH repository takes ssh_private_key and known_hosts, not a password")
        problems.raise_if_any()
        return self


class GitOpsSpec(SpecModel):
    """The project's GitOps engine, where it runs, and what it delivers."""

    engine: Literal["fleet", "sveltos", "none"] = Field(
        description="fleet: Rancher Fleet (GitRepo objects, agents on every cluster); sveltos: Sveltos "
        "(ClusterProfiles, agentless); none: no engine (clusters are not registered)."
    )
    management_cluster: Name | None = Field(
        default=None, description="The project's cluster that runs the engine; every other cluster is registered."
    )
    repos: dict[Name, GitRepoSpec] = Field(
        default_factory=dict, max_length=64, description="Git repositories delivered to the clusters, keyed by name."
    )
    exclude: list[Name] = Field(
        default_factory=list,
        max_length=128,
        description="Clusters not to register (attached clusters must be listed: their API allow-list is their "
        "owner's, so no path from the management cluster can be opened).",
    )

    @model_validator(mode="after")
    def _engine_needs_a_home(self) -> GitOpsSpec:
        problems = CrossFieldError()
        if self.engine != "none" and self.management_cluster is None:
            problems.add(("management_cluster",), f"{self.engine} runs on one of the project's clusters: name it")
        if self.engine == "none" and self.repos:
            problems.add(("repos",), "repos are delivered by an engine: set engine to fleet or sveltos")
        if self.engine == "sveltos" and self.repos:
            # Sveltos reads Git only through Flux's source-controller (GitRepository sources of a
            # ClusterProfile's kustomizationRefs; its docs, addons/example_flux_sources), which
            # Meridian does not install: no pinned, verified copy of Flux could be had here.
            problems.add(
                ("repos",),
                "Sveltos reads Git through Flux's source-controller, which Meridian does not install: deliver the "
                "repos with engine fleet",
            )
        problems.raise_if_any()
        return self


def _label_value(text: str) -> str:
    """`text` as a label value (63 characters of letters, digits, '-', '_', '.', alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return value.strip("-_.") or "none"


def cluster_labels(spec: PlatformSpec, name: str) -> dict[str, str]:
    """The labels a registered cluster carries: what Meridian knows of it, then the cluster's own `labels`.

    `meridian.io/project`, `site`, `backend`, `kubernetes-version`; with GPU pools
    `meridian.io/gpu: "true"`, one `meridian.io/gpu-<model>: "true"` per GPU model and one
    `meridian.io/gpu-sharing-<mode>: "true"` per way its GPUs are shared (whole, mig,
    time-slicing), and `meridian.io/mig-config` when every MIG pool uses one layout: the
    selectors add-ons and repos go by (README, "GitOps").
    """
    cluster = spec.clusters[name]
    labels = {
        f"{LABEL_PREFIX}project": spec.project.name,
        f"{LABEL_PREFIX}cluster": name,
        f"{LABEL_PREFIX}site": cluster.site,
        f"{LABEL_PREFIX}backend": cluster.backend,
        f"{LABEL_PREFIX}kubernetes-version": cluster.version,
    }
    gpus = [pool.gpu for pool in cluster.gpu_pools.values() if pool.gpu is not None]
    if gpus:
        labels[f"{LABEL_PREFIX}gpu"] = "true"
    layouts = set()
    for gpu in gpus:
        labels[f"{LABEL_PREFIX}gpu-{_label_value(gpu.model.lower())}"[: len(LABEL_PREFIX) + 63]] = "true"
        mode = "mig" if gpu.mig is not None else "time-slicing" if gpu.time_slicing is not None else "whole"
        labels[f"{LABEL_PREFIX}gpu-sharing-{mode}"] = "true"
        if gpu.mig is not None:
            layouts.add(gpu.mig.config_name)
    if len(layouts) == 1:
        labels[f"{LABEL_PREFIX}mig-config"] = _label_value(layouts.pop())
    return {**labels, **cluster.labels}


def registered_clusters(spec: PlatformSpec) -> list[str]:
    """The clusters the engine manages: every cluster of the project but the management cluster."""
    gitops = spec.gitops
    if gitops is None or gitops.engine == "none":
        return []
    return [name for name in spec.clusters if name != gitops.management_cluster and name not in gitops.exclude]


def discovered(spec: PlatformSpec, name: str) -> bool:
    """Whether the engine finds registered cluster `name` by itself, with no registration object.

    Sveltos watches Cluster API's Cluster objects on its own cluster and manages those its selectors
    match through their `<c>-kubeconfig` Secret (libsveltos v1.13.0 lib/clusterproxy: clusterType Capi):
    a capi cluster whose management cluster runs Sveltos is labelled on its Cluster object instead.
    """
    gitops = spec.gitops
    cluster = spec.clusters[name]
    return (
        gitops is not None
        and gitops.engine == "sveltos"
        and cluster.backend == "capi"
        and cluster.management_cluster == gitops.management_cluster
        and name in registered_clusters(spec)
    )


def selected(spec: PlatformSpec, selector: dict[str, str]) -> list[str]:
    """The registered clusters whose labels match every pair of `selector` (matchLabels semantics)."""
    return [
        name
        for name in registered_clusters(spec)
        if all(cluster_labels(spec, name).get(key) == value for key, value in selector.items())
    ]


def engine_delivered(spec: PlatformSpec, name: str) -> list[str]:
    """The add-ons whose releases the engine delivers on the `delivery: gitops` cluster `name` (README, "GitOps").

    Those of `components.addons.ENGINE_DELIVERED` that apply to the cluster, except the central
    observability stack (always direct) and magnum's GPU Operator (its driver installs it).
    """
    from ..addons import ADDONS, ENGINE_DELIVERED

    central = spec.observability is not None and spec.observability.central.cluster == name
    magnum = spec.clusters[name].backend == "magnum"
    return [
        addon.key
        for addon in ADDONS
        if addon.key in ENGINE_DELIVERED
        and addon.applies(name, spec)
        and not (addon.key == "observability" and central)
        and not (addon.key == "gpu_operator" and magnum)
    ]


def warnings(spec: PlatformSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """What is valid but almost certainly not meant, as (key path, message).

    A repo whose selector matches no registered cluster; a cluster asking for GitOps delivery of
    add-ons it has none of.
    """
    gitops = spec.gitops
    found: list[tuple[tuple[str | int, ...], str]] = []
    for name, cluster in spec.clusters.items():
        if cluster.addons.delivery == "gitops" and not engine_delivered(spec, name):
            found.append(
                (
                    ("clusters", name, "addons", "delivery"),
                    "nothing on this cluster is delivered by GitOps (today: External Secrets, the ingress, the "
                    "site collector and the GPU Operator Meridian installs, where they apply): its add-ons "
                    "stay direct",
                )
            )
    if gitops is None:
        return found
    for name, repo in gitops.repos.items():
        if not selected(spec, repo.clusters):
            wanted = ", ".join(f"{key}={value}" for key, value in repo.clusters.items()) or "(any)"
            found.append(
                (
                    ("gitops", "repos", name, "clusters"),
                    f"selects no registered cluster ({wanted}): the repo would reach nothing",
                )
            )
    return found
