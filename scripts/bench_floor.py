"""The benchmark's floor: N bare custom resources, no components, no spec, no Outputs between them."""

import pulumi

count = pulumi.Config("bench").require_int("resources")
for index in range(count):
    pulumi.CustomResource("bench:index:Bare", f"bare-{index}", {"index": index})
