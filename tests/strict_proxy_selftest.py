#!/usr/bin/env python3
"""Self-test of tests/support/strict_proxy.py against a real moto_server, with boto3 (installed with moto).

    .venv/bin/python tests/strict_proxy_selftest.py [-v]

Starts one moto_server and one proxy per test class on free ports; needs nothing else.
STACKCTL_STRICT_PROXY=<path> tests another copy of the proxy (e.g. a mutated one; see scripts/mutations/proxy.toml).

Each test names the documented behaviour it checks and fails when that behaviour is removed from the proxy;
scripts/mutations/proxy.toml records the removal that shows it.
"""

import base64
import http.server
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROXY = os.environ.get("STACKCTL_STRICT_PROXY") or os.path.join(REPO, "tests", "support", "strict_proxy.py")
MOTO = os.environ.get("STACKCTL_MOTO_SERVER", os.path.join(REPO, ".venv", "bin", "moto_server"))
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}, separators=(",", ":"))
ENCODED_DOC = "%7B%22Version%22%3A"  # how every URL-encoded document above starts
SIGNED = {service: "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/%s/aws4_request, SignedHeaders=host, Signature=x"
          % service for service in ("iam", "logs")}


def _zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.js", "exports.handler = async () => 1;")
    return buf.getvalue()


ZIP = _zip()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("%s did not answer" % url)


class Stack:
    """moto + proxy."""

    def __init__(self, config, seed=1, upstream=None):
        """moto + proxy; with `upstream` (a URL), only a proxy in front of that server."""
        self.dir = tempfile.TemporaryDirectory()
        self.recording = os.path.join(self.dir.name, "recording.jsonl")
        self.moto = None
        if upstream:
            self.moto_url = upstream
        else:
            port = free_port()
            env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="false", MOTO_ENABLE_RECORDING="True",
                       MOTO_RECORDER_FILEPATH=self.recording)
            self.moto = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.moto_url = "http://127.0.0.1:%d" % port
            wait_http(self.moto_url + "/moto-api/")
        cfg = os.path.join(self.dir.name, "config.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        ready = os.path.join(self.dir.name, "port")
        # A copy of the proxy run from elsewhere (scripts/mutate.py) imports its sibling modules from here.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (os.path.join(REPO, "tests", "support"), os.environ.get("PYTHONPATH")) if p))
        self.proxy = subprocess.Popen([sys.executable, PROXY, "--upstream", self.moto_url, "--port", "0",
                                       "--config", cfg, "--seed", str(seed), "--ready-file", ready],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.time() + 30
        while not os.path.exists(ready):
            if time.time() > deadline or self.proxy.poll() is not None:
                raise RuntimeError("proxy did not start")
            time.sleep(0.05)
        with open(ready) as f:
            self.url = "http://127.0.0.1:%s" % f.read().strip()

    def client(self, service, attempts=1, direct=False):
        return boto3.client(service, endpoint_url=self.moto_url if direct else self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"mode": "standard", "total_max_attempts": attempts}))

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def log(self):
        return self.control("GET", "/__strict/log")[1]

    def set(self, **config):
        status, body = self.control("POST", "/__strict/config", config)
        assert status == 200, body
        return body

    def clock(self, **body):
        """POST /__strict/clock: advance_ms and/or frozen. Answers {"frozen", "now_ms"}."""
        status, out = self.control("POST", "/__strict/clock", body)
        assert status == 200, out
        return out

    def advance(self, ms):
        """Moves the proxy's (frozen) clock `ms` forward: a timed state ends exactly when the test says."""
        return self.clock(advance_ms=ms)

    def raw_json(self, service, target, body):
        """A SigV4-signed JSON 1.1 request the SDK would not send (it validates parameters first): (status, body)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        request = AWSRequest(method="POST", url=self.url + "/", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
        SigV4Auth(Credentials("testing", "testing"), service, "us-east-1").add_auth(request)
        req = urllib.request.Request(self.url + "/", data=request.body, method="POST", headers=dict(request.headers))
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def last_request(self, op, resource=None):
        """The last client request for `op` (and `resource`) in /__strict/requests."""
        found = [r for r in self.control("GET", "/__strict/requests")[1]
                 if r["op"] == op and (resource is None or r["resource"] == resource)]
        assert found, "no %s request recorded" % op
        return found[-1]

    def iam_raw(self, direct=False, **params):
        """An IAM query request sent by hand (the proxy only reads the credential scope): the raw XML answer."""
        body = urllib.parse.urlencode(dict(params, Version="2010-05-08")).encode()
        req = urllib.request.Request((self.moto_url if direct else self.url) + "/", data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Authorization": SIGNED["iam"]})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read().decode()

    def logs_raw(self, op, body):
        """A CloudWatch Logs JSON request sent by hand: (status, content type, parsed JSON answer)."""
        req = urllib.request.Request(self.url + "/", data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328." + op,
            "Authorization": SIGNED["logs"]})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers.get("Content-Type"), json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), json.loads(e.read())

    def close(self):
        for p in (self.proxy, self.moto):
            if p is not None:
                p.terminate()
                p.wait()
        self.dir.cleanup()


class CannedUpstream:
    """A stand-in for moto that answers every request with one fixed body (for answers moto never gives)."""

    def __init__(self, body, content_type="text/xml"):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def code(err):
    return err.response["Error"]["Code"], err.response["Error"].get("Message"), err.response["ResponseMetadata"]["HTTPStatusCode"]


class DynamoDB(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"table_creating_ms": 1500, "describe_not_found_after_create": True, "table_updating_ms": 1500,
                       "table_deleting_ms": 1500, "no_change_update_table": True, "deletion_protection": True,
                       "tags_not_found_while_creating": True})
        # Timed states end when a test advances the clock, never on their own: no window to race on a busy machine.
        cls.s.clock(frozen=True)
        cls.ddb = cls.s.client("dynamodb")
        cls.moto = cls.s.client("dynamodb", direct=True)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def create(self, name, client=None, **extra):
        return (client or self.ddb).create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                                                 AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                                                 KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}], **extra)

    def untracked(self, name, **extra):
        """A table created in moto behind the proxy's back: ACTIVE at once, so UpdateTable goes straight to the
        no-change check."""
        self.create(name, client=self.moto, **extra)

    def assert_no_change(self, name, **update):
        with self.assertRaises(ClientError) as e:
            self.ddb.update_table(TableName=name, **update)
        self.assertEqual(code(e.exception)[0::2], ("ValidationException", 400))
        self.assertEqual(self.s.last_request("UpdateTable", name)["answered_by"], "proxy")

    def assert_forwarded(self, name, **update):
        self.ddb.update_table(TableName=name, **update)
        self.assertEqual(self.s.last_request("UpdateTable", name)["answered_by"], "upstream")
        return self.moto.describe_table(TableName=name)["Table"]

    def test_no_change_deletion_protection(self):
        self.untracked("nc-protect")
        self.assert_no_change("nc-protect", DeletionProtectionEnabled=False)
        self.assertTrue(self.assert_forwarded("nc-protect", DeletionProtectionEnabled=True)["DeletionProtectionEnabled"])

    def test_no_change_streams(self):
        stream = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        self.untracked("nc-stream", StreamSpecification=stream)
        self.assert_no_change("nc-stream", StreamSpecification=stream)
        self.assertNotIn("StreamSpecification", self.assert_forwarded("nc-stream", StreamSpecification={"StreamEnabled": False}))

    def test_no_change_table_class(self):
        self.untracked("nc-class")  # moto reports no TableClassSummary: STANDARD
        self.assert_no_change("nc-class", TableClass="STANDARD")
        self.assert_forwarded("nc-class", TableClass="STANDARD_INFREQUENT_ACCESS")

    def test_no_change_gsi_updates(self):
        self.untracked("nc-gsi", GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
                                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}])
        self.assert_no_change("nc-gsi", GlobalSecondaryIndexUpdates=[])
        table = self.assert_forwarded("nc-gsi", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "gsi"}}])
        self.assertFalse(table.get("GlobalSecondaryIndexes"))

    def test_reset_forgets_tracked_tables(self):
        self.create("forgotten")
        self.assertIn("forgotten", self.s.control("GET", "/__strict/state")[1]["tables"])
        self.assertEqual(self.s.control("POST", "/__strict/reset"), (200, {"reset": True}))
        self.assertEqual(self.s.control("GET", "/__strict/state")[1]["tables"], {})
        # Neither the once-only ResourceNotFound nor CREATING is left over.
        self.assertEqual(self.ddb.describe_table(TableName="forgotten")["Table"]["TableStatus"], "ACTIVE")

    def test_lifecycle(self):
        self.assertEqual(self.create("life")["TableDescription"]["TableStatus"], "CREATING")
        with self.assertRaises(ClientError) as e:
            self.ddb.describe_table(TableName="life")
        self.assertEqual(code(e.exception)[0], "ResourceNotFoundException")
        self.assertEqual(self.ddb.describe_table(TableName="life")["Table"]["TableStatus"], "CREATING")
        with self.assertRaises(ClientError) as e:
            self.ddb.delete_table(TableName="life")
        self.assertEqual(code(e.exception)[:1], ("ResourceInUseException",))
        self.assertIn("Table is being created", code(e.exception)[1])
        self.s.advance(1600)
        self.assertEqual(self.ddb.describe_table(TableName="life")["Table"]["TableStatus"], "ACTIVE")
        with self.assertRaises(ClientError) as e:
            self.ddb.update_table(TableName="life", BillingMode="PAY_PER_REQUEST")
        self.assertEqual(code(e.exception)[0], "ValidationException")
        out = self.ddb.update_table(TableName="life", BillingMode="PROVISIONED",
                                    ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
        self.assertEqual(out["TableDescription"]["TableStatus"], "UPDATING")
        with self.assertRaises(ClientError) as e:
            self.ddb.delete_table(TableName="life")
        self.assertIn("Table is being updated", code(e.exception)[1])
        self.s.advance(1600)
        with self.assertRaises(ClientError) as e:
            self.ddb.update_table(TableName="life", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
        self.assertIn("will not change", code(e.exception)[1])
        self.assertEqual(self.ddb.delete_table(TableName="life")["TableDescription"]["TableStatus"], "DELETING")
        self.assertEqual(self.ddb.describe_table(TableName="life")["Table"]["TableStatus"], "DELETING")
        self.assertEqual(self.ddb.delete_table(TableName="life")["TableDescription"]["TableStatus"], "DELETING")
        with self.assertRaises(ClientError) as e:
            self.create("life")
        self.assertEqual(code(e.exception)[0], "ResourceInUseException")
        self.s.advance(1600)
        with self.assertRaises(ClientError) as e:
            self.ddb.describe_table(TableName="life")
        self.assertEqual(code(e.exception)[0], "ResourceNotFoundException")

    def test_updating_is_answered_described_and_refuses_changes(self):
        # A window no run outlasts: the state holds for the whole test, whatever the machine's speed.
        self.s.set(table_updating_ms=600_000)
        self.addCleanup(self.s.set, table_updating_ms=1500)
        self.untracked("updating")
        out = self.ddb.update_table(TableName="updating", BillingMode="PROVISIONED",
                                    ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
        self.assertEqual(out["TableDescription"]["TableStatus"], "UPDATING")
        self.assertEqual(self.ddb.describe_table(TableName="updating")["Table"]["TableStatus"], "UPDATING")
        self.assertEqual(self.moto.describe_table(TableName="updating")["Table"]["TableStatus"], "ACTIVE")
        for change in (lambda: self.ddb.delete_table(TableName="updating"),
                       lambda: self.ddb.update_table(TableName="updating", BillingMode="PAY_PER_REQUEST")):
            with self.assertRaises(ClientError) as e:
                change()
            self.assertEqual(code(e.exception)[0], "ResourceInUseException")
            self.assertIn("Table is being updated: updating", code(e.exception)[1])

    def test_item_calls_on_a_creating_table_are_not_found(self):
        self.create("items-early")
        for call in (lambda: self.ddb.scan(TableName="items-early", Select="COUNT"),
                     lambda: self.ddb.put_item(TableName="items-early", Item={"k": {"S": "a"}}),
                     lambda: self.ddb.batch_write_item(RequestItems={"items-early": [{"PutRequest": {"Item": {"k": {"S": "b"}}}}]})):
            with self.assertRaises(ClientError) as e:
                call()
            self.assertEqual(code(e.exception)[0], "ResourceNotFoundException")
        self.assertEqual(self.s.last_request("Scan", "items-early")["answered_by"], "proxy")
        self.s.advance(1600)
        self.assertEqual(self.ddb.scan(TableName="items-early", Select="COUNT")["Count"], 0)

    def test_tags_not_found_while_creating(self):
        arn = self.create("tagged", Tags=[{"Key": "owner", "Value": "me"}])["TableDescription"]["TableArn"]
        with self.assertRaises(ClientError) as e:
            self.ddb.list_tags_of_resource(ResourceArn=arn)
        self.assertEqual(code(e.exception)[0], "ResourceNotFoundException")
        self.assertEqual(self.s.last_request("ListTagsOfResource", "tagged")["answered_by"], "proxy")
        self.s.advance(1600)
        self.assertEqual(self.ddb.list_tags_of_resource(ResourceArn=arn)["Tags"], [{"Key": "owner", "Value": "me"}])

    def test_deletion_protection_message(self):
        self.create("protected", DeletionProtectionEnabled=True)
        self.s.advance(1600)
        with self.assertRaises(ClientError) as e:
            self.ddb.delete_table(TableName="protected")
        self.assertEqual(code(e.exception)[0], "ValidationException")
        self.assertIn("protected against deletion", code(e.exception)[1])

    def test_side_requests_are_invisible_to_the_harness_filter(self):
        # The harness drops recorded lines that mention /moto-api/; side requests carry it in their query.
        self.create("side")
        self.s.advance(1600)
        with self.assertRaises(ClientError):
            self.ddb.update_table(TableName="side", BillingMode="PAY_PER_REQUEST")
        entries = [e for e in self.s.log() if e["resource"] == "side"]
        self.assertIn("ValidationException", [e["injected"] for e in entries])
        with open(self.s.recording) as f:
            side = [line for line in f if "X-Strict-Proxy-Side-Request" in line]
        self.assertTrue(side)
        self.assertTrue(all("/moto-api/" in line for line in side))


class ItemScans(unittest.TestCase):
    """`scan_side_write` and `scan_extra_attribute`: a scan is not a snapshot, and a newer attribute type."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({})
        cls.ddb = cls.s.client("dynamodb")
        cls.moto = cls.s.client("dynamodb", direct=True)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def table(self, name, items):
        self.moto.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                               AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                               KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
        for i in range(items):
            self.moto.put_item(TableName=name, Item={"k": {"S": "i%d" % i}})

    def test_a_write_lands_after_the_nth_item_scan_page_was_answered(self):
        self.table("sw", 2)
        self.s.set(scan_side_write={"table": "sw", "page": 2, "op": "PutItem", "request": {"Item": {"k": {"S": "new"}}}})
        # COUNT scans do not count as pages; the first item scan does not fire.
        self.assertEqual(self.ddb.scan(TableName="sw", Select="COUNT")["Count"], 2)
        self.assertEqual(self.ddb.scan(TableName="sw")["Count"], 2)
        self.assertEqual(self.moto.scan(TableName="sw", Select="COUNT")["Count"], 2)
        # The second one is answered as moto saw it before the write; the write is there right after.
        self.assertEqual(self.ddb.scan(TableName="sw")["Count"], 2)
        self.assertEqual(self.moto.scan(TableName="sw", Select="COUNT")["Count"], 3)
        self.assertIsNone(self.s.control("GET", "/__strict/config")[1]["scan_side_write"])
        self.assertIn("side PutItem", [e["injected"] for e in self.s.log()])
        # Once only, and the proxy's own write is not a client request.
        self.assertEqual(self.ddb.scan(TableName="sw")["Count"], 3)
        ops = [r["op"] for r in self.s.control("GET", "/__strict/requests")[1] if r["resource"] == "sw"]
        self.assertNotIn("PutItem", ops)

    def test_a_delete_during_a_scan(self):
        self.table("sd", 3)
        self.s.set(scan_side_write={"table": "sd", "op": "DeleteItem", "request": {"Key": {"k": {"S": "i0"}}}})
        self.assertEqual(self.ddb.scan(TableName="sd")["Count"], 3)
        self.assertEqual(self.moto.scan(TableName="sd", Select="COUNT")["Count"], 2)

    def test_a_write_after_the_nth_count_scan(self):
        self.table("sc", 1)
        self.s.set(scan_side_write={"table": "sc", "select": "COUNT", "page": 2, "op": "PutItem",
                                    "request": {"Item": {"k": {"S": "new"}}}})
        self.assertEqual(self.ddb.scan(TableName="sc")["Count"], 1)  # item scans do not count now
        self.assertEqual(self.ddb.scan(TableName="sc", Select="COUNT")["Count"], 1)
        self.assertEqual(self.moto.scan(TableName="sc", Select="COUNT")["Count"], 1)
        self.assertEqual(self.ddb.scan(TableName="sc", Select="COUNT")["Count"], 1)
        self.assertEqual(self.moto.scan(TableName="sc", Select="COUNT")["Count"], 2)

    def test_an_extra_attribute_on_the_first_scanned_item(self):
        self.table("ea", 2)
        self.s.set(scan_extra_attribute={"table": "ea", "attribute": "added", "value": {"S": "x"}})
        items = self.ddb.scan(TableName="ea")["Items"]
        self.assertEqual([i.get("added") for i in items].count({"S": "x"}), 1)
        self.assertIn("Items", [e["injected"] for e in self.s.log()])
        self.s.set(scan_extra_attribute=None)
        self.assertTrue(all("added" not in i for i in self.ddb.scan(TableName="ea")["Items"]))

    def test_the_keys_are_validated(self):
        for bad in ({"scan_side_write": {"table": "t", "op": "UpdateItem", "request": {}}},
                    {"scan_side_write": {"table": "t", "op": "PutItem", "request": {}, "page": 0}},
                    {"scan_side_write": {"table": "t", "op": "PutItem", "request": {}, "select": "ALL"}},
                    {"scan_extra_attribute": {"table": "t", "attribute": "a"}}):
            self.assertEqual(self.s.control("POST", "/__strict/config", bad)[0], 400, bad)


    def test_side_write_fires_once_under_concurrent_scans(self):
        # Parallel segments: every scan arrives before any is answered (held, then let go together); the
        # countdown takes one step per answered scan and only one of them writes.
        self.table("sw-par", 3)
        self.s.control("DELETE", "/__strict/log")  # the other tests' side writes
        self.s.set(hold_operations=["Scan"], scan_side_write={"table": "sw-par", "page": 2, "op": "PutItem",
                                                              "request": {"Item": {"k": {"S": "new"}}}})
        clients = [self.s.client("dynamodb") for _ in range(6)]
        threads = [threading.Thread(target=c.scan, kwargs={"TableName": "sw-par", "Segment": i, "TotalSegments": 6})
                   for i, c in enumerate(clients)]
        try:
            for t in threads:
                t.start()
            deadline = time.time() + 60
            while sum(1 for e in self.s.log() if e["injected"] == "held") < 6 and time.time() < deadline:
                time.sleep(0.02)
        finally:
            self.s.set(hold_operations=None)
            for t in threads:
                t.join(60)
        self.assertEqual(sum(1 for e in self.s.log() if e["injected"] == "side PutItem"), 1)
        self.assertIsNone(self.s.control("GET", "/__strict/config")[1]["scan_side_write"])
        self.assertEqual(self.moto.scan(TableName="sw-par", Select="COUNT")["Count"], 4)


class IamAndLambda(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"delete_conflicts": True, "url_encode_documents": True, "role_propagation_ms": 1500,
                       "function_pending_ms": 1000, "function_update_ms": 1000})
        cls.s.clock(frozen=True)  # as in DynamoDB: states end when a test advances the clock
        cls.iam = cls.s.client("iam")
        cls.lam = cls.s.client("lambda")
        cls.iam_moto = cls.s.client("iam", direct=True)
        cls.lam_moto = cls.s.client("lambda", direct=True)
        # A role the proxy never saw created: no propagation delay.
        cls.old_role = cls.iam_moto.create_role(RoleName="old", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def function(self, name, through_proxy=False):
        """A function created in moto (ACTIVE, untracked) or through the proxy (Pending)."""
        client = self.lam if through_proxy else self.lam_moto
        return client.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler",
                                      Role=self.old_role, Code={"ZipFile": ZIP})

    def test_delete_role_with_attached_policy_conflicts(self):
        arn = self.iam_moto.create_policy(PolicyName="att-p", PolicyDocument=DOC)["Policy"]["Arn"]
        self.iam_moto.create_role(RoleName="att", AssumeRolePolicyDocument=TRUST)
        self.iam_moto.attach_role_policy(RoleName="att", PolicyArn=arn)
        with self.assertRaises(ClientError) as e:
            self.iam.delete_role(RoleName="att")
        self.assertEqual(code(e.exception), ("DeleteConflict", "Cannot delete entity, must detach all policies first.", 409))
        # moto refuses this too; the proxy must answer it itself (it checks before forwarding).
        self.assertEqual(self.s.last_request("DeleteRole", "att")["answered_by"], "proxy")

    def test_delete_role_with_inline_policy_conflicts(self):
        self.iam_moto.create_role(RoleName="inl", AssumeRolePolicyDocument=TRUST)
        self.iam_moto.put_role_policy(RoleName="inl", PolicyName="inline", PolicyDocument=DOC)
        with self.assertRaises(ClientError) as e:
            self.iam.delete_role(RoleName="inl")
        self.assertEqual(code(e.exception), ("DeleteConflict", "Cannot delete entity, must delete policies first.", 409))
        self.assertEqual(self.s.last_request("DeleteRole", "inl")["answered_by"], "proxy")
        self.iam_moto.get_role(RoleName="inl")

    def test_delete_role_right_after_a_detach_conflicts(self):
        self.s.set(role_detach_propagation_ms=1500)
        self.addCleanup(self.s.set, role_detach_propagation_ms=None)
        arn = self.iam_moto.create_policy(PolicyName="prop-p", PolicyDocument=DOC)["Policy"]["Arn"]
        for role in ("prop-det", "prop-inl", "prop-direct"):
            self.iam_moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
        self.iam_moto.attach_role_policy(RoleName="prop-det", PolicyArn=arn)
        self.iam_moto.put_role_policy(RoleName="prop-inl", PolicyName="inline", PolicyDocument=DOC)
        self.iam.detach_role_policy(RoleName="prop-det", PolicyArn=arn)
        self.iam.delete_role_policy(RoleName="prop-inl", PolicyName="inline")
        with self.assertRaises(ClientError) as e:
            self.iam.delete_role(RoleName="prop-det")
        self.assertEqual(code(e.exception), ("DeleteConflict", "Cannot delete entity, must detach all policies first.", 409))
        self.assertEqual(self.s.last_request("DeleteRole", "prop-det")["answered_by"], "proxy")
        with self.assertRaises(ClientError) as e:
            self.iam.delete_role(RoleName="prop-inl")
        self.assertEqual(code(e.exception), ("DeleteConflict", "Cannot delete entity, must delete policies first.", 409))
        # Only detaches seen through the proxy count; a role never detached from is deleted at once.
        self.iam.delete_role(RoleName="prop-direct")
        self.s.advance(1600)
        self.iam.delete_role(RoleName="prop-det")
        self.iam.delete_role(RoleName="prop-inl")

    def test_delete_role_in_an_instance_profile_conflicts(self):
        # moto refuses this itself, with AWS's message; the proxy must leave it so.
        self.iam_moto.create_role(RoleName="in-profile", AssumeRolePolicyDocument=TRUST)
        self.iam_moto.create_instance_profile(InstanceProfileName="profile")
        self.iam_moto.add_role_to_instance_profile(InstanceProfileName="profile", RoleName="in-profile")
        with self.assertRaises(ClientError) as e:
            self.iam.delete_role(RoleName="in-profile")
        self.assertEqual(code(e.exception), ("DeleteConflict",
                                             "Cannot delete entity, must remove roles from instance profile first.", 409))
        self.iam.remove_role_from_instance_profile(InstanceProfileName="profile", RoleName="in-profile")
        self.iam.delete_role(RoleName="in-profile")

    def test_role_last_used_region(self):
        self.iam_moto.create_role(RoleName="used-west", AssumeRolePolicyDocument=TRUST)
        # moto never says where a role was used.
        self.assertIsNone(self.iam_moto.get_role(RoleName="used-west")["Role"].get("RoleLastUsed", {}).get("Region"))
        self.s.set(role_last_used_region={"used-west": "us-west-2"})
        self.addCleanup(self.s.set, role_last_used_region=None)
        role = self.iam.get_role(RoleName="used-west")["Role"]
        self.assertEqual(role["RoleLastUsed"]["Region"], "us-west-2")
        self.assertIn("LastUsedDate", role["RoleLastUsed"])
        # The rest of the answer is as before (documents URL-encoded), and other roles are left as they are.
        self.assertTrue(self.s.iam_raw(Action="GetRole", RoleName="used-west").count("%7B%22Version%22"))
        self.assertIsNone(self.iam.get_role(RoleName="old")["Role"].get("RoleLastUsed", {}).get("Region"))

    def test_iam_gone_on_tag_read(self):
        self.iam_moto.create_role(RoleName="reaped-1", AssumeRolePolicyDocument=TRUST)
        self.iam_moto.create_role(RoleName="kept-1", AssumeRolePolicyDocument=TRUST)
        arn = self.iam_moto.create_policy(PolicyName="reaped-p", PolicyDocument=DOC)["Policy"]["Arn"]
        self.s.set(iam_gone_on_tag_read=["reaped-.*"])
        self.addCleanup(self.s.set, iam_gone_on_tag_read=None)
        names = [r["RoleName"] for r in self.iam.list_roles()["Roles"]]
        self.assertIn("reaped-1", names)  # listed, then gone when its tags are read
        for read in (lambda: self.iam.list_role_tags(RoleName="reaped-1"),
                     lambda: self.iam.list_policy_tags(PolicyArn=arn)):
            with self.assertRaises(ClientError) as e:
                read()
            self.assertEqual(code(e.exception)[0], "NoSuchEntity")
            self.assertEqual(code(e.exception)[2], 404)
        self.assertEqual(self.iam.list_role_tags(RoleName="kept-1")["Tags"], [])

    def test_assume_role_policy_documents_are_url_encoded(self):
        # moto's ListRoles answers AssumeRolePolicyDocument as raw JSON.
        self.assertIn("<AssumeRolePolicyDocument>{", self.s.iam_raw(direct=True, Action="ListRoles"))
        xml = self.s.iam_raw(Action="ListRoles")
        docs = re.findall(r"<AssumeRolePolicyDocument>(.*?)</AssumeRolePolicyDocument>", xml, flags=re.S)
        self.assertTrue(docs)
        for doc in docs:
            self.assertTrue(doc.startswith(ENCODED_DOC), doc)
        self.assertEqual(json.loads(urllib.parse.unquote(docs[0]))["Version"], "2012-10-17")

    def test_role_propagation_on_update_function_configuration(self):
        self.function("upd-role")
        fresh = self.iam.create_role(RoleName="upd-fresh", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        with self.assertRaises(ClientError) as e:
            self.lam.update_function_configuration(FunctionName="upd-role", Role=fresh)
        self.assertEqual(code(e.exception), ("InvalidParameterValueException",
                                             "The role defined for the function cannot be assumed by Lambda.", 400))
        self.assertEqual(self.lam_moto.get_function_configuration(FunctionName="upd-role")["Role"], self.old_role)

    def test_publish_version_refused_while_pending(self):
        self.assertEqual(self.function("pv-pending", through_proxy=True)["State"], "Pending")
        with self.assertRaises(ClientError) as e:
            self.lam.publish_version(FunctionName="pv-pending")
        self.assertEqual(code(e.exception), ("ResourceConflictException", "The operation cannot be performed at this "
                                             "time. The function is currently in the following state: Pending", 409))
        self.assertEqual([v["Version"] for v in self.lam_moto.list_versions_by_function(FunctionName="pv-pending")["Versions"]],
                         ["$LATEST"])

    def test_publish_version_refused_while_update_in_progress(self):
        self.function("pv-updating")
        self.assertEqual(self.lam.update_function_configuration(FunctionName="pv-updating", MemorySize=256)["LastUpdateStatus"],
                         "InProgress")
        with self.assertRaises(ClientError) as e:
            self.lam.publish_version(FunctionName="pv-updating")
        self.assertEqual(code(e.exception)[0::2], ("ResourceConflictException", 409))
        self.assertIn("An update is in progress for resource: ", code(e.exception)[1])
        self.assertEqual([v["Version"] for v in self.lam_moto.list_versions_by_function(FunctionName="pv-updating")["Versions"]],
                         ["$LATEST"])

    def test_fail_next_update_of_any_function(self):
        self.function("star")
        self.s.set(fail_next_update={"function": "*", "reason": "any", "reason_code": "InvalidImage"})
        self.addCleanup(self.s.set, fail_next_update=None)  # never leak an armed failure into other tests
        self.lam.update_function_configuration(FunctionName="star", MemorySize=256)
        self.assertIsNone(self.s.control("GET", "/__strict/config")[1]["fail_next_update"])
        self.s.advance(1100)
        cfg = self.lam.get_function_configuration(FunctionName="star")
        self.assertEqual((cfg["LastUpdateStatus"], cfg["LastUpdateStatusReason"], cfg["LastUpdateStatusReasonCode"]),
                         ("Failed", "any", "InvalidImage"))

    def test_delete_conflicts(self):
        arn = self.iam.create_policy(PolicyName="p", PolicyDocument=DOC)["Policy"]["Arn"]
        self.iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
        self.iam.attach_role_policy(RoleName="r", PolicyArn=arn)
        with self.assertRaises(ClientError) as e:
            self.iam.delete_policy(PolicyArn=arn)
        self.assertEqual(code(e.exception), ("DeleteConflict", "Cannot delete a policy attached to entities.", 409))
        with self.assertRaises(ClientError) as e:
            self.iam.delete_role(RoleName="r")
        self.assertEqual(code(e.exception)[0], "DeleteConflict")
        self.iam.detach_role_policy(RoleName="r", PolicyArn=arn)
        self.iam.create_policy_version(PolicyArn=arn, PolicyDocument=DOC, SetAsDefault=True)
        with self.assertRaises(ClientError) as e:
            self.iam.delete_policy(PolicyArn=arn)
        self.assertIn("more than one version", code(e.exception)[1])
        self.iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
        self.iam.delete_policy(PolicyArn=arn)
        self.iam.delete_role(RoleName="r")

    def test_policy_names_are_unique_whatever_the_path_and_case(self):
        self.s.set(iam_unique_names=True)
        try:
            self.iam_moto.create_policy(PolicyName="Uniq-P", Path="/elsewhere/", PolicyDocument=DOC)
            for name in ("Uniq-P", "uniq-p"):
                with self.assertRaises(ClientError) as e:
                    self.iam.create_policy(PolicyName=name, Path="/stackctl/app/", PolicyDocument=DOC)
                self.assertEqual(code(e.exception)[0::2], ("EntityAlreadyExists", 409))
            self.iam.create_policy(PolicyName="Uniq-Other", Path="/stackctl/app/", PolicyDocument=DOC)
        finally:
            self.s.set(iam_unique_names=False)

    def test_documents_are_url_encoded(self):
        arn = self.iam.create_policy(PolicyName="enc", PolicyDocument=DOC)["Policy"]["Arn"]
        xml = self.s.iam_raw(Action="GetPolicyVersion", PolicyArn=arn, VersionId="v1")
        self.assertIn("<Document>%7B%22Version%22%3A%222012-10-17%22", xml)
        # boto3 decodes it back
        doc = self.iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"]
        self.assertEqual(doc, json.loads(DOC))

    def test_lambda_lifecycle(self):
        role = self.iam.create_role(RoleName="fresh", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        create = dict(FunctionName="fn", Runtime="nodejs20.x", Handler="index.handler", Role=role, Code={"ZipFile": ZIP})
        with self.assertRaises(ClientError) as e:
            self.lam.create_function(**create)
        self.assertEqual(code(e.exception), ("InvalidParameterValueException",
                                             "The role defined for the function cannot be assumed by Lambda.", 400))
        self.s.advance(1600)
        self.assertEqual(self.lam.create_function(**create)["State"], "Pending")
        self.assertEqual(self.lam.get_function(FunctionName="fn")["Configuration"]["State"], "Pending")
        with self.assertRaises(ClientError) as e:
            self.lam.update_function_configuration(FunctionName="fn", MemorySize=256)
        self.assertEqual(code(e.exception)[0::2], ("ResourceConflictException", 409))
        self.s.advance(1100)
        cfg = self.lam.get_function_configuration(FunctionName="fn")
        self.assertEqual((cfg["State"], cfg["LastUpdateStatus"]), ("Active", "Successful"))
        self.assertEqual(self.lam.update_function_configuration(FunctionName="fn", MemorySize=256)["LastUpdateStatus"], "InProgress")
        with self.assertRaises(ClientError) as e:
            self.lam.update_function_code(FunctionName="fn", ZipFile=ZIP)
        self.assertTrue(code(e.exception)[1].startswith(
            "The operation cannot be performed at this time. An update is in progress for resource: "
            "arn:aws:lambda:us-east-1:123456789012:function:fn"), code(e.exception))
        self.s.advance(1100)
        self.s.control("POST", "/__strict/config", {"fail_next_update": {"function": "fn", "reason": "nope", "reason_code": "InvalidImage"}})
        self.lam.update_function_code(FunctionName="fn", ZipFile=ZIP)
        self.assertEqual(self.lam.get_function_configuration(FunctionName="fn")["LastUpdateStatus"], "InProgress")
        self.s.advance(1100)
        cfg = self.lam.get_function_configuration(FunctionName="fn")
        self.assertEqual((cfg["LastUpdateStatus"], cfg["LastUpdateStatusReason"], cfg["LastUpdateStatusReasonCode"]),
                         ("Failed", "nope", "InvalidImage"))
        self.assertIsNone(self.s.control("GET", "/__strict/config")[1]["fail_next_update"])
        self.lam.delete_function(FunctionName="fn")


class LambdaAccessAndLimits(unittest.TestCase):
    """Failed creations, hidden tags, denied operations, Lambda's size limits and Architectures on a code update."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"function_pending_ms": 800, "function_update_ms": 800, "lambda_limits": True,
                       "code_update_architectures": True})
        cls.s.clock(frozen=True)  # Pending and InProgress end when wait_not_pending advances the clock
        cls.lam = cls.s.client("lambda")
        cls.lam_moto = cls.s.client("lambda", direct=True)
        cls.role = cls.s.client("iam", direct=True).create_role(
            RoleName="limits", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def create(self, name, client=None, **extra):
        return (client or self.lam_moto).create_function(
            FunctionName=name, Runtime="nodejs20.x", Handler="index.handler", Role=self.role,
            Code={"ZipFile": extra.pop("zip", ZIP)}, **extra)

    def wait_not_pending(self, name):
        """The function's configuration once its Pending or InProgress period is over (the clock moved past it)."""
        self.s.advance(800)
        cfg = self.lam.get_function_configuration(FunctionName=name)
        self.assertFalse(cfg["State"] == "Pending" or cfg["LastUpdateStatus"] == "InProgress",
                         "%s is still Pending or InProgress after its 800 ms: %s" % (name, cfg))
        return cfg

    def test_function_tags_error(self):
        self.create("tagged", Tags={"owner": "me"})
        self.assertEqual(self.lam.get_function(FunctionName="tagged")["Tags"], {"owner": "me"})
        self.s.set(function_tags_error=True)
        self.addCleanup(self.s.set, function_tags_error=False)
        out = self.lam.get_function(FunctionName="tagged")
        self.assertNotIn("Tags", out)
        self.assertEqual(out["TagsError"]["ErrorCode"], "AccessDeniedException")
        self.assertIn("lambda:ListTags", out["TagsError"]["Message"])
        # ListTags itself still answers (only deny_operations refuses it).
        arn = out["Configuration"]["FunctionArn"]
        self.assertEqual(self.lam.list_tags(Resource=arn)["Tags"], {"owner": "me"})

    def test_deny_operations(self):
        arn = self.create("denied")["FunctionArn"]
        self.s.set(deny_operations=["ListTags", "iam:GetRole", "dynamodb:DescribeTable"])
        self.addCleanup(self.s.set, deny_operations=None)
        with self.assertRaises(ClientError) as e:
            self.lam.list_tags(Resource=arn)
        self.assertEqual(code(e.exception)[0::2], ("AccessDeniedException", 403))
        self.assertIn("not authorized to perform: lambda:ListTags on resource: %s" % arn, code(e.exception)[1])
        self.assertEqual(self.s.last_request("ListTags")["answered_by"], "proxy")
        with self.assertRaises(ClientError) as e:
            self.s.client("iam").get_role(RoleName="limits")
        self.assertEqual(code(e.exception)[0::2], ("AccessDenied", 403))
        with self.assertRaises(ClientError) as e:
            self.s.client("dynamodb").describe_table(TableName="t")
        self.assertEqual(code(e.exception)[0::2], ("AccessDeniedException", 400))
        # Operations not listed pass.
        self.lam.get_function(FunctionName="denied")

    def test_fail_next_create(self):
        self.s.set(fail_next_create={"function": "broken", "reason": "subnet gone", "reason_code": "SubnetOutOfIPAddresses"})
        self.addCleanup(self.s.set, fail_next_create=None)
        self.create("other", client=self.lam)  # another name: not armed for it
        self.assertEqual(self.create("broken", client=self.lam)["State"], "Pending")
        self.assertIsNone(self.s.control("GET", "/__strict/config")[1]["fail_next_create"])
        cfg = self.wait_not_pending("broken")
        self.assertEqual((cfg["State"], cfg["StateReason"], cfg["StateReasonCode"], cfg["LastUpdateStatus"]),
                         ("Failed", "subnet gone", "SubnetOutOfIPAddresses", "Failed"))
        self.assertEqual(self.wait_not_pending("other")["State"], "Active")
        # Updates pass, but repair nothing.
        self.lam.update_function_configuration(FunctionName="broken", MemorySize=256)
        cfg = self.wait_not_pending("broken")
        self.assertEqual((cfg["State"], cfg["MemorySize"]), ("Failed", 256))
        # Delete and recreate is the way out.
        self.lam.delete_function(FunctionName="broken")
        self.create("broken", client=self.lam)
        self.assertEqual(self.wait_not_pending("broken")["State"], "Active")

    def test_lambda_limits_environment(self):
        message = ("Lambda was unable to configure your environment variables because the environment variables you "
                   "have provided exceeded the 4KB limit. The environment variables size is calculated as the sum of "
                   "all keys and values in bytes.")
        over = {"Variables": {"BIG": "x" * 4094}}  # 3 + 4094 = 4097 bytes
        with self.assertRaises(ClientError) as e:
            self.create("env-big", client=self.lam, Environment=over)
        self.assertEqual(code(e.exception), ("InvalidParameterValueException", message, 400))
        self.create("env-ok", client=self.lam, Environment={"Variables": {"BIG": "x" * 4093}})
        self.wait_not_pending("env-ok")
        with self.assertRaises(ClientError) as e:
            self.lam.update_function_configuration(FunctionName="env-ok", Environment=over)
        self.assertEqual(code(e.exception), ("InvalidParameterValueException", message, 400))
        # moto alone accepts it.
        self.lam_moto.update_function_configuration(FunctionName="env-ok", Environment=over)

    def test_lambda_limits_unzipped(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            with z.open("big.bin", "w", force_zip64=True) as f:
                chunk = b"\0" * (1 << 20)
                for _ in range(250):
                    f.write(chunk)
                f.write(b"\0" * (262144001 - 250 * (1 << 20)))
        big = buf.getvalue()
        self.create("unzip")
        with self.assertRaises(ClientError) as e:
            self.lam.update_function_code(FunctionName="unzip", ZipFile=big)
        self.assertEqual(code(e.exception), ("InvalidParameterValueException",
                                             "Unzipped size must be smaller than 262144000 bytes", 400))
        with self.assertRaises(ClientError) as e:
            self.create("unzip-new", client=self.lam, zip=big)
        self.assertEqual(code(e.exception)[0], "InvalidParameterValueException")

    def test_code_update_architectures(self):
        self.create("arch")
        self.lam.update_function_code(FunctionName="arch", ZipFile=ZIP, Architectures=["arm64"])
        self.assertEqual(self.wait_not_pending("arch")["Architectures"], ["arm64"])
        self.assertEqual(self.lam.get_function(FunctionName="arch")["Configuration"]["Architectures"], ["arm64"])
        # moto itself ignores Architectures on UpdateFunctionCode.
        self.assertEqual(self.lam_moto.get_function_configuration(FunctionName="arch")["Architectures"], ["x86_64"])


INVOKE_HANDLER = """
exports.handler = async (event, context) => {
  console.log("hello", event.say);
  if (event.throw) throw new TypeError("boom " + event.throw);
  if (event.reject) return Promise.reject(new Error("rejected"));
  if (event.hang) return new Promise(() => setInterval(() => {}, 1000));
  if (event.exit) process.exit(3);
  if (event.big) return "x".repeat(event.big);
  return { echo: event, table: process.env.TABLE_NAME, fn: context.functionName, id: context.awsRequestId,
           region: process.env.AWS_REGION, endpoint: process.env.AWS_ENDPOINT_URL,
           key: process.env.AWS_ACCESS_KEY_ID, remaining: context.getRemainingTimeInMillis() };
};
"""


def _invoke_zip(extra=""):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("src/app.js", INVOKE_HANDLER + extra)
    return buf.getvalue()


class LambdaInvoke(unittest.TestCase):
    """`lambda_invoke_node`: Invoke runs the deployed package in Node.js, answering as Lambda does."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"lambda_invoke_node": True})
        cls.lam = cls.s.client("lambda")
        role = cls.s.client("iam", direct=True).create_role(
            RoleName="invoke", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        cls.create = staticmethod(lambda name, client=cls.lam, code=None, **extra: client.create_function(
            FunctionName=name, Runtime="nodejs20.x", Handler="src/app.handler", Role=role,
            Code={"ZipFile": code or _invoke_zip()}, **extra))
        cls.create("fn", Environment={"Variables": {"TABLE_NAME": "first"}}, Timeout=5)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def invoke(self, name="fn", **payload):
        out = self.lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
        return out, json.loads(out["Payload"].read()), base64.b64decode(out.get("LogResult", "")).decode()

    def test_the_result_the_log_tail_and_the_live_configuration(self):
        out, result, log = self.invoke(say="hi")
        self.assertEqual((out["StatusCode"], out.get("FunctionError"), out["ExecutedVersion"]), (200, None, "$LATEST"))
        self.assertEqual(result["echo"], {"say": "hi"})
        self.assertEqual((result["table"], result["fn"], result["region"]), ("first", "fn", "us-east-1"))
        # The execution role's temporary credentials (AssumeRole), as Lambda gives them: not the root key.
        self.assertTrue(result["key"].startswith("ASIA"), result["key"])
        self.assertEqual(result["endpoint"], self.s.url)
        self.assertTrue(0 < result["remaining"] <= 5000, result)
        rid = result["id"]
        self.assertEqual(out["ResponseMetadata"]["RequestId"], rid)
        lines = log.splitlines()
        self.assertEqual(lines[0], "START RequestId: %s Version: $LATEST" % rid)
        self.assertRegex(lines[1], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t%s\tINFO\thello hi$" % rid)
        self.assertEqual(lines[-2], "END RequestId: %s" % rid)
        self.assertRegex(lines[-1], r"^REPORT RequestId: %s\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
                                    r"Memory Size: 128 MB\t" % rid)
        self.assertEqual(self.s.last_request("Invoke")["answered_by"], "proxy")
        # The live configuration, read at each invocation.
        self.lam.update_function_configuration(FunctionName="fn", Environment={"Variables": {"TABLE_NAME": "second"}})
        self.assertEqual(self.invoke()[1]["table"], "second")
        # No log tail unless asked.
        self.assertNotIn("LogResult", self.lam.invoke(FunctionName="fn", Payload=b"{}"))

    def test_a_thrown_error_or_a_rejection_is_an_unhandled_function_error(self):
        out, error, log = self.invoke(throw="x")
        self.assertEqual((out["StatusCode"], out["FunctionError"]), (200, "Unhandled"))
        self.assertEqual((error["errorType"], error["errorMessage"]), ("TypeError", "boom x"))
        self.assertEqual(error["trace"][0], "TypeError: boom x")
        self.assertIn("\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\"", log)
        out, error, _ = self.invoke(reject=True)
        self.assertEqual((out["FunctionError"], error["errorType"], error["errorMessage"]), ("Unhandled", "Error", "rejected"))
        out, error, _ = self.invoke(exit=True)
        self.assertEqual((out["FunctionError"], error["errorType"]), ("Unhandled", "Runtime.ExitError"))
        self.assertIn("Runtime exited with error: exit status 3", error["errorMessage"])

    def test_a_timeout_kills_the_run_and_answers_lambdas_timeout_error(self):
        self.create("slow", Timeout=1)
        out, error, log = self.invoke("slow", hang=True)
        self.assertEqual(out["FunctionError"], "Unhandled")
        self.assertEqual(error["errorType"], "Sandbox.Timedout")
        self.assertRegex(error["errorMessage"], r"^RequestId: [0-9a-f-]+ Error: Task timed out after 1\.00 seconds$")
        self.assertIn("Task timed out after 1.00 seconds", log)

    def test_dry_run_event_pending_bad_payload_and_unknown_code(self):
        self.assertEqual(self.lam.invoke(FunctionName="fn", InvocationType="DryRun")["StatusCode"], 204)
        self.assertEqual(self.lam.invoke(FunctionName="fn", InvocationType="Event", Payload=b"{}")["StatusCode"], 202)
        with self.assertRaises(ClientError) as e:
            self.lam.invoke(FunctionName="fn", Payload=b"{not json")
        self.assertEqual(code(e.exception)[0::2], ("InvalidRequestContentException", 400))
        self.s.set(function_pending_ms=60000)
        self.addCleanup(self.s.set, function_pending_ms=0)
        self.create("pending")
        with self.assertRaises(ClientError) as e:
            self.lam.invoke(FunctionName="pending", Payload=b"{}")
        self.assertEqual(code(e.exception)[0::2], ("ResourceConflictException", 409))
        # A package that never passed through the proxy (made directly in moto) cannot be run: said, not faked.
        self.create("elsewhere", client=self.s.client("lambda", direct=True), code=_invoke_zip("// elsewhere\n"))
        with self.assertRaises(ClientError) as e:
            self.lam.invoke(FunctionName="elsewhere", Payload=b"{}")
        self.assertEqual(code(e.exception)[0::2], ("ServiceException", 500))
        with self.assertRaises(ClientError) as e:
            self.lam.invoke(FunctionName="missing", Payload=b"{}")
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))

    def test_the_6_mb_payload_limits(self):
        # Invoke API reference: RequestTooLargeException (413) for a request payload over 6 MB; a synchronous
        # response over 6 MB is the function error Function.ResponseSizeTooLarge (what stackctl's local runner
        # answers too).
        with self.assertRaises(ClientError) as e:
            self.lam.invoke(FunctionName="fn", Payload=json.dumps({"pad": "x" * 6291456}).encode())
        self.assertEqual(code(e.exception)[0::2], ("RequestTooLargeException", 413))
        out = self.lam.invoke(FunctionName="fn", Payload=json.dumps({"big": 6291556 - 2}).encode())
        self.assertEqual((out["StatusCode"], out.get("FunctionError")), (200, None))
        out = self.lam.invoke(FunctionName="fn", Payload=json.dumps({"big": 6291556 - 1}).encode())
        self.assertEqual((out["StatusCode"], out.get("FunctionError")), (200, "Unhandled"))
        self.assertEqual(json.loads(out["Payload"].read()),
                         {"errorType": "Function.ResponseSizeTooLarge",
                          "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes)."})

    def test_off_passes_invoke_to_moto(self):
        self.s.set(lambda_invoke_node=False)
        self.addCleanup(self.s.set, lambda_invoke_node=True)
        try:
            self.lam.invoke(FunctionName="fn", Payload=b"{}")
        except ClientError:
            pass
        self.assertEqual(self.s.last_request("Invoke")["answered_by"], "upstream")


class RawDocuments(unittest.TestCase):
    """moto 5 already URL-encodes every <PolicyDocument> it answers; this upstream answers one raw, as IAM-alikes do."""

    def test_policy_documents_are_url_encoded(self):
        upstream = CannedUpstream((
            '<GetRolePolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRolePolicyResult>'
            "<RoleName>r</RoleName><PolicyName>p</PolicyName><PolicyDocument>%s</PolicyDocument>"
            "</GetRolePolicyResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetRolePolicyResponse>"
            % DOC).encode())
        s = Stack({"url_encode_documents": True}, upstream=upstream.url)
        try:
            xml = s.iam_raw(Action="GetRolePolicy", RoleName="r", PolicyName="p")
            self.assertIn("<PolicyDocument>%s</PolicyDocument>" % urllib.parse.quote(DOC, safe=""), xml)
        finally:
            s.close()
            upstream.close()


class IamPaging(unittest.TestCase):
    """iam_page_size: the four lists stackctl's teardown reads come in pages, as on real IAM."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"iam_page_size": 1, "url_encode_documents": True})
        cls.iam = cls.s.client("iam")
        moto = cls.s.client("iam", direct=True)
        cls.arns = [moto.create_policy(PolicyName="pg%d" % i, PolicyDocument=DOC)["Policy"]["Arn"] for i in range(3)]
        for role in ("pg-r1", "pg-r2"):
            moto.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
        for arn in cls.arns:
            moto.attach_role_policy(RoleName="pg-r1", PolicyArn=arn)
        for i in range(2):
            moto.put_role_policy(RoleName="pg-r1", PolicyName="inline%d" % i, PolicyDocument=DOC)
        moto.attach_role_policy(RoleName="pg-r2", PolicyArn=cls.arns[0])
        moto.create_user(UserName="pg-u")
        moto.attach_user_policy(UserName="pg-u", PolicyArn=cls.arns[0])
        moto.create_group(GroupName="pg-g")
        moto.attach_group_policy(GroupName="pg-g", PolicyArn=cls.arns[0])
        for _ in range(2):
            moto.create_policy_version(PolicyArn=cls.arns[0], PolicyDocument=DOC)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def pages(self, op, **params):
        """Every page of `op`, following Marker by hand as the Rust SDK does (it stops when Marker is absent)."""
        pages = []
        while True:
            page = getattr(self.iam, op)(**params)
            page.pop("ResponseMetadata")
            pages.append(page)
            if "Marker" not in page:
                self.assertFalse(page["IsTruncated"], page)
                return pages
            self.assertTrue(page["IsTruncated"], page)
            self.assertLess(len(pages), 20, "Marker never ends")
            params["Marker"] = page["Marker"]

    def assert_paged(self, op, key, expected, **params):
        pages = self.pages(op, **params)
        self.assertEqual([len(p[key]) for p in pages], [1] * len(expected), pages)
        self.assertEqual(sorted(str(item) for p in pages for item in p[key]), sorted(str(e) for e in expected))

    def test_list_role_policies(self):
        self.assert_paged("list_role_policies", "PolicyNames", ["inline0", "inline1"], RoleName="pg-r1")

    def test_list_attached_role_policies(self):
        self.assert_paged("list_attached_role_policies", "AttachedPolicies",
                          [{"PolicyName": "pg%d" % i, "PolicyArn": a} for i, a in enumerate(self.arns)], RoleName="pg-r1")

    def test_list_entities_for_policy(self):
        # moto answers MaxItems here by dropping entities; the proxy pages the three lists as one.
        pages = self.pages("list_entities_for_policy", PolicyArn=self.arns[0])
        self.assertEqual(len(pages), 4, pages)
        for page in pages:
            self.assertEqual(sum(len(page.get(k, [])) for k in ("PolicyGroups", "PolicyUsers", "PolicyRoles")), 1, page)
        names = sorted([g["GroupName"] for p in pages for g in p.get("PolicyGroups", [])]
                       + [u["UserName"] for p in pages for u in p.get("PolicyUsers", [])]
                       + [r["RoleName"] for p in pages for r in p.get("PolicyRoles", [])])
        self.assertEqual(names, ["pg-g", "pg-r1", "pg-r2", "pg-u"])

    def test_list_policy_versions(self):
        pages = self.pages("list_policy_versions", PolicyArn=self.arns[0])
        self.assertEqual([[v["VersionId"] for v in p["Versions"]] for p in pages], [["v1"], ["v2"], ["v3"]])
        # Documents in a page are still URL-encoded (boto3 decodes them back).
        xml = self.s.iam_raw(Action="ListPolicyVersions", PolicyArn=self.arns[0])
        self.assertIn("<Document>" + ENCODED_DOC, xml)
        self.assertEqual(xml.count("<VersionId>"), 1)

    def test_max_items_smaller_than_the_page_size_wins(self):
        self.s.set(iam_page_size=2)
        self.addCleanup(self.s.set, iam_page_size=1)
        one = self.iam.list_attached_role_policies(RoleName="pg-r1", MaxItems=1)
        self.assertEqual((len(one["AttachedPolicies"]), one["IsTruncated"]), (1, True))
        rest = self.iam.list_attached_role_policies(RoleName="pg-r1", Marker=one["Marker"])
        self.assertEqual((len(rest["AttachedPolicies"]), rest["IsTruncated"], "Marker" in rest), (2, False, False))

    def test_a_marker_the_proxy_did_not_hand_out_is_refused(self):
        with self.assertRaises(ClientError) as e:
            self.iam.list_role_policies(RoleName="pg-r1", Marker="bogus")
        self.assertEqual(code(e.exception)[0::2], ("ValidationError", 400))

    def test_page_size_0_passes_through(self):
        self.s.set(iam_page_size=0)
        self.addCleanup(self.s.set, iam_page_size=1)
        self.assertEqual(len(self.iam.list_role_policies(RoleName="pg-r1")["PolicyNames"]), 2)


class Logs(unittest.TestCase):
    """CloudWatch Logs: the service is recognised, errors come in its JSON shape, and AWS's stricter rules."""

    GROUP = "/aws/lambda/selftest"
    STREAM = "2026/12/02/[$LATEST]0123456789abcdef0123456789abcdef"

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"logs_retention_values": True, "logs_tag_arn_star": True, "logs_page_size": 2,
                       "logs_interleaved": True})
        cls.logs = cls.s.client("logs")
        cls.moto = cls.s.client("logs", direct=True)
        cls.moto.create_log_group(logGroupName=cls.GROUP)
        cls.moto.create_log_stream(logGroupName=cls.GROUP, logStreamName=cls.STREAM)
        now = int(time.time() * 1000)
        cls.moto.put_log_events(logGroupName=cls.GROUP, logStreamName=cls.STREAM, logEvents=[
            {"timestamp": now - 5000 + i, "message": "event %d" % i} for i in range(5)])
        cls.arn = "arn:aws:logs:us-east-1:%s:log-group:%s" % ("123456789012", cls.GROUP)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def pages(self, **params):
        pages = []
        while True:
            page = self.logs.filter_log_events(logGroupName=self.GROUP, **params)
            pages.append([e["message"] for e in page["events"]])
            if "nextToken" not in page:
                return pages
            self.assertLess(len(pages), 20, "nextToken never ends")
            params["nextToken"] = page["nextToken"]

    def test_requests_are_recorded_with_service_operation_and_group(self):
        self.logs.filter_log_events(logGroupName=self.GROUP, limit=1)
        self.logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")
        read = self.s.last_request("FilterLogEvents", self.GROUP)
        self.assertEqual((read["service"], read["write"], read["answered_by"]), ("logs", False, "upstream"))
        self.assertFalse(self.s.last_request("DescribeLogGroups")["write"])
        self.logs.put_retention_policy(logGroupName=self.GROUP, retentionInDays=7)
        self.assertTrue(self.s.last_request("PutRetentionPolicy", self.GROUP)["write"])

    def test_errors_come_in_the_logs_json_shape(self):
        self.s.set(deny_operations=["logs:FilterLogEvents"])
        self.addCleanup(self.s.set, deny_operations=None)
        status, content_type, body = self.s.logs_raw("FilterLogEvents", {"logGroupName": self.GROUP})
        self.assertEqual((status, content_type), (400, "application/x-amz-json-1.1"))
        self.assertEqual(sorted(body), ["__type", "message"])
        self.assertEqual(body["__type"], "AccessDeniedException")
        self.assertIn("logs:FilterLogEvents on resource: %s:*" % self.arn, body["message"])
        with self.assertRaises(ClientError) as e:
            self.logs.filter_log_events(logGroupName=self.GROUP)
        self.assertEqual(code(e.exception)[0::2], ("AccessDeniedException", 400))

    def test_retention_must_be_one_of_cloudwatchs_values(self):
        self.moto.put_retention_policy(logGroupName=self.GROUP, retentionInDays=2)  # moto takes anything
        for days in (2, 0, 10000):
            with self.assertRaises(ClientError) as e:
                self.logs.put_retention_policy(logGroupName=self.GROUP, retentionInDays=days)
            self.assertEqual(code(e.exception)[0::2], ("InvalidParameterException", 400))
            self.assertIn("3653]", code(e.exception)[1])
        self.assertEqual(self.s.last_request("PutRetentionPolicy", self.GROUP)["answered_by"], "proxy")
        for days in (1, 14, 731, 3653):
            self.logs.put_retention_policy(logGroupName=self.GROUP, retentionInDays=days)
        group = self.moto.describe_log_groups(logGroupNamePrefix=self.GROUP)["logGroups"][0]
        self.assertEqual(group["retentionInDays"], 3653)

    def test_tagging_refuses_the_arn_with_a_trailing_star(self):
        self.moto.tag_resource(resourceArn=self.arn + ":*", tags={"moto": "takes it"})  # moto takes anything
        for call in (lambda: self.logs.tag_resource(resourceArn=self.arn + ":*", tags={"a": "b"}),
                     lambda: self.logs.list_tags_for_resource(resourceArn=self.arn + ":*"),
                     lambda: self.logs.untag_resource(resourceArn=self.arn + ":*", tagKeys=["a"])):
            with self.assertRaises(ClientError) as e:
                call()
            self.assertEqual(code(e.exception)[0::2], ("InvalidParameterException", 400))
        self.logs.tag_resource(resourceArn=self.arn, tags={"stackctl:stack": "s"})
        self.assertEqual(self.logs.list_tags_for_resource(resourceArn=self.arn)["tags"], {"stackctl:stack": "s"})

    def test_filter_log_events_comes_in_small_pages(self):
        self.assertEqual(self.pages(), [["event 0", "event 1"], ["event 2", "event 3"], ["event 4"]])
        self.assertTrue(any(e["injected"] == "limit=2" for e in self.s.log()))
        # A smaller limit the client sends wins; the direct answer is one page.
        self.assertEqual([len(p) for p in self.pages(limit=1)], [1, 1, 1, 1, 1])
        self.assertEqual(len(self.moto.filter_log_events(logGroupName=self.GROUP)["events"]), 5)

    def test_events_of_every_stream_come_in_one_order(self):
        group = "/aws/lambda/interleaved"
        self.moto.create_log_group(logGroupName=group)
        now = int(time.time() * 1000)
        for stream, offsets in (("a", (0, 2, 4)), ("b", (1, 3, 5))):
            self.moto.create_log_stream(logGroupName=group, logStreamName=stream)
            self.moto.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
                {"timestamp": now - 1000 + o, "message": "%s%d" % (stream, o)} for o in offsets])
        # moto alone answers stream by stream
        direct = self.moto.filter_log_events(logGroupName=group)["events"]
        self.assertEqual([e["message"] for e in direct], ["a0", "a2", "a4", "b1", "b3", "b5"])
        pages = []
        params = {}
        while True:
            page = self.logs.filter_log_events(logGroupName=group, **params)
            pages += [e["message"] for e in page["events"]]
            if "nextToken" not in page:
                break
            params["nextToken"] = page["nextToken"]
        self.assertEqual(pages, ["a0", "b1", "a2", "b3", "a4", "b5"])

    def test_page_size_0_passes_through(self):
        self.s.set(logs_page_size=0)
        self.addCleanup(self.s.set, logs_page_size=2)
        self.assertEqual([len(p) for p in self.pages()], [5])


class LogsAtTeardown(unittest.TestCase):
    """What a log group does around a teardown: deletion protection, aborted deletes, a late write after
    DeleteFunction, and where a function logs (LoggingConfig)."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"logs_deletion_protection": True, "logs_late_write": True, "lambda_logging_config": True})
        cls.s.clock(frozen=True)  # a late write's window (the function's timeout) ends when a test advances it
        cls.logs = cls.s.client("logs")
        cls.moto = cls.s.client("logs", direct=True)
        cls.lam = cls.s.client("lambda")
        cls.lam_moto = cls.s.client("lambda", direct=True)
        cls.iam_moto = cls.s.client("iam", direct=True)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def group_exists(self, name):
        return any(g["logGroupName"] == name for g in self.moto.describe_log_groups(logGroupNamePrefix=name)["logGroups"])

    def function(self, name, role_name, timeout=30, **extra):
        role = self.iam_moto.create_role(RoleName=role_name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        return self.lam.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler", Role=role,
                                        Code={"ZipFile": ZIP}, Timeout=timeout, **extra)

    def test_deletion_protection_is_kept_shown_and_refuses_the_delete(self):
        group = "/aws/lambda/protected"
        self.moto.create_log_group(logGroupName=group)
        described = self.logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
        self.assertIs(described["deletionProtectionEnabled"], False)
        self.logs.put_log_group_deletion_protection(logGroupIdentifier=group, deletionProtectionEnabled=True)
        described = self.logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
        self.assertIs(described["deletionProtectionEnabled"], True)
        with self.assertRaises(ClientError) as e:
            self.logs.delete_log_group(logGroupName=group)
        self.assertEqual(code(e.exception), ("ValidationException", "Cannot delete log group with deletion protection "
                                             "enabled. Disable deletion protection first.", 400))
        self.assertTrue(self.group_exists(group))
        self.logs.put_log_group_deletion_protection(logGroupIdentifier=group, deletionProtectionEnabled=False)
        self.logs.delete_log_group(logGroupName=group)
        self.assertFalse(self.group_exists(group))
        with self.assertRaises(ClientError) as e:
            self.logs.put_log_group_deletion_protection(logGroupIdentifier=group, deletionProtectionEnabled=True)
        self.assertEqual(code(e.exception)[0], "ResourceNotFoundException")
        # Created protected.
        self.logs.create_log_group(logGroupName=group, deletionProtectionEnabled=True)
        with self.assertRaises(ClientError) as e:
            self.logs.delete_log_group(logGroupName=group)
        self.assertEqual(code(e.exception)[0], "ValidationException")

    def test_the_next_n_deletes_are_aborted(self):
        group = "/aws/lambda/aborted"
        self.moto.create_log_group(logGroupName=group)
        self.s.set(logs_delete_aborted=2)
        for _ in range(2):
            with self.assertRaises(ClientError) as e:
                self.logs.delete_log_group(logGroupName=group)
            self.assertEqual(code(e.exception)[0::2], ("OperationAbortedException", 400))
            self.assertTrue(self.group_exists(group))
        self.assertEqual(self.s.control("GET", "/__strict/config")[1]["logs_delete_aborted"], 0)
        self.logs.delete_log_group(logGroupName=group)
        self.assertFalse(self.group_exists(group))

    def test_a_late_write_recreates_the_group_while_the_role_exists(self):
        group = "/aws/lambda/late"
        self.function("late", "late-role")
        self.logs.create_log_group(logGroupName=group, tags={"stackctl:stack": "s"})
        self.lam.delete_function(FunctionName="late")
        self.logs.delete_log_group(logGroupName=group)
        # Back, untagged, with no retention: what Lambda makes.
        self.assertTrue(self.group_exists(group))
        arn = "arn:aws:logs:us-east-1:123456789012:log-group:%s" % group
        self.assertEqual(self.moto.list_tags_for_resource(resourceArn=arn)["tags"], {})
        self.assertNotIn("retentionInDays", self.moto.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0])
        self.assertTrue(any(e["injected"] == "late write" for e in self.s.log()))
        # One flush: the second delete sticks.
        self.logs.delete_log_group(logGroupName=group)
        self.assertFalse(self.group_exists(group))

    def test_no_late_write_once_the_role_is_gone_or_after_the_timeout(self):
        group = "/aws/lambda/late-no-role"
        self.function("late-no-role", "late-no-role-role")
        self.logs.create_log_group(logGroupName=group)
        self.lam.delete_function(FunctionName="late-no-role")
        self.iam_moto.delete_role(RoleName="late-no-role-role")
        self.logs.delete_log_group(logGroupName=group)
        self.assertFalse(self.group_exists(group))
        self.assertTrue(any(e["injected"] == "no late write" for e in self.s.log()))

        group = "/aws/lambda/late-timed-out"
        self.function("late-timed-out", "late-timed-out-role", timeout=1)
        self.logs.create_log_group(logGroupName=group)
        self.lam.delete_function(FunctionName="late-timed-out")
        self.s.advance(1200)  # past the function's 1 s timeout: nothing is still in flight
        self.logs.delete_log_group(logGroupName=group)
        self.assertFalse(self.group_exists(group))

    def test_a_late_write_goes_to_the_group_logging_config_names(self):
        self.function("late-custom", "late-custom-role", LoggingConfig={"LogFormat": "Text", "LogGroup": "/custom/late"})
        self.moto.create_log_group(logGroupName="/custom/late")
        self.lam.delete_function(FunctionName="late-custom")
        self.logs.delete_log_group(logGroupName="/custom/late")
        self.assertTrue(self.group_exists("/custom/late"))

    def test_logging_config_is_kept_and_reported(self):
        self.function("logging", "logging-role", LoggingConfig={"LogFormat": "Text", "LogGroup": "/custom/group"})
        self.assertNotIn("LoggingConfig", self.lam_moto.get_function_configuration(FunctionName="logging"))  # moto drops it
        expected = {"LogFormat": "Text", "LogGroup": "/custom/group"}
        self.assertEqual(self.lam.get_function_configuration(FunctionName="logging")["LoggingConfig"], expected)
        self.assertEqual(self.lam.get_function(FunctionName="logging")["Configuration"]["LoggingConfig"], expected)
        answer = self.lam.update_function_configuration(FunctionName="logging", LoggingConfig={"LogGroup": "/custom/other"})
        self.assertEqual(answer["LoggingConfig"], {"LogFormat": "Text", "LogGroup": "/custom/other"})
        self.lam.update_function_configuration(FunctionName="logging", MemorySize=256)
        self.assertEqual(self.lam.get_function_configuration(FunctionName="logging")["LoggingConfig"]["LogGroup"],
                         "/custom/other")
        # A function without one logs to /aws/lambda/<name>, and says so.
        self.function("logging-default", "logging-default-role")
        self.assertEqual(self.lam.get_function_configuration(FunctionName="logging-default")["LoggingConfig"],
                         {"LogFormat": "Text", "LogGroup": "/aws/lambda/logging-default"})


class Cognito(unittest.TestCase):
    """Cognito user pools: recognised (operation, pool, read or write), and AWS's stricter rules moto skips."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"cognito_page_limits": True, "cognito_client_flows": True, "cognito_tag_rules": True})
        cls.idp = cls.s.client("cognito-idp")
        cls.moto = cls.s.client("cognito-idp", direct=True)
        cls.pool = cls.moto.create_user_pool(PoolName="selftest")["UserPool"]["Id"]

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def code(self, call):
        with self.assertRaises(ClientError) as raised:
            call()
        return raised.exception.response["Error"]["Code"]

    def test_requests_are_recorded_with_service_operation_and_pool(self):
        self.idp.describe_user_pool(UserPoolId=self.pool)
        read = self.s.last_request("DescribeUserPool", self.pool)
        self.assertEqual((read["service"], read["write"]), ("cognito-idp", False))

    def test_list_user_pools_requires_max_results_of_1_to_60(self):
        # boto3 validates MaxResults itself: the raw request shows what AWS answers.
        status, body = self.s.raw_json("cognito-idp", "AWSCognitoIdentityProviderService.ListUserPools", {})
        self.assertEqual((status, body["__type"]), (400, "InvalidParameterException"))
        self.assertIn("'maxResults'", body["message"])
        self.assertEqual(self.code(lambda: self.idp.list_user_pools(MaxResults=61)), "InvalidParameterException")
        self.assertIn("UserPools", self.idp.list_user_pools(MaxResults=60))
        self.assertEqual(self.code(lambda: self.idp.list_users(UserPoolId=self.pool, Limit=61)),
                         "InvalidParameterException")

    def test_admin_password_auth_needs_the_flow_on_the_client(self):
        client = self.moto.create_user_pool_client(UserPoolId=self.pool, ClientName="no-admin",
                                                   ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"])["UserPoolClient"]
        self.moto.admin_create_user(UserPoolId=self.pool, Username="u1", TemporaryPassword="Passw0rd!x")
        self.moto.admin_set_user_password(UserPoolId=self.pool, Username="u1", Password="Passw0rd!x", Permanent=True)
        auth = lambda client_id: self.idp.admin_initiate_auth(
            UserPoolId=self.pool, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "u1", "PASSWORD": "Passw0rd!x"})
        self.assertEqual(self.code(lambda: auth(client["ClientId"])), "InvalidParameterException")
        allowed = self.moto.create_user_pool_client(
            UserPoolId=self.pool, ClientName="admin",
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
        self.assertIn("AuthenticationResult", auth(allowed["ClientId"]))

    def test_tags_follow_cognitos_rules(self):
        self.assertEqual(self.code(lambda: self.idp.create_user_pool(PoolName="t", UserPoolTags={"aws:x": "v"})),
                         "InvalidParameterException")
        self.assertEqual(self.code(lambda: self.idp.create_user_pool(PoolName="t", UserPoolTags={"k": "a" * 257})),
                         "InvalidParameterException")
        self.idp.create_user_pool(PoolName="t", UserPoolTags={"stackctl:stack": "my-app"})

    def test_the_jwks_is_fetched_unsigned_and_recorded_as_a_read(self):
        with urllib.request.urlopen("%s/%s/.well-known/jwks.json" % (self.s.url, self.pool), timeout=10) as resp:
            self.assertIn("keys", json.loads(resp.read()))
        read = self.s.last_request("GetJWKS", self.pool)
        self.assertFalse(read["write"])


class Tagging(unittest.TestCase):
    """The Resource Groups Tagging API as stackctl's `ls` meets it on AWS: the log group's type spelt AWS's way,
    deleted resources listed for minutes, and tables created long ago."""

    TAG = {"stackctl:stack": "tg"}

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"tagging_resource_types": True, "tagging_stale_ms": 60000,
                       "created_ago_secs": {"tg-old": 8 * 86400}})
        cls.tagging = cls.s.client("resourcegroupstaggingapi")
        cls.moto_tagging = cls.s.client("resourcegroupstaggingapi", direct=True)
        cls.logs = cls.s.client("logs")
        cls.ddb = cls.s.client("dynamodb")

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def table(self, name):
        self.ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                              Tags=[{"Key": k, "Value": v} for k, v in self.TAG.items()])

    def arns(self, client, types):
        found = client.get_resources(TagFilters=[{"Key": "stackctl:stack", "Values": ["tg"]}],
                                     ResourceTypeFilters=types)["ResourceTagMappingList"]
        return sorted(m["ResourceARN"] for m in found)

    def test_requests_are_recorded_as_the_tagging_service(self):
        self.arns(self.tagging, ["dynamodb:table"])
        read = self.s.last_request("GetResources")
        self.assertEqual((read["service"], read["write"]), ("tagging", False))

    def test_log_groups_are_found_by_awss_type_and_motos_spelling_is_refused(self):
        self.logs.create_log_group(logGroupName="/aws/lambda/tg-fn", tags=self.TAG)
        arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/tg-fn"
        self.assertEqual(self.arns(self.moto_tagging, ["logs:log-group"]), [])  # moto alone: not with AWS's type
        self.assertEqual(self.arns(self.tagging, ["logs:log-group"]), [arn])
        with self.assertRaises(ClientError) as e:
            self.arns(self.tagging, ["logs:loggroup"])
        self.assertEqual(code(e.exception)[0::2], ("InvalidParameterException", 400))
        self.s.set(tagging_resource_types=False)
        self.addCleanup(self.s.set, tagging_resource_types=True)
        self.assertEqual(self.arns(self.tagging, ["logs:log-group"]), [])

    def test_a_deleted_resource_is_still_listed_for_a_while(self):
        self.table("tg-gone")
        arn = "arn:aws:dynamodb:us-east-1:123456789012:table/tg-gone"
        self.assertIn(arn, self.arns(self.tagging, ["dynamodb:table"]))
        self.ddb.delete_table(TableName="tg-gone")
        self.assertIn(arn, self.arns(self.tagging, ["dynamodb:table"]))
        self.assertNotIn(arn, self.arns(self.moto_tagging, ["dynamodb:table"]))
        with self.assertRaises(ClientError) as e:
            self.s.client("dynamodb", direct=True).describe_table(TableName="tg-gone")
        self.assertEqual(code(e.exception)[0], "ResourceNotFoundException")
        self.s.set(tagging_stale_ms=0)
        self.addCleanup(self.s.set, tagging_stale_ms=60000)
        self.assertNotIn(arn, self.arns(self.tagging, ["dynamodb:table"]))

    def test_expired_credentials_are_refused_by_every_service_in_its_format(self):
        self.s.set(expired_token=True)
        self.addCleanup(self.s.set, expired_token=False)
        for service, call, expected in (
                ("iam", lambda c: c.list_roles(), "ExpiredToken"),
                ("sts", lambda c: c.get_caller_identity(), "ExpiredToken"),
                ("dynamodb", lambda c: c.list_tables(), "ExpiredTokenException"),
                ("lambda", lambda c: c.list_functions(), "ExpiredTokenException"),
                ("logs", lambda c: c.describe_log_groups(), "ExpiredTokenException"),
                ("resourcegroupstaggingapi", lambda c: c.get_resources(), "ExpiredTokenException")):
            with self.assertRaises(ClientError) as e:
                call(self.s.client(service))
            self.assertEqual(code(e.exception)[0], expected, service)
        self.s.set(expired_token=False)
        self.s.client("iam").list_roles()

    def test_a_table_can_be_made_long_ago(self):
        self.table("tg-old")
        created = self.ddb.describe_table(TableName="tg-old")["Table"]["CreationDateTime"]
        age = time.time() - created.timestamp()
        self.assertGreater(age, 8 * 86400 - 60)
        fresh = self.s.client("dynamodb", direct=True).describe_table(TableName="tg-old")["Table"]["CreationDateTime"]
        self.assertLess(time.time() - fresh.timestamp(), 3600)


# Every fault switch off (explicit values: the null-reset test must not be the only thing resetting them).
FAULTS_OFF = {"throttle_rate": 0, "provisioned_throughput_rate": 0, "error_5xx_rate": 0, "slow_rate": 0, "slow_ms": 0,
              "drop_rate": 0, "drop_after_forward": 0.5, "fault_services": None, "fault_operations": None,
              "max_consecutive_faults": None}


class FunctionUrls(unittest.TestCase):
    """Function URL configs and resource policies: each behaviour on, and moto's leniency with it off."""

    SWITCHES = {"url_config_conflict": True, "url_config_validation": True, "url_config_not_found": True,
                "permission_sid_conflict": True, "policy_conditions": True, "permission_write_conflict_ms": 0}

    @classmethod
    def setUpClass(cls):
        cls.s = Stack(dict(cls.SWITCHES))
        cls.lam = cls.s.client("lambda")
        cls.lam_moto = cls.s.client("lambda", direct=True)
        cls.role = cls.s.client("iam", direct=True).create_role(
            RoleName="urls", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def setUp(self):
        self.s.set(**self.SWITCHES)

    def function(self, name):
        self.lam_moto.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler",
                                      Role=self.role, Code={"ZipFile": ZIP})
        return name

    def code(self, call):
        try:
            call()
        except ClientError as e:
            return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
        return None

    def test_a_second_create_conflicts(self):
        name = self.function("url-conflict")
        first = self.lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        again = lambda: self.lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
        self.assertEqual(self.code(again), (409, "ResourceConflictException"))
        self.assertEqual(self.lam.get_function_url_config(FunctionName=name)["FunctionUrl"], first)
        self.s.set(url_config_conflict=False)
        self.assertIsNone(self.code(again), "moto replaces the config")

    def test_the_config_is_validated_as_aws_does(self):
        name = self.function("url-validation")
        bad = [
            {"AuthType": "PUBLIC"},
            {"AuthType": "NONE", "Cors": {"AllowMethods": ["GET", "OPTIONS"]}},
            {"AuthType": "NONE", "Cors": {"AllowMethods": ["GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"]}},
            {"AuthType": "NONE", "Cors": {"AllowOrigins": ["https://%s.example" % ("a" * 250)]}},
            {"AuthType": "NONE", "Cors": {"MaxAge": 86401}},
            {"AuthType": "NONE", "InvokeMode": "STREAMING"},
        ]
        for params in bad:
            self.assertEqual(self.code(lambda: self.lam.create_function_url_config(FunctionName=name, **params)),
                             (400, "ValidationException"), params)
        self.assertEqual(self.code(lambda: self.lam.get_function_url_config(FunctionName=name)),
                         (404, "ResourceNotFoundException"), "nothing was created")
        self.lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors={
            "AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"], "MaxAge": 300})
        self.s.set(url_config_validation=False, url_config_conflict=False)
        self.assertIsNone(self.code(lambda: self.lam.update_function_url_config(
            FunctionName=name, Cors={"AllowMethods": ["OPTIONS"]})), "moto takes anything")

    def test_a_missing_config_is_not_found_and_answers_are_awss(self):
        name = self.function("url-missing")
        for call in (lambda: self.lam.delete_function_url_config(FunctionName=name),
                     lambda: self.lam.get_function_url_config(FunctionName=name),
                     lambda: self.lam.update_function_url_config(FunctionName=name, AuthType="NONE")):
            self.assertEqual(self.code(call), (404, "ResourceNotFoundException"))
        self.lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM", InvokeMode="BUFFERED")
        got = self.lam.get_function_url_config(FunctionName=name)
        self.assertEqual((got["ResponseMetadata"]["HTTPStatusCode"], got.get("InvokeMode")), (200, "BUFFERED"))
        self.lam.delete_function_url_config(FunctionName=name)
        self.s.set(url_config_not_found=False)
        self.assertIsNone(self.code(lambda: self.lam.delete_function_url_config(FunctionName=name)),
                          "moto's Delete of a missing config succeeds")

    def test_statement_ids_are_unique_and_url_auth_only_on_invoke_function_url(self):
        name = self.function("perm-sid")
        add = lambda sid, **extra: self.lam.add_permission(FunctionName=name, StatementId=sid, Principal="*",
                                                           **extra)
        add("one", Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
        self.assertEqual(self.code(lambda: add("one", Action="lambda:InvokeFunctionUrl",
                                               FunctionUrlAuthType="NONE")), (409, "ResourceConflictException"))
        self.assertEqual(self.code(lambda: add("two", Action="lambda:InvokeFunction", FunctionUrlAuthType="NONE")),
                         (400, "InvalidParameterValueException"))
        self.assertEqual(self.code(lambda: self.lam.remove_permission(FunctionName=name, StatementId="absent")),
                         (404, "ResourceNotFoundException"))
        self.s.set(permission_sid_conflict=False)
        self.assertIsNone(self.code(lambda: add("one", Action="lambda:InvokeFunctionUrl",
                                                FunctionUrlAuthType="NONE")), "moto takes a duplicate Sid")

    def test_add_permission_right_after_a_policy_write_conflicts(self):
        name = self.function("perm-busy")
        self.s.set(permission_write_conflict_ms=60000)
        add = lambda sid: self.lam.add_permission(FunctionName=name, StatementId=sid, Principal="*",
                                                  Action="lambda:InvokeFunction")
        add("first")
        self.assertEqual(self.code(lambda: add("second")), (409, "ResourceConflictException"))
        sids = [st["Sid"] for st in json.loads(self.lam.get_policy(FunctionName=name)["Policy"])["Statement"]]
        self.assertEqual(sids, ["first"], "a conflicting AddPermission writes nothing")
        self.s.set(permission_write_conflict_ms=0)
        self.assertIsNone(self.code(lambda: add("second")), "moto: no conflict")

    def test_policy_conditions_come_back_as_condition_blocks(self):
        name = self.function("perm-conditions")
        self.lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                                Principal="*", FunctionUrlAuthType="NONE")
        self.lam.add_permission(FunctionName=name, StatementId="via", Action="lambda:InvokeFunction",
                                Principal="*", InvokedViaFunctionUrl=True)
        doc = json.loads(self.lam.get_policy(FunctionName=name)["Policy"])
        by_sid = {st["Sid"]: st for st in doc["Statement"]}
        self.assertEqual(by_sid["url"]["Condition"], {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})
        self.assertEqual(by_sid["via"]["Condition"], {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}})
        self.assertNotIn("FunctionUrlAuthType", by_sid["url"])
        self.assertEqual(by_sid["url"]["Principal"], "*")
        self.s.set(policy_conditions=False)
        raw = {st["Sid"]: st for st in json.loads(self.lam.get_policy(FunctionName=name)["Policy"])["Statement"]}
        self.assertNotIn("Condition", raw["url"], "moto keeps the parameter as a raw key")


class ConcurrencyPool(unittest.TestCase):
    """`lambda_account_concurrency`: GetAccountSettings answers the pool (moto: 404), and PutFunctionConcurrency
    past the minimum unreserved is refused as AWS refuses it."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"lambda_account_concurrency": 160})
        cls.lam = cls.s.client("lambda")
        cls.lam_moto = cls.s.client("lambda", direct=True)
        cls.role = cls.s.client("iam", direct=True).create_role(
            RoleName="pool", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        for name in ("pool-a", "pool-b"):
            cls.lam_moto.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler",
                                         Role=cls.role, Code={"ZipFile": ZIP})

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def setUp(self):
        self.s.set(lambda_account_concurrency=160)
        for name in ("pool-a", "pool-b"):
            self.lam_moto.delete_function_concurrency(FunctionName=name)

    def pool(self):
        limit = self.lam.get_account_settings()["AccountLimit"]
        return limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]

    def test_held_operations_wait_until_released(self):
        self.s.set(hold_operations=["GetAccountSettings"])
        answers = []
        worker = threading.Thread(target=lambda: answers.append(self.pool()))
        worker.start()
        deadline = time.time() + 10
        while not any(e["injected"] == "held" for e in self.s.log()) and time.time() < deadline:
            time.sleep(0.02)
        self.assertTrue(any(e["injected"] == "held" for e in self.s.log()), "the request was not held")
        self.assertEqual(answers, [], "a held request is not answered")
        self.s.set(hold_operations=None)
        worker.join(10)
        self.assertEqual(answers, [(160, 160)])

    def test_the_pool_counts_the_reservations_moto_holds(self):
        self.assertEqual(self.pool(), (160, 160))
        self.lam_moto.put_function_concurrency(FunctionName="pool-a", ReservedConcurrentExecutions=25)
        self.assertEqual(self.pool(), (160, 135))
        self.s.set(lambda_account_concurrency=None)
        with self.assertRaises(ClientError) as err:
            self.lam.get_account_settings()
        self.assertEqual(err.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404, "moto: not implemented")

    def test_a_reservation_past_the_minimum_is_refused(self):
        self.lam.put_function_concurrency(FunctionName="pool-a", ReservedConcurrentExecutions=40)
        # 160 - 40 - 21 = 99 < 100: refused; the function's own reservation is replaced, not added to.
        with self.assertRaises(ClientError) as err:
            self.lam.put_function_concurrency(FunctionName="pool-b", ReservedConcurrentExecutions=21)
        self.assertEqual(code(err.exception), (
            "InvalidParameterValueException",
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
            "below its minimum value of [100].", 400))
        self.lam.put_function_concurrency(FunctionName="pool-b", ReservedConcurrentExecutions=20)
        self.lam.put_function_concurrency(FunctionName="pool-a", ReservedConcurrentExecutions=40)
        self.assertEqual(self.pool(), (160, 100))
        # An account whose limit is 10 keeps all 10: it cannot reserve any, but 0 is fine.
        self.lam_moto.delete_function_concurrency(FunctionName="pool-a")
        self.lam_moto.delete_function_concurrency(FunctionName="pool-b")
        self.s.set(lambda_account_concurrency=10)
        with self.assertRaises(ClientError) as err:
            self.lam.put_function_concurrency(FunctionName="pool-a", ReservedConcurrentExecutions=1)
        self.assertIn("minimum value of [10]", code(err.exception)[1])
        self.lam.put_function_concurrency(FunctionName="pool-a", ReservedConcurrentExecutions=0)
        self.s.set(lambda_account_concurrency=None)
        self.lam.put_function_concurrency(FunctionName="pool-b", ReservedConcurrentExecutions=500)


class LambdaVersions(unittest.TestCase):
    """`lambda_versions`: PublishVersion's preconditions, alias rules, no deleting a version an alias points to."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"lambda_versions": True, "lambda_invoke_node": True})
        cls.lam = cls.s.client("lambda")
        cls.lam_moto = cls.s.client("lambda", direct=True)
        cls.role = cls.s.client("iam", direct=True).create_role(
            RoleName="versions", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def function(self, name):
        return self.lam_moto.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler",
                                             Role=self.role, Code={"ZipFile": ZIP})

    def versions(self, name, client=None):
        pages = (client or self.lam_moto).get_paginator("list_versions_by_function").paginate(FunctionName=name)
        return [v["Version"] for page in pages for v in page["Versions"]]

    def invoke_function(self, name, code, **extra):
        return self.lam.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="src/app.handler",
                                        Role=self.role, Code={"ZipFile": code}, **extra)

    def test_a_published_version_keeps_its_code_and_configuration(self):
        self.invoke_function("frozen", _invoke_zip(), Environment={"Variables": {"TABLE_NAME": "first"}})
        one = self.lam.publish_version(FunctionName="frozen", Description="first build")
        self.assertEqual((one["Version"], one["Description"]), ("1", "first build"))
        at_publish = self.lam.get_function(FunctionName="frozen", Qualifier="1")
        self.lam.update_function_code(FunctionName="frozen", ZipFile=_invoke_zip("\n// two"))
        self.lam.update_function_configuration(FunctionName="frozen", MemorySize=256, Description="changed",
                                               Environment={"Variables": {"TABLE_NAME": "second"}})
        latest = self.lam.get_function(FunctionName="frozen")
        self.assertNotEqual(latest["Configuration"]["CodeSha256"], one["CodeSha256"])
        for qualifier in ("1", "live"):
            if qualifier == "live":
                self.lam.create_alias(FunctionName="frozen", Name="live", FunctionVersion="1")
            got = self.lam.get_function(FunctionName="frozen", Qualifier=qualifier)
            conf = got["Configuration"]
            self.assertEqual((conf["Version"], conf["CodeSha256"], conf["MemorySize"], conf["Description"]),
                             ("1", one["CodeSha256"], 128, "first build"), qualifier)
            self.assertEqual(conf["Environment"]["Variables"], {"TABLE_NAME": "first"})
            self.assertEqual(got["Code"], at_publish["Code"])
            self.assertEqual(self.lam.get_function_configuration(FunctionName="frozen", Qualifier=qualifier)
                             ["CodeSha256"], one["CodeSha256"])
        # moto shares $LATEST's code record with the version (a shallow copy at publish): its Code.Location
        # follows $LATEST's updates.
        self.assertEqual(self.lam_moto.get_function(FunctionName="frozen", Qualifier="1")["Code"], latest["Code"])
        self.assertNotEqual(latest["Code"], at_publish["Code"])
        # Invoke with the version or the alias runs the version's code and configuration.
        for qualifier in ("1", "live"):
            out = self.lam.invoke(FunctionName="frozen", Qualifier=qualifier, Payload=b"{}")
            self.assertEqual((out["ExecutedVersion"], json.loads(out["Payload"].read())["table"]), ("1", "first"))
        out = self.lam.invoke(FunctionName="frozen", Payload=b"{}")
        self.assertEqual((out["ExecutedVersion"], json.loads(out["Payload"].read())["table"]), ("$LATEST", "second"))

    def test_a_deleted_version_is_gone_and_its_number_never_reused(self):
        self.function("numbers")
        for memory in (256, 512):
            self.lam.publish_version(FunctionName="numbers")
            self.lam.update_function_configuration(FunctionName="numbers", MemorySize=memory)
        self.lam.delete_function(FunctionName="numbers", Qualifier="1")
        self.assertEqual(self.versions("numbers", self.lam), ["$LATEST", "2"])
        self.assertEqual(self.s.last_request("DeleteFunction", "numbers")["answered_by"], "proxy")
        for call in (lambda: self.lam.get_function(FunctionName="numbers", Qualifier="1"),
                     lambda: self.lam.get_function_configuration(FunctionName="numbers", Qualifier="1"),
                     lambda: self.lam.delete_function(FunctionName="numbers", Qualifier="1"),
                     lambda: self.lam.create_alias(FunctionName="numbers", Name="old", FunctionVersion="1")):
            with self.assertRaises(ClientError) as e:
                call()
            self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))
        self.assertIn("function:numbers:1", code(e.exception)[1])
        three = self.lam.publish_version(FunctionName="numbers")
        self.assertEqual((three["Version"], three["MemorySize"]), ("3", 512))
        self.assertEqual(self.lam.get_function_configuration(FunctionName="numbers", Qualifier="3")["MemorySize"], 512)
        self.assertEqual(self.versions("numbers", self.lam), ["$LATEST", "2", "3"])
        # A version that never was is moto's own 404.
        with self.assertRaises(ClientError) as e:
            self.lam.delete_function(FunctionName="numbers", Qualifier="9")
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))
        self.lam.delete_function(FunctionName="numbers")
        self.function("numbers")  # a new function of the same name starts with no versions, none deleted
        self.assertEqual(self.lam.publish_version(FunctionName="numbers")["Version"], "1")
        self.assertEqual(self.versions("numbers", self.lam), ["$LATEST", "1"])

    def test_off_moto_reuses_a_deleted_versions_number(self):
        self.s.set(lambda_versions=False)
        self.addCleanup(self.s.set, lambda_versions=True)
        self.function("reused")
        for memory in (256, 512):
            self.lam.publish_version(FunctionName="reused")
            self.lam.update_function_configuration(FunctionName="reused", MemorySize=memory)
        self.lam.delete_function(FunctionName="reused", Qualifier="1")
        self.assertEqual(self.lam.publish_version(FunctionName="reused")["Version"], "2")
        self.assertEqual(self.versions("reused"), ["$LATEST", "2", "2"])

    def test_list_versions_answers_pages(self):
        self.s.set(lambda_versions_page_size=2)
        self.addCleanup(self.s.set, lambda_versions_page_size=0)
        self.function("paged")
        for memory in (256, 512, 1024):
            self.lam.publish_version(FunctionName="paged")
            self.lam.update_function_configuration(FunctionName="paged", MemorySize=memory)
        first = self.lam.list_versions_by_function(FunctionName="paged")
        self.assertEqual([v["Version"] for v in first["Versions"]], ["$LATEST", "1"])
        self.assertEqual(first["Versions"][0]["RevisionId"],
                         self.lam.get_function_configuration(FunctionName="paged")["RevisionId"])
        second = self.lam.list_versions_by_function(FunctionName="paged", Marker=first["NextMarker"])
        self.assertEqual([v["Version"] for v in second["Versions"]], ["2", "3"])
        self.assertNotIn("NextMarker", second)
        one = self.lam.list_versions_by_function(FunctionName="paged", MaxItems=1)
        self.assertEqual(([v["Version"] for v in one["Versions"]], "NextMarker" in one), (["$LATEST"], True))
        self.assertEqual(self.versions("paged", self.lam), ["$LATEST", "1", "2", "3"])
        # moto answers every version at once, whatever MaxItems says.
        self.assertEqual(len(self.lam_moto.list_versions_by_function(FunctionName="paged", MaxItems=1)["Versions"]), 4)

    def test_update_alias_honours_its_revision_id(self):
        self.function("moved")
        self.lam.publish_version(FunctionName="moved")
        self.lam.update_function_configuration(FunctionName="moved", MemorySize=256)
        self.lam.publish_version(FunctionName="moved")
        created = self.lam.create_alias(FunctionName="moved", Name="live", FunctionVersion="1")
        moto_revision = self.lam_moto.get_alias(FunctionName="moved", Name="live")["RevisionId"]
        self.assertEqual(self.lam.get_alias(FunctionName="moved", Name="live")["RevisionId"], created["RevisionId"])
        moved = self.lam.update_alias(FunctionName="moved", Name="live", FunctionVersion="2",
                                      RevisionId=created["RevisionId"])
        self.assertNotEqual(moved["RevisionId"], created["RevisionId"])
        self.assertEqual(self.lam.get_alias(FunctionName="moved", Name="live")["RevisionId"], moved["RevisionId"])
        self.assertEqual(self.lam.list_aliases(FunctionName="moved")["Aliases"][0]["RevisionId"], moved["RevisionId"])
        with self.assertRaises(ClientError) as e:
            self.lam.update_alias(FunctionName="moved", Name="live", FunctionVersion="1",
                                  RevisionId=created["RevisionId"])
        self.assertEqual(code(e.exception)[0::2], ("PreconditionFailedException", 412))
        self.assertEqual(self.lam.get_alias(FunctionName="moved", Name="live")["FunctionVersion"], "2")
        # moto keeps the RevisionId an alias was created with and moves it whatever RevisionId is sent.
        self.assertEqual(self.lam_moto.get_alias(FunctionName="moved", Name="live")["RevisionId"], moto_revision)
        self.lam_moto.update_alias(FunctionName="moved", Name="live", FunctionVersion="1", RevisionId="stale")
        self.assertEqual(self.lam.get_alias(FunctionName="moved", Name="live")["FunctionVersion"], "1")

    def test_publish_version_checks_code_sha256_and_revision_id(self):
        self.function("pub")
        latest = self.lam.get_function_configuration(FunctionName="pub")
        # Lambda answers $LATEST's RevisionId and changes it on every update (moto answers none).
        self.assertNotIn("RevisionId", self.lam_moto.get_function_configuration(FunctionName="pub"))
        self.assertEqual(self.lam.get_function(FunctionName="pub")["Configuration"]["RevisionId"], latest["RevisionId"])
        updated = self.lam.update_function_configuration(FunctionName="pub", MemorySize=256)
        self.assertNotEqual(updated["RevisionId"], latest["RevisionId"])
        with self.assertRaises(ClientError) as e:
            self.lam.publish_version(FunctionName="pub", RevisionId=latest["RevisionId"])
        self.assertEqual(code(e.exception)[0::2], ("PreconditionFailedException", 412))
        latest = self.lam.get_function_configuration(FunctionName="pub")
        self.assertEqual(latest["RevisionId"], updated["RevisionId"])
        with self.assertRaises(ClientError) as e:
            self.lam.publish_version(FunctionName="pub", CodeSha256="AAAA" + latest["CodeSha256"][4:])
        self.assertEqual(code(e.exception)[0::2], ("InvalidParameterValueException", 400))
        self.assertIn("is different from current CodeSHA256 in $LATEST (%s)" % latest["CodeSha256"],
                      code(e.exception)[1])
        self.assertEqual(self.s.last_request("PublishVersion", "pub")["answered_by"], "proxy")
        with self.assertRaises(ClientError) as e:
            self.lam.publish_version(FunctionName="pub", CodeSha256=latest["CodeSha256"],
                                     RevisionId="00000000-0000-0000-0000-000000000000")
        self.assertEqual(code(e.exception)[0::2], ("PreconditionFailedException", 412))
        self.assertEqual(self.versions("pub"), ["$LATEST"])  # nothing was published
        out = self.lam.publish_version(FunctionName="pub", CodeSha256=latest["CodeSha256"],
                                       RevisionId=latest["RevisionId"])
        self.assertEqual(out["Version"], "1")
        self.assertEqual(self.versions("pub"), ["$LATEST", "1"])
        # Without either guard the publish passes as moto answers it (moto publishes a second, identical version
        # after a first publish that followed an update; Lambda answers the existing one: stackctl never asks).
        self.assertIn(self.lam.publish_version(FunctionName="pub")["Version"], ("1", "2"))

    def test_alias_names_and_versions_follow_lambdas_rules(self):
        self.function("named")
        self.lam_moto.publish_version(FunctionName="named")
        for name in ("7", "$LATEST", "live:1", "", "a" * 129):
            with self.assertRaises((ClientError, BotoCoreError), msg=name) as e:
                self.lam.create_alias(FunctionName="named", Name=name, FunctionVersion="1")
            if isinstance(e.exception, ClientError):
                self.assertEqual(code(e.exception)[0::2], ("ValidationException", 400), name)
        with self.assertRaises(ClientError) as e:
            self.lam.create_alias(FunctionName="named", Name="live", FunctionVersion="live")
        self.assertIn("at 'functionVersion'", code(e.exception)[1])
        self.assertEqual(self.lam.create_alias(FunctionName="named", Name="live-2_b", FunctionVersion="1")["Name"],
                         "live-2_b")
        with self.assertRaises(ClientError) as e:
            self.lam.update_alias(FunctionName="named", Name="live-2_b", FunctionVersion="latest")
        self.assertEqual(code(e.exception)[0::2], ("ValidationException", 400))
        self.assertEqual(self.lam.update_alias(FunctionName="named", Name="live-2_b", Description="d")["Name"],
                         "live-2_b")
        # moto alone takes a number as an alias name.
        self.assertEqual(self.lam_moto.create_alias(FunctionName="named", Name="7", FunctionVersion="1")["Name"], "7")

    def test_a_version_an_alias_points_to_cannot_be_deleted_nor_latest_alone(self):
        self.function("pinned")
        self.lam_moto.publish_version(FunctionName="pinned")
        self.lam_moto.update_function_configuration(FunctionName="pinned", MemorySize=256)
        self.lam_moto.publish_version(FunctionName="pinned")
        self.lam.create_alias(FunctionName="pinned", Name="live", FunctionVersion="1")
        with self.assertRaises(ClientError) as e:
            self.lam.delete_function(FunctionName="pinned", Qualifier="1")
        self.assertEqual(code(e.exception),
                         ("ResourceConflictException",
                          "Unable to delete version because the following aliases reference it: [live]", 409))
        with self.assertRaises(ClientError) as e:
            self.lam.delete_function(FunctionName="pinned", Qualifier="$LATEST")
        self.assertEqual(code(e.exception)[0::2], ("InvalidParameterValueException", 400))
        self.assertEqual(self.versions("pinned"), ["$LATEST", "1", "2"])
        self.lam.update_alias(FunctionName="pinned", Name="live", FunctionVersion="2")
        self.lam.delete_function(FunctionName="pinned", Qualifier="1")
        self.assertEqual(self.versions("pinned", self.lam), ["$LATEST", "2"])
        self.lam.delete_function(FunctionName="pinned")
        with self.assertRaises(ClientError):
            self.lam_moto.get_function(FunctionName="pinned")

    def test_off_moto_deletes_an_aliased_version(self):
        self.s.set(lambda_versions=False)
        self.addCleanup(self.s.set, lambda_versions=True)
        self.function("lenient")
        self.lam_moto.publish_version(FunctionName="lenient")
        self.lam.create_alias(FunctionName="lenient", Name="live", FunctionVersion="1")
        self.lam.delete_function(FunctionName="lenient", Qualifier="1")
        self.assertEqual(self.versions("lenient"), ["$LATEST"])


class AliasUrls(unittest.TestCase):
    """`url_qualifiers`: an alias's URL config and policy are its own (moto keeps one URL per function whatever the
    Qualifier), a URL's qualifier is `$LATEST` or an alias, and the stand-in URL answers behind its qualifier's two
    statements."""

    SWITCHES = {"url_qualifiers": True, "url_config_conflict": True, "url_config_validation": True,
                "url_config_not_found": True, "permission_sid_conflict": True, "policy_conditions": True,
                "lambda_invoke_node": True}

    @classmethod
    def setUpClass(cls):
        cls.s = Stack(dict(cls.SWITCHES))
        cls.lam = cls.s.client("lambda")
        cls.lam_moto = cls.s.client("lambda", direct=True)
        cls.role = cls.s.client("iam", direct=True).create_role(
            RoleName="aliasurls", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def setUp(self):
        self.s.set(**self.SWITCHES)

    def aliased(self, name, code=None):
        """A function (through the proxy, so that its package can run) with version 1 behind alias `live`."""
        self.lam.create_function(FunctionName=name, Runtime="nodejs20.x", Handler="src/app.handler",
                                 Role=self.role, Code={"ZipFile": code or _invoke_zip()})
        self.lam_moto.publish_version(FunctionName=name)
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        return name

    def public(self, name, qualifier=None):
        extra = {"Qualifier": qualifier} if qualifier else {}
        self.lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                                Principal="*", FunctionUrlAuthType="NONE", **extra)
        self.lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction",
                                Principal="*", InvokedViaFunctionUrl=True, **extra)

    def test_a_url_qualifier_is_latest_or_an_alias_never_a_version(self):
        name = self.aliased("q-rules")
        with self.assertRaises(ClientError) as e:
            self.lam.create_function_url_config(FunctionName=name, Qualifier="1", AuthType="NONE")
        self.assertEqual(code(e.exception)[0::2], ("ValidationException", 400))
        self.assertIn("at 'qualifier'", code(e.exception)[1])
        with self.assertRaises(ClientError) as e:
            self.lam.create_function_url_config(FunctionName=name, Qualifier="nope", AuthType="NONE")
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))
        own = self.lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        live = self.lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
        self.assertEqual(live["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertTrue(live["FunctionArn"].endswith(":%s:live" % name), live["FunctionArn"])
        self.assertNotEqual(live["FunctionUrl"], own, "a URL's address is per qualifier")
        self.assertEqual(self.lam.get_function_url_config(FunctionName=name)["FunctionUrl"], own)
        self.assertEqual(self.lam.get_function_url_config(FunctionName=name, Qualifier="live")["FunctionUrl"],
                         live["FunctionUrl"])
        with self.assertRaises(ClientError) as e:
            self.lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
        self.assertEqual(code(e.exception)[0::2], ("ResourceConflictException", 409))
        updated = self.lam.update_function_url_config(FunctionName=name, Qualifier="live", AuthType="AWS_IAM")
        self.assertEqual((updated["AuthType"], updated["FunctionUrl"]), ("AWS_IAM", live["FunctionUrl"]))
        self.lam.delete_function_url_config(FunctionName=name, Qualifier="live")
        with self.assertRaises(ClientError) as e:
            self.lam.get_function_url_config(FunctionName=name, Qualifier="live")
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))
        with self.assertRaises(ClientError) as e:
            self.lam.delete_function_url_config(FunctionName=name, Qualifier="live")
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))
        self.assertEqual(self.lam.get_function_url_config(FunctionName=name)["FunctionUrl"], own)

    def test_permissions_are_kept_per_qualifier(self):
        name = self.aliased("q-policy")
        self.public(name, "live")
        with self.assertRaises(ClientError) as e:
            self.lam.get_policy(FunctionName=name)
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))
        policy = json.loads(self.lam.get_policy(FunctionName=name, Qualifier="live")["Policy"])
        by_sid = {st["Sid"]: st for st in policy["Statement"]}
        self.assertEqual(sorted(by_sid), ["invoke", "url"])
        self.assertTrue(by_sid["url"]["Resource"].endswith(":%s:live" % name))
        self.assertEqual(by_sid["url"]["Condition"], {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})
        self.assertEqual(by_sid["invoke"]["Condition"], {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}})
        with self.assertRaises(ClientError) as e:
            self.lam.add_permission(FunctionName=name, Qualifier="live", StatementId="url", Principal="*",
                                    Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
        self.assertEqual(code(e.exception)[0::2], ("ResourceConflictException", 409))
        with self.assertRaises(ClientError) as e:
            self.lam.remove_permission(FunctionName=name, StatementId="url")
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))
        with self.assertRaises(ClientError) as e:
            self.lam.add_permission(FunctionName=name, Qualifier="gone", StatementId="x", Principal="*",
                                    Action="lambda:InvokeFunction")
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))
        self.lam.remove_permission(FunctionName=name, Qualifier="live", StatementId="url")
        self.lam.remove_permission(FunctionName=name, Qualifier="live", StatementId="invoke")
        with self.assertRaises(ClientError) as e:
            self.lam.get_policy(FunctionName=name, Qualifier="live")
        self.assertEqual(code(e.exception)[0::2], ("ResourceNotFoundException", 404))

    def test_an_aliases_url_and_policy_go_with_it(self):
        name = self.aliased("q-gone")
        self.lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
        self.public(name, "live")
        self.lam.delete_alias(FunctionName=name, Name="live")
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        with self.assertRaises(ClientError):
            self.lam.get_function_url_config(FunctionName=name, Qualifier="live")
        with self.assertRaises(ClientError):
            self.lam.get_policy(FunctionName=name, Qualifier="live")

    def test_the_url_answers_only_with_its_qualifiers_two_statements(self):
        name = self.aliased("q-serve")
        url = self.lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")["FunctionUrl"]
        call = lambda: self.s.control("POST", "/__strict/url", {"url": url, "path": "/items?x=1"})[1]
        self.assertEqual(call()["statusCode"], 403)
        # The function's own statements do not cover the alias's URL.
        self.public(name)
        self.assertEqual(call()["statusCode"], 403)
        self.lam.add_permission(FunctionName=name, Qualifier="live", StatementId="url", Principal="*",
                                Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
        self.assertEqual(call()["statusCode"], 403, "one statement is not enough")
        self.lam.add_permission(FunctionName=name, Qualifier="live", StatementId="invoke", Principal="*",
                                Action="lambda:InvokeFunction", InvokedViaFunctionUrl=True)
        answer = call()
        self.assertEqual((answer["statusCode"], answer["version"]), (200, "1"))
        echo = json.loads(answer["body"])["echo"]
        self.assertEqual((echo["rawPath"], echo["queryStringParameters"]), ("/items", {"x": "1"}))
        self.assertEqual(self.s.control("POST", "/__strict/url", {"url": "https://x.lambda-url.us-east-1.on.aws/"})[1]
                         ["statusCode"], 404)

    def test_off_moto_keeps_one_url_whatever_the_qualifier(self):
        self.s.set(url_qualifiers=False, url_config_conflict=False)
        name = self.aliased("q-lenient")
        own = self.lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        live = self.lam.create_function_url_config(FunctionName=name, Qualifier="1", AuthType="NONE")["FunctionUrl"]
        self.assertNotEqual(own, live)
        self.assertEqual(self.lam.get_function_url_config(FunctionName=name)["FunctionUrl"], live,
                         "moto replaced the function's own URL")


class Clock(unittest.TestCase):
    """POST /__strict/clock: every timed state runs on the proxy's clock, which a test can stop and move on."""

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"table_creating_ms": 1000})
        cls.ddb = cls.s.client("dynamodb")

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def status(self, name):
        return self.ddb.describe_table(TableName=name)["Table"]["TableStatus"]

    def test_a_frozen_clock_holds_a_state_until_it_is_advanced_past_it(self):
        self.assertTrue(self.s.clock(frozen=True)["frozen"])
        self.addCleanup(self.s.clock, frozen=False)
        self.ddb.create_table(TableName="clocked", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
        # Real time passes (more than the whole 1 s window), the frozen clock does not.
        before = self.s.control("GET", "/__strict/clock")[1]["now_ms"]
        time.sleep(1.2)
        self.assertEqual(self.s.control("GET", "/__strict/clock")[1], {"frozen": True, "now_ms": before})
        self.assertEqual(self.status("clocked"), "CREATING")
        self.assertEqual(self.s.advance(999)["now_ms"], before + 999)
        self.assertEqual(self.status("clocked"), "CREATING")
        self.s.advance(1)
        self.assertEqual(self.status("clocked"), "ACTIVE")

    def test_a_thawed_clock_runs_on_from_where_it_stood(self):
        frozen = self.s.clock(frozen=True)["now_ms"]
        self.s.advance(60_000)
        thawed = self.s.clock(frozen=False)
        self.assertEqual((thawed["frozen"], thawed["now_ms"] >= frozen + 60_000), (False, True))
        # Running: a second reading is later, and never before the advanced time.
        time.sleep(0.05)
        self.assertGreater(self.s.control("GET", "/__strict/clock")[1]["now_ms"], thawed["now_ms"])
        # A record's t_ms stays real time since the proxy started: it does not jump with the clock.
        self.ddb.list_tables()
        self.assertLess(self.s.last_request("ListTables")["t_ms"], 60_000)

    def test_bad_clock_requests_are_refused(self):
        for bad in ({"advance_ms": -1}, {"advance_ms": 1.5}, {"advance_ms": True}, {"frozen": "yes"}, {"speed": 2}, []):
            self.assertEqual(self.s.control("POST", "/__strict/clock", bad)[0], 400, bad)
        self.assertFalse(self.s.control("GET", "/__strict/clock")[1]["frozen"])


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack({})

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def setUp(self):
        self.s.set(**FAULTS_OFF)
        self.s.control("POST", "/__strict/reset")  # fault counters and streaks too

    def test_formats_and_retry(self):
        s = self.s
        s.set(throttle_rate=1.0, max_consecutive_faults=2)
        for service, call, expected in [
            ("dynamodb", lambda c: c.list_tables(), ("ThrottlingException", 400)),
            ("iam", lambda c: c.list_roles(), ("Throttling", 400)),
            ("sts", lambda c: c.get_caller_identity(), ("Throttling", 400)),
            ("lambda", lambda c: c.list_functions(), ("TooManyRequestsException", 429)),
        ]:
            with self.assertRaises(ClientError) as e:
                call(s.client(service, attempts=1))
            self.assertEqual(code(e.exception)[0::2], expected)
            call(s.client(service, attempts=3))  # third attempt passes (max 2 in a row)
        s.set(throttle_rate=0, error_5xx_rate=1.0)
        with self.assertRaises(ClientError) as e:
            s.client("iam").list_roles()
        self.assertIn(code(e.exception)[2], (500, 503))

    def test_dynamodb_5xx_in_dynamodb_format(self):
        self.s.set(error_5xx_rate=1.0)
        ddb = self.s.client("dynamodb")
        seen = set()
        for i in range(30):  # the 500/503 draw differs per resource; stop once both were seen
            with self.assertRaises(ClientError) as e:
                ddb.describe_table(TableName="t%d" % i)
            err = e.exception.response
            status = err["ResponseMetadata"]["HTTPStatusCode"]
            expected = {500: "InternalServerError", 503: "ServiceUnavailableException"}[status]
            self.assertEqual(err["Error"]["Code"], expected)
            self.assertEqual(err["ResponseMetadata"]["HTTPHeaders"]["content-type"], "application/x-amz-json-1.0")
            seen.add(status)
            if len(seen) == 2:
                break
        self.assertEqual(seen, {500, 503})

    def test_provisioned_throughput_rate(self):
        self.s.set(provisioned_throughput_rate=1.0)
        with self.assertRaises(ClientError) as e:
            self.s.client("dynamodb").list_tables()
        self.assertEqual(code(e.exception)[0::2], ("ProvisionedThroughputExceededException", 400))
        self.s.client("iam").list_roles()  # DynamoDB only

    def test_slow_ms(self):
        ddb = self.s.client("dynamodb")
        self.s.set(slow_rate=1.0, slow_ms=1000)
        started = time.monotonic()
        ddb.list_tables()
        self.assertGreaterEqual(time.monotonic() - started, 0.95)

    def test_drop_after_forward(self):
        iam, moto = self.s.client("iam"), self.s.client("iam", direct=True)
        self.s.set(drop_rate=1.0, drop_after_forward=1.0)
        with self.assertRaises(BotoCoreError):  # the client hears nothing...
            iam.create_role(RoleName="dropped-after", AssumeRolePolicyDocument=TRUST)
        moto.get_role(RoleName="dropped-after")  # ...but the role was created
        self.s.set(drop_after_forward=0.0)
        with self.assertRaises(BotoCoreError):
            iam.create_role(RoleName="dropped-before", AssumeRolePolicyDocument=TRUST)
        with self.assertRaises(ClientError) as e:
            moto.get_role(RoleName="dropped-before")
        self.assertEqual(code(e.exception)[0], "NoSuchEntity")

    def test_requests_answered_by(self):
        ddb = self.s.client("dynamodb")
        ddb.list_tables()
        self.s.set(throttle_rate=1.0)
        with self.assertRaises(ClientError):
            ddb.list_tables()
        self.s.set(throttle_rate=0, drop_rate=1.0)
        with self.assertRaises(BotoCoreError):
            ddb.list_tables()
        requests = self.s.control("GET", "/__strict/requests")[1]
        self.assertEqual([(r["op"], r["answered_by"], r["status"]) for r in requests],
                         [("ListTables", "upstream", 200), ("ListTables", "proxy", 400), ("ListTables", "dropped", None)])

    def test_fault_services(self):
        self.s.set(throttle_rate=1.0, fault_services=["iam"])
        self.s.client("dynamodb").list_tables()
        with self.assertRaises(ClientError) as e:
            self.s.client("iam").list_roles()
        self.assertEqual(code(e.exception)[0], "Throttling")

    def test_fault_operations(self):
        self.s.set(throttle_rate=1.0, fault_operations=["ListRoles"])
        iam = self.s.client("iam")
        iam.list_policies()
        with self.assertRaises(ClientError) as e:
            iam.list_roles()
        self.assertEqual(code(e.exception)[0], "Throttling")

    def test_logs_throttling(self):
        self.s.set(throttle_rate=1.0, fault_operations=["FilterLogEvents"])
        logs = self.s.client("logs")
        logs.describe_log_groups()  # other Logs operations pass
        with self.assertRaises(ClientError) as e:
            logs.filter_log_events(logGroupName="/aws/lambda/x")
        self.assertEqual(code(e.exception)[0::2], ("ThrottlingException", 400))
        status, content_type, body = self.s.logs_raw("FilterLogEvents", {"logGroupName": "/aws/lambda/x"})
        self.assertEqual((status, content_type, body["__type"]), (400, "application/x-amz-json-1.1", "ThrottlingException"))
        self.s.set(fault_operations=None, fault_services=["logs"])
        with self.assertRaises(ClientError) as e:
            logs.describe_log_groups()
        self.assertEqual(code(e.exception)[0], "ThrottlingException")
        self.s.client("iam").list_roles()

    def test_null_resets_config_key_to_default(self):
        self.s.set(drop_after_forward=0.9, slow_ms=50, fault_services=["iam"])
        status, config = self.s.control("POST", "/__strict/config",
                                        {"drop_after_forward": None, "slow_ms": None, "fault_services": None})
        self.assertEqual(status, 200, config)
        self.assertEqual((config["drop_after_forward"], config["slow_ms"], config["fault_services"]), (0.5, 0, None))
        self.assertEqual(self.s.control("GET", "/__strict/config")[1], config)

    def test_unknown_key_refused(self):
        status, body = self.s.control("POST", "/__strict/config", {"throttle_rat": 1})
        self.assertEqual(status, 400)
        self.assertIn("unknown config key", body["error"])

    def test_same_seed_same_faults(self):
        def run(seed):
            s = Stack({"throttle_rate": 0.3, "error_5xx_rate": 0.2, "drop_rate": 0.1}, seed=seed)
            try:
                ddb = s.client("dynamodb", attempts=1)
                outcome = []
                for i in range(30):
                    try:
                        ddb.describe_table(TableName="t%d" % (i % 3))
                    except ClientError as e:
                        outcome.append(e.response["Error"]["Code"])
                    except Exception as e:  # dropped connection
                        outcome.append(type(e).__name__)
                return outcome, [(e["resource"], e["injected"]) for e in s.log()]
            finally:
                s.close()

        a, b, c = run(5), run(5), run(6)
        self.assertEqual(a, b)
        self.assertNotEqual(a[1], c[1])


class Backups(unittest.TestCase):
    """DynamoDB backups and point-in-time recovery (tests/support/strict_backups.py)."""

    ARN = re.compile(r"^arn:aws:dynamodb:us-east-1:123456789012:table/([\w.-]+)/backup/\d{14}-[0-9a-f]{8}$")

    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"table_creating_ms": 1000, "table_deleting_ms": 1000, "backup_creating_ms": 2000,
                       "backup_validation": True, "backup_listing": True, "backup_tags_refused": True,
                       "restore_rules": True, "pitr_rules": True, "system_backups": True})
        cls.s.clock(frozen=True)  # every CREATING / DELETING ends when a test advances the clock
        cls.ddb = cls.s.client("dynamodb")
        cls.moto = cls.s.client("dynamodb", direct=True)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def table(self, name, items=2, pitr=False, **extra):
        """A table made in moto behind the proxy's back (ACTIVE at once), with `items` items."""
        self.moto.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                               AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                               KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}], **extra)
        for i in range(items):
            self.moto.put_item(TableName=name, Item={"k": {"S": "item-%d" % i}})
        if pitr:
            self.moto.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})
        return "arn:aws:dynamodb:us-east-1:123456789012:table/" + name

    def backup(self, table, name=None):
        return self.ddb.create_backup(TableName=table, BackupName=name or table + "-b")["BackupDetails"]

    def available(self, arn):
        self.s.advance(2000)
        self.assertEqual(self.ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"],
                         "AVAILABLE")

    def refused(self, fn, **kwargs):
        with self.assertRaises(ClientError) as e:
            fn(**kwargs)
        return code(e.exception)

    def test_backup_is_creating_then_available(self):
        self.table("bk-state")
        details = self.backup("bk-state")
        arn = details["BackupArn"]
        self.assertEqual((details["BackupStatus"], details["BackupSizeBytes"]), ("CREATING", 0))
        described = self.ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
        self.assertEqual(described["BackupStatus"], "CREATING")
        listed = self.ddb.list_backups(TableName="bk-state")["BackupSummaries"]
        self.assertEqual([b["BackupStatus"] for b in listed], ["CREATING"])
        # AWS refuses to restore or delete a backup still being created.
        self.assertEqual(self.refused(self.ddb.restore_table_from_backup, TargetTableName="bk-state-r", BackupArn=arn)[0::2],
                         ("BackupInUseException", 400))
        self.assertEqual(self.refused(self.ddb.delete_backup, BackupArn=arn)[0], "BackupInUseException")
        self.available(arn)
        self.assertEqual(self.ddb.list_backups(TableName="bk-state")["BackupSummaries"][0]["BackupStatus"], "AVAILABLE")
        deleted = self.ddb.delete_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
        self.assertEqual(deleted["BackupStatus"], "DELETED")

    def test_backup_creating_for_a_number_of_reads(self):
        self.s.set(backup_creating_ms=0, backup_creating_reads=2)
        try:
            self.table("bk-reads")
            arn = self.backup("bk-reads")["BackupArn"]
            self.assertEqual(self.ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"],
                             "CREATING")
            self.assertEqual(self.ddb.list_backups(TableName="bk-reads")["BackupSummaries"][0]["BackupStatus"], "CREATING")
            self.assertEqual(self.ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"],
                             "AVAILABLE")
        finally:
            self.s.set(backup_creating_ms=2000, backup_creating_reads=0)

    def test_backup_arn_has_aws_form(self):
        # AWS (the CLI's create-backup example): table/<name>/backup/01576616366715-b4e58d3a; moto's is the same.
        self.table("bk-arn")
        self.assertEqual(self.ARN.match(self.backup("bk-arn")["BackupArn"]).group(1), "bk-arn")
        # The request record says how long each answer took (scripts/bench_data.py reads CreateBackup's).
        self.assertGreater(self.s.last_request("CreateBackup", "bk-arn")["ms"], 0)

    def test_backup_name_outside_the_pattern_refused(self):
        self.table("bk-name")
        c = self.refused(self.ddb.create_backup, TableName="bk-name", BackupName="stack:prod:2026-12-05T10:00:00Z")
        self.assertEqual(c[0::2], ("ValidationException", 400))
        self.assertIn("backupName", c[1])
        # Too short: boto3 checks that itself; the Rust SDK does not.
        status, body = self.s.raw_json("dynamodb", "DynamoDB_20120810.CreateBackup", {"TableName": "bk-name",
                                                                                     "BackupName": "ab"})
        self.assertEqual((status, body["__type"].split("#")[-1]), (400, "ValidationException"))
        self.assertEqual(self.ddb.list_backups(TableName="bk-name")["BackupSummaries"], [])
        self.backup("bk-name", "stack.prod.20261205T100000Z")

    def test_list_backups_limit_and_type_validated(self):
        status, body = self.s.raw_json("dynamodb", "DynamoDB_20120810.ListBackups", {"Limit": 101})
        self.assertEqual((status, body["__type"].split("#")[-1]), (400, "ValidationException"))
        status, body = self.s.raw_json("dynamodb", "DynamoDB_20120810.ListBackups", {"BackupType": "EVERY"})
        self.assertEqual((status, body["__type"].split("#")[-1]), (400, "ValidationException"))

    def test_list_backups_pages(self):
        self.table("bk-pages")
        arns = [self.backup("bk-pages", "bk-pages-%d" % i)["BackupArn"] for i in range(3)]
        first = self.ddb.list_backups(TableName="bk-pages", Limit=2)
        self.assertEqual([b["BackupArn"] for b in first["BackupSummaries"]], arns[:2])
        self.assertEqual(first["LastEvaluatedBackupArn"], arns[1])
        second = self.ddb.list_backups(TableName="bk-pages", Limit=2, ExclusiveStartBackupArn=first["LastEvaluatedBackupArn"])
        self.assertEqual([b["BackupArn"] for b in second["BackupSummaries"]], arns[2:])
        self.assertNotIn("LastEvaluatedBackupArn", second)
        self.s.set(backup_page_size=1)
        try:
            page = self.ddb.list_backups(TableName="bk-pages")
            self.assertEqual(([b["BackupArn"] for b in page["BackupSummaries"]], page["LastEvaluatedBackupArn"]),
                             (arns[:1], arns[0]))
            seen, start = [], None
            while True:
                page = self.ddb.list_backups(TableName="bk-pages", **({"ExclusiveStartBackupArn": start} if start else {}))
                seen += [b["BackupArn"] for b in page["BackupSummaries"]]
                start = page.get("LastEvaluatedBackupArn")
                if not start:
                    break
            self.assertEqual(seen, arns)
        finally:
            self.s.set(backup_page_size=0)

    def test_tags_on_a_backup_refused(self):
        table_arn = self.table("bk-tags")
        arn = self.backup("bk-tags")["BackupArn"]
        tags = [{"Key": "stackctl:stack", "Value": "demo"}]
        for fn, kwargs in ((self.ddb.tag_resource, {"Tags": tags}), (self.ddb.untag_resource, {"TagKeys": ["stackctl:stack"]}),
                           (self.ddb.list_tags_of_resource, {})):
            self.assertEqual(self.refused(fn, ResourceArn=arn, **kwargs)[0::2], ("ValidationException", 400), fn)
        self.ddb.tag_resource(ResourceArn=table_arn, Tags=tags)
        self.assertEqual(self.ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"], tags)

    def test_restore_into_an_existing_or_deleting_name_refused(self):
        self.table("bk-exists")
        arn = self.backup("bk-exists")["BackupArn"]
        self.available(arn)
        # moto refuses an existing name itself; the proxy also a name still DELETING (moto forgot it at once).
        self.assertEqual(self.refused(self.ddb.restore_table_from_backup, TargetTableName="bk-exists", BackupArn=arn)[0],
                         "TableAlreadyExistsException")
        self.table("bk-going", items=0)
        self.ddb.delete_table(TableName="bk-going")
        self.assertEqual(self.refused(self.ddb.restore_table_from_backup, TargetTableName="bk-going", BackupArn=arn)[0],
                         "TableAlreadyExistsException")
        self.s.advance(1000)
        self.ddb.restore_table_from_backup(TargetTableName="bk-going", BackupArn=arn)

    def test_restored_table_creating_without_tags_protection_or_pitr(self):
        self.table("bk-src", items=3, pitr=True, DeletionProtectionEnabled=True,
                   Tags=[{"Key": "stackctl:stack", "Value": "demo"}])
        arn = self.backup("bk-src")["BackupArn"]
        self.available(arn)
        desc = self.ddb.restore_table_from_backup(TargetTableName="bk-dst", BackupArn=arn)["TableDescription"]
        self.assertEqual((desc["TableStatus"], desc["RestoreSummary"]["RestoreInProgress"]), ("CREATING", True))
        table = self.ddb.describe_table(TableName="bk-dst")["Table"]
        self.assertEqual((table["TableStatus"], table["RestoreSummary"]["RestoreInProgress"]), ("CREATING", True))
        self.assertEqual(self.refused(self.ddb.scan, TableName="bk-dst")[0], "ResourceNotFoundException")
        self.s.advance(1000)
        table = self.ddb.describe_table(TableName="bk-dst")["Table"]
        self.assertEqual((table["TableStatus"], table["RestoreSummary"]["RestoreInProgress"]), ("ACTIVE", False))
        self.assertFalse(table.get("DeletionProtectionEnabled"))
        self.assertEqual(self.ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"], [])
        pitr = self.ddb.describe_continuous_backups(TableName="bk-dst")["ContinuousBackupsDescription"]
        self.assertEqual(pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"], "DISABLED")
        self.assertEqual(self.ddb.scan(TableName="bk-dst", Select="COUNT")["Count"], 3)

    def test_restore_honours_the_billing_mode_override(self):
        # moto's RestoredTable keeps only the backup's throughput (PROVISIONED); AWS applies the override.
        self.table("bk-bill", items=1)
        arn = self.backup("bk-bill")["BackupArn"]
        self.available(arn)
        desc = self.ddb.restore_table_from_backup(TargetTableName="bk-bill-r", BackupArn=arn,
                                                  BillingModeOverride="PAY_PER_REQUEST")["TableDescription"]
        self.assertEqual(desc["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")
        self.s.advance(1000)
        table = self.ddb.describe_table(TableName="bk-bill-r")["Table"]
        self.assertEqual(table["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")

    def test_recovery_period_outside_1_to_35_refused(self):
        self.table("bk-period")
        spec = {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 36}
        c = self.refused(self.ddb.update_continuous_backups, TableName="bk-period", PointInTimeRecoverySpecification=spec)
        self.assertEqual(c[0::2], ("ValidationException", 400))
        self.assertIn("recoveryPeriodInDays", c[1])
        status, body = self.s.raw_json("dynamodb", "DynamoDB_20120810.UpdateContinuousBackups", {
            "TableName": "bk-period", "PointInTimeRecoverySpecification": dict(spec, RecoveryPeriodInDays=0)})
        self.assertEqual((status, body["__type"].split("#")[-1]), (400, "ValidationException"))
        pitr = self.moto.describe_continuous_backups(TableName="bk-period")["ContinuousBackupsDescription"]
        self.assertEqual(pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"], "DISABLED")
        out = self.ddb.update_continuous_backups(TableName="bk-period", PointInTimeRecoverySpecification=dict(
            spec, RecoveryPeriodInDays=35))["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        self.assertEqual((out["PointInTimeRecoveryStatus"], out["RecoveryPeriodInDays"]), ("ENABLED", 35))

    def test_latest_restorable_time_follows_the_clock(self):
        self.table("bk-latest", pitr=True)
        def window():
            d = self.ddb.describe_continuous_backups(TableName="bk-latest")["ContinuousBackupsDescription"]
            d = d["PointInTimeRecoveryDescription"]
            return d["LatestRestorableDateTime"].timestamp() - d["EarliestRestorableDateTime"].timestamp()

        # Never before the earliest; moto's stays at the moment PITR was turned on, AWS's moves with the clock
        # five minutes behind it: ten minutes on, the window is five minutes wide.
        self.assertGreaterEqual(window(), 0)
        self.s.advance(600_000)
        self.assertAlmostEqual(window(), 300, delta=30)

    def test_pitr_unavailable_right_after_create_table(self):
        self.s.set(pitr_unavailable_ms=3000)
        try:
            self.ddb.create_table(TableName="bk-new", BillingMode="PAY_PER_REQUEST",
                                  AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                                  KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
            spec = {"PointInTimeRecoveryEnabled": True}
            self.s.advance(1000)  # ACTIVE, but its backups are still being enabled
            c = self.refused(self.ddb.update_continuous_backups, TableName="bk-new", PointInTimeRecoverySpecification=spec)
            self.assertEqual(c[0::2], ("ContinuousBackupsUnavailableException", 400))
            self.s.advance(2000)
            self.ddb.update_continuous_backups(TableName="bk-new", PointInTimeRecoverySpecification=spec)
        finally:
            self.s.set(pitr_unavailable_ms=0)

    def test_deleting_a_pitr_table_keeps_a_system_backup(self):
        self.table("bk-sys", items=4, pitr=True)
        user = self.backup("bk-sys")["BackupArn"]
        self.table("bk-plain", items=1)
        self.ddb.delete_table(TableName="bk-sys")
        self.ddb.delete_table(TableName="bk-plain")
        self.s.advance(2000)
        system = self.ddb.list_backups(TableName="bk-sys", BackupType="SYSTEM")["BackupSummaries"]
        self.assertEqual([(b["BackupName"], b["BackupType"], b["BackupStatus"]) for b in system],
                         [("bk-sys$DeletedTableBackup", "SYSTEM", "AVAILABLE")])
        days = (system[0]["BackupExpiryDateTime"] - system[0]["BackupCreationDateTime"]).total_seconds() / 86400
        self.assertAlmostEqual(days, 35, delta=0.01)
        self.assertEqual([b["BackupArn"] for b in self.ddb.list_backups(TableName="bk-sys")["BackupSummaries"]], [user])
        self.assertEqual({b["BackupType"] for b in self.ddb.list_backups(TableName="bk-sys", BackupType="ALL")["BackupSummaries"]},
                         {"USER", "SYSTEM"})
        self.assertEqual(self.ddb.list_backups(TableName="bk-plain", BackupType="ALL")["BackupSummaries"], [])
        details = self.ddb.describe_backup(BackupArn=system[0]["BackupArn"])["BackupDescription"]["BackupDetails"]
        self.assertEqual(details["BackupType"], "SYSTEM")
        self.assertIn("BackupExpiryDateTime", details)
        self.s.advance(1000)  # bk-sys is gone
        self.ddb.restore_table_from_backup(TargetTableName="bk-sys", BackupArn=system[0]["BackupArn"])
        self.s.advance(1000)
        self.assertEqual(self.ddb.scan(TableName="bk-sys", Select="COUNT")["Count"], 4)

    def test_refused_delete_keeps_no_system_backup(self):
        self.table("bk-guarded", pitr=True, DeletionProtectionEnabled=True)
        self.refused(self.ddb.delete_table, TableName="bk-guarded")
        self.assertEqual(self.ddb.list_backups(TableName="bk-guarded", BackupType="ALL")["BackupSummaries"], [])

if __name__ == "__main__":
    unittest.main()
