//! `peerlink report` against the emulator: three accounts with a finished
//! link, a drifted one, a rejected request and two peers of one hub whose
//! blocks overlap, plus two accounts that cannot be read. The real binary
//! reads them all through AssumeRole and prints one row per peering; its
//! HTML page draws one edge per peering, and headless Chromium renders it
//! to `results/report.png`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use peerlink::fixtures::{self, Entry};
use peerlink::reconcile::{self, Scope};
use peerlink::{Context, Deadline, Mode};
use peerlink_tests::{Emulator, Link, decide, workspace_root};
use serde_json::Value;

// Accounts no other test uses.
const ECS: &str = "730000000001";
const DB: &str = "730000000002";
const ANALYTICS: &str = "730000000003";
/// Listed with a role in another account: what it reads is not itself.
const WRONG_ROLE: &str = "730000000008";
/// Listed with a configuration that does not exist.
const NO_CONFIG: &str = "730000000009";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs the built `peerlink` binary with the caller's credentials pointing
/// at the emulator (as a person with credentials in a management account would).
fn peerlink(endpoint: &str, args: &[&str]) -> Output {
    let bin = target_dir().join("debug/peerlink");
    assert_fresh(&bin);
    println!("$ peerlink {}", args.join(" "));
    Command::new(&bin)
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", peerlink_tests::REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e} (build it first: cargo build --workspace)", bin.display()))
}

/// The binary is not older than any source it was built from (cargo's
/// dep-info file next to it lists them): a stale one would test old code.
fn assert_fresh(bin: &Path) {
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e} (build it first: cargo build --workspace)", bin.display()));
    // Without its dep-info file nothing says what it was built from: a
    // stale binary could pass for the code under test.
    let deps = std::fs::read_to_string(bin.with_extension("d")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: cannot tell whether {} is fresh (build it: cargo build --workspace)",
            bin.with_extension("d").display(),
            bin.display()
        )
    });
    let sources = deps.split_once(": ").map_or("", |(_, s)| s).replace("\\ ", "\u{0}");
    for source in sources.split_whitespace().map(|s| s.replace('\u{0}', " ")) {
        let changed = std::fs::metadata(&source).and_then(|m| m.modified());
        assert!(
            changed.is_ok_and(|c| c <= built),
            "{} is older than {source}: rebuild it (cargo build --workspace)",
            bin.display()
        );
    }
}

async fn apply(ctx: &Context) {
    let r = reconcile::run(ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .expect("reconcile");
    assert!(r.failed().is_empty(), "{r:#?}");
}

/// The accepter entry of a link (as `Link::accepter_config` writes it), named.
fn accepter_entry(link: &Link, name: &str) -> Entry {
    let role = link.task_role.as_str();
    Entry::new(
        name,
        &link.requester.id,
        &link.accepter_vpc.id,
        &["10.0.0.0/16", "10.2.0.0/16"],
    )
    .peer_vpc(&link.requester_vpc.id)
    .rule(&link.accepter_vpc.security_group, 5432)
    .secret(&link.secret.arn, &[role])
    .secret(&link.plain_secret.arn, &[role])
}

/// Every peering of the report, by id.
fn by_id(report: &Value) -> std::collections::BTreeMap<String, Value> {
    report["peerings"]
        .as_array()
        .expect("peerings")
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

/// The element `<g class="edge …" data-peering="ID" …>…</g>` of the page.
fn edge<'a>(html: &'a str, id: &str) -> &'a str {
    let marker = format!("data-peering=\"{id}\"");
    let at = html
        .match_indices("<g class=\"edge ")
        .map(|(i, _)| i)
        .find(|i| html[*i..].split_once('>').is_some_and(|(tag, _)| tag.contains(&marker)))
        .unwrap_or_else(|| panic!("no edge for {id}"));
    let end = at + html[at..].find("</g>").expect("edge closed");
    &html[at..end]
}

fn attr<'a>(element: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = element.find(&key).unwrap_or_else(|| panic!("{name} in {element}")) + key.len();
    &element[at..at + element[at..].find('"').unwrap()]
}

/// The colour the legend gives `state`.
fn legend_colour<'a>(html: &'a str, state: &str) -> &'a str {
    let at = html
        .find(&format!("<g class=\"legend-item\" data-state=\"{state}\">"))
        .unwrap_or_else(|| panic!("{state} in the legend"));
    attr(&html[at..], "stroke")
}

#[tokio::test]
async fn the_report_shows_every_peering_of_the_organisation_once_with_its_state() {
    let emu = Emulator::shared();
    // ECS → DB (finished) and ECS → ANALYTICS (to drift): the Link fixture twice.
    let finished = Link::new(emu, ECS, DB).await;
    let drifting = Link::new(emu, ECS, ANALYTICS).await;
    // A hub VPC in DB with a peer in ECS and one in ANALYTICS; a stranger VPC in ANALYTICS.
    let (db, ecs, analytics) = (&finished.accepter, &finished.requester, &drifting.accepter);
    let hub = db.vpc(&["10.255.0.0/16"], 1).await;
    let ecs_spoke = ecs.vpc(&["10.60.0.0/16"], 1).await;
    let analytics_spoke = analytics.vpc(&["10.61.0.0/16"], 1).await;
    let stranger = analytics.vpc(&["10.50.0.0/16"], 1).await;
    let spoke = |name: &str, account: &str, vpc: &str| {
        Entry::new(name, account, &hub.id, &["10.0.0.0/8"])
            .peer_vpc(vpc)
            .rule(&hub.security_group, 5432)
    };

    // Each account's one configuration, as the accounts file names them.
    let ecs_config = fixtures::document(
        "",
        &[finished.requester_entry("db"), drifting.requester_entry("analytics")],
    );
    let db_config = fixtures::document(
        "",
        &[
            accepter_entry(&finished, "ecs"),
            spoke("hub-ecs", ECS, &ecs_spoke.id),
            spoke("hub-analytics", ANALYTICS, &analytics_spoke.id),
        ],
    );
    let analytics_config = fixtures::document("", &[accepter_entry(&drifting, "ecs")]);
    let (ecs_ctx, db_ctx, analytics_ctx) = (
        ecs.context(&ecs_config).await,
        db.context(&db_config).await,
        analytics.context(&analytics_config).await,
    );

    // Accepted by each accepter's own decision, then finished on both sides.
    let (done, _, _) = finished.accepted().await;
    let (drifted, _, _) = drifting.accepted().await;
    let spoke_ecs = ecs.request_peering(&ecs_spoke.id, DB, &hub.id, None).await;
    let spoke_analytics = analytics.request_peering(&analytics_spoke.id, DB, &hub.id, None).await;
    assert_eq!(decide(&db_ctx, &spoke_ecs).await.accepted, vec![spoke_ecs.clone()]);
    assert_eq!(
        decide(&db_ctx, &spoke_analytics).await.accepted,
        vec![spoke_analytics.clone()]
    );
    // The stranger asks for the database VPC: no entry lists it, rejected.
    let rejected = analytics
        .request_peering(&stranger.id, DB, &finished.accepter_vpc.id, None)
        .await;
    assert_eq!(decide(&db_ctx, &rejected).await.rejected, vec![rejected.clone()]);
    for ctx in [&db_ctx, &ecs_ctx, &analytics_ctx] {
        apply(ctx).await;
    }
    // Drift: one of peerlink's routes deleted in the ECS account.
    drifting
        .requester
        .ec2
        .delete_route()
        .route_table_id(&drifting.requester_vpc.main_table)
        .destination_cidr_block("10.1.0.0/16")
        .send()
        .await
        .expect("DeleteRoute");
    // Conflict: the analytics spoke grows into the ECS spoke's range.
    analytics.associate_cidr(&analytics_spoke.id, "10.60.2.0/24").await;
    apply(&db_ctx).await;

    // The accounts file, with the configurations next to it.
    let dir = workspace_root()
        .join("results/tmp")
        .join(format!("report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [
        ("ecs.toml", &ecs_config),
        ("db.toml", &db_config),
        ("analytics.toml", &analytics_config),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let accounts = dir.join("accounts.toml");
    std::fs::write(
        &accounts,
        format!(
            r#"
[[account]]
id = "{ECS}"
name = "ecs"
role = "peerlink-report"
regions = ["eu-west-1"]
config = "ecs.toml"

[[account]]
id = "{DB}"
name = "databases"
role = "arn:aws:iam::{DB}:role/peerlink-report"
regions = ["eu-west-1"]
config = "db.toml"

[[account]]
id = "{ANALYTICS}"
name = "analytics"
role = "peerlink-report"
regions = ["eu-west-1"]
config = {{ eu-west-1 = "analytics.toml" }}

[[account]]
id = "{WRONG_ROLE}"
name = "wrong-role"
role = "arn:aws:iam::730000000007:role/peerlink-report"
regions = ["eu-west-1"]

[[account]]
id = "{NO_CONFIG}"
name = "no-config"
role = "peerlink-report"
regions = ["eu-west-1"]
config = "missing/peerlink.toml"
"#
        ),
    )
    .unwrap();
    let results = workspace_root().join("results");
    std::fs::create_dir_all(&results).unwrap();
    let page = results.join("report.html");
    let _ = std::fs::remove_file(&page);

    let accounts_arg = accounts.to_str().unwrap();
    let out = peerlink(
        &emu.endpoint,
        &[
            "report",
            "--accounts",
            accounts_arg,
            "--json",
            "--html",
            page.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON: {e}\n{}", String::from_utf8_lossy(&out.stdout)));

    // One row per peering, both ends merged, with its state.
    let rows = by_id(&report);
    let want = [
        (&done, "finished"),
        (&drifted, "drift-pending"),
        (&rejected, "rejected"),
        // The ECS spoke holds the contested range and keeps it; only the
        // analytics spoke's new block is refused.
        (&spoke_ecs, "finished"),
        (&spoke_analytics, "conflict"),
    ];
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|(id, p)| (id.as_str(), p["state"].as_str().unwrap()))
        .collect();
    assert_eq!(rows.len(), want.len(), "{got:?}");
    for (id, state) in want {
        assert_eq!(rows[id.as_str()]["state"], state, "{id}: {got:?}");
    }
    // Both ends read and managed where a configuration names them.
    let row = &rows[done.as_str()];
    assert_eq!(row["requester"]["account"], ECS);
    assert_eq!(row["accepter"]["account"], DB);
    assert_eq!(row["requester"]["read"], "managed");
    assert_eq!(row["accepter"]["read"], "managed");
    assert_eq!(
        row["requester"]["cidrs"],
        serde_json::json!(["10.0.0.0/16", "10.2.0.0/16"])
    );
    // What is missing, on the side where it is missing.
    let row = &rows[drifted.as_str()];
    assert_eq!(
        row["requester"]["missing"],
        serde_json::json!(["create-route"]),
        "{row:#}"
    );
    assert_eq!(row["accepter"]["missing"], serde_json::json!([]), "{row:#}");
    // The conflict's finding, with its fix, on the newcomer, naming the holder.
    let findings = rows[spoke_analytics.as_str()]["findings"].as_array().unwrap();
    let overlap = findings
        .iter()
        .find(|f| f["kind"] == "overlap-conflict")
        .unwrap_or_else(|| panic!("{spoke_analytics}: {findings:#?}"));
    assert_eq!(overlap["account"], DB);
    let message = overlap["message"].as_str().unwrap();
    assert!(
        message.contains("10.60.2.0/24") && message.contains(spoke_ecs.as_str()),
        "{overlap}"
    );
    assert!(!overlap["fix"].as_str().unwrap().is_empty());
    assert!(
        rows[spoke_ecs.as_str()]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["kind"] != "overlap-conflict"),
        "the holder keeps its block: {:#}",
        rows[spoke_ecs.as_str()]
    );
    assert_eq!(rows[rejected.as_str()]["requester"]["account"], ANALYTICS);

    // The accounts that cannot be read are rows saying why.
    let accounts_rows = report["accounts"].as_array().unwrap();
    let why = |id: &str| -> String {
        let a = accounts_rows.iter().find(|a| a["account"] == id).expect(id);
        assert_eq!(a["readable"], false, "{a}");
        a["error"].as_str().unwrap().to_string()
    };
    let wrong = why(WRONG_ROLE);
    assert!(wrong.contains("730000000007") && wrong.contains(WRONG_ROLE), "{wrong}");
    let missing = why(NO_CONFIG);
    assert!(
        missing.contains("missing/peerlink.toml") && missing.contains("cannot read"),
        "{missing}"
    );
    for id in [ECS, DB, ANALYTICS] {
        let a = accounts_rows.iter().find(|a| a["account"] == id).unwrap();
        assert_eq!(a["readable"], true, "{a}");
    }
    assert_eq!(report["summary"]["unreadable"], 2);
    assert_eq!(report["summary"]["exit_code"], 2);

    // The page: one edge per peering, in its state's colour, its id in a <title>.
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert_eq!(
        html.matches("<g class=\"edge ").count(),
        rows.len(),
        "one edge per peering"
    );
    for (id, p) in &rows {
        let state = p["state"].as_str().unwrap();
        let e = edge(&html, id);
        assert_eq!(attr(e, "data-state"), state, "{e}");
        assert!(
            attr(e, "class").split(' ').any(|c| c == format!("state-{state}")),
            "{e}"
        );
        let title = &e[e.find("<title>").expect("a title") + 7..e.find("</title>").unwrap()];
        assert!(title.contains(id.as_str()), "{title}");
        assert_eq!(
            attr(&e[e.find("<path").unwrap()..], "stroke"),
            legend_colour(&html, state),
            "{e}"
        );
    }
    for account in [ECS, DB, ANALYTICS, WRONG_ROLE, NO_CONFIG] {
        assert!(
            html.contains(&format!("data-account=\"{account}\"")),
            "{account}: a box"
        );
    }
    assert!(html.contains("class=\"account unreadable\""));
    for vpc in [&hub.id, &finished.requester_vpc.id, &stranger.id] {
        assert!(html.contains(&format!("data-vpc=\"{vpc}\"")), "{vpc}: a node");
    }
    // Self-contained: nothing is fetched.
    for external in ["<script", " src=", " href=", "@import", "url(http", "<link"] {
        assert!(
            !html.contains(external),
            "the page refers to something outside: {external}"
        );
    }

    // The same data as a table by default.
    let out = peerlink(&emu.endpoint, &["report", "--accounts", accounts_arg]);
    assert_eq!(out.status.code(), Some(2));
    let table = String::from_utf8_lossy(&out.stdout);
    println!("{table}");
    for id in rows.keys() {
        assert!(table.contains(id.as_str()), "{id}: {table}");
    }
    assert!(
        table.contains("UNREADABLE") && table.contains("drift-pending"),
        "{table}"
    );

    screenshot(&page, &results.join("report.png"));
}

#[test]
fn a_bad_accounts_file_is_exit_1() {
    // Nothing listens there: a bad file fails before any call.
    let nowhere = "http://127.0.0.1:9";
    let out = peerlink(nowhere, &["report", "--accounts", "/nonexistent/accounts.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("accounts file"));
    let dir = workspace_root()
        .join("results/tmp")
        .join(format!("report-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("accounts.toml");
    std::fs::write(
        &bad,
        "[[account]]\nid = \"12\"\nrole = \"r\"\nregions = [\"eu-west-1\"]\n",
    )
    .unwrap();
    let out = peerlink(nowhere, &["report", "--accounts", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("12-digit"));
}

/// Renders the page in headless Chromium (Debian's package, installed by
/// `scripts/setup.sh chromium` when missing) and checks the PNG. Chromium
/// is part of the test set-up (`scripts/test.sh` installs it): without it,
/// or when it cannot start or render the page, the test fails.
fn screenshot(page: &Path, png: &Path) {
    let setup = Command::new("bash")
        .arg(workspace_root().join("scripts/setup.sh"))
        .arg("chromium")
        .stdout(Stdio::null())
        .status();
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        panic!(
            "chromium is not installed and scripts/setup.sh chromium could not install it ({setup:?}): install Debian's chromium"
        );
    };
    let profile = png.with_extension("chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);
    let _ = std::fs::remove_file(png);
    let mut child = match Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,1000")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot start {chromium}: {e}"),
    };
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break Some(s);
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = std::fs::remove_dir_all(&profile);
    let bytes = std::fs::read(png).unwrap_or_else(|e| {
        panic!(
            "{chromium} did not render the page to {} (exit {status:?}): {e}",
            png.display()
        )
    });
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let dimension = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((dimension(16), dimension(20)), (1400, 1000), "the window's size");
    println!("screenshot: {} ({} bytes)", png.display(), bytes.len());
}
