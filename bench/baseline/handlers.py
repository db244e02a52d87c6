"""The boto3 baseline of peerlink's three functions, for bench/startup.py.

Each handler makes the same AWS reads as the Rust function does for a
scheduled event, in the same rounds (shared/src/accepter/mod.rs,
reconcile/observe.rs, drift.rs), and makes the same decisions on what it read
(decision/, routing.rs, reconcile/plan/, reconcile/policy.rs), so the
start-up benchmark compares like with like: a fair, idiomatic Python Lambda,
not a sleep. Calls the Rust side makes at once (tokio::join!, buffer_unordered)
run here at once too, on threads. It never writes: on the benchmark's
fixture, at steady state, the Rust functions do not write either, and the
benchmark checks that both sides saw and decided the same things.

The result mirrors the shape of the Rust reports (outcomes / managed / actions
/ findings), so one digest function reads both.

Clients use boto3's defaults (retries, timeouts, AWS_ENDPOINT_URL), as a plain
Lambda function would.
"""

import functools
import ipaddress
import json
import os
import re
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor

# At module level, as in any Lambda function: importing boto3 is part of the cold start.
import boto3
from botocore.exceptions import ClientError

GONE = {"deleting", "deleted", "rejected", "failed", "expired"}
ESTABLISHED = {"active", "provisioning"}
LIVE_REQUEST = {"initiating-request", "pending-acceptance", "provisioning", "active"}
ACCOUNT_RE = re.compile(r"^\d{12}$")
PCX_RE = re.compile(r"^pcx-([0-9a-f]{8}|[0-9a-f]{17})$")
READ_SID, DECRYPT_SID = "PeerlinkRead", "PeerlinkDecrypt"
MANAGED_TAG, ENTRY_TAG = "peerlink:managed", "peerlink:entry"
SECRET_POLICY_MAX, KEY_POLICY_MAX = 20_480, 32_768
FILTER_VALUES_MAX = 200
# As observe.rs: enough for one round in any sane configuration, bounded.
READ_CONCURRENCY = 64


class ConfigError(Exception):
    pass


# ---------------------------------------------------------------- clients and identity


@functools.cache
def client(service):
    # One client per service per process (created on first use, kept warm).
    # Clients are thread-safe once made; they are all made before any pool.
    return boto3.client(service)


_ACCOUNT = []  # who we are, found once per process


def account_of_function_arn(arn):
    """arn:aws:lambda:REGION:ACCOUNT:function:NAME -> ACCOUNT (no STS call needed)."""
    parts = (arn or "").split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "lambda" and parts[5] == "function":
        if ACCOUNT_RE.match(parts[4]):
            return parts[4]
    return None


def identity(context):
    """The account from the invoked function's ARN (STS only where it is
    absent), the region from the environment, as lambda.rs does."""
    if not _ACCOUNT:
        account = account_of_function_arn(context.get("invoked_function_arn"))
        if account is None:
            account = client("sts").get_caller_identity()["Account"]
        _ACCOUNT.append(account)
    region = client("ec2").meta.region_name
    if not region:
        raise ConfigError("no AWS region is configured (set AWS_REGION)")
    return {"account": _ACCOUNT[0], "region": region}


def log(kind, /, **fields):
    # One JSON line per decision / action / finding, like the Rust functions.
    print(json.dumps({"level": "INFO", "event": kind, "fields": fields}, default=str))


# ---------------------------------------------------------------- configuration


def config_net(text, where):
    # strict: a range with host bits set is a configuration error, as in the Rust loader.
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None


def ports_of(value):
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    a, _, b = str(value).partition("-")
    return (int(a), int(b or a))


def arn_parts(arn):
    # arn:partition:service:region:account:resource
    parts = arn.split(":", 5)
    if len(parts) < 6:
        raise ConfigError(f"invalid ARN {arn!r}")
    return {"region": parts[3], "account": parts[4]}


def parse_config(text):
    doc = tomllib.loads(text)
    settings = doc.get("settings", {})
    cfg = {
        "unmatched_requests": settings.get("unmatched_requests", "reject"),
        "drift_mode": settings.get("drift_mode", "report"),
        "write_concurrency": int(settings.get("write_concurrency", 16)),
        "routes_per_route_table": int(settings.get("routes_per_route_table", 50)),
        "rules_per_security_group": int(settings.get("rules_per_security_group", 60)),
        "request_retry_hours": int(settings.get("request_retry_hours", 24)),
        "peers": [],
    }
    if cfg["unmatched_requests"] not in ("reject", "ignore"):
        raise ConfigError("settings.unmatched_requests: expected reject or ignore")
    names = set()
    for i, raw in enumerate(doc.get("peer", [])):
        where = f"peer[{i}]"
        name = raw["name"]
        if name in names:
            raise ConfigError(f"{where}: duplicate name {name!r}")
        names.add(name)
        if not ACCOUNT_RE.match(raw["peer_account"]):
            raise ConfigError(f"{where}.peer_account: not 12 digits")
        routes = raw.get("routes", {})
        dns = raw.get("dns", {})
        cfg["peers"].append(
            {
                "name": name,
                "peer_account": raw["peer_account"],
                "peer_vpc": raw.get("peer_vpc"),
                "peer_region": raw.get("peer_region"),
                "allowed": [config_net(c, f"{where}.allowed_cidrs") for c in raw["allowed_cidrs"]],
                "local_vpc": raw["local_vpc"],
                "auto_accept": bool(raw.get("auto_accept", False)),
                "request": bool(raw.get("request", False)),
                "select": routes.get("select", "all"),
                "tags": routes.get("tags", {}),
                "ids": routes.get("ids", []),
                "replace_conflicts": bool(routes.get("replace_conflicts", False)),
                "rules": [
                    {
                        "group": r["group"],
                        "protocol": r.get("protocol", "tcp"),
                        "ports": ports_of(r.get("ports")),
                        "direction": r.get("direction"),
                    }
                    for r in raw.get("security_group_rules", [])
                ],
                "dns_remote": bool(dns.get("remote_resolution", True)),
                "dns_set": bool(dns.get("set_vpc_attributes", False)),
                "secrets": [
                    {
                        "arn": s["arn"],
                        **arn_parts(s["arn"]),
                        "principals": sorted(set(s["principals"])),
                        "kms_key": s.get("kms_key"),
                    }
                    for s in raw.get("secrets", [])
                ],
            }
        )
    return cfg


_CONFIG = {}  # text -> parsed: parsed again only when it changed (context.rs's ConfigCache)


def current_config():
    """The configuration as it is now: read on every invocation, as the Rust
    functions do (a warm process must follow a changed allowlist)."""
    path = os.environ.get("PEERLINK_CONFIG_FILE")
    if not path:
        raise ConfigError("PEERLINK_CONFIG_FILE is not set")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text not in _CONFIG:
        _CONFIG.clear()
        _CONFIG[text] = parse_config(text)
    return _CONFIG[text]


def local_vpcs(cfg):
    return sorted({e["local_vpc"] for e in cfg["peers"]})


def entry_named(cfg, name):
    return next((e for e in cfg["peers"] if e["name"] == name), None)


def allows(entry, cidr):
    return any(cidr.version == r.version and cidr.subnet_of(r) for r in entry["allowed"])


def overlaps(a, b):
    return a.version == b.version and (a.subnet_of(b) or b.subnet_of(a))


# ---------------------------------------------------------------- EC2 reads


def parse_net(text):
    if not text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def tags_of(tags):
    return {t["Key"]: t.get("Value", "") for t in tags or [] if "Key" in t}


def side_from(info):
    info = info or {}
    cidrs = []
    candidates = (
        [info.get("CidrBlock")]
        + [c.get("CidrBlock") for c in info.get("CidrBlockSet", [])]
        + [c.get("Ipv6CidrBlock") for c in info.get("Ipv6CidrBlockSet", [])]
    )
    for c in filter(None, map(parse_net, candidates)):
        if c not in cidrs:
            cidrs.append(c)
    return {
        "account": info.get("OwnerId", ""),
        "vpc": info.get("VpcId", ""),
        "region": info.get("Region", ""),
        "cidrs": cidrs,
        "allow_remote_dns": bool(info.get("PeeringOptions", {}).get("AllowDnsResolutionFromRemoteVpc", False)),
        # Without CidrBlockSet only the primary block is known.
        "blocks_known": bool(info.get("CidrBlockSet")),
    }


def describe_peerings():
    """Every peering this account can see: one paginated call."""
    out, seen = [], set()
    pages = client("ec2").get_paginator("describe_vpc_peering_connections").paginate(MaxResults=1000)
    for page in pages:
        for p in page["VpcPeeringConnections"]:
            pid = p["VpcPeeringConnectionId"]
            if pid in seen:  # the emulator can repeat ids across pages
                continue
            seen.add(pid)
            status = p.get("Status", {})
            out.append(
                {
                    "id": pid,
                    "status": status.get("Code", "unknown"),
                    "status_message": status.get("Message", ""),
                    "requester": side_from(p.get("RequesterVpcInfo")),
                    "accepter": side_from(p.get("AccepterVpcInfo")),
                    "tags": tags_of(p.get("Tags")),
                }
            )
    return out


def chunks(values, n=FILTER_VALUES_MAX):
    return [values[i : i + n] for i in range(0, len(values), n)]


def describe_vpcs(vpc_ids):
    out = {}
    for chunk in chunks(vpc_ids):
        pages = client("ec2").get_paginator("describe_vpcs").paginate(Filters=[{"Name": "vpc-id", "Values": chunk}])
        for page in pages:
            for v in page["Vpcs"]:
                cidrs = []
                v4 = [
                    a.get("CidrBlock")
                    for a in v.get("CidrBlockAssociationSet", [])
                    if a.get("CidrBlockState", {}).get("State", "associated") == "associated"
                ]
                v6 = [
                    a.get("Ipv6CidrBlock")
                    for a in v.get("Ipv6CidrBlockAssociationSet", [])
                    if a.get("Ipv6CidrBlockState", {}).get("State", "associated") == "associated"
                ]
                for c in filter(None, map(parse_net, [v.get("CidrBlock")] + v4 + v6)):
                    if c not in cidrs:
                        cidrs.append(c)
                out[v["VpcId"]] = {
                    "id": v["VpcId"],
                    "cidrs": cidrs,
                    "dns_support": None,
                    "dns_hostnames": None,
                    "tags": tags_of(v.get("Tags")),
                }
    return out


def vpc_dns_attributes(vpc_id):
    """Two calls, one after the other (EC2 has no batch form), as ec2/mod.rs."""
    ec2 = client("ec2")
    try:
        s = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")
        h = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    except ClientError as e:
        # A configured VPC that does not exist is a finding, not a failure.
        if e.response["Error"]["Code"] == "InvalidVpcID.NotFound":
            return None
        raise
    return (
        bool(s.get("EnableDnsSupport", {}).get("Value", False)),
        bool(h.get("EnableDnsHostnames", {}).get("Value", False)),
    )


def route_from(r):
    dest = parse_net(r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock"))
    if dest is None:
        return None
    if r.get("VpcPeeringConnectionId"):
        target = ("peering", r["VpcPeeringConnectionId"])
    elif r.get("GatewayId") == "local":
        target = ("local", None)
    else:
        fields = (
            "GatewayId",
            "NatGatewayId",
            "TransitGatewayId",
            "NetworkInterfaceId",
            "InstanceId",
            "EgressOnlyInternetGatewayId",
            "LocalGatewayId",
            "CarrierGatewayId",
            "CoreNetworkArn",
        )
        target = ("other", next((r[f] for f in fields if r.get(f)), "unknown"))
    return {"dest": dest, "target": target, "blackhole": r.get("State") == "blackhole"}


def describe_route_tables(vpc_ids):
    """Every table of the VPCs: one paginated call per 200 VPCs."""
    tables = []
    for chunk in chunks(vpc_ids):
        pages = (
            client("ec2")
            .get_paginator("describe_route_tables")
            .paginate(Filters=[{"Name": "vpc-id", "Values": chunk}], MaxResults=100)
        )
        for page in pages:
            for rt in page["RouteTables"]:
                routes, other = [], 0
                for r in rt.get("Routes", []):
                    route = route_from(r)
                    if route is None:
                        other += 1
                    else:
                        routes.append(route)
                assoc = rt.get("Associations", [])
                tables.append(
                    {
                        "id": rt["RouteTableId"],
                        "vpc": rt.get("VpcId", ""),
                        "main": any(a.get("Main") for a in assoc),
                        "subnets": [a["SubnetId"] for a in assoc if a.get("SubnetId")],
                        "tags": tags_of(rt.get("Tags")),
                        "routes": routes,
                        "count": len(routes) + other,
                    }
                )
    return tables


PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp", "-1": "all", "all": "all"}


def rules_from(perms, direction):
    rules, other = [], 0
    for p in perms:
        proto = PROTOCOLS.get(str(p.get("IpProtocol")))
        ports = None
        if proto in ("tcp", "udp"):
            a, b = p.get("FromPort"), p.get("ToPort")
            if a is not None and b is not None and 0 <= a <= 65535 and 0 <= b <= 65535:
                ports = (a, b)
        # ICMP rules other than "all types" are not something we manage: count them only.
        manageable = proto is not None and (proto != "icmp" or p.get("FromPort") == -1)
        other += len(p.get("UserIdGroupPairs", [])) + len(p.get("PrefixListIds", []))
        ranges = [(r.get("CidrIp"), r.get("Description")) for r in p.get("IpRanges", [])]
        ranges += [(r.get("CidrIpv6"), r.get("Description")) for r in p.get("Ipv6Ranges", [])]
        for cidr, description in ranges:
            cidr = parse_net(cidr)
            if manageable and cidr is not None:
                rules.append({"rule": (direction, proto, ports, cidr), "description": description})
            else:
                other += 1
    return rules, other


def describe_security_groups(name, values):
    """Groups by `group-id` or `tag-key`: one paginated call per 200 values."""
    out = {}
    for chunk in chunks(values):
        pages = (
            client("ec2")
            .get_paginator("describe_security_groups")
            .paginate(Filters=[{"Name": name, "Values": chunk}], MaxResults=1000)
        )
        for page in pages:
            for g in page["SecurityGroups"]:
                ingress, other_in = rules_from(g.get("IpPermissions", []), "ingress")
                egress, other_out = rules_from(g.get("IpPermissionsEgress", []), "egress")
                out[g["GroupId"]] = {
                    "id": g["GroupId"],
                    "vpc": g.get("VpcId", ""),
                    "rules": ingress + egress,
                    "other": {"ingress": other_in, "egress": other_out},
                    "tagged": any(t.get("Key") == MANAGED_TAG for t in g.get("Tags", [])),
                }
    return out


# ---------------------------------------------------------------- Secrets Manager and KMS reads


def parse_policy(text):
    text = (text or "").strip()
    return json.loads(text) if text else None


def describe_secret(arn):
    """None when the secret does not exist."""
    try:
        d = client("secretsmanager").describe_secret(SecretId=arn)
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    return {
        "arn": d.get("ARN", arn),
        "kms_key": d.get("KmsKeyId") or None,
        "tagged": any(t.get("Key") == MANAGED_TAG for t in d.get("Tags", [])),
    }


def get_secret_policy(arn):
    return parse_policy(client("secretsmanager").get_resource_policy(SecretId=arn).get("ResourcePolicy"))


def list_tagged_secrets():
    """Every secret carrying our tag key: one paginated, filtered call."""
    out = []
    pages = (
        client("secretsmanager")
        .get_paginator("list_secrets")
        .paginate(Filters=[{"Key": "tag-key", "Values": [MANAGED_TAG]}], MaxResults=100)
    )
    for page in pages:
        for s in page.get("SecretList", []):
            # The filter matches key prefixes: keep exact matches only.
            if any(t.get("Key") == MANAGED_TAG for t in s.get("Tags", [])):
                out.append(s.get("ARN", ""))
    return out


def describe_key(ref):
    """None when the key does not exist."""
    try:
        meta = client("kms").describe_key(KeyId=ref)["KeyMetadata"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "NotFoundException":
            return None
        raise
    return {"arn": meta.get("Arn", ref), "aws_managed": meta.get("KeyManager") == "AWS"}


def get_key_policy(ref):
    return parse_policy(client("kms").get_key_policy(KeyId=ref, PolicyName="default").get("Policy"))


def is_aws_managed_alias(ref):
    return ref == "alias/aws/secretsmanager" or ref.endswith(":alias/aws/secretsmanager")


def submit_secret(pool, arn):
    """DescribeSecret and GetResourcePolicy at once (observe.rs read_secret)."""
    described, policy = pool.submit(describe_secret, arn), pool.submit(get_secret_policy, arn)

    def result():
        d = described.result()
        if d is None:
            return None  # gone: its policy read (failed or not) does not matter
        return {**d, "policy": policy.result()}

    return result


def submit_key(pool, ref):
    """DescribeKey and GetKeyPolicy at once; an alias is described first
    (GetKeyPolicy takes no alias), as observe.rs read_key."""
    if ref.startswith("alias/") or ":alias/" in ref:

        def by_alias():
            d = describe_key(ref)
            if d is None or d["aws_managed"]:
                return None if d is None else {**d, "policy": None}
            return {**d, "policy": get_key_policy(d["arn"])}

        f = pool.submit(by_alias)
        return f.result
    described, policy = pool.submit(describe_key, ref), pool.submit(get_key_policy, ref)

    def result():
        d = described.result()
        if d is None:
            return None
        # An AWS-managed key's policy is not ours to change; a failed read of it is no error.
        return {**d, "policy": None if d["aws_managed"] else policy.result()}

    return result


# ---------------------------------------------------------------- peerings: matching


def local_sides(me, p):
    return [s for s in ("requester", "accepter") if p[s]["account"] == me["account"] and p[s]["region"] == me["region"]]


def other_side(s):
    return "accepter" if s == "requester" else "requester"


def match_entry(cfg, local, remote):
    """The one entry for this peering end, or why there is none (matching.rs)."""
    by_account = [e for e in cfg["peers"] if e["peer_account"] == remote["account"]]
    if not by_account:
        return None, f"peer account {remote['account']} is not in the allowlist"
    by_local = [e for e in by_account if e["local_vpc"] == local["vpc"]]
    if not by_local:
        return None, f"peer account {remote['account']} is listed, but not for local VPC {local['vpc']}"
    by_vpc = [e for e in by_local if e["peer_vpc"] in (None, remote["vpc"])]
    if not by_vpc:
        return None, f"peer VPC {remote['vpc']} of account {remote['account']} is not listed"
    by_region = [e for e in by_vpc if (e["peer_region"] or local["region"]) == remote["region"]]

    def specificity(e):
        return 2 * (e["peer_vpc"] is not None) + (e["peer_region"] is not None)

    best = max((specificity(e) for e in by_region), default=0)
    by_region = [e for e in by_region if specificity(e) == best]
    if not by_region:
        return None, f"peer region {remote['region']} is not allowed for {remote['vpc']}"
    if len(by_region) > 1:
        return None, "the request matches several entries; make them distinct so exactly one applies"
    return by_region[0], None


# ---------------------------------------------------------------- the accepter's decision


def peered_cidrs(me, known, local_vpc, except_id):
    out = []
    for p in known:
        if p["id"] == except_id:
            continue
        for s in ("requester", "accepter"):
            end = p[s]
            ours_outgoing = s == "requester" and p["status"] in ("pending-acceptance", "initiating-request")
            if end["vpc"] == local_vpc and end["account"] == me["account"] and (p["status"] in ESTABLISHED or ours_outgoing):
                out.extend((c, p) for c in p[other_side(s)]["cidrs"])
    return out


def check(me, vpcs, known, p, entry):
    """None when the request is safe to accept, else why not (decision/mod.rs)."""
    req = p["requester"]
    if not req["cidrs"]:
        return "EC2 reports no CIDR block for the requester VPC"
    outside = [c for c in req["cidrs"] if not allows(entry, c)]
    if outside:
        return f"requester CIDR block(s) {', '.join(map(str, outside))} lie outside the allowed ranges of entry {entry['name']!r}"
    vpc = vpcs.get(p["accepter"]["vpc"])
    if vpc is None:
        return f"local VPC {p['accepter']['vpc']} could not be read, so overlap cannot be ruled out"
    local = vpc["cidrs"] + [c for c in p["accepter"]["cidrs"] if c not in vpc["cidrs"]]
    for r in req["cidrs"]:
        for c in local:
            if overlaps(r, c):
                return f"requester CIDR {r} overlaps {c} of the local VPC {vpc['id']}"
    peered = peered_cidrs(me, known, vpc["id"], p["id"])
    for r in req["cidrs"]:
        for c, q in peered:
            if overlaps(r, c):
                return f"requester CIDR {r} overlaps {c}, already reachable (or about to be) through peering {q['id']} ({q['status']})"
    return None


def decide(me, cfg, vpcs, known, p):
    acc = p["accepter"]
    if acc["account"] != me["account"]:
        return "skip", f"account {acc['account']} decides", None
    if acc["region"] != me["region"]:
        return "skip", f"the accepter VPC is in {acc['region']}", None
    if p["status"] != "pending-acceptance":
        return "skip", f"the peering is {p['status']}", None
    # A VPC no entry names is not ours to decide for, whatever the setting.
    if not any(e["local_vpc"] == acc["vpc"] for e in cfg["peers"]):
        return "skip", f"{acc['vpc']} is not a managed VPC: no entry names it as local_vpc", None
    refuse = "reject" if cfg["unmatched_requests"] == "reject" else "leave-pending"
    entry, why = match_entry(cfg, acc, p["requester"])
    if entry is None:
        return refuse, why, None
    if not p["requester"]["blocks_known"]:
        return "leave-pending", "EC2's description of the requester VPC lacks its CidrBlockSet; left pending", entry["name"]
    why = check(me, vpcs, known, p, entry)
    if why:
        return refuse, why, entry["name"]
    if not entry["auto_accept"]:
        return "leave-pending", "the entry does not allow auto-accept, so a human accepts it", entry["name"]
    return "accept", f"matches entry {entry['name']!r}", entry["name"]


def snapshot(cfg):
    """Every peering and the configured local VPCs, read at once (Snapshot::read)."""
    vpc_ids = local_vpcs(cfg)
    client("ec2")  # made here, before the threads share it
    with ThreadPoolExecutor(max_workers=2) as pool:
        peerings = pool.submit(describe_peerings)
        vpcs = pool.submit(describe_vpcs, vpc_ids) if vpc_ids else None
        return {"peerings": peerings.result(), "vpcs": vpcs.result() if vpcs else {}}


def sweep(me, cfg, snap, execute):
    """Decides on every pending request addressed to this account, in id order.
    Requests accepted earlier in the batch count as active peers of the local
    VPC (accepter/mod.rs decide_all)."""
    known = [dict(p) for p in snap["peerings"]]
    pending = sorted(
        (p for p in snap["peerings"] if p["status"] == "pending-acceptance" and "accepter" in local_sides(me, p)),
        key=lambda p: p["id"],
    )
    outcomes = []
    for p in pending:
        verdict, reason, entry = decide(me, cfg, snap["vpcs"], known, p)
        if verdict == "accept":
            for k in known:
                if k["id"] == p["id"]:
                    k["status"] = "active"
        if verdict not in ("accept", "reject"):
            result = "no-write"
        elif not execute:
            result = "planned: report mode writes nothing"
        else:
            # The baseline never writes; at the benchmark's steady state nothing is to be written.
            result = "not-executed: the baseline only reads"
        log("decision", peering_id=p["id"], decision=verdict, reason=reason, entry=entry, result=result)
        outcomes.append({"peering_id": p["id"], "verdict": verdict, "reason": reason, "entry": entry, "result": result})
    # After accepting, the Rust accepter re-reads the peerings (races.rs: two
    # overlapping requests accepted at once by two invocations). It re-reads
    # only when it accepted something; the baseline never writes, so it
    # never has anything to re-read.
    return {
        "event": "scheduled",
        "executed": execute,
        "left_pending": [o["peering_id"] for o in outcomes if o["verdict"] == "leave-pending"],
        "outcomes": outcomes,
    }


# ---------------------------------------------------------------- observe: one round


def observe(me, cfg, whole_account=True):
    """What the plan needs, in one round of parallel reads whose number
    depends on the configuration, not on the account (observe.rs); a second
    round only for tagged secrets the configuration does not name and keys
    no entry names."""
    entries = cfg["peers"]
    vpc_ids = local_vpcs(cfg)
    group_ids = sorted({r["group"] for e in entries for r in e["rules"]})
    secret_arns = sorted({s["arn"] for e in entries for s in e["secrets"]})
    key_arns = sorted({s["kms_key"] for e in entries for s in e["secrets"] if s["kms_key"]})
    # DNS attributes only where an entry may turn them on.
    dns_vpcs = sorted({e["local_vpc"] for e in entries if e["dns_set"]})
    for service in ("ec2", "secretsmanager", "kms"):
        client(service)  # made here, before the threads share them
    calls = 1 + 2 * bool(vpc_ids) + bool(group_ids) + 2 * whole_account + len(dns_vpcs)
    calls += 2 * len(secret_arns) + 2 * len(key_arns)
    with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, calls)) as pool:
        f_peerings = pool.submit(describe_peerings)
        f_vpcs = pool.submit(describe_vpcs, vpc_ids) if vpc_ids else None
        f_tables = pool.submit(describe_route_tables, vpc_ids) if vpc_ids else None
        f_groups = pool.submit(describe_security_groups, "group-id", group_ids) if group_ids else None
        f_tagged_groups = pool.submit(describe_security_groups, "tag-key", [MANAGED_TAG]) if whole_account else None
        f_tagged_secrets = pool.submit(list_tagged_secrets) if whole_account else None
        f_dns = [(v, pool.submit(vpc_dns_attributes, v)) for v in dns_vpcs]
        f_secrets = [(a, submit_secret(pool, a)) for a in secret_arns]
        f_keys = [(k, submit_key(pool, k)) for k in key_arns]

        obs = {
            "me": me,
            "peerings": f_peerings.result(),
            "complete": True,
            "whole_account": whole_account,
            "scope": {e["name"] for e in entries},
            "configured_groups": set(group_ids),
            "now": int(time.time()),
        }
        obs["vpcs"] = f_vpcs.result() if f_vpcs else {}
        for vpc, f in f_dns:
            attributes = f.result()
            if vpc in obs["vpcs"] and attributes is not None:
                obs["vpcs"][vpc].update(dns_support=attributes[0], dns_hostnames=attributes[1])
        obs["tables"] = f_tables.result() if f_tables else []
        obs["groups"] = f_groups.result() if f_groups else {}
        obs["groups"].update(f_tagged_groups.result() if f_tagged_groups else {})
        obs["secrets"] = {a: r() for a, r in f_secrets}
        obs["keys"] = {k: r() for k, r in f_keys}

        # Second round, only when needed.
        orphans = [a for a in (f_tagged_secrets.result() if f_tagged_secrets else []) if a not in obs["secrets"]]
        obs["secrets"].update({a: r() for a, r in [(a, submit_secret(pool, a)) for a in orphans]})
        unresolved = sorted(
            {
                s["kms_key"]
                for s in obs["secrets"].values()
                if s and s["kms_key"] and not is_aws_managed_alias(s["kms_key"]) and find_key(obs, s["kms_key"]) is None
            }
        )
        obs["keys"].update({k: r() for k, r in [(k, submit_key(pool, k)) for k in unresolved]})
    return obs


def find_key(obs, ref):
    """The key a secret names (id, ARN or alias as observed), if it was read."""
    if ref in obs["keys"]:
        return obs["keys"][ref]
    return next((k for k in obs["keys"].values() if k and (k["arn"] == ref or k["arn"].endswith("/" + ref))), None)


def is_gone(obs, pcx):
    p = next((p for p in obs["peerings"] if p["id"] == pcx), None)
    return p["status"] in GONE if p else obs["complete"]


# ---------------------------------------------------------------- the routing invariant (routing.rs)


def routing(cfg, me, peerings, vpcs):
    """The blocks each established managed peering end may be routed to, and
    the refused ones as findings."""
    routable, refused, ends = {}, [], []
    for p in (p for p in peerings if p["status"] in ESTABLISHED):
        for s in local_sides(me, p):
            local, remote = p[s], p[other_side(s)]

            def refuse(block, kind, message):
                refused.append({"peering": p["id"], "kind": kind, "resource": local["vpc"], "message": message})

            entry, _ = match_entry(cfg, local, remote)
            candidates = None
            if entry is not None and not remote["blocks_known"]:
                refuse(None, "cidr-not-allowed", f"the blocks of peer VPC {remote['vpc']} are unknown")
            elif entry is not None:
                local_blocks = vpcs[local["vpc"]]["cidrs"] if local["vpc"] in vpcs else local["cidrs"]
                candidates = []
                for block in remote["cidrs"]:
                    clash = next((l for l in local_blocks if overlaps(block, l)), None)
                    if not allows(entry, block):
                        refuse(block, "cidr-not-allowed", f"peer block {block} is outside the allowed ranges")
                    elif clash is not None:
                        refuse(block, "cidr-not-allowed", f"peer block {block} overlaps {clash} of the local VPC")
                    else:
                        candidates.append(block)
            if entry is not None and remote["blocks_known"]:
                claims = [b for b in remote["cidrs"] if allows(entry, b)]
            else:
                claims = list(remote["cidrs"])
            if candidates is None and entry is not None:
                candidates = []
            ends.append({"peering": p, "local_vpc": local["vpc"], "candidates": candidates, "claims": claims})
    by_vpc = {}
    for end in ends:
        by_vpc.setdefault(end["local_vpc"], []).append(end)
    for end in ends:
        if end["candidates"] is None:
            continue
        ok = []
        for block in end["candidates"]:
            clash = next(
                (
                    (o, b)
                    for o in by_vpc[end["local_vpc"]]
                    if o["peering"]["id"] != end["peering"]["id"]
                    for b in o["claims"]
                    if overlaps(block, b)
                ),
                None,
            )
            if clash:
                refused.append(
                    {
                        "peering": end["peering"]["id"],
                        "kind": "overlap-conflict",
                        "resource": end["local_vpc"],
                        "message": f"peer block {block} overlaps {clash[1]} of {clash[0]['peering']['id']}",
                    }
                )
            else:
                ok.append(block)
        routable[(end["peering"]["id"], end["local_vpc"])] = ok
    return routable, refused


# ---------------------------------------------------------------- policies (policy.rs)


def statements(doc):
    s = (doc or {}).get("Statement") if isinstance(doc, dict) else None
    return s if isinstance(s, list) else [s] if isinstance(s, dict) else []


def is_our_sid(sid):
    if sid in (READ_SID, DECRYPT_SID):
        return True
    for prefix in ("PeerlinkReadPcx", "PeerlinkDecryptPcx"):
        if isinstance(sid, str) and sid.startswith(prefix):
            return bool(PCX_RE.match("pcx-" + sid[len(prefix) :]))
    return False


def owned_sids(doc):
    return [s.get("Sid") for s in statements(doc) if is_our_sid(s.get("Sid"))]


def normalize(v):
    # AWS hands policies back with one-element lists collapsed and lists reordered.
    if isinstance(v, list):
        items = sorted({json.dumps(normalize(x), sort_keys=True) for x in v})
        items = [json.loads(x) for x in items]
        return items[0] if len(items) == 1 else items
    if isinstance(v, dict):
        return {k: normalize(x) for k, x in v.items()}
    return v


def read_statement(principals):
    return {
        "Sid": READ_SID,
        "Effect": "Allow",
        "Principal": {"AWS": sorted(principals)},
        "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        "Resource": "*",
    }


def decrypt_statement(principals, region, secret_arns):
    return {
        "Sid": DECRYPT_SID,
        "Effect": "Allow",
        "Principal": {"AWS": sorted(principals)},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                "kms:EncryptionContext:SecretARN": sorted(secret_arns),
            }
        },
    }


def change_to(current, wanted):
    """The change that makes `current` hold exactly `wanted` of ours (None:
    none of ours at all), or None when it already does."""
    keep = wanted["Sid"] if wanted else None
    remove = sorted({s for s in owned_sids(current) if s != keep})
    upsert = [wanted] if wanted else []
    have = {s.get("Sid"): s for s in statements(current)}
    satisfied = all(u["Sid"] in have and normalize(have[u["Sid"]]) == normalize(u) for u in upsert) and not any(
        r in have for r in remove
    )
    return None if satisfied else {"upsert": upsert, "remove": remove}


def merged(current, change):
    doc = dict(current) if isinstance(current, dict) else {"Version": "2012-10-17"}
    named = {u["Sid"]: u for u in change["upsert"]}
    out = []
    for st in statements(doc):
        sid = st.get("Sid")
        if sid in named:
            out.append(named[sid])
        elif sid is None or sid not in change["remove"]:
            out.append(st)
    out += [u for u in change["upsert"] if not any(s.get("Sid") == u["Sid"] for s in out)]
    doc["Statement"] = out
    return doc


def policy_size(doc):
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())


def grants_to_everyone(st):
    p = st.get("Principal")
    if p == "*":
        return True
    if isinstance(p, dict):
        a = p.get("AWS")
        return a == "*" or (isinstance(a, list) and "*" in a)
    return False


# ---------------------------------------------------------------- the plan (reconcile/plan/)


def marked_peering(description):
    if description and description.startswith("peerlink:"):
        pcx = description.removeprefix("peerlink:")
        return pcx if PCX_RE.match(pcx) else None
    return None


def parse_attempt(value):
    pcx, sep, at = (value or "").partition(" ")
    try:
        return (pcx, int(at.strip())) if sep else None
    except ValueError:
        return None


class Planner:
    """What a pass would change, and what it reports (plan/mod.rs and its concerns)."""

    def __init__(self, cfg, obs):
        self.cfg, self.obs, self.me = cfg, obs, obs["me"]
        self.actions, self.findings = [], []
        self.tables_by_vpc = {}
        for t in obs["tables"]:
            self.tables_by_vpc.setdefault(t["vpc"], []).append(t)
            t["by_dest"] = {}
            for r in t["routes"]:
                t["by_dest"].setdefault(r["dest"], r)
        self.held = {g["id"]: {r["rule"]: r for r in g["rules"]} for g in obs["groups"].values()}
        self.routable, self.refused = routing(cfg, self.me, obs["peerings"], obs["vpcs"])
        self.reserved = {}
        self.claimed_routes, self.claimed_rules = set(), set()
        self.untagged_groups, self.vpc_attributes, self.cleaned = set(), set(), set()

    def act(self, pcx, kind, resource, reason):
        self.actions.append({"peering": pcx, "action": kind, "resource": resource, "reason": reason})

    def finding(self, kind, pcx, resource, message):
        self.findings.append({"kind": kind, "peering": pcx, "resource": resource, "message": message})

    def reserve(self, quota, existing, more, limit):
        used = existing + self.reserved.get(quota, 0)
        if used + more > limit:
            return used
        self.reserved[quota] = self.reserved.get(quota, 0) + more
        return None

    def blocks(self, pcx, vpc):
        return self.routable.get((pcx, vpc), [])

    def run(self):
        binds = self.bindings()
        self.entries()
        for p, s, e in binds:
            if p["status"] == "active":
                self.finish(p, s, e)
            elif p["status"] not in GONE:
                self.finding("not-active", p["id"], None, f"peering is {p['status']}; it is finished once active")
        for p, s, e in binds:
            if p["status"] in GONE:
                self.cleanup(p["id"], p["status"], [p[s]["vpc"]])
        self.stale_rules(binds)
        for group in sorted(self.untagged_groups):
            self.act(None, "tag-group", group, "peerlink writes rules here")
        self.unroutable_routes(binds)
        if self.obs["complete"]:
            self.vanished()
            self.policies(binds)
        self.requests()
        # Deduplicated, as plan.rs does.
        unique = {(f["kind"], f["peering"] or "", f["resource"] or "", f["message"]): f for f in self.findings}
        self.findings = [unique[k] for k in sorted(unique)]
        return [
            {
                "peering": p["id"],
                "status": p["status"],
                "side": s,
                "entry": e["name"],
                "peer_account": p[other_side(s)]["account"],
                "peer_vpc": p[other_side(s)]["vpc"],
            }
            for p, s, e in binds
        ]

    # bindings.rs
    def bindings(self):
        cfg, obs, binds = self.cfg, self.obs, []
        for p in obs["peerings"]:
            for s in local_sides(self.me, p):
                local, remote = p[s], p[other_side(s)]
                entry, why = match_entry(cfg, local, remote)
                if entry is not None:
                    if entry["name"] in obs["scope"]:
                        binds.append((p, s, entry))
                    continue
                related = any(e["local_vpc"] == local["vpc"] and e["peer_account"] == remote["account"] for e in cfg["peers"])
                in_scope = any(
                    (e := entry_named(cfg, n)) is not None and e["local_vpc"] == local["vpc"] for n in obs["scope"]
                )
                if related and p["status"] not in GONE and in_scope:
                    self.finding("unmanaged", p["id"], local["vpc"], f"peering {p['id']} ({p['status']}) is not managed: {why}")
        return binds

    # entries.rs
    def entries(self):
        obs = self.obs
        for entry in (e for e in self.cfg["peers"] if e["name"] in obs["scope"]):
            name, vpc = entry["name"], entry["local_vpc"]
            if vpc not in obs["vpcs"]:
                self.finding("missing-resource", None, vpc, f"local VPC {vpc} of entry {name!r} does not exist")
            elif entry["select"] == "ids":
                for rid in entry["ids"]:
                    if not any(t["id"] == rid for t in self.tables_by_vpc.get(vpc, [])):
                        self.finding("missing-resource", None, rid, f"route table {rid} of entry {name!r} is not a table of {vpc}")
            for spec in entry["rules"]:
                if spec["group"] not in obs["groups"]:
                    self.finding("missing-resource", None, spec["group"], f"security group {spec['group']} does not exist")
            for spec in entry["secrets"]:
                arn = spec["arn"]
                if spec["account"] != self.me["account"] or spec["region"] != self.me["region"]:
                    self.finding("missing-resource", None, arn, f"secret {arn} of entry {name!r} is not in this account and region")
                elif not obs["secrets"].get(arn):
                    self.finding("missing-resource", None, arn, f"secret {arn} of entry {name!r} does not exist")
                if spec["kms_key"] and find_key(obs, spec["kms_key"]) is None:
                    self.finding("missing-resource", None, spec["kms_key"], f"KMS key {spec['kms_key']} does not exist")

    def finish(self, p, s, entry):
        vpc = self.obs["vpcs"].get(p[s]["vpc"])
        if vpc is None:
            return  # reported once per entry (entries)
        dests = self.destinations(p, vpc)
        self.routes(p, entry, vpc, dests)
        self.rules(p, s, entry, dests)
        self.dns(p, s, entry, vpc)
        self.secret_checks(p, entry)

    # routes.rs
    def destinations(self, p, vpc):
        for r in self.refused:
            if r["peering"] == p["id"]:
                self.finding(r["kind"], r["peering"], r["resource"], r["message"])
        local_v6 = any(c.version == 6 for c in vpc["cidrs"])
        return [c for c in self.blocks(p["id"], vpc["id"]) if c.version == 4 or local_v6]

    def selected(self, entry, table):
        sel = entry["select"]
        if sel == "all":
            return True
        if sel == "tagged":
            return all(table["tags"].get(k) == v for k, v in entry["tags"].items())
        if sel == "ids":
            return table["id"] in entry["ids"]
        return False

    def routes(self, p, entry, vpc, dests):
        pcx, limit = p["id"], self.cfg["routes_per_route_table"]
        for table in (t for t in self.tables_by_vpc.get(vpc["id"], []) if self.selected(entry, t)):
            creates = []
            for d in dests:
                self.claimed_routes.add((table["id"], d))
                r = table["by_dest"].get(d)
                if r is None:
                    creates.append(d)
                elif r["target"] == ("peering", pcx):
                    if r["blackhole"]:
                        self.act(pcx, "replace-route", table["id"], f"the route to {d} is a blackhole")
                elif r["target"][0] == "peering" and is_gone(self.obs, r["target"][1]):
                    self.act(pcx, "replace-route", table["id"], f"{d} pointed at {r['target'][1]}, a peering that is gone")
                elif entry["replace_conflicts"] and r["target"][0] != "local":
                    self.act(pcx, "replace-route", table["id"], f"{d} pointed at {r['target'][1]}")
                else:
                    self.finding("route-conflict", pcx, table["id"], f"route to {d} points at {r['target'][1]}")
            if not creates:
                continue
            used = self.reserve((table["id"], None), table["count"], len(creates), limit)
            if used is not None:
                self.finding("route-quota", pcx, table["id"], f"{used} of {limit} routes")
                continue
            for d in creates:
                self.act(pcx, "create-route", table["id"], f"no route to peer block {d}")

    def unroutable_routes(self, binds):
        for p, s, _ in binds:
            if p["status"] != "active":
                continue
            pcx, local, remote = p["id"], p[s], p[other_side(s)]
            allowed = self.blocks(pcx, local["vpc"])
            for t in self.tables_by_vpc.get(local["vpc"], []):
                for r in t["routes"]:
                    if r["target"] != ("peering", pcx) or r["blackhole"] or r["dest"] in allowed:
                        continue
                    if (t["id"], r["dest"]) in self.claimed_routes:
                        continue
                    if r["dest"] in remote["cidrs"]:
                        self.act(pcx, "delete-route", t["id"], f"peer block {r['dest']} may no longer be routed")
                    else:
                        self.finding("unexpected-route", pcx, t["id"], f"route to {r['dest']} is not an allowed peer block")

    # rules.rs
    def rules(self, p, s, entry, dests):
        pcx, limit = p["id"], self.cfg["rules_per_security_group"]
        for spec in entry["rules"]:
            group = self.obs["groups"].get(spec["group"])
            if group is None:
                continue  # reported once per entry (entries)
            direction = spec["direction"] or ("ingress" if s == "accepter" else "egress")
            ports = spec["ports"] if spec["protocol"] in ("tcp", "udp") else None
            missing = []
            for c in dests:
                rule = (direction, spec["protocol"], ports, c)
                self.claimed_rules.add((group["id"], rule))
                held = self.held.get(group["id"], {}).get(rule)
                if held is None:
                    missing.append(rule)
                    continue
                marked = marked_peering(held["description"])
                if marked is not None and marked != pcx:
                    self.act(pcx, "remark-rule", group["id"], f"the rule was made for {marked}, which {pcx} replaces")
            if not missing:
                continue
            existing = group["other"][direction] + sum(1 for r in group["rules"] if r["rule"][0] == direction)
            used = self.reserve((group["id"], direction), existing, len(missing), limit)
            if used is not None:
                self.finding("rule-quota", pcx, group["id"], f"{used} of {limit} {direction} rules")
                continue
            if not group["tagged"]:
                self.untagged_groups.add(group["id"])
            for rule in missing:
                self.act(pcx, "authorize-rule", group["id"], f"entry {entry['name']!r} wants {rule}")

    def stale_rules(self, binds):
        obs = self.obs
        live = {p["id"] for p, _, _ in binds if p["status"] == "active"}
        for group in sorted(obs["groups"].values(), key=lambda g: g["id"]):
            for r in group["rules"]:
                pcx = marked_peering(r["description"])
                if pcx is None or is_gone(obs, pcx) or (group["id"], r["rule"]) in self.claimed_rules:
                    continue
                if pcx in live:
                    self.act(pcx, "revoke-rule", group["id"], "our rule is no longer wanted by the configuration")
                elif obs["whole_account"] and obs["complete"]:
                    self.act(pcx, "revoke-rule", group["id"], "no entry manages this peering any more")

    # dns.rs
    def dns(self, p, s, entry, vpc):
        if not entry["dns_remote"]:
            return
        if not p[s]["allow_remote_dns"]:
            self.act(p["id"], "enable-peering-dns", p["id"], f"the {s} side does not allow remote DNS resolution")
        for attribute, value in (("enableDnsSupport", vpc["dns_support"]), ("enableDnsHostnames", vpc["dns_hostnames"])):
            if value is not False:
                continue
            if entry["dns_set"]:
                if (vpc["id"], attribute) not in self.vpc_attributes:
                    self.vpc_attributes.add((vpc["id"], attribute))
                    self.act(p["id"], "enable-vpc-attribute", vpc["id"], f"{attribute} is off")
            else:
                self.finding("dns-attribute-off", p["id"], vpc["id"], f"VPC {vpc['id']} has {attribute} off")

    # secrets.rs
    def usable_key(self, arn, expected):
        """(key, None) when the secret's key can carry a grant, else (None, (kind, message))."""
        state = self.obs["secrets"].get(arn)
        if not state:
            return None, ("missing-resource", f"secret {arn} does not exist")
        ref = state["kms_key"]
        if ref is None or is_aws_managed_alias(ref):
            return None, ("aws-managed-key", f"secret {arn} is encrypted with the AWS-managed key")
        key = find_key(self.obs, ref)
        if key is None:
            return None, ("missing-resource", f"KMS key {ref} of secret {arn} could not be found")
        if key["aws_managed"]:
            return None, ("aws-managed-key", f"secret {arn} is encrypted with the AWS-managed key")
        if expected and expected != key["arn"]:
            return None, ("key-mismatch", f"secret {arn} uses key {key['arn']}, not {expected}")
        return key, None

    def secret_checks(self, p, entry):
        for spec in entry["secrets"]:
            arn = spec["arn"]
            here = spec["account"] == self.me["account"] and spec["region"] == self.me["region"]
            if not here or not self.obs["secrets"].get(arn):
                continue  # reported once per entry (entries)
            _, problem = self.usable_key(arn, spec["kms_key"])
            if problem:
                self.finding(problem[0], p["id"], arn, problem[1])

    def grants(self):
        """Every principal of every entry with an active peering, per usable
        secret and key: one statement per policy."""
        live = set()
        for p in (p for p in self.obs["peerings"] if p["status"] == "active"):
            for s in local_sides(self.me, p):
                entry, _ = match_entry(self.cfg, p[s], p[other_side(s)])
                if entry is not None:
                    live.add(entry["name"])
        secrets, keys = {}, {}
        for entry in (e for e in self.cfg["peers"] if e["name"] in live):
            for spec in entry["secrets"]:
                key, problem = self.usable_key(spec["arn"], spec["kms_key"])
                if problem:
                    continue
                secrets.setdefault(spec["arn"], set()).update(spec["principals"])
                who, arns = keys.setdefault(key["arn"], (set(), set()))
                who.update(spec["principals"])
                arns.add(spec["arn"])
        return secrets, keys

    def policies(self, binds):
        obs = self.obs
        grant_secrets, grant_keys = self.grants()
        if obs["whole_account"]:
            arns = set(obs["secrets"])
        else:
            arns = {s["arn"] for n in obs["scope"] if (e := entry_named(self.cfg, n)) for s in e["secrets"]}
            arns |= {s["arn"] for _, _, e in binds for s in e["secrets"]}
        keys = {}
        for arn in sorted(arns):
            state = obs["secrets"].get(arn)
            if not state:
                continue
            if isinstance((state["policy"] or {}).get("Statement"), list) and any(
                grants_to_everyone(st) and st.get("Effect") == "Allow" for st in state["policy"]["Statement"]
            ):
                self.finding("public-policy", None, arn, f"the resource policy of {arn} allows access to everyone")
            who = grant_secrets.get(arn)
            change = change_to(state["policy"], read_statement(who) if who else None)
            if change and self.fits(arn, state["policy"], change, SECRET_POLICY_MAX):
                self.act(None, "merge-secret-policy", arn, f"{len(change['upsert'])} to put, {len(change['remove'])} to remove")
                if change["upsert"] and not state["tagged"]:
                    self.act(None, "tag-secret", arn, "peerlink writes to its policy")
            key = find_key(obs, state["kms_key"]) if state["kms_key"] else None
            if key and not key["aws_managed"]:
                keys[key["arn"]] = key
        for arn, key in sorted(keys.items()):
            grant = grant_keys.get(arn)
            wanted = decrypt_statement(grant[0], self.me["region"], grant[1]) if grant else None
            change = change_to(key["policy"], wanted)
            if change and self.fits(arn, key["policy"], change, KEY_POLICY_MAX):
                self.act(None, "merge-key-policy", arn, f"{len(change['upsert'])} to put, {len(change['remove'])} to remove")

    def fits(self, arn, current, change, limit):
        size = policy_size(merged(current, change))
        if size <= limit:
            return True
        self.finding("policy-too-large", None, arn, f"the policy of {arn} would be {size} bytes, over {limit}")
        return False

    # cleanup.rs
    def cleanup(self, pcx, why, vpcs):
        if pcx in self.cleaned:
            return
        self.cleaned.add(pcx)
        for v in vpcs:
            for t in self.tables_by_vpc.get(v, []):
                for r in t["routes"]:
                    if r["target"] == ("peering", pcx) and (t["id"], r["dest"]) not in self.claimed_routes:
                        self.act(pcx, "delete-route", t["id"], f"the peering is {why}; its route is dead")
        marker = f"peerlink:{pcx}"
        for g in sorted(self.obs["groups"].values(), key=lambda g: g["id"]):
            for r in g["rules"]:
                if r["description"] == marker and (g["id"], r["rule"]) not in self.claimed_rules:
                    self.act(pcx, "revoke-rule", g["id"], f"the peering is {why}")

    def vanished(self):
        obs = self.obs
        marked = sorted(
            {
                m
                for g in obs["groups"].values()
                for r in g["rules"]
                if (m := marked_peering(r["description"])) and is_gone(obs, m)
            }
        )
        scope_vpcs = [e["local_vpc"] for n in sorted(obs["scope"]) if (e := entry_named(self.cfg, n))]
        for pcx in marked:
            p = next((p for p in obs["peerings"] if p["id"] == pcx), None)
            self.cleanup(pcx, p["status"] if p else "gone (EC2 no longer lists it)", scope_vpcs)

    # requests.rs
    def requests(self):
        cfg, obs = self.cfg, self.obs
        retry = cfg["request_retry_hours"] * 3600
        for entry in (e for e in cfg["peers"] if e["request"] and e["name"] in obs["scope"]):
            local, peer_vpc = entry["local_vpc"], entry["peer_vpc"]
            vpc = obs["vpcs"].get(local)
            if not peer_vpc or vpc is None:
                continue
            between = [
                p
                for p in obs["peerings"]
                if (p["requester"]["vpc"], p["accepter"]["vpc"]) in ((local, peer_vpc), (peer_vpc, local))
            ]
            if any(p["status"] in LIVE_REQUEST for p in between):
                continue
            last = parse_attempt(vpc["tags"].get(f"peerlink:request:{entry['name']}"))
            if last and obs["now"] < last[1] + retry:
                self.finding("request-waiting", last[0], local, f"entry {entry['name']!r}: the last request {last[0]} did not succeed")
                continue
            self.act(None, "create-peering-request", local, f"no live peering between {local} and {peer_vpc}")
        for p in (p for p in obs["peerings"] if p["status"] in LIVE_REQUEST):
            name = p["tags"].get(ENTRY_TAG)
            if name is None:
                continue
            ours = p["requester"]["account"] == self.me["account"] and p["requester"]["region"] == self.me["region"]
            e = entry_named(cfg, name)
            still_asked = e is not None and e["request"]
            in_scope = any(
                (s := entry_named(cfg, n)) is not None and s["local_vpc"] == p["requester"]["vpc"] for n in obs["scope"]
            )
            if ours and not still_asked and (obs["whole_account"] or in_scope):
                self.finding("no-longer-requested", p["id"], p["requester"]["vpc"], f"peering {p['id']} is no longer asked for")


def reconcile(cfg, obs, execute):
    planner = Planner(cfg, obs)
    managed = planner.run()
    for a in planner.actions:
        # The baseline never writes; at the benchmark's steady state nothing is to be written.
        log("action", **a, result="pending")
    for f in planner.findings:
        log("finding", **f)
    return {
        "scope": {"scope": "all"},
        "applied": execute,
        "managed": managed,
        "actions": planner.actions,
        "findings": planner.findings,
    }


# ---------------------------------------------------------------- handlers
#
# The cold start, as in the Rust functions (lambda.rs): clients on first use,
# the account from the invoked function's ARN once per process, the
# configuration read on every invocation.


def require_scheduled(event, function):
    if event.get("source") != "aws.events" or event.get("detail-type") != "Scheduled Event":
        raise ValueError(f"the {function} baseline only handles scheduled events")


def accepter(event, context):
    require_scheduled(event, "accepter")
    cfg = current_config()
    me = identity(context)
    return sweep(me, cfg, snapshot(cfg), execute=True)


def finisher(event, context):
    require_scheduled(event, "finisher")
    cfg = current_config()
    me = identity(context)
    return reconcile(cfg, observe(me, cfg), execute=True)


def drift(event, context):
    require_scheduled(event, "drift")
    cfg = current_config()
    me = identity(context)
    mode = os.environ.get("PEERLINK_DRIFT_MODE", "").strip() or cfg["drift_mode"]
    execute = mode == "remediate"
    # One read of everything; the sweep decides with the configured VPCs it holds (drift.rs).
    obs = observe(me, cfg)
    requests = sweep(me, cfg, {"peerings": obs["peerings"], "vpcs": obs["vpcs"]}, execute)
    rec = reconcile(cfg, obs, execute)
    summary = {
        "managed": len(rec["managed"]),
        "drift_found": len(rec["actions"]),
        "findings": len(rec["findings"]),
        "decisions": len(requests["outcomes"]),
    }
    log("drift pass", mode=mode, **summary)
    return {"mode": mode, "requests": requests, "reconcile": rec, "summary": summary}
