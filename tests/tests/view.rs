//! Seeing exposure (issue 22, item 5): `peerlink plan --json` and `peerlink
//! report --json` (the built binary) name, per link, exactly what is open to
//! whom (one CIDR rule, one peer-group rule) and the routes per table (two
//! selected tables), on both sides; when the peer gives a block up, the view
//! says which routes go, and after the pass they are gone from it.

use std::collections::BTreeSet;

use peerlink::fixtures::{self, Entry};
use peerlink::reconcile::{self, Scope};
use peerlink::{Context, Deadline, Mode};
use peerlink_tests::{Emulator, Link, decide, peerlink, peerlink_as, workspace_root};
use serde_json::Value;

// Accounts no other test uses.
const ECS: &str = "761000000001";
const DB: &str = "761000000002";

async fn apply(ctx: &Context) {
    let r = reconcile::run(ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .expect("reconcile");
    assert!(r.failed().is_empty(), "{r:#?}");
}

/// The `line` of every item of `lines` (an array of open or route lines).
fn lines(view: &Value, key: &str) -> BTreeSet<String> {
    view[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {view:#}"))
        .iter()
        .map(|l| l["line"].as_str().expect("a line").to_string())
        .collect()
}

/// The states of every item (`in-place`, `to-add`, `to-remove`) by line.
fn states(view: &Value, key: &str) -> BTreeSet<(String, String)> {
    view[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {view:#}"))
        .iter()
        .map(|l| {
            (
                l["line"].as_str().unwrap().to_string(),
                l["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

/// `plan --json` of `account` with configuration `file`: the view of `pcx`.
fn planned_view(emu: &Emulator, account: &peerlink_tests::Account, file: &str, pcx: &str) -> (Option<i32>, Value) {
    let out = peerlink_as(emu, account, &["plan", "--json", "--config", file]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "plan --json: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let views = json["exposure"]
        .as_array()
        .unwrap_or_else(|| panic!("plan --json has no exposure: {json:#}"));
    let view = views
        .iter()
        .find(|v| v["peering"] == pcx)
        .unwrap_or_else(|| panic!("no view of {pcx}: {views:#?}"))
        .clone();
    (out.status.code(), view)
}

#[tokio::test]
async fn plan_and_report_name_what_is_open_to_whom_and_the_routes_per_table() {
    let emu = Emulator::shared();
    let link = Link::new(emu, ECS, DB).await;
    let (app_sg, db_sg) = (&link.requester_vpc.security_group, &link.accepter_vpc.security_group);
    let (t0, t1) = (&link.accepter_vpc.subnet_tables[0], &link.accepter_vpc.subnet_tables[1]);
    // The database side: one CIDR rule, one peer-group rule, two tables.
    let accepter_entry = Entry::new(
        "orders-ecs",
        ECS,
        &link.accepter_vpc.id,
        &["10.0.0.0/16", "10.2.0.0/16"],
    )
    .peer_vpc(&link.requester_vpc.id)
    .rule_lines(&format!("group = \"{db_sg}\"\nports = 5432\ncidrs = [\"10.0.0.0/16\"]"))
    .rule_lines(&format!(
        "group = \"{db_sg}\"\nports = 6432\npeer_groups = [\"{app_sg}\"]"
    ))
    .routes(&format!("select = \"ids\"\nids = [\"{t0}\", \"{t1}\"]"));
    let db_config = fixtures::document("", &[accepter_entry]);
    let ecs_config = fixtures::document("", &[link.requester_entry("orders-db")]);
    let (ecs_ctx, db_ctx) = (
        link.requester.context(&ecs_config).await,
        link.accepter.context(&db_config).await,
    );
    let pcx = link.request().await;
    assert_eq!(decide(&db_ctx, &pcx).await.accepted, vec![pcx.clone()]);

    let dir = workspace_root()
        .join("results/tmp")
        .join(format!("view-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (db_file, ecs_file) = (dir.join("db.toml"), dir.join("ecs.toml"));
    std::fs::write(&db_file, &db_config).unwrap();
    std::fs::write(&ecs_file, &ecs_config).unwrap();
    let db_file = db_file.to_str().unwrap();

    // Before the first pass the plan says what it would open and route.
    let (code, view) = planned_view(emu, &link.accepter, db_file, &pcx);
    assert_eq!(code, Some(2), "{view:#}");
    let open_db = [
        format!("{db_sg} ingress: 10.0.0.0/16 on tcp 5432"),
        format!("{db_sg} ingress: group {ECS}/{app_sg} on tcp 6432"),
    ];
    let routes_db = |blocks: &[&str]| -> Vec<String> {
        let mut out = Vec::new();
        for t in [t0, t1] {
            out.extend(blocks.iter().map(|b| format!("{t}: {b} -> {pcx}")));
        }
        out
    };
    let to_add = |ls: &[String]| -> BTreeSet<String> { ls.iter().map(|l| format!("{l} (to add)")).collect() };
    assert_eq!(lines(&view, "open"), to_add(&open_db), "{view:#}");
    assert_eq!(
        lines(&view, "routes"),
        to_add(&routes_db(&["10.0.0.0/16", "10.2.0.0/16"])),
        "{view:#}"
    );
    assert!(states(&view, "open").iter().all(|(_, s)| s == "to-add"), "{view:#}");
    assert_eq!(view["side"], "accepter");

    // Finished on both sides: the same lines, in place.
    apply(&db_ctx).await;
    apply(&ecs_ctx).await;
    let (code, view) = planned_view(emu, &link.accepter, db_file, &pcx);
    assert_eq!(code, Some(0), "{view:#}");
    assert_eq!(lines(&view, "open"), set(&open_db), "exactly those rules: {view:#}");
    assert_eq!(
        lines(&view, "routes"),
        set(&routes_db(&["10.0.0.0/16", "10.2.0.0/16"])),
        "exactly those routes, in the two selected tables: {view:#}"
    );
    assert!(states(&view, "routes").iter().all(|(_, s)| s == "in-place"), "{view:#}");
    // The text says the same lines, in the link's block.
    let out = peerlink_as(emu, &link.accepter, &["plan", "--config", db_file]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        text.contains(&format!("{pcx} (accepter side, entry \"orders-ecs\"")),
        "{text}"
    );
    for line in open_db.iter().chain(&routes_db(&["10.0.0.0/16", "10.2.0.0/16"])) {
        assert!(text.contains(&format!("    {line}\n")), "{line}: {text}");
    }
    // The peer's group rule is structured too: the account and the group.
    let by_group = view["open"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["peer"].get("group").is_some())
        .unwrap_or_else(|| panic!("{view:#}"));
    assert_eq!(by_group["peer"]["group"]["account"], ECS);
    assert_eq!(by_group["peer"]["group"]["group"], app_sg.as_str());

    // The report: both sides of the link, the same lines.
    let accounts = dir.join("accounts.toml");
    std::fs::write(
        &accounts,
        format!(
            "[[account]]\nid = \"{ECS}\"\nrole = \"peerlink-report\"\nregions = [\"{r}\"]\nconfig = \"ecs.toml\"\n\n\
             [[account]]\nid = \"{DB}\"\nrole = \"peerlink-report\"\nregions = [\"{r}\"]\nconfig = \"db.toml\"\n",
            r = peerlink_tests::REGION
        ),
    )
    .unwrap();
    let report = |expect: i32| -> Value {
        let out = peerlink(
            &emu.endpoint,
            &["report", "--accounts", accounts.to_str().unwrap(), "--json"],
        );
        assert_eq!(
            out.status.code(),
            Some(expect),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = json["peerings"].as_array().unwrap();
        rows.iter()
            .find(|p| p["id"] == pcx.as_str())
            .expect("the link's row")
            .clone()
    };
    let row = report(0);
    let accepter = &row["accepter"]["exposure"];
    assert_eq!(lines(accepter, "open"), set(&open_db), "{row:#}");
    assert_eq!(
        lines(accepter, "routes"),
        set(&routes_db(&["10.0.0.0/16", "10.2.0.0/16"])),
        "{row:#}"
    );
    let requester = &row["requester"]["exposure"];
    assert_eq!(
        lines(requester, "open"),
        set(&[format!("{app_sg} egress: 10.1.0.0/16 on tcp 5432")]),
        "{row:#}"
    );
    let every_table: Vec<String> = link
        .requester_vpc
        .all_tables()
        .iter()
        .map(|t| format!("{t}: 10.1.0.0/16 -> {pcx}"))
        .collect();
    assert_eq!(lines(requester, "routes"), set(&every_table), "{row:#}");

    // The peer gives 10.2.0.0/16 up: the view says those routes go.
    link.requester
        .disassociate_cidr(&link.requester_vpc.id, "10.2.0.0/16")
        .await;
    let (code, view) = planned_view(emu, &link.accepter, db_file, &pcx);
    assert_eq!(code, Some(2), "{view:#}");
    let mut changed = set(&routes_db(&["10.0.0.0/16"]));
    changed.extend(routes_db(&["10.2.0.0/16"]).iter().map(|l| format!("{l} (to remove)")));
    assert_eq!(lines(&view, "routes"), changed, "{view:#}");
    assert_eq!(lines(&view, "open"), set(&open_db), "the rules stay: {view:#}");
    let row = report(2);
    assert_eq!(lines(&row["accepter"]["exposure"], "routes"), changed, "{row:#}");
    // After the pass only the routes to the block the peer still has.
    apply(&db_ctx).await;
    let (_, view) = planned_view(emu, &link.accepter, db_file, &pcx);
    assert_eq!(lines(&view, "routes"), set(&routes_db(&["10.0.0.0/16"])), "{view:#}");
    std::fs::remove_dir_all(&dir).ok();
}
