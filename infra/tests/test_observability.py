"""The dashboard and the alarms of each template, against the metrics the
functions emit in CloudWatch embedded metric format (shared/src/metrics.rs;
the names are read from the code, see metrics_emitted):
namespace Peerlink, one dimension set [Function, Account], unit Count, with
Function the binary (accepter, finisher, drift) and Account the account id.
A metric is only found with exactly those dimensions, so an alarm or a graph
that names another namespace, dimension or metric watches nothing."""

import json
import re

import pytest

from cfn import ROOT, TEMPLATES, functions, load, parameter_values, resolve

NAMESPACE = "Peerlink"
DIMENSIONS = {"Function", "Account"}
ACCOUNT = "222222222222"


def metrics_emitted(src=ROOT / "shared" / "src"):
    """{metric name: [files]} of every `("Name", n)` in a `fn metrics` body of
    the Rust library (the InvocationReport implementations): what the
    functions really emit, so a metric renamed or added in the code and not on
    the dashboard fails here."""
    found = {}
    for path in sorted(src.rglob("*.rs")):
        text = path.read_text()
        for m in re.finditer(r"fn metrics\(&self\)[^{]*\{", text):
            depth, i = 1, m.end()
            while depth:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            for name in re.findall(r'\(\s*"(\w+)"\s*,', text[m.end():i]):
                where = path.relative_to(ROOT if path.is_relative_to(ROOT) else src)
                found.setdefault(name, []).append(str(where))
    return found


METRICS = set(metrics_emitted())
# Named in the team's plan (README, issues 19-21) and graphed ahead of the code
# that emits them, which other branches bring: allowed on the dashboard though
# not (yet) in a `fn metrics`. A name here never excuses a metric the code
# emits and the dashboard lacks.
ANNOUNCED = {"PathsBlocked", "WorkLeft", "ContinuationsRequested", "NotPermitted", "LeftForApproval"}


def test_the_metrics_are_read_from_the_code():
    assert len(METRICS) >= 14, f"found only {sorted(METRICS)} in shared/src: did the form of `fn metrics` change?"
    assert {"Accepted", "DriftFound", "RepairFailed"} <= METRICS, sorted(METRICS)


def test_a_metric_in_the_code_is_found(tmp_path):
    """The reader itself: a report whose `fn metrics` emits a new name (nested
    braces and all) shows it."""
    (tmp_path / "report.rs").write_text(
        'impl InvocationReport for R {\n    fn metrics(&self) -> Vec<(&\'static str, usize)> {\n'
        '        vec![("Brand", self.n), ("New", if x { 1 } else { 0 })]\n    }\n}\n'
        'fn other() -> Vec<(&\'static str, usize)> { vec![("NotAMetric", 1)] }\n')
    assert set(metrics_emitted(tmp_path)) == {"Brand", "New"}

# (metric, function) of each alarm on a peerlink metric, per template. The
# requester's drift cannot decide: a request to one of its VPCs fails its
# decision, which is worth an alarm there too.
ALARMS = {
    "accepter": {("DecisionsFailed", "accepter"), ("DecisionsFailed", "drift"),
                 ("RepairFailed", "finisher"), ("RepairFailed", "drift")},
    "requester": {("DecisionsFailed", "drift"), ("RepairFailed", "finisher"), ("RepairFailed", "drift")},
}

SEARCH = re.compile(r"""SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)',\s*'(?P<stat>\w+)',\s*(?P<period>\d+)\)""")


def of_type(template, kind):
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def dashboard(template_name):
    """(the dashboard body parsed as JSON, template, values). Resources named
    in the body resolve to '<logical id>-name'."""
    template = load(TEMPLATES[template_name])
    (dash,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = dash["Properties"]["DashboardBody"]
    assert set(body) == {"Fn::Sub"} and isinstance(body["Fn::Sub"], str), "DashboardBody: one !Sub of a JSON text"
    names = {name: f"{name}-name" for name in template["Resources"]}
    names |= {ref: f"{ref}-value" for ref in re.findall(r"\$\{(\w+\.\w+)\}", body["Fn::Sub"])}
    values = parameter_values(template, **{"AWS::AccountId": ACCOUNT}, **names)
    text = resolve(body, values)
    try:
        return json.loads(text), template, values
    except json.JSONDecodeError as e:
        raise AssertionError(f"{template_name}: the dashboard body is not JSON: {e}\n{text}") from e


def graphed(body):
    """[(namespace, metric, {dimension: value or None}, widget title)] of every
    metric graph in the body (a SEARCH gives its schema's dimensions, the
    values it pins, and the metric name it asks for)."""
    out = []
    for w in body["widgets"]:
        if w["type"] != "metric":
            continue
        props = w["properties"]
        for entry in props["metrics"]:
            head = entry[0]
            if isinstance(head, dict):
                m = SEARCH.fullmatch(head["expression"])
                assert m, f"{props['title']}: not a SEARCH expression {head['expression']!r}"
                namespace, *dims = [d.strip() for d in m["schema"].split(",")]
                terms = dict(re.findall(r'(\w+)="([^"]*)"', m["terms"]))
                metric = terms.pop("MetricName", None)
                assert set(terms) <= set(dims), f"{props['title']}: SEARCH pins {terms} outside its schema"
                out.append((namespace, metric, {d: terms.get(d) for d in dims}, props["title"]))
            else:
                namespace, metric, *rest = entry
                pairs = [x for x in rest if not isinstance(x, dict)]
                out.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2])), props["title"]))
    return out


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_the_dashboard_graphs_every_metric_per_function(template_name):
    body, template, values = dashboard(template_name)
    metrics = graphed(body)
    ours = [(m, dims, title) for ns, m, dims, title in metrics if ns == NAMESPACE]
    graphed_names = {m for m, _, _ in ours}
    assert METRICS <= graphed_names and graphed_names <= METRICS | ANNOUNCED, (
        f"{template_name}: the code emits {sorted(METRICS - graphed_names)} that the dashboard lacks "
        f"({', '.join(sorted({f for m in METRICS - graphed_names for f in metrics_emitted()[m]}))}); "
        f"the dashboard graphs {sorted(graphed_names - METRICS - ANNOUNCED)} that nothing emits"
    )
    assert ANNOUNCED <= graphed_names, f"{template_name}: not graphed yet {sorted(ANNOUNCED - graphed_names)}"
    for metric, dims, title in ours:
        # Per function: the Function dimension is left open, so each function is a line.
        assert set(dims) == DIMENSIONS, f"{title}: {metric} with dimensions {sorted(dims)}"
        assert dims["Account"] == ACCOUNT and dims["Function"] is None, f"{title}: {metric} {dims}"

    lambdas = {(m, dims.get("FunctionName")) for ns, m, dims, _ in metrics if ns == "AWS/Lambda"}
    for logical in functions(template):
        for metric in ("Errors", "Duration"):
            assert (metric, f"{logical}-name") in lambdas, f"{template_name}: no Lambda {metric} of {logical}"

    for w in body["widgets"]:
        if w["type"] == "metric":
            assert w["properties"]["region"] == values["AWS::Region"], w["properties"]["title"]
            ids = [e[0]["id"] for e in w["properties"]["metrics"] if isinstance(e[0], dict)]
            assert len(ids) == len(set(ids)), f"{w['properties']['title']}: duplicate expression ids"
        assert 0 <= w["x"] and w["x"] + w["width"] <= 24, "a widget beyond the 24 grid columns"


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_each_alarm_watches_a_metric_that_exists(template_name):
    body, template, _ = dashboard(template_name)
    deployed = set(functions(template).values())
    on_dashboard = {m for ns, m, _, _ in graphed(body) if ns == NAMESPACE}
    found = set()
    for name, alarm in of_type(template, "AWS::CloudWatch::Alarm").items():
        p = alarm["Properties"]
        if p["Namespace"] == "AWS/SQS":
            continue  # the failure queue's alarm, checked below
        assert p["Namespace"] == NAMESPACE, f"{name}: namespace {p['Namespace']}"
        assert p["MetricName"] in METRICS, f"{name}: {p['MetricName']} is not a metric peerlink emits"
        assert p["MetricName"] in on_dashboard, f"{name}: {p['MetricName']} is not on the dashboard"
        dims = {d["Name"]: d["Value"] for d in p["Dimensions"]}
        assert set(dims) == DIMENSIONS, f"{name}: dimensions {sorted(dims)}"
        assert dims["Function"] in deployed, f"{name}: no function {dims['Function']} in {template_name}"
        assert dims["Account"] == {"Ref": "AWS::AccountId"}, f"{name}: Account {dims['Account']}"
        assert (p["Statistic"], p["Threshold"], p["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold"), name
        assert p["TreatMissingData"] == "notBreaching", name
        assert p["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
        found.add((p["MetricName"], dims["Function"]))
    assert found == ALARMS[template_name]

    (queue_alarm,) = [a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()
                      if a["Properties"]["Namespace"] == "AWS/SQS"]
    assert queue_alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert queue_alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailureQueue", "QueueName"]}}]
    assert "AlarmActions" in queue_alarm
