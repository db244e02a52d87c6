"""The boto3 baseline of peerlink's three functions, for bench/startup.py.

Each handler makes the same AWS reads as the Rust function does for a
scheduled event (shared/src/accepter.rs, reconcile/observe.rs, drift.rs) and
the same decisions on what it read (reconcile/plan.rs, decision.rs), so the
start-up benchmark compares like with like: a fair, idiomatic Python Lambda,
not a sleep. It never writes: on the benchmark's fixture, at steady state, the
Rust functions do not write either, and the benchmark checks that both sides
saw and decided the same things.

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
import tomllib
from concurrent.futures import ThreadPoolExecutor

# At module level, as in any Lambda function: importing boto3 is part of the cold start.
import boto3
from botocore.exceptions import ClientError

GONE = {"deleting", "deleted", "rejected", "failed", "expired"}
ACCOUNT_RE = re.compile(r"^\d{12}$")
READ_SID, DECRYPT_SID = "PeerlinkRead", "PeerlinkDecrypt"


class ConfigError(Exception):
    pass


# ---------------------------------------------------------------- clients


@functools.cache
def client(service):
    # One client per service per process (created on first use, kept warm).
    # Clients are thread-safe once made; they are all made before any pool.
    return boto3.client(service)


def identity():
    sts = client("sts")
    account = sts.get_caller_identity()["Account"]
    region = sts.meta.region_name
    if not region:
        raise ConfigError("no AWS region is configured (set AWS_REGION)")
    return {"account": account, "region": region}


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


def load_config():
    path = os.environ.get("PEERLINK_CONFIG_FILE")
    if not path:
        raise ConfigError("PEERLINK_CONFIG_FILE is not set")
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    settings = doc.get("settings", {})
    cfg = {
        "unmatched_requests": settings.get("unmatched_requests", "reject"),
        "drift_mode": settings.get("drift_mode", "report"),
        "write_concurrency": int(settings.get("write_concurrency", 4)),
        "routes_per_route_table": int(settings.get("routes_per_route_table", 50)),
        "rules_per_security_group": int(settings.get("rules_per_security_group", 60)),
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
                    {"arn": s["arn"], "principals": sorted(set(s["principals"])), "kms_key": s.get("kms_key")}
                    for s in raw.get("secrets", [])
                ],
            }
        )
    return cfg


def allows(entry, cidr):
    return any(cidr.version == r.version and cidr.subnet_of(r) for r in entry["allowed"])


def overlaps(a, b):
    return a.version == b.version and a.overlaps(b)


# ---------------------------------------------------------------- EC2 reads


def parse_net(text):
    if not text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


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
            out.append(
                {
                    "id": pid,
                    "status": p.get("Status", {}).get("Code", "unknown"),
                    "requester": side_from(p.get("RequesterVpcInfo")),
                    "accepter": side_from(p.get("AccepterVpcInfo")),
                }
            )
    return out


def chunks(values, n=200):
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
                out[v["VpcId"]] = {"id": v["VpcId"], "cidrs": cidrs, "dns_support": None, "dns_hostnames": None}
    return out


def vpc_dns_attributes(vpc_id):
    ec2 = client("ec2")
    s = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")
    h = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    return (
        vpc_id,
        bool(s.get("EnableDnsSupport", {}).get("Value", False)),
        bool(h.get("EnableDnsHostnames", {}).get("Value", False)),
    )


def describe_route_tables(vpc_ids):
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
                    dest = parse_net(r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock"))
                    if dest is None:
                        other += 1
                        continue
                    if r.get("VpcPeeringConnectionId"):
                        target = ("peering", r["VpcPeeringConnectionId"])
                    elif r.get("GatewayId") == "local":
                        target = ("local", None)
                    else:
                        target = ("other", r.get("GatewayId") or r.get("NatGatewayId") or "unknown")
                    routes.append({"dest": dest, "target": target, "blackhole": r.get("State") == "blackhole"})
                assoc = rt.get("Associations", [])
                tables.append(
                    {
                        "id": rt["RouteTableId"],
                        "vpc": rt.get("VpcId", ""),
                        "main": any(a.get("Main") for a in assoc),
                        "subnets": [a["SubnetId"] for a in assoc if a.get("SubnetId")],
                        "tags": {t["Key"]: t.get("Value", "") for t in rt.get("Tags", [])},
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
        ports = (p.get("FromPort"), p.get("ToPort")) if proto in ("tcp", "udp") else None
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


def describe_security_groups(group_ids):
    out = {}
    for chunk in chunks(group_ids):
        pages = (
            client("ec2")
            .get_paginator("describe_security_groups")
            .paginate(Filters=[{"Name": "group-id", "Values": chunk}], MaxResults=1000)
        )
        for page in pages:
            for g in page["SecurityGroups"]:
                ingress, other_in = rules_from(g.get("IpPermissions", []), "ingress")
                egress, other_out = rules_from(g.get("IpPermissionsEgress", []), "egress")
                out[g["GroupId"]] = {
                    "id": g["GroupId"],
                    "rules": ingress + egress,
                    "other": {"ingress": other_in, "egress": other_out},
                }
    return out


# ---------------------------------------------------------------- secrets and keys


def parse_policy(text):
    text = (text or "").strip()
    return json.loads(text) if text else None


def read_secret(arn):
    sm = client("secretsmanager")
    try:
        d = sm.describe_secret(SecretId=arn)
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return arn, None
        raise
    policy = parse_policy(sm.get_resource_policy(SecretId=arn).get("ResourcePolicy"))
    return arn, {"arn": d.get("ARN", arn), "kms_key": d.get("KmsKeyId") or None, "policy": policy}


def read_key(ref):
    kms = client("kms")
    try:
        meta = kms.describe_key(KeyId=ref)["KeyMetadata"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "NotFoundException":
            return ref, None
        raise
    aws_managed = meta.get("KeyManager") == "AWS"
    policy = None if aws_managed else parse_policy(kms.get_key_policy(KeyId=meta["Arn"], PolicyName="default")["Policy"])
    return ref, {"arn": meta["Arn"], "aws_managed": aws_managed, "policy": policy}


def statements(doc):
    s = (doc or {}).get("Statement")
    return s if isinstance(s, list) else [s] if isinstance(s, dict) else []


def peering_of_sid(sid):
    for prefix in (READ_SID, DECRYPT_SID):
        if sid and sid.startswith(prefix + "Pcx"):
            hexpart = sid[len(prefix) + 3 :]
            if hexpart and all(c in "0123456789abcdef" for c in hexpart):
                return "pcx-" + hexpart
    return None


def owned_sids(doc):
    return [s.get("Sid") for s in statements(doc) if peering_of_sid(s.get("Sid"))]


def normalize(v):
    # AWS hands policies back with one-element lists collapsed and lists reordered.
    if isinstance(v, list):
        items = sorted({json.dumps(normalize(x), sort_keys=True) for x in v})
        items = [json.loads(x) for x in items]
        return items[0] if len(items) == 1 else items
    if isinstance(v, dict):
        return {k: normalize(x) for k, x in v.items()}
    return v


def sid_suffix(pcx):
    return "Pcx" + pcx.removeprefix("pcx-")


def read_statement(pcx, principals):
    return {
        "Sid": READ_SID + sid_suffix(pcx),
        "Effect": "Allow",
        "Principal": {"AWS": sorted(set(principals))},
        "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        "Resource": "*",
    }


def decrypt_statement(pcx, principals, region, secret_arns):
    return {
        "Sid": DECRYPT_SID + sid_suffix(pcx),
        "Effect": "Allow",
        "Principal": {"AWS": sorted(set(principals))},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                "kms:EncryptionContext:SecretARN": sorted(set(secret_arns)),
            }
        },
    }


def policy_needs(current, upsert, remove):
    """The statements still to write and the Sids still to remove."""
    have = {s.get("Sid"): s for s in statements(current)}
    missing = [u for u in upsert if u["Sid"] not in have or normalize(have[u["Sid"]]) != normalize(u)]
    present = set(owned_sids(current))
    return missing, sorted({r for r in remove if r in present})


# ---------------------------------------------------------------- the accepter's decision


def local_sides(me, p):
    return [s for s in ("requester", "accepter") if p[s]["account"] == me["account"] and p[s]["region"] == me["region"]]


def other_side(s):
    return "accepter" if s == "requester" else "requester"


def match_entry(cfg, local, remote):
    """The one entry for this peering end, or why there is none."""
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
    if not by_region:
        return None, f"peer region {remote['region']} is not allowed for {remote['vpc']}"
    if len(by_region) > 1:
        return None, "the request matches several entries; make them distinct so exactly one applies"
    return by_region[0], None


def peered_cidrs(me, known, local_vpc, except_id):
    out = []
    for p in known:
        if p["id"] == except_id or p["status"] != "active":
            continue
        for s in ("requester", "accepter"):
            if p[s]["vpc"] == local_vpc and p[s]["account"] == me["account"]:
                out.extend((c, p["id"]) for c in p[other_side(s)]["cidrs"])
    return out


def check(me, vpcs, known, p, entry):
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
    for r in req["cidrs"]:
        for c, pid in peered_cidrs(me, known, vpc["id"], p["id"]):
            if overlaps(r, c):
                return f"requester CIDR {r} overlaps {c}, already reachable through active peering {pid}"
    return None


def decide(me, cfg, vpcs, known, p):
    acc = p["accepter"]
    if acc["account"] != me["account"]:
        return "skip", f"account {acc['account']} decides", None
    if acc["region"] != me["region"]:
        return "skip", f"the accepter VPC is in {acc['region']}", None
    if p["status"] != "pending-acceptance":
        return "skip", f"the peering is {p['status']}", None
    refuse = "reject" if cfg["unmatched_requests"] == "reject" else "leave-pending"
    entry, why = match_entry(cfg, acc, p["requester"])
    if entry is None:
        return refuse, why, None
    why = check(me, vpcs, known, p, entry)
    if why:
        return refuse, why, entry["name"]
    if not entry["auto_accept"]:
        return "leave-pending", "the entry does not allow auto-accept, so a human accepts it", entry["name"]
    return "accept", f"matches entry {entry['name']!r}", entry["name"]


def sweep(me, cfg, peerings, known_vpcs=None):
    """Decides on every pending request addressed to this account. Drift passes
    the VPCs its observe already read, as drift.rs does, so they are read once."""
    pending = [p for p in peerings if p["status"] == "pending-acceptance" and "accepter" in local_sides(me, p)]
    if not pending:
        vpcs = {}
    elif known_vpcs is not None:
        vpcs = known_vpcs
    else:
        vpcs = describe_vpcs(sorted({p["accepter"]["vpc"] for p in pending}))
    known = list(peerings)
    outcomes = []
    for p in pending:
        verdict, reason, entry = decide(me, cfg, vpcs, known, p)
        if verdict == "accept":
            # Accepted earlier in this batch counts as an active peer for the next ones.
            known = [k for k in known if k["id"] != p["id"]] + [{**p, "status": "active"}]
        # The baseline never writes; at the benchmark's steady state nothing is to be written.
        result = "no-write" if verdict in ("leave-pending", "skip") else "not-executed: the baseline only reads"
        log("decision", peering_id=p["id"], decision=verdict, reason=reason, entry=entry, result=result)
        outcomes.append({"peering_id": p["id"], "verdict": verdict, "reason": reason, "entry": entry, "result": result})
    outcomes.sort(key=lambda o: o["peering_id"])
    return {
        "event": "scheduled",
        "executed": False,
        "left_pending": [o["peering_id"] for o in outcomes if o["verdict"] == "leave-pending"],
        "outcomes": outcomes,
    }


# ---------------------------------------------------------------- the finisher's observe and plan


def observe(me, cfg, peerings):
    entries = cfg["peers"]
    obs = {"peerings": peerings, "vpcs": {}, "tables": [], "groups": {}, "secrets": {}, "keys": {}}
    if not entries:
        return obs
    vpc_ids = sorted({e["local_vpc"] for e in entries})
    dns_vpcs = sorted({e["local_vpc"] for e in entries if e["dns_remote"]})
    group_ids = sorted({r["group"] for e in entries for r in e["rules"]})
    secret_arns = sorted({s["arn"] for e in entries for s in e["secrets"]})
    for service in ("ec2", "secretsmanager", "kms"):
        client(service)  # made here, before the threads share them
    # The Rust observe runs these reads concurrently (tokio::join!); a careful
    # Python function does the same with threads.
    with ThreadPoolExecutor(max_workers=max(4, cfg["write_concurrency"])) as pool:
        f_vpcs = pool.submit(describe_vpcs, vpc_ids)
        f_tables = pool.submit(describe_route_tables, vpc_ids)
        f_groups = pool.submit(describe_security_groups, group_ids) if group_ids else None
        f_dns = [pool.submit(vpc_dns_attributes, v) for v in dns_vpcs]
        f_secrets = [pool.submit(read_secret, a) for a in secret_arns]
        obs["vpcs"] = f_vpcs.result()
        obs["tables"] = f_tables.result()
        obs["groups"] = f_groups.result() if f_groups else {}
        for f in f_dns:
            vpc, support, hostnames = f.result()
            if vpc in obs["vpcs"]:
                obs["vpcs"][vpc].update(dns_support=support, dns_hostnames=hostnames)
        obs["secrets"] = dict(f.result() for f in f_secrets)
        key_refs = sorted(
            {
                s["kms_key"]
                for s in obs["secrets"].values()
                if s and s["kms_key"] and not s["kms_key"].endswith("alias/aws/secretsmanager")
            }
        )
        obs["keys"] = dict(pool.map(read_key, key_refs))
    return obs


class Planner:
    """What the finisher would change, and what it reports (plan.rs, condensed)."""

    def __init__(self, me, cfg, obs, complete):
        self.me, self.cfg, self.obs, self.complete = me, cfg, obs, complete
        self.actions, self.findings = [], []
        self.tables_by_vpc = {}
        for t in obs["tables"]:
            self.tables_by_vpc.setdefault(t["vpc"], []).append(t)
            t["by_dest"] = {}
            for r in t["routes"]:
                t["by_dest"].setdefault(r["dest"], r)
        self.rule_sets = {g["id"]: {r["rule"] for r in g["rules"]} for g in obs["groups"].values()}
        self.wanted_rules = {}
        self.secret_changes, self.key_changes = {}, {}
        self.new_routes, self.new_rules = {}, {}
        self.cleaned = set()

    def act(self, pcx, kind, resource, reason):
        self.actions.append({"peering": pcx, "action": kind, "resource": resource, "reason": reason})

    def finding(self, kind, pcx, resource, message):
        self.findings.append({"kind": kind, "peering": pcx, "resource": resource, "message": message})

    def bindings(self):
        binds = []
        for p in self.obs["peerings"]:
            for s in local_sides(self.me, p):
                local, remote = p[s], p[other_side(s)]
                entry, why = match_entry(self.cfg, local, remote)
                if entry is not None:
                    binds.append((p, s, entry))
                elif p["status"] not in GONE and any(
                    e["local_vpc"] == local["vpc"] and e["peer_account"] == remote["account"] for e in self.cfg["peers"]
                ):
                    self.finding("unmanaged", p["id"], local["vpc"], f"peering {p['id']} is not managed: {why}")
        return binds

    def run(self):
        binds = self.bindings()
        for p, s, entry in binds:
            if p["status"] in GONE:
                self.cleanup(p["id"], p["status"], [p[s]["vpc"]])
            elif p["status"] == "active":
                self.finish(p, s, entry)
            else:
                self.finding("not-active", p["id"], None, f"peering is {p['status']}; it is finished once active")
        self.stale_rules(binds)
        if self.complete:
            self.vanished()
        self.policies()
        managed = [
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
        return managed

    def destinations(self, p, s, entry, vpc):
        remote = p[other_side(s)]
        local_v6 = any(c.version == 6 for c in vpc["cidrs"])
        out = []
        for c in remote["cidrs"]:
            if not allows(entry, c):
                self.finding("cidr-not-allowed", p["id"], remote["vpc"], f"peer block {c} is outside the allowed ranges")
            elif any(overlaps(c, l) for l in vpc["cidrs"]):
                self.finding("cidr-not-allowed", p["id"], remote["vpc"], f"peer block {c} overlaps the local VPC")
            elif c.version == 4 or local_v6:
                out.append(c)
        return out

    def selected(self, entry, table):
        sel = entry["select"]
        if sel == "all":
            return True
        if sel == "tagged":
            return all(table["tags"].get(k) == v for k, v in entry["tags"].items())
        if sel == "ids":
            return table["id"] in entry["ids"]
        return False

    def finish(self, p, s, entry):
        vpc = self.obs["vpcs"].get(p[s]["vpc"])
        if vpc is None:
            self.finding("missing-resource", p["id"], p[s]["vpc"], f"local VPC {p[s]['vpc']} could not be read")
            return
        dests = self.destinations(p, s, entry, vpc)
        self.routes(p, entry, vpc, dests)
        self.rules(p, s, entry, dests)
        self.dns(p, s, entry, vpc)
        self.secrets(p, entry)

    def routes(self, p, entry, vpc, dests):
        pcx, limit = p["id"], self.cfg["routes_per_route_table"]
        for table in (t for t in self.tables_by_vpc.get(vpc["id"], []) if self.selected(entry, t)):
            creates = []
            for d in dests:
                r = table["by_dest"].get(d)
                if r is None:
                    creates.append(d)
                elif r["target"] == ("peering", pcx):
                    if r["blackhole"]:
                        self.act(pcx, "replace-route", table["id"], f"the route to {d} is a blackhole")
                elif entry["replace_conflicts"] and r["target"][0] != "local":
                    self.act(pcx, "replace-route", table["id"], f"{d} pointed at {r['target'][1]}")
                else:
                    self.finding("route-conflict", pcx, table["id"], f"route to {d} points at {r['target'][1]}")
            for r in table["routes"]:
                if r["target"] == ("peering", pcx) and r["dest"] not in dests and not r["blackhole"]:
                    self.finding("unexpected-route", pcx, table["id"], f"route to {r['dest']} is not an allowed block")
            if not creates:
                continue
            used = table["count"] + self.new_routes.get(table["id"], 0)
            if used + len(creates) > limit:
                self.finding("route-quota", pcx, table["id"], f"{used} of {limit} routes")
                continue
            self.new_routes[table["id"]] = self.new_routes.get(table["id"], 0) + len(creates)
            for d in creates:
                self.act(pcx, "create-route", table["id"], f"no route to peer block {d}")

    def rules(self, p, s, entry, dests):
        pcx, limit = p["id"], self.cfg["rules_per_security_group"]
        for spec in entry["rules"]:
            group = self.obs["groups"].get(spec["group"])
            if group is None:
                self.finding("missing-resource", pcx, spec["group"], f"security group {spec['group']} does not exist")
                continue
            direction = spec["direction"] or ("ingress" if s == "accepter" else "egress")
            ports = spec["ports"] if spec["protocol"] in ("tcp", "udp") else None
            missing = []
            for c in dests:
                rule = (direction, spec["protocol"], ports, c)
                self.wanted_rules.setdefault(pcx, set()).add((group["id"], rule))
                if rule not in self.rule_sets.get(group["id"], set()):
                    missing.append(rule)
            if not missing:
                continue
            count = group["other"][direction] + sum(1 for r in group["rules"] if r["rule"][0] == direction)
            used = count + self.new_rules.get((group["id"], direction), 0)
            if used + len(missing) > limit:
                self.finding("rule-quota", pcx, group["id"], f"{used} of {limit} {direction} rules")
                continue
            self.new_rules[(group["id"], direction)] = used - count + len(missing)
            for rule in missing:
                self.act(pcx, "authorize-rule", group["id"], f"entry {entry['name']!r} wants {rule}")

    def stale_rules(self, binds):
        live = {p["id"] for p, _, _ in binds if p["status"] == "active"}
        for group in sorted(self.obs["groups"].values(), key=lambda g: g["id"]):
            for r in group["rules"]:
                pcx = marked_peering(r["description"])
                if pcx in live and (group["id"], r["rule"]) not in self.wanted_rules.get(pcx, set()):
                    self.act(pcx, "revoke-rule", group["id"], "our rule is no longer wanted")

    def dns(self, p, s, entry, vpc):
        if not entry["dns_remote"]:
            return
        if not p[s]["allow_remote_dns"]:
            self.act(p["id"], "enable-peering-dns", p["id"], f"the {s} side does not allow remote DNS resolution")
        for attribute, value in (("enableDnsSupport", vpc["dns_support"]), ("enableDnsHostnames", vpc["dns_hostnames"])):
            if value is False:
                if entry["dns_set"]:
                    self.act(p["id"], "enable-vpc-attribute", vpc["id"], f"{attribute} is off")
                else:
                    self.finding("dns-attribute-off", p["id"], vpc["id"], f"VPC {vpc['id']} has {attribute} off")

    def secrets(self, p, entry):
        pcx, per_key = p["id"], {}
        for spec in entry["secrets"]:
            arn = spec["arn"]
            parts = arn.split(":")
            if len(parts) < 7 or parts[4] != self.me["account"] or parts[3] != self.me["region"]:
                self.finding("missing-resource", pcx, arn, f"secret {arn} is not in this account and region")
                continue
            state = self.obs["secrets"].get(arn)
            if state is None:
                self.finding("missing-resource", pcx, arn, f"secret {arn} does not exist")
                continue
            ref = state["kms_key"]
            if ref is None or ref == "alias/aws/secretsmanager" or ref.endswith(":alias/aws/secretsmanager"):
                self.finding("aws-managed-key", pcx, arn, f"secret {arn} is encrypted with the AWS-managed key")
                continue
            key = self.obs["keys"].get(ref)
            if key is None:
                self.finding("missing-resource", pcx, ref, f"KMS key {ref} of secret {arn} could not be found")
                continue
            if key["aws_managed"]:
                self.finding("aws-managed-key", pcx, arn, f"secret {arn} is encrypted with the AWS-managed key")
                continue
            if spec["kms_key"] and spec["kms_key"] != key["arn"]:
                self.finding("key-mismatch", pcx, arn, f"secret {arn} uses key {key['arn']}, not {spec['kms_key']}")
                continue
            self.secret_changes.setdefault(arn, ([], []))[0].append(read_statement(pcx, spec["principals"]))
            who, secrets = per_key.setdefault(key["arn"], ([], []))
            who.extend(spec["principals"])
            secrets.append(arn)
        for key, (who, secrets) in sorted(per_key.items()):
            st = decrypt_statement(pcx, who, self.me["region"], secrets)
            self.key_changes.setdefault(key, ([], []))[0].append(st)

    def cleanup(self, pcx, why, vpcs):
        if pcx in self.cleaned:
            return
        self.cleaned.add(pcx)
        for v in vpcs:
            for t in self.tables_by_vpc.get(v, []):
                for r in t["routes"]:
                    if r["target"] == ("peering", pcx):
                        self.act(pcx, "delete-route", t["id"], f"the peering is {why}")
        marker = f"peerlink:{pcx}"
        for g in sorted(self.obs["groups"].values(), key=lambda g: g["id"]):
            for r in g["rules"]:
                if r["description"] == marker:
                    self.act(pcx, "revoke-rule", g["id"], f"the peering is {why}")
        read, decrypt = READ_SID + sid_suffix(pcx), DECRYPT_SID + sid_suffix(pcx)
        for arn, s in self.obs["secrets"].items():
            if s and read in owned_sids(s["policy"]):
                self.secret_changes.setdefault(arn, ([], []))[1].append(read)
        for k in self.obs["keys"].values():
            if k and decrypt in owned_sids(k["policy"]):
                self.key_changes.setdefault(k["arn"], ([], []))[1].append(decrypt)

    def vanished(self):
        known = {p["id"] for p in self.obs["peerings"]}
        marked = {marked_peering(r["description"]) for g in self.obs["groups"].values() for r in g["rules"]}
        for s in list(self.obs["secrets"].values()) + list(self.obs["keys"].values()):
            if s:
                marked |= {peering_of_sid(sid) for sid in owned_sids(s["policy"])}
        scope_vpcs = [e["local_vpc"] for e in self.cfg["peers"]]
        for pcx in sorted(m for m in marked if m and m not in known):
            self.cleanup(pcx, "gone (EC2 no longer lists it)", scope_vpcs)

    def policies(self):
        for arn, (upsert, remove) in sorted(self.secret_changes.items()):
            state = self.obs["secrets"].get(arn)
            current = state["policy"] if state else None
            for st in statements(current):
                principal = st.get("Principal")
                aws = principal.get("AWS") if isinstance(principal, dict) else principal
                if st.get("Effect") == "Allow" and (aws == "*" or (isinstance(aws, list) and "*" in aws)):
                    self.finding("public-policy", None, arn, f"the resource policy of {arn} allows everyone")
            missing, gone = policy_needs(current, upsert, remove)
            if missing or gone:
                self.act(None, "merge-secret-policy", arn, f"{len(missing)} missing, {len(gone)} to remove")
        for arn, (upsert, remove) in sorted(self.key_changes.items()):
            key = next((k for k in self.obs["keys"].values() if k and k["arn"] == arn), None)
            missing, gone = policy_needs(key["policy"] if key else None, upsert, remove)
            if missing or gone:
                self.act(None, "merge-key-policy", arn, f"{len(missing)} missing, {len(gone)} to remove")


def marked_peering(description):
    if description and description.startswith("peerlink:pcx-"):
        return description.removeprefix("peerlink:")
    return None


def reconcile(me, cfg, peerings, obs=None):
    obs = obs or observe(me, cfg, peerings)
    planner = Planner(me, cfg, obs, complete=True)
    managed = planner.run()
    for a in planner.actions:
        log("action", **a, result="pending")
    for f in planner.findings:
        log("finding", **f)
    return {
        "scope": {"scope": "all"},
        "applied": False,
        "managed": managed,
        "actions": planner.actions,
        "findings": planner.findings,
    }


# ---------------------------------------------------------------- handlers

# The cold start, as in the Rust functions (Context::from_env): the configuration
# and who we are, read once per process. A configuration that does not load
# fails the init, before any decision.
CONFIG = load_config()
ME = identity()


def require_scheduled(event, function):
    if event.get("source") != "aws.events" or event.get("detail-type") != "Scheduled Event":
        raise ValueError(f"the {function} baseline only handles scheduled events")


def accepter(event, context):
    require_scheduled(event, "accepter")
    cfg, me = CONFIG, ME
    return sweep(me, cfg, describe_peerings())


def finisher(event, context):
    require_scheduled(event, "finisher")
    cfg, me = CONFIG, ME
    return reconcile(me, cfg, describe_peerings())


def drift(event, context):
    require_scheduled(event, "drift")
    cfg, me = CONFIG, ME
    mode = os.environ.get("PEERLINK_DRIFT_MODE", "").strip() or cfg["drift_mode"]
    # One read of peerings and VPCs shared by the sweep and the reconcile, as in drift.rs.
    peerings = describe_peerings()
    obs = observe(me, cfg, peerings)
    requests = sweep(me, cfg, peerings, known_vpcs=obs["vpcs"])
    rec = reconcile(me, cfg, peerings, obs)
    summary = {
        "managed": len(rec["managed"]),
        "drift_found": len(rec["actions"]),
        "findings": len(rec["findings"]),
        "decisions": len(requests["outcomes"]),
    }
    log("drift pass", mode=mode, **summary)
    return {"mode": mode, "requests": requests, "reconcile": rec, "summary": summary}
