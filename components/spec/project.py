"""Spec of the research project a stack belongs to: identity, ownership and labelling rules."""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import EMAIL_PATTERN, LabelKey, LabelValue, Name, SpecModel
from .errors import CrossFieldError

#: Labels Meridian puts on every taggable resource itself; users may not set them.
AUTOMATIC_LABELS = ("project", "site", "managed-by", "cost-centre")
#: Keys users may not use as labels: the automatic ones, plus the cloud-only tags
#: (`owner` carries the e-mail address; `Name` is the AWS console name) and AWS's own prefix.
RESERVED_LABELS = (*AUTOMATIC_LABELS, "owner", "Name")


class ProjectSpec(SpecModel):
    """Who the platform is for and who pays for it."""

    name: Name = Field(description="Short project name (eo4eu); prefixes cloud resource names and labels.")
    description: str = Field(default="", max_length=256, description="One line about the project.")
    owner: str = Field(
        pattern=EMAIL_PATTERN,
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
        problems = CrossFieldError()
        for key in self.labels:
            if key in RESERVED_LABELS:
                problems.add(("labels", key), "is set by Meridian itself and cannot be overridden")
            elif key.startswith("aws:"):
                problems.add(("labels", key), "keys starting with 'aws:' are reserved by AWS")
        for index, key in enumerate(self.required_labels):
            if key not in self.labels and key not in AUTOMATIC_LABELS:
                problems.add(("required_labels", index), f"required label '{key}' has no value in labels")
        if self.name == "sg" or self.name.startswith("sg-"):
            problems.add(("name",), "must not start with 'sg-': AWS reserves that prefix for security group names")
        problems.raise_if_any()
        return self
