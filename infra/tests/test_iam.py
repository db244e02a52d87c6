"""Least privilege, checked on the templates' text.

1. No policy statement anywhere has a wildcard action (`*`, `ec2:*`,
   `ec2:Create*`) or NotAction, and no Allow grants a write (anything but
   Describe/Get/List) on Resource "*". SAM policy templates would be exempt;
   the templates use none.
2. Each function's role grants exactly the AWS calls that function's code
   makes (read from shared/src/aws/, subdirectories included), plus its logs
   and failure queue: a call added to the code without its permission, or a
   permission nobody uses, fails here rather than in an account.
3. The writes that could widen access carry their conditions: accept only from
   an allowlisted account's VPC, never a public secret policy, never a key
   policy that skips KMS's lockout check, tags only peerlink's own, deletes and
   creates only of peerings peerlink may touch.
"""

import fnmatch
import re

import pytest

from cfn import ROOT, TEMPLATES, functions, load, load_text, parameter_values, resolve

READ_VERBS = ("Describe", "Get", "List")

# Resource types whose properties hold policy documents, and where.
POLICY_HOLDERS = {
    "AWS::IAM::Role": ["AssumeRolePolicyDocument", "Policies[].PolicyDocument"],
    "AWS::IAM::ManagedPolicy": ["PolicyDocument"],
    "AWS::IAM::Policy": ["PolicyDocument"],
    "AWS::S3::BucketPolicy": ["PolicyDocument"],
    "AWS::SQS::QueuePolicy": ["PolicyDocument"],
    "AWS::SNS::TopicPolicy": ["PolicyDocument"],
    "AWS::KMS::Key": ["KeyPolicy"],
    "AWS::SecretsManager::ResourcePolicy": ["ResourcePolicy"],
    "AWS::Events::EventBusPolicy": ["Statement"],
    "AWS::Serverless::Function": ["Policies[]"],
}


def branches(node):
    """Expands Fn::If into both branches and drops AWS::NoValue."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        _, yes, no = node["Fn::If"]
        return branches(yes) + branches(no)
    if node == {"Ref": "AWS::NoValue"}:
        return []
    return [node]


def _walk(obj, path):
    if not path:
        return branches(obj)
    head, rest = path[0], path[1:]
    out = []
    for o in branches(obj):
        if head.endswith("[]"):
            key = head[:-2]
            items = o.get(key, []) if key else o
            for item in (items if isinstance(items, list) else []):
                out += _walk(item, rest)
        elif isinstance(o, dict) and head in o:
            out += _walk(o[head], rest)
    return out


def statements_of(document):
    """Statements of a policy document (or a bare statement / list of them)."""
    out = []
    for doc in branches(document):
        if isinstance(doc, str):
            continue  # a SAM policy template name or a managed policy ARN
        if isinstance(doc, dict) and "Statement" in doc:
            stmts = doc["Statement"]
        else:
            stmts = doc  # EventBusPolicy's Statement, or a SAM inline statement list
        for s in branches(stmts) if not isinstance(stmts, list) else stmts:
            for st in branches(s):
                if isinstance(st, dict) and ("Effect" in st):
                    out.append(st)
    return out


def all_statements(template):
    """[(where, statement)] for every policy statement in the template."""
    out = []
    for name, res in (template.get("Resources") or {}).items():
        paths = POLICY_HOLDERS.get(res.get("Type"))
        if not paths:
            continue
        for path in paths:
            for doc in _walk(res.get("Properties") or {}, path.split(".")):
                if res["Type"] == "AWS::Serverless::Function" and isinstance(doc, dict) and "Statement" not in doc:
                    continue  # a SAM policy template ({"SQSPollerPolicy": {...}}): SAM's own, exempt
                for st in statements_of(doc):
                    out.append((f"{name}.{path}", st))
    return out


def as_list(v):
    return v if isinstance(v, list) else [v]


def every_resource_of_a_type(resource):
    """The resource types of which a Resource element names every one (an
    ARN ending in `:*` or `/*`, e.g. `…:secret:*`, `…:route-table/*`);
    Fn::Sub texts are read as written, lists built from parameters (the
    configured resources) are not wildcards."""
    out = []
    for r in [r for b in branches(resource) for r in as_list(b)]:
        text = r if isinstance(r, str) else r.get("Fn::Sub") if isinstance(r, dict) else None
        if isinstance(text, list):
            text = text[0]
        if isinstance(text, str) and text != "*" and re.search(r"[:/]\*$", text):
            out.append(re.split(r"[:/]", text[:-2])[-1] or text)
    return out


def violations(template):
    found = []
    for where, st in all_statements(template):
        sid = st.get("Sid", "?")
        if "NotAction" in st:
            found.append(f"{where} {sid}: NotAction grants everything else")
        if st.get("Effect") == "Allow" and "NotResource" in st:
            found.append(f"{where} {sid}: NotResource")
        actions = [a for a in as_list(st.get("Action", [])) if isinstance(a, str)]
        for a in actions:
            if "*" in a or "?" in a:
                found.append(f"{where} {sid}: wildcard action {a!r}")
        if st.get("Effect") != "Allow" or "Resource" not in st:
            continue
        resources = [r for b in branches(st["Resource"]) for r in as_list(b)]
        if "*" in resources:
            for a in actions:
                verb = a.split(":", 1)[-1]
                if not verb.startswith(READ_VERBS):
                    found.append(f"{where} {sid}: {a} on Resource '*'")
        for kind in every_resource_of_a_type(st["Resource"]):
            keys = {k for tests in (st.get("Condition") or {}).values() for k in tests}
            if not keys - {"aws:RequestedRegion"}:
                for a in actions:
                    if not a.split(":", 1)[-1].startswith(READ_VERBS):
                        found.append(f"{where} {sid}: {a} on every {kind} without a condition")
        principal = st.get("Principal")
        if principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS", []))):
            found.append(f"{where} {sid}: Allow to every principal")
    return found


def test_the_checker_catches_what_it_must():
    bad = load_text(
        """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - {Sid: Star, Effect: Allow, Action: "*", Resource: !Sub "arn:aws:s3:::b"}
              - {Sid: Service, Effect: Allow, Action: "ec2:*", Resource: "arn:aws:ec2:::x"}
              - {Sid: Prefix, Effect: Allow, Action: ["ec2:Create*"], Resource: "arn:aws:ec2:::x"}
              - {Sid: WriteAll, Effect: Allow, Action: [ec2:DescribeVpcs, ec2:CreateRoute], Resource: "*"}
              - !If
                - Cond
                - {Sid: Hidden, Effect: Allow, Action: kms:PutKeyPolicy, Resource: ["*"]}
                - !Ref AWS::NoValue
              - {Sid: Not, Effect: Allow, NotAction: iam:PassRole, Resource: "arn:aws:iam:::x"}
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Statement:
          - {Sid: Managed, Effect: Allow, Action: sqs:SendMessage, Resource: "*"}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - {Sid: Inline, Effect: Allow, Action: "secretsmanager:Put*", Resource: "arn:x"}
        - SQSPollerPolicy: {QueueName: q}
  Tagged:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Statement:
          - {Sid: AllSecrets, Effect: Allow, Action: secretsmanager:PutResourcePolicy,
             Resource: !Sub "arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}
          - {Sid: RegionOnly, Effect: Allow, Action: kms:PutKeyPolicy, Resource: "arn:aws:kms:eu-west-1:1:key/*",
             Condition: {StringEquals: {aws:RequestedRegion: eu-west-1}}}
          - {Sid: TaggedOnly, Effect: Allow, Action: kms:PutKeyPolicy, Resource: "arn:aws:kms:eu-west-1:1:key/*",
             Condition: {StringEquals: {aws:ResourceTag/peerlink:managed: "true"}}}
          - {Sid: ReadAll, Effect: Allow, Action: kms:DescribeKey, Resource: "arn:aws:kms:eu-west-1:1:key/*"}
  Bus:
    Type: AWS::Events::EventBusPolicy
    Properties:
      StatementId: s
      Statement: {Sid: Everyone, Effect: Allow, Principal: "*", Action: events:PutEvents, Resource: "arn:x"}
"""
    )
    found = "\n".join(violations(bad))
    for sid, what in [
        ("Star", "wildcard action '*'"),
        ("Service", "wildcard action 'ec2:*'"),
        ("Prefix", "wildcard action 'ec2:Create*'"),
        ("WriteAll", "ec2:CreateRoute on Resource '*'"),
        ("Hidden", "kms:PutKeyPolicy on Resource '*'"),
        ("Not", "NotAction"),
        ("Managed", "sqs:SendMessage on Resource '*'"),
        ("Inline", "wildcard action 'secretsmanager:Put*'"),
        ("Everyone", "Allow to every principal"),
        ("AllSecrets", "secretsmanager:PutResourcePolicy on every secret without a condition"),
        ("RegionOnly", "kms:PutKeyPolicy on every key without a condition"),
    ]:
        assert f"{sid}: {what}" in found, f"the checker missed {sid}:\n{found}"
    assert "DescribeVpcs" not in found, "reads on '*' are allowed"
    assert "TaggedOnly" not in found and "ReadAll" not in found, found


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_no_wildcard_actions_and_no_writes_on_everything(template_name):
    template = load(TEMPLATES[template_name])
    assert len(all_statements(template)) > 10, "the checker found (almost) no statement: is it looking?"
    assert violations(template) == []


# ------------------------------------------------------------------ per function

# The service of each operation in shared/src/aws; anything not listed is ec2.
# TagResource is both Secrets Manager's and KMS's: peerlink tags the secrets
# and the keys it writes to (peerlink:managed), so it can find them again once
# the configuration no longer names them (issue 19.2).
SERVICE = {
    "DescribeSecret": "secretsmanager",
    "GetResourcePolicy": "secretsmanager",
    "PutResourcePolicy": "secretsmanager",
    "ListSecrets": "secretsmanager",
    "TagResource": ("secretsmanager", "kms"),
    "DescribeKey": "kms",
    "GetKeyPolicy": "kms",
    "PutKeyPolicy": "kms",
    "GetParameter": "ssm",
    "PutEvents": "events",
    "GetCallerIdentity": "sts",
}

# Calls the code makes that the Lambda roles must not (or need not) grant.
NOT_GRANTED = {
    "GetCallerIdentity": "sts:GetCallerIdentity needs no permission",
}

# Drift proves the paths entries declare (verify = [...]): their interfaces
# and their subnets' network ACLs.
READS_PATHS = {"DescribeNetworkInterfaces", "DescribeNetworkAcls"}

# Drift reports the user's rules a deleted peering left stale.
READS_STALE = {"DescribeStaleSecurityGroups"}

READS_FINISH = {"DescribeVpcPeeringConnections", "DescribeVpcs", "DescribeVpcAttribute", "DescribeRouteTables",
                "DescribeSecurityGroups", "DescribeSubnets", "DescribeSecret", "GetResourcePolicy", "DescribeKey", "GetKeyPolicy",
                "ListSecrets"}
WRITES_FINISH = {"CreateRoute", "ReplaceRoute", "DeleteRoute", "AuthorizeSecurityGroupIngress",
                 "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
                 "ModifyVpcPeeringConnectionOptions", "ModifyVpcAttribute", "PutResourcePolicy", "PutKeyPolicy",
                 "CreateTags", "UpdateSecurityGroupRuleDescriptionsIngress",
                 "UpdateSecurityGroupRuleDescriptionsEgress", "TagResource", "CreateVpcPeeringConnection",
                 "DeleteVpcPeeringConnection"}
DECIDE = {"AcceptVpcPeeringConnection", "RejectVpcPeeringConnection"}

# Which calls each function's code path makes (accepter.rs; finisher.rs and
# reconcile/; drift.rs = reconcile + the accepter's sweep, which announces its
# decisions). Every function loads its configuration from SSM. The accepter,
# and drift's sweep (the same logic), delete a peering they accepted
# concurrently with an overlapping one; finisher and drift also delete their own
# duplicate requests (DeleteVpcPeeringConnection in WRITES_FINISH). Which
# peerings each role may delete: test_who_deletes_which_peerings. Every
# function may put its own continuation on its bus (PutEvents, issue 20.2).
CALLS = {
    "accepter": {"DescribeVpcPeeringConnections", "DescribeVpcs", "PutEvents", "GetParameter",
                 "DeleteVpcPeeringConnection"} | DECIDE,
    "finisher": READS_FINISH | WRITES_FINISH | {"PutEvents", "GetParameter"},
    "drift": READS_FINISH | READS_PATHS | READS_STALE | WRITES_FINISH | DECIDE | {"PutEvents", "GetParameter"},
}
# A requester account cannot accept or reject (infra/requester.yaml).
WITHOUT = {"requester": DECIDE}

# What a role needs besides the code's calls: its logs, its failure
# destination, and kms:Decrypt when the configuration is a SecureString on a CMK.
PLUMBING = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage", "kms:Decrypt"}


def code_operations():
    ops = set()
    for path in (ROOT / "shared" / "src" / "aws").rglob("*.rs"):
        text = path.read_text()
        ops |= set(re.findall(r'aws_error\("(\w+)"', text))
        # The filtered Describe reads name their operation to one macro.
        ops |= set(re.findall(r'describe_filtered!\(\s*\w+,\s*\w+,\s*"(\w+)"', text))
    return ops


def iam_actions(op):
    services = SERVICE.get(op, "ec2")
    return {f"{service}:{op}" for service in ([services] if isinstance(services, str) else services)}


def test_the_call_table_covers_the_code():
    ops = code_operations()
    assert len(ops) > 20, ops
    listed = set().union(*CALLS.values()) | set(NOT_GRANTED)
    assert ops == listed, (
        f"calls in shared/src/aws not in this test's table: {sorted(ops - listed)} (grant them in the templates "
        f"and add them here); in the table but gone from the code: {sorted(listed - ops)}"
    )


def role_statements(template, role):
    """Every statement of the role's inline policies and attached managed policies."""
    resources = template["Resources"]
    docs = []
    for p in resources[role]["Properties"].get("Policies", []):
        docs.append(p["PolicyDocument"])
    for name, res in resources.items():
        if res["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            if {"Ref": role} in res["Properties"].get("Roles", []):
                docs.append(res["Properties"]["PolicyDocument"])
    for arn in resources[role]["Properties"].get("ManagedPolicyArns", []):
        raise AssertionError(f"{role}: attach policies through their Roles property, not {arn}")
    return [st for doc in docs for st in statements_of(doc)]


def role_actions(template, role):
    """Every action the role's inline policies and attached managed policies allow."""
    actions = set()
    for st in role_statements(template, role):
        if st["Effect"] == "Allow":
            actions |= set(as_list(st["Action"]))
    return actions


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_each_role_grants_exactly_what_its_function_calls(template_name):
    template = load(TEMPLATES[template_name])
    for logical, fn in functions(template).items():
        role_ref = template["Resources"][logical]["Properties"]["Role"]
        role = role_ref["Fn::GetAtt"][0]
        granted = role_actions(template, role)
        expected = {a for op in CALLS[fn] - WITHOUT.get(template_name, set()) for a in iam_actions(op)}
        api = granted - PLUMBING
        assert api == expected, (
            f"{template_name} {fn}: missing {sorted(expected - api)}, not used by the code {sorted(api - expected)}"
        )
        assert {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"} <= granted, fn


# ------------------------------------------------------------------ conditions


def allows(template, action):
    """[(where, statement)] of every Allow statement granting `action`."""
    return [(w, st) for w, st in all_statements(template)
            if st.get("Effect") == "Allow" and action in as_list(st.get("Action", []))]


def condition_value(st, operator, key, values):
    """The statement's condition `operator` on `key`, resolved, as a list (empty if absent)."""
    cond = resolve(st.get("Condition") or {}, values)
    return [str(v) for v in as_list(cond.get(operator, {}).get(key, []))]


def resources_of(st, values):
    return [str(r) for r in as_list(resolve(st["Resource"], values))]


def vpc_arn(account, vpc="vpc-0123456789abcdef0", partition="aws", region="eu-west-1"):
    return f"arn:{partition}:ec2:{region}:{account}:vpc/{vpc}"


@pytest.mark.parametrize("requesters", [["111111111111", "333333333333"], [""]])
@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_accept_only_requests_from_allowlisted_accounts(template_name, requesters):
    """Accept is authorised on the peering and on the accepter VPC; on the
    peering, ec2:RequesterVpc must be a VPC of RequesterAccountIds (or of this
    account: a peering between two of its VPCs)."""
    me = "222222222222"
    template = load(TEMPLATES[template_name], RequesterAccountIds=requesters)
    grants = allows(template, "ec2:AcceptVpcPeeringConnection")
    if template_name == "requester":
        assert grants == []
        return
    values = parameter_values(template, **{"AWS::AccountId": me, "RequesterAccountIds": requesters,
                                           "LocalVpcIds": ["vpc-0bbb2222bbbb2222b"]})
    on_peerings = [st for _, st in grants if any(":vpc-peering-connection/" in r for r in resources_of(st, values))]
    assert on_peerings, "no statement grants AcceptVpcPeeringConnection on peerings"
    allowlisted = {me} | {a for a in requesters if a}
    for st in on_peerings:
        patterns = condition_value(st, "ArnLike", "ec2:RequesterVpc", values)
        assert patterns, f"{st.get('Sid')}: accept without an ec2:RequesterVpc condition"
        assert {p.split(":")[4] for p in patterns} == allowlisted, patterns
        for p in patterns:
            assert re.fullmatch(r"arn:(\*|aws[a-z-]*):ec2:\*:\d{12}:vpc/\*", p), p
        for account in allowlisted:
            assert any(fnmatch.fnmatchcase(vpc_arn(account), p) for p in patterns), account
        assert not any(fnmatch.fnmatchcase(vpc_arn("999999999999"), p) for p in patterns), "a stranger's VPC passes"
        # And only into a local VPC.
        assert condition_value(st, "ArnLike", "ec2:AccepterVpc", values) == ["arn:*:ec2:*:*:vpc/vpc-0bbb2222bbbb2222b"]


def bool_condition(st, key, values):
    return [v.lower() for v in condition_value(st, "Bool", key, values)]


# The detail-types of the events peerlink puts on its bus.
PEERLINK_DETAIL_TYPES = {"VPC Peering Accepted", "VPC Peering Rejected", "VPC Peering Awaiting Approval",
                         "Peerlink Continuation"}

# Writes granted only under a condition: action -> (what, predicate(statement, values)).
CONDITIONED_WRITES = {
    "secretsmanager:PutResourcePolicy": (
        "Bool secretsmanager:BlockPublicPolicy = true",
        lambda st, v: bool_condition(st, "secretsmanager:BlockPublicPolicy", v) == ["true"],
    ),
    "kms:PutKeyPolicy": (
        "Bool kms:BypassPolicyLockoutSafetyCheck = false",
        lambda st, v: bool_condition(st, "kms:BypassPolicyLockoutSafetyCheck", v) == ["false"],
    ),
    "secretsmanager:TagResource": (
        'ForAllValues:StringLike aws:TagKeys "peerlink:*"',
        lambda st, v: condition_value(st, "ForAllValues:StringLike", "aws:TagKeys", v) == ["peerlink:*"],
    ),
    # A key: only the configured ones, only the tag peerlink:managed = true.
    "kms:TagResource": (
        "KmsKeyArns, ForAllValues:StringEquals aws:TagKeys [peerlink:managed], aws:RequestTag = true",
        lambda st, v: resources_of(st, v) == ["arn:aws:kms:eu-west-1:222222222222:key/k"]
        and condition_value(st, "ForAllValues:StringEquals", "aws:TagKeys", v) == ["peerlink:managed"]
        and condition_value(st, "StringEquals", "aws:RequestTag/peerlink:managed", v) == ["true"],
    ),
    # On the local VPCs and groups only peerlink's keys; on a peering only while creating it.
    "ec2:CreateTags": (
        'peerlink:* tag keys, or ec2:CreateAction = CreateVpcPeeringConnection on a new peering',
        lambda st, v: condition_value(st, "ForAllValues:StringLike", "aws:TagKeys", v) == ["peerlink:*"]
        or (condition_value(st, "StringEquals", "ec2:CreateAction", v) == ["CreateVpcPeeringConnection"]
            and all(":vpc-peering-connection/" in r for r in resources_of(st, v))),
    ),
    # The accepter and drift's sweep undo a peering into a local VPC; finisher
    # and drift delete their own duplicate requests (a local requester VPC,
    # tagged peerlink:managed). Which role has which: test_who_deletes_which_peerings.
    "ec2:DeleteVpcPeeringConnection": (
        "ec2:AccepterVpc local, or ec2:RequesterVpc local and tagged peerlink:managed",
        lambda st, v: condition_value(st, "ArnLike", "ec2:AccepterVpc", v) == ["arn:*:ec2:*:*:vpc/vpc-0local"]
        or (condition_value(st, "ArnLike", "ec2:RequesterVpc", v) == ["arn:*:ec2:*:*:vpc/vpc-0local"]
            and condition_value(st, "Null", "aws:ResourceTag/peerlink:managed", v) == ["false"]),
    ),
    # From a local VPC (the vpc resource), to a configured peer (the peering's ec2:AccepterVpc).
    "ec2:CreateVpcPeeringConnection": (
        "the local VPCs as resource, or ec2:AccepterVpc in RequestPeerVpcArns",
        lambda st, v: resources_of(st, v) == ["arn:*:ec2:*:*:vpc/vpc-0local"]
        or condition_value(st, "ArnLike", "ec2:AccepterVpc", v) == ["arn:aws:ec2:eu-west-1:333333333333:vpc/vpc-0peer"],
    ),
}


@pytest.mark.parametrize("action", sorted(CONDITIONED_WRITES))
@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_writes_carry_their_conditions(template_name, action):
    template = load(TEMPLATES[template_name])
    values = parameter_values(template, **{
        "AWS::AccountId": "222222222222", "LocalVpcIds": ["vpc-0local"], "SecurityGroupIds": ["sg-0local"],
        "SecretArns": ["arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf"],
        "KmsKeyArns": ["arn:aws:kms:eu-west-1:222222222222:key/k"],
        "RequestPeerVpcArns": ["arn:aws:ec2:eu-west-1:333333333333:vpc/vpc-0peer"],
    })
    what, holds = CONDITIONED_WRITES[action]
    grants = allows(template, action)
    assert grants, f"{template_name}: nothing grants {action} (a removed statement should fail here too)"
    for where, st in grants:
        assert holds(st, values), f"{template_name} {where} {st.get('Sid')}: {action} without {what}"


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_functions_put_only_peerlink_events_on_their_own_bus(template_name):
    """Every function may put events (its continuation; the accepter and
    drift also their decisions), only with source peerlink and peerlink's
    detail-types, only on this account's peerlink bus."""
    template = load(TEMPLATES[template_name])
    bus = "arn:aws:events:eu-west-1:222222222222:event-bus/default"
    values = parameter_values(template, **{"AWS::AccountId": "222222222222"})
    for logical, fn in functions(template).items():
        role = template["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        grants = [st for st in role_statements(template, role)
                  if st["Effect"] == "Allow" and "events:PutEvents" in as_list(st["Action"])]
        assert grants, f"{template_name} {fn}: may not put its continuation"
        for st in grants:
            assert resources_of(st, values) == [bus], (fn, st.get("Sid"))
            assert condition_value(st, "StringEquals", "events:source", values) == ["peerlink"], (fn, st.get("Sid"))
            types = set(condition_value(st, "StringEquals", "events:detail-type", values))
            assert types and types <= PEERLINK_DETAIL_TYPES, (fn, st.get("Sid"), types)


# What each function may announce on its bus: the accepter and drift's sweep
# decide (and leave requests for a human, issue 19.14), every function asks
# for its own continuation (issue 20.2). A requester stack decides nothing.
ANNOUNCES = {
    "accepter": {"accepter": PEERLINK_DETAIL_TYPES, "drift": PEERLINK_DETAIL_TYPES,
                 "finisher": {"Peerlink Continuation"}},
    "requester": {"drift": {"Peerlink Continuation"}, "finisher": {"Peerlink Continuation"}},
}


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_who_may_announce_what(template_name):
    template = load(TEMPLATES[template_name])
    values = parameter_values(template, **{"AWS::AccountId": "222222222222"})
    got = {}
    for logical, fn in functions(template).items():
        role = template["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        got[fn] = {t for st in role_statements(template, role)
                   if st["Effect"] == "Allow" and "events:PutEvents" in as_list(st["Action"])
                   for t in condition_value(st, "StringEquals", "events:detail-type", values)}
    assert got == ANNOUNCES[template_name]


# Which peerings each function's role may delete: "undo" (ec2:AccepterVpc a
# local VPC: one of two overlapping peerings accepted concurrently, by the
# accepter or by drift's sweep, which decides like it) and "duplicate"
# (ec2:RequesterVpc a local VPC and tagged peerlink:managed: a duplicate request
# of its own). A requester stack decides nothing, so undoes nothing.
DELETES = {
    "accepter": {"accepter": {"undo"}, "finisher": {"duplicate"}, "drift": {"undo", "duplicate"}},
    "requester": {"finisher": {"duplicate"}, "drift": {"duplicate"}},
}


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_who_deletes_which_peerings(template_name):
    template = load(TEMPLATES[template_name])
    values = parameter_values(template, **{"AWS::AccountId": "222222222222", "LocalVpcIds": ["vpc-0local"]})
    local = ["arn:*:ec2:*:*:vpc/vpc-0local"]
    assert set(functions(template).values()) == set(DELETES[template_name])
    for logical, fn in functions(template).items():
        role = template["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        kinds = set()
        for st in role_statements(template, role):
            if st["Effect"] != "Allow" or "ec2:DeleteVpcPeeringConnection" not in as_list(st["Action"]):
                continue
            assert all(":vpc-peering-connection/" in r for r in resources_of(st, values)), st.get("Sid")
            assert condition_value(st, "StringEquals", "aws:RequestedRegion", values) == ["eu-west-1"], st.get("Sid")
            if condition_value(st, "ArnLike", "ec2:AccepterVpc", values) == local:
                kinds.add("undo")
            elif (condition_value(st, "ArnLike", "ec2:RequesterVpc", values) == local
                  and condition_value(st, "Null", "aws:ResourceTag/peerlink:managed", values) == ["false"]):
                kinds.add("duplicate")
            else:
                kinds.add(f"unexpected statement {st.get('Sid')}")
        assert kinds == DELETES[template_name][fn], (
            f"{template_name} {fn} may delete {sorted(kinds)}, expected {sorted(DELETES[template_name][fn])}")
