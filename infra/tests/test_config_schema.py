"""The configuration's JSON Schema (schema/peerlink.schema.json, generated
from the Rust types by `peerlink schema`; a cargo test keeps the file equal to
that output) checked with a real validator, as an editor uses it: the example
is valid, documents with a mistake are not, and the error points at the
mistake."""

import json
import tomllib

import pytest
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from cfn import ROOT
from peerlink_cli import example_with_requester_entry

SCHEMA = json.loads((ROOT / "schema" / "peerlink.schema.json").read_text())
EXAMPLE = (ROOT / "peerlink.example.toml").read_text()
VALIDATOR = Draft7Validator(SCHEMA)


def errors(text):
    return list(VALIDATOR.iter_errors(tomllib.loads(text)))


def test_the_schema_is_draft_7():
    Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_the_example_is_valid(tmp_path):
    assert EXAMPLE.startswith("#:schema ./schema/peerlink.schema.json\n")
    assert errors(EXAMPLE) == []
    assert errors(example_with_requester_entry(tmp_path).read_text()) == []


def with_(find, replace, text=EXAMPLE):
    assert find in text, find
    return text.replace(find, replace, 1)


# (what is wrong, the document, where the validator must point)
INVALID = [
    ("unknown key", with_("auto_accept = true", "auto_accept = true\nauto_acept = true"), ["peer", 0]),
    ("account id of 11 digits", with_('"111111111111"', '"11111111111"'), ["peer", 0, "peer_account"]),
    ("VPC id", with_('"vpc-0bbb2222bbbb2222b"', '"vpc-XYZ"'), ["peer", 0, "local_vpc"]),
    ("CIDR prefix", with_('"10.0.0.0/16"', '"10.0.0.0/33"'), ["peer", 0, "allowed_cidrs", 0]),
    ("empty allowlist", with_('allowed_cidrs = ["10.0.0.0/16"]', "allowed_cidrs = []"), ["peer", 0, "allowed_cidrs"]),
    ("port 0", with_("ports = 5432", "ports = 0"), ["peer", 0, "security_group_rules", 0, "ports"]),
    ("port range text", with_("ports = 5432", 'ports = "5432-"'), ["peer", 0, "security_group_rules", 0, "ports"]),
    ("tcp without ports", with_("ports = 5432", ""), ["peer", 0, "security_group_rules", 0]),
    ("ports with protocol all", with_('protocol = "tcp"', 'protocol = "all"'), ["peer", 0, "security_group_rules", 0]),
    ("wildcard principal", with_("role/orders-task", "role/*"), ["peer", 0, "secrets", 0, "principals", 0]),
    ("KMS alias", with_(":key/1234abcd-12ab-34cd-56ef-1234567890ab", ":alias/db"), ["peer", 0, "secrets", 0, "kms_key"]),
    ("secret ARN", with_(":secret:orders-db-AbCdEf", ":parameter/db"), ["peer", 0, "secrets", 0, "arn"]),
    ("write_concurrency 0", with_("write_concurrency = 16", "write_concurrency = 0"), ["settings", "write_concurrency"]),
    ("drift_mode value", with_('drift_mode = "report"', 'drift_mode = "fix"'), ["settings", "drift_mode"]),
    ("tagged without tags", with_('\nselect = "all"\n', '\nselect = "tagged"\n'), ["peer", 0, "routes"]),
    ("ids without select", with_('\nselect = "all"\n', '\nids = ["rtb-0bbb2222bbbb2222b"]\n'), ["peer", 0, "routes"]),
    ("a name with a space", with_('name = "orders-ecs"', 'name = "orders ecs"'), ["peer", 0, "name"]),
    ("request with auto_accept", with_('vpc-0aaa1111aaaa1111a"', 'vpc-0aaa1111aaaa1111a"\nrequest = true'),
     ["peer", 0, "auto_accept"]),
]


@pytest.mark.parametrize("what,text,where", INVALID, ids=[c[0] for c in INVALID])
def test_mistakes_are_invalid_where_they_are(what, text, where):
    found = errors(text)
    assert found, f"{what}: the schema accepts it"
    paths = [list(e.absolute_path) for e in found]
    assert where in paths or list(best_match(found).absolute_path) == where, f"{what}: errors at {paths}"


def test_a_requester_entry_needs_its_peer(tmp_path):
    both = example_with_requester_entry(tmp_path).read_text()
    assert errors(both) == []
    broken = with_('peer_region = "eu-west-1"\nallowed_cidrs = ["10.3.0.0/16"]', 'allowed_cidrs = ["10.3.0.0/16"]', both)
    assert [list(e.absolute_path) for e in errors(broken)] == [["peer", 1]]
