"""One source of truth for permissions: the stack parameters
`peerlink deploy-params` derives from a configuration (parsed here by SAM's
own --parameter-overrides parser) name every resource the configuration
names, and the templates' IAM statements, with those values substituted,
allow each function's calls on exactly those resources: on every configured
VPC, group, secret, key, requester account and peer VPC to request to, and
on none other.

The policy evaluation is a small model of IAM's: a statement applies when
its action matches, a Resource pattern matches the ARN, and every condition
holds for the request context (a key the context lacks fails the condition,
except Null)."""

import fnmatch
import json
import re
import subprocess
import tomllib

import pytest

from cfn import ROOT, TEMPLATES, functions, load, parameter_values, resolve
from peerlink_cli import example_with_requester_entry, run
from test_iam import all_statements, as_list, role_statements

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"
EXAMPLE = ROOT / "peerlink.example.toml"
ME = "222222222222"  # the example's account
REGION = "eu-west-1"
STRANGER = "999999999999"
PCX = "pcx-0123456789abcdef0"


def sam_parse(overrides):
    """The parameters `sam deploy --parameter-overrides "<overrides>"` passes on."""
    if not SAM_PYTHON.exists():
        pytest.fail("AWS SAM CLI missing: scripts/setup.sh infra")
    code = ("import json, sys\nfrom samcli.cli.types import CfnParameterOverridesType as T\n"
            "print(json.dumps(T().convert((sys.argv[1],), None, None)))")
    out = subprocess.run([str(SAM_PYTHON), "-c", code, overrides], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def configured(path):
    """What the configuration names, read independently of the Rust code."""
    doc = tomllib.loads(path.read_text())
    peers = doc.get("peer", [])
    return {
        "vpcs": {p["local_vpc"] for p in peers},
        "groups": {r["group"] for p in peers for r in p.get("security_group_rules", [])},
        "secrets": {s["arn"] for p in peers for s in p.get("secrets", [])},
        "keys": {s["kms_key"] for p in peers for s in p.get("secrets", []) if "kms_key" in s},
        "requesters": {p["peer_account"] for p in peers if not p.get("request")},
        "peer_accounts": {p["peer_account"] for p in peers},
        "targets": {f"arn:aws:ec2:{p['peer_region']}:{p['peer_account']}:vpc/{p['peer_vpc']}"
                    for p in peers if p.get("request")},
        "peers": peers,
    }


def derived(path, template):
    """deploy-params' output for `template`, as CloudFormation receives it:
    {name: value}, comma lists split."""
    out = run("deploy-params", "--config", path, "--template", template, "--region", REGION)
    raw = sam_parse(out.stdout.strip())
    params = load(TEMPLATES[template])["Parameters"]
    assert set(raw) <= set(params), f"not parameters of {template}.yaml: {set(raw) - set(params)}"
    return {k: (v.split(",") if params[k]["Type"] == "CommaDelimitedList" else v) for k, v in raw.items()}, out.stderr


def listed(values, name):
    return {v for v in values.get(name, []) if v}


# ------------------------------------------------------------------ IAM model

def _holds(op, actual, expected):
    if op in ("ArnLike", "StringLike"):
        return any(fnmatch.fnmatchcase(actual, e) for e in expected)
    if op in ("ArnEquals", "StringEquals"):
        return actual in expected
    if op == "Bool":
        return str(actual).lower() in [e.lower() for e in expected]
    raise ValueError(f"condition operator {op} is not modelled")


def conditions_hold(condition, context):
    for op, entries in (condition or {}).items():
        for key, expected in entries.items():
            expected = [str(e) for e in as_list(expected)]
            actual = context.get(key)
            if op == "Null":
                if (actual is None) != (expected == ["true"]):
                    return False
                continue
            if actual is None:
                return False
            if op.startswith("ForAllValues:"):
                if not all(_holds(op.split(":", 1)[1], a, expected) for a in as_list(actual)):
                    return False
            elif not _holds(op, actual, expected):
                return False
    return True


def allowed(statements, action, resource, **context):
    context = {"aws:RequestedRegion": REGION, **context}
    return any(
        st["Effect"] == "Allow" and action in as_list(st["Action"])
        and any(fnmatch.fnmatchcase(resource, r) for r in as_list(st["Resource"]))
        and conditions_hold(st.get("Condition"), context)
        for st in statements)


PLUMBING = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"}


def resolved_roles(template_name, values):
    """{function binary: its role's statements, resolved with `values`}."""
    template = load(TEMPLATES[template_name], **values)
    v = parameter_values(template, **{"AWS::AccountId": ME, **values})
    roles = {}
    for logical, fn in functions(template).items():
        role = template["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = []
        for st in role_statements(template, role):
            if set(as_list(st["Action"])) <= PLUMBING:
                continue  # its own log group and queue (Fn::GetAtt): not configuration
            statements.append(resolve(st, v))
        roles[fn] = statements
    return template, v, roles


def ec2(kind, ident, account=ME, region=REGION):
    return f"arn:aws:ec2:{region}:{account}:{kind}/{ident}"


# ------------------------------------------------------------------ the tests

CASES = [("accepter", "example"), ("accepter", "both"), ("requester", "both")]


def config_path(which, tmp_path):
    return EXAMPLE if which == "example" else example_with_requester_entry(tmp_path)


@pytest.mark.parametrize("template_name,which", CASES)
def test_the_parameters_name_what_the_configuration_names(template_name, which, tmp_path):
    path = config_path(which, tmp_path)
    want = configured(path)
    values, notes = derived(path, template_name)
    assert listed(values, "LocalVpcIds") == want["vpcs"]
    assert listed(values, "SecurityGroupIds") == want["groups"]
    assert listed(values, "SecretArns") == want["secrets"]
    assert listed(values, "KmsKeyArns") == want["keys"]
    assert listed(values, "RequestPeerVpcArns") == want["targets"]
    if template_name == "accepter":
        assert listed(values, "RequesterAccountIds") == want["requesters"]
    else:
        assert listed(values, "AccepterAccountIds") == want["peer_accounts"]
    assert values["DriftMode"] == tomllib.loads(path.read_text())["settings"]["drift_mode"]
    if which == "both":
        assert want["targets"], "the document with the requester entry requests nothing"
        assert "requests a peering" in notes or template_name == "requester", notes


@pytest.mark.parametrize("template_name,which", CASES)
def test_the_roles_allow_exactly_the_configured_resources(template_name, which, tmp_path):
    path = config_path(which, tmp_path)
    want = configured(path)
    values, _ = derived(path, template_name)
    template, v, roles = resolved_roles(template_name, values)
    writers = [roles["finisher"], roles["drift"]]
    other_vpc = "vpc-0fff9999ffff9999f"
    assert other_vpc not in want["vpcs"]

    for statements in writers:
        for group in want["groups"] | {"sg-0fff9999ffff9999f"}:
            for action in ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"):
                assert allowed(statements, action, ec2("security-group", group)) == (group in want["groups"]), \
                    (action, group)
        for vpc in want["vpcs"] | {other_vpc}:
            ok = vpc in want["vpcs"]
            assert allowed(statements, "ec2:CreateRoute", ec2("route-table", "rtb-0123456789abcdef0"),
                           **{"ec2:Vpc": ec2("vpc", vpc)}) == ok, vpc
            assert allowed(statements, "ec2:ModifyVpcAttribute", ec2("vpc", vpc)) == ok, vpc
            assert allowed(statements, "ec2:CreateVpcPeeringConnection", ec2("vpc", vpc)) == ok, vpc
        stranger_secret = f"arn:aws:secretsmanager:{REGION}:{ME}:secret:other-XyZ123"
        for secret in want["secrets"] | {stranger_secret}:
            ok = secret in want["secrets"]
            assert allowed(statements, "secretsmanager:DescribeSecret", secret) == ok, secret
            assert allowed(statements, "secretsmanager:PutResourcePolicy", secret,
                           **{"secretsmanager:BlockPublicPolicy": "true"}) == ok, secret
        stranger_key = f"arn:aws:kms:{REGION}:{ME}:key/00000000-0000-0000-0000-000000000000"
        for key in want["keys"] | {stranger_key}:
            ok = key in want["keys"]
            assert allowed(statements, "kms:GetKeyPolicy", key) == ok, key
            assert allowed(statements, "kms:PutKeyPolicy", key, **{"kms:BypassPolicyLockoutSafetyCheck": "false"}) == ok
        # Requests: to the configured peer VPCs, and to no other.
        stranger_target = ec2("vpc", other_vpc, account=STRANGER)
        for target in want["targets"] | {stranger_target}:
            assert allowed(statements, "ec2:CreateVpcPeeringConnection", ec2("vpc-peering-connection", "*"),
                           **{"ec2:AccepterVpc": target}) == (target in want["targets"]), target

    if template_name == "requester":
        assert not any(allowed(s, "ec2:AcceptVpcPeeringConnection", ec2("vpc", vpc))
                       for s in roles.values() for vpc in want["vpcs"])
        # The accepters' decisions reach this account's bus from them, and only them.
        principals = policy_principals(template, v, "AccepterDecisionsPolicy")
        assert principals == want["peer_accounts"], principals
        return

    # Accept: into a configured local VPC, from a configured requester
    # account's VPC (or this account's own), from no one else.
    for fn in ("accepter", "drift"):
        statements = roles[fn]
        for p in want["peers"]:
            if p.get("request"):
                continue
            requester_vpc = ec2("vpc", p.get("peer_vpc", "vpc-0123456789abcdef0"), account=p["peer_account"],
                                region=p.get("peer_region", REGION))
            for local in want["vpcs"] | {other_vpc}:
                ok = local in want["vpcs"]
                assert allowed(statements, "ec2:AcceptVpcPeeringConnection", ec2("vpc", local)) == ok, (fn, local)
                assert allowed(statements, "ec2:AcceptVpcPeeringConnection",
                               ec2("vpc-peering-connection", PCX, account=p["peer_account"]),
                               **{"ec2:AccepterVpc": ec2("vpc", local), "ec2:RequesterVpc": requester_vpc}) == ok
        for local in want["vpcs"]:
            assert not allowed(statements, "ec2:AcceptVpcPeeringConnection",
                               ec2("vpc-peering-connection", PCX, account=STRANGER),
                               **{"ec2:AccepterVpc": ec2("vpc", local),
                                  "ec2:RequesterVpc": ec2("vpc", other_vpc, account=STRANGER)}), fn
    # The requester accounts may forward their requests here, and get the decisions back.
    assert policy_principals(template, v, "RequesterForwardingPolicy") == want["requesters"]
    forward = [resolve(st, v) for _, st in all_statements(template) if st.get("Sid") == "PutOnRequesterBuses"]
    assert forward, "no statement lets the accepter forward decisions"
    for account in want["requesters"] | {STRANGER}:
        bus = f"arn:aws:events:{REGION}:{account}:event-bus/default"
        assert allowed(forward, "events:PutEvents", bus) == (account in want["requesters"]), account
    rules = {name for name in template["Resources"] if name.startswith("ForwardDecisionsTo")}
    assert rules == {f"ForwardDecisionsTo{a}" for a in want["requesters"]}, rules


def without_secrets(path, tmp_path):
    """The configuration at `path` with every [[peer.secrets]] block removed:
    an entry's secret withdrawn from the configuration."""
    text, n = re.subn(r"\[\[peer\.secrets\]\]\n(?:\w+ = .*\n)+", "", path.read_text())
    assert n, "the example no longer has a [[peer.secrets]] block"
    out = tmp_path / "shrunk.toml"
    out.write_text(text)
    return out


TAGGED = {"aws:ResourceTag/peerlink:managed": "true"}


@pytest.mark.parametrize("template_name,which", CASES)
def test_what_peerlink_tagged_stays_manageable_when_the_configuration_drops_it(template_name, which, tmp_path):
    """Issue 19.2: an entry's secret (and its key) leave the configuration and
    the stack is redeployed with deploy-params. The secret and key still hold
    peerlink's grant, and carry its tag (peerlink:managed = true): finisher and
    drift may still read and rewrite their policies to take the grant back, on
    this account's tagged secrets and keys only, never an untagged one, never
    a public secret policy, never a key policy that skips KMS's lockout check;
    and they tag only the keys the configuration names, only with that tag."""
    full = config_path(which, tmp_path)
    (secret,), (key,) = configured(full)["secrets"], configured(full)["keys"]
    shrunk = without_secrets(full, tmp_path)
    values, _ = derived(shrunk, template_name)
    assert not listed(values, "SecretArns") and not listed(values, "KmsKeyArns"), values
    _, _, roles = resolved_roles(template_name, values)
    untagged_secret = secret.replace("orders-db", "unrelated")
    other_account_secret = secret.replace(ME, STRANGER)
    untagged_key = key.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    public, safe = {"secretsmanager:BlockPublicPolicy": "false"}, {"secretsmanager:BlockPublicPolicy": "true"}
    lockout, no_lockout = ({"kms:BypassPolicyLockoutSafetyCheck": v} for v in ("true", "false"))
    tag = {"aws:TagKeys": ["peerlink:managed"], "aws:RequestTag/peerlink:managed": "true"}
    for fn, statements in roles.items():
        writes = fn in ("finisher", "drift")
        for action in ("secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"):
            assert allowed(statements, action, secret, **TAGGED) == writes, (fn, action, "tagged secret")
            assert not allowed(statements, action, untagged_secret), (fn, action, "untagged secret")
            assert not allowed(statements, action, other_account_secret, **TAGGED), (fn, action, "another account")
        put = "secretsmanager:PutResourcePolicy"
        assert allowed(statements, put, secret, **TAGGED, **safe) == writes, (fn, "tagged secret")
        assert not allowed(statements, put, secret, **TAGGED, **public), (fn, "a public policy")
        assert not allowed(statements, put, untagged_secret, **safe), (fn, "untagged secret")
        for action in ("kms:DescribeKey", "kms:GetKeyPolicy"):
            assert allowed(statements, action, key, **TAGGED) == writes, (fn, action, "tagged key")
            assert not allowed(statements, action, untagged_key), (fn, action, "untagged key")
        assert allowed(statements, "kms:PutKeyPolicy", key, **TAGGED, **no_lockout) == writes, (fn, "tagged key")
        assert not allowed(statements, "kms:PutKeyPolicy", key, **TAGGED, **lockout), (fn, "lockout check skipped")
        assert not allowed(statements, "kms:PutKeyPolicy", untagged_key, **no_lockout), (fn, "untagged key")
        # Tagging a key: only the configured ones; the shrunk configuration names none.
        assert not allowed(statements, "kms:TagResource", key, **tag), (fn, "a key no longer configured")

    # With the full configuration: the configured key may be tagged, with peerlink:managed only.
    values, _ = derived(full, template_name)
    _, _, roles = resolved_roles(template_name, values)
    for fn in ("finisher", "drift"):
        statements = roles[fn]
        assert allowed(statements, "kms:TagResource", key, **tag), fn
        assert not allowed(statements, "kms:TagResource", untagged_key, **tag), fn
        assert not allowed(statements, "kms:TagResource", key,
                           **{**tag, "aws:TagKeys": ["peerlink:managed", "owner"]}), (fn, "another tag key")
        assert not allowed(statements, "kms:TagResource", key,
                           **{**tag, "aws:RequestTag/peerlink:managed": "false"}), (fn, "another value")


def policy_principals(template, values, logical):
    statement = resolve(template["Resources"][logical]["Properties"]["Statement"], values)
    return set(as_list(statement["Principal"]["AWS"]))


def test_the_model_denies_what_it_must():
    """The evaluation above is only worth its negative answers."""
    st = {"Effect": "Allow", "Action": ["ec2:CreateRoute"], "Resource": "arn:aws:ec2:eu-west-1:1:route-table/*",
          "Condition": {"ArnLike": {"ec2:Vpc": ["arn:*:ec2:*:*:vpc/vpc-a"]},
                        "Null": {"aws:ResourceTag/x": "false"}}}
    rt = "arn:aws:ec2:eu-west-1:1:route-table/rtb-1"
    vpc = {"ec2:Vpc": "arn:aws:ec2:eu-west-1:1:vpc/vpc-a", "aws:ResourceTag/x": "y"}
    assert allowed([st], "ec2:CreateRoute", rt, **vpc)
    assert not allowed([st], "ec2:DeleteRoute", rt, **vpc)
    assert not allowed([st], "ec2:CreateRoute", "arn:aws:ec2:eu-west-1:2:route-table/rtb-1", **vpc)
    assert not allowed([st], "ec2:CreateRoute", rt, **{**vpc, "ec2:Vpc": "arn:aws:ec2:eu-west-1:1:vpc/vpc-b"})
    assert not allowed([st], "ec2:CreateRoute", rt, **{"ec2:Vpc": vpc["ec2:Vpc"]})  # tag absent: Null fails
    assert not allowed([{**st, "Effect": "Deny"}], "ec2:CreateRoute", rt, **vpc)


def test_sam_takes_the_overrides_as_printed():
    """Quoted comma lists and empty values reach CloudFormation as they should."""
    assert sam_parse('LocalVpcIds="vpc-1,vpc-2" SecretArns="" DriftMode=report') == {
        "LocalVpcIds": "vpc-1,vpc-2", "SecretArns": "", "DriftMode": "report"}
