"""Mock outputs for object storage: S3 buckets and Swift containers (see scripts.mocks)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import MockResourceArgs

from ..mocks import ID_KEY, CallBuilder, ResourceBuilder


def _s3_bucket(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    # What the provider reads back for a bucket (its ID is the bucket's name; S3 ARNs carry no
    # region or account: arn:aws:s3:::<name>).
    name = str(args.inputs.get("bucket") or args.name)
    region = str(provider.get("region", "eu-central-1"))
    return {
        ID_KEY: name,
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        "region": region,
        "hostedZoneId": "Z21DNDUVLTQW6Q",  # S3's hosted zone in eu-central-1 (AWS general reference, S3 endpoints)
    }


def _swift_container(args: MockResourceArgs, provider: dict[str, Any]) -> dict[str, Any]:
    # The provider's ID is the container's name; Swift keeps its storage policy.
    name = str(args.inputs.get("name") or args.name)
    return {ID_KEY: name, "name": name, "region": args.inputs.get("region") or provider.get("region", "RegionOne")}


RESOURCES: dict[str, ResourceBuilder] = {
    "aws:s3/bucket:Bucket": _s3_bucket,
    "openstack:objectstorage/container:Container": _swift_container,
}
CALLS: dict[str, CallBuilder] = {}
#: type token -> (EC2-style ID prefix, ARN kind or "" when the type has no ARN; "service:kind" outside EC2)
AWS_IDS: dict[str, tuple[str, str]] = {}
