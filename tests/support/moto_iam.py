"""moto_server with IAM enforcement as AWS does it: the independent check that every AWS call stackctl makes is
allowed by the policy its caller holds (the harness gives stackctl a user holding only
policies/stackctl-operator-policy.json). Run it with the venv's python and moto_server's arguments.

moto evaluates identity policies itself (moto/iam/access_control.py: Effect, Action, Resource, explicit Deny);
this file only supplies what moto lacks for the services stackctl uses, and changes nothing moto answers
otherwise:

1. The resource of each request. moto passes "*" for every service but IAM, STS and SQS, and its matcher then
   denies every statement scoped to ARNs. The resource is derived here as AWS's Service Authorization Reference
   defines it (per service below).
2. IAM action names where they differ from the operation (Invoke is lambda:InvokeFunction; the Tagging API signs
   as `tagging`, its actions are `tag:`).
3. Actions AWS checks besides the operation's own: iam:PassRole on the role a Lambda CreateFunction or
   UpdateFunctionConfiguration sets; lambda:TagResource for a CreateFunction that tags on create.
4. The account's root user: the access key STACKCTL_IAM_ROOT_KEY ("testing", what the harness's own SDK clients
   use) is the root user, whom identity policies do not restrict. Any other unknown key is refused, as moto does.
5. The strict proxy's own requests. Its side reads (X-Strict-Proxy-Side-Request: how the emulator decides
   how AWS would answer, not something the client asked) are not authorized at all. A client request it forwards
   with a rewritten body (X-Strict-Proxy-Rewritten) would fail the SigV4 check: it is authorized for the
   caller's key without it. A request the proxy answers itself (GetAccountSettings) is authorized first: the
   proxy sends X-Strict-Proxy-Authorize: <operation> on a harmless read of the same service, and the operation
   named is what is authorized. The proxy strips these headers from every client request, so no client can
   claim them.
6. AWS's error shapes: AccessDeniedException (JSON services) and AccessDenied (IAM, STS), with AWS's message
   "User: <arn> is not authorized to perform: <action> on resource: <arn> because no identity-based policy
   allows the <action> action"; moto answers an XML body to every service.

7. Unsigned requests: refused as AWS does (MissingAuthenticationToken; moto's own check crashes on them, a 500).
8. Conditions on `aws:ResourceTag/<key>` (`Null`, `StringEquals`) for cognito-idp user pools: moto evaluates only
   StringEquals, with no resource tags, and a failed Allow condition as an explicit deny. `with_tag_conditions`
   resolves them against the pool's tags as moto holds them (CreateUserPool's UserPoolTags; moto has no
   cognito-idp TagResource) before moto evaluates the statement.
9. `iam:PassedToService` on the PassRole of (3): `lambda.amazonaws.com` (`request_context`), resolved the same
   way (moto has no value for it).
10. `iam:PolicyARN` on Attach/Detach{Role,User,Group}Policy: the request's PolicyArn parameter (`request_context`),
   with `ArnLike`, `ArnEquals` and `StringLike` evaluated as IAM does (`*` any run, `?` one character), resolved
   the same way (moto has no value for it, and treats a condition it cannot verify as an explicit deny).

Every refusal (denied, bad signature, unknown key, unsigned) is appended as a JSON line to STACKCTL_IAM_DENIALS: the harness
asserts after each run that its operator's key was refused nothing.
"""

import json
import os
import re
import sys
import threading
import urllib.parse
import uuid
from xml.sax.saxutils import escape as xml_escape

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import InvalidClientTokenIdError, JsonRESTError, SignatureDoesNotMatchError, _RESTError
from moto.iam.access_control import IAMPolicy, IAMRequest, PermissionResult

ROOT_KEY = os.environ.get("STACKCTL_IAM_ROOT_KEY", "testing")
DENIALS = os.environ.get("STACKCTL_IAM_DENIALS")
SIDE_HEADER = "X-Strict-Proxy-Side-Request"
REWRITTEN_HEADER = "X-Strict-Proxy-Rewritten"
AUTHORIZE_HEADER = "X-Strict-Proxy-Authorize"
_lock = threading.Lock()
# The body of the request being handled, as the client signed it: moto keeps no copy of a form body (werkzeug
# parses it away), and re-encoding the parsed form does not give the same bytes. Set per request by `keep_body`.
_request = threading.local()


def keep_body(app):
    """WSGI middleware: the request's body, kept for the signature check, then handed on unchanged."""
    import io

    def wrapped(environ, start_response):
        refused = unsigned(environ)
        if refused:
            status, headers, body = refused
            start_response(status, headers)
            return [body]
        stream = environ["wsgi.input"]
        if environ.get("wsgi.input_terminated"):
            body = stream.read()
        else:
            body = stream.read(int(environ.get("CONTENT_LENGTH") or 0))
        _request.body = body
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return wrapped

JWKS_PATH = re.compile(r"^/[\w-]+_[0-9A-Za-z]+/\.well-known/jwks\.json$")


def unsigned(environ):
    """(7) AWS refuses a request with no signature (header or presigned query) before anything else; moto_server,
    which picks the service from the signature, sends it to S3 and crashes (500). -> (status, headers, body) of
    AWS's refusal, logged, or None for a signed request or moto's own API (/moto-api/)."""
    query = environ.get("QUERY_STRING") or ""
    if (environ.get("HTTP_AUTHORIZATION") or "X-Amz-Credential=" in query
            or (environ.get("PATH_INFO") or "").startswith("/moto-api") or "/moto-api/" in query):
        return None
    # A user pool's public keys: anyone may GET <endpoint>/<pool id>/.well-known/jwks.json, unsigned (the handler
    # fetches them so; https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-
    # tokens-verifying-a-jwt.html).
    if environ.get("REQUEST_METHOD") == "GET" and JWKS_PATH.match(environ.get("PATH_INFO") or ""):
        return None
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    content_type = environ.get("CONTENT_TYPE") or ""
    note({"key": "", "target": target, "path": environ.get("PATH_INFO"), "error": "MissingAuthenticationToken"})
    if "x-www-form-urlencoded" in content_type:  # IAM, STS (query protocol)
        body = ("<ErrorResponse><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code>"
                "<Message>Request is missing Authentication Token</Message></Error></ErrorResponse>")
        return "403 Forbidden", [("Content-Type", "text/xml")], body.encode()
    # JSON services (DynamoDB, CloudWatch Logs: 400) and Lambda's REST API (403).
    status = "400 Bad Request" if target else "403 Forbidden"
    body = json.dumps({"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"})
    return status, [("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-ErrorType", "MissingAuthenticationTokenException")], body.encode()


# (2) IAM actions whose names differ from the signing service and operation.
ACTION_NAMES = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
}
SERVICE_PREFIXES = {"tagging": "tag"}


def iam_action(scope, op):
    # moto names some Lambda operations with their API version (e.g. ListTags20170331): the IAM action has none.
    op = re.sub(r"20\d{6}$", "", op)
    return ACTION_NAMES.get((scope, op), "%s:%s" % (SERVICE_PREFIXES.get(scope, scope), op))


def body_json(self):
    try:
        value = json.loads(self.raw_body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def form_value(self, name):
    value = (self.querystring or {}).get(name)
    return value[0] if isinstance(value, list) and value else value


# (1) Resources. Each returns the list of resource ARNs the request is authorized on ("*" where AWS's reference
# lists no resource type for the action).


def dynamodb_resources(self, op, region, account):
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html: table actions
    # act on arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}; BatchWriteItem and BatchGetItem
    # on every table they name; ListTables on "*". TableName may also be the table's ARN.
    j = body_json(self)

    def table(name):
        return name if name.startswith("arn:") else "arn:aws:dynamodb:%s:%s:table/%s" % (region, account, name)

    if op in ("BatchWriteItem", "BatchGetItem"):
        return [table(name) for name in (j.get("RequestItems") or {})] or ["*"]
    # Backups (same reference): DescribeBackup and DeleteBackup act on the backup
    # (arn:...:table/${TableName}/backup/${BackupName}); RestoreTableFromBackup on the backup AND the new table
    # (both resource types are required in the reference); ListBackups on "*" (no resource type), its
    # TableName a filter only. RestoreTableFromBackup's item writes to the target table: checks_for.
    if op == "ListBackups":
        return ["*"]
    backup = j.get("BackupArn")
    if op in ("DescribeBackup", "DeleteBackup"):
        return [backup] if isinstance(backup, str) and backup else ["*"]
    if op == "RestoreTableFromBackup":
        target = j.get("TargetTableName")
        found = [backup] if isinstance(backup, str) and backup else ["*"]
        return found + ([table(target)] if isinstance(target, str) and target else [])
    name = j.get("TableName") or j.get("ResourceArn")
    return [table(name)] if isinstance(name, str) and name else ["*"]


def lambda_resources(self, op, region, account):
    # https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html and
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html: function actions act
    # on arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}, or the version/alias ARN
    # (function:name:qualifier) when the request names a qualifier; GetAccountSettings and ListFunctions on "*".
    path = urllib.parse.urlsplit(self.uri).path
    tags = re.search(r"/tags/(.+)$", path)
    if tags:
        return [urllib.parse.unquote(tags.group(1))]
    m = re.search(r"/functions/([^/]+)", path)
    name = urllib.parse.unquote(m.group(1)) if m else None
    if op == "CreateFunction":
        name = body_json(self).get("FunctionName")
    if not name:
        return ["*"]
    qualifier = form_value(self, "Qualifier")
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:  # a partial ARN: <account>:function:<name>
        arn = "arn:aws:lambda:%s:%s" % (region, name)
    else:
        arn = "arn:aws:lambda:%s:%s:function:%s" % (region, account, name)
    if qualifier and arn.count(":") == 6:
        arn += ":" + qualifier
    return [arn]


def logs_resources(self, op, region, account):
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html: a log group's
    # ARN is arn:aws:logs:<region>:<account>:log-group:<name>; IAM evaluates TagResource, UntagResource and
    # ListTagsForResource on it as it is and every other log-group action on the form ending ":*".
    # DescribeLogGroups lists (https://docs.aws.amazon.com/service-authorization/latest/reference/
    # list_amazoncloudwatchlogs.html): "*".
    j = body_json(self)
    name = j.get("resourceArn") or j.get("logGroupIdentifier") or j.get("logGroupName")
    if not isinstance(name, str) or not name or op == "DescribeLogGroups":
        return ["*"]
    if name.startswith("arn:"):
        group = name.split(":log-group:", 1)[1] if ":log-group:" in name else name
        group = group[:-2] if group.endswith(":*") else group
    else:
        group = name
    arn = "arn:aws:logs:%s:%s:log-group:%s" % (region, account, group)
    return [arn if op in ("TagResource", "UntagResource", "ListTagsForResource") else arn + ":*"]


def iam_resources(self, op, region, account):
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html:
    # role actions act on arn:aws:iam::<account>:role/<path><name>, policy actions on the policy's ARN, user and
    # group actions on theirs; ListRoles and ListPolicies on "*".
    policy = form_value(self, "PolicyArn")
    role = form_value(self, "RoleName")
    # CreateRole acts on the ARN the new role would have (its path from the request), also when a role of
    # that name exists elsewhere: IAM authorizes first, then answers EntityAlreadyExists.
    if role and op == "CreateRole":
        path = form_value(self, "Path") or "/"
        return ["arn:aws:iam::%s:role%s%s" % (account, path, role)]
    if role:
        try:
            return [self.backend.get_role(role).arn]
        except Exception:
            path = form_value(self, "Path") or "/"
            return ["arn:aws:iam::%s:role%s%s" % (account, path, role)]
    if op == "CreatePolicy":
        path = form_value(self, "Path") or "/"
        return ["arn:aws:iam::%s:policy%s%s" % (account, path, form_value(self, "PolicyName"))]
    # A user's or group's policy actions (DetachUserPolicy, DetachGroupPolicy) act on the user or group; the
    # policy is only their iam:PolicyARN condition key.
    for key, kind in (("UserName", "user"), ("GroupName", "group")):
        if form_value(self, key):
            return ["arn:aws:iam::%s:%s/%s" % (account, kind, form_value(self, key))]
    if policy:
        return [policy]
    return ["*"]


def cognito_resources(self, op, region, account):
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncognitouserpools.html: pool
    # and client actions (DescribeUserPool, ListUsers, the Admin* user actions, the app client actions,
    # TagResource) act on arn:${Partition}:cognito-idp:${Region}:${Account}:userpool/${UserPoolId}; ListUserPools
    # and CreateUserPool have no resource type: "*".
    j = body_json(self)
    if op in ("ListUserPools", "CreateUserPool"):
        return ["*"]
    arn = j.get("ResourceArn")
    if isinstance(arn, str) and arn:
        return [arn]
    pool = j.get("UserPoolId")
    if isinstance(pool, str) and pool:
        return ["arn:aws:cognito-idp:%s:%s:userpool/%s" % (region, account, pool)]
    return ["*"]


RESOURCES = {
    "cognito-idp": cognito_resources,
    "dynamodb": dynamodb_resources,
    "lambda": lambda_resources,
    "logs": logs_resources,
    "iam": iam_resources,
}


def checks_for(self, scope, op, region, account):
    """Every (action, resource) AWS authorizes for this request."""
    derive = RESOURCES.get(scope)
    # STS and the Tagging API's GetResources act on "*" (no resource type in AWS's reference).
    resources = derive(self, op, region, account) if derive else ["*"]
    action = iam_action(scope, op)
    checks = [(action, r) for r in resources]
    # (3) https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html: to create or configure a
    # function with an execution role, the caller needs iam:PassRole on that role.
    if scope == "lambda" and op in ("CreateFunction", "UpdateFunctionConfiguration"):
        role = body_json(self).get("Role")
        if isinstance(role, str) and role:
            checks.append(("iam:PassRole", role))
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-tags.html: lambda:TagResource is needed "to call
    # TagResource or perform a tag on create", so a CreateFunction with Tags is also authorized for it.
    if scope == "lambda" and op == "CreateFunction" and body_json(self).get("Tags"):
        checks += [("lambda:TagResource", r) for r in resources]
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/backuprestore_IAM.html: "RestoreTableFromBackup
    # permissions are necessary on the source backup, and DynamoDB read and write permissions on the target table
    # are necessary for restore functionality" (its example grants these seven).
    target = body_json(self).get("TargetTableName") if scope == "dynamodb" and op == "RestoreTableFromBackup" else None
    if isinstance(target, str) and target:
        arn = "arn:aws:dynamodb:%s:%s:table/%s" % (region, account, target)
        checks += [("dynamodb:" + a, arn) for a in RESTORE_TARGET_ACTIONS]
    return checks


RESTORE_TARGET_ACTIONS = ("PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem")


# (6) AWS's error shapes.


class AccessDeniedJson(JsonRESTError):
    def __init__(self, message, status):
        super().__init__("AccessDeniedException", message)
        self.code = status




class AccessDeniedQuery(_RESTError):
    """IAM's and STS's refusal as AWS sends it: `<ErrorResponse><Error>...</Error><RequestId/></ErrorResponse>`
    (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html; the query protocol's error shape).
    moto's _RESTError wraps the error in `<Errors>`, which the AWS SDK for Rust does not read: the refusal would
    reach stackctl as an error with no code."""
    code = 403

    def __init__(self, message, namespace="https://iam.amazonaws.com/doc/2010-05-08/"):
        super().__init__("AccessDenied", message)
        self.description = query_error_body("AccessDenied", message, namespace)
        self.content_type = "text/xml"


def query_error_body(code, message, namespace):
    return ('<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>'
            "<RequestId>%s</RequestId></ErrorResponse>") % (
                namespace, code, xml_escape(message), uuid.uuid4())


RESOURCE_TAG = "aws:ResourceTag/"


def resource_tags(scope, arn):
    """The tags of the resource `arn` as moto holds them, for `aws:ResourceTag/...` (cognito-idp user pools: the
    UserPoolTags of CreateUserPool); {} for a resource without tags or one moto does not know; None for a
    service this file does not read tags of (its statements' tag conditions are then left to moto)."""
    if scope != "cognito-idp":
        return None
    m = re.match(r"^arn:aws:cognito-idp:([^:]+):(\d+):userpool/(.+)$", arn)
    if not m:
        return {}
    from moto.cognitoidp.models import cognitoidp_backends

    try:
        pool = cognitoidp_backends[m.group(2)][m.group(1)].user_pools.get(m.group(3))
    except KeyError:
        return {}
    return dict((pool.extended_config or {}).get("UserPoolTags") or {}) if pool else {}


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html:
# these actions' condition key iam:PolicyARN is the policy the request attaches or detaches.
POLICY_ARN_ACTIONS = {"iam:%s%sPolicy" % (verb, kind) for verb in ("Attach", "Detach")
                      for kind in ("Role", "User", "Group")}


def request_context(scope, action, request=None):
    """(9) The request's own condition keys AWS sets: iam:PassedToService on the PassRole a Lambda CreateFunction
    or UpdateFunctionConfiguration implies (https://docs.aws.amazon.com/IAM/latest/UserGuide/
    reference_policies_iam-condition-keys.html#ck_PassedToService: the service principal the role is passed to).
    (10) iam:PolicyARN on an IAM attach or detach: the request's PolicyArn parameter (its form body, as moto
    parsed it; #ck_PolicyARN)."""
    if scope == "lambda" and action == "iam:PassRole":
        return {"iam:PassedToService": "lambda.amazonaws.com"}
    if scope == "iam" and action in POLICY_ARN_ACTIONS and request is not None:
        policy = form_value(request, "PolicyArn")
        if policy:
            return {"iam:PolicyARN": policy}
    return None


def iam_glob(pattern, text):
    """IAM's wildcard match for ArnLike / StringLike: `*` any run of characters, `?` exactly one, the rest
    literal and case-sensitive, over the whole value."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    return re.fullmatch(regex, text, re.DOTALL) is not None


def condition_holds(operator, values, tags, context=None):
    """One condition operator over `aws:ResourceTag/<key>` keys and the request's `context` keys (e.g.
    iam:PassedToService; IAM's evaluation: every key must hold). None: an operator or key this file does not
    evaluate."""
    for key, expected in values.items():
        if context and key in context:
            actual = context[key]
        elif key.startswith(RESOURCE_TAG) and tags is not None:
            actual = tags.get(key[len(RESOURCE_TAG):])
        else:
            return None
        expected = expected if isinstance(expected, list) else [expected]
        if operator == "Null":
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
            # #Conditions_Null: "true" holds when the key is absent, "false" when it is present.
            if (actual is None) != (str(expected[0]).lower() == "true"):
                return False
        elif operator == "StringEquals":
            if actual is None or actual not in expected:
                return False
        elif operator in ("StringLike", "ArnLike", "ArnEquals"):
            # reference_policies_elements_condition_operators.html: ArnEquals and ArnLike behave the same
            # (wildcards in both); StringLike with `*` and `?`. Any one of the values matching holds.
            if actual is None or not any(iam_glob(e, actual) for e in expected):
                return False
        else:
            return None
    return True


def with_tag_conditions(policy, tags, context=None):
    """The policy document with each statement whose Condition tests only `aws:ResourceTag/...` keys resolved
    against `tags` (moto evaluates only StringEquals, and a failed Allow condition as an explicit deny): a
    statement whose condition holds loses its Condition, one whose condition fails is dropped (it does not
    apply). An Allow whose condition this file cannot evaluate is dropped (never granted by accident), a Deny
    kept. Other statements are unchanged. `tags` None and no `context`: the policy unchanged. `context`: the
    request's own condition keys (9: iam:PassedToService), resolved the same way."""
    if isinstance(policy, str):
        document = policy
    elif hasattr(policy, "versions"):
        document = next(v.document for v in policy.versions if v.is_default)
    else:
        document = policy["policy_document"]
    if tags is None and not context:
        return document
    doc = json.loads(document)
    statements = doc.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    kept = []
    for statement in statements:
        condition = statement.get("Condition")
        keys = [k for values in (condition or {}).values() for k in values]
        known = lambda k: (k.startswith(RESOURCE_TAG) and tags is not None) or (context and k in context)
        if not condition or not all(known(k) for k in keys):
            kept.append(statement)
            continue
        results = [condition_holds(op, values, tags, context) for op, values in condition.items()]
        if None in results:
            if statement.get("Effect") == "Deny":
                kept.append({k: v for k, v in statement.items() if k != "Condition"})
            continue
        if all(results):
            kept.append({k: v for k, v in statement.items() if k != "Condition"})
    doc["Statement"] = kept
    return json.dumps(doc)


def note(entry):
    if not DENIALS:
        return
    with _lock:
        with open(DENIALS, "a") as f:
            f.write(json.dumps(entry) + "\n")


def authorize(self, resource="*"):
    auth = self.headers.get("Authorization") or ""
    m = re.search(r"Credential=([^/,\s]+)/\d+/([^/]+)/([^/]+)/aws4_request", auth)
    if not m:
        return original(self, resource)  # unsigned: refused by `keep_body` before moto routes it
    key, region, scope = m.groups()
    if key == ROOT_KEY or self.headers.get(SIDE_HEADER) == "1":
        return  # (4) the root user; (5) the proxy's own reads
    op = self.headers.get(AUTHORIZE_HEADER) or self._get_action()
    trusted = bool(self.headers.get(AUTHORIZE_HEADER)) or self.headers.get(REWRITTEN_HEADER) == "1"
    entry = {"key": key, "service": scope, "op": op}
    path = self.raw_path
    query = urllib.parse.urlparse(self.uri).query
    if query:
        path += "?" + query
    try:
        request = IAMRequest(account_id=self.current_account, method=self.method, path=path,
                             data={},
                             body=getattr(_request, "body", b""), headers=self.headers, action=op)
        if not trusted:
            request.check_signature()
    except InvalidClientTokenIdError:
        note(dict(entry, error="InvalidClientTokenId"))
        raise
    except SignatureDoesNotMatchError:
        note(dict(entry, error="SignatureDoesNotMatch"))
        raise
    policies = request._access_key.collect_policies()
    user = request._access_key.arn
    for action, arn in checks_for(self, scope, op, region, self.current_account):
        tags = resource_tags(scope, arn)
        context = request_context(scope, action, self)
        results = [IAMPolicy(with_tag_conditions(p, tags, context)).is_action_permitted(action, arn) for p in policies]
        if PermissionResult.DENIED in results:
            why = "with an explicit deny in an identity-based policy"
        elif PermissionResult.PERMITTED in results:
            continue
        else:
            why = "because no identity-based policy allows the %s action" % action
        message = "User: %s is not authorized to perform: %s on resource: %s %s" % (user, action, arn, why)
        note(dict(entry, error="AccessDenied", user=user, action=action, resource=arn))
        if scope == "iam":
            raise AccessDeniedQuery(message)
        if scope == "sts":
            raise AccessDeniedQuery(message, "https://sts.amazonaws.com/doc/2011-06-15/")
        status = 403 if scope == "lambda" else 400
        self.response_headers["x-amzn-ErrorType"] = "AccessDeniedException"
        raise AccessDeniedJson(message, status)


original = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action
ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize
# Enforcement from the first request (moto's own check, for what `authorize` hands back to it).
settings.INITIAL_NO_AUTH_ACTION_COUNT = 0

class _Fake:
    """A request as moto's response classes hold it, for the self-test."""

    def __init__(self, uri, body=b"", querystring=None):
        self.uri = uri
        self.raw_body = body
        self.querystring = querystring or {}

    class backend:
        @staticmethod
        def get_role(name):
            raise KeyError(name)


def rename_to_other(resource):
    """An ARN of the test stack's (`my-frontend-app`, its policy `MyFrontendApp...`) as another stack's."""
    return resource.replace("my-frontend-app", "other-app").replace("MyFrontendApp", "OtherApp")


def self_test(policy_path):
    """Every action a statement of `policy_path` scopes to ARNs is derived a resource that statement matches and
    that the same statement scoped to names starting `other-` does not: an operation left on moto's "*" would be
    denied by every scoped statement. Exit status 0 when all pass; prints each failure."""
    from moto.iam.access_control import IAMPolicyStatement

    region, account = "us-east-1", "123456789012"
    names = {"dynamodb": "my-frontend-app-data", "lambda": "my-frontend-app-api", "logs": "/aws/lambda/my-frontend-app-api"}
    function_arn = "arn:aws:lambda:%s:%s:function:%s" % (region, account, names["lambda"])
    table_arn = "arn:aws:dynamodb:%s:%s:table/%s" % (region, account, names["dynamodb"])
    group_arn = "arn:aws:logs:%s:%s:log-group:%s" % (region, account, names["logs"])
    pool_arn = "arn:aws:cognito-idp:%s:%s:userpool/us-east-1_AbC" % (region, account)

    stack_policy = "arn:aws:iam::%s:policy/stackctl/my-frontend-app/MyFrontendAppLambdaDynamoDB" % account

    def request(service, op):
        if service == "dynamodb":
            if op in ("DescribeBackup", "DeleteBackup", "RestoreTableFromBackup"):
                return _Fake("/", json.dumps({"BackupArn": table_arn + "/backup/01733400000000-abcdef12",
                                              "TargetTableName": names["dynamodb"]}).encode())
            if op.startswith("Batch"):
                return _Fake("/", json.dumps({"RequestItems": {names["dynamodb"]: []}}).encode())
            if op in ("TagResource", "UntagResource", "ListTagsOfResource"):
                return _Fake("/", json.dumps({"ResourceArn": table_arn}).encode())
            if op in ("DescribeBackup", "DeleteBackup"):
                backup = table_arn + "/backup/01764927379000-1a2b3c4d"
                return _Fake("/", json.dumps({"BackupArn": backup}).encode())
            return _Fake("/", json.dumps({"TableName": names["dynamodb"]}).encode())
        if service == "lambda":
            if op in ("TagResource", "UntagResource", "ListTags"):
                return _Fake("/2017-03-31/tags/" + urllib.parse.quote(function_arn, safe=""))
            if op == "CreateFunction":
                return _Fake("/2015-03-31/functions", json.dumps({"FunctionName": names["lambda"]}).encode())
            return _Fake("/2015-03-31/functions/%s/anything" % names["lambda"])
        if service == "cognito-idp":
            if op == "TagResource":
                return _Fake("/", json.dumps({"ResourceArn": pool_arn}).encode())
            return _Fake("/", json.dumps({"UserPoolId": "us-east-1_AbC"}).encode())
        if service == "iam" and op in ("DetachUserPolicy", "DetachGroupPolicy"):
            who = "UserName" if op == "DetachUserPolicy" else "GroupName"
            return _Fake("/", querystring={who: ["someone"], "PolicyArn": [stack_policy]})
        if service == "iam" and ("Role" in op or op == "PassRole") and op not in ("CreateRole", "ListRoles"):
            # A role made before IAM paths (at `/`): the backend does not hold it, so its ARN is built.
            return _Fake("/", querystring={"RoleName": ["my-frontend-app-lambda-role"], "PolicyArn": [stack_policy]})
        if service == "iam" and "Polic" in op and op not in ("CreatePolicy", "ListPolicies"):
            return _Fake("/", querystring={"PolicyArn": [stack_policy]})
        if service == "iam" and op in ("CreateRole", "CreatePolicy"):
            # Created under the stack's IAM path, as stackctl does (`/stackctl/<stack>/`).
            name = "RoleName" if op == "CreateRole" else "PolicyName"
            return _Fake("/", querystring={name: ["my-frontend-app-x"], "Path": ["/stackctl/my-frontend-app/"]})
        if service == "logs":
            if op in ("TagResource", "UntagResource", "ListTagsForResource"):
                return _Fake("/", json.dumps({"resourceArn": group_arn}).encode())
            return _Fake("/", json.dumps({"logGroupName": names["logs"]}).encode())
        return _Fake("/")

    scopes = {"tag": "tagging"}
    operations = {"lambda:InvokeFunction": "Invoke"}
    failures = 0
    with open(policy_path) as f:
        policy = json.load(f)
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if resources == ["*"]:
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        # The stack's names (the generated policy names them; `stackctl policy`) become another stack's.
        other = dict(statement, Resource=[re.sub(r"([/:])\*$", r"\1other-*", rename_to_other(r)) for r in resources])
        for action in actions:
            prefix, op = action.split(":", 1)
            service = scopes.get(prefix, prefix)
            op = operations.get(action, op)
            req = request(service, op)
            checks = [(a, r) for a, r in checks_for(req, service, op, region, account) if a == action]
            def resolved(s, a):
                # The request's own condition keys, as `authorize` resolves them (PassRole: passed to Lambda;
                # an attach or detach: the stack's policy).
                context = request_context("lambda", a) or request_context(service, a, req)
                doc = json.loads(with_tag_conditions(json.dumps({"Statement": [s]}), None, context))
                return doc["Statement"][0] if doc["Statement"] else dict(s, Action=[])
            ok = bool(checks) and all(
                IAMPolicyStatement(resolved(statement, a)).is_action_permitted(a, r) == PermissionResult.PERMITTED
                and IAMPolicyStatement(resolved(other, a)).is_action_permitted(a, r) != PermissionResult.PERMITTED
                for a, r in checks)
            if not ok:
                failures += 1
                print("FAIL %s (statement %s): derived %s" % (action, statement.get("Sid"), checks))
    # Derivations AWS's reference fixes for requests stackctl sends, checked exactly.
    form = lambda **kw: {k: [v] for k, v in kw.items()}
    user_arn = "arn:aws:iam::%s:user/someone" % account
    group_arn = "arn:aws:iam::%s:group/some-group" % account
    policy_arn = "arn:aws:iam::%s:policy/some-policy" % account
    expected = [
        # https://docs.aws.amazon.com/lambda/latest/dg/configuration-tags.html: tagging on create needs
        # lambda:TagResource besides lambda:CreateFunction (and iam:PassRole on the role).
        ("lambda", "CreateFunction",
         _Fake("/2015-03-31/functions", json.dumps({"FunctionName": names["lambda"], "Role": "arn:aws:iam::%s:role/r" % account,
                                                     "Tags": {"stackctl:stack": "x"}}).encode()),
         [("lambda:CreateFunction", function_arn), ("iam:PassRole", "arn:aws:iam::%s:role/r" % account),
          ("lambda:TagResource", function_arn)]),
        ("lambda", "CreateFunction",
         _Fake("/2015-03-31/functions", json.dumps({"FunctionName": names["lambda"]}).encode()),
         [("lambda:CreateFunction", function_arn)]),
        # lambda-api-permissions-ref.html, "Function resource names": a call naming a version or an alias (the
        # Qualifier parameter, or NAME:QUALIFIER in the path) is authorized on the qualified ARN
        # function:NAME:QUALIFIER; alias and version management (PublishVersion, ListVersionsByFunction,
        # CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases) on the function's unqualified ARN.
        ("lambda", "Invoke", _Fake("/2015-03-31/functions/%s/invocations" % names["lambda"], querystring=form(Qualifier="7")),
         [("lambda:InvokeFunction", function_arn + ":7")]),
        ("lambda", "GetFunctionConfiguration", _Fake("/2015-03-31/functions/%s:live/configuration" % names["lambda"]),
         [("lambda:GetFunctionConfiguration", function_arn + ":live")]),
        ("lambda", "DeleteFunction", _Fake("/2015-03-31/functions/%s" % names["lambda"], querystring=form(Qualifier="3")),
         [("lambda:DeleteFunction", function_arn + ":3")]),
        ("lambda", "CreateFunctionUrlConfig", _Fake("/2021-10-31/functions/%s/url" % names["lambda"],
                                                    querystring=form(Qualifier="live")),
         [("lambda:CreateFunctionUrlConfig", function_arn + ":live")]),
        ("lambda", "AddPermission", _Fake("/2015-03-31/functions/%s/policy" % names["lambda"],
                                          querystring=form(Qualifier="live")),
         [("lambda:AddPermission", function_arn + ":live")]),
        ("lambda", "PublishVersion", _Fake("/2015-03-31/functions/%s/versions" % names["lambda"]),
         [("lambda:PublishVersion", function_arn)]),
        ("lambda", "UpdateAlias", _Fake("/2015-03-31/functions/%s/aliases/live" % names["lambda"]),
         [("lambda:UpdateAlias", function_arn)]),
        # list_awsidentityandaccessmanagementiam.html: DetachUserPolicy acts on the user, DetachGroupPolicy on
        # the group (the policy is a condition key, iam:PolicyARN); ListEntitiesForPolicy on the policy.
        ("iam", "DetachUserPolicy", _Fake("/", querystring=form(UserName="someone", PolicyArn=policy_arn)),
         [("iam:DetachUserPolicy", user_arn)]),
        ("iam", "DetachGroupPolicy", _Fake("/", querystring=form(GroupName="some-group", PolicyArn=policy_arn)),
         [("iam:DetachGroupPolicy", group_arn)]),
        ("iam", "ListEntitiesForPolicy", _Fake("/", querystring=form(PolicyArn=policy_arn)),
         [("iam:ListEntitiesForPolicy", policy_arn)]),
        # list_amazondynamodb.html: ListBackups has no resource type; DescribeBackup acts on the backup;
        # RestoreTableFromBackup on the backup and the target table, with the item actions on the target table.
        ("dynamodb", "ListBackups", _Fake("/", json.dumps({"TableName": names["dynamodb"]}).encode()),
         [("dynamodb:ListBackups", "*")]),
        ("dynamodb", "DescribeBackup", _Fake("/", json.dumps({"BackupArn": table_arn + "/backup/1-a"}).encode()),
         [("dynamodb:DescribeBackup", table_arn + "/backup/1-a")]),
        ("dynamodb", "RestoreTableFromBackup",
         _Fake("/", json.dumps({"BackupArn": table_arn + "-old/backup/1-a", "TargetTableName": names["dynamodb"]}).encode()),
         [("dynamodb:RestoreTableFromBackup", table_arn + "-old/backup/1-a"), ("dynamodb:RestoreTableFromBackup", table_arn)]
         + [("dynamodb:" + a, table_arn) for a in RESTORE_TARGET_ACTIONS]),
        # CreateRole / CreatePolicy act on the ARN the new role or policy will have, its path included
        # (role/${RoleNameWithPath}, policy/${PolicyNameWithPath}).
        ("iam", "CreateRole", _Fake("/", querystring=form(RoleName="r", Path="/stackctl/app/")),
         [("iam:CreateRole", "arn:aws:iam::%s:role/stackctl/app/r" % account)]),
        ("iam", "CreatePolicy", _Fake("/", querystring=form(PolicyName="p", Path="/stackctl/app/")),
         [("iam:CreatePolicy", "arn:aws:iam::%s:policy/stackctl/app/p" % account)]),
        # list_amazoncognitouserpools.html: ListUserPools and CreateUserPool have no resource type; the rest act
        # on the pool the request names.
        ("cognito-idp", "ListUserPools", _Fake("/", json.dumps({"MaxResults": 60}).encode()),
         [("cognito-idp:ListUserPools", "*")]),
        ("cognito-idp", "CreateUserPool", _Fake("/", json.dumps({"PoolName": "p"}).encode()),
         [("cognito-idp:CreateUserPool", "*")]),
        ("cognito-idp", "AdminInitiateAuth", _Fake("/", json.dumps({"UserPoolId": "us-east-1_AbC"}).encode()),
         [("cognito-idp:AdminInitiateAuth", pool_arn)]),
        ("cognito-idp", "TagResource", _Fake("/", json.dumps({"ResourceArn": pool_arn}).encode()),
         [("cognito-idp:TagResource", pool_arn)]),
    ]
    for service, op, req, want in expected:
        got = checks_for(req, service, op, region, account)
        if got != want:
            failures += 1
            print("FAIL %s:%s: derived %s, AWS evaluates %s" % (service, op, got, want))
    # Versioned deploys (issue 24): every action stackctl sends with a qualifier is allowed by the policy on the
    # version's and the alias's ARN, and not by the policy scoped to other names.
    whole, others = IAMPolicy(json.dumps(policy)), IAMPolicy(rename_to_other(json.dumps(policy)).replace("function:*", "function:other-*"))
    for action in ("lambda:PublishVersion", "lambda:ListVersionsByFunction", "lambda:GetAlias", "lambda:CreateAlias",
                   "lambda:UpdateAlias", "lambda:DeleteAlias", "lambda:ListAliases"):
        if whole.is_action_permitted(action, function_arn) != PermissionResult.PERMITTED:
            failures += 1
            print("FAIL %s on %s: not allowed by the policy" % (action, function_arn))
    for action in ("lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:DeleteFunction",
                   "lambda:InvokeFunction", "lambda:GetFunctionUrlConfig", "lambda:CreateFunctionUrlConfig",
                   "lambda:UpdateFunctionUrlConfig", "lambda:DeleteFunctionUrlConfig", "lambda:AddPermission",
                   "lambda:RemovePermission", "lambda:GetPolicy"):
        for qualified in (function_arn + ":live", function_arn + ":12"):
            if (whole.is_action_permitted(action, qualified) != PermissionResult.PERMITTED
                    or others.is_action_permitted(action, qualified) == PermissionResult.PERMITTED):
                failures += 1
                print("FAIL %s on %s: not allowed by the policy, or allowed when scoped to other names"
                      % (action, qualified))
    # The policy's tag conditions, as `authorize` resolves them: the pool actions are allowed on a pool with a
    # `stackctl:stack` tag only.
    # `stackctl:stack` = this stack's name only.
    for tags, want in [({"stackctl:stack": "my-frontend-app"}, PermissionResult.PERMITTED),
                       ({"stackctl:stack": "other-app"}, PermissionResult.NEUTRAL), ({}, PermissionResult.NEUTRAL),
                       ({"other": "x"}, PermissionResult.NEUTRAL)]:
        resolved = IAMPolicy(with_tag_conditions(json.dumps(policy), tags))
        for action in ("cognito-idp:AdminInitiateAuth", "cognito-idp:DeleteUserPool"):
            got = resolved.is_action_permitted(action, pool_arn)
            if got != want:
                failures += 1
                print("FAIL %s on a pool tagged %s: %s, expected %s" % (action, tags, got, want))
    for op, values, tags, want in [
        ("Null", {"aws:ResourceTag/k": "false"}, {"k": "v"}, True),
        ("Null", {"aws:ResourceTag/k": "false"}, {}, False),
        ("Null", {"aws:ResourceTag/k": "true"}, {}, True),
        ("StringEquals", {"aws:ResourceTag/k": ["a", "v"]}, {"k": "v"}, True),
        ("StringEquals", {"aws:ResourceTag/k": "a"}, {"k": "v"}, False),
        ("StringLike", {"aws:ResourceTag/k": "*"}, {"k": "v"}, True),
        ("StringLike", {"aws:ResourceTag/k": "a?"}, {"k": "ab"}, True),
        ("StringLike", {"aws:ResourceTag/k": "a?"}, {"k": "abc"}, False),
        ("ArnLike", {"aws:ResourceTag/k": "arn:aws:iam::*:policy/x/*"}, {"k": "arn:aws:iam::1:policy/x/p"}, True),
        ("ArnEquals", {"aws:ResourceTag/k": "arn:aws:iam::*:policy/x/*"}, {"k": "arn:aws:iam::1:policy/y"}, False),
        ("StringEqualsIgnoreCase", {"aws:ResourceTag/k": "v"}, {"k": "v"}, None),
        ("StringEquals", {"iam:PassedToService": "lambda.amazonaws.com"}, {}, None),
        ("Null", {"aws:RequestTag/k": "false"}, {"k": "v"}, None),
    ]:
        if condition_holds(op, values, tags) != want:
            failures += 1
            print("FAIL condition %s %s over %s: expected %s" % (op, values, tags, want))
    # (9) iam:PassedToService: Lambda's PassRole is allowed by a statement limited to Lambda, not by one limited to
    # another service.
    for service, want in [("lambda.amazonaws.com", PermissionResult.PERMITTED),
                          ("ec2.amazonaws.com", PermissionResult.NEUTRAL)]:
        limited = {"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                                  "Condition": {"StringEquals": {"iam:PassedToService": service}}}]}
        got = IAMPolicy(with_tag_conditions(json.dumps(limited), None, request_context("lambda", "iam:PassRole"))) \
            .is_action_permitted("iam:PassRole", "arn:aws:iam::%s:role/r" % account)
        if got != want:
            failures += 1
            print("FAIL PassRole limited to %s: %s, expected %s" % (service, got, want))
    # (10) iam:PolicyARN: the policy lets the operator attach the stack's own policy to the stack's role, and
    # refuses AdministratorAccess on the same role, and detaching a policy not the stack's from another user.
    role_arn = "arn:aws:iam::%s:role/stackctl/my-frontend-app/r" % account
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    for op, params, arn, want in [
        ("AttachRolePolicy", form(RoleName="r", PolicyArn=stack_policy), role_arn, PermissionResult.PERMITTED),
        ("AttachRolePolicy", form(RoleName="r", PolicyArn=admin), role_arn, PermissionResult.NEUTRAL),
        ("DetachUserPolicy", form(UserName="someone", PolicyArn=stack_policy), user_arn, PermissionResult.PERMITTED),
        ("DetachUserPolicy", form(UserName="someone", PolicyArn=admin), user_arn, PermissionResult.NEUTRAL),
    ]:
        context = request_context("iam", "iam:" + op, _Fake("/", querystring=params))
        got = IAMPolicy(with_tag_conditions(json.dumps(policy), None, context)).is_action_permitted("iam:" + op, arn)
        if got != want:
            failures += 1
            print("FAIL %s %s: %s, expected %s" % (op, params, got, want))
    # (6) IAM's and STS's refusal in AWS's query-protocol shape (`ErrorResponse/Error/Code`, no `Errors`
    # wrapper): the shape the AWS SDK for Rust reads the code from.
    import xml.etree.ElementTree as ET
    for error, namespace in [(AccessDeniedQuery("User: u is not authorized to perform: iam:GetRole <&>"),
                              "https://iam.amazonaws.com/doc/2010-05-08/"),
                             (AccessDeniedQuery("m", "https://sts.amazonaws.com/doc/2011-06-15/"),
                              "https://sts.amazonaws.com/doc/2011-06-15/")]:
        root = ET.fromstring(error.get_body())
        ns = {"a": namespace}
        got = (root.tag, root.findtext("a:Error/a:Code", namespaces=ns), root.findtext("a:Error/a:Type", namespaces=ns),
               root.find("a:Errors", ns), root.findtext("a:RequestId", namespaces=ns) not in (None, ""))
        if got != ("{%s}ErrorResponse" % namespace, "AccessDenied", "Sender", None, True) or error.code != 403:
            failures += 1
            print("FAIL the query-protocol refusal's shape: %s" % (got,))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__" and sys.argv[1:2] == ["--self-test"]:
    sys.exit(self_test(sys.argv[2]))

if __name__ == "__main__":
    import moto.server

    if DENIALS:
        # The log exists from the start, empty: a reader that finds none knows the emulator is gone, not that
        # nothing was refused.
        open(DENIALS, "w").close()

    run_simple = moto.server.run_simple
    moto.server.run_simple = lambda host, port, app, **kwargs: run_simple(host, port, keep_body(app), **kwargs)
    sys.exit(moto.server.main(sys.argv[1:]))
