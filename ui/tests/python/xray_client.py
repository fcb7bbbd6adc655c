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


def invalid_request(client, call):
    """What `call` was refused with as the modelled InvalidRequestException (code, message,
    HTTP status), or None if it succeeded."""
    try:
        call()
        return None
    except client.exceptions.InvalidRequestException as error:
        return {"code": error.response["Error"]["Code"], "message": error.response["Error"]["Message"],
                "status": error.response["ResponseMetadata"]["HTTPStatusCode"]}
