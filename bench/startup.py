#!/usr/bin/env python3
"""Start-up and memory benchmark: peerlink's Rust bootstraps against a boto3 baseline.

Each function is started cold, as Lambda starts it, behind a stand-in of the
Lambda Runtime API (bench/coldstart.py: time to first result, init, handler,
peak RSS, CPU). Both act as the accepter account of a realistic fixture on
the emulator (moto, scripts/moto_server.py), at steady state: the measured
runs read and write nothing. The Python baseline (bench/baseline/: a minimal
runtime client and a boto3 replay) makes the Rust function's calls: one Rust
run of each function is recorded on the counting proxy
(scripts/fault_proxy.py, every call held --aws-latency-ms, so its rounds are
plain), and the baseline sends the same requests in the same rounds, deciding
nothing itself. Rust and Python runs alternate, so machine noise hits both.

    .tools/venv/bin/python bench/startup.py \\
        --bootstrap accepter=target/debug/accepter \\
        --bootstrap finisher=target/debug/finisher \\
        --bootstrap drift=target/debug/drift --runs 5 --json results/startup.json

Each run goes once against the bare emulator (a few ms a call: start-up and
CPU dominate) and once through the proxy (calls made at once overlap, calls
that wait on each other add up, so the time to first result shows the
rounds). Exits non-zero when an invocation fails, when the recorded run
writes (not at steady state), or when any run through the proxy, of either
side, makes other requests or rounds than the recorded one. The goals (>= 10x
faster to first result, Rust init < 10 ms, Rust peak RSS < 16 MiB) are
shown, not asserted: machines are noisy.
"""

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from coldstart import BenchFailure, become_subreaper, cold_start
from loopback import is_read  # on the path coldstart set

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "bench" / "baseline"
EVENT_FILE = ROOT / "events" / "scheduled.json"
FUNCTIONS = ("accepter", "finisher", "drift")
REGION = "eu-west-1"
ACCEPTER, REQUESTER, STRANGER = "222222222222", "111111111111", "333333333333"
TASK_ROLE = f"arn:aws:iam::{REQUESTER}:role/orders-task"
GOALS = {"speedup": 10.0, "rust_init_ms": 10.0, "rust_rss_mib": 16.0}
# The two tables: against the bare emulator, and through the proxy's latency.
BARE, LATENCY = "bare", "latency"
TABLES = (BARE, LATENCY)


# ---------------------------------------------------------------- the emulator and the counting proxy


class Helper:
    """One of scripts/: announces "<KEY>=<port>" first, exits when its stdin closes."""

    def __init__(self, python, script, key, *args):
        self.proc = subprocess.Popen(
            [python, str(ROOT / "scripts" / script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        line = self.proc.stdout.readline().decode()
        m = re.fullmatch(rf"{key}=(\d+)\s*", line)
        if not m:
            self.stop()
            raise BenchFailure(f"unexpected first line from scripts/{script}: {line!r}")
        self.port = int(m[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class Proxy(Helper):
    """scripts/fault_proxy.py in front of the emulator, no faults: every call
    held `latency_ms` (a network round trip to EC2 is about 30 ms from a
    Lambda function in the same region) and logged with its parameters."""

    def __init__(self, python, upstream, latency_ms):
        config = json.dumps({"latency_ms": latency_ms, "record": True})
        super().__init__(python, "fault_proxy.py", "PROXY_PORT", "--upstream", upstream, "--config", config)

    def take(self):
        """The calls logged since the last take, in the order they started."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/__proxy/calls")
        calls = json.loads(conn.getresponse().read())
        conn.request("POST", "/__proxy/reset", body=b"")
        conn.getresponse().read()
        conn.close()
        return sorted(calls, key=lambda c: c["start_ns"])


def dependent_rounds(calls):
    """Rounds as peerlink counts them (ARCHITECTURE.md, "Words";
    shared/src/aws/calls.rs): the longest chain of calls each of which
    started after the previous one ended."""
    spans = sorted((c["start_ns"], c["end_ns"]) for c in calls)
    depth = []
    for i, (start, _) in enumerate(spans):
        depth.append(1 + max((depth[j] for j in range(i) if spans[j][1] <= start), default=0))
    return max(depth, default=0)


def rounds(calls):
    """The calls grouped as the replay sends them, and for how long (ms) at
    least one was in flight: calls that overlap in time go out together; a
    call that starts after every earlier one has ended (it waited for them)
    starts the next group. With latency, where every call lasts at least
    that long, there are as many groups as dependent rounds."""
    groups, busy_ns, first, until = [], 0, None, None
    for c in calls:  # sorted by start
        if until is None or c["start_ns"] >= until:
            if until is not None:
                busy_ns += until - first
            groups.append([])
            first, until = c["start_ns"], c["end_ns"]
        groups[-1].append(c)
        until = max(until, c["end_ns"])
    if until is not None:
        busy_ns += until - first
    return groups, busy_ns / 1e6


def operation(call):
    return f"{call['service']}:{call['action']}"


def requests(groups):
    """What a run asked, round by round (each round's requests in a stable order)."""
    return [sorted(json.dumps([operation(c), c["params"]], sort_keys=True) for c in g) for g in groups]


# ---------------------------------------------------------------- the fixture


def clients(endpoint, account, *services):
    """Clients acting as `account` on the emulator (STS AssumeRole), and its credentials."""
    import boto3

    keys = {"region_name": REGION, "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    sts = boto3.client("sts", endpoint_url=endpoint, **keys)
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="peerlink-bench")["Credentials"]
    creds = {
        "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
        "AWS_SESSION_TOKEN": c["SessionToken"],
    }
    session = boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=REGION,
    )
    return creds, [session.client(s, endpoint_url=endpoint) for s in services]


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(sid, principal, action):
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": "*"}


def build_fixture(endpoint):
    """The accepter account of the ECS-to-RDS case, its one active peering with
    the requester, and three pending requests from an unlisted account."""
    acc, (ec2, kms, sm) = clients(endpoint, ACCEPTER, "ec2", "kms", "secretsmanager")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    tables = []
    for i, cidr in enumerate(("10.1.0.0/24", "10.1.1.0/24")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
        tags = [{"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": f"db-{i}"}]}]
        table = ec2.create_route_table(VpcId=vpc, TagSpecifications=tags)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        tables.append(table)
    group = ec2.create_security_group(GroupName="db", Description="PostgreSQL (peerlink bench)", VpcId=vpc)["GroupId"]

    # A secret on a customer-managed key, each with a statement of the user's own.
    key = kms.create_key(Description="orders-db (peerlink bench)")["KeyMetadata"]["Arn"]
    admin = allow("UserKeyAdmins", f"arn:aws:iam::{ACCEPTER}:role/key-admin", ["kms:Describe*", "kms:Get*"])
    root = allow("Enable IAM User Permissions", f"arn:aws:iam::{ACCEPTER}:root", "kms:*")
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy(root, admin))
    secret = sm.create_secret(Name="orders-db", SecretString='{"password":"not-a-real-password"}', KmsKeyId=key)
    rotation = allow("UserRotation", f"arn:aws:iam::{ACCEPTER}:role/rotation", "secretsmanager:*")
    sm.put_resource_policy(SecretId=secret["ARN"], ResourcePolicy=policy(rotation))

    _, (req_ec2,) = clients(endpoint, REQUESTER, "ec2")
    req_vpc = req_ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    peering = req_ec2.create_vpc_peering_connection(VpcId=req_vpc, PeerVpcId=vpc, PeerOwnerId=ACCEPTER)
    peering = peering["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=peering)

    _, (stranger_ec2,) = clients(endpoint, STRANGER, "ec2")
    pending = []
    for i in range(3):
        v = stranger_ec2.create_vpc(CidrBlock=f"10.5{i}.0.0/16")["Vpc"]["VpcId"]
        p = stranger_ec2.create_vpc_peering_connection(VpcId=v, PeerVpcId=vpc, PeerOwnerId=ACCEPTER)
        pending.append(p["VpcPeeringConnection"]["VpcPeeringConnectionId"])

    ids = {"vpc": vpc, "route_tables": tables, "security_group": group, "kms_key": key, "secret": secret["ARN"]}
    return acc, {**ids, "requester_vpc": req_vpc, "peering": peering, "pending": pending}



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


# ---------------------------------------------------------------- the benchmark


def digest(function, response):
    """What a Rust run read and decided: the decisions on pending requests,
    the managed peerings, the kinds of change it would make and of finding."""
    d = {}
    requests_ = {"accepter": response, "drift": response.get("requests")}.get(function)
    reconcile = {"finisher": response, "drift": response.get("reconcile")}.get(function)
    if requests_ is not None:
        d["decisions"] = sorted([o["peering_id"], o["verdict"]] for o in requests_.get("outcomes", []))
    if reconcile is not None:
        d["managed"] = sorted(m["peering"] for m in reconcile.get("managed", []))
        d["actions"] = sorted(a["action"] for a in reconcile.get("actions", []))
        d["findings"] = sorted(f["kind"] for f in reconcile.get("findings", []))
    return d


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
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            # An empty home: never the developer's ~/.aws, only what Lambda would give.
            "HOME": str(self.workdir / "home"),
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
            **({"PEERLINK_DRIFT_MODE": "report"} if function == "drift" else {}),
            **creds,
        }

    def run(self, function, runtime, label, endpoint=None):
        argv, env = self.commands[function][runtime]
        if endpoint:
            env = {**env, "AWS_ENDPOINT_URL": endpoint}
        log = self.logs / f"{function}-{runtime}-{label}.log"
        arn = f"arn:aws:lambda:{REGION}:{ACCEPTER}:function:peerlink-{function}"
        return cold_start(argv, env, self.event, arn, log, self.args.timeout)

    def record(self, function):
        """One untimed Rust run through the proxy, written out for the
        baseline to replay; then one untimed baseline run through it."""
        print(f"recording: {function} (rust), then its replay (python)", file=sys.stderr)
        self.run(function, "rust", "record", self.proxy.endpoint)
        groups, _ = rounds(self.proxy.take())
        keep = ("service", "action", "params", "status")
        replay = [[{k: c[k] for k in keep} for c in g] for g in groups]
        (self.workdir / f"replay-{function}.json").write_text(json.dumps({"rounds": replay}, indent=1))
        self.run(function, "python", "record", self.proxy.endpoint)
        replayed, _ = rounds(self.proxy.take())
        return groups, replayed

    def main(self):
        args = self.args
        emu = Helper(args.python, "moto_server.py", "MOTO_PORT")
        self.proxy = None
        try:
            print(f"emulator: {emu.endpoint}; building the fixture", file=sys.stderr)
            creds, fixture = build_fixture(emu.endpoint)
            config_path = self.workdir / "peerlink.toml"
            config_path.write_text(accepter_config(fixture))
            self.commands = {}
            for function, bootstrap in args.bootstrap.items():
                env = self.env(function, emu.endpoint, creds, config_path)
                py_env = {
                    **env,
                    "_HANDLER": "replay.handler",
                    "LAMBDA_TASK_ROOT": str(BASELINE),
                    "PEERLINK_REPLAY": str(self.workdir / f"replay-{function}.json"),
                }
                self.commands[function] = {
                    "rust": ([str(bootstrap)], env),
                    "python": ([args.python, str(BASELINE / "bootstrap.py")], py_env),
                }
            # One untimed Rust run of each first: the finisher finishes the
            # peering (routes, rule, DNS, policies), after which nothing is
            # left to write; the files are then in the page cache.
            for function in self.commands:
                print(f"warm-up: {function} (rust)", file=sys.stderr)
                self.run(function, "rust", "warmup")
            self.proxy = Proxy(args.python, emu.endpoint, args.aws_latency_ms)
            recorded = {f: self.record(f) for f in self.commands}
            # The measured runs: each function and runtime against the bare
            # emulator, then through the proxy (which logs every call).
            endpoints = {BARE: None, LATENCY: self.proxy.endpoint}
            samples = {t: {f: {"rust": [], "python": []} for f in self.commands} for t in TABLES}
            for i in range(args.runs):
                for j, function in enumerate(self.commands):
                    order = ("rust", "python") if (i + j) % 2 == 0 else ("python", "rust")
                    for table in TABLES:
                        for runtime in order:
                            s = self.run(function, runtime, f"{table}-{i + 1}", endpoints[table])
                            if table == LATENCY:
                                calls = self.proxy.take()
                                groups, s["aws_ms"] = rounds(calls)
                                s["rounds"] = dependent_rounds(calls)
                                s["calls"] = dict(sorted(Counter(operation(c) for g in groups for c in g).items()))
                                s["requests"] = requests(groups)
                            samples[table][function][runtime].append(s)
                            print(
                                f"run {i + 1}/{args.runs} {table:7} {function:8} {runtime:6} "
                                f"{s['first_result_ms']:8.1f} ms  {s['peak_rss_kib'] / 1024:6.1f} MiB"
                                + (f"  {s['rounds']} round(s)" if "rounds" in s else ""),
                                file=sys.stderr,
                            )
            return fixture, recorded, samples
        finally:
            if self.proxy is not None:
                self.proxy.stop()
            emu.stop()


def same_rounds(want, got):
    """The same requests in the same rounds: `got` may split a recorded round
    in two (on a loaded machine a thread can start its call after another of
    the same round has already ended: no dependency, only a late start), but
    never merges two rounds, reorders them, or asks anything else."""
    index = {}
    for n, calls in enumerate(want):
        for c in calls:
            index.setdefault(c, set()).add(n)
    at = 0
    for calls in got:
        rounds = set.intersection(*(index.get(c, set()) for c in calls)) if calls else set()
        later = sorted(r for r in rounds if r >= at)
        if not later:
            return False
        at = later[0]
    return sorted(c for g in want for c in g) == sorted(c for g in got for c in g)


def check(recorded, samples):
    """The recorded Rust run must only read (steady state); the baseline's
    replay and every run through the proxy, of either side, must make the same
    requests in the same rounds; every Rust run must have seen and decided the
    same things, with nothing left to change."""
    problems = []
    for function, (groups, replayed) in recorded.items():
        want = requests(groups)
        writes = sorted({operation(c) for g in groups for c in g if not is_read(c["action"])})
        if writes:
            problems.append(f"{function}: a run at steady state wrote: {writes}")
        runs = [("python replay", requests(replayed))]
        runs += [(f"{rt} run {n}", s["requests"]) for rt, ss in samples[LATENCY][function].items() for n, s in enumerate(ss, 1)]
        for who, got in runs:
            if not same_rounds(want, got):
                problems.append(
                    f"{function}: the {who} made other requests or rounds than the recorded Rust run:\n"
                    f"    recorded {json.dumps(want)}\n    made     {json.dumps(got)}"
                )
        seen = {}
        for table in TABLES:
            for n, s in enumerate(samples[table][function]["rust"], 1):
                seen.setdefault(json.dumps(digest(function, s["response"]), sort_keys=True), []).append(f"#{n} ({table})")
        if len(seen) > 1:
            detail = "\n".join(f"    {', '.join(who)}: {d}" for d, who in seen.items())
            problems.append(f"{function}: the Rust runs disagree on what they read and decided:\n{detail}")
        actions = digest(function, samples[BARE][function]["rust"][0]["response"]).get("actions")
        if actions:
            problems.append(f"{function}: the Rust function still has changes to make ({actions}): not at steady state")
    return problems


def stats(runs):
    med = lambda key: statistics.median(s[key] for s in runs)  # noqa: E731
    t = [s["first_result_ms"] for s in runs]
    out = {"first_result_ms": med("first_result_ms"), "min_ms": min(t), "max_ms": max(t)}
    out.update({k: med(k) for k in ("init_ms", "handler_ms", "cpu_ms")}, peak_rss_mib=med("peak_rss_kib") / 1024)
    if "rounds" in runs[0]:
        out.update(rounds=med("rounds"), aws_ms=med("aws_ms"), calls=sum(runs[0]["calls"].values()))
    return out


def summarize(samples):
    """Medians per table, function and runtime, and boto3/Rust ratios."""
    out = {}
    for table, by_function in samples.items():
        for function, by_runtime in by_function.items():
            rust, python = stats(by_runtime["rust"]), stats(by_runtime["python"])
            ratio = {k: python[k] / rust[k] if rust[k] else None for k in ("first_result_ms", "cpu_ms", "peak_rss_mib")}
            out.setdefault(function, {})[table] = {"rust": rust, "python": python, "ratio": ratio}
    return out


def print_summary(summary, latency_ms):
    """One row per function, in the shape of docs/performance.md's table (medians; ms unless marked)."""
    cols = ["function", "bare: Rust / boto3", "ratio", f"{latency_ms:g} ms per call: Rust / boto3", "ratio",
            "Rust init", "CPU: Rust / boto3", "peak RSS MiB: Rust / boto3", "calls", "rounds"]
    rows = []
    for function, t in summary.items():
        bare, slow = t[BARE], t[LATENCY]
        pair = lambda x, k, f="{:.1f}": f"{f.format(x['rust'][k])} / {f.format(x['python'][k])}"  # noqa: E731
        rows.append([
            function, pair(bare, "first_result_ms"), f"{bare['ratio']['first_result_ms']:.1f}x",
            pair(slow, "first_result_ms"), f"{slow['ratio']['first_result_ms']:.1f}x",
            f"{bare['rust']['init_ms']:.1f}", pair(bare, "cpu_ms"), pair(bare, "peak_rss_mib"),
            str(slow["rust"]["calls"]), f"{slow['rust']['rounds']:g}",
        ])
    widths = [max(len(r[i]) for r in [cols, *rows]) for i in range(len(cols))]
    for r in [cols, ["-" * w for w in widths], *rows]:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    g = GOALS
    print(f"\ngoals (shown, not asserted): >= {g['speedup']:g}x faster to first result (bare); "
          f"Rust init < {g['rust_init_ms']:g} ms; Rust peak RSS < {g['rust_rss_mib']:g} MiB")
    for function, t in summary.items():
        r = t[BARE]
        met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
        print(f"  {function:9} {r['ratio']['first_result_ms']:5.1f}x {met(r['ratio']['first_result_ms'] >= g['speedup']):8}"
              f"{r['rust']['init_ms']:5.1f} ms {met(r['rust']['init_ms'] < g['rust_init_ms']):8}"
              f"{r['rust']['peak_rss_mib']:5.1f} MiB {met(r['rust']['peak_rss_mib'] < g['rust_rss_mib'])}")
    print("calls and dependent rounds per run through the proxy (a round: calls made at once; see ARCHITECTURE.md, Words)")


def print_calls(recorded):
    print("\nAWS calls per invocation (recorded on the Rust run; the baseline replays them)")
    for function, (groups, _) in recorded.items():
        ops = Counter(operation(c).partition(":")[2] for g in groups for c in g)
        listed = ", ".join(op + (f" x{n}" if n > 1 else "") for op, n in sorted(ops.items()))
        print(f"  {function:9} {sum(ops.values()):2} calls in {len(groups)} round(s): {listed}")
    print()


def machine_info(python):
    def ask(code):
        return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip() or "?"

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    version = "import importlib.metadata as m; print(m.version({!r}))".format
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu": cpu[1].strip() if cpu else "?",
        "kernel": platform.release(),
        "python": ask("import platform; print(platform.python_version())"),
        **{dist: ask(version(dist)) for dist in ("boto3", "botocore", "moto")},
    }


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", action="append", required=True, metavar="FUNCTION=PATH",
                   help="a function's bootstrap (accepter, finisher, drift); repeat for each")
    p.add_argument("--runs", type=int, default=5, help="cold starts per function and runtime (default 5)")
    p.add_argument("--json", type=Path, help="write the figures and raw samples here")
    p.add_argument("--python", default=str(ROOT / ".tools" / "venv" / "bin" / "python"),
                   help="interpreter for the baseline, the emulator and the proxy (default: the project venv)")
    p.add_argument("--aws-latency-ms", type=float, default=30.0,
                   help="latency held on every AWS call through the proxy (default 30, about EC2's from Lambda)")
    p.add_argument("--timeout", type=float, default=120, help="seconds a cold start may take (default 120)")
    p.add_argument("--keep-logs", action="store_true", help="keep the work directory (logs, config, replays) on success")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.aws_latency_ms <= 0:
        p.error("--aws-latency-ms must be positive (the rounds are told apart by it)")
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


def report(args, machine, fixture, recorded, samples, problems):
    """Prints the table; writes the JSON document when asked."""
    summary = summarize(samples)
    print(f"\npeerlink cold starts through the Lambda Runtime API: {args.runs} run(s) per function, runtime and table")
    print(f"machine: {machine['nproc']} CPU(s) ({machine['cpu']}), load {machine['loadavg_start'][0]:.1f} "
          f"-> {machine['loadavg_end'][0]:.1f}; Python {machine['python']}, boto3 {machine['boto3']}; "
          f"moto {machine['moto']} on loopback\n")
    print_summary(summary, args.aws_latency_ms)
    print_calls(recorded)
    if not args.json:
        return
    strip = lambda s: {k: v for k, v in s.items() if k not in ("response", "requests")}  # noqa: E731
    doc = {
        "benchmark": "startup",
        "measured": "spawn to response POST through the Lambda Runtime API; ru_maxrss; rusage CPU",
        "machine": machine,
        "runs": args.runs,
        "aws_latency_ms": args.aws_latency_ms,
        "event": str(EVENT_FILE.relative_to(ROOT)),
        "bootstraps": {f: {"path": str(p), "bytes": p.stat().st_size} for f, p in args.bootstrap.items()},
        "goals": GOALS,
        "fixture": fixture,
        "aws_calls_per_invocation": {
            f: {"rounds": len(g), "calls": dict(Counter(operation(c) for r in g for c in r))}
            for f, (g, _) in recorded.items()
        },
        "seen": {f: digest(f, samples[BARE][f]["rust"][0]["response"]) for f in recorded},
        "summary": summary,
        "samples": {t: {f: {rt: [strip(s) for s in runs] for rt, runs in by.items()} for f, by in samples[t].items()}
                    for t in TABLES},
        "problems": problems,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.json}")


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
        try:
            fixture, recorded, samples = Bench(args, workdir).main()
        except BenchFailure as e:
            print(f"\nFAILED: {e}", file=sys.stderr)
            return 1
        problems = check(recorded, samples)
        machine = machine_info(args.python)
        machine["loadavg_start"], machine["loadavg_end"] = load_start, os.getloadavg()
        report(args, machine, fixture, recorded, samples, problems)
        if problems:
            print("FAILED:\n" + "\n".join(problems), file=sys.stderr)
            return 1
        ok = True
        return 0
    finally:
        if ok and not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory (config, replays, logs): {workdir}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
