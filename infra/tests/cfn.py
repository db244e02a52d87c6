"""Helpers shared by the infra tests: read the SAM templates (YAML with
CloudFormation's short tags), resolve the few intrinsics that patterns use, and
find which function each rule and role belongs to."""

import json
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
EVENTS = ROOT / "events"
TEMPLATES = {"accepter": INFRA / "accepter.yaml", "requester": INFRA / "requester.yaml"}


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


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def load_text(text):
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506


def resolve(node, values):
    """Resolves Ref/Sub/Join/Split/Select against `values` (parameters and
    pseudo parameters). Enough for event patterns and ARNs; anything else is
    an error, so a pattern we cannot evaluate fails the test instead of being
    silently skipped."""
    if isinstance(node, list):
        return [resolve(n, values) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref":
            if arg not in values:
                raise KeyError(f"no test value for Ref {arg}")
            return values[arg]
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1], values))
            scope = {**values, **extra}

            def sub(m):
                name = m.group(1)
                if "." in name and name not in scope:
                    raise KeyError(f"no test value for GetAtt {name}")
                return str(scope[name])

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(resolve(items, values))
        if key == "Fn::Split":
            sep, text = arg
            return resolve(text, values).split(sep)
        if key == "Fn::Select":
            index, items = arg
            return resolve(items, values)[int(resolve(index, values))]
        if key.startswith("Fn::"):
            raise ValueError(f"cannot resolve {key} in a test")
    return {k: resolve(v, values) for k, v in node.items()}


def parameter_values(template, **overrides):
    """Template defaults (lists split like CloudFormation does) plus overrides."""
    values = {"AWS::Region": "eu-west-1", "AWS::Partition": "aws", "AWS::StackName": "peerlink", "AWS::NoValue": None}
    for name, p in (template.get("Parameters") or {}).items():
        if "Default" in p:
            d = str(p["Default"])
            values[name] = d.split(",") if p["Type"] == "CommaDelimitedList" else d
    values.update(overrides)
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
    `owner` (the function's binary, or "forward" for a rule whose target is an
    event bus), `bus` (unresolved) and `pattern` (unresolved)."""
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
                else:
                    owners.add("forward")
            assert len(owners) == 1, f"{name}: targets of different kinds {owners}"
            rules.append({
                "name": name,
                "owner": owners.pop(),
                "bus": props.get("EventBusName", "default"),
                "pattern": props["EventPattern"],
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
    the direct invocation reconcile.json)."""
    out = {}
    for path in sorted(EVENTS.glob("*.json")):
        if path.name in ("handlers.json", "reconcile.json"):
            continue
        out[path.name] = json.loads(path.read_text())
    return out


def handlers():
    data = json.loads((EVENTS / "handlers.json").read_text())
    return {k: set(v) for k, v in data.items() if not k.startswith("_")}
