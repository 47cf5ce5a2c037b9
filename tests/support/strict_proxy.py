#!/usr/bin/env python3
"""Strict emulation proxy: sits between stackctl (or any AWS SDK) and moto_server and makes the emulator
behave like real AWS where moto is lenient (see ../shared/AWS-BEHAVIOUR.md and docs/strict-emulation.md).

    strict_proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--config config.json] [--seed N]
                    [--ready-file PATH] [--parent-pid PID] [--verbose]

Standard library only (Python 3.8+). Every behaviour is off by default (a plain pass-through) and switched on
by the JSON config, at start (--config) or at runtime:

    POST /__strict/config   JSON object merged into the config (unknown keys are refused); answers the config
    GET  /__strict/config   the current config
    GET  /__strict/log      JSON list of everything the proxy injected or rewrote
    DELETE /__strict/log    clears that list
    GET  /__strict/requests JSON list of the client requests the proxy received (never its own side requests)
    GET  /__strict/state    what the proxy tracks (tables, functions, roles), for debugging
    POST /__strict/reset    forgets tracked state, the log and the request list (config and seed stay)
    POST /__strict/url      {"url", "path", "method", "body"}: the stand-in for a request to a function URL (the
                            qualifier's code run in Node.js behind its permissions): {"statusCode", "headers", "body"}
    GET  /__strict/clock    {"frozen", "now_ms"}: the clock every timed state and window runs on
    POST /__strict/clock    {"advance_ms": N, "frozen": true|false} (both optional): moves that clock N ms forward,
                            then stops it or lets it run on from where it stands; a test holds a CREATING, Pending
                            or propagating state exactly as long as it wants, whatever the machine's speed

Requests to /moto-api/ pass through untouched. Faults are drawn from random.Random seeded with
"<seed>:<service>:<operation>:<resource>:<n>" (n counts the requests with that key), so a run with the same
seed and the same sequence of calls per resource injects the same faults even if calls to different
resources interleave differently.
"""

import argparse
import base64
import hashlib
import http.client
import io
import http.server
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zipfile
import zlib
from html import unescape as xml_unescape

# DynamoDB backups and point-in-time recovery live in their own module, next to this file (a copy of this file run
# from elsewhere, as scripts/mutate.py does, finds it through PYTHONPATH: tests/strict_proxy_selftest.py sets it).
from strict_backups import BackupBehaviours

# --------------------------------------------------------------------------------------------------------------
# Configuration

DEFAULTS = {
    "seed": 0,
    # DynamoDB
    "table_creating_ms": 0,
    "describe_not_found_after_create": False,
    "table_updating_ms": 0,
    "table_deleting_ms": 0,
    "no_change_update_table": False,
    "deletion_protection": False,
    "tags_not_found_while_creating": False,
    "scan_side_write": None,
    "scan_extra_attribute": None,
    # DynamoDB backups and point-in-time recovery (tests/support/strict_backups.py): a backup CREATING for this
    # long / for this many DescribeBackup or ListBackups answers after CreateBackup (then AVAILABLE)
    "backup_creating_ms": 0,
    "backup_creating_reads": 0,
    # BackupName's pattern and length, ListBackups' Limit and BackupType values
    "backup_validation": False,
    # ListBackups honours BackupType (USER by default) and pages (Limit, ExclusiveStartBackupArn); a page never holds
    # more than backup_page_size backups (0: no cap but Limit)
    "backup_listing": False,
    "backup_page_size": 0,
    # TagResource / UntagResource / ListTagsOfResource on a backup ARN refused (AWS tags no native backup)
    "backup_tags_refused": False,
    # RestoreTableFromBackup: the table starts CREATING (table_creating_ms), a DELETING target name is refused
    "restore_rules": False,
    # UpdateContinuousBackups: RecoveryPeriodInDays 1-35; LatestRestorableDateTime 5 minutes behind now
    "pitr_rules": False,
    # UpdateContinuousBackups refused (ContinuousBackupsUnavailableException) this long after CreateTable / a restore
    "pitr_unavailable_ms": 0,
    "backup_unavailable_after_create": False,
    # DeleteTable of a table with point-in-time recovery on keeps a SYSTEM backup <table>$DeletedTableBackup
    "system_backups": False,
    # IAM
    "delete_conflicts": False,
    "iam_unique_names": False,
    "url_encode_documents": False,
    "role_propagation_ms": 0,
    "role_detach_propagation_ms": 0,
    "iam_page_size": 0,
    "role_last_used_region": None,
    "iam_gone_on_tag_read": None,
    # Lambda
    "function_pending_ms": 0,
    "function_update_ms": 0,
    "fail_next_update": None,
    "fail_next_create": None,
    "function_tags_error": False,
    "lambda_limits": False,
    "code_update_architectures": False,
    # Versions and aliases: PublishVersion's CodeSha256 and RevisionId preconditions, alias name and version rules,
    # no deleting a version an alias points to, no deleting $LATEST alone
    "lambda_versions": False,
    # ListVersionsByFunction's page under `lambda_versions`: 0 is Lambda's 50 (a smaller one makes a test page)
    "lambda_versions_page_size": 0,
    # Invoke runs the deployed zip in the local Node.js (moto's own Invoke needs Docker)
    "lambda_invoke_node": False,
    # Lambda function URLs and resource policies
    "url_config_conflict": False,
    "url_config_validation": False,
    "url_config_not_found": False,
    "permission_sid_conflict": False,
    "permission_write_conflict_ms": 0,
    "policy_conditions": False,
    # URL configs and resource policies per qualifier (an alias's own URL and policy; moto keeps one URL per
    # function whatever the Qualifier), URL qualifier rules, and the stand-in URL endpoint (POST /__strict/url)
    "url_qualifiers": False,
    # Lambda's regional concurrency pool: null (moto: GetAccountSettings is 404) or the account's total
    "lambda_account_concurrency": None,
    # Cognito user pools
    "cognito_page_limits": False,
    "cognito_client_flows": False,
    "cognito_tag_rules": False,
    # CloudWatch Logs
    "logs_retention_values": False,
    "logs_tag_arn_star": False,
    "logs_interleaved": False,
    "logs_page_size": 0,
    "logs_deletion_protection": False,
    "logs_delete_aborted": 0,
    "logs_late_write": False,
    "lambda_logging_config": False,
    # Resource Groups Tagging API
    "tagging_resource_types": False,
    "tagging_stale_ms": 0,
    "created_ago_secs": None,
    # Access, everywhere
    "deny_operations": None,
    "expired_token": False,
    # Kill points: requests for these operations are held unanswered (until the key changes or 120 s pass)
    "hold_operations": None,
    # Faults, everywhere
    "throttle_rate": 0.0,
    "provisioned_throughput_rate": 0.0,
    "error_5xx_rate": 0.0,
    "slow_rate": 0.0,
    "slow_ms": 0,
    "drop_rate": 0.0,
    "drop_after_forward": 0.5,
    "fault_services": None,
    "fault_operations": None,
    "max_consecutive_faults": None,
}

ACCOUNT = "123456789012"
IAM_NS = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/", "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
}
SIDE_HEADER = "X-Strict-Proxy-Side-Request"
# Under moto's IAM enforcement (tests/support/moto_iam.py): a client request forwarded with a rewritten body (its
# signature no longer matches; it is authorized for the caller without the check), and a request the proxy answers
# itself, authorized first with this header naming the operation. Stripped from every client request.
REWRITTEN_HEADER = "X-Strict-Proxy-Rewritten"
AUTHORIZE_HEADER = "X-Strict-Proxy-Authorize"
PROXY_HEADERS = {SIDE_HEADER.lower(), REWRITTEN_HEADER.lower(), AUTHORIZE_HEADER.lower()}
# Side requests carry this query string so that the harness's recording filter (which drops every line that
# mentions /moto-api/) leaves them out of Emulator::requests(): they are the proxy's reads, not stackctl's.
SIDE_QUERY = "?strict-proxy-side-request=/moto-api/"


class ConfigError(ValueError):
    pass


def validate(update, base):
    if not isinstance(update, dict):
        raise ConfigError("config must be a JSON object")
    unknown = sorted(set(update) - set(DEFAULTS))
    if unknown:
        raise ConfigError("unknown config key(s): %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(DEFAULTS))))
    merged = dict(base)
    for key, value in update.items():
        merged[key] = DEFAULTS[key] if value is None and DEFAULTS[key] is not None else value
    for key in merged:
        if key.endswith("_rate") or key == "drop_after_forward":
            v = merged[key]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
                raise ConfigError("%s must be a number in 0..1, not %r" % (key, v))
        if key.endswith("_ms") or key in ("seed", "iam_page_size", "logs_page_size", "logs_delete_aborted",
                                                   "lambda_versions_page_size", "backup_creating_reads",
                                                   "backup_page_size"):
            v = merged[key]
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError("%s must be a non-negative integer, not %r" % (key, v))
    for key in ("fault_services", "fault_operations", "deny_operations", "hold_operations"):
        v = merged[key]
        if v is not None and not (isinstance(v, list) and all(isinstance(s, str) for s in v)):
            raise ConfigError("%s must be null or a list of strings" % key)
    total = merged["lambda_account_concurrency"]
    if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 0):
        raise ConfigError("lambda_account_concurrency must be null or a non-negative integer")
    mcf = merged["max_consecutive_faults"]
    if mcf is not None and (not isinstance(mcf, int) or isinstance(mcf, bool) or mcf < 0):
        raise ConfigError("max_consecutive_faults must be null or a non-negative integer")
    rlu = merged["role_last_used_region"]
    if rlu is not None and not (isinstance(rlu, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                                for k, v in rlu.items())):
        raise ConfigError("role_last_used_region must be null or an object {role name: region}")
    gone = merged["iam_gone_on_tag_read"]
    if gone is not None and not (isinstance(gone, list) and all(isinstance(s, str) for s in gone)):
        raise ConfigError("iam_gone_on_tag_read must be null or a list of regular expressions")
    for key in ("fail_next_update", "fail_next_create"):
        if merged[key] is not None and not isinstance(merged[key], dict):
            raise ConfigError("%s must be null or an object {function, reason, reason_code}" % key)
    sw = merged["scan_side_write"]
    if sw is not None and not (isinstance(sw, dict) and isinstance(sw.get("table"), str)
                               and sw.get("op") in ("PutItem", "DeleteItem") and isinstance(sw.get("request"), dict)
                               and isinstance(sw.get("page", 1), int) and sw.get("page", 1) >= 1
                               and sw.get("select", "ITEMS") in ("ITEMS", "COUNT")):
        raise ConfigError("scan_side_write must be null or an object {table, page (>= 1), select: ITEMS|COUNT, "
                          "op: PutItem|DeleteItem, request}")
    ea = merged["scan_extra_attribute"]
    if ea is not None and not (isinstance(ea, dict) and isinstance(ea.get("table"), str)
                               and isinstance(ea.get("attribute"), str) and isinstance(ea.get("value"), dict)):
        raise ConfigError("scan_extra_attribute must be null or an object {table, attribute, value}")
    for key in ("function_tags_error", "lambda_limits", "code_update_architectures", "logs_retention_values",
                "logs_tag_arn_star", "logs_interleaved", "url_config_conflict", "url_config_validation",
                "url_config_not_found", "permission_sid_conflict", "policy_conditions", "logs_deletion_protection",
                "logs_late_write", "lambda_logging_config", "lambda_invoke_node", "cognito_page_limits",
                "cognito_client_flows", "cognito_tag_rules", "lambda_versions", "url_qualifiers",
                "backup_validation", "backup_listing", "backup_tags_refused", "restore_rules", "pitr_rules",
                "system_backups"):
        if not isinstance(merged[key], bool):
            raise ConfigError("%s must be true or false, not %r" % (key, merged[key]))
    return merged


# --------------------------------------------------------------------------------------------------------------
# Requests and responses


class Call:
    """One client request, classified."""

    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # list of (name, value)
        self.body = body
        self.service, self.region = credential_scope(self.header("Authorization"))
        self.json = None
        self.form = {}
        self.op = "Unknown"
        self.resource = ""
        self.function_qualifier = None
        if self.service == "unknown":
            self.service = guess_service(self)
        if self.service == "unknown" and method == "GET" and JWKS_PATH.match(urllib.parse.urlsplit(path).path):
            # A user pool's public keys, fetched unsigned as the handler does: a read.
            self.service, self.op = "cognito-idp", "GetJWKS"
            self.resource = path.split("/")[1]
        if self.service == "dynamodb":
            self.op = self.header("X-Amz-Target").rsplit(".", 1)[-1] or "Unknown"
            self.json = parse_json(body)
            j = self.json or {}
            table = j.get("TableName") or j.get("ResourceArn") or j.get("TargetTableName") or j.get("BackupArn") or ""
            self.resource = table.split(":table/", 1)[1].split("/")[0] if ":table/" in table else table
        elif self.service == "lambda":
            self.op, self.resource, self.function_qualifier = lambda_operation(method, path)
            if body[:1] == b"{":
                self.json = parse_json(body)
            if self.op == "CreateFunction" and self.json:
                self.resource = str(self.json.get("FunctionName") or "")
        elif self.service == "logs":
            # JSON 1.1: X-Amz-Target: Logs_20140328.<Operation>
            self.op = self.header("X-Amz-Target").rsplit(".", 1)[-1] or "Unknown"
            self.json = parse_json(body)
            j = self.json or {}
            self.resource = log_group_of(j.get("logGroupName") or j.get("logGroupIdentifier") or j.get("resourceArn")
                                         or j.get("logGroupNamePrefix") or "")
        elif self.service == "cognito-idp" and self.op != "GetJWKS":
            # JSON 1.1: X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>
            self.op = self.header("X-Amz-Target").rsplit(".", 1)[-1] or "Unknown"
            self.json = parse_json(body)
            self.resource = str((self.json or {}).get("UserPoolId") or (self.json or {}).get("ResourceArn") or "")
        elif self.service == "tagging":
            # JSON 1.1: X-Amz-Target: ResourceGroupsTaggingAPI_20170126.<Operation>
            self.op = self.header("X-Amz-Target").rsplit(".", 1)[-1] or "Unknown"
            self.json = parse_json(body)
        elif self.service in ("iam", "sts"):
            query = urllib.parse.urlsplit(path).query
            params = urllib.parse.parse_qs(query, keep_blank_values=True)
            if body:
                params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
            self.form = {k: v[0] for k, v in params.items()}
            self.op = self.form.get("Action", "Unknown")
            for key in ("RoleName", "PolicyArn", "UserName", "GroupName", "InstanceProfileName"):
                if key in self.form:
                    self.resource = self.form[key]
                    break

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return ""

    @property
    def write(self):
        if self.service == "lambda":
            return self.method not in ("GET", "HEAD")
        # Item reads (Scan, Query, BatchGetItem) and FilterLogEvents are reads too, as the Rust harness counts them.
        return not self.op.startswith(("Get", "List", "Describe", "Scan", "Query", "BatchGet", "Filter"))


JWKS_PATH = re.compile(r"^/[\w-]+_[0-9A-Za-z]+/\.well-known/jwks\.json$")


def credential_scope(auth):
    # Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ...
    m = re.search(r"Credential=[^/,\s]+/\d+/([^/]+)/([^/]+)/aws4_request", auth or "")
    return (m.group(2), m.group(1)) if m else ("unknown", "us-east-1")


def guess_service(call):
    target = call.header("X-Amz-Target")
    if target.startswith("DynamoDB_"):
        return "dynamodb"
    if target.startswith("ResourceGroupsTaggingAPI_"):
        return "tagging"
    if target.startswith("AWSCognitoIdentityProviderService."):
        return "cognito-idp"
    if re.match(r"^/20\d\d-\d\d-\d\d/", call.path):
        return "lambda"
    if b"Action=" in call.body or "Action=" in call.path:
        return "iam"
    return "unknown"


def parse_json(body):
    try:
        value = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def log_group_of(name_or_arn):
    """A log group name, or its ARN (arn:aws:logs:<region>:<account>:log-group:<name>[:*]) -> the name."""
    if name_or_arn.startswith("arn:") and ":log-group:" in name_or_arn:
        name = name_or_arn.split(":log-group:", 1)[1]
        return name[:-2] if name.endswith(":*") else name
    return name_or_arn


def function_name(raw):
    """A function name, partial ARN or ARN (possibly URL-encoded) -> (name, qualifier)."""
    raw = urllib.parse.unquote(raw)
    if raw.startswith("arn:"):
        parts = raw.split(":")
        return parts[6] if len(parts) > 6 else raw, parts[7] if len(parts) > 7 else None
    parts = raw.split(":")
    if len(parts) >= 3 and parts[1] == "function":  # <account>:function:<name>[:qualifier]
        return parts[2], parts[3] if len(parts) > 3 else None
    return parts[0], parts[1] if len(parts) > 1 else None


def lambda_operation(method, path):
    split = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(split.query)
    parts = [p for p in split.path.split("/") if p]
    rest = parts[1:]
    name, qualifier = ("", None)
    if len(rest) >= 2 and rest[0] == "functions":
        name, qualifier = function_name(rest[1])
    if "Qualifier" in query:
        qualifier = query["Qualifier"][0]
    table = {
        ("POST", ("functions",)): "CreateFunction",
        ("GET", ("functions",)): "ListFunctions",
        ("GET", ("functions", "*")): "GetFunction",
        ("DELETE", ("functions", "*")): "DeleteFunction",
        ("GET", ("functions", "*", "configuration")): "GetFunctionConfiguration",
        ("PUT", ("functions", "*", "configuration")): "UpdateFunctionConfiguration",
        ("PUT", ("functions", "*", "code")): "UpdateFunctionCode",
        ("POST", ("functions", "*", "invocations")): "Invoke",
        ("POST", ("functions", "*", "versions")): "PublishVersion",
        ("GET", ("functions", "*", "versions")): "ListVersionsByFunction",
        ("POST", ("functions", "*", "aliases")): "CreateAlias",
        ("GET", ("functions", "*", "aliases")): "ListAliases",
        ("GET", ("functions", "*", "aliases", "*")): "GetAlias",
        ("PUT", ("functions", "*", "aliases", "*")): "UpdateAlias",
        ("DELETE", ("functions", "*", "aliases", "*")): "DeleteAlias",
        ("POST", ("functions", "*", "policy")): "AddPermission",
        ("GET", ("functions", "*", "policy")): "GetPolicy",
        ("PUT", ("functions", "*", "concurrency")): "PutFunctionConcurrency",
        ("DELETE", ("functions", "*", "concurrency")): "DeleteFunctionConcurrency",
        ("GET", ("functions", "*", "concurrency")): "GetFunctionConcurrency",
        ("DELETE", ("functions", "*", "policy", "*")): "RemovePermission",
        ("GET", ("functions", "*", "url")): "GetFunctionUrlConfig",
        ("POST", ("functions", "*", "url")): "CreateFunctionUrlConfig",
        ("PUT", ("functions", "*", "url")): "UpdateFunctionUrlConfig",
        ("DELETE", ("functions", "*", "url")): "DeleteFunctionUrlConfig",
        ("GET", ("account-settings",)): "GetAccountSettings",
        ("GET", ("tags", "*")): "ListTags",
        ("POST", ("tags", "*")): "TagResource",
        ("DELETE", ("tags", "*")): "UntagResource",
    }
    # The function's name (and RemovePermission's statement id) vary; the rest of the path names the op.
    shape = tuple("*" if i == 1 or (i == 3 and rest[2] in ("policy", "aliases")) else p for i, p in enumerate(rest))
    op = table.get((method, shape))
    if op is None:
        op = "%s %s" % (method, split.path)
    if not name and len(rest) >= 2 and rest[0] == "tags":
        name, _ = function_name(rest[1])
    return op, name, qualifier


class Response:
    def __init__(self, status, headers, body, reason=None, answered_by="upstream"):
        self.status = status
        self.reason = reason or http.client.responses.get(status, "Unknown")
        self.headers = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        self.body = body
        self.answered_by = answered_by

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return ""

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()] + [(name, value)]

    def json(self):
        return parse_json(self.body)

    def set_json(self, value, service=None):
        self.body = json.dumps(value).encode("utf-8")
        if service == "dynamodb" or self.header("x-amz-crc32"):
            self.set_header("x-amz-crc32", str(zlib.crc32(self.body) & 0xFFFFFFFF))


def request_id():
    return str(uuid.uuid4())


def iso_now():
    """Now as Lambda's log lines show it: 2026-12-02T10:15:03.412Z."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (int(now * 1000) % 1000)


def dynamodb_error(code, message, status=400, namespace="com.amazonaws.dynamodb.v20120810"):
    body = json.dumps({"__type": "%s#%s" % (namespace, code), "message": message}).encode()
    return Response(
        status,
        [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-RequestId", request_id()),
            ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)),
        ],
        body,
        answered_by="proxy",
    )


def query_error(service, code, message, status, kind="Sender"):
    rid = request_id()
    body = (
        '<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
        "<RequestId>%s</RequestId></ErrorResponse>"
        % (IAM_NS.get(service, IAM_NS["iam"]), kind, code, xml_escape(message), rid)
    ).encode()
    return Response(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body, answered_by="proxy")


def lambda_error(code, message, status, kind="User", extra=None):
    payload = {"Type": kind, "message": message}
    payload.update(extra or {})
    return Response(
        status,
        [
            ("Content-Type", "application/json"),
            ("X-Amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id()),
        ],
        json.dumps(payload).encode(),
        answered_by="proxy",
    )


def logs_error(code, message, status=400):
    """CloudWatch Logs' JSON 1.1 error shape."""
    return Response(
        status,
        [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id())],
        json.dumps({"__type": code, "message": message}).encode(),
        answered_by="proxy",
    )


def cognito_error(code, message, status=400):
    """Cognito user pools' JSON 1.1 error shape."""
    return Response(
        status,
        [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code),
         ("x-amzn-RequestId", request_id())],
        json.dumps({"__type": code, "message": message}).encode(),
        answered_by="proxy",
    )


def tagging_error(code, message, status=400):
    """The Resource Groups Tagging API's JSON 1.1 error shape."""
    return Response(
        status,
        [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id())],
        json.dumps({"__type": code, "Message": message}).encode(),
        answered_by="proxy",
    )


def tagged_key(arn):
    """(service, name) of a table, function or log group ARN, as the delete calls name them."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, rest = parts[2], parts[5]
    for prefix in ("table/", "function:", "log-group:"):
        if rest.startswith(prefix):
            name = rest[len(prefix):]
            name = name[:-2] if name.endswith(":*") else name
            return service, name.split(":")[0] if prefix == "function:" else name
    return None


def tags_match(tags, filters):
    """GetResources' TagFilters: every filter's key present, with one of its values when it lists any."""
    have = {t["Key"]: t["Value"] for t in tags}
    return all(f["Key"] in have and (not f.get("Values") or have[f["Key"]] in f["Values"]) for f in filters or [])


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def service_error(call, code, message, status, kind="Sender"):
    """An error in the calling service's own wire format."""
    if call.service == "dynamodb":
        return dynamodb_error(code, message, status)
    if call.service == "lambda":
        return lambda_error(code, message, status, "User" if status < 500 else "Service")
    if call.service == "logs":
        return logs_error(code, message, status)
    if call.service == "tagging":
        return tagging_error(code, message, status)
    return query_error(call.service, code, message, status, kind)


# --------------------------------------------------------------------------------------------------------------
# The proxy


class Proxy(BackupBehaviours):
    def __init__(self, upstream, config):
        split = urllib.parse.urlsplit(upstream)
        self.upstream_host = split.hostname or "127.0.0.1"
        self.upstream_port = split.port or 80
        self.config = config
        self.lock = threading.RLock()
        self.started = time.monotonic()
        # `lambda_invoke_node`: every deployment package that passed through, by CodeSha256 (content-addressed,
        # so it outlives `reset`), its unzipped copy, and the proxy's own URL (the handler's AWS endpoint).
        self.packages = {}
        self.task_roots = {}
        self.workdir = None
        self.self_url = None
        # The clock of every timed state (see now()): the real one shifted by what /__strict/clock advanced,
        # or standing still at frozen_at. Not touched by reset().
        self.clock_offset = 0.0
        self.frozen_at = None
        self.reset()

    def reset(self):
        with self.lock:
            self.tables = {}  # name -> state dict
            self.functions = {}  # name -> state dict
            self.roles = {}  # role ARN -> monotonic creation time
            self.role_detaches = {}  # role name -> (monotonic time, op) of its last DetachRolePolicy / DeleteRolePolicy
            self.tagged_seen = {}  # (service, name) -> the last ResourceTagMapping GetResources answered for it
            self.tagged_deleted = {}  # (service, name) -> monotonic time it was deleted
            self.protected_groups = set()  # log group names with deletion protection on (logs_deletion_protection)
            self.late_writes = {}  # log group name -> {"until", "role", "function"} after a DeleteFunction (logs_late_write)
            self.logging_configs = {}  # function name -> LoggingConfig it was given (lambda_logging_config)
            self.revisions = {}  # function name -> $LATEST's RevisionId (lambda_versions; moto has none)
            self.reset_versions()
            self.reset_backups()
            self.policy_writes = {}  # function name -> monotonic time of its last AddPermission / RemovePermission
            self.alias_urls = {}  # (region, function, alias) -> URL config (url_qualifiers)
            self.alias_policies = {}  # (region, function, alias) -> [statement] (url_qualifiers)
            self.log = []
            self.requests = []
            self.fault_counts = {}  # key -> number of requests seen
            self.fault_streaks = {}  # key -> consecutive faults injected
            # Request numbers keep counting across resets, so a harness's mark taken before one stays valid.
            self.seq = getattr(self, "seq", 0)

    def now(self):
        """The clock every timed state and window runs on (CREATING, Pending, InProgress, propagation, staleness):
        real monotonic time unless POST /__strict/clock froze or advanced it."""
        with self.lock:
            if self.frozen_at is not None:
                return self.frozen_at
            return time.monotonic() + self.clock_offset

    def set_clock(self, advance_ms=0, frozen=None):
        """POST /__strict/clock: advance by `advance_ms`, then freeze (True) or let it run on (False)."""
        with self.lock:
            if self.frozen_at is not None:
                self.frozen_at += advance_ms / 1000.0
            else:
                self.clock_offset += advance_ms / 1000.0
            if frozen is True and self.frozen_at is None:
                self.frozen_at = self.now()
            elif frozen is False and self.frozen_at is not None:
                self.clock_offset = self.frozen_at - time.monotonic()
                self.frozen_at = None
            return self.clock_snapshot()

    def clock_snapshot(self):
        with self.lock:
            return {"frozen": self.frozen_at is not None, "now_ms": int((self.now() - self.started) * 1000)}

    def elapsed_ms(self):
        """Real milliseconds since the proxy started (a record's `t_ms`), whatever /__strict/clock did."""
        return int((time.monotonic() - self.started) * 1000)

    def note(self, call, kind, injected, **extra):
        entry = {
            "t_ms": self.elapsed_ms(),
            "service": call.service,
            "op": call.op,
            "resource": call.resource,
            "kind": kind,
            "injected": injected,
        }
        entry.update(extra)
        with self.lock:
            self.log.append(entry)

    # ---- upstream ------------------------------------------------------------------------------------------

    def forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            has_host = False
            for name, value in headers:
                if name.lower() in HOP_BY_HOP:
                    continue
                if name.lower() == "host":
                    has_host = True
                conn.putheader(name, value)
            if not has_host:
                conn.putheader("Host", "%s:%d" % (self.upstream_host, self.upstream_port))
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, resp.getheaders(), data, reason=resp.reason)
        finally:
            conn.close()

    def side_request(self, call, body, extra_headers):
        """A read the proxy makes itself (to decide how real AWS would answer), with the caller's credentials."""
        headers = [(k, v) for k, v in call.headers if k.lower() in ("authorization", "x-amz-date", "host", "x-amz-security-token")]
        headers += extra_headers + [(SIDE_HEADER, "1"), ("User-Agent", "strict-proxy-side-request")]
        return self.forward("POST", "/" + SIDE_QUERY, headers, body)

    def dynamodb_describe(self, call, table):
        resp = self.side_request(
            call,
            json.dumps({"TableName": table}).encode(),
            [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "DynamoDB_20120810.DescribeTable")],
        )
        return (resp.json() or {}).get("Table") if resp.status == 200 else None

    def iam_side(self, call, action, params):
        form = dict(params, Action=action, Version="2010-05-08")
        resp = self.side_request(
            call,
            urllib.parse.urlencode(form).encode(),
            [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
        )
        return resp.body.decode("utf-8", "replace") if resp.status == 200 else None

    # ---- faults --------------------------------------------------------------------------------------------

    def draw_fault(self, call):
        cfg = self.config
        rates = (cfg["drop_rate"], cfg["throttle_rate"], cfg["provisioned_throughput_rate"], cfg["error_5xx_rate"], cfg["slow_rate"])
        if not any(rates):
            return None, False
        if cfg["fault_services"] is not None and call.service not in cfg["fault_services"]:
            return None, False
        if cfg["fault_operations"] is not None and call.op not in cfg["fault_operations"]:
            return None, False
        key = "%s:%s:%s" % (call.service, call.op, call.resource)
        with self.lock:
            n = self.fault_counts.get(key, 0)
            self.fault_counts[key] = n + 1
            streak = self.fault_streaks.get(key, 0)
        rng = random.Random("%s:%s:%d" % (cfg["seed"], key, n))
        # Always the same number of draws, so changing one rate does not shift the others.
        u_drop, u_throttle, u_pt, u_5xx, u_slow, u_which, u_phase = (rng.random() for _ in range(7))
        fault = None
        if u_drop < cfg["drop_rate"]:
            fault = "drop-after-forward" if u_phase < cfg["drop_after_forward"] else "drop"
        elif u_throttle < cfg["throttle_rate"]:
            fault = "throttle"
        elif call.service == "dynamodb" and u_pt < cfg["provisioned_throughput_rate"]:
            fault = "provisioned-throughput"
        elif u_5xx < cfg["error_5xx_rate"]:
            fault = "500" if u_which < 0.5 else "503"
        limit = cfg["max_consecutive_faults"]
        with self.lock:
            if fault is not None and limit is not None and streak >= limit:
                fault = None
            self.fault_streaks[key] = streak + 1 if fault is not None else 0
        return fault, u_slow < cfg["slow_rate"]

    def fault_response(self, call, fault):
        if fault == "throttle":
            if call.service == "dynamodb":
                return dynamodb_error(
                    "ThrottlingException", "Rate of requests exceeds the allowed throughput.", 400, "com.amazon.coral.availability"
                )
            if call.service == "lambda":
                return lambda_error(
                    "TooManyRequestsException", "Rate exceeded", 429, extra={"Reason": "CallerRateLimitExceeded"}
                )
            if call.service == "logs":
                return logs_error("ThrottlingException", "Rate exceeded", 400)
            return query_error(call.service, "Throttling", "Rate exceeded", 400)
        if fault == "provisioned-throughput":
            return dynamodb_error(
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. "
                "Consider increasing your provisioning level with the UpdateTable API.",
            )
        status = int(fault)
        if call.service == "dynamodb":
            if status == 500:
                return dynamodb_error("InternalServerError", "Internal server error", 500)
            return dynamodb_error("ServiceUnavailableException", "Service unavailable", 503, "com.amazon.coral.availability")
        if call.service == "lambda":
            code = "ServiceException" if status == 500 else "ServiceUnavailableException"
            return lambda_error(code, "Service is temporarily unavailable" if status == 503 else "Internal error", status, "Service")
        if call.service == "logs":
            if status == 500:
                return logs_error("InternalFailure", "Internal failure", 500)
            return logs_error("ServiceUnavailableException", "The service cannot complete the request.", 503)
        if status == 500:
            return query_error(call.service, "ServiceFailure", "Internal failure", 500, "Receiver")
        return query_error(call.service, "ServiceUnavailable", "Service is unavailable", 503, "Receiver")

    # ---- the main path -------------------------------------------------------------------------------------

    def hold(self, call):
        """`hold_operations`: a request for one of these operations is held unanswered (noted as `held` when it
        arrives) until the key no longer names it or 120 s pass, then answered as usual: a test kills the client
        while it waits, at an exact point between two calls."""
        held = self.config["hold_operations"] or []
        if call.op not in held and "%s:%s" % (call.service, call.op) not in held:
            return
        self.note(call, "behaviour", "held")
        deadline = time.time() + 120
        while time.time() < deadline:
            held = self.config["hold_operations"] or []
            if call.op not in held and "%s:%s" % (call.service, call.op) not in held:
                return
            time.sleep(0.02)

    def handle(self, call):
        """-> (Response or None to drop the connection, slow seconds)."""
        self.hold(call)
        fault, slow = self.draw_fault(call)
        with self.lock:
            self.seq += 1
            seq = self.seq
        record = {"seq": seq, "t_ms": self.elapsed_ms(), "service": call.service, "op": call.op,
                  "resource": call.resource, "write": call.write,
                  "qualifier": call.function_qualifier if call.service == "lambda" else None,
                  "from_rust": "aws-sdk-rust" in call.header("User-Agent")}
        resp = None
        started = time.monotonic()
        if fault == "drop":
            self.note(call, "fault", "drop", seq=seq)
        elif fault in ("throttle", "provisioned-throughput", "500", "503"):
            resp = self.fault_response(call, fault)
            self.note(call, "fault", error_code(resp), status=resp.status, seq=seq)
        else:
            resp = self.behave(call)
            if fault == "drop-after-forward":
                self.note(call, "fault", "drop-after-forward", status=resp.status, seq=seq)
                resp = None
        if resp is not None and slow and self.config["slow_ms"]:
            self.note(call, "fault", "slow", ms=self.config["slow_ms"], seq=seq)
        record["status"] = resp.status if resp is not None else None
        record["answered_by"] = resp.answered_by if resp is not None else "dropped"
        # Real milliseconds the proxy (and the emulator behind it) took to answer, holds and slow faults aside
        # (the bench subtracts the emulator's own work, e.g. a backup's in-memory copy, from a row's time).
        record["ms"] = round((time.monotonic() - started) * 1000, 1)
        with self.lock:
            self.requests.append(record)
        return resp, (self.config["slow_ms"] / 1000.0 if slow and resp is not None else 0)

    ITEM_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem")

    def item_call_on_a_creating_table(self, call):
        """The table an item read or write names while it is still CREATING, else None."""
        if call.service != "dynamodb" or call.op not in self.ITEM_OPERATIONS or not self.config["table_creating_ms"]:
            return None
        names = [call.resource] if call.resource else list(((call.json or {}).get("RequestItems") or {}).keys())
        return next((n for n in names if self.table_busy(n) == "created"), None)

    def behave(self, call):
        resp = self.behave_inner(call)
        self.after(call, resp)
        return resp

    DELETES = {("dynamodb", "DeleteTable"), ("lambda", "DeleteFunction"), ("logs", "DeleteLogGroup")}

    def after(self, call, resp):
        """What the Tagging API and the creation times need to know about an answered call."""
        if (call.service, call.op) in self.DELETES and resp.status < 300:
            with self.lock:
                self.tagged_deleted[(call.service, call.resource)] = self.now()
        if call.service == "dynamodb":
            self.backups_after(call, resp)
        backdate = (self.config["created_ago_secs"] or {}).get(call.resource)
        if call.service == "dynamodb" and call.op == "DescribeTable" and backdate and resp.status == 200:
            # `created_ago_secs`: a table made that long ago (moto's clock cannot be moved).
            body = resp.json() or {}
            if "Table" in body:
                body["Table"]["CreationDateTime"] = time.time() - backdate
                resp.set_json(body, "dynamodb")
                self.note(call, "rewrite", "CreationDateTime", ago_secs=backdate)

    def expired(self, call):
        """`expired_token`: the caller's temporary credentials have expired; every service refuses every call in
        its own format (IAM and STS say ExpiredToken, the JSON services ExpiredTokenException)."""
        if not self.config["expired_token"]:
            return None
        self.note(call, "behaviour", "ExpiredToken")
        message = "The security token included in the request is expired"
        if call.service in ("iam", "sts"):
            return query_error(call.service, "ExpiredToken", message, 403)
        if call.service == "lambda":
            return lambda_error("ExpiredTokenException", message, 403)
        return service_error(call, "ExpiredTokenException", message, 400)

    def behave_inner(self, call):
        expired = self.expired(call)
        if expired is not None:
            return expired
        denied = self.access_denied(call) or self.version_gone(call)
        if denied is not None:
            return denied
        # AWS: a table accepts item reads and writes only once it is ACTIVE; before, they are not found.
        creating = self.item_call_on_a_creating_table(call)
        if creating is not None:
            self.note(call, "behaviour", "ResourceNotFoundException", reason="item call on a CREATING table")
            return dynamodb_error("ResourceNotFoundException", "Requested resource not found")
        handler = getattr(self, "%s_%s" % (call.service.replace("-idp", ""), call.op), None)
        if handler is not None:
            return handler(call)
        resp = self.forward(call.method, call.path, call.headers, call.body)
        if call.service == "iam":
            self.iam_rewrite_documents(call, resp)
        return resp

    def access_denied(self, call):
        """`deny_operations`: the caller's policy does not allow this operation; AWS answers in its own format."""
        denied = self.config["deny_operations"] or []
        if call.op not in denied and "%s:%s" % (call.service, call.op) not in denied:
            return None
        action = "%s:%s" % (call.service, call.op)
        message = ("User: arn:aws:iam::%s:user/testing is not authorized to perform: %s on resource: %s because no "
                   "identity-based policy allows the %s action" % (ACCOUNT, action, self.resource_arn(call), action))
        self.note(call, "behaviour", "AccessDenied", reason="%s is in deny_operations" % call.op)
        if call.service == "dynamodb":
            return dynamodb_error("AccessDeniedException", message, 400, "com.amazon.coral.service")
        if call.service == "lambda":
            return lambda_error("AccessDeniedException", message, 403)
        if call.service == "logs":
            return logs_error("AccessDeniedException", message, 400)
        return query_error(call.service, "AccessDenied", message, 403)

    def resource_arn(self, call):
        if not call.resource:
            return "*"
        if call.resource.startswith("arn:"):
            return call.resource
        if call.service == "lambda":
            return self.function_arn(call, call.resource)
        if call.service == "dynamodb":
            return "arn:aws:dynamodb:%s:%s:table/%s" % (call.region, ACCOUNT, call.resource)
        if call.service == "logs":
            return "arn:aws:logs:%s:%s:log-group:%s:*" % (call.region, ACCOUNT, call.resource)
        if call.service == "iam" and "RoleName" in call.form:
            return "arn:aws:iam::%s:role/%s" % (ACCOUNT, call.resource)
        return call.resource

    def passthrough(self, call):
        return self.forward(call.method, call.path, call.headers, call.body)

    # ---- DynamoDB ------------------------------------------------------------------------------------------

    def table_state(self, name):
        """The tracked state of a table, with expired periods cleared. Caller holds the lock."""
        st = self.tables.get(name)
        if st is None:
            return None
        now = self.now()
        for key in ("creating_until", "updating_until"):
            if st.get(key) and now >= st[key]:
                st[key] = None
        if st.get("deleting_until") and now >= st["deleting_until"]:
            del self.tables[name]
            return None
        return st

    def table_busy(self, name):
        """'created' / 'updated' / 'deleted' while the table is in that transition, else None."""
        with self.lock:
            st = self.table_state(name)
            if st is None:
                return None
            if st.get("deleting_until"):
                return "deleted"
            if st.get("creating_until"):
                return "created"
            if st.get("updating_until"):
                return "updated"
        return None

    def deleting_description(self, name):
        with self.lock:
            desc = dict(self.tables[name].get("desc") or {"TableName": name})
        desc["TableStatus"] = "DELETING"
        return desc

    def ok_json(self, value):
        body = json.dumps(value).encode()
        return Response(
            200,
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-RequestId", request_id()),
                ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)),
            ],
            body,
            answered_by="proxy",
        )

    def dynamodb_CreateTable(self, call):
        name = call.resource
        if self.table_busy(name) == "deleted":
            self.note(call, "behaviour", "ResourceInUseException", reason="table is DELETING")
            return dynamodb_error("ResourceInUseException", "Table already exists: %s" % name)
        resp = self.passthrough(call)
        if resp.status != 200:
            return resp
        cfg = self.config
        body = resp.json() or {}
        desc = body.get("TableDescription") or {}
        now = self.now()
        with self.lock:
            self.tables[name] = {
                "creating_until": now + cfg["table_creating_ms"] / 1000.0 if cfg["table_creating_ms"] else None,
                "updating_until": None,
                "deleting_until": None,
                "not_found_once": bool(cfg["describe_not_found_after_create"]),
                "desc": dict(desc),
            }
        if cfg["table_creating_ms"] and desc:
            desc["TableStatus"] = "CREATING"
            resp.set_json(body, "dynamodb")
            self.note(call, "rewrite", "TableStatus=CREATING")
        return resp

    def dynamodb_ListTagsOfResource(self, call):
        # Reported on AWS: the tags of a table still CREATING are not found yet.
        with self.lock:
            st = self.table_state(call.resource)
            creating = bool(st and st.get("creating_until"))
        if creating and self.config["tags_not_found_while_creating"]:
            self.note(call, "behaviour", "ResourceNotFoundException", reason="tags of a CREATING table")
            return dynamodb_error("ResourceNotFoundException", "Requested resource not found: %s" % call.resource)
        return self.backup_tags_refused(call) or self.passthrough(call)

    def dynamodb_DescribeTable(self, call):
        name = call.resource
        with self.lock:
            st = self.table_state(name)
            deleting = bool(st and st.get("deleting_until"))
            not_found_once = bool(st and st.get("not_found_once"))
            if not_found_once:
                st["not_found_once"] = False
        if deleting:
            self.note(call, "rewrite", "TableStatus=DELETING")
            return self.ok_json({"Table": self.deleting_description(name)})
        if not_found_once:
            self.note(call, "behaviour", "ResourceNotFoundException", reason="eventually consistent read after CreateTable")
            return dynamodb_error("ResourceNotFoundException", "Requested resource not found: Table: %s not found" % name)
        resp = self.passthrough(call)
        if resp.status != 200:
            if st is not None and error_code(resp) == "ResourceNotFoundException":
                with self.lock:
                    self.tables.pop(name, None)  # deleted behind the proxy's back
            return resp
        body = resp.json() or {}
        desc = body.get("Table")
        if not desc:
            return resp
        status = None
        with self.lock:
            st = self.table_state(name)
            if st is not None:
                st["desc"] = dict(desc)
                status = "CREATING" if st.get("creating_until") else "UPDATING" if st.get("updating_until") else None
            else:
                self.tables[name] = {"creating_until": None, "updating_until": None, "deleting_until": None,
                                     "not_found_once": False, "desc": dict(desc)}
        if status:
            desc["TableStatus"] = status
            self.restore_in_progress(call, body)
            resp.set_json(body, "dynamodb")
            self.note(call, "rewrite", "TableStatus=%s" % status)
        return resp

    def dynamodb_DeleteTable(self, call):
        name = call.resource
        busy = self.table_busy(name)
        if busy == "deleted":
            # Real DynamoDB: "If table is already in the DELETING state, no error is returned."
            self.note(call, "rewrite", "TableStatus=DELETING", reason="already DELETING")
            return self.ok_json({"TableDescription": self.deleting_description(name)})
        if busy in ("created", "updated"):
            self.note(call, "behaviour", "ResourceInUseException", reason="table is %s" % ("CREATING" if busy == "created" else "UPDATING"))
            return dynamodb_error(
                "ResourceInUseException",
                "Attempt to change a resource which is still in use: Table is being %s: %s" % (busy, name),
            )
        resp = self.delete_table_keeping_system_backup(call)
        if resp.status == 400 and self.config["deletion_protection"] and error_code(resp) == "ValidationException" \
                and "eletion" in (error_message(resp) or ""):
            self.note(call, "rewrite", "ValidationException message", reason="deletion protection")
            return dynamodb_error(
                "ValidationException",
                "Resource cannot be deleted as it is currently protected against deletion. "
                "Disable deletion protection first.",
            )
        if resp.status != 200:
            return resp
        ms = self.config["table_deleting_ms"]
        body = resp.json() or {}
        desc = body.get("TableDescription") or {}
        with self.lock:
            if ms:
                previous = (self.tables.get(name) or {}).get("desc") or {}
                cached = dict(previous)
                cached.update(desc)
                self.tables[name] = {"creating_until": None, "updating_until": None,
                                     "deleting_until": self.now() + ms / 1000.0,
                                     "not_found_once": False, "desc": cached}
            else:
                self.tables.pop(name, None)
        if ms and desc:
            desc["TableStatus"] = "DELETING"
            resp.set_json(body, "dynamodb")
            self.note(call, "rewrite", "TableStatus=DELETING")
        return resp

    def dynamodb_UpdateTable(self, call):
        name = call.resource
        busy = self.table_busy(name)
        if busy:
            self.note(call, "behaviour", "ResourceInUseException", reason="table is being %s" % busy)
            return dynamodb_error(
                "ResourceInUseException",
                "Attempt to change a resource which is still in use: Table is being %s: %s" % (busy, name),
            )
        if self.config["no_change_update_table"]:
            table = self.dynamodb_describe(call, name)
            if table is not None:
                message = update_table_no_change(call.json or {}, table)
                if message:
                    self.note(call, "behaviour", "ValidationException", reason="UpdateTable changes nothing")
                    return dynamodb_error("ValidationException", message)
        resp = self.passthrough(call)
        ms = self.config["table_updating_ms"]
        if resp.status != 200 or not ms:
            return resp
        body = resp.json() or {}
        desc = body.get("TableDescription") or {}
        with self.lock:
            st = self.tables.setdefault(name, {"creating_until": None, "deleting_until": None, "not_found_once": False})
            st["updating_until"] = self.now() + ms / 1000.0
            st["desc"] = dict(desc)
        if desc:
            desc["TableStatus"] = "UPDATING"
            resp.set_json(body, "dynamodb")
            self.note(call, "rewrite", "TableStatus=UPDATING")
        return resp

    def dynamodb_Scan(self, call):
        """Scans of a table, as a scan that is not a snapshot meets them. `scan_side_write`: once the Nth item
        scan (or, with `"select": "COUNT"`, the Nth `Select: COUNT` scan) of the table, counted from when the
        key was set, has been answered by moto, and before that answer goes back, the proxy sends a PutItem or
        DeleteItem of its own to moto: an item written or deleted while a client pages through the table, or
        between two of its reads. Fires once; the key then goes back to null. `scan_extra_attribute`: every
        item scan of the table answers its first item with one more attribute, e.g. of a type newer than the
        client's SDK."""
        side = self.config["scan_side_write"]
        extra = self.config["scan_extra_attribute"]
        select = "COUNT" if (call.json or {}).get("Select") == "COUNT" else "ITEMS"
        resp = self.passthrough(call)
        if resp.status != 200:
            return resp
        if side and side["table"] == call.resource and side.get("select", "ITEMS") == select:
            with self.lock:
                # Counted from the key as it stands now, not as it stood when this scan arrived: concurrent
                # scans (parallel segments) each take one step, and only one of them fires.
                side = self.config["scan_side_write"]
                fire = False
                if side and side["table"] == call.resource and side.get("select", "ITEMS") == select:
                    left = side.get("page", 1) - 1
                    fire = left <= 0
                    self.config = dict(self.config, scan_side_write=None if fire else dict(side, page=left))
            if fire:
                request = dict(side["request"], TableName=call.resource)
                written = self.side_request(
                    call,
                    json.dumps(request).encode(),
                    [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "DynamoDB_20120810." + side["op"])],
                )
                self.note(call, "behaviour", "side %s" % side["op"], status=written.status)
        if extra and extra["table"] == call.resource and select == "ITEMS":
            body = resp.json() or {}
            if body.get("Items"):
                body["Items"][0][extra["attribute"]] = extra["value"]
                resp.set_json(body, "dynamodb")
                self.note(call, "rewrite", "Items", attribute=extra["attribute"])
        return resp

    # ---- IAM -----------------------------------------------------------------------------------------------

    def iam_DeletePolicy(self, call):
        arn = call.form.get("PolicyArn", "")
        if self.config["delete_conflicts"] and arn:
            entities = self.iam_side(call, "ListEntitiesForPolicy", {"PolicyArn": arn})
            if entities is not None and any(
                members(section_of(entities, tag)) for tag in ("PolicyGroups", "PolicyUsers", "PolicyRoles")
            ):
                self.note(call, "behaviour", "DeleteConflict", reason="policy is attached")
                return query_error("iam", "DeleteConflict", "Cannot delete a policy attached to entities.", 409)
            versions = self.iam_side(call, "ListPolicyVersions", {"PolicyArn": arn})
            if versions is not None and re.search(r"<IsDefaultVersion>\s*false\s*</IsDefaultVersion>", versions):
                self.note(call, "behaviour", "DeleteConflict", reason="policy has non-default versions")
                return query_error(
                    "iam",
                    "DeleteConflict",
                    "This policy has more than one version. Before you delete a policy, you must delete the "
                    "policy's versions. The default version is deleted with the policy.",
                    409,
                )
        return self.passthrough(call)

    def iam_DeleteRole(self, call):
        name = call.form.get("RoleName", "")
        if self.config["delete_conflicts"] and name:
            attached = self.iam_side(call, "ListAttachedRolePolicies", {"RoleName": name})
            if attached is not None and members(section_of(attached, "AttachedPolicies")):
                self.note(call, "behaviour", "DeleteConflict", reason="role has attached managed policies")
                return query_error("iam", "DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
            inline = self.iam_side(call, "ListRolePolicies", {"RoleName": name})
            if inline is not None and members(section_of(inline, "PolicyNames")):
                self.note(call, "behaviour", "DeleteConflict", reason="role has inline policies")
                return query_error("iam", "DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
        refused = self.detach_not_propagated(call, name)
        if refused:
            return refused
        resp = self.passthrough(call)
        if resp.status == 200:
            with self.lock:
                for arn in [a for a in self.roles if a.endswith("/" + name)]:
                    del self.roles[arn]
                self.role_detaches.pop(name, None)
        return resp

    def detach_not_propagated(self, call, name):
        """DeleteRole less than role_detach_propagation_ms after the role's last detach or inline delete: IAM
        has not caught up yet and still sees the policy."""
        ms = self.config["role_detach_propagation_ms"]
        with self.lock:
            last = self.role_detaches.get(name)
        if not ms or last is None or self.now() - last[0] >= ms / 1000.0:
            return None
        self.note(call, "behaviour", "DeleteConflict", reason="%s not propagated yet" % last[1])
        message = ("Cannot delete entity, must detach all policies first." if last[1] == "DetachRolePolicy"
                   else "Cannot delete entity, must delete policies first.")
        return query_error("iam", "DeleteConflict", message, 409)

    def iam_role_policy_removed(self, call):
        resp = self.passthrough(call)
        name = call.form.get("RoleName", "")
        if resp.status == 200 and name:
            with self.lock:
                self.role_detaches[name] = (self.now(), call.op)
        return resp

    iam_DetachRolePolicy = iam_role_policy_removed
    iam_DeleteRolePolicy = iam_role_policy_removed

    def iam_paged(self, call):
        """Real IAM pages these lists (Marker / IsTruncated, MaxItems up to 1000, 100 by default). moto pages
        only ListAttachedRolePolicies, and ListEntitiesForPolicy's MaxItems makes it drop entities without a
        Marker; so with iam_page_size the proxy asks moto for the whole list and pages the answer itself."""
        size = self.config["iam_page_size"]
        if not size:
            resp = self.passthrough(call)
            self.iam_rewrite_documents(call, resp)
            return resp
        sections = PAGED_LISTS[call.op]
        try:
            offset = page_offset(call.form.get("Marker"))
            max_items = int(call.form.get("MaxItems") or 100)
            if not 1 <= max_items <= 1000:
                raise ValueError
        except ValueError:
            self.note(call, "behaviour", "ValidationError", reason="bad Marker or MaxItems")
            return query_error("iam", "ValidationError", "Invalid Marker or MaxItems.", 400)
        form = {k: v for k, v in call.form.items() if k not in ("Marker", "MaxItems")}
        path = urllib.parse.urlsplit(call.path).path or "/"
        resp = self.forward(call.method, path, call.headers + [(REWRITTEN_HEADER, "1")],
                            urllib.parse.urlencode(form).encode())
        if resp.status != 200:
            return resp
        text = resp.body.decode("utf-8", "replace")
        items = []  # (section, member XML), in the order of the sections
        for tag in sections:
            items += [(tag, m) for m in re.findall(r"<member>.*?</member>", section_of(text, tag), flags=re.S)]
        page = items[offset:offset + min(size, max_items)]
        truncated = offset + len(page) < len(items)
        for tag in sections:
            inner = "".join(m for t, m in page if t == tag)
            text = re.sub(r"<%s/>|<%s>.*?</%s>" % (tag, tag, tag), lambda _: "<%s>%s</%s>" % (tag, inner, tag),
                          text, count=1, flags=re.S)
        text = re.sub(r"<IsTruncated>.*?</IsTruncated>|<Marker>.*?</Marker>", "", text, flags=re.S)
        tail = "<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false")
        if truncated:
            tail += "<Marker>%s</Marker>" % page_marker(offset + len(page))
        result = call.op + "Result"
        text = text.replace("</%s>" % result, tail + "</%s>" % result, 1)
        resp.body = text.encode("utf-8")
        if truncated:
            self.note(call, "rewrite", "IsTruncated=true", offset=offset, items=len(page), of=len(items))
        self.iam_rewrite_documents(call, resp)
        return resp

    iam_ListRolePolicies = iam_paged
    iam_ListAttachedRolePolicies = iam_paged
    iam_ListEntitiesForPolicy = iam_paged
    iam_ListPolicyVersions = iam_paged

    def iam_CreatePolicy(self, call):
        """`iam_unique_names`: IAM's managed policy names are unique in the account whatever their path and case
        (CreatePolicy: EntityAlreadyExists); moto keys policies by ARN and creates a second one at another
        path. The proxy looks for the name in every page of ListPolicies (Scope=Local) first."""
        name = call.form.get("PolicyName", "")
        if self.config["iam_unique_names"] and name:
            marker = None
            while True:
                params = {"Scope": "Local", "MaxItems": "100"}
                if marker:
                    params["Marker"] = marker
                page = self.iam_side(call, "ListPolicies", params)
                if page is None:
                    break
                names = re.findall(r"<PolicyName>([^<]+)</PolicyName>", page)
                if any(xml_unescape(n).lower() == name.lower() for n in names):
                    self.note(call, "behaviour", "EntityAlreadyExists", reason="policy name taken at another path")
                    return query_error(
                        "iam", "EntityAlreadyExists",
                        "A policy called %s already exists. Duplicate names are not allowed." % name, 409)
                m = re.search(r"<Marker>([^<]+)</Marker>", page)
                if not re.search(r"<IsTruncated>\s*true\s*</IsTruncated>", page) or not m:
                    break
                marker = xml_unescape(m.group(1))
        resp = self.passthrough(call)
        self.iam_rewrite_documents(call, resp)
        return resp

    def iam_CreateRole(self, call):
        resp = self.passthrough(call)
        if resp.status == 200:
            m = re.search(r"<Arn>([^<]+)</Arn>", resp.body.decode("utf-8", "replace"))
            if m:
                with self.lock:
                    self.roles[xml_unescape(m.group(1))] = self.now()
        self.iam_rewrite_documents(call, resp)
        return resp

    def iam_GetRole(self, call):
        """`role_last_used_region`: IAM's RoleLastUsed says where a role was last assumed (Lambda assumes a
        function's role in the function's region); moto never sets its Region. The role names listed get it."""
        resp = self.passthrough(call)
        self.iam_rewrite_documents(call, resp)
        region = (self.config["role_last_used_region"] or {}).get(call.form.get("RoleName", ""))
        if region is None or resp.status != 200:
            return resp
        used = "<RoleLastUsed><LastUsedDate>%s</LastUsedDate><Region>%s</Region></RoleLastUsed>" % (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), xml_escape(region))
        text = resp.body.decode("utf-8", "replace")
        text, n = re.subn(r"<RoleLastUsed\s*/>|<RoleLastUsed>.*?</RoleLastUsed>", used, text, count=1, flags=re.S)
        if n == 0:
            text = text.replace("</Role>", used + "</Role>", 1)
        resp.body = text.encode("utf-8")
        self.note(call, "rewrite", "RoleLastUsed.Region=%s" % region)
        return resp

    def iam_tag_read_gone(self, call):
        """`iam_gone_on_tag_read`: a role or policy deleted between ListRoles / ListPolicies and its tag read
        (a reaper running next to `ls`): ListRoleTags / ListPolicyTags answer NoSuchEntity for the names
        matching one of these regular expressions, as AWS does for a deleted entity."""
        name = call.form.get("RoleName") or call.form.get("PolicyArn", "").rsplit("/", 1)[-1]
        if not any(re.fullmatch(p, name) for p in self.config["iam_gone_on_tag_read"] or []):
            return self.passthrough(call)
        what = "role" if call.op == "ListRoleTags" else "policy"
        self.note(call, "behaviour", "NoSuchEntity", reason="%s %s deleted after it was listed" % (what, name))
        return query_error("iam", "NoSuchEntity", "The %s with name %s cannot be found." % (what, name), 404)

    iam_ListRoleTags = iam_tag_read_gone
    iam_ListPolicyTags = iam_tag_read_gone

    def iam_rewrite_documents(self, call, resp):
        """Real IAM answers policy documents URL-encoded (RFC 3986); moto answers some of them raw."""
        if not self.config["url_encode_documents"] or resp.status != 200:
            return
        text = resp.body.decode("utf-8", "replace")
        changed = []

        def encode(m):
            raw = xml_unescape(m.group(2))
            try:
                json.loads(raw)
            except ValueError:
                return m.group(0)  # already encoded (or not JSON): leave it
            changed.append(m.group(1))
            return "<%s>%s</%s>" % (m.group(1), urllib.parse.quote(raw, safe=""), m.group(1))

        text = re.sub(r"<(Document|AssumeRolePolicyDocument|PolicyDocument)>(.*?)</\1>", encode, text, flags=re.S)
        if changed:
            resp.body = text.encode("utf-8")
            self.note(call, "rewrite", "%s=url-encoded" % "+".join(sorted(set(changed))))

    # ---- Lambda --------------------------------------------------------------------------------------------

    def role_not_ready(self, call):
        ms = self.config["role_propagation_ms"]
        role = (call.json or {}).get("Role")
        if not ms or not role:
            return None
        with self.lock:
            created = self.roles.get(role)
        if created is not None and self.now() - created < ms / 1000.0:
            self.note(call, "behaviour", "InvalidParameterValueException", reason="role %s not propagated yet" % role)
            return lambda_error("InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda.", 400)
        return None

    def function_state(self, name):
        """Tracked state with expired periods resolved. Caller holds the lock."""
        st = self.functions.get(name)
        if st is None:
            return None
        now = self.now()
        if st.get("pending_until") and now >= st["pending_until"]:
            st["pending_until"] = None
        if st.get("update_until") and now >= st["update_until"]:
            st["update_until"] = None
        if not st.get("update_until") and st.get("failure"):
            st["failed"], st["failure"] = st["failure"], None
        if not st.get("pending_until") and st.get("create_failure"):
            st["create_failed"], st["create_failure"] = st["create_failure"], None
        return st

    def function_arn(self, call, name):
        with self.lock:
            st = self.functions.get(name) or {}
        return st.get("arn") or "arn:aws:lambda:%s:%s:function:%s" % (call.region, ACCOUNT, name)

    def over_limits(self, call):
        """`lambda_limits`: Lambda's 4 KB for the environment variables and 262,144,000 bytes unzipped."""
        if not self.config["lambda_limits"] or not call.json:
            return None
        variables = (call.json.get("Environment") or {}).get("Variables") or {}
        size = sum(len(k.encode()) + len(str(v).encode()) for k, v in variables.items())
        if call.op in ("CreateFunction", "UpdateFunctionConfiguration") and size > ENV_LIMIT:
            self.note(call, "behaviour", "InvalidParameterValueException", reason="environment is %d bytes" % size)
            return lambda_error(
                "InvalidParameterValueException",
                "Lambda was unable to configure your environment variables because the environment variables you "
                "have provided exceeded the 4KB limit. The environment variables size is calculated as the sum of "
                "all keys and values in bytes.",
                400,
            )
        zipped = (call.json.get("Code") or {}).get("ZipFile") if call.op == "CreateFunction" else call.json.get("ZipFile")
        if call.op in ("CreateFunction", "UpdateFunctionCode") and isinstance(zipped, str):
            unzipped = unzipped_size(zipped)
            if unzipped is not None and unzipped > UNZIPPED_LIMIT:
                self.note(call, "behaviour", "InvalidParameterValueException", reason="unzipped %d bytes" % unzipped)
                return lambda_error("InvalidParameterValueException",
                                    "Unzipped size must be smaller than %d bytes" % UNZIPPED_LIMIT, 400)
        return None

    def lambda_CreateFunction(self, call):
        refused = self.over_limits(call) or self.role_not_ready(call)
        if refused:
            return refused
        resp = self.passthrough(call)
        if resp.status not in (200, 201):
            return resp
        self.keep_package(((call.json or {}).get("Code") or {}).get("ZipFile"))
        body = resp.json() or {}
        name = body.get("FunctionName") or call.resource
        ms = self.config["function_pending_ms"]
        with self.lock:
            fnc = self.config.get("fail_next_create")
            failure = None
            if fnc and fnc.get("function") in (None, "*", name):
                failure = {
                    "reason": fnc.get("reason") or "The function could not be created (injected by the strict proxy).",
                    "reason_code": fnc.get("reason_code") or "InternalError",
                }
                self.config = dict(self.config, fail_next_create=None)
            self.functions[name] = {
                "arn": body.get("FunctionArn"),
                "pending_until": self.now() + ms / 1000.0 if ms else None,
                "update_until": None,
                "failure": None,
                "failed": None,
                "create_failure": failure,
                "create_failed": None,
            }
        if failure:
            self.note(call, "behaviour", "State=Failed (armed)", reason=failure["reason"],
                      reason_code=failure["reason_code"])
        with self.lock:
            self.forget_versions(name)
        kept = self.keep_logging_config(call, name, body)
        kept = self.revision(call, name, body, new=True) or kept
        if self.rewrite_function(call, name, body) or kept:
            resp.set_json(body)
        return resp

    def lambda_update(self, call):
        name = call.resource
        with self.lock:
            st = self.function_state(name)
            pending = bool(st and st.get("pending_until"))
            updating = bool(st and st.get("update_until"))
        if pending:
            self.note(call, "behaviour", "ResourceConflictException", reason="function is Pending")
            return lambda_error(
                "ResourceConflictException",
                "The operation cannot be performed at this time. The function is currently in the following state: Pending",
                409,
            )
        if updating:
            self.note(call, "behaviour", "ResourceConflictException", reason="an update is in progress")
            return lambda_error(
                "ResourceConflictException",
                "The operation cannot be performed at this time. An update is in progress for resource: %s"
                % self.function_arn(call, name),
                409,
            )
        refused = self.over_limits(call)
        if call.op == "UpdateFunctionConfiguration":
            refused = refused or self.role_not_ready(call)
        if refused:
            return refused
        resp = self.passthrough(call)
        if call.op == "PublishVersion" or resp.status not in (200, 201):
            return resp
        if call.op == "UpdateFunctionCode":
            self.keep_package((call.json or {}).get("ZipFile"))
        architectures = (call.json or {}).get("Architectures")
        if call.op == "UpdateFunctionCode" and self.config["code_update_architectures"] and architectures:
            # Lambda takes Architectures with the code; moto ignores it there. The proxy keeps it and reports it.
            with self.lock:
                st = self.functions.setdefault(name, {"arn": (resp.json() or {}).get("FunctionArn"), "pending_until": None})
                st["architectures"] = list(architectures)
            self.note(call, "behaviour", "Architectures=%s" % ",".join(architectures))
        ms = self.config["function_update_ms"]
        failure = None
        with self.lock:
            fnu = self.config.get("fail_next_update")
            if fnu and fnu.get("function") in (None, "*", name):
                failure = {
                    "reason": fnu.get("reason") or "The function could not be updated (injected by the strict proxy).",
                    "reason_code": fnu.get("reason_code") or "InternalError",
                }
                self.config = dict(self.config, fail_next_update=None)
            body = resp.json() or {}
            st = self.functions.setdefault(name, {"arn": body.get("FunctionArn"), "pending_until": None})
            st["update_until"] = self.now() + ms / 1000.0 if ms else None
            st["failure"] = failure
            st["failed"] = None
        if failure:
            self.note(call, "behaviour", "LastUpdateStatus=Failed (armed)", reason=failure["reason"],
                      reason_code=failure["reason_code"])
        kept = self.keep_logging_config(call, name, body)
        kept = self.revision(call, name, body, new=True) or kept
        if self.rewrite_function(call, name, body) or kept:
            resp.set_json(body)
        return resp

    lambda_UpdateFunctionConfiguration = lambda_update
    lambda_UpdateFunctionCode = lambda_update

    # ---------------------------------------------------------------------------------- versions and aliases

    ALIAS_NAME = re.compile(r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
    ALIAS_VERSION = re.compile(r"(\$LATEST|[0-9]+)")

    def lambda_PublishVersion(self, call):
        """`lambda_versions`: PublishVersion's CodeSha256 and RevisionId are preconditions on `$LATEST` (moto
        ignores both): a CodeSha256 that is not `$LATEST`'s answers 400 InvalidParameterValueException, a RevisionId
        that is not its current one 412 PreconditionFailedException. Nothing is published then."""
        if self.config["lambda_versions"] and call.json:
            sha, revision = call.json.get("CodeSha256"), call.json.get("RevisionId")
            if sha is not None or revision is not None:
                path = "/2015-03-31/functions/%s/configuration" % urllib.parse.quote(call.resource, safe="")
                read = self.lambda_side(call, path)
                if read.status != 200:
                    return read
                latest = read.json() or {}
                with self.lock:
                    latest["RevisionId"] = self.revisions.setdefault(call.resource, str(uuid.uuid4()))
                if sha is not None and sha != latest.get("CodeSha256"):
                    self.note(call, "behaviour", "InvalidParameterValueException", reason="CodeSha256 is not $LATEST's")
                    return lambda_error(
                        "InvalidParameterValueException",
                        "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with "
                        "the CodeSHA256 in $LATEST." % (sha, latest.get("CodeSha256")), 400)
                if revision is not None and revision != latest.get("RevisionId"):
                    self.note(call, "behaviour", "PreconditionFailedException", reason="RevisionId is not $LATEST's")
                    return lambda_error(
                        "PreconditionFailedException",
                        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
                        "API to retrieve the latest Revision Id", 412)
        return self.freeze_version(call, self.lambda_update(call))

    def revision(self, call, name, config, new):
        """`lambda_versions`: `$LATEST`'s RevisionId, which Lambda changes on every create and update and answers in
        every configuration (moto has none). `new`: this call changed the function. True when `config` changed."""
        if not self.config["lambda_versions"] or call.function_qualifier not in (None, "$LATEST"):
            return False
        with self.lock:
            if new or name not in self.revisions:
                self.revisions[name] = str(uuid.uuid4())
            revision = self.revisions[name]
        if config.get("RevisionId") == revision:
            return False
        config["RevisionId"] = revision
        return True

    def alias_invalid(self, call):
        """The first of Lambda's rules a CreateAlias/UpdateAlias breaks (the name: 1-128 of [a-zA-Z0-9-_], not only
        digits; FunctionVersion: `$LATEST` or a number; Description at most 256), or None."""
        body = call.json or {}
        name = body.get("Name") if call.op == "CreateAlias" else urllib.parse.unquote(call.path.split("?")[0].rstrip("/").split("/")[-1])
        if not isinstance(name, str) or not 1 <= len(name) <= 128 or not self.ALIAS_NAME.fullmatch(name):
            return ("Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression "
                    "pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)" % name)
        version = body.get("FunctionVersion")
        if (version is not None or call.op == "CreateAlias") and not (
                isinstance(version, str) and self.ALIAS_VERSION.fullmatch(version)):
            return ("Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular "
                    "expression pattern: (\\$LATEST|[0-9]+)" % version)
        description = body.get("Description")
        if isinstance(description, str) and len(description) > 256:
            return ("Value '%s' at 'description' failed to satisfy constraint: Member must have length less than or "
                    "equal to 256" % description)
        return None

    def lambda_alias_write(self, call):
        """`lambda_versions`: CreateAlias/UpdateAlias checked with Lambda's rules (moto takes any name, even `7`,
        which Lambda refuses: a number names a version)."""
        if self.config["lambda_versions"]:
            problem = self.alias_invalid(call)
            if problem is not None:
                self.note(call, "behaviour", "ValidationException", reason=problem)
                return lambda_error("ValidationException", "1 validation error detected: " + problem, 400)
            refused = self.alias_revision_refused(call)
            if refused is not None:
                return refused
        return self.alias_answer(call, self.passthrough(call), new=True)

    lambda_CreateAlias = lambda_alias_write
    lambda_UpdateAlias = lambda_alias_write

    def aliases_on(self, call, version):
        """The names of the function's aliases that route to `version` (asked of moto by a side request)."""
        path = "/2015-03-31/functions/%s/aliases" % urllib.parse.quote(call.resource, safe="")
        read = self.lambda_side(call, path)
        if read.status != 200:
            return []
        names = []
        for alias in (read.json() or {}).get("Aliases") or []:
            weights = ((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
            if alias.get("FunctionVersion") == version or version in weights:
                names.append(alias.get("Name"))
        return names

    def version_delete_refused(self, call):
        """`lambda_versions`: DeleteFunction with a Qualifier: `$LATEST` alone cannot be deleted (400), nor a version
        an alias routes to (409 ResourceConflictException); moto deletes both."""
        qualifier = call.function_qualifier
        if not self.config["lambda_versions"] or qualifier is None:
            return None
        if qualifier == "$LATEST":
            self.note(call, "behaviour", "InvalidParameterValueException", reason="$LATEST deleted alone")
            return lambda_error("InvalidParameterValueException",
                                "$LATEST version cannot be deleted without deleting the function.", 400)
        aliases = self.aliases_on(call, qualifier)
        if aliases:
            self.note(call, "behaviour", "ResourceConflictException", reason="aliases point to the version")
            return lambda_error("ResourceConflictException",
                                "Unable to delete version because the following aliases reference it: [%s]"
                                % ", ".join(aliases), 409)
        return None

    # ---- a version frozen at publish, version numbers, alias revisions (`lambda_versions`) ----------------------
    # moto 5.x (moto/awslambda/models.py): publish_version is a shallow copy.copy of $LATEST, so the version shares
    # $LATEST's `code` dict (UpdateFunctionCode rewrites its ZipFile and S3Key in place: the version's
    # Code.Location follows $LATEST); a new version is numbered len(versions) + 1, so after a version is deleted
    # the next publish reuses a number still in use (two "3"s; GetFunction Qualifier=3 answers the older one);
    # ListVersionsByFunction ignores MaxItems and Marker; LambdaAlias keeps the RevisionId it was created with and
    # UpdateAlias ignores the RevisionId it is sent ("not yet implemented"). Lambda: a version is immutable, its
    # number never reused, ListVersionsByFunction answers at most 50 a page, and UpdateAlias with a RevisionId
    # that is not the alias's current one is 412 PreconditionFailedException (UpdateAlias API reference).

    def reset_versions(self):
        self.version_records = {}  # (function, version) -> {"config", "code"} as answered at publish
        self.deleted_versions = {}  # function -> set of version numbers deleted (kept from moto: see delete_version)
        self.alias_revisions = {}  # (function, alias) -> RevisionId, changed on every CreateAlias/UpdateAlias

    def forget_versions(self, name):
        with self.lock:
            self.deleted_versions.pop(name, None)
            for key in [k for k in self.version_records if k[0] == name]:
                del self.version_records[key]
            for key in [k for k in self.alias_revisions if k[0] == name]:
                del self.alias_revisions[key]

    def version_arn(self, call, version):
        return "arn:aws:lambda:%s:%s:function:%s:%s" % (call.region or "us-east-1", ACCOUNT, call.resource, version)

    def version_gone(self, call):
        """`lambda_versions`: a call naming a version the proxy deleted (as Qualifier, or CreateAlias/UpdateAlias's
        FunctionVersion) is 404 ResourceNotFoundException, as for a version that never was."""
        if not self.config["lambda_versions"] or call.service != "lambda":
            return None
        named = [call.function_qualifier]
        if call.op in ("CreateAlias", "UpdateAlias"):
            named.append((call.json or {}).get("FunctionVersion"))
        with self.lock:
            deleted = self.deleted_versions.get(call.resource) or set()
            gone = next((v for v in named if isinstance(v, str) and v in deleted), None)
        if gone is None:
            return None
        self.note(call, "behaviour", "ResourceNotFoundException", reason="version %s was deleted" % gone)
        return lambda_error("ResourceNotFoundException", "Function not found: %s" % self.version_arn(call, gone), 404)

    def delete_version(self, call):
        """DeleteFunction Qualifier=N answered here: moto would number the next version len(versions) + 1 and so
        reuse a number in use, so the proxy keeps the version in moto and hides it from then on (version_gone,
        ListVersionsByFunction). A version that does not exist is moto's own 404; authorized first."""
        version = call.function_qualifier
        path = "/2015-03-31/functions/%s/configuration" % urllib.parse.quote(call.resource + ":" + version, safe=":")
        read = self.lambda_side(call, path)
        if read.status != 200:
            return read
        refused = self.authorize_only(call, path)
        if refused is not None:
            return refused
        with self.lock:
            self.deleted_versions.setdefault(call.resource, set()).add(version)
            self.version_records.pop((call.resource, version), None)
        self.note(call, "behaviour", "version deleted", version=version)
        return Response(204, [("x-amzn-RequestId", request_id())], b"", answered_by="proxy")

    def freeze_version(self, call, resp):
        """After a PublishVersion: the version's configuration as answered, and its Code as GetFunction answers it
        now, recorded once (a publish that found nothing changed answers the existing version: kept as it was)."""
        if not self.config["lambda_versions"] or resp.status not in (200, 201):
            return resp
        config = resp.json() or {}
        version = config.get("Version")
        if not isinstance(version, str) or not version.isdigit():
            return resp
        with self.lock:
            known = (call.resource, version) in self.version_records
        if known:
            return resp
        read = self.lambda_side(call, "/2015-03-31/functions/%s" % urllib.parse.quote(call.resource + ":" + version, safe=":"))
        code = (read.json() or {}).get("Code") if read.status == 200 else None
        with self.lock:
            self.version_records[(call.resource, version)] = {"config": json.loads(json.dumps(config)), "code": code}
        return resp

    def frozen_answer(self, call, resp):
        """GetFunction / GetFunctionConfiguration with a version or alias qualifier: the version's configuration
        and Code as recorded at publish (FunctionArn as asked), whatever moto shares with $LATEST since."""
        if not self.config["lambda_versions"] or resp.status != 200:
            return resp
        body = resp.json() or {}
        config = body.get("Configuration") if call.op == "GetFunction" else body
        if not isinstance(config, dict):
            return resp
        with self.lock:
            record = self.version_records.get((call.resource, str(config.get("Version"))))
        if record is None:
            return resp
        frozen = dict(json.loads(json.dumps(record["config"])), FunctionArn=config.get("FunctionArn"))
        changed = frozen != config
        if call.op == "GetFunction":
            body["Configuration"] = frozen
            if record["code"] is not None and body.get("Code") != record["code"]:
                body["Code"] = record["code"]
                changed = True
        else:
            body = frozen
        if changed:
            self.note(call, "rewrite", "version frozen at publish", version=config.get("Version"))
            resp.set_json(body)
        return resp

    def lambda_ListVersionsByFunction(self, call):
        """`lambda_versions`: the proxy's deleted versions left out, each version as frozen at publish, `$LATEST`
        with its RevisionId, in pages of at most 50 (or MaxItems, or lambda_versions_page_size) with NextMarker."""
        resp = self.passthrough(call)
        if not self.config["lambda_versions"] or resp.status != 200:
            return resp
        body = resp.json() or {}
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(call.path).query)
        try:
            offset = page_offset((query.get("Marker") or [None])[0])
            asked = int((query.get("MaxItems") or ["50"])[0])
        except ValueError:
            return lambda_error("InvalidParameterValueException", "Invalid Marker or MaxItems", 400)
        if not 1 <= asked <= 10000:
            return lambda_error("InvalidParameterValueException",
                                "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: "
                                "Member must have value between 1 and 10000" % asked, 400)
        size = min(asked, 50, self.config["lambda_versions_page_size"] or 50)
        with self.lock:
            deleted = set(self.deleted_versions.get(call.resource) or ())
            records = {k[1]: v for k, v in self.version_records.items() if k[0] == call.resource}
        versions = []
        for v in body.get("Versions") or []:
            number = str(v.get("Version"))
            if number in deleted:
                continue
            if number in records:
                v = dict(json.loads(json.dumps(records[number]["config"])), FunctionArn=v.get("FunctionArn"))
            elif number == "$LATEST":
                self.revision(call, call.resource, v, new=False)
            versions.append(v)
        body["Versions"] = versions[offset:offset + size]
        body.pop("NextMarker", None)
        if offset + size < len(versions):
            body["NextMarker"] = page_marker(offset + size)
        resp.set_json(body)
        return resp

    def alias_name(self, call):
        if call.op == "CreateAlias":
            return str((call.json or {}).get("Name"))
        return urllib.parse.unquote(call.path.split("?")[0].rstrip("/").split("/")[-1])

    def alias_revision_refused(self, call):
        """UpdateAlias with a RevisionId that is not the alias's current one: 412, nothing changed."""
        sent = (call.json or {}).get("RevisionId")
        if call.op != "UpdateAlias" or sent is None:
            return None
        path = "/2015-03-31/functions/%s/aliases/%s" % (urllib.parse.quote(call.resource, safe=""),
                                                         urllib.parse.quote(self.alias_name(call), safe=""))
        read = self.alias_answer(call, self.lambda_side(call, path))
        if read.status not in (200, 201):  # moto answers GetAlias with 201
            return read
        if sent != (read.json() or {}).get("RevisionId"):
            self.note(call, "behaviour", "PreconditionFailedException", reason="RevisionId is not the alias's")
            return lambda_error("PreconditionFailedException",
                                "The Revision Id provided does not match the latest Revision Id. Call the "
                                "GetFunction/GetAlias API to retrieve the latest Revision Id", 412)
        return None

    def alias_answer(self, call, resp, new=False):
        """An alias as Lambda answers it: a RevisionId that a CreateAlias/UpdateAlias changed (moto keeps its
        first). For GetAlias, CreateAlias, UpdateAlias (and their side reads) and each alias of ListAliases."""
        if not self.config["lambda_versions"] or resp.status not in (200, 201):
            return resp
        body = resp.json() or {}
        aliases = body.get("Aliases") if call.op == "ListAliases" else [body]
        changed = False
        with self.lock:
            for alias in aliases or []:
                key = (call.resource, alias.get("Name"))
                if new:
                    self.alias_revisions[key] = str(uuid.uuid4())
                revision = self.alias_revisions.setdefault(key, alias.get("RevisionId") or str(uuid.uuid4()))
                if alias.get("RevisionId") != revision:
                    alias["RevisionId"] = revision
                    changed = True
        if changed:
            resp.set_json(body)
        return resp

    def lambda_GetAlias(self, call):
        return self.alias_answer(call, self.passthrough(call))

    lambda_ListAliases = lambda_GetAlias

    def lambda_DeleteAlias(self, call):
        """`url_qualifiers`: an alias's URL config and policy go with it (a new alias of the same name starts
        with neither)."""
        resp = self.passthrough(call)
        if resp.status < 300:
            alias = self.alias_name(call)
            with self.lock:
                self.alias_revisions.pop((call.resource, alias), None)
                if self.config["url_qualifiers"]:
                    self.alias_urls.pop((call.region, call.resource, alias), None)
                    self.alias_policies.pop((call.region, call.resource, alias), None)
        return resp

    def lambda_get(self, call):
        resp = self.passthrough(call)
        name = call.resource
        if resp.status != 200:
            if resp.status == 404:
                with self.lock:
                    self.functions.pop(name, None)
            return resp
        if call.function_qualifier not in (None, "$LATEST"):
            return self.frozen_answer(call, resp)
        body = resp.json() or {}
        changed = False
        if call.op == "GetFunction" and self.config["function_tags_error"]:
            # A caller without lambda:ListTags: GetFunction leaves Tags out and says why in TagsError.
            body.pop("Tags", None)
            action = "lambda:ListTags"
            body["TagsError"] = {
                "ErrorCode": "AccessDeniedException",
                "Message": "User: arn:aws:iam::%s:user/testing is not authorized to perform: %s on resource: %s "
                           "because no identity-based policy allows the %s action"
                           % (ACCOUNT, action, self.function_arn(call, name), action),
            }
            self.note(call, "rewrite", "TagsError=AccessDeniedException")
            changed = True
        config = body.get("Configuration") if call.op == "GetFunction" else body
        if isinstance(config, dict) and self.rewrite_function(call, name, config):
            changed = True
        if isinstance(config, dict) and self.keep_logging_config(call, name, config):
            changed = True
        if isinstance(config, dict) and self.revision(call, name, config, new=False):
            changed = True
        if changed:
            resp.set_json(body)
        return resp

    lambda_GetFunction = lambda_get
    lambda_GetFunctionConfiguration = lambda_get

    def lambda_DeleteFunction(self, call):
        refused = self.version_delete_refused(call)
        if refused is not None:
            return refused
        if self.config["lambda_versions"] and (call.function_qualifier or "").isdigit():
            return self.delete_version(call)
        # `logs_late_write`: what the function's in-flight invocations need to log after it is gone.
        late = self.late_write_of(call) if call.function_qualifier in (None, "$LATEST") else None
        resp = self.passthrough(call)
        if resp.status in (200, 204) and call.function_qualifier in (None, "$LATEST"):
            self.forget_aliases_of(call.region, call.resource)
            with self.lock:
                self.functions.pop(call.resource, None)
                self.logging_configs.pop(call.resource, None)
                self.revisions.pop(call.resource, None)
                self.forget_versions(call.resource)
                if late:
                    self.late_writes[late["group"]] = late
        return resp

    def keep_logging_config(self, call, name, config):
        """`lambda_logging_config`: Lambda keeps a function's LoggingConfig (LogFormat, LogGroup, ...) from
        CreateFunction and UpdateFunctionConfiguration and reports it in every configuration it answers, with
        LogGroup `/aws/lambda/<name>` when none was set; moto drops it. True when `config` was changed."""
        if not self.config["lambda_logging_config"]:
            return False
        sent = (call.json or {}).get("LoggingConfig") if call.op in ("CreateFunction", "UpdateFunctionConfiguration") else None
        with self.lock:
            if call.op == "CreateFunction":
                self.logging_configs.pop(name, None)
            if isinstance(sent, dict):
                self.logging_configs[name] = dict(self.logging_configs.get(name) or {}, **sent)
            kept = dict(self.logging_configs.get(name) or {})
        logging = {"LogFormat": "Text", "LogGroup": "/aws/lambda/%s" % name}
        logging.update(kept)
        if config.get("LoggingConfig") == logging:
            return False
        config["LoggingConfig"] = logging
        if kept:
            self.note(call, "rewrite", "LoggingConfig", log_group=logging["LogGroup"])
        return True

    def rewrite_function(self, call, name, config):
        """Sets State / LastUpdateStatus in a function configuration as real Lambda would report them."""
        with self.lock:
            st = self.function_state(name)
            if st is None:
                return False
            if config.get("FunctionArn") and not st.get("arn"):
                st["arn"] = config["FunctionArn"]
            pending, updating, failed = st.get("pending_until"), st.get("update_until"), st.get("failed")
            create_failed, architectures = st.get("create_failed"), st.get("architectures")
        if architectures and config.get("Architectures") != architectures:
            config["Architectures"] = architectures
            if not (pending or updating or failed or create_failed):
                return True
        if create_failed and not pending:
            # A function whose creation failed stays Failed: updates pass, but repair nothing.
            config.update(State="Failed", StateReason=create_failed["reason"],
                          StateReasonCode=create_failed["reason_code"])
            if updating:
                for key in ("LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
                    config.pop(key, None)
                config.update(LastUpdateStatus="InProgress")
            else:
                config.update(LastUpdateStatus="Failed", LastUpdateStatusReason=create_failed["reason"],
                              LastUpdateStatusReasonCode=create_failed["reason_code"])
            self.note(call, "rewrite", "State=Failed", reason=create_failed["reason"])
            return True
        if pending:
            config.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating",
                          LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being created.",
                          LastUpdateStatusReasonCode="Creating")
            self.note(call, "rewrite", "State=Pending")
            return True
        if updating:
            for key in ("StateReason", "StateReasonCode"):
                config.pop(key, None)
            config.update(State="Active", LastUpdateStatus="InProgress",
                          LastUpdateStatusReason="The function is being created.",
                          LastUpdateStatusReasonCode="Creating")
            self.note(call, "rewrite", "LastUpdateStatus=InProgress")
            return True
        if failed:
            config.update(State="Active", LastUpdateStatus="Failed", LastUpdateStatusReason=failed["reason"],
                          LastUpdateStatusReasonCode=failed["reason_code"])
            self.note(call, "rewrite", "LastUpdateStatus=Failed", reason=failed["reason"])
            return True
        return False

    # ---- CloudWatch Logs -----------------------------------------------------------------------------------

    # ---------------------------------------------------------------------------------- Lambda Invoke

    # The stand-in for Lambda's Node.js runtime: one process per invocation (tests/support/lambda_runtime.cjs).
    RUNTIME_SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_runtime.cjs")
    # Invoke API reference, LogResult: "The last 4 KB of the execution log, which is base64-encoded."
    LOG_TAIL_BYTES = 4096
    # Lambda's limit on a function's init phase (loading the module), outside its timeout.
    INIT_LIMIT_SECS = 10

    def keep_package(self, zip_b64):
        """Keeps a deployment package that passed through (CreateFunction's Code.ZipFile, UpdateFunctionCode's
        ZipFile) by its CodeSha256, base64(SHA-256 of the zip), as Lambda and moto compute it. moto has no API
        that returns the bytes it stores: GetFunction's Code.Location names an S3 object that does not exist,
        and /moto-api/data.json fails once a function exists (it touches moto's Docker client)."""
        if not isinstance(zip_b64, str):
            return
        try:
            data = base64.b64decode(zip_b64)
        except ValueError:
            return
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        with self.lock:
            self.packages[sha] = data

    # Invoke API reference: 6 MB for a synchronous request's payload (RequestTooLargeException, 413) and for its
    # response (the function error Function.ResponseSizeTooLarge, with the limit Lambda's message names).
    INVOKE_PAYLOAD_LIMIT = 6291456
    INVOKE_RESPONSE_LIMIT = 6291556

    def lambda_Invoke(self, call):
        """`lambda_invoke_node`: Invoke runs the function's deployed package in the local Node.js, with the
        function's live configuration (read from moto with a side GetFunctionConfiguration: Handler, Runtime,
        Timeout, MemorySize, Environment, CodeSha256), and answers as Lambda does (Invoke API reference;
        https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html):
        - RequestResponse: 200 with the handler's result as JSON; a thrown error, a rejection, an init error, a
          timeout or an exit: 200 with `X-Amz-Function-Error: Unhandled` and the error document
          {"errorType", "errorMessage", "trace"} ("Lambda function errors in Node.js",
          https://docs.aws.amazon.com/lambda/latest/dg/nodejs-exceptions.html); `X-Amz-Executed-Version`;
          with `X-Amz-Log-Type: Tail`, `X-Amz-Log-Result` = base64 of the last 4 KB of the log (START, the
          handler's console lines, END, REPORT).
        - Event: 202 with no body, the function run in the background. DryRun: 204, nothing run.
        - A Pending function: 409 ResourceConflictException ("Lambda function states": Lambda does not invoke
          a function while it is Pending; https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html).
        - A payload that is not JSON: 400 InvalidRequestContentException. A RequestResponse payload over 6 MB:
          413 RequestTooLargeException; a response over 6 MB: the function error Function.ResponseSizeTooLarge.
        The handler's AWS SDK reaches the emulator through this proxy (AWS_ENDPOINT_URL) with temporary
        credentials of the function's execution role (AssumeRole), as Lambda runs it: moto's IAM enforcement
        checks its calls against the role's policies."""
        if not self.config["lambda_invoke_node"]:
            return self.passthrough(call)
        name = call.resource
        # Answered here, not by moto: authorized first (lambda:InvokeFunction on the function's, or its
        # version's, ARN), as AWS does before running anything.
        target = name + (":" + call.function_qualifier if call.function_qualifier else "")
        refused = self.authorize_only(call, "/2015-03-31/functions/%s/configuration" % urllib.parse.quote(target, safe=":"))
        if refused is not None:
            return refused
        with self.lock:
            st = self.function_state(name)
            pending = bool(st and st.get("pending_until"))
        if pending:
            self.note(call, "behaviour", "ResourceConflictException", reason="Invoke of a Pending function")
            return lambda_error(
                "ResourceConflictException",
                "The operation cannot be performed at this time. The function is currently in the following state: Pending",
                409,
            )
        kind = call.header("X-Amz-Invocation-Type") or "RequestResponse"
        if kind == "RequestResponse" and len(call.body or b"") > self.INVOKE_PAYLOAD_LIMIT:
            self.note(call, "behaviour", "RequestTooLargeException")
            return lambda_error("RequestTooLargeException",
                                "Request must be smaller than %d bytes for the InvokeFunction operation"
                                % self.INVOKE_PAYLOAD_LIMIT, 413)
        if kind not in ("RequestResponse", "Event", "DryRun"):
            return lambda_error("InvalidParameterValueException",
                                "1 validation error detected: Value '%s' at 'invocationType' failed to satisfy "
                                "constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
                                % kind, 400)
        path = "/2015-03-31/functions/%s/configuration" % urllib.parse.quote(name, safe="")
        headers = [(k, v) for k, v in call.headers if k.lower() in ("authorization", "x-amz-date", "host", "x-amz-security-token")]
        headers += [(SIDE_HEADER, "1"), ("User-Agent", "strict-proxy-side-request")]
        query = SIDE_QUERY + ("&Qualifier=%s" % urllib.parse.quote(call.function_qualifier) if call.function_qualifier else "")
        read = self.forward("GET", path + query, headers, b"")
        if read.status != 200:
            return read  # moto's own answer: ResourceNotFoundException for a missing function or version
        config = read.json() or {}
        try:
            event_text = call.body.decode("utf-8") if call.body else "{}"
            json.loads(event_text)
        except (UnicodeDecodeError, ValueError) as e:
            self.note(call, "behaviour", "InvalidRequestContentException")
            return lambda_error("InvalidRequestContentException",
                                "Could not parse request body into json: Could not parse payload into json: %s" % e, 400)
        rid = request_id()
        base_headers = [("x-amzn-RequestId", rid), ("X-Amz-Executed-Version", config.get("Version") or "$LATEST")]
        if kind == "DryRun":
            self.note(call, "behaviour", "Invoke DryRun")
            return Response(204, base_headers, b"", answered_by="proxy")
        with self.lock:
            package = self.packages.get(config.get("CodeSha256"))
        if package is None:
            self.note(call, "behaviour", "ServiceException", reason="package not seen by the proxy")
            return lambda_error("ServiceException",
                                "strict proxy: the deployment package of %s (CodeSha256 %s) did not pass through this "
                                "proxy, so it cannot run it" % (name, config.get("CodeSha256")), 500, "Service")
        if kind == "Event":
            threading.Thread(target=self.run_function, args=(call, config, package, event_text, rid),
                             daemon=True).start()
            return Response(202, base_headers, b"", answered_by="proxy")
        error, payload, log = self.run_function(call, config, package, event_text, rid)
        if len(payload) > self.INVOKE_RESPONSE_LIMIT:
            self.note(call, "behaviour", "Function.ResponseSizeTooLarge")
            error, payload = True, json.dumps({
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": "Response payload size exceeded maximum allowed payload size (%d bytes)."
                                % self.INVOKE_RESPONSE_LIMIT}).encode()
        headers = [("Content-Type", "application/json")] + base_headers
        if error:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        if (call.header("X-Amz-Log-Type") or "None") == "Tail":
            tail = log.encode("utf-8")[-self.LOG_TAIL_BYTES:]
            headers.append(("X-Amz-Log-Result", base64.b64encode(tail).decode()))
        return Response(200, headers, payload, answered_by="proxy")

    def execution_role_credentials(self, call, config):
        """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN of a session of the function's
        execution role (a side sts:AssumeRole to moto as the account's root user, session name
        `strict-proxy-invoke`), as Lambda gives the handler its role's credentials."""
        body = urllib.parse.urlencode({"Action": "AssumeRole", "Version": "2011-06-15",
                                       "RoleArn": config.get("Role") or "",
                                       "RoleSessionName": "strict-proxy-invoke"}).encode()
        headers = [("Content-Type", "application/x-www-form-urlencoded"), ("X-Amz-Date", "20240101T000000Z"),
                   ("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20240101/%s/sts/aws4_request, "
                                     "SignedHeaders=host, Signature=0" % call.region),
                   (SIDE_HEADER, "1"), ("User-Agent", "strict-proxy-side-request")]
        resp = self.forward("POST", "/", headers, body)
        text = resp.body.decode("utf-8", "replace")
        found = {tag: re.search(r"<%s>([^<]+)</%s>" % (tag, tag), text)
                 for tag in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
        if resp.status != 200 or not all(found.values()):
            raise RuntimeError("strict proxy: AssumeRole of %s failed: %s" % (config.get("Role"), text))
        return {"AWS_ACCESS_KEY_ID": found["AccessKeyId"].group(1),
                "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"].group(1),
                "AWS_SESSION_TOKEN": xml_unescape(found["SessionToken"].group(1))}

    def run_function(self, call, config, package, event_text, rid):
        """One invocation in a fresh Node.js process: -> (function error?, payload bytes, the log)."""
        name = config.get("FunctionName") or call.resource
        timeout = int(config.get("Timeout") or 3)
        memory = int(config.get("MemorySize") or 128)
        version = config.get("Version") or "$LATEST"
        log_group = ((config.get("LoggingConfig") or {}).get("LogGroup")) or "/aws/lambda/%s" % name
        stream = "%s/[%s]%s" % (time.strftime("%Y/%m/%d", time.gmtime()), version, uuid.uuid4().hex)
        runtime = config.get("Runtime") or ""
        # Lambda's defined runtime environment variables
        # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime);
        # the function's own variables cannot override the reserved ones. AWS_ENDPOINT_URL is the emulator's.
        env = {"AWS_ENDPOINT_URL": self.self_url or ""}
        env.update({k: str(v) for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()})
        env.update({
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "_HANDLER": config.get("Handler") or "",
            "AWS_REGION": call.region,
            "AWS_DEFAULT_REGION": call.region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_%s" % runtime,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "STRICT_PROXY_FUNCTION_ARN": config.get("FunctionArn") or "",
        })
        # The execution role's temporary credentials, as Lambda sets them: moto's IAM enforcement then checks
        # the handler's calls against the role's policies.
        env.update(self.execution_role_credentials(call, config))
        started = time.monotonic()
        error, payload, body_log, max_rss = False, b"null", "", None
        with tempfile.TemporaryDirectory(prefix="strict-proxy-invoke-") as tmp:
            root = os.path.join(tmp, "task")
            with zipfile.ZipFile(io.BytesIO(package)) as z:
                z.extractall(root)
            env["LAMBDA_TASK_ROOT"] = root
            result_file = os.path.join(tmp, "result.json")
            # The heap as Lambda's Node.js bootstrap sizes it from the memory setting.
            new_space = max(memory, 128) // 10
            argv = ["node", "--max-semi-space-size=%d" % max(new_space // 2, 1),
                    "--max-old-space-size=%d" % (max(memory, 128) - new_space), self.RUNTIME_SHIM, root,
                    config.get("Handler") or "", result_file, rid, str(timeout), runtime]
            proc = subprocess.Popen(argv, cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            # The shim ends the invocation at its timeout, counted from the end of init; a process that blocks
            # its event loop is killed once Lambda's 10 s init limit and the timeout have both passed.
            try:
                out, _ = proc.communicate(event_text.encode("utf-8"), timeout=self.INIT_LIMIT_SECS + timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                timed_out = True
            duration_ms = (time.monotonic() - started) * 1000
            body_log = out.decode("utf-8", "replace")
            outcome = None
            if not timed_out and os.path.exists(result_file):
                with open(result_file) as f:
                    outcome = json.load(f)
                timed_out = bool(outcome.get("timeout"))
            if timed_out:
                # What Lambda answers for a timeout (errorType Sandbox.Timedout, as LocalStack's runtime init
                # mirrors it and real answers show), and the line it logs.
                error = True
                message = "Task timed out after %.2f seconds" % timeout
                payload = json.dumps({"errorType": "Sandbox.Timedout",
                                      "errorMessage": "RequestId: %s Error: %s" % (rid, message)}).encode()
                body_log += "%s %s %s\n" % (iso_now(), rid, message)
            elif outcome is not None:
                max_rss = outcome.get("maxRssKb")
                if "error" in outcome:
                    error, payload = True, json.dumps(outcome["error"]).encode()
                else:
                    payload = json.dumps(outcome.get("payload")).encode()
            else:
                error = True
                payload = json.dumps({"errorType": "Runtime.ExitError",
                                      "errorMessage": "RequestId: %s Error: Runtime exited with error: exit status %d"
                                                      % (rid, proc.returncode)}).encode()
        if body_log and not body_log.endswith("\n"):
            body_log += "\n"
        report = "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\t" % (
            rid, duration_ms, int(duration_ms) + 1, memory)
        if max_rss:
            report += "Max Memory Used: %d MB\t" % max(1, int(max_rss) // 1024)
        log = "START RequestId: %s Version: %s\n%sEND RequestId: %s\n%s\n" % (rid, version, body_log, rid, report)
        self.note(call, "behaviour", "Invoke ran in Node.js", request_id=rid,
                  function_error="Unhandled" if error else None, timed_out=timed_out)
        return error, payload, log

    # ---------------------------------------------------------------------------------- function URLs, policies

    def lambda_side(self, call, path):
        """A Lambda GET the proxy makes itself, with the caller's credentials (not in the request record)."""
        headers = [(k, v) for k, v in call.headers if k.lower() in ("authorization", "x-amz-date", "host", "x-amz-security-token")]
        headers += [(SIDE_HEADER, "1"), ("User-Agent", "strict-proxy-side-request")]
        return self.forward("GET", path + SIDE_QUERY, headers, b"")

    def url_config_exists(self, call):
        """Whether the function has a URL config, asked of moto (a side request)."""
        path = "/2021-10-31/functions/%s/url" % urllib.parse.quote(call.resource, safe="")
        return self.lambda_side(call, path).status in (200, 201)

    def url_cors_problem(self, cors):
        """What AWS's validation says of a Cors object, or None."""
        if cors is None:
            return None
        if not isinstance(cors, dict):
            return "Value at 'cors' failed to satisfy constraint: Member must be a structure"
        methods = cors.get("AllowMethods") or []
        if len(methods) > 6:
            return "Value '%s' at 'cors.allowMethods' failed to satisfy constraint: Member must have length less " \
                   "than or equal to 6" % methods
        for m in methods:
            if m not in ("GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"):
                return "Value '[%s]' at 'cors.allowMethods' failed to satisfy constraint: Member must satisfy " \
                       "constraint: [Member must have length less than or equal to 6, Member must satisfy regular " \
                       "expression pattern: .*]" % m if len(m) > 6 else \
                       "Value '%s' at 'cors.allowMethods' failed to satisfy constraint: Member must satisfy enum " \
                       "value set: [GET, PUT, HEAD, POST, PATCH, DELETE, *]" % m
        origins = cors.get("AllowOrigins") or []
        if len(origins) > 100:
            return "Value at 'cors.allowOrigins' failed to satisfy constraint: Member must have length less than " \
                   "or equal to 100"
        for o in origins:
            if not 1 <= len(o) <= 253:
                return "Value '%s' at 'cors.allowOrigins' failed to satisfy constraint: Member must have length " \
                       "between 1 and 253" % o
        for key in ("AllowHeaders", "ExposeHeaders"):
            items = cors.get(key) or []
            if len(items) > 100 or any(len(h) > 1024 for h in items):
                return "Value at 'cors.%s' failed to satisfy constraint: Member must have length less than or " \
                       "equal to 100, each of at most 1024 characters" % (key[0].lower() + key[1:])
        age = cors.get("MaxAge")
        if age is not None and not (isinstance(age, int) and 0 <= age <= 86400):
            return "Value '%s' at 'cors.maxAge' failed to satisfy constraint: Member must have value between 0 " \
                   "and 86400" % (age,)
        return None

    def url_config_invalid(self, call):
        body = call.json or {}
        auth = body.get("AuthType")
        if call.op == "CreateFunctionUrlConfig" or auth is not None:
            if auth not in ("NONE", "AWS_IAM"):
                return "Value '%s' at 'authType' failed to satisfy constraint: Member must satisfy enum value " \
                       "set: [AWS_IAM, NONE]" % (auth,)
        mode = body.get("InvokeMode")
        if mode is not None and mode not in ("BUFFERED", "RESPONSE_STREAM"):
            return "Value '%s' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: " \
                   "[BUFFERED, RESPONSE_STREAM]" % (mode,)
        return self.url_cors_problem(body.get("Cors"))

    def url_answer(self, call, resp):
        """moto answers GetFunctionUrlConfig 201 and InvokeMode `Buffered`; AWS 200 and `BUFFERED`."""
        if resp.status == 201 and call.op != "CreateFunctionUrlConfig":
            resp.status = 200
            resp.reason = "OK"
        body = resp.json()
        if isinstance(body, dict) and isinstance(body.get("InvokeMode"), str):
            body["InvokeMode"] = body["InvokeMode"].upper()
            resp.set_json(body)
        return resp

    def lambda_url_config(self, call):
        """`url_config_conflict`: a second CreateFunctionUrlConfig answers 409 (moto replaces the config with
        a new URL). `url_config_validation`: AuthType, InvokeMode and Cors checked as AWS does (moto takes
        anything). `url_config_not_found`: Get/Update/Delete of a missing config answer 404 (moto's Delete
        succeeds)."""
        op = call.op
        if self.on_an_alias(call):
            return self.alias_url_config(call)
        if op in ("CreateFunctionUrlConfig", "UpdateFunctionUrlConfig") and self.config["url_config_validation"]:
            problem = self.url_config_invalid(call)
            if problem is not None:
                self.note(call, "behaviour", "ValidationException", reason=problem)
                return lambda_error("ValidationException", "1 validation error detected: " + problem, 400)
        if op == "CreateFunctionUrlConfig" and self.config["url_config_conflict"] and self.url_config_exists(call):
            self.note(call, "behaviour", "ResourceConflictException", reason="a URL config exists")
            return lambda_error(
                "ResourceConflictException",
                "Failed to create function url config for [functionArn = %s]. Error message:  FunctionUrlConfig "
                "exists for this Lambda function" % self.function_arn(call, call.resource),
                409,
            )
        if op in ("DeleteFunctionUrlConfig", "UpdateFunctionUrlConfig", "GetFunctionUrlConfig") \
                and self.config["url_config_not_found"] and not self.url_config_exists(call):
            self.note(call, "behaviour", "ResourceNotFoundException", reason="no URL config")
            return lambda_error(
                "ResourceNotFoundException",
                "The resource you requested does not exist.",
                404,
            )
        return self.url_answer(call, self.passthrough(call))

    lambda_CreateFunctionUrlConfig = lambda_url_config
    lambda_UpdateFunctionUrlConfig = lambda_url_config
    lambda_DeleteFunctionUrlConfig = lambda_url_config
    lambda_GetFunctionUrlConfig = lambda_url_config

    def policy_statements(self, call):
        """The function's policy statements as moto keeps them ([] when it has none)."""
        path = "/2015-03-31/functions/%s/policy" % urllib.parse.quote(call.resource, safe="")
        resp = self.lambda_side(call, path)
        if resp.status != 200:
            return []
        try:
            return json.loads((resp.json() or {}).get("Policy") or "{}").get("Statement") or []
        except ValueError:
            return []

    def policy_write_conflict(self, call):
        """`permission_write_conflict_ms`: Lambda's resource policies are eventually consistent; an AddPermission
        within N ms of the function's last AddPermission or RemovePermission answers 409
        ResourceConflictException (nothing is written), as AWS can right after a concurrent write."""
        window = self.config["permission_write_conflict_ms"] / 1000.0
        with self.lock:
            last = self.policy_writes.get(call.resource)
            if not window or last is None or self.now() - last >= window:
                return None
        self.note(call, "behaviour", "ResourceConflictException", reason="policy written %d ms ago"
                  % int((self.now() - last) * 1000))
        return lambda_error(
            "ResourceConflictException",
            "The operation cannot be performed at this time. An update is in progress for resource: %s"
            % self.function_arn(call, call.resource),
            409,
        )

    def policy_written(self, call, resp):
        if resp.status < 300:
            with self.lock:
                self.policy_writes[call.resource] = self.now()
        return resp

    def lambda_AddPermission(self, call):
        """`permission_sid_conflict`: AWS refuses a StatementId already in the policy (409), and the
        `FunctionUrlAuthType` parameter on any action but lambda:InvokeFunctionUrl (400); moto adds both."""
        busy = self.policy_write_conflict(call)
        if busy is not None:
            return busy
        if self.on_an_alias(call):
            return self.policy_written(call, self.alias_policy(call))
        return self.policy_written(call, self.add_permission(call))

    def add_permission(self, call):
        body = call.json or {}
        if self.config["permission_sid_conflict"]:
            sid = body.get("StatementId")
            if any(s.get("Sid") == sid for s in self.policy_statements(call)):
                self.note(call, "behaviour", "ResourceConflictException", reason="duplicate Sid %s" % sid)
                return lambda_error(
                    "ResourceConflictException",
                    "The statement id (%s) provided already exists. Please choose a new statement id, or remove "
                    "the existing statement." % sid,
                    409,
                )
            if body.get("FunctionUrlAuthType") is not None and body.get("Action") != "lambda:InvokeFunctionUrl":
                self.note(call, "behaviour", "InvalidParameterValueException", reason="FunctionUrlAuthType")
                return lambda_error(
                    "InvalidParameterValueException",
                    "FunctionUrlAuthType is only supported for lambda:InvokeFunctionUrl action",
                    400,
                )
        return self.passthrough(call)

    def lambda_RemovePermission(self, call):
        if self.on_an_alias(call):
            return self.policy_written(call, self.alias_policy(call))
        return self.policy_written(call, self.remove_permission(call))

    def remove_permission(self, call):
        """`permission_sid_conflict`: RemovePermission of a Sid that is not in the policy answers 404."""
        if self.config["permission_sid_conflict"]:
            sid = urllib.parse.unquote(urllib.parse.urlsplit(call.path).path.rstrip("/").rsplit("/", 1)[-1])
            if not any(s.get("Sid") == sid for s in self.policy_statements(call)):
                self.note(call, "behaviour", "ResourceNotFoundException", reason="no statement %s" % sid)
                return lambda_error(
                    "ResourceNotFoundException",
                    "Statement %s is not found in resource policy." % sid,
                    404,
                )
        return self.passthrough(call)

    def lambda_GetPolicy(self, call):
        """`policy_conditions`: AWS writes AddPermission's FunctionUrlAuthType and InvokedViaFunctionUrl as
        conditions (`Condition: {StringEquals: {lambda:FunctionUrlAuthType: NONE}}` and `{Bool:
        {lambda:InvokedViaFunctionUrl: "true"}}`); moto keeps them as raw keys of the statement."""
        if self.on_an_alias(call):
            return self.alias_policy(call)
        resp = self.passthrough(call)
        if resp.status != 200 or not self.config["policy_conditions"]:
            return resp
        body = resp.json() or {}
        try:
            document = json.loads(body.get("Policy") or "{}")
        except ValueError:
            return resp
        changed = False
        for statement in document.get("Statement") or []:
            auth = statement.pop("FunctionUrlAuthType", None)
            via = statement.pop("InvokedViaFunctionUrl", None)
            if auth is not None:
                statement.setdefault("Condition", {}).setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = auth
                changed = True
            if via is not None:
                value = "true" if via in (True, "true", "True") else "false"
                statement.setdefault("Condition", {}).setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = value
                changed = True
            if statement.get("Principal") == {"AWS": "*"}:
                statement["Principal"] = "*"
        if changed:
            body["Policy"] = json.dumps(document, separators=(",", ":"))
            resp.set_json(body)
            self.note(call, "rewrite", "Condition")
        return resp

    # ---- URLs and resource policies on an alias (`url_qualifiers`) --------------------------------------------

    URL_QUALIFIER = re.compile(r"^(\$LATEST|(?![0-9]+$)[a-zA-Z0-9_-]{1,128})$")

    def on_an_alias(self, call):
        """`url_qualifiers`: a URL or policy call whose Qualifier is not the function's own (`$LATEST`, none) is
        answered here: moto keeps one URL config per function whatever the Qualifier, and an alias's policy on
        the version it points to."""
        if not self.config["url_qualifiers"] or call.function_qualifier in (None, "$LATEST"):
            return False
        # A version's own policy (AddPermission with Qualifier=7) is moto's; a URL's qualifier is checked below.
        return "Url" in call.op or not call.function_qualifier.isdigit()

    def alias_exists(self, call, alias):
        """Whether the function has the alias (a side ListAliases to moto)."""
        path = "/2015-03-31/functions/%s/aliases" % urllib.parse.quote(call.resource, safe="")
        read = self.lambda_side(call, path)
        listed = (read.json() or {}).get("Aliases") or [] if read.status == 200 else []
        return any(a.get("Name") == alias for a in listed)

    def alias_refusal(self, call):
        """What Lambda answers before it looks at an alias's URL or policy: the caller's IAM (on the alias's ARN),
        the qualifier's pattern (a URL's: `$LATEST` or an alias, never a version number), the alias itself."""
        alias = call.function_qualifier
        refused = self.authorize_only(call, "/2015-03-31/functions/%s/configuration"
                                      % urllib.parse.quote("%s:%s" % (call.resource, alias), safe=":"))
        if refused is not None:
            return refused
        if "Url" in call.op and not self.URL_QUALIFIER.match(alias):
            problem = "Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular " \
                      "expression pattern: (^\\$LATEST$)|((?!^[0-9]+$)([a-zA-Z0-9-_]+))" % alias
            self.note(call, "behaviour", "ValidationException", reason=problem)
            return lambda_error("ValidationException", "1 validation error detected: " + problem, 400)
        if not self.alias_exists(call, alias):
            self.note(call, "behaviour", "ResourceNotFoundException", reason="no alias %s" % alias)
            return lambda_error("ResourceNotFoundException", "Function not found: %s:%s"
                                % (self.function_arn(call, call.resource), alias), 404)
        return None

    def alias_url_config(self, call):
        """An alias's URL config, kept here: Create (409 when there is one), Get, Update, Delete (404 when there is
        none), each checked as AWS checks it; a URL's address differs per qualifier."""
        refused = self.alias_refusal(call)
        if refused is not None:
            return refused
        alias, op = call.function_qualifier, call.op
        key = (call.region, call.resource, alias)
        if op in ("CreateFunctionUrlConfig", "UpdateFunctionUrlConfig") and self.config["url_config_validation"]:
            problem = self.url_config_invalid(call)
            if problem is not None:
                self.note(call, "behaviour", "ValidationException", reason=problem)
                return lambda_error("ValidationException", "1 validation error detected: " + problem, 400)
        body = call.json or {}
        with self.lock:
            config = self.alias_urls.get(key)
            if op == "CreateFunctionUrlConfig":
                if config is not None:
                    conflict = True
                else:
                    conflict = False
                    now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
                    config = {
                        "FunctionUrl": "https://%s.lambda-url.%s.on.aws/" % (uuid.uuid4().hex, call.region),
                        "FunctionArn": "%s:%s" % (self.function_arn(call, call.resource), alias),
                        "AuthType": body.get("AuthType"),
                        "InvokeMode": body.get("InvokeMode") or "BUFFERED",
                        "CreationTime": now,
                        "LastModifiedTime": now,
                    }
                    if body.get("Cors"):
                        config["Cors"] = body["Cors"]
                    self.alias_urls[key] = config
            elif config is not None and op == "UpdateFunctionUrlConfig":
                if body.get("AuthType"):
                    config["AuthType"] = body["AuthType"]
                if "Cors" in body:
                    config["Cors"] = body["Cors"]
                config["LastModifiedTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
            elif config is not None and op == "DeleteFunctionUrlConfig":
                self.alias_urls.pop(key, None)
            config = dict(config) if config is not None else None
        if op == "CreateFunctionUrlConfig" and conflict:
            self.note(call, "behaviour", "ResourceConflictException", reason="a URL config exists on %s" % alias)
            return lambda_error("ResourceConflictException",
                                "Failed to create function url config for [functionArn = %s:%s]. Error message:  "
                                "FunctionUrlConfig exists for this Lambda function"
                                % (self.function_arn(call, call.resource), alias), 409)
        if config is None:
            self.note(call, "behaviour", "ResourceNotFoundException", reason="no URL config on %s" % alias)
            return lambda_error("ResourceNotFoundException", "The resource you requested does not exist.", 404)
        self.note(call, "behaviour", "%s on alias %s" % (op, alias))
        if op == "DeleteFunctionUrlConfig":
            return Response(204, [("x-amzn-RequestId", request_id())], b"", answered_by="proxy")
        resp = self.ok_json(config)
        resp.set_header("Content-Type", "application/json")
        if op == "CreateFunctionUrlConfig":
            resp.status, resp.reason = 201, "Created"
        return resp

    def alias_policy(self, call):
        """An alias's resource policy, kept here, in AWS's shape (Condition blocks, Resource the alias's ARN):
        AddPermission (409 for a Sid it holds; FunctionUrlAuthType only on lambda:InvokeFunctionUrl), GetPolicy
        (404 when it has no statement), RemovePermission (404 for a Sid it does not hold)."""
        refused = self.alias_refusal(call)
        if refused is not None:
            return refused
        alias, op = call.function_qualifier, call.op
        key = (call.region, call.resource, alias)
        arn = "%s:%s" % (self.function_arn(call, call.resource), alias)
        if op == "GetPolicy":
            with self.lock:
                statements = list(self.alias_policies.get(key) or [])
            if not statements:
                return lambda_error("ResourceNotFoundException", "The resource you requested does not exist.", 404)
            document = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
            resp = self.ok_json({"Policy": json.dumps(document, separators=(",", ":")), "RevisionId": request_id()})
            resp.set_header("Content-Type", "application/json")
            return resp
        if op == "RemovePermission":
            sid = urllib.parse.unquote(urllib.parse.urlsplit(call.path).path.rstrip("/").rsplit("/", 1)[-1])
            with self.lock:
                held = self.alias_policies.get(key) or []
                kept = [st for st in held if st.get("Sid") != sid]
                found = len(kept) != len(held)
                self.alias_policies[key] = kept
            if not found:
                self.note(call, "behaviour", "ResourceNotFoundException", reason="no statement %s on %s" % (sid, alias))
                return lambda_error("ResourceNotFoundException", "Statement %s is not found in resource policy." % sid,
                                    404)
            return Response(204, [("x-amzn-RequestId", request_id())], b"", answered_by="proxy")
        body = call.json or {}
        sid, action = body.get("StatementId"), body.get("Action")
        if body.get("FunctionUrlAuthType") is not None and action != "lambda:InvokeFunctionUrl":
            return lambda_error("InvalidParameterValueException",
                                "FunctionUrlAuthType is only supported for lambda:InvokeFunctionUrl action", 400)
        statement = {"Sid": sid, "Effect": "Allow", "Principal": body.get("Principal"), "Action": action,
                     "Resource": arn}
        if statement["Principal"] != "*":
            statement["Principal"] = {"Service": body.get("Principal")} if "." in str(body.get("Principal")) \
                else {"AWS": body.get("Principal")}
        if body.get("FunctionUrlAuthType") is not None:
            statement["Condition"] = {"StringEquals": {"lambda:FunctionUrlAuthType": body["FunctionUrlAuthType"]}}
        if body.get("InvokedViaFunctionUrl") is not None:
            statement["Condition"] = {"Bool": {"lambda:InvokedViaFunctionUrl":
                                               "true" if body["InvokedViaFunctionUrl"] else "false"}}
        with self.lock:
            held = self.alias_policies.setdefault(key, [])
            taken = any(st.get("Sid") == sid for st in held)
            if not taken:
                held.append(statement)
        if taken:
            self.note(call, "behaviour", "ResourceConflictException", reason="duplicate Sid %s on %s" % (sid, alias))
            return lambda_error("ResourceConflictException",
                                "The statement id (%s) provided already exists. Please choose a new statement id, or "
                                "remove the existing statement." % sid, 409)
        resp = self.ok_json({"Statement": json.dumps(statement, separators=(",", ":"))})
        resp.set_header("Content-Type", "application/json")
        resp.status, resp.reason = 201, "Created"
        return resp

    def url_target(self, call, url):
        """(function, qualifier or None, URL config) of the URL `url`: an alias's kept here, else the function's own
        as moto holds it (side reads: ListFunctions, then GetFunctionUrlConfig of each)."""
        want = url.rstrip("/")
        with self.lock:
            for (region, name, alias), config in self.alias_urls.items():
                if region == call.region and config["FunctionUrl"].rstrip("/") == want:
                    return name, alias, dict(config)
        resp = self.lambda_side(call, "/2015-03-31/functions/")
        for function in ((resp.json() or {}).get("Functions") or []) if resp.status == 200 else []:
            name = function.get("FunctionName") or ""
            read = self.lambda_side(call, "/2021-10-31/functions/%s/url" % urllib.parse.quote(name, safe=""))
            config = read.json() or {} if read.status in (200, 201) else {}
            if (config.get("FunctionUrl") or "").rstrip("/") == want:
                return name, None, config
        return None

    @staticmethod
    def grants(statements, action, key, value):
        """Whether one statement allows anyone `action` under the condition `key` = `value` (AWS's Condition
        block, or moto's raw key)."""
        short = key.split(":", 1)[1]
        raw = short[0].upper() + short[1:]
        for st in statements:
            principal = st.get("Principal")
            anyone = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
            actions = st.get("Action") if isinstance(st.get("Action"), list) else [st.get("Action")]
            conditions = [v.get(key) for v in (st.get("Condition") or {}).values() if isinstance(v, dict)]
            conditions.append(st.get(raw))
            held = any(str(c).lower() == value.lower() for c in conditions if c is not None)
            if st.get("Effect") == "Allow" and anyone and action in actions and held:
                return True
        return False

    def serve_url(self, request):
        """POST /__strict/url {"url", "path", "method", "body"}: the stand-in for a request to a function URL
        (moto cannot serve one), answered as {"statusCode", "headers", "body"}. As Lambda does since October
        2025, a URL with AuthType NONE answers 403 {"Message":"Forbidden"} unless the policy ON ITS QUALIFIER
        holds both statements (lambda:InvokeFunctionUrl with lambda:FunctionUrlAuthType NONE, and
        lambda:InvokeFunction with lambda:InvokedViaFunctionUrl true); an AWS_IAM URL answers 403 to this
        unsigned request. The code run is the qualifier's (an alias's version), in the local Node.js."""
        url = str(request.get("url") or "")
        m = re.match(r"^https://([a-z0-9]+)\.lambda-url\.([a-z0-9-]+)\.on\.aws/?$", url)
        if not m:
            return {"statusCode": 400, "body": "not a function URL: %s" % url}
        auth = "AWS4-HMAC-SHA256 Credential=testing/20240101/%s/lambda/aws4_request, SignedHeaders=host, " \
               "Signature=0" % m.group(2)
        call = Call("GET", "/", [("Authorization", auth), ("X-Amz-Date", "20240101T000000Z")], b"")
        found = self.url_target(call, url)
        if found is None:
            return {"statusCode": 404, "body": "no function URL %s" % url}
        name, alias, config = found
        call.resource = name
        forbidden = {"statusCode": 403, "headers": {"content-type": "application/json"},
                     "body": json.dumps({"Message": "Forbidden"})}
        if config.get("AuthType") != "NONE":
            return forbidden
        if alias is None:
            statements = self.policy_statements(call)
        else:
            with self.lock:
                statements = list(self.alias_policies.get((call.region, name, alias)) or [])
        if not (self.grants(statements, "lambda:InvokeFunctionUrl", "lambda:FunctionUrlAuthType", "NONE")
                and self.grants(statements, "lambda:InvokeFunction", "lambda:InvokedViaFunctionUrl", "true")):
            return forbidden
        path = "/2015-03-31/functions/%s/configuration" % urllib.parse.quote(name, safe="")
        headers = list(call.headers) + [(SIDE_HEADER, "1"), ("User-Agent", "strict-proxy-side-request")]
        qualifier = "" if alias is None else "&Qualifier=%s" % urllib.parse.quote(alias)
        read = self.forward("GET", path + SIDE_QUERY + qualifier, headers, b"")
        if read.status != 200:
            return {"statusCode": 502, "body": "the URL's function is not readable: %s" % read.status}
        function = read.json() or {}
        with self.lock:
            package = self.packages.get(function.get("CodeSha256"))
        if package is None:
            return {"statusCode": 502, "body": "the package did not pass through this proxy"}
        raw = str(request.get("path") or "/")
        split = urllib.parse.urlsplit(raw)
        method = str(request.get("method") or "GET")
        query = {k: ",".join(v) for k, v in urllib.parse.parse_qs(split.query).items()}
        url_id = m.group(1)
        event = {"version": "2.0", "routeKey": "$default", "rawPath": split.path or "/",
                 "rawQueryString": split.query, "headers": {"host": "%s.lambda-url.%s.on.aws" % (url_id, m.group(2))},
                 "requestContext": {"accountId": "anonymous", "apiId": url_id, "domainName": url[8:].rstrip("/"),
                                    "domainPrefix": url_id, "http": {"method": method, "path": split.path or "/",
                                                                     "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                                                                     "userAgent": "strict-proxy"},
                                    "requestId": request_id(), "routeKey": "$default", "stage": "$default",
                                    "timeEpoch": int(time.time() * 1000)},
                 "isBase64Encoded": False}
        if query:
            event["queryStringParameters"] = query
        if request.get("body") is not None:
            event["body"] = str(request["body"])
        error, payload, _ = self.run_function(call, function, package, json.dumps(event), request_id())
        if error:
            return {"statusCode": 502, "body": json.dumps({"Message": "Internal Server Error"})}
        try:
            answer = json.loads(payload.decode("utf-8") or "null")
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "statusCode" in answer:
            return {"statusCode": answer.get("statusCode"), "headers": answer.get("headers") or {},
                    "body": answer.get("body"), "version": function.get("Version")}
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps(answer), "version": function.get("Version")}

    def forget_aliases_of(self, region, name):
        with self.lock:
            for held in (self.alias_urls, self.alias_policies):
                for key in [k for k in held if k[:2] == (region, name)]:
                    held.pop(key)

    # ---- Lambda's concurrency pool ---------------------------------------------------------------------------

    def authorize_only(self, call, path):
        """A request the proxy answers itself is authorized first, as AWS does: moto's IAM enforcement
        (tests/support/moto_iam.py) checks the operation named in AUTHORIZE_HEADER, sent on `path` (a harmless read
        of the same service). None when allowed, else moto's refusal."""
        headers = [(k, v) for k, v in call.headers if k.lower() in ("authorization", "x-amz-date", "host", "x-amz-security-token")]
        headers += [(AUTHORIZE_HEADER, call.op), ("User-Agent", "strict-proxy-side-request")]
        resp = self.forward("GET", path + SIDE_QUERY, headers, b"")
        return resp if resp.status in (401, 403) or error_code(resp) in ("AccessDenied", "AccessDeniedException") else None

    def reservations(self, call):
        """{function: reserved concurrency, or None} of every function moto holds in the caller's region (side
        reads: ListFunctions, then GetFunctionConcurrency of each)."""
        names, marker = [], None
        while True:
            path = "/2015-03-31/functions/" + ("?Marker=%s&" % urllib.parse.quote(marker) if marker else "")
            resp = self.lambda_side(call, path.rstrip("&"))
            body = resp.json() or {} if resp.status == 200 else {}
            names += [f.get("FunctionName") for f in body.get("Functions") or [] if f.get("FunctionName")]
            marker = body.get("NextMarker")
            if not marker:
                break
        reserved = {}
        for name in names:
            resp = self.lambda_side(call, "/2019-09-30/functions/%s/concurrency" % urllib.parse.quote(name, safe=""))
            n = (resp.json() or {}).get("ReservedConcurrentExecutions") if resp.status == 200 else None
            reserved[name] = n if isinstance(n, int) else None
        return reserved

    def concurrency_minimum(self):
        """AWS keeps at least 100 unreserved, or the whole limit of an account whose limit is smaller."""
        return min(100, self.config["lambda_account_concurrency"])

    def lambda_GetAccountSettings(self, call):
        """`lambda_account_concurrency`: GetAccountSettings answers the pool (moto: 404), with the unreserved
        part computed from the reservations moto holds."""
        total = self.config["lambda_account_concurrency"]
        if total is None:
            return self.passthrough(call)
        refused = self.authorize_only(call, "/2015-03-31/functions/")
        if refused is not None:
            return refused
        functions = self.reservations(call)
        reserved = sum(n for n in functions.values() if n is not None)
        self.note(call, "behaviour", "GetAccountSettings", limit=total, reserved=reserved)
        body = {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": total,
                "UnreservedConcurrentExecutions": total - reserved,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(functions)},
        }
        return Response(200, [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id())],
                        json.dumps(body).encode(), answered_by="proxy")

    def lambda_PutFunctionConcurrency(self, call):
        """`lambda_account_concurrency`: a reservation that would leave less than the minimum unreserved is
        refused as AWS refuses it (moto takes any)."""
        total = self.config["lambda_account_concurrency"]
        wanted = (call.json or {}).get("ReservedConcurrentExecutions")
        if total is not None and isinstance(wanted, int):
            others = sum(n for name, n in self.reservations(call).items() if name != call.resource and n is not None)
            minimum = self.concurrency_minimum()
            if total - others - wanted < minimum:
                self.note(call, "behaviour", "InvalidParameterValueException",
                          reason="unreserved would be %d, minimum %d" % (total - others - wanted, minimum))
                return lambda_error(
                    "InvalidParameterValueException",
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    "UnreservedConcurrentExecution below its minimum value of [%d]." % minimum,
                    400,
                )
        return self.passthrough(call)

    # ---- Resource Groups Tagging API ------------------------------------------------------------------------

    # AWS's resource types for what stackctl makes; moto names the log group's `logs:loggroup`.
    TAGGING_TYPES = {"dynamodb", "dynamodb:table", "lambda", "lambda:function", "logs", "logs:log-group"}

    def tagging_GetResources(self, call):
        """`tagging_resource_types`: AWS spells the log group's type `logs:log-group` and refuses a type it does
        not have (moto's `logs:loggroup`); moto matches only its own spelling, so a client sending AWS's finds no
        log group on plain moto. `tagging_stale_ms`: AWS keeps answering a deleted table, function or log group
        for minutes; the proxy keeps answering one it listed before it was deleted, for that long."""
        request = dict(call.json or {})
        types = request.get("ResourceTypeFilters") or []
        body = call.body
        if self.config["tagging_resource_types"] and types:
            unknown = [t for t in types if t not in self.TAGGING_TYPES and t.split(":")[0] in ("dynamodb", "lambda", "logs")]
            if unknown:
                self.note(call, "behaviour", "InvalidParameterException", reason="resource type %s" % unknown[0])
                return tagging_error("InvalidParameterException", "Unsupported resource type: %s" % unknown[0])
            request["ResourceTypeFilters"] = ["logs:loggroup" if t == "logs:log-group" else t for t in types]
            body = json.dumps(request).encode()
        rewritten = [(REWRITTEN_HEADER, "1")] if body != call.body else []
        resp = self.forward(call.method, call.path, call.headers + rewritten, body)
        answer = resp.json() if resp.status == 200 else None
        if answer is None:
            return resp
        listed = answer.get("ResourceTagMappingList") or []
        with self.lock:
            for mapping in listed:
                key = tagged_key(mapping.get("ResourceARN", ""))
                if key:
                    self.tagged_seen[key] = mapping
                    self.tagged_deleted.pop(key, None)
            window = self.config["tagging_stale_ms"] / 1000.0
            shown = {m.get("ResourceARN") for m in listed}
            stale = [m for key, m in self.tagged_seen.items()
                     if key in self.tagged_deleted and self.now() - self.tagged_deleted[key] < window
                     and m.get("ResourceARN") not in shown and tags_match(m.get("Tags"), request.get("TagFilters"))
                     and (not types or any(t == key[0] or t.startswith(key[0] + ":") for t in types))]
        if stale and not request.get("PaginationToken"):
            answer["ResourceTagMappingList"] = listed + stale
            resp.set_json(answer)
            self.note(call, "behaviour", "stale", arns=[m["ResourceARN"] for m in stale])
        return resp

    def logs_PutRetentionPolicy(self, call):
        """`logs_retention_values`: CloudWatch takes only its listed retention periods; moto takes any number."""
        days = (call.json or {}).get("retentionInDays")
        if self.config["logs_retention_values"] and days not in RETENTION_DAYS:
            self.note(call, "behaviour", "InvalidParameterException", reason="retentionInDays %r" % (days,))
            return logs_error(
                "InvalidParameterException",
                "1 validation error detected: Value '%s' at 'retentionInDays' failed to satisfy constraint: Member "
                "must satisfy enum value set: [%s]" % (days, ", ".join(str(d) for d in RETENTION_DAYS)),
            )
        return self.passthrough(call)

    # ---- Cognito user pools -------------------------------------------------------------------------------

    COGNITO_PAGES = {"ListUserPools": ("MaxResults", "maxResults", True), "ListUserPoolClients": ("MaxResults", "maxResults", False),
                     "ListUsers": ("Limit", "limit", False)}

    def cognito_page(self, call):
        """`cognito_page_limits`: ListUserPools requires MaxResults, 1 to 60; ListUserPoolClients' MaxResults and
        ListUsers' Limit, when given, are at most 60. AWS answers InvalidParameterException "1 validation error
        detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or
        equal to 1" (aws-sdk-js-v3#2335, aws-cli#3866; ListUsers: boto3#1356). moto takes any value or none."""
        key, field, required = self.COGNITO_PAGES[call.op]
        value = (call.json or {}).get(key)
        if self.config["cognito_page_limits"]:
            problem = None
            if value is None and required:
                value, problem = 0, "greater than or equal to 1"
            elif value is not None and value < 1:
                problem = "greater than or equal to 1"
            elif value is not None and value > 60:
                problem = "less than or equal to 60"
            if problem:
                self.note(call, "behaviour", "InvalidParameterException", reason="%s=%s" % (key, value))
                return cognito_error(
                    "InvalidParameterException",
                    "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have "
                    "value %s" % (value, field, problem))
        return self.passthrough(call)

    cognito_ListUserPools = cognito_page
    cognito_ListUserPoolClients = cognito_page
    cognito_ListUsers = cognito_page

    def cognito_AdminInitiateAuth(self, call):
        """`cognito_client_flows`: ADMIN_USER_PASSWORD_AUTH (or ADMIN_NO_SRP_AUTH) only on a client whose
        ExplicitAuthFlows allow it (ALLOW_ADMIN_USER_PASSWORD_AUTH, or the legacy ADMIN_NO_SRP_AUTH); AWS answers
        InvalidParameterException "Auth flow not enabled for this client". moto never looks at the flows."""
        j = call.json or {}
        if self.config["cognito_client_flows"] and j.get("AuthFlow") in ("ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"):
            resp = self.side_request(call, json.dumps({"UserPoolId": j.get("UserPoolId"), "ClientId": j.get("ClientId")}).encode(),
                                     [("Content-Type", "application/x-amz-json-1.1"),
                                      ("X-Amz-Target", "AWSCognitoIdentityProviderService.DescribeUserPoolClient")])
            if resp.status == 200:
                flows = (resp.json().get("UserPoolClient") or {}).get("ExplicitAuthFlows") or []
                if "ALLOW_ADMIN_USER_PASSWORD_AUTH" not in flows and "ADMIN_NO_SRP_AUTH" not in flows:
                    self.note(call, "behaviour", "InvalidParameterException", reason="flow not enabled")
                    return cognito_error("InvalidParameterException", "Auth flow not enabled for this client")
        return self.passthrough(call)

    def cognito_tags(self, call):
        """`cognito_tag_rules`: a pool's tags (UserPoolTags on CreateUserPool, Tags on TagResource): at most 50,
        keys 1-128 and values 0-256 characters of [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@], keys not starting `aws:`
        (https://docs.aws.amazon.com/cognito/latest/developerguide/tagging.html, the API's TagKeysType and
        TagValueType). AWS answers InvalidParameterException; moto stores anything."""
        j = call.json or {}
        tags = j.get("UserPoolTags") if call.op == "CreateUserPool" else j.get("Tags")
        if self.config["cognito_tag_rules"] and isinstance(tags, dict):
            allowed = re.compile(r"^[\w\s.:/=+\-@]*$")
            bad = None
            if len(tags) > 50:
                bad = "more than 50 tags"
            for k, v in tags.items():
                if not (1 <= len(k) <= 128) or not allowed.match(k) or k.lower().startswith("aws:"):
                    bad = bad or "tag key %r" % k
                elif len(v) > 256 or not allowed.match(v):
                    bad = bad or "tag value %r" % v
            if bad:
                self.note(call, "behaviour", "InvalidParameterException", reason=bad)
                return cognito_error("InvalidParameterException", "1 validation error detected: %s" % bad)
        return self.passthrough(call)

    cognito_CreateUserPool = cognito_tags
    cognito_TagResource = cognito_tags

    def logs_tags(self, call):
        """`logs_tag_arn_star`: the tagging calls take the log group ARN without the `:*` that DescribeLogGroups'
        `arn` carries (its `logGroupArn` has none); AWS refuses the starred one, moto tags that string."""
        arn = (call.json or {}).get("resourceArn") or ""
        if self.config["logs_tag_arn_star"] and arn.endswith(":*"):
            self.note(call, "behaviour", "InvalidParameterException", reason="resourceArn ends with :*")
            return logs_error(
                "InvalidParameterException",
                "1 validation error detected: Value '%s' at 'resourceArn' failed to satisfy constraint: Member must "
                "satisfy regular expression pattern: [\\w+=/:,.@-]*" % arn,
            )
        return self.passthrough(call)

    logs_TagResource = logs_tags
    logs_UntagResource = logs_tags
    logs_ListTagsForResource = logs_tags

    def logs_FilterLogEvents(self, call):
        """`logs_interleaved`: AWS answers the events of every stream in one order (timestamp, then ingestion);
        moto sorts across streams only when the client sends the deprecated `interleaved: true`, and otherwise
        answers stream by stream. `logs_page_size`: at most N events a page (with nextToken), so that a client
        that reads only the first page is caught; moto's default page is 10,000 events. A smaller `limit` the
        client sent wins."""
        size = self.config["logs_page_size"]
        interleave = self.config["logs_interleaved"]
        if not (size or interleave) or call.json is None:
            return self.passthrough(call)
        request = dict(call.json)
        if interleave and "interleaved" not in request:
            request["interleaved"] = True
        if size:
            sent = request.get("limit")
            request["limit"] = min(sent, size) if isinstance(sent, int) and not isinstance(sent, bool) and sent > 0 else size
        resp = self.forward(call.method, call.path, call.headers + [(REWRITTEN_HEADER, "1")], json.dumps(request).encode())
        if size and resp.status == 200 and (resp.json() or {}).get("nextToken"):
            self.note(call, "rewrite", "limit=%d" % request["limit"], events=len((resp.json() or {}).get("events") or []))
        return resp

    def logs_side(self, call, op, body):
        """A CloudWatch Logs call the proxy makes itself (the caller's Logs credentials): (status, JSON)."""
        resp = self.side_request(call, json.dumps(body).encode(), [
            ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "Logs_20140328." + op)])
        return resp.status, resp.json() or {}

    def log_group_exists(self, call, name):
        status, body = self.logs_side(call, "DescribeLogGroups", {"logGroupNamePrefix": name})
        return status == 200 and any(g.get("logGroupName") == name for g in body.get("logGroups") or [])

    def logs_CreateLogGroup(self, call):
        """`logs_deletion_protection`: CreateLogGroup takes `deletionProtectionEnabled`; moto ignores it."""
        resp = self.passthrough(call)
        if self.config["logs_deletion_protection"] and resp.status == 200 and (call.json or {}).get("deletionProtectionEnabled"):
            with self.lock:
                self.protected_groups.add(call.resource)
        return resp

    def logs_PutLogGroupDeletionProtection(self, call):
        """`logs_deletion_protection`: the proxy keeps each group's flag (moto has no such operation)."""
        if not self.config["logs_deletion_protection"]:
            return self.passthrough(call)
        name = call.resource
        if not self.log_group_exists(call, name):
            return logs_error("ResourceNotFoundException", "The specified log group does not exist.")
        with self.lock:
            if (call.json or {}).get("deletionProtectionEnabled"):
                self.protected_groups.add(name)
            else:
                self.protected_groups.discard(name)
        self.note(call, "behaviour", "deletionProtectionEnabled=%s" % bool((call.json or {}).get("deletionProtectionEnabled")))
        return Response(200, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id())], b"",
                        answered_by="proxy")

    def logs_DescribeLogGroups(self, call):
        """`logs_deletion_protection`: every group says whether deletion protection is on."""
        resp = self.passthrough(call)
        body = resp.json() if resp.status == 200 and self.config["logs_deletion_protection"] else None
        if body is None:
            return resp
        with self.lock:
            for group in body.get("logGroups") or []:
                group["deletionProtectionEnabled"] = group.get("logGroupName") in self.protected_groups
        resp.set_json(body)
        return resp

    def logs_DeleteLogGroup(self, call):
        """`logs_deletion_protection`: a protected group is refused with ValidationException.
        `logs_delete_aborted`: the next N deletes answer OperationAbortedException ("try again").
        `logs_late_write`: see late_write."""
        name = call.resource
        with self.lock:
            protected = self.config["logs_deletion_protection"] and name in self.protected_groups
            aborted = not protected and self.config["logs_delete_aborted"] > 0
            if aborted:
                self.config = dict(self.config, logs_delete_aborted=self.config["logs_delete_aborted"] - 1)
        if protected:
            self.note(call, "behaviour", "ValidationException", reason="deletion protection is on")
            return logs_error("ValidationException",
                              "Cannot delete log group with deletion protection enabled. Disable deletion protection first.")
        if aborted:
            self.note(call, "behaviour", "OperationAbortedException")
            return logs_error("OperationAbortedException",
                              "A conflicting operation is currently in progress against this resource. Please try again.")
        resp = self.passthrough(call)
        if resp.status == 200:
            self.late_write(call, name)
        return resp

    def late_write_of(self, call):
        """`logs_late_write`, at DeleteFunction: the group the function logs to, its role and how long an
        invocation still in flight may write (its timeout), read from moto before the function goes."""
        if not self.config["logs_late_write"]:
            return None
        name = call.resource
        resp = self.lambda_side(call, "/2015-03-31/functions/%s/configuration" % urllib.parse.quote(name, safe=""))
        config = resp.json() if resp.status == 200 else None
        if not config:
            return None
        with self.lock:
            group = (self.logging_configs.get(name) or {}).get("LogGroup") or "/aws/lambda/%s" % name
        return {"group": group, "function": name, "role": config.get("Role") or "",
                "until": self.now() + float(config.get("Timeout") or 3)}

    def role_exists(self, call, role_arn):
        """GetRole asked of moto with the caller's credentials, scoped to IAM."""
        headers = [(k, v) for k, v in call.headers if k.lower() in ("x-amz-date", "host", "x-amz-security-token")]
        auth = re.sub(r"(Credential=[^/,\s]+/\d+/[^/]+/)[^/]+(/aws4_request)", r"\1iam\2", call.header("Authorization"))
        headers += [("Authorization", auth), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                    (SIDE_HEADER, "1"), ("User-Agent", "strict-proxy-side-request")]
        form = {"Action": "GetRole", "RoleName": role_arn.rsplit("/", 1)[-1], "Version": "2010-05-08"}
        return self.forward("POST", "/" + SIDE_QUERY, headers, urllib.parse.urlencode(form).encode()).status == 200

    def late_write(self, call, name):
        """`logs_late_write`: an invocation still running when its function was deleted flushes its logs when it
        ends, within the function's timeout; Lambda then creates the group again (no tags, retention never expire)
        if the function's role still exists (the proxy does not evaluate the role's policies: it assumes the role
        may logs:CreateLogGroup, as AWSLambdaBasicExecutionRole allows on *). Modelled as one flush, landing right
        after the first DeleteLogGroup of that group within the timeout."""
        with self.lock:
            late = self.late_writes.pop(name, None)
        if not late or not self.config["logs_late_write"] or self.now() >= late["until"]:
            return
        if not late["role"] or not self.role_exists(call, late["role"]):
            self.note(call, "behaviour", "no late write", reason="the role of %s is gone" % late["function"])
            return
        status, _ = self.logs_side(call, "CreateLogGroup", {"logGroupName": name})
        # moto keeps a deleted group's tags and gives them back to a group made again under its name; Lambda's
        # group has none.
        arn = "arn:aws:logs:%s:%s:log-group:%s" % (call.region, ACCOUNT, name)
        _, tags = self.logs_side(call, "ListTagsForResource", {"resourceArn": arn})
        if tags.get("tags"):
            self.logs_side(call, "UntagResource", {"resourceArn": arn, "tagKeys": sorted(tags["tags"])})
        if status == 200:
            self.note(call, "behaviour", "late write", reason="an invocation of %s still in flight recreated the group"
                      % late["function"])

    # ---- control -------------------------------------------------------------------------------------------

    def state_snapshot(self):
        now = self.now()

        def left(t):
            return max(0, int((t - now) * 1000)) if t else None

        with self.lock:
            return {
                "tables": {
                    n: {"creating_ms_left": left(s.get("creating_until")), "updating_ms_left": left(s.get("updating_until")),
                        "deleting_ms_left": left(s.get("deleting_until")), "not_found_once": s.get("not_found_once")}
                    for n, s in self.tables.items()
                },
                "functions": {
                    n: {"pending_ms_left": left(s.get("pending_until")), "update_ms_left": left(s.get("update_until")),
                        "failure_armed": s.get("failure"), "failed": s.get("failed"),
                        "create_failure_armed": s.get("create_failure"), "create_failed": s.get("create_failed"),
                        "architectures": s.get("architectures")}
                    for n, s in self.functions.items()
                },
                "roles": {a: int((now - t) * 1000) for a, t in self.roles.items()},
                "role_detaches": {n: {"op": op, "ms_ago": int((now - t) * 1000)} for n, (t, op) in self.role_detaches.items()},
                "protected_log_groups": sorted(self.protected_groups),
                "late_writes": {g: {"function": w["function"], "ms_left": left(w["until"])} for g, w in self.late_writes.items()},
                "logging_configs": dict(self.logging_configs),
                "backups": self.backups_snapshot(),
            }


# CloudWatch Logs' retention periods (PutRetentionPolicy's enum); "never expire" is DeleteRetentionPolicy.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

ENV_LIMIT = 4096
UNZIPPED_LIMIT = 262144000


def unzipped_size(base64_zip):
    """The total uncompressed size of the entries of a base64 zip, from its central directory; None if unreadable."""
    import base64
    import io
    import zipfile
    try:
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(base64_zip))) as z:
            return sum(info.file_size for info in z.infolist())
    except (ValueError, zipfile.BadZipFile):
        return None


def error_code(resp):
    code = resp.header("X-Amzn-ErrorType")
    if not code:
        data = resp.json()
        if data:
            code = data.get("__type") or data.get("code") or ""
        else:
            m = re.search(rb"<Code>([^<]+)</Code>", resp.body)
            code = m.group(1).decode() if m else ""
    return code.split(":")[0].split("#")[-1]


def error_message(resp):
    data = resp.json()
    if data:
        return data.get("message") or data.get("Message")
    m = re.search(rb"<Message>([^<]*)</Message>", resp.body)
    return m.group(1).decode() if m else None


# The lists iam_page_size pages, and the XML elements that hold their items (ListEntitiesForPolicy pages its
# three lists as one).
PAGED_LISTS = {
    "ListRolePolicies": ("PolicyNames",),
    "ListAttachedRolePolicies": ("AttachedPolicies",),
    "ListEntitiesForPolicy": ("PolicyGroups", "PolicyUsers", "PolicyRoles"),
    "ListPolicyVersions": ("Versions",),
}
MARKER_PREFIX = "strict-proxy-page-"


def page_marker(offset):
    return MARKER_PREFIX + str(offset)


def page_offset(marker):
    """The offset a Marker the proxy handed out stands for (ValueError for any other Marker)."""
    if not marker:
        return 0
    if not marker.startswith(MARKER_PREFIX):
        raise ValueError(marker)
    offset = int(marker[len(MARKER_PREFIX):])
    if offset < 0:
        raise ValueError(marker)
    return offset


def section_of(xml, tag):
    m = re.search(r"<%s>(.*?)</%s>" % (tag, tag), xml, flags=re.S)
    return m.group(1) if m else ""


def members(section):
    return re.findall(r"<member>", section)


def update_table_no_change(request, table):
    """AWS's ValidationException message when an UpdateTable request would change nothing, else None."""
    current_billing = (table.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    throughput_same = None
    for key, value in request.items():
        if key in ("TableName", "AttributeDefinitions"):
            continue
        if key == "BillingMode":
            if value != current_billing:
                return None
        elif key == "ProvisionedThroughput":
            cur = table.get("ProvisionedThroughput") or {}
            pair = (cur.get("ReadCapacityUnits"), cur.get("WriteCapacityUnits"))
            if (value or {}).get("ReadCapacityUnits") != pair[0] or (value or {}).get("WriteCapacityUnits") != pair[1]:
                return None
            throughput_same = pair
        elif key == "DeletionProtectionEnabled":
            if bool(value) != bool(table.get("DeletionProtectionEnabled", False)):
                return None
        elif key == "StreamSpecification":
            cur = table.get("StreamSpecification") or {"StreamEnabled": False}
            enabled = bool((value or {}).get("StreamEnabled"))
            if enabled != bool(cur.get("StreamEnabled")):
                return None
            if enabled and value.get("StreamViewType") != cur.get("StreamViewType"):
                return None
        elif key == "TableClass":
            if value != ((table.get("TableClassSummary") or {}).get("TableClass") or "STANDARD"):
                return None
        elif key == "OnDemandThroughput":
            if value != table.get("OnDemandThroughput"):
                return None
        elif key in ("GlobalSecondaryIndexUpdates", "ReplicaUpdates"):
            if value:
                return None
        elif value not in (None, [], {}):
            return None  # something the proxy does not model: assume it changes the table
    if throughput_same is not None:
        r, w = throughput_same
        return (
            "The provisioned throughput for the table will not change. The requested value equals the current value. "
            "Current ReadCapacityUnits provisioned for the table: %s. Requested ReadCapacityUnits: %s. "
            "Current WriteCapacityUnits provisioned for the table: %s. Requested WriteCapacityUnits: %s. "
            "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits." % (r, r, w, w)
        )
    return "Nothing to update"


# --------------------------------------------------------------------------------------------------------------
# HTTP server


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "strict-proxy"
    sys_version = ""
    proxy = None  # set on the class by main()
    verbose = False

    def do_any(self):
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        path = self.path
        if path.startswith("/__strict/") or path == "/__strict":
            return self.control(path, body)
        # Only the proxy marks its own requests (see PROXY_HEADERS): a client cannot claim the marks.
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in PROXY_HEADERS]
        if path.startswith("/moto-api"):
            return self.send(self.proxy.forward(self.command, path, headers, body))
        call = Call(self.command, path, headers, body)
        try:
            resp, delay = self.proxy.handle(call)
        except (OSError, http.client.HTTPException) as e:
            self.log_message("upstream error for %s %s: %s", call.service, call.op, e)
            resp, delay = service_error(call, "InternalFailure" if call.service != "iam" else "ServiceFailure",
                                        "strict proxy: upstream failed: %s" % e, 502, "Receiver"), 0
        if resp is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if delay:
            time.sleep(delay)
        self.send(resp)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_any

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, resp):
        self.send_response_only(resp.status, resp.reason)
        has_date = False
        for name, value in resp.headers:
            if name.lower() == "date":
                has_date = True
            if name.lower() == "server":
                continue
            self.send_header(name, value)
        if not has_date:
            self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)
        self.wfile.flush()

    def send_json(self, status, value):
        self.send(Response(status, [("Content-Type", "application/json")], json.dumps(value, indent=1).encode(), answered_by="proxy"))

    def control(self, path, body):
        proxy = self.proxy
        route = urllib.parse.urlsplit(path).path.rstrip("/")
        if route == "/__strict/config" and self.command == "GET":
            return self.send_json(200, proxy.config)
        if route == "/__strict/config" and self.command in ("POST", "PUT", "PATCH"):
            try:
                update = json.loads(body.decode("utf-8") or "{}")
                with proxy.lock:
                    proxy.config = validate(update, proxy.config)
            except (ValueError, ConfigError) as e:
                return self.send_json(400, {"error": str(e)})
            return self.send_json(200, proxy.config)
        if route == "/__strict/log" and self.command == "GET":
            with proxy.lock:
                return self.send_json(200, list(proxy.log))
        if route == "/__strict/log" and self.command == "DELETE":
            with proxy.lock:
                proxy.log = []
            return self.send_json(200, [])
        if route == "/__strict/requests" and self.command == "GET":
            with proxy.lock:
                return self.send_json(200, list(proxy.requests))
        if route == "/__strict/state" and self.command == "GET":
            return self.send_json(200, proxy.state_snapshot())
        if route == "/__strict/reset" and self.command == "POST":
            proxy.reset()
            return self.send_json(200, {"reset": True})
        if route == "/__strict/clock" and self.command == "GET":
            return self.send_json(200, proxy.clock_snapshot())
        if route == "/__strict/clock" and self.command == "POST":
            try:
                update = json.loads(body.decode("utf-8") or "{}")
                if not isinstance(update, dict) or set(update) - {"advance_ms", "frozen"}:
                    raise ConfigError("clock takes {\"advance_ms\": N, \"frozen\": true|false}")
                advance = update.get("advance_ms", 0)
                if not isinstance(advance, int) or isinstance(advance, bool) or advance < 0:
                    raise ConfigError("advance_ms must be a non-negative integer, not %r" % (advance,))
                frozen = update.get("frozen")
                if frozen is not None and not isinstance(frozen, bool):
                    raise ConfigError("frozen must be true or false, not %r" % (frozen,))
            except (ValueError, ConfigError) as e:
                return self.send_json(400, {"error": str(e)})
            return self.send_json(200, proxy.set_clock(advance, frozen))
        if route == "/__strict/url" and self.command == "POST":
            try:
                request = json.loads(body.decode("utf-8") or "{}")
            except ValueError as e:
                return self.send_json(400, {"error": str(e)})
            return self.send_json(200, proxy.serve_url(request if isinstance(request, dict) else {}))
        if route == "/__strict/health":
            return self.send_json(200, {"ok": True})
        return self.send_json(404, {"error": "unknown control path %s %s" % (self.command, route)})

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("strict-proxy: %s\n" % (fmt % args))

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def watch_parent(pid):
    while True:
        time.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="moto_server URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--config", help="JSON file with config keys (see docs/strict-emulation.md)")
    parser.add_argument("--seed", type=int, help="seed for the fault draws (overrides the config's seed)")
    parser.add_argument("--ready-file", help="written with the port once listening")
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    config = dict(DEFAULTS)
    try:
        if args.config:
            with open(args.config) as f:
                config = validate(json.load(f), config)
        if args.seed is not None:
            config = validate({"seed": args.seed}, config)
    except (OSError, ValueError, ConfigError) as e:
        parser.error("config: %s" % e)

    Handler.proxy = Proxy(args.upstream, config)
    Handler.verbose = args.verbose
    server = Server((args.host, args.port), Handler)
    port = server.server_address[1]
    Handler.proxy.self_url = "http://%s:%d" % ("127.0.0.1" if args.host in ("", "0.0.0.0") else args.host, port)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.ready_file)
    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()
    sys.stderr.write("strict-proxy: listening on %s:%d -> %s (seed %s)\n" % (args.host, port, args.upstream, config["seed"]))
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
