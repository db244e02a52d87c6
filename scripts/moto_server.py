#!/usr/bin/env python3
"""Start moto in server mode on loopback, with the patches peerlink's tests need.

moto's VPC peering model only reports each VPC's primary CidrBlock. Real EC2
also returns CidrBlockSet and Ipv6CidrBlockSet with every associated block, and
across accounts that is the only place a peer's secondary CIDRs can be read.
We patch the model to return them, so the secondary-CIDR cases are really
tested. We also make routes whose peering is gone report state "blackhole", as
EC2 does, and describe a peering with the tags of the account asking (EC2
keeps a peering's tags per account; moto showed the creator's to both).

A VPC tagged `peerlink-test:hide-cidr-block-set` is described without its
block sets, as an EC2 answer that lacks them would be: the tests of the
"peer blocks unknown" case use it.

Usage: moto_server.py [--port N]   (0, the default, picks a free port)
Prints "MOTO_PORT=<n>" on stdout once the server accepts connections, and exits
when its stdin closes (so it never outlives the test process that started it).
"""

import argparse
import copy
import logging
import os
import sys
import threading


def _associated(vpc, ipv6):
    return [
        c["cidr_block"]
        for c in vpc.get_cidr_block_association_set(ipv6=ipv6)
        if c.get("cidr_block_state", {}).get("state") == "associated"
    ]


def patch_moto():
    from moto.ec2.models.route_tables import Route
    from moto.ec2.models.vpc_peering_connections import VPCPeeringConnection

    def vpc_info(vpc, options):
        info = {
            "OwnerId": vpc.owner_id,
            "Region": vpc.region,
            "VpcId": vpc.id,
            "CidrBlock": vpc.cidr_block,
            "PeeringOptions": options,
        }
        if "peerlink-test:hide-cidr-block-set" in vpc.ec2_backend.tags.get(vpc.id, {}):
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
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("refusing to listen on anything but loopback")

    # Request lines on stderr would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    patch_moto()
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(f"MOTO_PORT={port}", flush=True)

    def watch_stdin():
        # EOF on stdin: the parent is gone.
        while sys.stdin.buffer.read(4096):
            pass
        os._exit(0)

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
