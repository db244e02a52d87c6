//! The built functions driven through real `cargo lambda` (watch + invoke with
//! files from `events/`), against the emulator.

use peerlink_tests::{Emulator, LambdaWatch, Link, create_event, workspace_root};

#[test]
fn the_functions_run_under_cargo_lambda() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = Emulator::shared();
    let link = rt.block_on(Link::new(emu, "700000000001", "700000000002"));
    let dir = std::env::temp_dir().join(format!("peerlink-cargo-lambda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("accepter.toml");
    std::fs::write(&config, link.accepter_config("")).unwrap();
    let pcx = rt.block_on(link.request());

    let watch = LambdaWatch::start(
        emu,
        &link.accepter,
        &[("PEERLINK_CONFIG_FILE", config.to_str().unwrap())],
    );
    let events = workspace_root().join("events");

    // A malformed invocation fails clearly and changes nothing.
    let err = watch
        .invoke("accepter", &events.join("run-instances.json"))
        .unwrap_err();
    let flat = err
        .replace(['│', '×'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("InvalidEvent") || flat.contains("invalid event"), "{err}");
    assert!(flat.contains("\"RunInstances\" is not one peerlink handles"), "{err}");
    assert_eq!(rt.block_on(link.accepter.peering_status(&pcx)), "pending-acceptance");

    // The sample CreateVpcPeeringConnection event, naming the real request.
    let event = dir.join("create.json");
    std::fs::write(&event, create_event(&pcx).to_string()).unwrap();
    let report = watch.invoke("accepter", &event).expect("accepter");
    assert_eq!(report["accepted"], serde_json::json!([pcx.clone()]), "{report}");
    assert_eq!(rt.block_on(link.accepter.peering_status(&pcx)), "active");

    // The sample schedule: the sweep finds nothing left to decide; the finisher finishes.
    let report = watch.invoke("accepter", &events.join("scheduled.json")).expect("sweep");
    assert_eq!(report["outcomes"], serde_json::json!([]), "{report}");
    let report = watch
        .invoke("finisher", &events.join("scheduled.json"))
        .expect("finisher");
    let actions = report["actions"].as_array().unwrap();
    assert!(
        actions
            .iter()
            .any(|a| a["action"] == "create-route" && a["result"] == "done"),
        "{report}"
    );
    let report = watch.invoke("drift", &events.join("scheduled.json")).expect("drift");
    assert_eq!(report["summary"]["drift_found"], 0, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
