//! The local end-to-end demo: the emulator, two accounts (plus strangers),
//! the request made by peerlink from the requester's configuration, several
//! hostile requests, the accepter run through `cargo lambda` with the sample
//! events, both finishers on the accepter's announcement (no schedule), a
//! deliberate break, `peerlink plan` showing it, the drift function
//! repairing it, `peerlink verify` proving the path hop by hop (reachable,
//! blocked by a network ACL, reachable again), and the organisation report
//! page of both accounts.
//!
//! Run it with `scripts/demo.sh` (which installs the tools and builds first).

use std::path::{Path, PathBuf};
use std::process::Command;

use peerlink_tests::{
    Account, Emulator, EventCapture, LambdaWatch, Link, accounts_file, built_binary, create_event_in, peerlink,
    workspace_root,
};
use serde_json::{Value, json};

const REQUESTER: &str = "111111111111";
const ACCEPTER: &str = "222222222222";
const STRANGER: &str = "333333333333";
const OTHER_PARTNER: &str = "444444444444";

fn step(title: &str) {
    println!("\n\x1b[1m== {title}\x1b[0m");
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).expect("write demo file");
    path.to_path_buf()
}

fn table(headers: &[&str], rows: &[Vec<String>]) {
    for line in peerlink_cli::text::table(headers, rows).lines() {
        println!("  {line}");
    }
}

fn decisions(report: &Value) -> Vec<Vec<String>> {
    report["outcomes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            vec![
                o["peering_id"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{} {}",
                    o["requester"]["account"].as_str().unwrap_or_default(),
                    o["requester"]["vpc"].as_str().unwrap_or_default()
                ),
                o["verdict"].as_str().unwrap_or_default().to_uppercase(),
                o["reason"].as_str().unwrap_or_default().to_string(),
            ]
        })
        .collect()
}

fn actions(report: &Value) -> Vec<Vec<String>> {
    report["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                a["action"].as_str().unwrap_or_default().to_string(),
                a.get("route_table")
                    .or(a.get("group"))
                    .or(a.get("secret"))
                    .or(a.get("key"))
                    .or(a.get("peering"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                serde_json::to_string(&a["result"])
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string(),
                a["reason"].as_str().unwrap_or_default().to_string(),
            ]
        })
        .collect()
}

fn findings(report: &Value) {
    for f in report["findings"].as_array().into_iter().flatten() {
        println!(
            "  finding [{}] {}",
            f["kind"].as_str().unwrap_or_default(),
            f["message"].as_str().unwrap_or_default()
        );
        println!("      fix: {}", f["fix"].as_str().unwrap_or_default());
    }
}

/// Runs the built `peerlink` CLI as `account`; returns its exit code.
fn cli(emu: &Emulator, account: &peerlink_tests::Account, config: &Path, args: &[&str]) -> i32 {
    let bin = built_binary("peerlink");
    println!(
        "  $ peerlink {} --config {}",
        args.join(" "),
        config.strip_prefix(workspace_root()).unwrap_or(config).display()
    );
    let status = Command::new(&bin)
        .args(args)
        .arg("--config")
        .arg(config)
        .envs(emu.env_for(account))
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let code = status.code().unwrap_or(1);
    println!("  (exit code {code})");
    code
}

/// The last step: the organisation report page of both accounts, written by
/// the built `peerlink report --html` (what a user runs), assuming a role in
/// each account from the accepter's credentials. Returns the page's path.
fn report_page(emu: &Emulator, link: &Link, dir: &Path) -> PathBuf {
    step("The picture: peerlink report reads both accounts and draws the organisation");
    let accounts = write(
        &dir.join("accounts.toml"),
        &format!(
            "[[account]]\nid = \"{REQUESTER}\"\nname = \"ecs\"\nrole = \"peerlink-report\"\nregions = [\"{region}\"]\nconfig = \"requester.toml\"\n\n\
             [[account]]\nid = \"{ACCEPTER}\"\nname = \"databases\"\nrole = \"peerlink-report\"\nregions = [\"{region}\"]\nconfig = \"accepter.toml\"\n",
            region = peerlink_tests::REGION
        ),
    );
    let page = dir.join("report.html");
    let _ = std::fs::remove_file(&page);
    let shown = |p: &Path| p.strip_prefix(workspace_root()).unwrap_or(p).display().to_string();
    println!(
        "  $ peerlink report --accounts {} --html {}",
        shown(&accounts),
        shown(&page)
    );
    let status = Command::new(built_binary("peerlink"))
        .args(["report", "--accounts"])
        .arg(&accounts)
        .arg("--html")
        .arg(&page)
        .envs(emu.env_for(&link.accepter))
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .status()
        .expect("run peerlink report");
    // 0: everything finished; 2: something needs attention (the refused
    // requests are listed); 1 would be an error.
    assert!(matches!(status.code(), Some(0 | 2)), "peerlink report: {status}");
    assert!(page.is_file(), "peerlink report wrote no page");
    page
}

#[tokio::main]
async fn main() {
    let dir = workspace_root().join("target/demo");
    std::fs::create_dir_all(&dir).expect("target/demo");
    let emu = Emulator::start();
    let (link, accepter_toml, requester_toml) = accounts_and_configs(&emu, &dir).await;
    // The accepter's announcements, read back from its default bus (as the
    // stacks' rules deliver them).
    let capture = EventCapture::start(&link.accepter).await;
    let (watch_a, allowed) = ask(&emu, &link, &requester_toml).await;
    let hostile = hostile_requests(&emu, &link).await;
    let watch_b = decide(&emu, &link, &dir, &accepter_toml, &allowed, &hostile).await;
    finish(&capture, &dir, &watch_a, &watch_b, &allowed).await;
    break_and_repair(&emu, &link, &accepter_toml, &watch_b, &allowed).await;
    prove_the_path(&emu, &link, &dir).await;

    drop(watch_a);
    drop(watch_b);
    let page = report_page(&emu, &link, &dir);
    println!(
        "\nDemo complete: 1 requested by peerlink and accepted, 4 refused with reasons, both sides finished through events, a break repaired by drift, the path proved hop by hop."
    );
    println!(
        "The picture: {} (open it in a browser)",
        page.strip_prefix(workspace_root()).unwrap_or(&page).display()
    );
    println!("Files: target/demo/ (configs, events used); function logs: target/cargo-lambda-watch-*.log");
}

/// Step 1: the two accounts, their VPCs and their configurations.
async fn accounts_and_configs(emu: &Emulator, dir: &Path) -> (Link, PathBuf, PathBuf) {
    step("1. Local AWS: moto on loopback, accounts through STS AssumeRole");
    println!("  emulator: {}", emu.endpoint);
    let link = Link::new(emu, REQUESTER, ACCEPTER).await;
    println!(
        "  account {REQUESTER} (requester, ECS tasks): {} 10.0.0.0/16 + 10.2.0.0/16, 3 subnets with their own route tables",
        link.requester_vpc.id
    );
    println!(
        "  account {ACCEPTER} (accepter, PostgreSQL):  {} 10.1.0.0/16, 2 subnets + a spare table, secret on a CMK",
        link.accepter_vpc.id
    );
    // The accepter also works with a second partner, whose VPCs may use 10.0.0.0/8.
    let accepter_config = format!(
        "{}\n[[peer]]\nname = \"analytics\"\npeer_account = \"{OTHER_PARTNER}\"\nallowed_cidrs = [\"10.0.0.0/8\"]\nlocal_vpc = \"{}\"\nauto_accept = true\n",
        link.accepter_config("drift_mode = \"remediate\""),
        link.accepter_vpc.id
    );
    let accepter_toml = write(&dir.join("accepter.toml"), &accepter_config);
    let requester_toml = write(
        &dir.join("requester.toml"),
        &link.asking_config("drift_mode = \"remediate\""),
    );
    println!("  configs: target/demo/accepter.toml, target/demo/requester.toml (request = true: the requester asks)");
    (link, accepter_toml, requester_toml)
}

/// Step 2: the requester's finisher makes the request its configuration
/// declares. Returns the requester's functions and the request's id.
async fn ask(emu: &Emulator, link: &Link, requester_toml: &Path) -> (LambdaWatch, String) {
    step("2. peerlink asks: the requester's finisher makes the request its configuration declares");
    let watch_a = LambdaWatch::start(
        emu,
        &link.requester,
        &[("PEERLINK_CONFIG_FILE", requester_toml.to_str().unwrap())],
    );
    println!(
        "  $ cargo lambda invoke finisher --data-file events/reconcile-all.json   (account {REQUESTER}, after the configuration changed)"
    );
    let report = watch_a
        .invoke("finisher", &workspace_root().join("events/reconcile-all.json"))
        .expect("finisher A asks");
    table(&["ACTION", "RESOURCE", "RESULT", "WHY"], &actions(&report));
    let allowed = link
        .requester
        .peerlink_requests()
        .await
        .into_iter()
        .next()
        .expect("the request peerlink made");
    println!(
        "  {allowed}: {REQUESTER} {} -> {ACCEPTER} {} (tagged peerlink:entry=orders-db)",
        link.requester_vpc.id, link.accepter_vpc.id
    );
    (watch_a, allowed)
}

/// The four hostile requests of step 3, with the accounts that made them.
struct Hostile {
    stranger: Account,
    partner: Account,
    ids: [String; 4],
}

/// Step 3: four requests that must not be accepted, made by hand.
async fn hostile_requests(emu: &Emulator, link: &Link) -> Hostile {
    step("3. Four hostile requests, made by hand");
    let stranger = emu.account(STRANGER).await;
    let sv = stranger.vpc(&["10.0.0.0/16"], 0).await;
    let h1 = stranger
        .request_peering(&sv.id, ACCEPTER, &link.accepter_vpc.id, None)
        .await;
    println!("  {h1}: {STRANGER} — an account nobody listed");
    let other_vpc = link.requester.vpc(&["10.3.0.0/16"], 0).await;
    let h2 = link
        .requester
        .request_peering(&other_vpc.id, ACCEPTER, &link.accepter_vpc.id, None)
        .await;
    println!(
        "  {h2}: {REQUESTER} {} — a listed account, but an unlisted VPC",
        other_vpc.id
    );
    let partner = emu.account(OTHER_PARTNER).await;
    // EC2 shows only the primary block of a pending request: these are
    // refused on it (a bad secondary block would be accepted on a good
    // primary one, and never routed).
    let wide = partner.vpc(&["172.31.0.0/16"], 0).await;
    let h3 = partner
        .request_peering(&wide.id, ACCEPTER, &link.accepter_vpc.id, None)
        .await;
    println!("  {h3}: {OTHER_PARTNER} — listed (10.0.0.0/8), but its block is outside that range");
    let clash = partner.vpc(&["10.1.128.0/17"], 0).await;
    let h4 = partner
        .request_peering(&clash.id, ACCEPTER, &link.accepter_vpc.id, None)
        .await;
    println!("  {h4}: {OTHER_PARTNER} — listed, but its block overlaps the accepter's VPC");
    Hostile {
        stranger,
        partner,
        ids: [h1, h2, h3, h4],
    }
}

/// Step 4: the accepter decides, on the forwarded event and on its
/// schedule. Returns the accepter's functions.
async fn decide(
    emu: &Emulator,
    link: &Link,
    dir: &Path,
    accepter_toml: &Path,
    allowed: &str,
    hostile: &Hostile,
) -> LambdaWatch {
    step("4. The accepter, through cargo lambda, on the request's event (forwarded from the requester)");
    let watch_b = LambdaWatch::start(
        emu,
        &link.accepter,
        &[
            ("PEERLINK_CONFIG_FILE", accepter_toml.to_str().unwrap()),
            ("PEERLINK_EVENT_BUS", "default"),
        ],
    );
    let create = write(
        &dir.join("create-vpc-peering-connection.json"),
        &create_event_in(allowed, REQUESTER).to_string(),
    );
    println!(
        "  $ cargo lambda invoke accepter --data-file target/demo/create-vpc-peering-connection.json   (events/create-vpc-peering-connection.json with the real id)"
    );
    let report = watch_b
        .invoke("accepter", &create)
        .expect("accepter on the CloudTrail event");
    table(&["PEERING", "FROM", "DECISION", "WHY"], &decisions(&report));
    println!("  The other requests' events were 'missed'; the schedule sweeps them:");
    println!("  $ cargo lambda invoke accepter --data-file events/scheduled.json");
    let report = watch_b
        .invoke("accepter", &workspace_root().join("events/scheduled.json"))
        .expect("accepter sweep");
    table(&["PEERING", "FROM", "DECISION", "WHY"], &decisions(&report));
    let [h1, h2, h3, h4] = &hostile.ids;
    for (id, who, account) in [
        (allowed, "allowed", &link.requester),
        (h1.as_str(), "stranger", &hostile.stranger),
        (h2.as_str(), "unlisted VPC", &link.requester),
        (h3.as_str(), "out of range", &hostile.partner),
        (h4.as_str(), "overlap", &hostile.partner),
    ] {
        println!(
            "  {id} ({who}): {} as its requester sees it",
            account.peering_status(id).await
        );
    }
    watch_b
}

/// Step 5: the accepter's announcement reaches both finishers.
async fn finish(capture: &EventCapture, dir: &Path, watch_a: &LambdaWatch, watch_b: &LambdaWatch, allowed: &str) {
    step("5. Both sides finish through events: the accepter's announcement reaches both finishers");
    let mut announced = capture.next().await;
    while announced["detail"]["peeringId"] != json!(allowed) {
        announced = capture.next().await;
    }
    let accepted = write(&dir.join("peering-accepted.json"), &announced.to_string());
    println!(
        "  the accepter published \"{}\" for {allowed} (target/demo/peering-accepted.json)",
        announced["detail-type"].as_str().unwrap_or_default()
    );
    println!(
        "  $ cargo lambda invoke finisher --data-file target/demo/peering-accepted.json   (account {ACCEPTER}, its own bus)"
    );
    let report = watch_b.invoke("finisher", &accepted).expect("finisher B");
    table(&["ACTION", "RESOURCE", "RESULT", "WHY"], &actions(&report));
    findings(&report);
    println!(
        "  $ cargo lambda invoke finisher --data-file target/demo/peering-accepted.json   (account {REQUESTER}, forwarded)"
    );
    let report = watch_a.invoke("finisher", &accepted).expect("finisher A");
    table(&["ACTION", "RESOURCE", "RESULT", "WHY"], &actions(&report));
    findings(&report);
    println!("  No schedule was needed: the request, the decision and both finishers ran on events.");
}

/// Steps 6 to 9: a deliberate break, `plan` showing it, drift repairing
/// it, `plan` clean again.
async fn break_and_repair(emu: &Emulator, link: &Link, accepter_toml: &Path, watch_b: &LambdaWatch, allowed: &str) {
    step("6. A deliberate break: someone deletes a route and revokes the rule");
    let table_id = link.accepter_vpc.subnet_tables[0].clone();
    link.accepter
        .ec2
        .delete_route()
        .route_table_id(&table_id)
        .destination_cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("delete route");
    println!("  deleted route 10.0.0.0/16 -> {allowed} from {table_id}");
    link.accepter
        .ec2
        .revoke_security_group_ingress()
        .group_id(&link.accepter_vpc.security_group)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(5432)
                .to_port(5432)
                .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("10.2.0.0/16").build())
                .build(),
        )
        .send()
        .await
        .expect("revoke rule");
    println!(
        "  revoked tcp 5432 from 10.2.0.0/16 on {}",
        link.accepter_vpc.security_group
    );

    step("7. peerlink plan shows it (exit code 2: changes pending)");
    let code = cli(emu, &link.accepter, accepter_toml, &["plan"]);
    assert_eq!(code, 2, "plan should report outstanding changes");

    step("8. The drift function (remediate) repairs it");
    println!("  $ cargo lambda invoke drift --data-file events/scheduled.json");
    let report = watch_b
        .invoke("drift", &workspace_root().join("events/scheduled.json"))
        .expect("drift");
    table(&["ACTION", "RESOURCE", "RESULT", "WHY"], &actions(&report["reconcile"]));
    let s = &report["summary"];
    println!(
        "  drift: {} managed, {} drift found, {} repaired, {} failed",
        s["managed"], s["drift_found"], s["repaired"], s["failed"]
    );

    step("9. peerlink plan again (exit code 0: nothing to do)");
    let code = cli(emu, &link.accepter, accepter_toml, &["plan"]);
    assert_eq!(code, 0, "plan should be clean after the repair");
}

/// Step 10: `peerlink verify` proves the path from an ECS task's interface
/// to the database's address across both accounts, finds a network-ACL
/// break (which peerlink does not own, so drift cannot repair it) as its
/// hop, and proves it again after the repair.
async fn prove_the_path(emu: &Emulator, link: &Link, dir: &Path) {
    step("10. peerlink verify: can the task reach the database on 5432? (exit 0 reachable, 2 blocked)");
    let (requester, accepter) = (&link.requester, &link.accepter);
    let task = requester
        .interface(
            &link.requester_vpc.subnets[0],
            &[&link.requester_vpc.security_group],
            "ECS task orders",
        )
        .await;
    let db = accepter
        .interface(
            &link.accepter_vpc.subnets[0],
            &[&link.accepter_vpc.security_group],
            "RDSNetworkInterface",
        )
        .await;
    requester.dns_hostnames(&link.requester_vpc.id, true).await;
    accepter.dns_hostnames(&link.accepter_vpc.id, true).await;
    println!(
        "  the ECS task's interface {} ({}) in {REQUESTER}, the database's {} ({}) in {ACCEPTER}; DNS hostnames on in both VPCs",
        task.id, task.address, db.id, db.address
    );
    let accounts = accounts_file(dir, &[REQUESTER, ACCEPTER]);
    println!(
        "  accounts file: target/demo/accounts.toml (both accounts, role peerlink-verify, as `peerlink report` reads it)"
    );
    let accounts = accounts.to_str().expect("a UTF-8 path").to_string();
    let verify = |want: i32| {
        let args = [
            "verify",
            "--accounts",
            &accounts,
            "--from",
            &task.id,
            "--to",
            &db.address,
            "--port",
            "5432",
        ];
        let out = peerlink(&emu.endpoint, &args);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            println!("  {line}");
        }
        let code = out.status.code().unwrap_or(1);
        println!("  (exit code {code})");
        assert_eq!(code, want, "{}", String::from_utf8_lossy(&out.stderr));
    };
    verify(0);

    println!(
        "\n  A break peerlink does not own: a network ACL on the database's subnet denies 5432 from the tasks' VPC"
    );
    let acl = accepter
        .custom_acl(&link.accepter_vpc.id, &link.accepter_vpc.subnets[0])
        .await;
    accepter
        .acl_entry(&acl, 90, false, false, "6", Some((5432, 5432)), "10.0.0.0/16")
        .await;
    verify(2);

    println!("\n  The repair: entry 90 deleted");
    accepter.delete_acl_entry(&acl, 90, false).await;
    verify(0);
}
