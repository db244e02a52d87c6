//! The demo, as `scripts/demo.sh` runs it (the same built binary): it runs to
//! the end, and its last step writes the organisation report page of its two
//! accounts and says where it is.

use std::process::Command;

use peerlink_tests::workspace_root;

#[test]
fn the_demo_runs_to_the_end_and_names_its_report_page() {
    let page = workspace_root().join("target/demo/report.html");
    // A page left by an earlier run must not pass for this one's.
    let _ = std::fs::remove_file(&page);
    let out = Command::new(env!("CARGO_BIN_EXE_demo")).output().expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the demo failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    let last = stdout.lines().rev().take(3).collect::<Vec<_>>().join("\n");
    assert!(
        last.contains("target/demo/report.html"),
        "the demo's last lines do not name the report page:\n{last}"
    );
    let html = std::fs::read_to_string(&page).expect("the demo wrote target/demo/report.html");
    assert!(html.contains("<svg"), "the page has no picture");
    for account in ["111111111111", "222222222222"] {
        assert!(
            html.contains(&format!("data-account=\"{account}\"")),
            "the page does not show account {account}"
        );
    }
}
