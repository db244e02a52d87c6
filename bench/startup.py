#!/usr/bin/env python3
"""Start-up and memory benchmark: peerlink's Rust bootstraps against a boto3 baseline.

Each function is started cold, the way Lambda starts it: a fresh process whose
runtime client fetches the invocation from the Lambda Runtime API (a stand-in
served here on loopback) and posts the result back. Measured per cold start:

- time to first result: from spawning the process to its response POST arriving;
  split into init (spawn to the first `GET …/invocation/next`) and handler;
- peak RSS: `ru_maxrss` of the process, reaped with os.wait4 after SIGTERM;
- CPU time (user + system) the process used, from the same rusage.

The Python baseline (bench/baseline/: a minimal runtime client and one boto3
handler per function) makes the same AWS reads for the same scheduled event,
in the same rounds (threads where the Rust function makes calls at once), and
decides on them, so the comparison is like for like. Rust and Python runs
alternate, so machine noise hits both. Both act as the accepter account of a
realistic fixture on the emulator (moto, scripts/moto_server.py), at steady
state: the measured runs read and decide, and write nothing.

    .tools/venv/bin/python bench/startup.py \\
        --bootstrap accepter=target/debug/accepter \\
        --bootstrap finisher=target/debug/finisher \\
        --bootstrap drift=target/debug/drift --runs 5 --json results/startup.json

Two tables: against the bare emulator (which answers in a few milliseconds,
so start-up and CPU dominate), and with an EC2-like latency (--aws-latency-ms,
default 30) held on every AWS call by a proxy both runtimes go through: calls
made at once overlap, calls that wait on each other add up, so the time to
first result shows the rounds of calls. The second table counts the calls
and rounds of every run.

Before the measured runs, one untimed run of each side goes through a
counting proxy: both must make the same AWS calls, and only reads (and every
run through the latency proxy must make those calls again). Exits non-zero
when an invocation fails, when the calls differ, or when the Rust and Python
handlers disagree on what they saw and decided. The goals (>= 10x faster to
first result, Rust init < 10 ms, Rust peak RSS < 16 MiB) are shown, not
asserted: machines are noisy.
"""

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "bench" / "baseline"
EVENT_FILE = ROOT / "events" / "scheduled.json"
FUNCTIONS = ("accepter", "finisher", "drift")
REGION = "eu-west-1"
ACCEPTER, REQUESTER, STRANGER = "222222222222", "111111111111", "333333333333"
TASK_ROLE = f"arn:aws:iam::{REQUESTER}:role/orders-task"
RUNTIME_BASE = "/2018-06-01/runtime"
GOAL_SPEEDUP = 10.0
GOAL_RUST_INIT_MS = 10.0
GOAL_RUST_RSS_MIB = 16.0
# The two tables: against the bare emulator, and with an EC2-like latency on
# every AWS call (--aws-latency-ms, through CallCounter).
BARE, LATENCY = "bare", "latency"
TABLES = (BARE, LATENCY)


class BenchFailure(Exception):
    """Something the benchmark cannot carry on from: reported loudly, exit 1."""


# ---------------------------------------------------------------- the emulator


class Emulator:
    """moto in server mode on a free loopback port (it exits when our pipe closes)."""

    def __init__(self, python):
        self.proc = subprocess.Popen(
            [python, str(ROOT / "scripts" / "moto_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        line = self.proc.stdout.readline().decode()
        m = re.fullmatch(r"MOTO_PORT=(\d+)\s*", line)
        if not m:
            self.stop()
            raise BenchFailure(f"unexpected first line from scripts/moto_server.py: {line!r}")
        self.endpoint = f"http://127.0.0.1:{m[1]}"

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class CallCounter:
    """A pass-through proxy in front of the emulator that records which AWS
    operations go through it, and when each started and ended.

    With `latency_ms`, every call is held that long before it is forwarded: a
    network round trip to EC2 (about 30 ms from a Lambda function in the same
    region). The proxy serves each connection on its own thread, so calls a
    function makes at once overlap, and calls that wait on each other add up:
    the time to first result then shows how many rounds of calls a function
    makes, not how fast the emulator answers.

    Used without latency for one untimed run of each side, to check that the
    baseline makes exactly the Rust function's calls; with latency for the
    second table (both runtimes through the same proxy)."""

    HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}

    def __init__(self, upstream, latency_ms=0.0):
        self.upstream = urllib.parse.urlsplit(upstream).netloc
        self.latency_s = latency_ms / 1000
        self.lock = threading.Lock()
        self.calls = Counter()
        self.spans = []  # (operation, start ns, end ns) per call
        self.server = _Server(("127.0.0.1", 0), _ProxyHandler)
        self.server.proxy = self
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="call-counter", daemon=True).start()

    @staticmethod
    def operation(headers, path, body):
        # "Credential=<key>/<date>/<region>/<service>/aws4_request" names the service;
        # query protocols (EC2, STS) name the operation in Action=, JSON ones in X-Amz-Target.
        m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization", ""))
        service = m[1] if m else "?"
        target = headers.get("X-Amz-Target")
        if target:
            return f"{service}:{target.rpartition('.')[2]}"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        if "form-urlencoded" in headers.get("Content-Type", ""):
            query.update(urllib.parse.parse_qs(body.decode(errors="replace")))
        if "Action" in query:
            return f"{service}:{query['Action'][0]}"
        return f"{service}:{urllib.parse.urlsplit(path).path}"

    def take(self):
        """The calls since the last take: (operation counts, rounds, ms
        during which at least one call was in flight)."""
        with self.lock:
            calls, self.calls = self.calls, Counter()
            spans, self.spans = self.spans, []
        n, busy_ns = rounds(spans)
        return calls, n, busy_ns / 1e6

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def rounds(spans):
    """How many rounds the calls came in, and for how long (ns) at least one
    was in flight. Calls that overlap in time are one round; a call that
    starts after every earlier one has ended (it waited for them, or came
    later) starts the next. Meaningful with latency, where every call lasts
    at least that long."""
    n, busy_ns, first, busy_until = 0, 0, None, None
    for _, start, end in sorted(spans, key=lambda s: s[1]):
        if busy_until is None or start >= busy_until:
            if busy_until is not None:
                busy_ns += busy_until - first
            n, first, busy_until = n + 1, start, end
        else:
            busy_until = max(busy_until, end)
    if busy_until is not None:
        busy_ns += busy_until - first
    return n, busy_ns


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    upstream = None

    def log_message(self, *args):
        pass

    def forward(self):
        proxy = self.server.proxy
        start = time.monotonic_ns()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        operation = proxy.operation(self.headers, self.path, body)
        with proxy.lock:
            proxy.calls[operation] += 1
        if proxy.latency_s:
            time.sleep(proxy.latency_s)
        if self.upstream is None:  # one upstream connection per client connection
            self.upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in CallCounter.HOP}
        headers["Content-Length"] = str(len(body))
        self.upstream.request(self.command, self.path, body=body, headers=headers)
        resp = self.upstream.getresponse()
        data = resp.read()
        head = [f"HTTP/1.1 {resp.status} {resp.reason}"]
        head += [f"{k}: {v}" for k, v in resp.getheaders() if k.lower() not in CallCounter.HOP]
        head.append(f"Content-Length: {len(data)}")
        # Recorded before the answer goes out: once the function has its
        # last answer, every span is in.
        with proxy.lock:
            proxy.spans.append((operation, start, time.monotonic_ns()))
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)

    do_GET = do_POST = do_PUT = do_DELETE = forward


# ---------------------------------------------------------------- the fixture


def assume(endpoint, account):
    """Credentials acting as `account` on the emulator (STS AssumeRole)."""
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="peerlink-bench")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
        "AWS_SESSION_TOKEN": c["SessionToken"],
    }


def clients(endpoint, creds, *services):
    import boto3

    session = boto3.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )
    return [session.client(s, endpoint_url=endpoint) for s in services]


def build_fixture(endpoint):
    """The accepter account of the ECS-to-RDS case, its one active peering with
    the requester, and three pending requests from an unlisted account."""
    acc = assume(endpoint, ACCEPTER)
    ec2, kms, sm = clients(endpoint, acc, "ec2", "kms", "secretsmanager")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    tables = []
    for i, cidr in enumerate(("10.1.0.0/24", "10.1.1.0/24")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
        table = ec2.create_route_table(
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": f"db-{i}"}]}],
        )["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        tables.append(table)
    group = ec2.create_security_group(GroupName="db", Description="PostgreSQL (peerlink bench)", VpcId=vpc)["GroupId"]

    # A secret on a customer-managed key, each with a statement of the user's own.
    key = kms.create_key(Description="orders-db (peerlink bench)")["KeyMetadata"]["Arn"]
    kms.put_key_policy(
        KeyId=key,
        PolicyName="default",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Id": "key-default-1",
                "Statement": [
                    {
                        "Sid": "Enable IAM User Permissions",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCEPTER}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "UserKeyAdmins",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCEPTER}:role/key-admin"},
                        "Action": ["kms:Describe*", "kms:Get*"],
                        "Resource": "*",
                    },
                ],
            }
        ),
    )
    secret = sm.create_secret(Name="orders-db", SecretString='{"password":"not-a-real-password"}', KmsKeyId=key)["ARN"]
    sm.put_resource_policy(
        SecretId=secret,
        ResourcePolicy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "UserRotation",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCEPTER}:role/rotation"},
                        "Action": "secretsmanager:*",
                        "Resource": "*",
                    }
                ],
            }
        ),
    )

    (req_ec2,) = clients(endpoint, assume(endpoint, REQUESTER), "ec2")
    req_vpc = req_ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    peering = req_ec2.create_vpc_peering_connection(VpcId=req_vpc, PeerVpcId=vpc, PeerOwnerId=ACCEPTER)
    peering = peering["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=peering)

    (stranger_ec2,) = clients(endpoint, assume(endpoint, STRANGER), "ec2")
    pending = []
    for i in range(3):
        v = stranger_ec2.create_vpc(CidrBlock=f"10.5{i}.0.0/16")["Vpc"]["VpcId"]
        p = stranger_ec2.create_vpc_peering_connection(VpcId=v, PeerVpcId=vpc, PeerOwnerId=ACCEPTER)
        pending.append(p["VpcPeeringConnection"]["VpcPeeringConnectionId"])

    return {
        "credentials": acc,
        "vpc": vpc,
        "route_tables": tables,
        "security_group": group,
        "kms_key": key,
        "secret": secret,
        "requester_vpc": req_vpc,
        "peering": peering,
        "pending": pending,
    }


def accepter_config(f):
    """The accepter account's configuration (the shape of peerlink.example.toml)."""
    return f"""# Written by bench/startup.py: the accepter account {ACCEPTER} of the benchmark.
[settings]
# The unlisted requests stay pending, so the measured runs write nothing.
unmatched_requests = "ignore"
drift_mode = "report"

[[peer]]
name = "orders-ecs"
peer_account = "{REQUESTER}"
peer_vpc = "{f['requester_vpc']}"
allowed_cidrs = ["10.0.0.0/16"]
local_vpc = "{f['vpc']}"
auto_accept = true

[peer.routes]
select = "all"

[[peer.security_group_rules]]
group = "{f['security_group']}"
protocol = "tcp"
ports = 5432

[peer.dns]
remote_resolution = true

[[peer.secrets]]
arn = "{f['secret']}"
principals = ["{TASK_ROLE}"]
kms_key = "{f['kms_key']}"
"""


# ---------------------------------------------------------------- the Lambda Runtime API stand-in


class Invocation:
    """One event handed to one process, and what came back."""

    def __init__(self, function, event):
        self.function = function
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.next_ns = None  # first GET …/next: the end of init
        self.result_ns = None  # the response (or error) POST arrived
        self.response = None
        self.error = None
        self.finished = threading.Event()
        # Set once the process is reaped: releases its second, long-polling GET …/next.
        self.closed = threading.Event()


class RuntimeApi:
    """A threaded HTTP/1.1 server speaking the part of the Runtime API a runtime
    client uses. One per cold start (a fresh port): a stopped process's last
    `GET …/next`, still in a socket buffer when the next process starts, can
    then never take the next process's invocation."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = None
        self.server = _Server(("127.0.0.1", 0), _RuntimeHandler)
        self.server.daemon_threads = True
        self.server.api = self
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True)
        self.thread.start()

    def arm(self, function, event):
        inv = Invocation(function, event)
        with self.lock:
            self.current = inv
        return inv

    def disarm(self, inv):
        inv.closed.set()
        with self.lock:
            if self.current is inv:
                self.current = None

    def take(self):
        """(the invocation to deliver, None) or (None, the one to wait on)."""
        with self.lock:
            inv = self.current
            if inv is not None and inv.next_ns is None:
                inv.next_ns = time.monotonic_ns()
                return inv, None
            return None, inv

    def record(self, request_id, kind, body, error_type):
        now = time.monotonic_ns()
        with self.lock:
            inv = self.current
            if inv is None or inv.finished.is_set():
                return  # nothing armed, or already answered: not this run's result
            if request_id is not None and request_id != inv.request_id:
                kind, body = "error", b"unexpected request id %r: " % request_id.encode() + body
            inv.result_ns = now
            if kind == "response":
                inv.response = body
            else:
                inv.error = {"kind": kind, "type": error_type, "body": body.decode(errors="replace")}
            inv.finished.set()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    # A function opens a connection per call it makes at once (ten for the
    # finisher's round): socketserver's default backlog of 5 would drop some
    # SYNs, and the kernel retries those only after a second.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A stopped process drops its connection: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real endpoint
    # Small writes on a keep-alive connection: without this, Nagle's algorithm
    # and delayed ACKs add tens of milliseconds to a response.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        # Status, headers and body in one write, always with Content-Length.
        head = [f"HTTP/1.1 {code} {HTTPStatus(code).phrase}", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in headers]
        head.append(f"Content-Length: {len(body)}")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        api = self.server.api
        if self.path != f"{RUNTIME_BASE}/invocation/next":
            return self.reply(404, b'{"errorMessage":"unknown path"}')
        inv, waiting = api.take()
        if inv is None:
            # The runtime asks for the next event after answering: hold it, as
            # Lambda does, until the process has been stopped.
            if waiting is not None:
                waiting.closed.wait()
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000) + 60_000
        fn = inv.function
        self.reply(
            200,
            inv.event,
            [
                ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                ("Lambda-Runtime-Invoked-Function-Arn", f"arn:aws:lambda:{REGION}:{ACCEPTER}:function:peerlink-{fn}"),
                ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
            ],
        )

    def do_POST(self):
        api = self.server.api
        body = self.body()
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        m = re.fullmatch(rf"{RUNTIME_BASE}/invocation/([^/]+)/(response|error)", self.path)
        if m:
            api.record(m[1], m[2], body, error_type)
        elif self.path == f"{RUNTIME_BASE}/init/error":
            api.record(None, "init/error", body, error_type)
        else:
            return self.reply(404, b'{"errorMessage":"unknown path"}')
        self.reply(202, b'{"status":"OK"}')


# ---------------------------------------------------------------- one cold start


def tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def become_subreaper():
    """Orphans of our children become our children, so we can wait4 them."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


# Why a shell in between: Linux charges a process's ru_maxrss with the memory
# of the image it replaced at exec. Spawned straight from this process, every
# child would report our own peak (boto3 and all, ~130 MiB). A small shell
# forks the bootstrap and exits; the bootstrap, orphaned, is re-parented to us
# (a subreaper) and its ru_maxrss starts from the shell's ~1.5 MiB. Costs both
# runtimes the same fraction of a millisecond.
LAUNCHER = '"$@" </dev/null >"$0" 2>&1 & echo $!'


def vm_hwm_kib(pid):
    """The peak RSS of the process's current image, as the kernel keeps it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def reap(pid, flags):
    """(status, rusage) once `pid` has ended, None while it runs; (None, None)
    when it is not ours to reap: it ended so fast that the launcher shell
    reaped it before exiting."""
    try:
        done, status, rusage = os.wait4(pid, flags)
    except ChildProcessError:
        return (None, None)
    return (status, rusage) if done else None


def cold_start(api, argv, env, function, event, log_path, timeout):
    """Spawns `argv`, serves it one invocation, stops it: the sample."""
    inv = api.arm(function, event)
    read_end, write_end = os.pipe()
    start = time.monotonic_ns()
    try:
        shell = os.posix_spawn(
            "/bin/sh",
            ["sh", "-c", LAUNCHER, str(log_path), *argv],
            env,
            file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1)],
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as out:
        line = out.readline()
    os.waitpid(shell, 0)  # once the shell is gone, its child is ours
    if not line.strip().isdigit():
        api.disarm(inv)
        raise BenchFailure(f"could not start {argv[0]} (the launcher printed {line!r})")
    pid = int(line)
    reaped, timed_out, hwm = None, False, None
    try:
        give_up = time.monotonic() + timeout
        while not inv.finished.wait(0.02):
            reaped = reap(pid, os.WNOHANG)
            if reaped:
                break
            if time.monotonic() > give_up:
                timed_out = True
                break
        if not reaped:
            hwm = vm_hwm_kib(pid)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            reaped = reap(pid, 0)
    finally:
        if not reaped:  # interrupted: never leave a child behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            reap(pid, 0)
        api.disarm(inv)
    status, rusage = reaped

    what = f"{function} ({' '.join(map(str, argv))})"
    if inv.error is not None:
        raise BenchFailure(
            f"{what} reported a failure on {inv.error['kind']} (type {inv.error['type']}):\n"
            f"{inv.error['body']}\n--- log {log_path} (tail) ---\n{tail(log_path)}"
        )
    if inv.response is None or rusage is None:
        if timed_out:
            how = f"did not answer within {timeout} s"
        elif status is None:
            how = "exited at once (the launcher reaped it)" + ("" if inv.response is None else " after answering")
        else:
            how = f"exited with status {os.waitstatus_to_exitcode(status)} before answering"
        raise BenchFailure(f"{what} {how}\n--- log {log_path} (tail) ---\n{tail(log_path)}")
    try:
        response = json.loads(inv.response)
    except ValueError as e:
        raise BenchFailure(f"{what} answered with something that is not JSON ({e}): {inv.response[:500]!r}") from None
    return {
        "first_result_ms": (inv.result_ns - start) / 1e6,
        "init_ms": (inv.next_ns - start) / 1e6 if inv.next_ns else None,
        "handler_ms": (inv.result_ns - inv.next_ns) / 1e6 if inv.next_ns else None,
        "peak_rss_kib": rusage.ru_maxrss,
        "vm_hwm_kib": hwm,  # cross-check of ru_maxrss, read just before SIGTERM
        "cpu_ms": (rusage.ru_utime + rusage.ru_stime) * 1000,
        "response": response,
    }


# ---------------------------------------------------------------- what both sides saw


def digest(function, response):
    """What a run read and decided, from the Rust report or the baseline's
    (same shape): the decisions on pending requests, the managed peerings, the
    kinds of change it would make, the kinds of finding it reports."""
    d = {}
    requests = {"accepter": response, "drift": response.get("requests")}.get(function)
    reconcile = {"finisher": response, "drift": response.get("reconcile")}.get(function)
    if requests is not None:
        d["decisions"] = sorted([o["peering_id"], o["verdict"]] for o in requests.get("outcomes", []))
    if reconcile is not None:
        d["managed"] = sorted(m["peering"] for m in reconcile.get("managed", []))
        d["actions"] = sorted(a["action"] for a in reconcile.get("actions", []))
        d["findings"] = sorted(f["kind"] for f in reconcile.get("findings", []))
    return d


# ---------------------------------------------------------------- the benchmark


class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.event = EVENT_FILE.read_bytes()
        self.logs = workdir / "logs"
        self.logs.mkdir()
        (workdir / "home").mkdir()
        become_subreaper()

    def env(self, function, endpoint, creds, config_path):
        """What Lambda gives the process (a clean environment, nothing inherited)."""
        home = self.workdir / "home"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            # An empty home: never the developer's ~/.aws, only what Lambda would give.
            "HOME": str(home),
            "AWS_LAMBDA_FUNCTION_NAME": f"peerlink-{function}",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/peerlink-{function}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/20/[$LATEST]0123456789abcdef0123456789abcdef",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PEERLINK_CONFIG_FILE": str(config_path),
            **creds,
        }
        if function == "drift":
            env["PEERLINK_DRIFT_MODE"] = "report"
        return env

    def run(self, function, runtime, label, endpoint=None):
        argv, env = self.commands[function][runtime]
        if endpoint:
            env = {**env, "AWS_ENDPOINT_URL": endpoint}
        log = self.logs / f"{function}-{runtime}-{label}.log"
        api = RuntimeApi()
        try:
            env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address}
            return cold_start(api, argv, env, function, self.event, log, self.args.timeout)
        finally:
            api.stop()

    def count_calls(self, endpoint):
        """One untimed run of each side through the call counter: which AWS
        operations each makes for the event, in what numbers."""
        proxy = CallCounter(endpoint)
        calls = {}
        try:
            for function in self.commands:
                calls[function] = {}
                for runtime in ("rust", "python"):
                    print(f"counting calls: {function} ({runtime})", file=sys.stderr)
                    self.run(function, runtime, "calls", proxy.endpoint)
                    calls[function][runtime] = dict(sorted(proxy.take()[0].items()))
        finally:
            proxy.stop()
        return calls

    def main(self):
        args = self.args
        emu = Emulator(args.python)
        slow = None
        try:
            print(f"emulator: {emu.endpoint}; building the fixture", file=sys.stderr)
            fixture = build_fixture(emu.endpoint)
            config_path = self.workdir / "peerlink.toml"
            config_path.write_text(accepter_config(fixture))
            self.commands = {}
            for function, bootstrap in args.bootstrap.items():
                env = self.env(function, emu.endpoint, fixture["credentials"], config_path)
                py_env = {**env, "_HANDLER": f"handlers.{function}", "LAMBDA_TASK_ROOT": str(BASELINE)}
                self.commands[function] = {
                    "rust": ([str(bootstrap)], env),
                    "python": ([args.python, str(BASELINE / "bootstrap.py")], py_env),
                }
            # One untimed run of each first: the Rust finisher finishes the
            # peering (routes, rule, DNS, policies), after which nothing is
            # left to write; both sides' files are then in the page cache.
            for function in self.commands:
                for runtime in ("rust", "python"):
                    print(f"warm-up: {function} ({runtime})", file=sys.stderr)
                    self.run(function, runtime, "warmup")
            calls = self.count_calls(emu.endpoint)
            # The measured runs: each function and runtime against the bare
            # emulator, then through the latency proxy (which also counts
            # every call of those runs, and the rounds they came in).
            slow = CallCounter(emu.endpoint, args.aws_latency_ms)
            endpoints = {BARE: None, LATENCY: slow.endpoint}
            samples = {t: {f: {"rust": [], "python": []} for f in self.commands} for t in TABLES}
            for i in range(args.runs):
                for j, function in enumerate(self.commands):
                    order = ("rust", "python") if (i + j) % 2 == 0 else ("python", "rust")
                    for table in TABLES:
                        for runtime in order:
                            s = self.run(function, runtime, f"{table}-{i + 1}", endpoints[table])
                            if table == LATENCY:
                                counted, s["rounds"], s["aws_ms"] = slow.take()
                                s["calls"] = dict(sorted(counted.items()))
                            samples[table][function][runtime].append(s)
                            print(
                                f"run {i + 1}/{args.runs} {table:7} {function:8} {runtime:6} "
                                f"{s['first_result_ms']:8.1f} ms  {s['peak_rss_kib'] / 1024:6.1f} MiB"
                                + (f"  {s['rounds']} round(s)" if "rounds" in s else ""),
                                file=sys.stderr,
                            )
            return fixture, calls, samples
        finally:
            if slow is not None:
                slow.stop()
            emu.stop()


def is_read(operation):
    return operation.partition(":")[2].startswith(("Describe", "Get", "List"))


def check(calls, samples):
    """Both runtimes must make the same AWS calls, only reads, in every
    measured run through the latency proxy too; every run of both, in both
    tables, must have seen and decided the same things; and the Rust runs
    must have had nothing left to write (steady state)."""
    problems, digests = [], {}
    for function, by_runtime in calls.items():
        rust, python = by_runtime["rust"], by_runtime["python"]
        if rust != python:
            problems.append(f"{function}: the baseline's AWS calls differ from the Rust function's:\n    rust   {rust}\n    python {python}")
        writes = sorted({op for c in (rust, python) for op in c if not is_read(op)})
        if writes:
            problems.append(f"{function}: a run at steady state wrote: {writes}")
        for runtime, runs in samples[LATENCY][function].items():
            for n, s in enumerate(runs, 1):
                if s["calls"] != rust:
                    problems.append(
                        f"{function}: {runtime} run {n} through the latency proxy made other calls than counted:\n"
                        f"    counted {rust}\n    made    {s['calls']}"
                    )
    for function in calls:
        seen = {}
        for table in TABLES:
            for runtime, runs in samples[table][function].items():
                for n, s in enumerate(runs, 1):
                    key = json.dumps(digest(function, s["response"]), sort_keys=True)
                    seen.setdefault(key, []).append(f"{runtime}#{n} ({table})")
        if len(seen) > 1:
            detail = "\n".join(f"    {', '.join(who)}: {d}" for d, who in seen.items())
            problems.append(f"{function}: the runs disagree on what they read and decided:\n{detail}")
        d = digest(function, samples[BARE][function]["rust"][0]["response"])
        digests[function] = d
        if d.get("actions"):
            problems.append(f"{function}: the Rust function still has changes to make ({d['actions']}): not at steady state")
    return problems, digests


def stats(runs):
    t = [s["first_result_ms"] for s in runs]
    out = {
        "first_result_ms": {"median": statistics.median(t), "min": min(t), "max": max(t)},
        "init_ms_median": statistics.median(s["init_ms"] for s in runs),
        "handler_ms_median": statistics.median(s["handler_ms"] for s in runs),
        "cpu_ms_median": statistics.median(s["cpu_ms"] for s in runs),
        "peak_rss_mib_median": statistics.median(s["peak_rss_kib"] for s in runs) / 1024,
    }
    if all("rounds" in s for s in runs):
        out["rounds_median"] = statistics.median(s["rounds"] for s in runs)
        out["aws_ms_median"] = statistics.median(s["aws_ms"] for s in runs)
        out["calls"] = sum(runs[0]["calls"].values())
    return out


def summarize(samples):
    out = {}
    for function, by_runtime in samples.items():
        rust, python = stats(by_runtime["rust"]), stats(by_runtime["python"])
        speedup = python["first_result_ms"]["median"] / rust["first_result_ms"]["median"]
        out[function] = {
            "rust": rust,
            "python": python,
            "ratio": {
                "first_result": speedup,
                "cpu": python["cpu_ms_median"] / rust["cpu_ms_median"] if rust["cpu_ms_median"] else None,
                "peak_rss": python["peak_rss_mib_median"] / rust["peak_rss_mib_median"],
            },
            "goals": {
                f"first_result_speedup_at_least_{GOAL_SPEEDUP:g}x": speedup >= GOAL_SPEEDUP,
                f"rust_init_below_{GOAL_RUST_INIT_MS:g}_ms": rust["init_ms_median"] < GOAL_RUST_INIT_MS,
                f"rust_peak_rss_below_{GOAL_RUST_RSS_MIB:g}_mib": rust["peak_rss_mib_median"] < GOAL_RUST_RSS_MIB,
            },
        }
    return out


def print_header(runs, machine):
    print()
    print(f"peerlink cold starts through the Lambda Runtime API: {runs} run(s) per function, runtime and table")
    print(
        f"machine: {machine['nproc']} CPU(s) ({machine['cpu']}), load {machine['loadavg_start'][0]:.1f} "
        f"-> {machine['loadavg_end'][0]:.1f}; "
        f"Python {machine['python']}, boto3 {machine['boto3']}; moto {machine['moto']} on loopback"
    )


def print_table(title, summary):
    print()
    print(title)
    print()
    with_rounds = all("rounds_median" in s["rust"] for s in summary.values())
    cols = f"{'first result ms':>15} {'[min - max]':>19} {'init ms':>8} {'handler ms':>10} {'CPU ms':>8} {'peak RSS MiB':>12}"
    if with_rounds:
        cols += f" {'calls':>5} {'rounds':>6} {'AWS ms':>7}"
    head = f"{'function':9} {'runtime':11} {cols}"
    print(head)
    print("-" * len(head))
    for function, s in summary.items():
        for runtime in ("rust", "python"):
            r = s[runtime]
            t = r["first_result_ms"]
            span = f"[{t['min']:.1f} - {t['max']:.1f}]"
            line = (
                f"{function if runtime == 'rust' else '':9} {runtime:11} {t['median']:15.1f} {span:>19} "
                f"{r['init_ms_median']:8.1f} {r['handler_ms_median']:10.1f} {r['cpu_ms_median']:8.1f} "
                f"{r['peak_rss_mib_median']:12.1f}"
            )
            if with_rounds:
                line += f" {r['calls']:5} {r['rounds_median']:6g} {r['aws_ms_median']:7.1f}"
            print(line)
        ratio = s["ratio"]
        cpu = f"{ratio['cpu']:.1f}x" if ratio["cpu"] else "-"
        print(
            f"{'':9} {'python/rust':11} {ratio['first_result']:14.1f}x {'':19} {'':8} {'':10} {cpu:>8} "
            f"{ratio['peak_rss']:11.1f}x"
        )
    if with_rounds:
        print(
            "calls and rounds per run through the proxy (calls that overlap in time are one round); "
            "AWS ms: time with a call in flight, latency included"
        )
    print()
    print(
        f"goals (shown, not asserted): >= {GOAL_SPEEDUP:g}x faster to first result; "
        f"Rust init < {GOAL_RUST_INIT_MS:g} ms; Rust peak RSS < {GOAL_RUST_RSS_MIB:g} MiB"
    )
    for function, s in summary.items():
        fast, quick, small = s["goals"].values()
        print(
            f"  {function:9} {s['ratio']['first_result']:5.1f}x {'met' if fast else 'NOT met':8} "
            f"{s['rust']['init_ms_median']:5.1f} ms {'met' if quick else 'NOT met':8} "
            f"{s['rust']['peak_rss_mib_median']:5.1f} MiB {'met' if small else 'NOT met'}"
        )


def print_calls(calls):
    print()
    print("AWS calls per invocation (counted on one untimed run of each side)")
    for function, by_runtime in calls.items():
        same = "same in the baseline" if by_runtime["rust"] == by_runtime["python"] else "BASELINE DIFFERS"
        ops = ", ".join(f"{op.partition(':')[2]}" + (f" x{n}" if n > 1 else "") for op, n in by_runtime["rust"].items())
        print(f"  {function:9} {sum(by_runtime['rust'].values()):2} calls ({same}): {ops}")
    print()


def machine_info(python):
    def version(dist):
        out = subprocess.run(
            [python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() or "?"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    baseline_python = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": baseline_python,
        "boto3": version("boto3"),
        "botocore": version("botocore"),
        "moto": version("moto"),
    }


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--bootstrap",
        action="append",
        required=True,
        metavar="FUNCTION=PATH",
        help="a function's bootstrap (accepter, finisher, drift); repeat for each",
    )
    p.add_argument("--runs", type=int, default=5, help="cold starts per function and runtime (default 5)")
    p.add_argument("--json", type=Path, help="write the figures and raw samples here")
    p.add_argument(
        "--python",
        default=str(ROOT / ".tools" / "venv" / "bin" / "python"),
        help="interpreter for the baseline and the emulator (default: the project venv)",
    )
    p.add_argument(
        "--aws-latency-ms",
        type=float,
        default=30.0,
        help="latency held on every AWS call for the second table (default 30, about EC2's from Lambda)",
    )
    p.add_argument("--timeout", type=float, default=120, help="seconds a cold start may take (default 120)")
    p.add_argument("--keep-logs", action="store_true", help="keep the work directory (logs, config) on success")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.aws_latency_ms <= 0:
        p.error("--aws-latency-ms must be positive")
    bootstraps = {}
    for item in args.bootstrap:
        name, sep, path = item.partition("=")
        if not sep or name not in FUNCTIONS:
            p.error(f"--bootstrap {item!r}: expected FUNCTION=PATH with FUNCTION one of {', '.join(FUNCTIONS)}")
        path = Path(path).resolve()
        if not (path.is_file() and os.access(path, os.X_OK)):
            p.error(f"--bootstrap {item!r}: {path} is not an executable file (cargo build --workspace --bins?)")
        bootstraps[name] = path
    args.bootstrap = {f: bootstraps[f] for f in FUNCTIONS if f in bootstraps}
    if not os.access(args.python, os.X_OK):
        p.error(f"{args.python} not found: run scripts/setup.sh first")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        import boto3  # noqa: F401  (the fixture is built with it)
    except ImportError:
        sys.exit("bench/startup.py needs boto3: run it with .tools/venv/bin/python (after scripts/setup.sh)")
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(var, None)  # the fixture's clients take explicit credentials only

    load_start = os.getloadavg()  # other work on the machine skews both runtimes: recorded
    workdir = Path(tempfile.mkdtemp(prefix="peerlink-startup-"))
    ok = False
    try:
        bench = Bench(args, workdir)
        try:
            fixture, calls, samples = bench.main()
        except BenchFailure as e:
            print(f"\nFAILED: {e}", file=sys.stderr)
            return 1
        problems, digests = check(calls, samples)
        summaries = {t: summarize(samples[t]) for t in TABLES}
        machine = machine_info(args.python)
        machine["loadavg_start"], machine["loadavg_end"] = load_start, os.getloadavg()
        titles = {
            BARE: "Bare emulator (moto answers each call in a few ms; every function waits on it alike)",
            LATENCY: (
                f"With {args.aws_latency_ms:g} ms of EC2-like latency on every AWS call (both runtimes through "
                "the same proxy; calls made at once overlap, calls that wait on each other add up)"
            ),
        }
        print_header(args.runs, machine)
        for t in TABLES:
            print_table(titles[t], summaries[t])
        print_calls(calls)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            doc = {
                "benchmark": "startup",
                "measured": "spawn to response POST through the Lambda Runtime API; ru_maxrss; rusage CPU",
                "machine": machine,
                "runs": args.runs,
                "event": str(EVENT_FILE.relative_to(ROOT)),
                "bootstraps": {
                    f: {"path": str(p), "bytes": p.stat().st_size} for f, p in args.bootstrap.items()
                },
                "goals": {
                    "first_result_speedup": GOAL_SPEEDUP,
                    "rust_init_ms": GOAL_RUST_INIT_MS,
                    "rust_peak_rss_mib": GOAL_RUST_RSS_MIB,
                },
                "fixture": {k: v for k, v in fixture.items() if k != "credentials"},
                "aws_calls_per_invocation": calls,
                "seen": digests,
                "tables": {
                    t: {
                        "title": titles[t],
                        "aws_latency_ms": args.aws_latency_ms if t == LATENCY else 0,
                        "summary": summaries[t],
                        "samples": {
                            f: {
                                rt: [{k: v for k, v in s.items() if k != "response"} for s in runs]
                                for rt, runs in by.items()
                            }
                            for f, by in samples[t].items()
                        },
                    }
                    for t in TABLES
                },
                "problems": problems,
            }
            args.json.write_text(json.dumps(doc, indent=2) + "\n")
            print(f"wrote {args.json}")
        if problems:
            print("FAILED:\n" + "\n".join(problems), file=sys.stderr)
            return 1
        ok = True
        return 0
    finally:
        if ok and not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory (config, logs): {workdir}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
