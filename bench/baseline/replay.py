"""The boto3 baseline of peerlink's functions, for bench/startup.py: a replay.

bench/startup.py records the Rust function's AWS requests for the
benchmark's event on the counting proxy (scripts/fault_proxy.py), grouped
into the rounds they came in, and writes them to the file PEERLINK_REPLAY
names. This handler sends the same requests through boto3 clients, round
after round, the calls of a round at once on threads (as the Rust function
makes them at once), and decides nothing: no planning of its own, so it can
never disagree with the Rust plan. What it costs is what any Python Lambda
function making these calls pays: importing boto3, making the clients,
serialising, signing and sending the requests, parsing the answers.

The proxy checks the replay: the same requests, in the same rounds.
"""

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor

# At module level, as in any Lambda function: importing boto3 is part of the cold start.
import boto3
from botocore import xform_name
from botocore.exceptions import ClientError

ROUNDS = json.loads(open(os.environ["PEERLINK_REPLAY"]).read())["rounds"]


@functools.cache
def client(service):
    # One client per service per process (made on first use, before any
    # thread), with boto3's defaults (retries, timeouts, AWS_ENDPOINT_URL).
    return boto3.client(service)


def ec2_name(name, member):
    # As botocore's EC2 serializer names a member in the query.
    s = member.serialization
    if "queryName" in s:
        return s["queryName"]
    if "name" in s:
        return s["name"][0].upper() + s["name"][1:]
    return name


def present(form, key):
    return any(k == key or k.startswith(key + ".") for k in form)


def unflatten(form, shape, prefix):
    """The EC2 query form ({"Filter.1.Name": "vpc-id", …}) back into the
    parameters botocore takes ({"Filters": [{"Name": "vpc-id", …}]})."""
    if shape.type_name == "structure":
        out = {}
        for name, member in shape.members.items():
            key = ec2_name(name, member)
            key = f"{prefix}.{key}" if prefix else key
            if present(form, key):
                out[name] = unflatten(form, member, key)
        return out
    if shape.type_name == "list":
        items = []
        while present(form, f"{prefix}.{len(items) + 1}"):
            items.append(unflatten(form, shape.member, f"{prefix}.{len(items) + 1}"))
        return items
    convert = {"integer": int, "long": int, "boolean": lambda v: v == "true", "float": float, "double": float}
    return convert.get(shape.type_name, str)(form[prefix])


def params(call):
    c = client(call["service"])
    operation = c.meta.service_model.operation_model(call["action"])
    if c.meta.service_model.protocol == "ec2":
        return unflatten(call["params"], operation.input_shape, "")
    if c.meta.service_model.protocol.startswith("json"):
        return call["params"]
    raise ValueError(f"{call['service']}: protocol {c.meta.service_model.protocol} is not replayed")


def send(call):
    try:
        getattr(client(call["service"]), xform_name(call["action"]))(**params(call))
    except ClientError:
        if call["status"] < 400:
            raise  # it worked for the Rust function


def handler(event, context):
    for calls in ROUNDS:
        for call in calls:
            client(call["service"])  # clients are made once, before the threads
        if len(calls) == 1:
            send(calls[0])
        else:
            with ThreadPoolExecutor(max_workers=len(calls)) as pool:
                list(pool.map(send, calls))
    return {"rounds": len(ROUNDS), "calls": sum(len(r) for r in ROUNDS)}
