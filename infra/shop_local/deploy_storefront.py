"""Deploy the storefront to AWS: storefront/ into the stack's StorefrontBucket, with the
config.json written from the stack's outputs (the API's URL, the Hosted UI), then a CloudFront
invalidation. `make deploy-storefront STACK=shop STRIPE_PUBLISHABLE_KEY=pk_live_...`.

It needs AWS credentials and the deployed stack, so nothing here runs in the tests but
`storefront_config` (what the file says, from the outputs)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import boto3

from shop_local.storefront import CONTENT_TYPES, STOREFRONT_DIR

# Files a new deploy must replace at once; the rest may be cached by CloudFront and browsers
# for a while (the invalidation below clears CloudFront's copies).
REVALIDATED = {"index.html", "config.json"}


def storefront_config(outputs: dict[str, str], publishable_key: str) -> dict[str, Any]:
    """config.json on AWS: the API by its URL (behind its edge cache when the stack has one,
    `ApiCdn`), sign-in on the Hosted UI, Stripe.js."""
    return {
        "api_base": outputs.get("ApiCdnUrl", outputs["ApiUrl"]),
        "auth": {
            "mode": "cognito",
            "domain": outputs["UserPoolHostedUi"],
            "client_id": outputs["UserPoolClientId"],
            "redirect_uri": outputs["StorefrontUrl"],
        },
        "stripe": {"mode": "stripe", "publishable_key": publishable_key},
    }


def stack_outputs(stack: str) -> dict[str, str]:
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def deploy(stack: str, publishable_key: str, source: Path = STOREFRONT_DIR) -> str:
    outputs = stack_outputs(stack)
    bucket = outputs["StorefrontBucketName"]
    s3 = boto3.client("s3")
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = path.relative_to(source).as_posix()
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None or key == "config.json" or key.startswith("."):
            continue  # only what the local gateway would serve; config.json is written below
        cache = "no-cache" if key in REVALIDATED else "public, max-age=300"
        s3.upload_file(
            str(path), bucket, key, ExtraArgs={"ContentType": content_type, "CacheControl": cache}
        )
    s3.put_object(
        Bucket=bucket,
        Key="config.json",
        Body=json.dumps(storefront_config(outputs, publishable_key), indent=2).encode(),
        ContentType=CONTENT_TYPES[".json"],
        CacheControl="no-cache",
    )
    boto3.client("cloudfront").create_invalidation(
        DistributionId=outputs["StorefrontDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"storefront-{time.time_ns()}",
        },
    )
    return outputs["StorefrontUrl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument(
        "--stripe-publishable-key", required=True, help="pk_test_... or pk_live_..."
    )
    args = parser.parse_args()
    print(f"storefront deployed: {deploy(args.stack, args.stripe_publishable_key)}")


if __name__ == "__main__":
    main()
