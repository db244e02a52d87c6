"""The emulator for the EventBridge pattern tests: moto in server mode on a
loopback port, started through scripts/moto_server.py (which exits when its
stdin closes, so it never outlives the test run)."""

import subprocess
import sys

import boto3
import pytest

from cfn import ROOT

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def moto_endpoint():
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "moto_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        if not first.startswith("MOTO_PORT="):
            raise RuntimeError(f"moto_server.py did not start: {first!r}")
        yield f"http://127.0.0.1:{first.split('=', 1)[1]}"
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def account(moto_endpoint):
    """account(id) -> a boto3 Session acting as that account (STS AssumeRole,
    which is how moto tells accounts apart)."""

    def session(account_id):
        sts = boto3.client(
            "sts",
            endpoint_url=moto_endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/infra-tests", RoleSessionName="infra-tests")[
            "Credentials"
        ]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=REGION,
        )

    return session
