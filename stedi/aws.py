"""AWS sessions for the flow's own calls (Glue job runs, run reports on S3).

Credentials come from the Prefect block named by STEDI_AWS_CREDENTIALS_BLOCK (prefect-aws's
AwsCredentials: how a Prefect Cloud workspace hands them to its workers), else as boto3 finds them
(environment, profile, instance role). Glue job runs always use their job's IAM role.
"""

from __future__ import annotations

import os
from typing import Any

CREDENTIALS_BLOCK_ENV = "STEDI_AWS_CREDENTIALS_BLOCK"


def session() -> Any:
    name = os.environ.get(CREDENTIALS_BLOCK_ENV)
    if name:
        from prefect_aws import AwsCredentials

        return AwsCredentials.load(name).get_boto3_session()
    import boto3

    # boto3 reads AWS_DEFAULT_REGION and the profile's region, not AWS_REGION, which most AWS tools read first
    return boto3.Session(region_name=os.environ.get("AWS_REGION") or None)


def client(service: str) -> Any:
    return session().client(service)
