"""The templates' EventBridge rules, run for real in the emulator.

For each template, every rule with an event pattern is created with PutRule +
PutTargets (an SQS queue per rule), every sample in events/ is sent with
PutEvents, and the queues say which rules matched. Each function's rules must
match exactly the samples events/handlers.json gives it. (moto's
TestEventPattern is a stub; its PutEvents really evaluates patterns. Real
EventBridge would refuse PutEvents with an aws.* source; moto accepts it, which
is what makes this test possible.)
"""

import json
import re

import pytest

from cfn import ROOT, TEMPLATES, functions, handlers, load, parameter_values, pattern_rules, resolve, sample_events, schedules

# The account each template is deployed to in these tests.
ACCOUNTS = {"accepter": "222222222222", "requester": "111111111111"}

# Samples that reach functions another way than an event pattern.
NOT_BY_PATTERN = {"scheduled.json"}  # schedule rules, checked separately below

# What a function legitimately does not get in a given template, and why.
EXCEPTIONS = {
    # Only the accepter announces "VPC Peering Accepted", on its own account's
    # bus; a requester account has no accepter, so no rule waits for it there.
    ("requester", "finisher"): {"peering-accepted.json"},
}


def endpoint_clients(session, endpoint):
    return session.client("events", endpoint_url=endpoint), session.client("sqs", endpoint_url=endpoint)


def install_rules(template_name, session, endpoint, target_for=None):
    """Creates every pattern rule of the template in the session's account.
    Returns [(rule, queue url)]. `target_for(rule)` may give another target
    ARN (e.g. a real event bus) instead of a queue."""
    template = load(TEMPLATES[template_name])
    account_id = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
    values = parameter_values(template, **{"AWS::AccountId": account_id})
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
        assert names, f"{template_name}: {rule} matches no sample at all"

    if template_name == "requester":
        assert by_owner.get("forward") == {"create-vpc-peering-connection.json", "delete-vpc-peering-connection.json"}
    else:
        assert "forward" not in by_owner


def test_every_sample_is_in_the_manifest():
    assert set(sample_events()) <= set(handlers()), "a sample in events/ is missing from handlers.json"


def test_finisher_rules_list_exactly_the_calls_the_code_handles():
    """The finisher's eventName lists are peerlink::events::KNOWN_CALLS (what
    finisher::CALLS is), read from the Rust source."""
    src = (ROOT / "shared" / "src" / "events.rs").read_text()
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
