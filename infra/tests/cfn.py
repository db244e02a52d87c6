"""Helpers shared by the infra tests: read the SAM templates (YAML with
CloudFormation's short tags), expand their Fn::ForEach blocks
(AWS::LanguageExtensions), resolve the few intrinsics that patterns and policies
use, and find which function each rule and role belongs to."""

import json
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
EVENTS = ROOT / "events"
TEMPLATES = {"accepter": INFRA / "accepter.yaml", "requester": INFRA / "requester.yaml"}

# The accounts of the samples in events/: requester 111111111111, accepter
# 222222222222. Parameters without a default (or whose default leaves a
# feature off) get these values in the tests, unless a test overrides them.
TEST_PARAMETERS = {
    "RequesterAccountIds": ["111111111111"],  # accepter.yaml
    "AccepterAccountIds": ["222222222222"],  # requester.yaml
    "AccepterEventBusArn": "arn:aws:events:eu-west-1:222222222222:event-bus/default",  # requester.yaml
}

# Ref AWS::NoValue: dropped from the list or mapping that holds it.
NO_VALUE = object()


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref x` into {"Ref": "x"}, `!Sub s` into {"Fn::Sub": s}, etc."""


def _short_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _short_tag)


def load(path, **overrides):
    """The template, with its Fn::ForEach blocks expanded for the test
    parameter values (TEST_PARAMETERS, then `overrides`)."""
    with open(path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    return expand_foreach(template, parameter_values(template, **overrides))


def load_text(text):
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506


def _substitute(node, ident, value):
    """Fn::ForEach's replacement of its identifier in the loop body."""
    if isinstance(node, str):
        return node.replace("${%s}" % ident, value).replace("&{%s}" % ident, re.sub(r"[^A-Za-z0-9]", "", value))
    if isinstance(node, list):
        return [_substitute(n, ident, value) for n in node]
    if isinstance(node, dict):
        if node == {"Ref": ident}:
            return value
        return {_substitute(k, ident, value): _substitute(v, ident, value) for k, v in node.items()}
    return node


def expand_foreach(template, values):
    """Expands the Fn::ForEach blocks of Resources as AWS::LanguageExtensions
    does: one copy of the body per element of the collection."""
    resources = template.get("Resources") or {}
    if not any(k.startswith("Fn::ForEach::") for k in resources):
        return template
    out = {}
    for key, value in resources.items():
        if not key.startswith("Fn::ForEach::"):
            out[key] = value
            continue
        ident, collection, body = value
        for item in resolve(collection, values):
            for name, res in body.items():
                out[_substitute(name, ident, item)] = _substitute(res, ident, item)
    return {**template, "Resources": out}


def resolve(node, values):
    """Resolves Ref/Sub/Join/Split/Select/If/GetAtt against `values`
    (parameters, pseudo parameters, role ARNs and conditions, see
    parameter_values). Enough for event
    patterns, ARNs and policies; anything else is an error, so a pattern we
    cannot evaluate fails the test instead of being silently skipped."""
    if isinstance(node, list):
        return [v for v in (resolve(n, values) for n in node) if v is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref":
            if arg not in values:
                raise KeyError(f"no test value for Ref {arg}")
            return values[arg]
        if key == "Fn::If":
            name, yes, no = arg
            return resolve(yes if values["Conditions"][name] else no, values)
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1], values))
            scope = {**values, **extra}

            def sub(m):
                if m.group(1):  # ${!Literal} stands for ${Literal}
                    return "${" + m.group(2) + "}"
                name = m.group(2)
                if name not in scope:
                    raise KeyError(f"no test value for {'GetAtt' if '.' in name else 'Ref'} {name}")
                return str(scope[name])

            return re.sub(r"\$\{(!?)([^}]+)\}", sub, text)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(resolve(items, values))
        if key == "Fn::Split":
            sep, text = arg
            return resolve(text, values).split(sep)
        if key == "Fn::GetAtt":
            name = arg if isinstance(arg, str) else ".".join(arg)
            if name not in values:
                raise KeyError(f"no test value for GetAtt {name}")
            return values[name]
        if key == "Fn::Select":
            index, items = arg
            return resolve(items, values)[int(resolve(index, values))]
        if key.startswith("Fn::"):
            raise ValueError(f"cannot resolve {key} in a test")
    out = {k: resolve(v, values) for k, v in node.items()}
    return {k: v for k, v in out.items() if v is not NO_VALUE}


def _condition(expr, values, conditions, template):
    if isinstance(expr, dict) and len(expr) == 1:
        (key, arg), = expr.items()
        if key == "Condition":
            return _named_condition(arg, values, conditions, template)
        if key == "Fn::Equals":
            return resolve(arg[0], values) == resolve(arg[1], values)
        if key == "Fn::Not":
            return not _condition(arg[0], values, conditions, template)
        if key == "Fn::And":
            return all(_condition(a, values, conditions, template) for a in arg)
        if key == "Fn::Or":
            return any(_condition(a, values, conditions, template) for a in arg)
    raise ValueError(f"cannot evaluate condition {expr!r} in a test")


def _named_condition(name, values, conditions, template):
    if name not in conditions:
        conditions[name] = _condition(template["Conditions"][name], values, conditions, template)
    return conditions[name]


def role_arn(account, logical):
    """The test ARN of the template's role `logical` in `account`."""
    return f"arn:aws:iam::{account}:role/peerlink-{logical}-1A2B3C4D5E6F"


def parameter_values(template, **overrides):
    """Template defaults (lists split like CloudFormation does), then
    TEST_PARAMETERS for the template's parameters, then overrides; and under
    "Conditions" the template's conditions evaluated with them."""
    values = {"AWS::Region": "eu-west-1", "AWS::Partition": "aws", "AWS::StackName": "peerlink",
              "AWS::NoValue": NO_VALUE}
    params = template.get("Parameters") or {}
    for name, p in params.items():
        if "Default" in p:
            d = str(p["Default"])
            values[name] = d.split(",") if p["Type"] == "CommaDelimitedList" else d
        if name in TEST_PARAMETERS:
            values[name] = TEST_PARAMETERS[name]
    values.update(overrides)
    # The ARN CloudFormation gives each role: <stack>-<logical id>-<suffix>.
    if "AWS::AccountId" in values:
        for name, res in (template.get("Resources") or {}).items():
            if isinstance(res, dict) and res.get("Type") == "AWS::IAM::Role":
                values.setdefault(f"{name}.Arn", role_arn(values["AWS::AccountId"], name))
    conditions = {}
    values["Conditions"] = conditions
    for name in template.get("Conditions") or {}:
        try:
            _named_condition(name, values, conditions, template)
        except KeyError:
            pass  # a parameter without a test value: fails only where used
    return values


def functions(template):
    """{logical id: binary name} of the template's Lambda functions."""
    return {
        name: res["Metadata"]["BuildProperties"]["Binary"]
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def pattern_rules(template):
    """Every EventBridge rule with an event pattern, as dicts with `name`,
    `owner` (the function's binary, "notify" for a rule whose target is the
    notification topic AlarmTopicArn, or "forward" for a rule whose target is
    an event bus), `bus` (unresolved) and `pattern` (unresolved)."""
    rules = []
    fns = functions(template)
    for name, res in template["Resources"].items():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::Serverless::Function":
            for ev_name, ev in (props.get("Events") or {}).items():
                if ev["Type"] in ("EventBridgeRule", "CloudWatchEvent"):
                    p = ev["Properties"]
                    rules.append({
                        "name": f"{name}{ev_name}",
                        "owner": fns[name],
                        "bus": p.get("EventBusName", "default"),
                        "pattern": p["Pattern"],
                    })
        elif res["Type"] == "AWS::Events::Rule" and "EventPattern" in props:
            owners = set()
            for target in props.get("Targets", []):
                arn = target["Arn"]
                if isinstance(arn, dict) and "Fn::GetAtt" in arn and arn["Fn::GetAtt"][0] in fns:
                    owners.add(fns[arn["Fn::GetAtt"][0]])
                elif arn == {"Ref": "AlarmTopicArn"}:
                    owners.add("notify")
                else:
                    owners.add("forward")
            assert len(owners) == 1, f"{name}: targets of different kinds {owners}"
            rules.append({
                "name": name,
                "owner": owners.pop(),
                "bus": props.get("EventBusName", "default"),
                "pattern": props["EventPattern"],
                "targets": props.get("Targets", []),
            })
    return rules


def schedules(template):
    """{binary: [schedule expressions (unresolved)]}."""
    out = {}
    fns = functions(template)
    for name, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        for ev in (res["Properties"].get("Events") or {}).values():
            if ev["Type"] in ("Schedule", "ScheduleV2"):
                out.setdefault(fns[name], []).append(ev["Properties"]["Schedule"])
    return out


def sample_events():
    """{file name: event} of every EventBridge sample (not handlers.json, not
    the direct invocations: payloads without an EventBridge `source`)."""
    out = {}
    for path in sorted(EVENTS.glob("*.json")):
        if path.name == "handlers.json":
            continue
        event = json.loads(path.read_text())
        if "source" in event:
            out[path.name] = event
    return out


def handlers():
    data = json.loads((EVENTS / "handlers.json").read_text())
    return {k: set(v) for k, v in data.items() if not k.startswith("_")}
