"""The templates' EventBridge rules, run for real in the emulator.

For each template, every rule with an event pattern is created with PutRule +
PutTargets (an SQS queue per rule), every sample in events/ is sent with
PutEvents, and the queues say which rules matched. Each function's rules must
match exactly the samples events/handlers.json gives it. (moto's
TestEventPattern is a stub; its PutEvents really evaluates patterns. Real
EventBridge would refuse PutEvents with an aws.* source; moto accepts it, which
is what makes this test possible.)

moto stamps every event with the account that puts it, also when a rule
delivers it to another account's bus, so rules that filter on `account` are
also evaluated in-process with moto's own pattern matcher (EventPattern, the
code its PutEvents runs) against the samples as they are, `account` included.
Bus policies moto does not enforce at all: they are evaluated here.
"""

import copy
import fnmatch
import json
import re

import pytest
from moto.events.models import EventPattern

from cfn import EVENTS, ROOT, TEMPLATES, functions, handlers, load, parameter_values, pattern_rules, resolve, sample_events, schedules
from cloudtrail_identities import PEOPLE, function_role, made_by, person
from test_iam import as_list

# The account each template is deployed to in these tests.
ACCOUNTS = {"accepter": "222222222222", "requester": "111111111111"}

# Samples that reach functions another way than an event pattern.
NOT_BY_PATTERN = {"scheduled.json"}  # schedule rules, checked separately below

# peerlink's own events: the accepter's decisions (and the same, forwarded).
# Each names the peering's requester account (detail.requesterAccount): the
# requester account of the samples, 111111111111.
DECISIONS = {"peering-accepted.json", "peering-accepted-forwarded.json", "peering-rejected.json"}
# A request the accepter left for a human (issue 19.14): to the notification topic.
AWAITING_APPROVAL = "peering-awaiting-approval.json"
SAMPLE_REQUESTER = "111111111111"

# What a function legitimately does not get in a given template, and why.
EXCEPTIONS = {
    # The requester's finisher takes decisions only from the accepter accounts;
    # moto stamps them with the requester's own account here, so they are
    # checked in-process below (test_requester_finisher_takes_decisions_...).
    ("requester", "finisher"): DECISIONS,
}
# Rules that take only other accounts' events, so none put here can match.
CHECKED_IN_PROCESS = {("requester", "FinisherFunctionPeeringDecided")}


def endpoint_clients(session, endpoint):
    return session.client("events", endpoint_url=endpoint), session.client("sqs", endpoint_url=endpoint)


def install_rules(template_name, session, endpoint, target_for=None, params=None):
    """Creates every pattern rule of the template in the session's account.
    Returns [(rule, queue url)]. `target_for(rule)` may give another target
    ARN (e.g. a real event bus) instead of a queue; `params` overrides
    parameter values."""
    params = params or {}
    template = load(TEMPLATES[template_name], **params)
    account_id = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
    values = parameter_values(template, **{"AWS::AccountId": account_id, **params})
    events, sqs = endpoint_clients(session, endpoint)
    installed = []
    for rule in pattern_rules(template):
        bus = resolve(rule["bus"], values)
        if bus != "default":
            events.create_event_bus(Name=bus)
        pattern = resolve(rule["pattern"], values)
        events.put_rule(Name=rule["name"], EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
        arn = target_for(rule) if target_for else None
        url = None
        if arn is None:
            url = sqs.create_queue(QueueName=f"{template_name}-{rule['name']}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule=rule["name"], EventBusName=bus, Targets=[{"Id": "t", "Arn": arn}])
        installed.append((rule, url))
    return installed


def put_sample(events, name, event, bus="default"):
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "EventBusName": bus,
    }
    out = events.put_events(Entries=[entry])
    assert out["FailedEntryCount"] == 0, (name, out)


def put_all(events, cases, bus="default"):
    """PutEvents of every event, ten to a call (the API's limit)."""
    for i in range(0, len(cases), 10):
        entries = [{"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"]),
                    "EventBusName": bus} for e in cases[i:i + 10]]
        out = events.put_events(Entries=entries)
        assert out["FailedEntryCount"] == 0, out


def drain(sqs, url):
    got = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return got
        for m in msgs:
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def matches(template_name, session, endpoint):
    """{rule name: (owner, {sample file names it matched})}."""
    installed = install_rules(template_name, session, endpoint)
    events, sqs = endpoint_clients(session, endpoint)
    buses = sorted({resolve_bus(r, template_name, session, endpoint) for r, _ in installed})
    seen = {r["name"]: (r["owner"], set()) for r, _ in installed}
    for name, event in sample_events().items():
        # CloudTrail events only reach the default bus; put every sample on
        # every bus a rule listens on, so a rule on another bus is tested too.
        for bus in buses:
            put_sample(events, name, event, bus)
        for rule, url in installed:
            if drain(sqs, url):
                seen[rule["name"]][1].add(name)
    return seen


def resolve_bus(rule, template_name, session, endpoint):
    template = load(TEMPLATES[template_name])
    account_id = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
    return resolve(rule["bus"], parameter_values(template, **{"AWS::AccountId": account_id}))


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_each_function_matches_exactly_its_events(template_name, moto_endpoint, account):
    session = account(ACCOUNTS[template_name])
    seen = matches(template_name, session, moto_endpoint)
    manifest = handlers()
    template = load(TEMPLATES[template_name])

    by_owner = {}
    for owner, names in seen.values():
        by_owner.setdefault(owner, set()).update(names)

    for fn in functions(template).values():
        expected = {n for n, fns in manifest.items() if fn in fns and n in sample_events()} - NOT_BY_PATTERN
        expected -= EXCEPTIONS.get((template_name, fn), set())
        got = by_owner.get(fn, set())
        assert got == expected, (
            f"{template_name}: {fn}'s rules match {sorted(got)}, handlers.json says {sorted(expected)}; "
            f"missing {sorted(expected - got)}, extra {sorted(got - expected)}"
        )

    for rule, (owner, names) in seen.items():
        assert "run-instances.json" not in names, f"{template_name}: {rule} matches an unrelated RunInstances"
        assert "scheduled.json" not in names, f"{template_name}: {rule} matches a scheduled event"
        # Until events/ holds the continuation samples (issue 20.2: their
        # handlers come with them), test_each_function_continues_itself_only
        # sends the agreed shape.
        awaiting_sample = rule.endswith("Continue") and not (EVENTS / f"continuation-{owner}.json").exists()
        assert names or (template_name, rule) in CHECKED_IN_PROCESS or awaiting_sample, (
            f"{template_name}: {rule} matches no sample at all")

    if template_name == "requester":
        assert by_owner.get("forward") == {"create-vpc-peering-connection.json", "delete-vpc-peering-connection.json"}
        assert "notify" not in by_owner, "a requester stack leaves nothing for a human"
    else:
        # The decisions, to their requester account (the one rule, for
        # 111111111111, which the samples name; moto stamps the forwarded sample
        # with this account too, which makes it the accepter's own event).
        assert by_owner.get("forward") == DECISIONS
        # A request left for a human goes to the notification topic, and nothing else does.
        assert by_owner.get("notify") == {"peering-awaiting-approval.json"}, by_owner.get("notify")


def test_every_sample_is_in_the_manifest():
    assert set(sample_events()) <= set(handlers()), "a sample in events/ is missing from handlers.json"


def test_finisher_rules_list_exactly_the_calls_the_code_handles():
    """The finisher's eventName lists are peerlink::events::KNOWN_CALLS (what
    finisher::CALLS is), read from the Rust source."""
    # The module is shared/src/events.rs or shared/src/events/mod.rs.
    (path,) = [p for p in (ROOT / "shared" / "src" / "events.rs", ROOT / "shared" / "src" / "events" / "mod.rs")
               if p.exists()]
    src = path.read_text()
    body = re.search(r"pub const KNOWN_CALLS: &\[&str\] = &\[(.*?)\];", src, re.S).group(1)
    known = set(re.findall(r'"(\w+)"', body))
    assert len(known) >= 15
    finisher_src = (ROOT / "shared" / "src" / "finisher.rs").read_text()
    assert "pub const CALLS: &[&str] = crate::events::KNOWN_CALLS;" in finisher_src, (
        "finisher::CALLS is no longer KNOWN_CALLS: update this test to read it"
    )
    for template_name, path in TEMPLATES.items():
        template = load(path)
        names = set()
        for rule in pattern_rules(template):
            p = rule["pattern"]
            if rule["owner"] == "finisher" and p["detail-type"] == ["AWS API Call via CloudTrail"]:
                names |= set(p["detail"]["eventName"])
                service = p["source"][0].removeprefix("aws.")
                assert p["detail"]["eventSource"] == [f"{service}.amazonaws.com"], rule["name"]
        assert names == known, f"{template_name}: missing {known - names}, extra {names - known}"


# What each schedule runs and its default; scheduled.json is what they send.
SCHEDULE_DEFAULTS = {"accepter": "rate(5 minutes)", "finisher": "rate(15 minutes)", "drift": "rate(15 minutes)"}


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_every_function_has_its_schedule_as_a_parameter(template_name):
    template = load(TEMPLATES[template_name])
    sched = schedules(template)
    manifest = handlers()
    for fn in functions(template).values():
        assert fn in manifest["scheduled.json"]
        (expr,) = sched[fn]
        assert set(expr) == {"Ref"}, f"{fn}: the schedule should be a template parameter"
        assert template["Parameters"][expr["Ref"]]["Default"] == SCHEDULE_DEFAULTS[fn]


def test_requester_events_reach_the_accepter_account(moto_endpoint, account):
    """End to end across two accounts: the requester's forwarding rule targets
    the accepter's default bus, where the accepter template's rules pick the
    events up. (moto delivers cross-account bus targets but neither checks the
    bus policy nor keeps the sender's `account` field; the accepter's CloudTrail
    rules do not filter on it.)"""
    accepter_acct, requester_acct = "333333333333", "444444444444"
    acc, req = account(accepter_acct), account(requester_acct)
    accepter_rules = install_rules("accepter", acc, moto_endpoint)
    bus_arn = f"arn:aws:events:eu-west-1:{accepter_acct}:event-bus/default"
    install_rules("requester", req, moto_endpoint, target_for=lambda r: bus_arn if r["owner"] == "forward" else None)
    req_events, _ = endpoint_clients(req, moto_endpoint)
    _, acc_sqs = endpoint_clients(acc, moto_endpoint)

    samples = sample_events()
    received = {}
    for name in ["create-vpc-peering-connection.json", "delete-vpc-peering-connection.json",
                 "accept-vpc-peering-connection.json", "create-route.json", "run-instances.json"]:
        put_sample(req_events, name, samples[name])
        received[name] = sorted(
            {rule["owner"] for rule, url in accepter_rules if drain(acc_sqs, url)}
        )
    assert received == {
        # A request made in the requester account: the accepter decides, the finisher looks.
        "create-vpc-peering-connection.json": ["accepter", "finisher"],
        # A deletion there: the accepter side cleans up.
        "delete-vpc-peering-connection.json": ["finisher"],
        # Everything else stays in the requester account.
        "accept-vpc-peering-connection.json": [],
        "create-route.json": [],
        "run-instances.json": [],
    }


# ------------------------------------------------ decisions, accepter -> requester


def in_process_matches(pattern, event):
    return EventPattern.load(json.dumps(pattern)).matches_event(copy.deepcopy(event))


def rules_of(template_name, owner, account, **params):
    template = load(TEMPLATES[template_name], **params)
    values = parameter_values(template, **{"AWS::AccountId": account, **params})
    return [(rule, resolve(rule["pattern"], values), values) for rule in pattern_rules(template)
            if rule["owner"] == owner]


def with_account(event, account):
    return {**copy.deepcopy(event), "account": account}


def variants():
    """Events a forwarding or finisher rule must refuse, whatever the account."""
    samples = sample_events()
    accepted = samples["peering-accepted.json"]
    other_type = {**copy.deepcopy(accepted), "detail-type": "VPC Peering Requested"}
    other_source = {**copy.deepcopy(accepted), "source": "peerlink.test"}
    return {"other detail-type": other_type, "other source": other_source,
            **{n: e for n, e in samples.items() if n not in DECISIONS}}


def for_requester(event, requester):
    """The event about a peering of `requester` (detail.requesterAccount);
    None removes the field."""
    out = copy.deepcopy(event)
    if requester is None:
        out["detail"].pop("requesterAccount", None)
    else:
        out["detail"]["requesterAccount"] = requester
    return out


def test_accepter_forwards_its_own_decisions_each_only_to_its_requester():
    """One rule per requester account, each matching exactly peerlink's
    accepted/rejected events put by this (the accepter) account about that
    account's peerings: a decision for requester A reaches A only, not B."""
    accepter, requesters = "222222222222", ["111111111111", "333333333333"]
    forward = rules_of("accepter", "forward", accepter, RequesterAccountIds=requesters)
    assert len(forward) == len(requesters)
    targets = set()
    for rule, pattern, values in forward:
        (target,) = rule["targets"]
        arn = resolve(target["Arn"], values)
        targets.add(arn)
        assert "RoleArn" in target, "a cross-account bus target needs a role"
        to = arn.split(":")[4]  # the requester account this rule forwards to
        for name in ["peering-accepted.json", "peering-rejected.json"]:
            sample = sample_events()[name]
            assert sample["account"] == accepter
            assert sample["detail"]["requesterAccount"] == SAMPLE_REQUESTER
            for requester in requesters:
                assert in_process_matches(pattern, for_requester(sample, requester)) == (requester == to), (
                    rule["name"], name, f"a decision about {requester}'s peering")
            event = for_requester(sample, to)
            # Not about another account's peering, nor one that names none.
            for other in ["999999999999", accepter, None]:
                assert not in_process_matches(pattern, for_requester(sample, other)), (rule["name"], name, other)
            # Only what this account put: not the same event from a requester or a stranger.
            assert not in_process_matches(pattern, with_account(event, to)), (rule["name"], name)
            assert not in_process_matches(pattern, with_account(event, "999999999999")), (rule["name"], name)
        for name, event in variants().items():
            for e in [event, for_requester(event, to)] if "detail" in event else [event]:
                assert not in_process_matches(pattern, with_account(e, accepter)), (rule["name"], name)
    assert targets == {f"arn:aws:events:eu-west-1:{a}:event-bus/default" for a in requesters}


def test_requester_finisher_takes_decisions_only_from_named_accepters():
    """The requester's finisher rules match the forwarded decisions from the
    accepter accounts it names, and not the same events from anyone else."""
    requester, accepters = "111111111111", ["222222222222", "444444444444"]
    rules = rules_of("requester", "finisher", requester, AccepterAccountIds=accepters)
    samples = sample_events()

    def matched(event):
        return [rule["name"] for rule, pattern, _ in rules if in_process_matches(pattern, event)]

    for name in ["peering-accepted-forwarded.json", "peering-rejected.json"]:
        event = samples[name]
        for accepter in accepters:
            assert matched(with_account(event, accepter)), (name, accepter)
        for stranger in ["999999999999", requester]:
            assert matched(with_account(event, stranger)) == [], (name, stranger)
    for name, event in variants().items():
        if event["source"] == "peerlink" or "peerlink" in event["source"]:
            assert matched(with_account(event, accepters[0])) == [], name


def test_decisions_travel_from_the_accepter_to_their_requester_bus_only(moto_endpoint, account):
    """End to end in the emulator, two requester accounts: the accepter
    template's forwarding rules, with their own target ARNs, deliver a decision
    about requester A's peering to A's default bus and not to B's (and the other
    way round), and nothing else."""
    accepter_acct, requester_a, requester_b = "555555555555", "666666666666", "777777777777"
    acc = account(accepter_acct)
    params = {"RequesterAccountIds": [requester_a, requester_b]}
    template = load(TEMPLATES["accepter"], **params)
    values = parameter_values(template, **{"AWS::AccountId": accepter_acct, **params})
    installed = install_rules(
        "accepter", acc, moto_endpoint, params=params,
        target_for=lambda r: resolve(r["targets"][0]["Arn"], values) if r["owner"] == "forward" else None)
    assert len([r for r, _ in installed if r["owner"] == "forward"]) == 2
    # A probe on each requester's default bus: everything peerlink that arrives.
    probes = {}
    for requester in (requester_a, requester_b):
        req_events, req_sqs = endpoint_clients(account(requester), moto_endpoint)
        url = req_sqs.create_queue(QueueName="decisions-probe")["QueueUrl"]
        arn = req_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        req_events.put_rule(Name="probe", EventPattern=json.dumps({"source": ["peerlink"]}), State="ENABLED")
        req_events.put_targets(Rule="probe", Targets=[{"Id": "q", "Arn": arn}])
        probes[requester] = (req_sqs, url)

    acc_events, _ = endpoint_clients(acc, moto_endpoint)
    samples = sample_events()
    sent = {
        **{f"{n} for A": for_requester(samples[n], requester_a) for n in ["peering-accepted.json", "peering-rejected.json"]},
        **{f"{n} for B": for_requester(samples[n], requester_b) for n in ["peering-accepted.json", "peering-rejected.json"]},
        # The samples' own requester (111111111111) is not listed here: no rule forwards it.
        "peering-accepted.json for 111111111111": samples["peering-accepted.json"],
        **{n: samples[n] for n in ["accept-vpc-peering-connection.json", "create-vpc-peering-connection.json",
                                   "run-instances.json"]},
    }
    received = {}
    for name, event in sent.items():
        put_sample(acc_events, name, event)
        received[name] = {r: [(e["detail-type"], e["detail"]) for e in drain(*probes[r])] for r in probes}

    def only(requester, name):
        event = sent[name]
        return {r: [(event["detail-type"], event["detail"])] if r == requester else [] for r in probes}

    nothing = {r: [] for r in probes}
    assert received == {
        "peering-accepted.json for A": only(requester_a, "peering-accepted.json for A"),
        "peering-rejected.json for A": only(requester_a, "peering-rejected.json for A"),
        "peering-accepted.json for B": only(requester_b, "peering-accepted.json for B"),
        "peering-rejected.json for B": only(requester_b, "peering-rejected.json for B"),
        "peering-accepted.json for 111111111111": nothing,
        "accept-vpc-peering-connection.json": nothing,
        "create-vpc-peering-connection.json": nothing,
        "run-instances.json": nothing,
    }


# ------------------------------------------------------------------ bus policies


def bus_policy_allows(statements, principal_account, bus_arn, event):
    """Whether an EventBridge bus policy lets `principal_account` put `event`
    on `bus_arn`: some Allow statement matches and no Deny does. Knows the
    condition operators the templates use and fails on any other, so a new
    condition is never silently ignored."""
    context = {"events:source": event["source"], "events:detail-type": event["detail-type"],
               "aws:PrincipalAccount": principal_account}

    def principal_matches(principal):
        if principal == "*":
            return True
        accounts = principal.get("AWS", []) if isinstance(principal, dict) else []
        for p in as_list(accounts):
            if p == "*" or p == principal_account or p == f"arn:aws:iam::{principal_account}:root":
                return True
        return False

    def condition_holds(condition):
        for operator, tests in (condition or {}).items():
            for key, wanted in tests.items():
                wanted = as_list(wanted)
                if key not in context:
                    raise AssertionError(f"the evaluator does not know condition key {key}")
                have = context[key]
                if operator == "StringEquals":
                    ok = have in wanted
                elif operator == "StringLike":
                    ok = any(fnmatch.fnmatchcase(have, w) for w in wanted)
                else:
                    raise AssertionError(f"the evaluator does not know condition operator {operator}")
                if not ok:
                    return False
        return True

    def applies(st):
        actions = as_list(st["Action"])
        resources = as_list(st["Resource"])
        return (principal_matches(st.get("Principal"))
                and any(a in ("events:PutEvents", "events:*", "*") for a in actions)
                and any(fnmatch.fnmatchcase(bus_arn, r) for r in resources)
                and condition_holds(st.get("Condition")))

    if any(applies(st) for st in statements if st["Effect"] == "Deny"):
        return False
    return any(applies(st) for st in statements if st["Effect"] == "Allow")


def bus_policies(template_name, account, **params):
    template = load(TEMPLATES[template_name], **params)
    values = parameter_values(template, **{"AWS::AccountId": account, **params})
    out = []
    for res in template["Resources"].values():
        if res["Type"] == "AWS::Events::EventBusPolicy":
            props = resolve(res["Properties"], values)
            st = props["Statement"]
            out.append((props.get("EventBusName", "default"), as_list(st)))
    return out


def test_requester_bus_admits_decisions_only_from_the_accepter_accounts():
    requester, accepters = "111111111111", ["222222222222", "444444444444"]
    (bus, statements), = bus_policies("requester", requester, AccepterAccountIds=accepters)
    assert bus == "default"
    bus_arn = f"arn:aws:events:eu-west-1:{requester}:event-bus/default"
    samples = sample_events()
    for name in ["peering-accepted-forwarded.json", "peering-rejected.json"]:
        event = samples[name]
        for accepter in accepters:
            assert bus_policy_allows(statements, accepter, bus_arn, event), (name, accepter)
        # A stranger's peerlink event, however well formed, is refused.
        assert not bus_policy_allows(statements, "999999999999", bus_arn, with_account(event, "999999999999")), name
    # From an accepter account, only those two kinds of event.
    for name, event in variants().items():
        assert not bus_policy_allows(statements, accepters[0], bus_arn, event), name


def test_accepter_bus_admits_only_cloudtrail_events_from_the_requester_accounts():
    accepter, requesters = "222222222222", ["111111111111"]
    (bus, statements), = bus_policies("accepter", accepter, RequesterAccountIds=requesters)
    bus_arn = f"arn:aws:events:eu-west-1:{accepter}:event-bus/default"
    request = sample_events()["create-vpc-peering-connection.json"]
    assert bus_policy_allows(statements, "111111111111", bus_arn, request)
    assert not bus_policy_allows(statements, "999999999999", bus_arn, request)
    for name in DECISIONS:
        assert not bus_policy_allows(statements, "111111111111", bus_arn, sample_events()[name]), name


# ------------------------------------------------ peerlink does not wake itself


def function_roles(template_name, account_id, **params):
    """{function binary: the ARN of its execution role} in `account_id`."""
    template = load(TEMPLATES[template_name], **params)
    values = parameter_values(template, **{"AWS::AccountId": account_id, **params})
    return {fn: resolve(template["Resources"][logical]["Properties"]["Role"], values)
            for logical, fn in functions(template).items()}


# A fresh account per template: its own rules and queues.
SELF_ACCOUNTS = {"accepter": "131313131313", "requester": "141414141414"}


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_peerlink_does_not_wake_itself(template_name, moto_endpoint, account):
    """Issue 19.8: the finisher's CloudTrail rules match a person's call (an
    IAM user with keys or in the console, an SSO user, an assumed role) and no
    call made by one of this stack's functions (their execution roles): a
    finisher writing 200 routes must not start 200 more finishers. Peerlink's
    own peering requests still reach the accepter (locally, or forwarded by
    the requester stack): a request peerlink made must be decided."""
    acct = SELF_ACCOUNTS[template_name]
    session = account(acct)
    installed = install_rules(template_name, session, moto_endpoint)
    events, sqs = endpoint_clients(session, moto_endpoint)
    deployed = set(functions(load(TEMPLATES[template_name])).values())
    callers = {kind: person(kind, acct) for kind in PEOPLE}
    peerlink = {f"peerlink's {fn}": function_role(arn, f"peerlink-{fn}")
                for fn, arn in function_roles(template_name, acct).items()}
    assert len(peerlink) == len(deployed)
    manifest = handlers()
    cloudtrail = {n: e for n, e in sample_events().items() if e["detail-type"] == "AWS API Call via CloudTrail"}
    assert len(cloudtrail) >= 15, sorted(cloudtrail)
    got, want, cases = {}, {}, []
    for name, event in cloudtrail.items():
        by_person = manifest[name] & deployed
        if template_name == "requester" and event["detail"]["eventName"] in FORWARDED:
            by_person = by_person | {"forward"}
        for who, identity in {**callers, **peerlink}.items():
            case = made_by(event, identity)
            case["detail"]["eventID"] = f"{name} by {who}"  # which case a delivered event is
            cases.append(case)
            got[name, who] = []
            want[name, who] = sorted(by_person - {"finisher"} if who in peerlink else by_person)
    put_all(events, cases)
    for rule, url in installed:
        for delivered in drain(sqs, url):
            name, who = delivered["detail"]["eventID"].split(" by ", 1)
            got[name, who] = sorted(set(got[name, who]) | {rule["owner"]})
    wrong = {k: f"matched by {got[k]}, expected {want[k]}" for k in got if got[k] != want[k]}
    assert not wrong, f"{template_name}: " + "; ".join(f"{n} made by {who}: {v}" for (n, who), v in wrong.items())
    # What the exclusion must keep: a request peerlink made is decided.
    for fn in peerlink:
        request = got["create-vpc-peering-connection.json", fn]
        assert ("accepter" if template_name == "accepter" else "forward") in request, (fn, request)


# The requester stack forwards these to the accepter account (ForwardPeeringEvents).
FORWARDED = {"CreateVpcPeeringConnection", "DeleteVpcPeeringConnection"}


def test_anything_but_alone_would_miss_an_iam_user():
    """Why the finisher's rules need `exists: false` besides `anything-but`:
    an IAM user's call has no sessionIssuer (or an empty one), and
    `anything-but` matches only a value that is there (EventBridge's
    documented behaviour, which the emulator's matcher follows; if it ever
    stopped doing so, the IAM-user cases above would prove nothing)."""
    event = sample_events()["create-route.json"]
    issuer = {"detail": {"userIdentity": {"sessionContext": {"sessionIssuer": {"arn": None}}}}}
    only_anything_but = copy.deepcopy(issuer)
    only_anything_but["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = [
        {"anything-but": ["arn:aws:iam::222222222222:role/peerlink-FinisherRole-1A2B3C4D5E6F"]}]
    for kind in ("IAM user", "IAM user in the console"):
        assert not in_process_matches(only_anything_but, made_by(event, person(kind, "222222222222"))), kind
    assert in_process_matches(only_anything_but, made_by(event, person("SSO user", "222222222222")))


# ------------------------------------------------------------------ continuations

CONTINUED = ("accepter", "finisher", "drift")


def continuation(fn, account_id="222222222222"):
    """The continuation a pass of `fn` that ran out of time asks for (issue
    20.2): events/continuation-<fn>.json when it exists, else the agreed
    shape (detail {"function", "account", "left"})."""
    path = EVENTS / f"continuation-{fn}.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"version": "0", "id": f"c0471a0e-0000-4000-8000-00000000000{CONTINUED.index(fn)}",
            "detail-type": "Peerlink Continuation", "source": "peerlink", "account": account_id,
            "time": "2026-11-20T09:46:58Z", "region": "eu-west-1", "resources": [],
            "detail": {"function": fn, "account": account_id, "left": 120}}


def test_the_continuation_samples_have_the_agreed_shape():
    for fn in CONTINUED:
        event = continuation(fn)
        assert (event["source"], event["detail-type"]) == ("peerlink", "Peerlink Continuation"), fn
        assert set(event["detail"]) == {"function", "account", "left"} and event["detail"]["function"] == fn, event


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_each_function_continues_itself_only(template_name, moto_endpoint, account):
    """Issue 20.2: a pass that runs out of time puts its own continuation on
    its bus (PEERLINK_EVENT_BUS), and that function's rule, and only that
    one, takes it: the finisher's continuation starts a finisher, never drift
    or the accepter."""
    acct = {"accepter": "151515151515", "requester": "161616161616"}[template_name]
    session = account(acct)
    installed = install_rules(template_name, session, moto_endpoint)
    events, sqs = endpoint_clients(session, moto_endpoint)
    deployed = set(functions(load(TEMPLATES[template_name])).values())
    buses = sorted({resolve_bus(r, template_name, session, moto_endpoint) for r, _ in installed})
    got = {}
    for fn in CONTINUED:
        for bus in buses:
            put_sample(events, f"continuation of {fn}", continuation(fn, acct), bus)
        got[fn] = sorted({rule["owner"] for rule, url in installed if drain(sqs, url)})
    assert got == {fn: [fn] if fn in deployed else [] for fn in CONTINUED}, got


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_a_continuation_counts_only_from_this_account(template_name):
    """Nobody else's continuation starts a pass here: the rules take only the
    events this account put (moto stamps the putting account, so this is
    evaluated in-process with its matcher)."""
    me = ACCOUNTS[template_name]
    template = load(TEMPLATES[template_name])
    for fn in set(functions(template).values()):
        rules = [p for rule, p, _ in rules_of(template_name, fn, me)
                 if in_process_matches(p, with_account(continuation(fn, me), me))]
        assert len(rules) == 1, (fn, "exactly one rule takes its continuation", rules)
        (pattern,) = rules
        for stranger in ["999999999999", "111111111111" if me != "111111111111" else "222222222222"]:
            assert not in_process_matches(pattern, with_account(continuation(fn, me), stranger)), (fn, stranger)
        for other in set(CONTINUED) - {fn}:
            assert not in_process_matches(pattern, with_account(continuation(other, me), me)), (fn, other)


def environment(template, logical, values):
    """The function's environment variables as Lambda gets them: Globals, then its own."""
    env = dict((template.get("Globals", {}).get("Function", {}).get("Environment") or {}).get("Variables") or {})
    props = template["Resources"][logical]["Properties"]
    env.update((props.get("Environment") or {}).get("Variables") or {})
    return resolve(env, values)


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_each_function_asks_on_the_bus_its_rule_listens_on(template_name):
    """Every function has PEERLINK_EVENT_BUS, and it is the bus (in this
    account and region) on which its continuation rule listens."""
    me = ACCOUNTS[template_name]
    template = load(TEMPLATES[template_name])
    values = parameter_values(template, **{"AWS::AccountId": me})
    for logical, fn in functions(template).items():
        bus_arn = environment(template, logical, values).get("PEERLINK_EVENT_BUS")
        assert bus_arn, f"{template_name} {fn}: no PEERLINK_EVENT_BUS"
        (rule,) = [r for r, p, _ in rules_of(template_name, fn, me)
                   if in_process_matches(p, with_account(continuation(fn, me), me))]
        bus = resolve(rule["bus"], values)
        assert bus_arn == f"arn:aws:events:eu-west-1:{me}:event-bus/{bus}", (fn, bus_arn, bus)


def test_the_templates_set_only_variables_the_code_reads():
    """Every PEERLINK_* variable a template sets is one shared/src/settings.rs
    reads (a misspelt or removed variable would be silently ignored)."""
    known = set(re.findall(r'pub const ENV_\w+: &str = "(PEERLINK_\w+)";',
                           (ROOT / "shared" / "src" / "settings.rs").read_text()))
    assert "PEERLINK_EVENT_BUS" in known, known
    for template_name, path in TEMPLATES.items():
        template = load(path)
        values = parameter_values(template, **{"AWS::AccountId": ACCOUNTS[template_name]})
        for logical in functions(template):
            unknown = {k for k in environment(template, logical, values) if k.startswith("PEERLINK_")} - known
            assert not unknown, f"{template_name} {logical}: {sorted(unknown)} unknown to shared/src/settings.rs"


# ------------------------------------------------------------- left for a human


def test_a_request_left_for_a_human_reaches_the_topic_only_from_this_account():
    """Issue 19.14: the accepter stack sends "VPC Peering Awaiting Approval"
    to the notification topic (AlarmTopicArn), only when the accepter (or
    drift's sweep) of this account put it, and only that event."""
    me = ACCOUNTS["accepter"]
    rules = rules_of("accepter", "notify", me, AlarmTopicArn="arn:aws:sns:eu-west-1:222222222222:peerlink-alarms")
    (rule, pattern, values), = rules
    (target,) = rule["targets"]
    assert resolve(target["Arn"], values) == "arn:aws:sns:eu-west-1:222222222222:peerlink-alarms"
    assert "DeadLetterConfig" in target, "a delivery the topic policy refuses must land in the failure queue"
    event = sample_events()[AWAITING_APPROVAL]
    assert in_process_matches(pattern, with_account(event, me))
    for stranger in ["111111111111", "999999999999"]:
        assert not in_process_matches(pattern, with_account(event, stranger)), stranger
    for name, other in sample_events().items():
        if name != AWAITING_APPROVAL:
            assert not in_process_matches(pattern, with_account(other, me)), name
    template = load(TEMPLATES["accepter"])
    assert template["Resources"][rule["name"]].get("Condition") == "HasAlarmTopic", "no topic, no rule"


def test_the_awaiting_approval_sample_has_the_agreed_shape():
    event = sample_events()[AWAITING_APPROVAL]
    assert (event["source"], event["detail-type"]) == ("peerlink", "VPC Peering Awaiting Approval")
    assert set(event["detail"]) == {"peeringId", "requesterAccount", "requesterVpc", "requesterCidrs", "accepterVpc",
                                    "entry", "reason", "checks"}, sorted(event["detail"])
    assert all(set(c) == {"check", "ok", "detail"} for c in event["detail"]["checks"]), event["detail"]["checks"]
