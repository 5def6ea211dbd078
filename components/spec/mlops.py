"""Spec of a project's MLOps services: MLflow's tracking server and model registry, Argo Workflows, their login.

Rules that need the rest of the project (the cluster exists and can publish, the site offers
object storage) live on `PlatformSpec._mlops`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ..secrets import SecretRef
from .addons import Hostname, ImageSpec, ProfileGpuSpec, StorageSpec, missing_entitlement_scope
from .base import HttpsUrl, Name, SpecModel

#: A six-field cron expression, seconds first (CloudNativePG ScheduledBackup `schedule`: robfig/cron
#: with seconds, api/v1 scheduledbackup_types.go), e.g. `0 0 2 * * *` for 02:00 every day.
BACKUP_SCHEDULE_PATTERN = r"^\S+( \S+){5}$"


class OidcLoginSpec(SpecModel):
    """The project's OpenID Connect provider, which the MLOps services log scientists in with."""

    issuer: HttpsUrl = Field(
        description="The provider's issuer URL; its discovery document is at <issuer>/.well-known/openid-configuration "
        "(e.g. https://aai.egi.eu/auth/realms/egi)."
    )
    client_id: str = Field(min_length=1, max_length=256, description="The OAuth client's ID.")
    client_secret: SecretRef = Field(
        description="The OAuth client's secret: `config:<key>` (a secret stack config key) or "
        "`vault:<mount>/<path>#<field>`."
    )
    groups_claim: str = Field(
        default="groups",
        pattern=r"^[A-Za-z0-9_:.-]{1,64}$",
        description="The ID token claim holding the user's groups, e.g. groups or eduperson_entitlement.",
    )
    allowed_groups: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1,
        max_length=32,
        description="Groups whose members may use the services; nobody else gets past the login.",
    )
    scopes: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_:.-]{1,64}$")]] = Field(
        default_factory=lambda: ["openid", "profile", "email"],
        max_length=16,
        description="Scopes asked of the provider; must include openid.",
    )

    @model_validator(mode="after")
    def _openid(self) -> OidcLoginSpec:
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid: without it the provider issues no ID token to log in with")
        missing = missing_entitlement_scope(self.groups_claim, self.scopes)
        if missing is not None:
            raise ValueError(missing)
        return self


class DatabaseSpec(SpecModel):
    """MLflow's backend store: a PostgreSQL cluster run by CloudNativePG, backed up to the object store."""

    instances: int = Field(
        default=2,
        ge=1,
        le=5,
        description="PostgreSQL instances: one primary and instances-1 streaming replicas it fails over to.",
    )
    storage: StorageSpec = Field(default_factory=lambda: StorageSpec(size_gb=20), description="Each instance's volume.")
    backup_schedule: str = Field(
        default="0 0 2 * * *",
        pattern=BACKUP_SCHEDULE_PATTERN,
        description="When the base backup runs: six cron fields, seconds first (WAL is archived continuously).",
    )
    retention_days: int = Field(
        default=30, ge=1, le=3650, description="Days of backups (base backups and WAL) kept in the object store."
    )


class MlflowSpec(SpecModel):
    """The MLflow tracking server and model registry of the project."""

    hostname: Hostname = Field(description="MLflow's public name (TLS, the project's login in front).")
    replicas: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Tracking server pods (stateless; the state is in the database and the object store).",
    )
    database: DatabaseSpec = Field(default_factory=DatabaseSpec, description="The backend store.")


#: A workflow parameter's name (Argo: `{{workflow.parameters.<name>}}` in the command).
ParameterName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]


class WorkflowTemplateSpec(SpecModel):
    """A step scientists run from their workflows (`templateRef`) or on its own: its image, command and resources."""

    description: str = Field(default="", max_length=256, description="What the step does.")
    image: ImageSpec = Field(description="The step's container image, pinned.")
    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1,
        max_length=64,
        description="The command and its arguments; `{{workflow.parameters.<name>}}` takes a parameter.",
    )
    parameters: dict[ParameterName, Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=dict, max_length=32, description="The workflow's parameters and their defaults."
    )
    cpu: float = Field(default=2, ge=0.1, le=256, description="Guaranteed CPUs.")
    memory_gb: int = Field(default=8, ge=1, le=4096, description="Guaranteed memory in GiB (also its limit).")
    gpu: ProfileGpuSpec | None = Field(default=None, description="GPUs for the step, from one GPU pool of the cluster.")
    timeout_minutes: int = Field(
        default=24 * 60,
        ge=1,
        le=30 * 24 * 60,
        description="The step is stopped after this long (activeDeadlineSeconds).",
    )


class WorkflowsSpec(SpecModel):
    """Argo Workflows on the MLOps cluster: data preparation, training and validation as workflows."""

    hostname: Hostname = Field(description="The Argo Workflows UI's and API's public name (the project's login).")
    parallelism: int = Field(default=20, ge=1, le=1000, description="Workflows that run at once; more wait.")
    retention_days: int = Field(
        default=7, ge=1, le=90, description="Days a finished workflow is kept (its record and its logs' artifacts)."
    )
    templates: dict[Name, WorkflowTemplateSpec] = Field(
        default_factory=dict, max_length=64, description="WorkflowTemplates for the project's steps, keyed by name."
    )


#: A registered model's URI: `models:/<name>/<version>` or `models:/<name>@<alias>` (MLflow model
#: registry URIs, mlflow/store/artifact/utils/models.py).
MODEL_URI_PATTERN = r"^models:/[A-Za-z0-9][A-Za-z0-9._-]{0,254}(/[1-9][0-9]{0,9}|@[A-Za-z][A-Za-z0-9_-]{0,254})$"


class ReplicasSpec(SpecModel):
    """How far a model service scales."""

    min: int = Field(default=1, ge=1, le=100, description="Replicas at the least load.")
    max: int = Field(ge=1, le=100, description="Replicas at the most.")

    @model_validator(mode="after")
    def _ordered(self) -> ReplicasSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is more than max ({self.max})")
        return self


class ScalingTargetSpec(SpecModel):
    """What the autoscaler keeps each replica at."""

    cpu_percent: int | None = Field(
        default=None, ge=10, le=100, description="Average CPU use, in percent of the replicas' CPU requests."
    )
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description="Requests per second per replica, as the service's login counts them (the MLOps cluster must "
        "run the central observability, whose Prometheus the custom metrics adapter queries).",
    )

    @model_validator(mode="after")
    def _one(self) -> ScalingTargetSpec:
        if (self.cpu_percent is None) == (self.requests_per_second is None):
            raise ValueError("name one target: cpu_percent or requests_per_second")
        return self


class ModelServiceSpec(SpecModel):
    """A registered model served over REST (MLflow's model server), scaled with its load, behind the project's login."""

    model: str = Field(
        pattern=MODEL_URI_PATTERN,
        max_length=300,
        description="The registered model: models:/<name>/<version> or models:/<name>@<alias>.",
    )
    cluster: Name = Field(description="The cluster it runs on: MLflow's (mlops.cluster), whose registry it loads from.")
    hostname: Hostname = Field(description="The API's public name (TLS, the project's login: bearer tokens).")
    image: ImageSpec | None = Field(
        default=None,
        description="The server image, with the model flavour's packages; default: MLflow's own (-full) image.",
    )
    replicas: ReplicasSpec = Field(description="The autoscaler's bounds.")
    target: ScalingTargetSpec = Field(
        default_factory=lambda: ScalingTargetSpec(cpu_percent=70), description="What the autoscaler keeps."
    )
    cpu: float = Field(default=1, ge=0.1, le=256, description="Guaranteed CPUs per replica (the autoscaler's base).")
    memory_gb: int = Field(default=4, ge=1, le=4096, description="Memory per replica in GiB (also its limit).")
    workers: int = Field(default=2, ge=1, le=32, description="Server worker processes per replica.")
    timeout_seconds: int = Field(default=60, ge=1, le=3600, description="A request's longest time before a 504.")
    gpu: ProfileGpuSpec | None = Field(default=None, description="GPUs per replica, from one GPU pool of the cluster.")


class MlopsSpec(SpecModel):
    """A project's MLOps services, on one of its clusters."""

    cluster: Name = Field(description="The project's cluster that runs MLflow and Argo Workflows.")
    login: OidcLoginSpec = Field(description="How scientists log in to the services' web interfaces and APIs.")
    mlflow: MlflowSpec = Field(description="The tracking server and model registry.")
    workflows: WorkflowsSpec | None = Field(default=None, description="Argo Workflows, with the project's templates.")
    model_services: dict[Name, ModelServiceSpec] = Field(
        default_factory=dict, max_length=32, description="Registered models served as APIs, keyed by service name."
    )
