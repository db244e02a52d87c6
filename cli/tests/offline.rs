//! The commands that need no AWS, run as a user runs them: the built
//! `peerlink` binary, its output and exit code.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn peerlink(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peerlink"))
        .args(args)
        .current_dir(root())
        // Only what the test passes: no configuration from the environment.
        .env_remove("PEERLINK_CONFIG_FILE")
        .env_remove("PEERLINK_CONFIG")
        .env_remove("PEERLINK_CONFIG_SSM_PARAMETER")
        .output()
        .expect("run peerlink")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The repository ships the schema `peerlink schema` prints: it cannot go stale.
#[test]
fn the_shipped_schema_is_what_peerlink_schema_prints() {
    let out = peerlink(&["schema"]);
    assert!(out.status.success(), "{out:?}");
    let shipped = std::fs::read_to_string(root().join("schema/peerlink.schema.json")).unwrap();
    assert!(
        stdout(&out) == shipped,
        "schema/peerlink.schema.json is not what `peerlink schema` prints: run\n  cargo run -q -p peerlink-cli -- schema > schema/peerlink.schema.json"
    );
}

/// The example points editors at the shipped schema (Taplo's directive, first line).
#[test]
fn the_example_names_the_schema() {
    let example = std::fs::read_to_string(root().join("peerlink.example.toml")).unwrap();
    assert_eq!(example.lines().next(), Some("#:schema ./schema/peerlink.schema.json"));
    assert!(root().join("schema/peerlink.schema.json").is_file());
}

#[test]
fn check_config_reports_every_error_with_its_line() {
    let dir = std::env::temp_dir().join(format!("peerlink-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.toml");
    let example = std::fs::read_to_string(root().join("peerlink.example.toml")).unwrap();
    // Three different mistakes on three lines of the example.
    let broken = example
        .replacen("write_concurrency = 16", "write_concurrency = 0", 1)
        .replacen("auto_accept = true", "auto_acept = true", 1)
        .replacen("ports = 5432", "ports = \"9-1\"", 1);
    std::fs::write(&file, &broken).unwrap();
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let out = peerlink(&["check-config", "--config", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let f = file.display();
    for (needle, what) in [
        (
            "write_concurrency = 0",
            "settings.write_concurrency = 0 is out of range",
        ),
        ("auto_acept", "unknown field `auto_acept`"),
        ("ports = \"9-1\"", "invalid port range"),
    ] {
        let expected = format!("{f}:{}: error: ", line_of(needle));
        assert!(
            text.lines().any(|l| l.starts_with(&expected) && l.contains(what)),
            "expected {expected}…{what} in:\n{text}"
        );
    }
    assert!(text.ends_with(&format!("{f}: invalid, 3 errors\n")), "{text}");

    let valid = peerlink(&["check-config", "--config", "peerlink.example.toml"]);
    assert!(valid.status.success(), "{valid:?}");
    assert!(
        stdout(&valid).starts_with("peerlink.example.toml: valid, 1 peer entry\n"),
        "{valid:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deploy_params_prints_sam_overrides() {
    let out = peerlink(&[
        "deploy-params",
        "--config",
        "peerlink.example.toml",
        "--template",
        "accepter",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        "LocalVpcIds=vpc-0bbb2222bbbb2222b SecurityGroupIds=sg-0bbb2222bbbb2222d \
         SecretArns=arn:aws:secretsmanager:eu-west-1:222222222222:secret:orders-db-AbCdEf \
         KmsKeyArns=arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab \
         RequesterAccountIds=111111111111 RequestPeerVpcArns=\"\" DriftMode=report\n"
    );
    let json = peerlink(&[
        "deploy-params",
        "--config",
        "peerlink.example.toml",
        "--template",
        "requester",
        "--json",
        "--region",
        "eu-west-1",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["AccepterAccountIds"], "111111111111");
    assert_eq!(
        value["AccepterEventBusArn"],
        "arn:aws:events:eu-west-1:111111111111:event-bus/default"
    );
    // The example's entry auto-accepts: a requester stack cannot; said on stderr.
    assert!(
        String::from_utf8_lossy(&json.stderr).contains("auto_accept = true"),
        "{json:?}"
    );
}

#[test]
fn doctor_compares_stack_parameters_without_aws() {
    let dir = std::env::temp_dir().join(format!("peerlink-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let params = dir.join("stack.json");
    // describe-stacks output of a stack that misses the secret and the requester account.
    std::fs::write(
        &params,
        r#"{"Stacks": [{"StackName": "peerlink", "Parameters": [
            {"ParameterKey": "LocalVpcIds", "ParameterValue": "vpc-0bbb2222bbbb2222b"},
            {"ParameterKey": "SecurityGroupIds", "ParameterValue": "sg-0bbb2222bbbb2222d"},
            {"ParameterKey": "SecretArns", "ParameterValue": ""},
            {"ParameterKey": "KmsKeyArns", "ParameterValue": "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
            {"ParameterKey": "RequesterAccountIds", "ParameterValue": ""},
            {"ParameterKey": "DriftMode", "ParameterValue": "report"}]}]}"#,
    )
    .unwrap();
    let args = [
        "doctor",
        "--offline",
        "--config",
        "peerlink.example.toml",
        "--stack-parameters",
        params.to_str().unwrap(),
    ];
    let out = peerlink(&args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text.contains("[stack-parameters] the configuration names the secret arn:aws:secretsmanager:eu-west-1:222222222222:secret:orders-db-AbCdEf"), "{text}");
    assert!(
        text.contains("[stack-parameters] the configuration names the peer account 111111111111"),
        "{text}"
    );
    assert_eq!(text.matches("[stack-parameters]").count(), 2, "{text}");

    // What deploy-params derives covers everything.
    let derived = peerlink(&[
        "deploy-params",
        "--config",
        "peerlink.example.toml",
        "--template",
        "accepter",
        "--json",
    ]);
    std::fs::write(&params, &derived.stdout).unwrap();
    let out = peerlink(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "doctor: no problems found\n");
    let _ = std::fs::remove_dir_all(&dir);
}
