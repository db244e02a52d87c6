//! `peerlink verify` against the emulator, with the guide's two accounts: an
//! ECS task's interface in 10.0.0.0/16, a database's in 10.1.0.0/16. The
//! path is proved end to end; then, one at a time, each break of the
//! troubleshooting table is found as exactly its hop, and the repair makes
//! it reachable again. The reads per verify are counted with the SDK
//! interceptor and do not grow with route tables, rules or ACL entries.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::types::{IpPermission, IpRange, PeeringConnectionOptionsRequest};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use peerlink::config::Protocol;
use peerlink::reconcile::{self, Scope};
use peerlink::verify::Traffic;
use peerlink::{Context, Deadline, Mode};
use peerlink_cli::report::AccountsFile;
use peerlink_cli::verify::{Outcome, prove, render};
use peerlink_tests::{Emulator, Link, REGION, TestInterface, accounts_file, decide, peerlink, workspace_root};

/// The guide's two accounts with the ends of the path.
struct Guide {
    link: Link,
    task: TestInterface,
    db: TestInterface,
    accounts: AccountsFile,
    /// The caller's credentials (as a person in an audit account).
    base: SdkConfig,
    requester_ctx: Context,
    accepter_ctx: Context,
}

async fn caller(emu: &Emulator) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&emu.endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "static",
        )))
        .load()
        .await
}

/// The link, the task's and the database's interfaces, DNS hostnames on in
/// both VPCs (new VPCs have them off), and an accounts file naming both.
async fn guide(requester: &str, accepter: &str) -> Guide {
    let emu = Emulator::shared();
    let link = Link::new(emu, requester, accepter).await;
    let task = link
        .requester
        .interface(
            &link.requester_vpc.subnets[0],
            &[&link.requester_vpc.security_group],
            "arn:aws:ecs:eu-west-1:task/orders",
        )
        .await;
    let db = link
        .accepter
        .interface(
            &link.accepter_vpc.subnets[0],
            &[&link.accepter_vpc.security_group],
            "RDSNetworkInterface",
        )
        .await;
    link.requester.dns_hostnames(&link.requester_vpc.id, true).await;
    link.accepter.dns_hostnames(&link.accepter_vpc.id, true).await;
    let dir = workspace_root()
        .join("results/tmp")
        .join(format!("verify-{requester}-{}", std::process::id()));
    let accounts = AccountsFile::load(&accounts_file(&dir, &[requester, accepter])).expect("accounts file");
    let requester_ctx = link.requester.context(&link.requester_config("")).await;
    let accepter_ctx = link.accepter.context(&link.accepter_config("")).await;
    Guide {
        task,
        db,
        accounts,
        base: caller(emu).await,
        requester_ctx,
        accepter_ctx,
        link,
    }
}

impl Guide {
    async fn verify(&self, from: &str, to: &str) -> Outcome {
        let traffic = Traffic::new(Protocol::Tcp, Some(5432)).unwrap();
        let from = from.parse().unwrap();
        let to = to.parse().unwrap();
        prove(&self.accounts, &self.base, &from, &to, traffic, true)
            .await
            .unwrap_or_else(|e| panic!("verify: {e}"))
    }

    /// The task to the database, by interface ids.
    async fn task_to_db(&self) -> Outcome {
        self.verify(&self.task.id, &self.db.id).await
    }

    async fn expect_reachable(&self, after: &str) -> Outcome {
        let o = self.task_to_db().await;
        assert!(o.reachable, "{after}: not reachable:\n{}", show(&o));
        o
    }

    /// Verifies, expects `hop` as the first failure with `detail` in it.
    async fn expect_blocked(&self, what: &str, hop: &str, detail: &str) {
        let o = self.task_to_db().await;
        println!("== {what}\n{}", show(&o));
        let first = o.first_failure().unwrap_or_else(|| panic!("{what}: reachable"));
        assert_eq!(first.check.name(), hop, "{what}:\n{}", show(&o));
        assert!(
            first.detail.contains(detail),
            "{what}: {:?} lacks {detail:?}",
            first.detail
        );
        assert!(first.fix.as_deref().is_some_and(|f| !f.is_empty()), "{what}: no fix");
    }

    /// Both sides as configured (the finisher's pass): the repair of
    /// everything peerlink owns.
    async fn finish(&self) {
        for ctx in [&self.requester_ctx, &self.accepter_ctx] {
            let r = reconcile::run(ctx, Scope::All, Mode::Apply, Deadline::none())
                .await
                .expect("apply");
            assert!(r.failed().is_empty(), "{r:#?}");
        }
    }
}

fn show(o: &Outcome) -> String {
    render(o, Traffic::new(Protocol::Tcp, Some(5432)).unwrap(), false)
}

fn ingress_5432(cidr: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

#[tokio::test]
async fn the_guides_path_is_proved_and_each_break_is_its_own_first_failure() {
    let g = guide("740000000001", "740000000002").await;
    let (requester, accepter) = (&g.link.requester, &g.link.accepter);

    // The request is made, not accepted yet.
    let pcx = g.link.request().await;
    g.expect_blocked("request not accepted", "peering", "pending-acceptance")
        .await;

    // Accepted by the accepter's decision, both sides finished: reachable.
    assert_eq!(decide(&g.accepter_ctx, &pcx).await.accepted, vec![pcx.clone()]);
    g.finish().await;
    let o = g.expect_reachable("finished").await;
    println!("== reachable\n{}", show(&o));
    assert_eq!(o.peering.as_ref().map(|p| p.id.as_str()), Some(pcx.as_str()));
    assert_eq!(o.checks.len(), 10);
    assert_eq!(o.calls.get("DescribeNetworkInterfaces"), Some(&2), "one per account");
    // By address, the same path.
    let by_address = g.verify(&g.task.address, &g.db.address).await;
    assert!(by_address.reachable, "{}", show(&by_address));
    assert_eq!(by_address.to.interface, g.db.id);

    // The route in the task subnet's own table deleted: the main table still has it.
    let task_table = &g.link.requester_vpc.subnet_tables[0];
    requester
        .ec2
        .delete_route()
        .route_table_id(task_table)
        .destination_cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap();
    g.expect_blocked(
        "route missing in the task subnet's own table",
        "source-route",
        "the main table",
    )
    .await;
    g.finish().await;
    g.expect_reachable("route repaired").await;

    // The route back deleted on the database side.
    accepter
        .ec2
        .delete_route()
        .route_table_id(&g.link.accepter_vpc.subnet_tables[0])
        .destination_cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    g.expect_blocked("route missing on the database side", "destination-route", "no route to")
        .await;
    g.finish().await;
    g.expect_reachable("route back repaired").await;

    // The database group's ingress rule revoked.
    accepter
        .ec2
        .revoke_security_group_ingress()
        .group_id(&g.link.accepter_vpc.security_group)
        .ip_permissions(ingress_5432("10.0.0.0/16"))
        .send()
        .await
        .unwrap();
    g.expect_blocked("SG ingress missing", "destination-sg-ingress", "no ingress rule")
        .await;
    g.finish().await;
    g.expect_reachable("ingress repaired").await;

    // The task group's egress restricted to 443 (the default allow-all and
    // peerlink's 5432 rule revoked).
    let task_group = &g.link.requester_vpc.security_group;
    let all = IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    requester
        .ec2
        .revoke_security_group_egress()
        .group_id(task_group)
        .ip_permissions(all)
        .ip_permissions(ingress_5432("10.1.0.0/16"))
        .send()
        .await
        .unwrap();
    let https = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    requester
        .ec2
        .authorize_security_group_egress()
        .group_id(task_group)
        .ip_permissions(https)
        .send()
        .await
        .unwrap();
    g.expect_blocked("SG egress restricted", "source-sg-egress", "no egress rule")
        .await;
    g.finish().await;
    g.expect_reachable("egress repaired").await;

    // A custom network ACL on the database subnet: allow all, then a deny inbound.
    let acl = accepter
        .custom_acl(&g.link.accepter_vpc.id, &g.link.accepter_vpc.subnets[0])
        .await;
    g.expect_reachable("a custom ACL allowing everything").await;
    accepter
        .acl_entry(&acl, 90, false, false, "6", Some((5432, 5432)), "10.0.0.0/16")
        .await;
    g.expect_blocked("a NACL deny inbound", "destination-nacl-in", "entry 90 denies")
        .await;
    accepter.delete_acl_entry(&acl, 90, false).await;
    g.expect_reachable("deny removed").await;

    // Return traffic: the ACL lets only 443 out. The emulator lists no final
    // deny for a custom ACL; verify applies it as EC2 does.
    accepter
        .acl_entry(&acl, 100, true, true, "6", Some((443, 443)), "0.0.0.0/0")
        .await;
    g.expect_blocked("NACL return traffic blocked", "destination-nacl-out", "final deny")
        .await;
    accepter.acl_entry(&acl, 100, true, true, "-1", None, "0.0.0.0/0").await;
    let steady = g.expect_reachable("return traffic allowed").await;

    // DNS resolution from the remote VPC turned off on the database side.
    accepter
        .ec2
        .modify_vpc_peering_connection_options()
        .vpc_peering_connection_id(&pcx)
        .accepter_peering_connection_options(
            PeeringConnectionOptionsRequest::builder()
                .allow_dns_resolution_from_remote_vpc(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    g.expect_blocked("DNS option off on the database side", "dns", "does not let")
        .await;
    g.finish().await;
    g.expect_reachable("DNS option repaired").await;

    // Reads are flat: 49 more route tables in each VPC, 50 more rules in the
    // database group, 50 more entries in its ACL: the same count.
    for (account, vpc) in [
        (requester, &g.link.requester_vpc.id),
        (accepter, &g.link.accepter_vpc.id),
    ] {
        for i in 0..49 {
            account.route_table(vpc, &[("Name", &format!("extra-{i}"))]).await;
        }
    }
    for i in 0..50 {
        accepter
            .user_rule(
                &g.link.accepter_vpc.security_group,
                6000 + i,
                &format!("10.9.{i}.0/24"),
                "extra",
            )
            .await;
        accepter
            .acl_entry(
                &acl,
                200 + i,
                false,
                true,
                "6",
                Some((7000 + i, 7000 + i)),
                "10.8.0.0/16",
            )
            .await;
    }
    let grown = g.expect_reachable("grown").await;
    println!(
        "reads per verify: {} with 1 route table per subnet, {} with 50 tables per VPC, 50 more rules and ACL entries",
        steady.reads(),
        grown.reads()
    );
    println!("{}", peerlink_cli::verify::reads_line(&grown));
    assert_eq!(steady.calls, grown.calls, "reads grew with tables, rules or entries");
}

/// Peering is the wrong tool: a route through one peering to a VPC beyond
/// it (transitive), and two VPCs whose ranges overlap.
#[tokio::test]
async fn a_transitive_route_and_overlapping_ranges_get_their_advice() {
    let g = guide("740000000003", "740000000004").await;
    let (requester, accepter) = (&g.link.requester, &g.link.accepter);
    let (pcx, _, _) = g.link.accepted().await;
    g.finish().await;

    // vpc-c (10.5.0.0/16) peers with the database VPC only; the task's
    // table sends 10.5.0.0/16 through its peering to the database VPC.
    let c = accepter.vpc(&["10.5.0.0/16"], 1).await;
    let c_eni = accepter
        .interface(&c.subnets[0], &[&c.security_group], "service in vpc-c")
        .await;
    let bc = accepter
        .request_peering(&c.id, &accepter.id, &g.link.accepter_vpc.id, None)
        .await;
    accepter.accept(&bc).await;
    requester
        .ec2
        .create_route()
        .route_table_id(&g.link.requester_vpc.subnet_tables[0])
        .destination_cidr_block("10.5.0.0/16")
        .vpc_peering_connection_id(&pcx)
        .send()
        .await
        .unwrap();
    let o = g.verify(&g.task.id, &c_eni.id).await;
    println!("== transitive\n{}", show(&o));
    let first = o.first_failure().expect("blocked");
    assert_eq!(first.check.name(), "peering");
    assert!(first.detail.contains("does not hold it"), "{}", first.detail);
    assert!(first.fix.as_deref().unwrap().contains("Transit Gateway"), "{first:?}");

    // vpc-d (10.0.0.0/16) overlaps the task's VPC; its request is rejected.
    let d = accepter.vpc(&["10.0.0.0/16"], 1).await;
    let d_eni = accepter
        .interface(&d.subnets[0], &[&d.security_group], "service in vpc-d")
        .await;
    let ad = requester
        .request_peering(&g.link.requester_vpc.id, &accepter.id, &d.id, None)
        .await;
    accepter
        .ec2
        .reject_vpc_peering_connection()
        .vpc_peering_connection_id(&ad)
        .send()
        .await
        .unwrap();
    let o = g.verify(&g.task.id, &d_eni.id).await;
    println!("== overlapping\n{}", show(&o));
    let first = o.first_failure().expect("blocked");
    assert_eq!(first.check.name(), "peering");
    assert!(first.detail.contains("overlap"), "{}", first.detail);
    assert!(first.fix.as_deref().unwrap().contains("PrivateLink"), "{first:?}");
}

/// The command itself: JSON in the shape and exit 0 when reachable,
/// a table with the blocking hop and exit 2 when blocked, exit 1 naming the
/// endpoint not found or the account that cannot be read.
#[tokio::test]
async fn the_command_exits_0_when_reachable_2_when_blocked_1_on_error() {
    let g = guide("740000000005", "740000000006").await;
    let _ = g.link.accepted().await;
    g.finish().await;
    let endpoint = &Emulator::shared().endpoint;
    let file = g.accounts.path.to_str().unwrap().to_string();
    let args = |from: &str, to: &str, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "verify",
            "--accounts",
            &file,
            "--from",
            from,
            "--to",
            to,
            "--port",
            "5432",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| peerlink(endpoint, &a.iter().map(String::as_str).collect::<Vec<_>>());

    let out = run(args(&g.task.id, &g.db.address, &["--json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["checks", "from", "peering", "reachable", "to"]);
    assert_eq!(json["reachable"], true);
    assert_eq!(json["to"]["interface"], g.db.id.as_str());
    assert_eq!(json["from"]["account"], "740000000005");
    assert_eq!(json["peering"]["status"], "active");
    let check = json["checks"][0].as_object().unwrap();
    let keys: Vec<&str> = check.keys().map(String::as_str).collect();
    assert_eq!(keys, ["account", "check", "detail", "fix", "ok", "resource"]);
    // An id and an address: two look-ups per account, then the same 16.
    assert!(
        stderr.contains("reads: 22 (") && stderr.contains("DescribeNetworkInterfaces 4"),
        "{stderr}"
    );

    g.link
        .requester
        .ec2
        .delete_route()
        .route_table_id(&g.link.requester_vpc.subnet_tables[0])
        .destination_cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap();
    let out = run(args(&g.task.address, &g.db.id, &[]));
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("BLOCKED at source-route") && text.contains("fix: add a route"),
        "{text}"
    );

    let out = run(args(&g.task.id, "10.1.250.250", &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--to 10.1.250.250") && stderr.contains("740000000006 eu-west-1"),
        "{stderr}"
    );

    // An account whose role is in another account: its answer is not its own.
    let dir = workspace_root()
        .join("results/tmp")
        .join(format!("verify-wrong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wrong = dir.join("accounts.toml");
    std::fs::write(
        &wrong,
        format!(
            "{}\n[[account]]\nid = \"740000000008\"\nrole = \"arn:aws:iam::740000000007:role/peerlink-verify\"\nregions = [\"{REGION}\"]\n",
            std::fs::read_to_string(&g.accounts.path).unwrap()
        ),
    )
    .unwrap();
    let mut a = args(&g.task.id, &g.db.id, &[]);
    a[2] = wrong.to_str().unwrap().to_string();
    let out = run(a);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("account 740000000008") && stderr.contains("is in account 740000000007"),
        "{stderr}"
    );
}

/// Continuous proof: each side declares its half of the path; a drift pass
/// reports a network-ACL change that blocks it, naming the hop and the fix.
#[tokio::test]
async fn a_declared_path_blocked_by_a_network_acl_is_reported_on_the_next_drift_pass() {
    use peerlink::config::DriftMode;
    use peerlink::drift;
    use peerlink::finding::FindingKind;
    use peerlink::fixtures;
    use peerlink::metrics::InvocationReport;

    let g = guide("740000000009", "740000000010").await;
    let _ = g.link.accepted().await;
    g.finish().await;
    let (requester, accepter) = (&g.link.requester, &g.link.accepter);
    let declare =
        |local: &str, remote: &str| format!("verify = [{{ local = \"{local}\", remote = \"{remote}\", port = 5432 }}]");
    let task_side = requester
        .context(&fixtures::document(
            "",
            &[g.link
                .requester_entry("orders-db")
                .line(&declare(&g.task.id, &g.db.address))],
        ))
        .await;
    let db_config = g.link.accepter_config("").replacen(
        "auto_accept = true\n",
        &format!("auto_accept = true\n{}\n", declare(&g.db.id, &g.task.address)),
        1,
    );
    let db_side = accepter.context(&db_config).await;
    let pass = |ctx: &Context| {
        let ctx = ctx.clone();
        async move {
            ctx.calls().reset();
            let report = drift::run(&ctx, DriftMode::Report, Deadline::none())
                .await
                .expect("drift");
            let blocked: Vec<_> = report
                .reconcile
                .findings
                .iter()
                .filter(|f| f.kind == FindingKind::PathBlocked)
                .cloned()
                .collect();
            let metric = report
                .metrics()
                .into_iter()
                .find(|(m, _)| *m == "PathsBlocked")
                .map(|(_, n)| n);
            assert_eq!(metric, Some(blocked.len()));
            (blocked, ctx.calls().summary())
        }
    };

    // Both halves proved; the reads a pass adds for them.
    let (blocked, with_paths) = pass(&task_side).await;
    assert!(blocked.is_empty(), "{blocked:#?}");
    let (blocked, _) = pass(&db_side).await;
    assert!(blocked.is_empty(), "{blocked:#?}");
    let (_, without) = pass(&g.requester_ctx).await;
    println!(
        "drift reads: {} without declared paths, {} with one (+{:?})",
        without.reads,
        with_paths.reads,
        ["DescribeNetworkInterfaces", "DescribeNetworkAcls"].map(|op| with_paths.calls(op))
    );
    assert_eq!(with_paths.calls("DescribeNetworkInterfaces"), 1);
    assert_eq!(with_paths.calls("DescribeNetworkAcls"), 1);
    assert_eq!(with_paths.reads, without.reads + 2, "{with_paths:#?}");

    // The task's subnet gets a custom ACL that lets the request out but not the answer in.
    let task_acl = requester
        .custom_acl(&g.link.requester_vpc.id, &g.link.requester_vpc.subnets[0])
        .await;
    requester
        .acl_entry(&task_acl, 50, false, false, "6", Some((1024, 65535)), "10.1.0.0/16")
        .await;
    let (blocked, _) = pass(&task_side).await;
    assert_eq!(blocked.len(), 1, "{blocked:#?}");
    let f = &blocked[0];
    println!("{}\n  fix: {}", f.message, f.fix);
    assert!(
        f.message.contains("blocked at source-nacl-in") && f.message.contains("entry 50 denies"),
        "{}",
        f.message
    );
    assert_eq!(f.resource.as_deref(), Some(task_acl.as_str()));
    assert!(f.fix.contains("stateless"), "{}", f.fix);
    // The database's half does not see the task's ACL.
    let (blocked, _) = pass(&db_side).await;
    assert!(blocked.is_empty(), "{blocked:#?}");

    // The database's subnet denies the port inbound: its own pass names its hop.
    let db_acl = accepter
        .custom_acl(&g.link.accepter_vpc.id, &g.link.accepter_vpc.subnets[0])
        .await;
    accepter
        .acl_entry(&db_acl, 50, false, false, "6", Some((5432, 5432)), "10.0.0.0/16")
        .await;
    let (blocked, _) = pass(&db_side).await;
    assert_eq!(blocked.len(), 1, "{blocked:#?}");
    assert!(
        blocked[0].message.contains("blocked at destination-nacl-in"),
        "{}",
        blocked[0].message
    );
    assert!(
        blocked[0]
            .message
            .contains(&format!("{} -> {}", g.task.address, g.db.id)),
        "{}",
        blocked[0].message
    );

    // Repaired: both halves proved again.
    requester.delete_acl_entry(&task_acl, 50, false).await;
    accepter.delete_acl_entry(&db_acl, 50, false).await;
    for ctx in [&task_side, &db_side] {
        let (blocked, _) = pass(ctx).await;
        assert!(blocked.is_empty(), "{blocked:#?}");
    }
}
