"""Object storage add-ons keep their data in: one bucket (or container) per purpose.

On AWS sites an S3 bucket, encrypted, never public, reached through an IAM role only the named
Kubernetes service accounts may assume (IRSA, eks); on OpenStack sites a Swift container reached
with the site's cluster application credential, or, for clients that speak S3 only, through the
site's S3-compatible endpoint with the project's keys (`over_s3`; the site's `object_storage`).
Both are protected (`protect`, `retain_on_delete`): the data outlives the stack's resources. Loki
keeps its chunks in the `logs` store (logs.py), the Thanos sidecar and compactor their blocks in
the `metrics` store (thanos.py), MLflow its artifacts and its database's backups in `mlflow` (mlflow.py).

Children, for purpose `<p>` on cluster `<c>` (named `<project>-<c>-<p>` in the cloud):

* AWS: `<c>-<p>` s3.Bucket, BucketPublicAccessBlock and BucketServerSideEncryptionConfiguration;
  `<c>-<p>-role` iam.Role (trust: the service accounts only) with `<c>-<p>-bucket` iam.RolePolicy
* OpenStack: `<c>-<p>` objectstorage.Container
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from .base import AddonContext


@dataclass(frozen=True)
class ObjectStore:
    """Where one purpose's objects live, and how its clients reach it."""

    #: The bucket's or container's name.
    name: pulumi.Output[str]
    region: str
    #: The resources a client must wait for (the bucket policy; the container).
    needs: list[pulumi.Resource]
    #: S3: the role the service accounts assume (their `eks.amazonaws.com/role-arn` annotation).
    role_arn: pulumi.Output[str] | None = None
    #: Swift: Keystone's URL and the application credential's ID (its secret is the site's reference).
    auth_url: str | None = None
    credential_id: str | None = None
    credential_secret_ref: str | None = None
    #: S3 on OpenStack: the site's endpoint, and references to the project's keys for it.
    endpoint: str | None = None
    access_key_ref: str | None = None
    secret_key_ref: str | None = None

    @property
    def kind(self) -> str:
        """`swift` for a Swift container (reached through Keystone), else `s3` (AWS's, or a site's S3 endpoint)."""
        return "swift" if self.auth_url is not None else "s3"


#: S3 bucket names are 3 to 63 characters (Amazon S3 user guide, "Bucket naming rules"); Swift's
#: container names may be longer, and get the same name for one rule everywhere.
MAX_BUCKET_NAME = 63


def bucket_name(project: str, cluster: str, purpose: str) -> str:
    """`<project>-<cluster>-<purpose>`, or, past 63 characters, its first 54 and a digest of the whole.

    Project and cluster names are lowercase DNS labels (the spec's), so the result is a valid
    bucket name either way, and the same on every run.
    """
    import hashlib

    name = f"{project}-{cluster}-{purpose}"
    if len(name) <= MAX_BUCKET_NAME:
        return name
    return f"{name[:54].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """Reading, writing and deleting objects in one bucket, and nothing elsewhere (what Loki and Thanos do)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{bucket_arn}/*"],
            },
        ],
    }


def object_store(
    purpose: str,
    context: AddonContext,
    parent: pulumi.Resource,
    accounts: Sequence[tuple[str, str]],
    *,
    owner: str = "central observability",
    over_s3: bool = False,
) -> ObjectStore:
    """Create the store of `purpose` on the site of the context's cluster.

    :param accounts: (namespace, service account) of every client (the IAM role's trust, on AWS).
    :param owner: what keeps its data there, for the IAM role's description.
    :param over_s3: the clients speak S3 only: on OpenStack, reach the container through the site's
        S3-compatible endpoint (the spec requires the site's `object_storage` then).
    """
    from ..clusters.eks import irsa_trust_policy

    site = context.site
    spec = context.spec
    # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
    assert spec is not None, "the Platform hands every add-on the spec"
    # pragma: no mutate end
    cluster_name = context.cluster_name
    resource = f"{cluster_name}-{purpose}"
    # Bucket names are global on S3: the project and cluster make it unique and recognisable.
    name = bucket_name(spec.project.name, cluster_name, purpose)
    protected = pulumi.ResourceOptions(parent=parent, provider=site.provider, protect=True, retain_on_delete=True)
    on_site = pulumi.ResourceOptions(parent=parent, provider=site.provider)
    if site.spec.aws is not None:
        import pulumi_aws as aws

        tags = {**site.tags, "cluster": cluster_name}
        bucket = aws.s3.Bucket(resource, bucket=name, tags=tags, opts=protected)
        aws.s3.BucketPublicAccessBlock(
            resource,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=on_site,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms"
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            resource,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=encryption, bucket_key_enabled=True
                )
            ],
            opts=on_site,
        )
        identity = context.parent.service_account_issuer
        # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
        assert identity is not None, f"the spec puts the {owner} on AWS sites on eks clusters only"
        # pragma: no mutate end
        provider_arn, issuer = identity
        role = aws.iam.Role(
            f"{resource}-role",
            assume_role_policy=pulumi.Output.all(provider_arn, issuer).apply(
                lambda found: irsa_trust_policy(found[0], found[1], accounts)
            ),
            description=f"{purpose} of cluster {cluster_name}'s {owner}: its bucket only",
            tags=tags,
            opts=on_site,
        )
        policy = aws.iam.RolePolicy(
            f"{resource}-bucket",
            role=role.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(bucket_policy(arn))),
            opts=on_site,
        )
        return ObjectStore(bucket.bucket, site.spec.aws.region, [policy], role_arn=role.arn)
    import pulumi_openstack as openstack

    settings = site.spec.openstack
    container = openstack.objectstorage.Container(resource, name=name, region=settings.region, opts=protected)
    if over_s3:
        s3 = settings.object_storage
        # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
        assert s3 is not None, "the spec requires the site's object_storage for S3 clients"
        # pragma: no mutate end
        return ObjectStore(
            container.name,
            s3.region,
            [container],
            endpoint=s3.endpoint,
            access_key_ref=s3.access_key_id,
            secret_key_ref=s3.secret_access_key,
        )
    credential = settings.cluster_credential
    # pragma: no mutate start - narrows a type for mypy; the spec guarantees it
    assert credential is not None, "the spec requires the central site's cluster_credential on OpenStack"
    # pragma: no mutate end
    return ObjectStore(
        container.name,
        settings.region,
        [container],
        auth_url=credential.auth_url,
        credential_id=credential.id,
        credential_secret_ref=credential.secret,
    )
