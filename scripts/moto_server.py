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

Security groups in a peer VPC (`patch_group_references`): moto looks a
referenced group up only in the caller's account. Here a UserIdGroupPair
naming another account's group (UserId + GroupId [+ VpcPeeringConnectionId])
is accepted when an active peering in the same region joins the two VPCs (the
group is looked up in that account); DescribeSecurityGroups lists the pair
with UserId, GroupId, VpcId, VpcPeeringConnectionId and PeeringStatus (the
peering's current state); a pair is matched on UserId and GroupId only (moto
compared the whole pair, description included, so a described rule could not
be revoked). DescribeStaleSecurityGroups (which moto lacks) lists, for one
VPC, the rules whose referenced peering is no longer active or whose
referenced group is gone (StaleIpPermissions / StaleIpPermissionsEgress, with
MaxResults/NextToken paging). Revoking a stale rule works, as in EC2.

Usage: moto_server.py [--port N] [--pending-block-set omitted|listed]
Prints "MOTO_PORT=<n>" on stdout once the server accepts connections, and exits
when its stdin closes (so it never outlives the test process that started it).
"""

import argparse
import copy
import logging
import sys
import threading

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


class _Authorizing(threading.local):
    # The VPC of the group a rule is being authorized in: the referenced
    # group must be reachable from it (moto's hook does not receive it).
    vpc = None


def patch_group_references():
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError, InvalidSecurityGroupNotFoundError
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.security_groups import SecurityGroup, SecurityGroupBackend, SecurityGroupRule
    from moto.ec2.responses.security_groups import SecurityGroups

    authorizing = _Authorizing()

    def foreign(backend, item):
        user = item.get("UserId")
        return bool(user) and user != backend.account_id and "GroupId" in item

    def peering_between(backend, vpc_a, vpc_b, wanted):
        for pcx in backend.vpc_pcxs.values():
            if pcx._status.code != "active" or (wanted and pcx.id != wanted):
                continue
            if {pcx.vpc.id, pcx.peer_vpc.id} == {vpc_a, vpc_b}:
                return pcx
        return None

    add_source_group = SecurityGroupBackend._add_source_group

    def add_source_group_across(self, source_groups, vpc_id):
        mine, theirs = [], []
        for item in source_groups or []:
            (theirs if foreign(self, item) else mine).append(item)
        out = add_source_group(self, mine, vpc_id)
        for item in theirs:
            item.pop("OwnerId", None)
            if authorizing.vpc is None:
                # Revoking: a stale reference (peering or group gone) can
                # still be taken back.
                out.append(item)
                continue
            group = ec2_backends[item["UserId"]][self.region_name].get_security_group_from_id(item["GroupId"])
            if group is None:
                raise InvalidSecurityGroupNotFoundError(item["GroupId"])
            pcx = peering_between(self, authorizing.vpc, group.vpc_id, item.get("VpcPeeringConnectionId"))
            if pcx is None:
                raise EC2ClientError(
                    "InvalidGroup.NotFound",
                    f"You have specified two resources that belong to different networks: "
                    f"no active VPC peering connection joins {authorizing.vpc} and {group.vpc_id}",
                )
            item["VpcId"] = group.vpc_id
            item["VpcPeeringConnectionId"] = pcx.id
            out.append(item)
        return out

    SecurityGroupBackend._add_source_group = add_source_group_across

    def authorizing_in(original):
        def authorize(self, group_name_or_id, *args, **kwargs):
            group = self.get_security_group_by_name_or_id(group_name_or_id, kwargs.get("vpc_id"))
            authorizing.vpc = group.vpc_id if group else None
            try:
                return original(self, group_name_or_id, *args, **kwargs)
            finally:
                authorizing.vpc = None

        return authorize

    for name in ("authorize_security_group_ingress", "authorize_security_group_egress"):
        setattr(SecurityGroupBackend, name, authorizing_in(getattr(SecurityGroupBackend, name)))

    def pair_key(pair):
        return (pair.get("UserId"), pair.get("GroupId"), pair.get("GroupName"))

    rule_eq = SecurityGroupRule.__eq__

    def rule_equal(self, other):
        if self.source_group and other.source_group:
            if pair_key(self.source_group) != pair_key(other.source_group):
                return False
            a, b = copy.copy(self), copy.copy(other)
            a.source_group = b.source_group = {}
            return rule_eq(a, b)
        return rule_eq(self, other)

    SecurityGroupRule.__eq__ = rule_equal

    def peering_status(backend, pair):
        pcx = backend.vpc_pcxs.get(pair.get("VpcPeeringConnectionId"))
        return pcx._status.code if pcx is not None else "deleted"

    def referenced_gone(backend, pair):
        user = pair.get("UserId") or backend.account_id
        return ec2_backends[user][backend.region_name].get_security_group_from_id(pair["GroupId"]) is None

    def with_status(attr):
        flatten = getattr(SecurityGroup, attr)

        def permissions(self):
            for rule in self.ingress_rules + self.egress_rules:
                if "VpcPeeringConnectionId" in rule.source_group:
                    rule.source_group["PeeringStatus"] = peering_status(self.ec2_backend, rule.source_group)
            return flatten.fget(self)

        return property(permissions)

    for attr in ("ip_permissions", "ip_permissions_egress"):
        setattr(SecurityGroup, attr, with_status(attr))

    def stale(backend, rule):
        pair = rule.source_group
        if "VpcPeeringConnectionId" not in pair:
            return False
        return peering_status(backend, pair) != "active" or referenced_gone(backend, pair)

    def stale_permission(backend, rule):
        pair = {
            k: rule.source_group[k]
            for k in ("UserId", "GroupId", "VpcId", "VpcPeeringConnectionId")
            if k in rule.source_group
        }
        pair["PeeringStatus"] = peering_status(backend, rule.source_group)
        perm = {"IpProtocol": rule.ip_protocol, "UserIdGroupPairs": [pair]}
        if rule.from_port is not None:
            perm["FromPort"], perm["ToPort"] = rule.from_port, rule.to_port
        return perm

    def describe_stale_security_groups(self):
        vpc_id = self._get_param("VpcId")
        if not vpc_id:
            raise EC2ClientError("MissingParameter", "The request must contain the parameter vpcId")
        size = int(self._get_param("MaxResults") or 255)
        if not 5 <= size <= 255:
            raise EC2ClientError("InvalidParameterValue", f"MaxResults {size} is not between 5 and 255")
        backend = self.ec2_backend
        found = []
        for group in sorted(backend.groups.get(vpc_id, {}).values(), key=lambda g: g.id):
            ingress = [stale_permission(backend, r) for r in group.ingress_rules if stale(backend, r)]
            egress = [stale_permission(backend, r) for r in group.egress_rules if stale(backend, r)]
            if ingress or egress:
                found.append(
                    {
                        "Description": group.description,
                        "GroupId": group.id,
                        "GroupName": group.name,
                        "StaleIpPermissions": ingress,
                        "StaleIpPermissionsEgress": egress,
                        "VpcId": vpc_id,
                    }
                )
        start = int(self._get_param("NextToken") or 0)
        result = {"StaleSecurityGroupSet": found[start : start + size]}
        if start + size < len(found):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    SecurityGroups.describe_stale_security_groups = describe_stale_security_groups


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
    patch_group_references()
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    serve_until_stdin_closes("MOTO", port)

if __name__ == "__main__":
    main()
