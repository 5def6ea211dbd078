"""`python -m scripts.prices CATALOGUE.csv ...`: refresh Meridian's AWS on-demand price catalogue.

The catalogue (`components/spec/aws-prices.json`, read by components/spec/catalog.py) holds the
on-demand Linux list price per hour, in USD, of the EC2 instance types whose sizes Meridian knows
(`AWS_INSTANCE_SIZES`), per region, with where and when the prices were read. Its input is a
SkyPilot catalogue file (`catalogs/v<N>/aws/vms.csv` of github.com/skypilot-org/skypilot-catalog,
one row per instance type and availability zone: InstanceType, vCPUs, MemoryGiB, Price, Region, ...),
which SkyPilot's job fills from the AWS Price List API (term OnDemand, operating system Linux, no
pre-installed software, capacity status Used, tenancy Shared or Host, a price above zero:
sky/catalog/data_fetchers/fetch_aws.py `_get_pricing_table`; an instance on a dedicated host is
priced by the host, so the instance prices it keeps are the shared-tenancy ones, and two prices for
one type and region are refused below). Any file in that form will do, for example one written
from the Price List API's own CSV.

Refused, so that a catalogue is never half-right: a price that differs between the zones of one
region, a size that differs from Meridian's table (the table or the input is wrong), and an
instance type of the table that the input does not price in any region.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from components.spec.catalog import AWS_INSTANCE_SIZES, AWS_PRICES_FILE


class CatalogueError(Exception):
    """The input cannot make a catalogue; the message says which row and why."""


def build(
    rows: list[dict[str, str]], *, source: str, as_of: str, dated_by: str, excluded: dict[str, str]
) -> dict[str, Any]:
    """The catalogue from an input's rows (module docstring), leaving out `excluded` (type -> why)."""
    prices: dict[str, dict[str, float]] = defaultdict(dict)
    for number, row in enumerate(rows, start=2):
        kind = row.get("InstanceType", "")
        size = AWS_INSTANCE_SIZES.get(kind)
        if size is None or kind in excluded:
            continue
        if not row.get("Price"):
            continue  # a zone that offers the type without an on-demand price (a Capacity Block type)
        vcpus, memory = float(row["vCPUs"]), float(row["MemoryGiB"])
        if (vcpus, memory) != (size.vcpus, size.memory_gib):
            raise CatalogueError(
                f"row {number}: {kind} has {vcpus:g} vCPUs and {memory:g} GiB, Meridian's table "
                f"{size.vcpus} and {size.memory_gib:g} (components/spec/catalog.py)"
            )
        price, region = float(row["Price"]), row["Region"]
        known = prices[region].get(kind)
        if known is not None and known != price:
            raise CatalogueError(f"row {number}: {kind} in {region} costs {price:g} here, {known:g} in an earlier row")
        prices[region][kind] = price
    priced = {kind for region in prices.values() for kind in region}
    missing = sorted(set(AWS_INSTANCE_SIZES) - priced - set(excluded))
    if missing:
        raise CatalogueError(f"no price for {', '.join(missing)} in any region (exclude them with the reason)")
    return {
        "source": source,
        "as_of": as_of,
        "dated_by": dated_by,
        "currency": "USD",
        "terms": "on-demand, Linux, shared tenancy, per instance-hour, before taxes",
        "excluded": dict(sorted(excluded.items())),
        "prices": {region: dict(sorted(kinds.items())) for region, kinds in sorted(prices.items())},
    }


def main(argv: list[str] | None = None) -> int:
    """Write the catalogue from a SkyPilot-form CSV (module docstring); 1 when the input is refused."""
    parser = argparse.ArgumentParser(prog="python -m scripts.prices", description="Refresh the AWS price catalogue.")
    parser.add_argument("catalogue", type=Path, help="a SkyPilot-form AWS catalogue CSV")
    parser.add_argument("--source", required=True, help="where the input comes from (repository, path, commit)")
    parser.add_argument("--as-of", required=True, help="when its prices were read from AWS, as precisely as known")
    parser.add_argument("--dated-by", required=True, help="how that date is known")
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="TYPE=WHY",
        help="an instance type whose input price is known to be out of date, and why",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=AWS_PRICES_FILE)
    args = parser.parse_args(argv)
    excluded = dict(item.split("=", 1) for item in args.exclude if "=" in item)
    if len(excluded) != len(args.exclude):
        parser.error("--exclude takes TYPE=WHY")
    with args.catalogue.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    try:
        catalogue = build(rows, source=args.source, as_of=args.as_of, dated_by=args.dated_by, excluded=excluded)
    except CatalogueError as error:
        print(f"{args.catalogue}: {error}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(catalogue, indent=1) + "\n")
    count = sum(len(kinds) for kinds in catalogue["prices"].values())
    print(f"{args.output}: {count} prices in {len(catalogue['prices'])} regions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
