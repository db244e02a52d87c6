#!/usr/bin/env python3
"""Start moto in server mode on loopback, with the patches peerlink's tests need.

DescribeVpcPeeringConnections answers as the EC2 API reference documents it
("CIDR block information is only returned when describing an active VPC
peering connection"; AWS's CLI example shows a pending request with the
requester's CidrBlock and nothing for the accepter):

- active: both VPCs with CidrBlock, CidrBlockSet and Ipv6CidrBlockSet (every
  associated block: across accounts the only place a peer's secondary CIDRs
  can be read; moto alone gives the primary block only);
- any other state: the requester's primary CidrBlock, no block for the
  accepter; the requester's block sets only with `--pending-block-set
  listed` (and only while pending-acceptance). The default, `omitted`, is
  what the documentation promises; `listed` is the kinder answer some
  responses may give, so the accepter is tested both ways;
- the tags are the caller's own: EC2 keeps a peering's tags per account
  (moto shows the requester's to everyone).

Routes whose peering is gone report state "blackhole", as EC2 does.

A VPC tagged `peerlink-test:hide-cidr-block-set` is described without its
block sets in every state, as an EC2 answer that lacks them would be: the
tests of the "peer blocks unknown" case use it.

Usage: moto_server.py [--port N] [--pending-block-set omitted|listed]
Prints "MOTO_PORT=<n>" on stdout once the server accepts connections, and exits
when its stdin closes (so it never outlives the test process that started it).
"""

import argparse
import copy
import logging
import sys

from loopback import serve_until_stdin_closes


def _associated(vpc, ipv6):
    return [
        c["cidr_block"]
        for c in vpc.get_cidr_block_association_set(ipv6=ipv6)
        if c.get("cidr_block_state", {}).get("state") == "associated"
    ]


def patch_moto(pending_block_set):
    from moto.core.responses import ActionResult
    from moto.ec2.models.route_tables import Route
    from moto.ec2.models.vpc_peering_connections import VPCPeeringConnection
    from moto.ec2.responses.vpc_peering_connections import VPCPeeringConnections

    def vpc_info(vpc, options, primary=True, sets=True):
        info = {
            "OwnerId": vpc.owner_id,
            "Region": vpc.region,
            "VpcId": vpc.id,
            "PeeringOptions": options,
        }
        if primary:
            info["CidrBlock"] = vpc.cidr_block
        hidden = "peerlink-test:hide-cidr-block-set" in vpc.ec2_backend.tags.get(vpc.id, {})
        if hidden or not sets:
            return info
        info["CidrBlockSet"] = [{"CidrBlock": c} for c in _associated(vpc, False)]
        ipv6 = _associated(vpc, True)
        if ipv6:
            info["Ipv6CidrBlockSet"] = [{"Ipv6CidrBlock": c} for c in ipv6]
        return info

    VPCPeeringConnection.requester_vpc_info = property(
        lambda self: vpc_info(self.vpc, self.requester_options)
    )
    VPCPeeringConnection.accepter_vpc_info = property(
        lambda self: vpc_info(self.peer_vpc, self.accepter_options)
    )

    def described(pcx, viewer):
        code = pcx._status.code
        active = code == "active"
        requester_sets = active or (pending_block_set and code == "pending-acceptance")
        tags = dict(viewer.tags[pcx.id]) if pcx.id in viewer.tags else {}
        return {
            "VpcPeeringConnectionId": pcx.id,
            "Status": pcx.status,
            "RequesterVpcInfo": vpc_info(pcx.vpc, pcx.requester_options, True, requester_sets),
            "AccepterVpcInfo": vpc_info(pcx.peer_vpc, pcx.accepter_options, active, active),
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }

    def describe_vpc_peering_connections(self):
        ids = self._get_param("VpcPeeringConnectionIds", [])
        pcxs = self.ec2_backend.describe_vpc_peering_connections(vpc_peering_ids=ids)
        return ActionResult({"VpcPeeringConnections": [described(p, self.ec2_backend) for p in pcxs]})

    VPCPeeringConnections.describe_vpc_peering_connections = describe_vpc_peering_connections

    gone = {"deleted", "rejected", "failed", "expired", "deleting"}

    def route_state(self):
        if self.vpc_pcx is not None and self.vpc_pcx._status.code in gone:
            return "blackhole"
        return "active"

    Route.state = property(route_state)

    # EC2 keeps a peering's tags per account: each side sees only the tags
    # it set itself (peerlink records on its own side what it routes and
    # turned on). moto reads them from the backend of the account that
    # created the peering, so the accepter never saw its own: describe each
    # peering with the asking account's tags.
    from moto.ec2.models.vpc_peering_connections import VPCPeeringConnectionBackend

    describe = VPCPeeringConnectionBackend.describe_vpc_peering_connections

    def describe_as_seen_by(self, vpc_peering_ids=None):
        seen = []
        for pcx in describe(self, vpc_peering_ids):
            mine = copy.copy(pcx)
            # One lookup, not moto's scan of every tag of the account per
            # peering (quadratic in a hub of a thousand tagged peerings).
            tags = [
                {"resource_id": pcx.id, "key": k, "value": v, "resource_type": "vpc-peering-connection"}
                for k, v in self.tags.get(pcx.id, {}).items()
            ]
            mine.get_tags = lambda tags=tags: tags
            seen.append(mine)
        return seen

    VPCPeeringConnectionBackend.describe_vpc_peering_connections = describe_as_seen_by


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--pending-block-set",
        choices=("omitted", "listed"),
        default="omitted",
        help="whether a pending request lists the requester's CidrBlockSet (default: omitted, as documented)",
    )
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("refusing to listen on anything but loopback")

    # Request lines on stderr would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    patch_moto(args.pending_block_set == "listed")
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    serve_until_stdin_closes("MOTO", port)

if __name__ == "__main__":
    main()
