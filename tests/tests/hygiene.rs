//! Secrets hygiene: whatever the log level, no secret value, credential or
//! someone else's policy document reaches the logs.

use peerlink_tests::{Emulator, LambdaWatch, Link, create_event, workspace_root};

#[test]
fn no_secret_reaches_the_logs_even_at_trace_level() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = Emulator::shared();
    let link = rt.block_on(Link::new(emu, "910000000001", "910000000002"));
    let marker = "s3cr3t-V4LUE-that-must-never-be-logged";
    rt.block_on(async {
        link.accepter
            .secrets
            .put_secret_value()
            .secret_id(&link.secret.arn)
            .secret_string(format!("{{\"password\":\"{marker}\"}}"))
            .send()
            .await
            .unwrap();
    });
    let dir = std::env::temp_dir().join(format!("peerlink-hygiene-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("accepter.toml");
    std::fs::write(&config, link.accepter_config("drift_mode = \"remediate\"")).unwrap();
    let pcx = rt.block_on(link.request());
    let event = dir.join("create.json");
    std::fs::write(&event, create_event(&pcx).to_string()).unwrap();

    let watch = LambdaWatch::start(
        emu,
        &link.accepter,
        &[
            ("PEERLINK_CONFIG_FILE", config.to_str().unwrap()),
            ("PEERLINK_LOG", "trace"),
        ],
    );
    watch.invoke("accepter", &event).expect("accepter");
    let scheduled = workspace_root().join("events/scheduled.json");
    watch.invoke("finisher", &scheduled).expect("finisher");
    // A broken rule forces a failure report (whose summary is logged in full).
    rt.block_on(async {
        link.accepter
            .ec2
            .delete_route()
            .route_table_id(&link.accepter_vpc.main_table)
            .destination_cidr_block("10.0.0.0/16")
            .send()
            .await
            .unwrap();
    });
    watch.invoke("drift", &scheduled).expect("drift");
    let log_path = watch.log_path.clone();
    drop(watch);

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("\"decision\""),
        "the functions did log: {}",
        &logs[..logs.len().min(500)]
    );
    let creds = &link.accepter.credentials;
    let forbidden = [
        marker,
        creds.secret_access_key(),
        creds.session_token().unwrap(),
        "SecretString",
        // Statements that are not ours are never logged.
        "role/rotation",
        "role/key-admin",
    ];
    for f in forbidden {
        assert!(!logs.contains(f), "{f:?} appears in the logs ({})", log_path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
