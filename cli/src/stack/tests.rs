//! `deploy-params` and the stack coverage of `doctor --stack-parameters`.

use super::*;

const CONFIG: &str = r#"
[settings]
drift_mode = "remediate"

[[peer]]
name = "orders"
peer_account = "111111111111"
peer_vpc = "vpc-0aaa1111aaaa1111a"
allowed_cidrs = ["10.0.0.0/16"]
local_vpc = "vpc-0bbb2222bbbb2222b"
auto_accept = true
[[peer.security_group_rules]]
group = "sg-0bbb2222bbbb2222d"
ports = 5432
[[peer.secrets]]
arn = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf"
principals = ["arn:aws:iam::111111111111:role/app"]
kms_key = "arn:aws:kms:eu-west-1:222222222222:key/k1"
[[peer.secrets]]
arn = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:other-AbCdEf"
principals = ["arn:aws:iam::111111111111:role/app"]

[[peer]]
name = "reports"
peer_account = "333333333333"
peer_vpc = "vpc-0ccc3333cccc3333c"
peer_region = "cn-north-1"
allowed_cidrs = ["10.3.0.0/16"]
local_vpc = "vpc-0ddd4444dddd4444d"
request = true
[[peer.security_group_rules]]
group = "sg-0ddd4444dddd4444d"
ports = "1024-65535"
"#;

fn config() -> Config {
    Config::parse(CONFIG, "test").unwrap()
}

fn value<'a>(p: &'a Parameters, key: &str) -> Option<&'a str> {
    p.values.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
}

#[test]
fn accepter_parameters_come_from_the_entries() {
    let p = derive(&config(), Template::Accepter, Some("eu-west-1"));
    assert_eq!(
        value(&p, "LocalVpcIds"),
        Some("vpc-0bbb2222bbbb2222b,vpc-0ddd4444dddd4444d")
    );
    assert_eq!(
        value(&p, "SecurityGroupIds"),
        Some("sg-0bbb2222bbbb2222d,sg-0ddd4444dddd4444d")
    );
    // Only the entry that does not request is an account to accept from.
    assert_eq!(value(&p, "RequesterAccountIds"), Some("111111111111"));
    assert_eq!(
        value(&p, "RequestPeerVpcArns"),
        Some("arn:aws-cn:ec2:cn-north-1:333333333333:vpc/vpc-0ccc3333cccc3333c")
    );
    assert_eq!(
        value(&p, "KmsKeyArns"),
        Some("arn:aws:kms:eu-west-1:222222222222:key/k1")
    );
    assert_eq!(value(&p, "DriftMode"), Some("remediate"));
    assert_eq!(value(&p, "AccepterAccountIds"), None);
    let notes = p.notes.join("\n");
    assert!(
        notes.contains("secret:other-AbCdEf") && notes.contains("kms_key"),
        "{notes}"
    );
    assert!(notes.contains("\"reports\" requests a peering"), "{notes}");
    assert_eq!(p.notes.len(), 2, "{notes}");
    let sam = p.sam_overrides();
    assert!(
        sam.starts_with("LocalVpcIds=\"vpc-0bbb2222bbbb2222b,vpc-0ddd4444dddd4444d\" SecurityGroupIds=\""),
        "{sam}"
    );
    assert!(sam.contains(" RequesterAccountIds=111111111111 "), "{sam}");
    assert!(sam.ends_with(" DriftMode=remediate"), "{sam}");
}

#[test]
fn requester_parameters_name_the_accepters() {
    let p = derive(&config(), Template::Requester, Some("eu-west-1"));
    assert_eq!(value(&p, "AccepterAccountIds"), Some("111111111111,333333333333"));
    assert_eq!(value(&p, "RequesterAccountIds"), None);
    assert_eq!(
        value(&p, "AccepterEventBusArn"),
        None,
        "two accepters: which bus is a guess"
    );
    let notes = p.notes.join("\n");
    assert!(notes.contains("several peer accounts"), "{notes}");
    assert!(notes.contains("\"orders\" has auto_accept = true"), "{notes}");

    let one = Config::parse(&CONFIG[..CONFIG.find("[[peer]]\nname = \"reports\"").unwrap()], "t").unwrap();
    let p = derive(&one, Template::Requester, Some("us-gov-west-1"));
    assert_eq!(
        value(&p, "AccepterEventBusArn"),
        Some("arn:aws-us-gov:events:us-gov-west-1:111111111111:event-bus/default")
    );
    assert_eq!(value(&p, "RequestPeerVpcArns"), Some(""));
    assert!(p.sam_overrides().contains(" RequestPeerVpcArns=\"\" "));
    let p = derive(&one, Template::Requester, None);
    assert!(p.notes.join("\n").contains("--region"));
}

#[test]
fn stack_parameters_are_read_in_every_shape() {
    let described = r#"{"Stacks": [{"StackName": "peerlink", "Parameters": [
            {"ParameterKey": "LocalVpcIds", "ParameterValue": "vpc-1,vpc-2"},
            {"ParameterKey": "DriftMode", "ParameterValue": "report"}]}]}"#;
    let p = read_stack_parameters(described).unwrap();
    assert_eq!(p["LocalVpcIds"], "vpc-1,vpc-2");
    assert_eq!(p["DriftMode"], "report");
    let listed = r#"[{"ParameterKey": "LocalVpcIds", "ParameterValue": "vpc-1"}]"#;
    assert_eq!(read_stack_parameters(listed).unwrap()["LocalVpcIds"], "vpc-1");
    let ours = r#"{"LocalVpcIds": "vpc-1,vpc-2", "SecretArns": ["a", "b"]}"#;
    let p = read_stack_parameters(ours).unwrap();
    assert_eq!(p["SecretArns"], "a,b");
    assert!(
        read_stack_parameters(r#"{"Stacks": []}"#)
            .unwrap_err()
            .contains("0 stacks")
    );
    assert!(read_stack_parameters("nope").is_err());
}

#[test]
fn derived_parameters_cover_the_configuration() {
    let c = config();
    for template in [Template::Accepter, Template::Requester] {
        let stack = read_stack_parameters(&derive(&c, template, Some("eu-west-1")).json().to_string()).unwrap();
        // The key of the secret without kms_key is the one thing left to the user.
        assert_eq!(coverage(&c, &stack), vec![], "{template:?}");
    }
}

#[test]
fn what_the_stack_leaves_out_is_reported() {
    let c = config();
    let mut stack = read_stack_parameters(&derive(&c, Template::Accepter, None).json().to_string()).unwrap();
    stack.insert("LocalVpcIds".into(), "vpc-0bbb2222bbbb2222b".into());
    stack.insert(
        "SecurityGroupIds".into(),
        "sg-0bbb2222bbbb2222d,sg-0eeeeeeeeeeeeeeee".into(),
    );
    stack.insert("SecretArns".into(), "".into());
    stack.insert("RequesterAccountIds".into(), "".into());
    stack.insert("RequestPeerVpcArns".into(), "".into());
    stack.insert("DriftMode".into(), "report".into());
    let found = coverage(&c, &stack);
    let text: Vec<String> = found.iter().map(|f| f.message.clone()).collect();
    let has = |needle: &str| text.iter().any(|m| m.contains(needle));
    assert!(
        has("local VPC vpc-0ddd4444dddd4444d, which the stack's LocalVpcIds does not"),
        "{text:#?}"
    );
    assert!(
        has("secret arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf"),
        "{text:#?}"
    );
    assert!(
        has("secret arn:aws:secretsmanager:eu-west-1:222222222222:secret:other-AbCdEf"),
        "{text:#?}"
    );
    assert!(
        has("peer account 111111111111, which the stack's RequesterAccountIds does not"),
        "{text:#?}"
    );
    assert!(
        has("peer VPC to request to arn:aws-cn:ec2:cn-north-1:333333333333:vpc/vpc-0ccc3333cccc3333c"),
        "{text:#?}"
    );
    assert!(
        has("security group sg-0ddd4444dddd4444d, which the stack's SecurityGroupIds does not"),
        "{text:#?}"
    );
    assert!(
        has("SecurityGroupIds names the security group sg-0eeeeeeeeeeeeeeee"),
        "{text:#?}"
    );
    assert!(
        has("DriftMode is report but settings.drift_mode is remediate"),
        "{text:#?}"
    );
    assert_eq!(found.len(), 8, "{text:#?}");
    assert!(found.iter().all(|f| f.fix.contains("--template accepter")));

    // A requester stack: its accepters are every peer account.
    let mut stack = read_stack_parameters(&derive(&c, Template::Requester, None).json().to_string()).unwrap();
    stack.insert("AccepterAccountIds".into(), "333333333333".into());
    let found = coverage(&c, &stack);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .message
            .contains("peer account 111111111111, which the stack's AccepterAccountIds")
    );
}
