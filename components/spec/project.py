"""Spec of the research project a stack belongs to: identity, ownership and labelling rules."""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import LabelKey, LabelValue, Name, SpecModel

#: Labels Meridian puts on every taggable resource itself; users may not set them.
AUTOMATIC_LABELS = ("project", "site", "managed-by", "cost-centre")


class ProjectSpec(SpecModel):
    """Who the platform is for and who pays for it."""

    name: Name = Field(description="Short project name (eo4eu); prefixes cloud resource names and labels.")
    description: str = Field(default="", max_length=256, description="One line about the project.")
    owner: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$",
        max_length=128,
        description="E-mail address of the accountable owner; tagged on cloud resources.",
    )
    cost_centre: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,62}$",
        description="Cost centre or grant code that cloud usage is charged to.",
    )
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=24,
        description="Extra labels/tags on every taggable resource of the project.",
    )
    required_labels: list[LabelKey] = Field(
        default_factory=list,
        max_length=16,
        description="Label keys every taggable resource must carry (checked here and by the policy pack). "
        f"The automatic ones ({', '.join(AUTOMATIC_LABELS)}) are always present.",
    )

    @model_validator(mode="after")
    def _labels_consistent(self) -> ProjectSpec:
        reserved = sorted(set(self.labels) & set(AUTOMATIC_LABELS))
        if reserved:
            raise ValueError(f"labels {reserved} are set by Meridian itself and cannot be overridden")
        missing = sorted(set(self.required_labels) - set(self.labels) - set(AUTOMATIC_LABELS))
        if missing:
            raise ValueError(f"required_labels {missing} have no value in labels")
        return self
