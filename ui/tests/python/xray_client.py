"""The boto3 X-Ray client the test scripts share: pointed at a Fluoro endpoint, with dummy
credentials (Fluoro does not check them) and no retries, so a failed call fails the test at
once instead of hiding behind botocore's backoff. The scripts are run as `python3 script.py`,
which puts this directory on sys.path."""
import boto3
from botocore.config import Config


def xray_client(endpoint):
    return boto3.client(
        "xray",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
