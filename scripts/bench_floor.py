"""The benchmark's floor: the platform's own resources, registered bare.

Each resource of the platform's plan is registered again with the same SDK class (so
the SDK does the same per-property work), the same name and the same inputs, flat at the
top of the stack: no Meridian components around them, no spec, no Output plumbing
between resources. Components become childless ComponentResources, so the count
matches. What the platform costs above this is what Meridian itself adds.
"""

import json
from pathlib import Path

import pulumi

from scripts.sdk import load_packages, sdk_class, wire_to_python

load_packages()
plan = json.loads(Path(pulumi.Config("bench").require("plan")).read_text(encoding="utf-8"))
for resource in plan["resources"]:
    if resource["type"] == "pulumi:pulumi:Stack":
        continue
    if not resource["custom"]:
        pulumi.ComponentResource(resource["type"], resource["name"])
        continue
    cls = sdk_class(resource["type"], resource["version"] or "")
    names = wire_to_python(cls)
    secret_keys = {path.split(".")[0].split("[")[0] for path in resource["secret_paths"]}
    kwargs = {
        names.get(key, key): pulumi.Output.secret(value) if key in secret_keys else value
        for key, value in resource["inputs"].items()
        if key in names
    }
    cls(resource["name"], **kwargs)
