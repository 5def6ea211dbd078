"""The AWS on-demand price catalogue: how it is built (scripts/prices.py), what it holds, how a review uses it.

The catalogue (components/spec/aws-prices.json) is written by `python -m scripts.prices` from a
SkyPilot-form catalogue of the AWS Price List API; a site's own `flavors.<type>.price_per_hour`
takes precedence, and a pool whose type the catalogue does not price is "unpriced", never guessed.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import edited_stack

from components.spec.catalog import AWS_INSTANCE_SIZES, aws_on_demand_price, aws_prices
from scripts.prices import CatalogueError, build, main

HEADER = ["InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "GpuInfo", "Price",
          "SpotPrice", "Region", "AvailabilityZone"]  # fmt: skip


def rows(*extra: dict[str, str]) -> list[dict[str, str]]:
    """One priced row per instance type of Meridian's table (two zones of eu-central-1), sizes as the table says."""
    found = []
    for kind, size in AWS_INSTANCE_SIZES.items():
        for zone in ("euc1-az1", "euc1-az2"):
            found.append({
                "InstanceType": kind, "vCPUs": f"{size.vcpus}.0", "MemoryGiB": f"{size.memory_gib}",
                "Price": "1.5", "SpotPrice": "", "Region": "eu-central-1", "AvailabilityZone": zone,
            })  # fmt: skip
    return [*found, *extra]


def test_a_catalogue_holds_one_price_per_region_and_type_with_its_source_and_date() -> None:
    extra = {"InstanceType": "m6i.xlarge", "vCPUs": "4.0", "MemoryGiB": "16.0", "Price": "0.214",
             "Region": "eu-west-1", "AvailabilityZone": "euw1-az1"}  # fmt: skip
    # A type Meridian does not size is left out; a zone without an on-demand price (Capacity Block
    # types) is skipped.
    other = {"InstanceType": "r7i.large", "vCPUs": "2.0", "MemoryGiB": "16.0", "Price": "0.2",
             "Region": "eu-west-1", "AvailabilityZone": "euw1-az1"}  # fmt: skip
    empty = {**extra, "Price": "", "AvailabilityZone": "euw1-az2"}
    built = build(rows(extra, other, empty), source="src", as_of="2025", dated_by="why", excluded={})
    assert built["source"] == "src" and built["as_of"] == "2025" and built["dated_by"] == "why"
    assert built["currency"] == "USD"
    assert built["prices"]["eu-west-1"] == {"m6i.xlarge": 0.214}
    assert set(built["prices"]["eu-central-1"]) == set(AWS_INSTANCE_SIZES)


def test_a_catalogue_refuses_inputs_that_would_make_it_half_right(tmp_path: Path) -> None:
    zones = rows({"InstanceType": "g5.xlarge", "vCPUs": "4.0", "MemoryGiB": "16.0", "Price": "1.3",
                  "Region": "eu-central-1", "AvailabilityZone": "euc1-az3"})  # fmt: skip
    conflict = re.escape("g5.xlarge in eu-central-1 costs 1.3 here, 1.5 in an earlier row")
    with pytest.raises(CatalogueError, match=conflict):
        build(zones, source="s", as_of="a", dated_by="d", excluded={})
    resized = [{**row, "MemoryGiB": "24.0"} if row["InstanceType"] == "g6e.xlarge" else row for row in rows()]
    with pytest.raises(CatalogueError, match=r"g6e.xlarge has 4 vCPUs and 24 GiB, Meridian's table 4 and 32"):
        build(resized, source="s", as_of="a", dated_by="d", excluded={})
    missing = [row for row in rows() if row["InstanceType"] != "p5.48xlarge"]
    with pytest.raises(CatalogueError, match=r"no price for p5.48xlarge in any region"):
        build(missing, source="s", as_of="a", dated_by="d", excluded={})
    # Excluded with its reason, a type is neither required nor priced.
    built = build(rows(), source="s", as_of="a", dated_by="d", excluded={"p5.48xlarge": "stale"})
    assert "p5.48xlarge" not in built["prices"]["eu-central-1"] and built["excluded"] == {"p5.48xlarge": "stale"}
    # The command says which file and why, writes nothing and exits 1.
    broken = tmp_path / "vms.csv"
    with broken.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, HEADER, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(zones)
    output = tmp_path / "aws-prices.json"
    args = [str(broken), "--source", "s", "--as-of", "a", "--dated-by", "d", "--output", str(output)]
    assert main(args) == 1 and not output.exists()


def test_the_shipped_catalogue_prices_every_sized_type_or_says_why_not() -> None:
    catalogue = aws_prices()
    assert catalogue["currency"] == "USD" and catalogue["source"] and catalogue["as_of"] and catalogue["dated_by"]
    priced = {kind for kinds in catalogue["prices"].values() for kind in kinds}
    excluded = set(catalogue["excluded"])
    assert priced | excluded == set(AWS_INSTANCE_SIZES) and not priced & excluded
    # AWS cut P4d, P4de and P5 on-demand prices in June 2025 (AWS announcement, 2025-06), after the
    # source's prices were read: those are left out rather than shown too high.
    assert excluded == {"p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge"}
    # The bundled stacks' AWS region prices every other type; a list price AWS has published for
    # years (m6i.xlarge in us-east-1: 0.192 USD per hour).
    assert set(catalogue["prices"]["eu-central-1"]) == set(AWS_INSTANCE_SIZES) - excluded
    assert aws_on_demand_price("us-east-1", "m6i.xlarge") == 0.192
    # A type not offered in a region has no price there (no G6e in eu-west-1 in the source).
    assert aws_on_demand_price("eu-west-1", "g6e.12xlarge") is None


def test_a_site_price_wins_and_an_unpriced_type_stays_unpriced(tmp_path: Path) -> None:
    def declared(platform: dict[str, Any]) -> None:
        site = platform["sites"]["aws-frankfurt"]
        site["currency"] = "EUR"
        site["flavors"] = {"g6e.12xlarge": {"price_per_hour": 11.5}}

    capacity = edited_stack(tmp_path, "eo4eu", declared).outputs["capacity"]
    # The site's own (negotiated) price, in the site's currency.
    assert capacity["burst"]["l40s"]["price_per_hour"] == 11.5
    assert (capacity["burst"]["l40s"]["price_source"], capacity["burst"]["l40s"]["currency"]) == ("site", "EUR")
    # Undeclared: the catalogue's, in USD whatever the site's currency.
    assert capacity["burst"]["system"]["price_per_hour"] == 0.23
    assert (capacity["burst"]["system"]["price_source"], capacity["burst"]["system"]["currency"]) == (
        "aws-catalogue", "USD",
    )  # fmt: skip


def test_an_excluded_type_is_unpriced_in_a_bundled_stack(bundled_plan: Any) -> None:
    capacity = bundled_plan("destine-extremes").outputs["capacity"]
    pools = [pool for pools in capacity.values() for pool in pools.values() if pool["flavor"] == "p5.48xlarge"]
    assert pools and all(pool["price_per_hour"] is None and pool["price_source"] is None for pool in pools)
    # An OpenStack flavor without a declared price is unpriced too.
    openstack = [pool for pools in capacity.values() for pool in pools.values() if pool["flavor"] == "vm.a100.2gpu"]
    assert openstack and all(pool["price_per_hour"] is None for pool in openstack)
