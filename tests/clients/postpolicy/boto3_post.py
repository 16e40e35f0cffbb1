"""Print presigned POSTs made by boto3's ``generate_presigned_post`` as JSON (see spec.json).

SigV4 cases pass ``signature_version='s3v4'``; the SigV2 cases pass nothing in us-east-1,
where botocore still defaults S3 presigning (URLs and POSTs) to SigV2: the client creator
registers ``_default_s3_presign_to_sigv2`` for regions whose endpoint lists the ``s3``
signature version when the user sets none (botocore/client.py, still present in 1.44).
Run with the project's venv: ``python tests/clients/postpolicy/boto3_post.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

for name in [n for n in os.environ if n.startswith("AWS_")]:
    del os.environ[name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import boto3  # noqa: E402
import botocore  # noqa: E402
from botocore.config import Config  # noqa: E402

SPEC = json.loads((Path(__file__).with_name("spec.json")).read_text())


def case(name: str, temporary: bool, signature_version: str | None, region: str) -> dict[str, Any]:
    cred = SPEC["credentials"]["temporary" if temporary else "permanent"]
    session = boto3.session.Session(
        aws_access_key_id=cred["access_key_id"],
        aws_secret_access_key=cred["secret"],
        aws_session_token=cred.get("token"),
        region_name=region,
    )
    config = Config(signature_version=signature_version) if signature_version else None
    client = session.client("s3", config=config)
    post = client.generate_presigned_post(
        SPEC["bucket"],
        SPEC["key"],
        Fields={
            "Content-Type": SPEC["content_type"],
            "success_action_status": SPEC["success_action_status"],
            "x-amz-meta-tag": SPEC["meta_tag"],
        },
        Conditions=[
            ["eq", "$Content-Type", SPEC["content_type"]],
            ["content-length-range", SPEC["min_size"], SPEC["max_size"]],
            {"success_action_status": SPEC["success_action_status"]},
            ["starts-with", "$x-amz-meta-tag", ""],
        ],
        ExpiresIn=SPEC["expires"],
    )
    fields = post["fields"]
    return {
        "name": name,
        "scheme": "sigv4" if "x-amz-signature" in fields else "sigv2",
        "temporary": temporary,
        "access_key_id": cred["access_key_id"],
        "region": region,
        "bucket": SPEC["bucket"],
        "url": post["url"],
        "fields": list(fields.items()),
    }


def main() -> None:
    cases = [
        case("s3v4", False, "s3v4", "eu-west-1"),
        case("s3v4-temporary", True, "s3v4", "eu-west-1"),
        case("default-us-east-1", False, None, "us-east-1"),
        case("default-us-east-1-temporary", True, None, "us-east-1"),
    ]
    json.dump({"sdk": "boto3", "version": botocore.__version__, "cases": cases}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
