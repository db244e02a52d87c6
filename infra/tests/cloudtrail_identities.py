"""Who made a call, as CloudTrail records it (`detail.userIdentity` of an "AWS
API Call via CloudTrail" event), for the pattern tests of "peerlink does not
wake itself" (issue 19.8). Recorded events where we could find them; each
says where it comes from and what was changed (account ids, names).

The rules tell peerlink's own calls apart by
`userIdentity.sessionContext.sessionIssuer.arn`: the role a Lambda function's
session was issued from. An IAM user's call has no sessionIssuer at all (or an
empty one, in a console session), which is why the patterns need an `exists:
false` branch besides `anything-but`."""

import copy

# A person with an IAM user's access keys: no sessionContext at all.
# AWS CloudTrail User Guide, "CloudTrail userIdentity element", example
# "userIdentity with IAM user credentials" (docs.aws.amazon.com/awscloudtrail/
# latest/userguide/cloudtrail-event-reference-user-identity.html); account
# 123456789012 -> ACCOUNT.
IAM_USER = {
    "type": "IAMUser",
    "principalId": "AIDAJ45Q7YFFAREXAMPLE",
    "arn": "arn:aws:iam::ACCOUNT:user/Alice",
    "accountId": "ACCOUNT",
    "accessKeyId": "",
    "userName": "Alice",
}

# The same user signed in to the console: a sessionContext whose
# sessionIssuer is empty. The shape CloudTrail records for console sessions of
# IAM users (not copied from one recorded event).
IAM_USER_CONSOLE = {
    **IAM_USER,
    "accessKeyId": "ASIAQD7C323UAEXAMPLE",
    "sessionContext": {
        "sessionIssuer": {},
        "webIdFederationData": {},
        "attributes": {"creationDate": "2026-11-20T09:12:44Z", "mfaAuthenticated": "true"},
    },
}

# A person through IAM Identity Center (SSO): an assumed role of the
# permission set. Recorded: the "AWS API Call via CloudTrail" event of an
# AuthorizeSecurityGroupIngress in nuvibit/nuvibit.com,
# content/english/blog/cis-aws-3x.md; account 626708301729 -> ACCOUNT, the
# person's e-mail address -> person@example.com.
SSO_PERSON = {
    "type": "AssumedRole",
    "principalId": "AROAZD2VZY6QQWB4D7CX6:person@example.com",
    "arn": "arn:aws:sts::ACCOUNT:assumed-role/AWSReservedSSO_AdministratorAccess_1f51a532758ff888/person@example.com",
    "accountId": "ACCOUNT",
    "accessKeyId": "ASIAZD2VZY6Q7WV5ARRX",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAZD2VZY6QQWB4D7CX6",
            "arn": "arn:aws:iam::ACCOUNT:role/aws-reserved/sso.amazonaws.com/eu-central-1/"
                   "AWSReservedSSO_AdministratorAccess_1f51a532758ff888",
            "accountId": "ACCOUNT",
            "userName": "AWSReservedSSO_AdministratorAccess_1f51a532758ff888",
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": "2021-11-04T15:54:33Z", "mfaAuthenticated": "false"},
    },
}

# A person (or a pipeline) in an assumed role of its own. AWS CloudTrail User
# Guide, same page, example "userIdentity with temporary security
# credentials"; account 123456789012 -> ACCOUNT.
ASSUMED_ROLE = {
    "type": "AssumedRole",
    "principalId": "AROAIDPPEZS35WEXAMPLE:AssumedRoleSessionName",
    "arn": "arn:aws:sts::ACCOUNT:assumed-role/RoleToBeAssumed/MySessionName",
    "accountId": "ACCOUNT",
    "accessKeyId": "",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAIDPPEZS35WEXAMPLE",
            "arn": "arn:aws:iam::ACCOUNT:role/RoleToBeAssumed",
            "accountId": "ACCOUNT",
            "userName": "RoleToBeAssumed",
        },
        "attributes": {"mfaAuthenticated": "false", "creationDate": "20131102T010628Z"},
    },
}

# A Lambda function of a CloudFormation stack calling with its execution role
# (a role named <stack>-<logical id>-<suffix>, as our stacks' are). Recorded:
# the CreateTokenWithIAM event in "Apps can now impersonate human access to AWS
# via IAM Identity Center" (awsteele.com/blog/2026/07/01/...); account
# 607481581596 -> ACCOUNT, the role -> ROLE_NAME, the function -> FUNCTION.
LAMBDA_FUNCTION = {
    "type": "AssumedRole",
    "principalId": "AROAY24FZKAOBPJTH2BSF:FUNCTION",
    "arn": "arn:aws:sts::ACCOUNT:assumed-role/ROLE_NAME/FUNCTION",
    "accountId": "ACCOUNT",
    "accessKeyId": "ASIAY24FZKAOLBRPB3V3",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAY24FZKAOBPJTH2BSF",
            "arn": "arn:aws:iam::ACCOUNT:role/ROLE_NAME",
            "accountId": "ACCOUNT",
            "userName": "ROLE_NAME",
        },
        "attributes": {"creationDate": "2026-07-01T00:08:17Z", "mfaAuthenticated": "false"},
    },
    "inScopeOf": {
        "issuerType": "AWS::Lambda::Function",
        "credentialsIssuedTo": "arn:aws:lambda:eu-west-1:ACCOUNT:function:FUNCTION",
    },
}

# People: their calls must wake the finisher.
PEOPLE = {"IAM user": IAM_USER, "IAM user in the console": IAM_USER_CONSOLE, "SSO user": SSO_PERSON,
          "assumed role": ASSUMED_ROLE}


def _fill(node, **names):
    if isinstance(node, str):
        for k, v in names.items():
            node = node.replace(k, v)
        return node
    if isinstance(node, dict):
        return {k: _fill(v, **names) for k, v in node.items()}
    return node


def person(kind, account):
    return _fill(copy.deepcopy(PEOPLE[kind]), ACCOUNT=account)


def function_role(role_arn, function):
    """A call by a Lambda function whose execution role is `role_arn`
    (arn:aws:iam::<account>:role/<name>)."""
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[1]
    return _fill(copy.deepcopy(LAMBDA_FUNCTION), ACCOUNT=account, ROLE_NAME=name, FUNCTION=function)


def made_by(event, identity):
    """The CloudTrail event as if `identity` had made the call."""
    out = copy.deepcopy(event)
    out["detail"]["userIdentity"] = identity
    return out
