//! Routes narrower than the peer's blocks, and only in the tables of the
//! subnets the workload runs in (issue 22 item 2), on the emulator.

use peerlink::finding::FindingKind;
use peerlink::fixtures::{self, Entry};
use peerlink_tests::{Emulator, Link, decide, failed_writes, pass};

/// The accepter's entry for the requester's VPC with these `[peer.routes]` lines.
fn accepter_routes(link: &Link, routes: &str) -> String {
    let entry = Entry::new(
        "orders-ecs",
        &link.requester.id,
        &link.accepter_vpc.id,
        &["10.0.0.0/16", "10.2.0.0/16"],
    )
    .peer_vpc(&link.requester_vpc.id)
    .routes(routes);
    fixtures::document("", &[entry])
}

/// The destinations routed through `pcx` in `table`, sorted.
async fn routed(link: &Link, table: &str, pcx: &str) -> Vec<String> {
    let mut d: Vec<String> = link
        .accepter
        .routes(table)
        .await
        .into_iter()
        .filter(|(_, target)| target == pcx)
        .map(|(dest, _)| dest)
        .collect();
    d.sort();
    d
}

#[tokio::test]
async fn routes_go_only_to_destinations_and_one_goes_when_the_peer_gives_its_block_up() {
    let link = Link::new(Emulator::shared(), "230000000001", "230000000002").await;
    let routes = "destinations = [\"10.0.1.0/24\", \"10.2.5.0/24\"]";
    let ctx = link.accepter.context(&accepter_routes(&link, routes)).await;
    let pcx = link.request().await;
    assert_eq!(decide(&ctx, &pcx).await.accepted, vec![pcx.clone()]);
    let r = pass(&ctx).await;
    assert!(failed_writes(&r).is_empty(), "{r:#?}");
    for table in link.accepter_tables() {
        assert_eq!(
            routed(&link, &table, &pcx).await,
            vec!["10.0.1.0/24", "10.2.5.0/24"],
            "only the destinations in {table}, no whole-block route"
        );
    }
    // The peer gives 10.2.0.0/16 up: the destination inside it loses its
    // route on the next pass, the other stays.
    link.requester
        .disassociate_cidr(&link.requester_vpc.id, "10.2.0.0/16")
        .await;
    let r = pass(&ctx).await;
    assert!(failed_writes(&r).is_empty(), "{r:#?}");
    for table in link.accepter_tables() {
        assert_eq!(
            routed(&link, &table, &pcx).await,
            vec!["10.0.1.0/24"],
            "the route to a range the peer gave up is taken back in {table}"
        );
    }
    // And a steady pass writes nothing.
    let r = pass(&ctx).await;
    assert!(r.actions.is_empty(), "{:#?}", r.actions);
}

#[tokio::test]
async fn routes_go_only_to_the_tables_of_the_selected_subnets() {
    let link = Link::new(Emulator::shared(), "230000000011", "230000000012").await;
    let vpc = &link.accepter_vpc;
    // A subnet with no table of its own: it uses the VPC's main table.
    let on_main = link.accepter.subnet(&vpc.id, "10.1.200.0/24").await;
    let missing = "subnet-0000000000000dead";
    let routes = format!(
        "select = \"subnets\"\nsubnets = [\"{}\", \"{on_main}\", \"{missing}\"]",
        vpc.subnets[0]
    );
    let ctx = link.accepter.context(&accepter_routes(&link, &routes)).await;
    let pcx = link.request().await;
    assert_eq!(decide(&ctx, &pcx).await.accepted, vec![pcx.clone()]);
    let r = pass(&ctx).await;
    assert!(
        failed_writes(&r).is_empty(),
        "a missing subnet does not fail the pass: {r:#?}"
    );
    let finding = r.findings.iter().find(|f| f.message.contains(missing));
    let finding = finding.unwrap_or_else(|| panic!("the missing subnet is reported: {:#?}", r.findings));
    assert_eq!(finding.kind, FindingKind::MissingResource, "{finding:?}");
    let both = vec!["10.0.0.0/16", "10.2.0.0/16"];
    assert_eq!(
        routed(&link, &vpc.subnet_tables[0], &pcx).await,
        both,
        "the table explicitly associated with the first subnet"
    );
    assert_eq!(
        routed(&link, &vpc.main_table, &pcx).await,
        both,
        "the main table, which the second subnet uses"
    );
    for untouched in [&vpc.subnet_tables[1], &link.spare_table] {
        assert!(
            routed(&link, untouched, &pcx).await.is_empty(),
            "{untouched} is no table of a selected subnet"
        );
    }
    let r = pass(&ctx).await;
    assert!(r.actions.is_empty(), "a steady pass writes nothing: {:#?}", r.actions);
}
