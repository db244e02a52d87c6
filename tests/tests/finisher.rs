//! The finisher against the emulator: request in A → accepted in B → both
//! finishers → routes in every table, rules, DNS, policies; idempotent.

use peerlink::Context;
use peerlink::finding::FindingKind;
use peerlink::outcome::WriteResult;
use peerlink_tests::{Emulator, Link, cloudtrail_event, create_event, finish};
use serde_json::{Value, json};

fn reconcile(pcx: &str) -> Value {
    json!({ "reconcile": pcx })
}

fn sids(policy: &Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|st| st["Sid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the link, requests, accepts through the accepter, and finishes both sides.
async fn linked(a: &str, b: &str) -> (Link, String, Context, Context) {
    let link = Link::new(Emulator::shared(), a, b).await;
    let (pcx, requester_ctx, accepter_ctx) = link.accepted().await;
    (link, pcx, requester_ctx, accepter_ctx)
}

#[tokio::test]
async fn both_finishers_complete_the_link_in_one_pass() {
    let (link, pcx, requester_ctx, accepter_ctx) = linked("500000000001", "500000000002").await;
    // A route the user already has to one peer block, pointing elsewhere.
    let igw = link.accepter.internet_gateway(&link.accepter_vpc.id).await;
    link.accepter
        .ec2
        .create_route()
        .route_table_id(&link.accepter_vpc.subnet_tables[1])
        .destination_cidr_block("10.2.0.0/16")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();

    accepter_ctx.calls().reset();
    let b = finish(&accepter_ctx, reconcile(&pcx)).await;
    let a = finish(&requester_ctx, reconcile(&pcx)).await;
    assert!(b.failed().is_empty() && a.failed().is_empty(), "{b:#?}\n{a:#?}");

    // Routes to every peer block in every table of both VPCs (main, subnet, spare).
    for table in link.accepter_tables() {
        let routes = link.accepter.routes(&table).await;
        assert!(
            routes.contains(&("10.0.0.0/16".into(), pcx.clone())),
            "{table}: {routes:?}"
        );
        if table != link.accepter_vpc.subnet_tables[1] {
            assert!(
                routes.contains(&("10.2.0.0/16".into(), pcx.clone())),
                "{table}: {routes:?}"
            );
        }
    }
    for table in link.requester_vpc.all_tables() {
        let routes = link.requester.routes(&table).await;
        assert!(
            routes.contains(&("10.1.0.0/16".into(), pcx.clone())),
            "{table}: {routes:?}"
        );
    }
    // The conflicting route is left alone and reported.
    let conflicted = link.accepter.routes(&link.accepter_vpc.subnet_tables[1]).await;
    assert!(
        conflicted.contains(&("10.2.0.0/16".into(), igw.clone())),
        "{conflicted:?}"
    );
    let conflict = b
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::RouteConflict)
        .expect("conflict reported");
    assert!(conflict.message.contains(&igw));

    // Ingress in B for both peer blocks, egress in A, each marked.
    let marker = Some(format!("peerlink:{pcx}"));
    let ingress = link.accepter.rules(&link.accepter_vpc.security_group, false).await;
    for cidr in ["10.0.0.0/16", "10.2.0.0/16"] {
        assert!(
            ingress.contains(&("tcp".into(), 5432, 5432, cidr.into(), marker.clone())),
            "{ingress:?}"
        );
    }
    let egress = link.requester.rules(&link.requester_vpc.security_group, true).await;
    assert!(
        egress.contains(&("tcp".into(), 5432, 5432, "10.1.0.0/16".into(), marker.clone())),
        "{egress:?}"
    );

    // DNS resolution on each side, each set by its own account.
    assert_eq!(link.accepter.peering_dns(&pcx).await, (true, true));

    // Policies: ours merged in, the user's statements kept.
    let secret_policy = link.accepter.secret_policy(&link.secret.arn).await.unwrap();
    assert_eq!(
        sids(&secret_policy),
        vec!["UserRotation".to_string(), "PeerlinkRead".to_string()]
    );
    let key_policy = link.accepter.key_policy(link.secret.key_arn.as_ref().unwrap()).await;
    assert_eq!(
        sids(&key_policy),
        vec![
            "Enable IAM User Permissions".to_string(),
            "UserKeyAdmins".into(),
            "PeerlinkDecrypt".to_string()
        ]
    );
    let decrypt = &key_policy["Statement"][2];
    assert_eq!(
        decrypt["Condition"]["StringEquals"]["kms:ViaService"],
        "secretsmanager.eu-west-1.amazonaws.com"
    );
    assert_ne!(decrypt["Principal"], json!("*"));

    // The secret on the AWS-managed key: reported, nothing written.
    let managed = b
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::AwsManagedKey)
        .expect("aws-managed key reported");
    assert!(managed.message.contains(&link.plain_secret.arn));
    assert_eq!(
        sids(&link.accepter.secret_policy(&link.plain_secret.arn).await.unwrap()),
        vec!["UserRotation"]
    );
    assert!(
        !b.actions
            .iter()
            .any(|o| o.planned.action.resource() == link.plain_secret.arn)
    );

    let calls = accepter_ctx.calls().summary();
    println!(
        "accepter-side finish: {} reads, {} writes: {:?}",
        calls.reads, calls.writes, calls.by_operation
    );
    assert_eq!(
        calls.calls("DescribeRouteTables"),
        1,
        "one filtered Describe for all tables"
    );
    assert_eq!(calls.calls("CreateRoute"), 7, "4 tables x 2 blocks, minus the conflict");

    // A second pass on each side writes nothing.
    accepter_ctx.calls().reset();
    requester_ctx.calls().reset();
    let b2 = finish(&accepter_ctx, reconcile(&pcx)).await;
    let a2 = finish(&requester_ctx, reconcile(&pcx)).await;
    assert!(
        b2.actions.is_empty() && a2.actions.is_empty(),
        "{:#?} {:#?}",
        b2.actions,
        a2.actions
    );
    assert_eq!(accepter_ctx.calls().summary().writes, 0);
    assert_eq!(requester_ctx.calls().summary().writes, 0);
}

/// Events name a route table, a group, a secret or a peering; the finisher maps
/// them to the peering and repairs from what it reads.
#[tokio::test]
async fn change_events_lead_back_to_the_peering() {
    let (link, pcx, _requester_ctx, ctx) = linked("500000000003", "500000000004").await;
    finish(&ctx, reconcile(&pcx)).await;

    let table = link.accepter_vpc.subnet_tables[0].clone();
    link.accepter
        .ec2
        .delete_route()
        .route_table_id(&table)
        .destination_cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let r = finish(
        &ctx,
        cloudtrail_event("aws.ec2", "DeleteRoute", json!({"routeTableId": table})),
    )
    .await;
    assert_eq!(r.actions.len(), 1, "{:#?}", r.actions);
    assert_eq!(r.actions[0].result, WriteResult::Done);
    assert!(
        link.accepter
            .routes(&table)
            .await
            .contains(&("10.0.0.0/16".into(), pcx.clone()))
    );

    let sg = link.accepter_vpc.security_group.clone();
    link.accepter
        .ec2
        .revoke_security_group_ingress()
        .group_id(&sg)
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
        .unwrap();
    let r = finish(
        &ctx,
        cloudtrail_event("aws.ec2", "RevokeSecurityGroupIngress", json!({"groupId": sg})),
    )
    .await;
    assert_eq!(r.actions.len(), 1);
    assert_eq!(r.actions[0].planned.action.kind(), "authorize-rule");

    link.accepter
        .secrets
        .delete_resource_policy()
        .secret_id(&link.secret.arn)
        .send()
        .await
        .unwrap();
    let r = finish(
        &ctx,
        cloudtrail_event(
            "aws.secretsmanager",
            "DeleteResourcePolicy",
            json!({"secretId": "orders-db"}),
        ),
    )
    .await;
    assert_eq!(r.actions.len(), 1, "{:#?}", r.actions);
    let policy = link.accepter.secret_policy(&link.secret.arn).await.unwrap();
    assert_eq!(
        sids(&policy).len(),
        1,
        "our statement is back (the user's was deleted by the user)"
    );

    // An event about something peerlink does not manage changes nothing.
    let other_vpc = link.accepter.vpc(&["10.50.0.0/16"], 1).await;
    ctx.calls().reset();
    let r = finish(
        &ctx,
        cloudtrail_event("aws.ec2", "DeleteRoute", json!({"routeTableId": other_vpc.main_table})),
    )
    .await;
    assert!(r.note.unwrap().contains("nothing peerlink manages"));
    assert_eq!(ctx.calls().summary().writes, 0);
}

#[tokio::test]
async fn a_pending_peering_is_left_to_the_accepter() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "500000000005", "500000000006").await;
    let ctx = link.requester.context(&link.requester_config("")).await;
    let pcx = link.request().await;
    ctx.calls().reset();
    let r = finish(&ctx, create_event(&pcx)).await;
    assert!(r.actions.is_empty());
    let waiting = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::NotActive)
        .expect("reported");
    assert!(waiting.message.contains("pending-acceptance"));
    assert_eq!(ctx.calls().summary().writes, 0);
}
