#!/usr/bin/env python3
"""Self-test of tests/support/strict_proxy.py against a real moto_server, with boto3 (installed with moto).

    .venv/bin/python tests/strict_proxy_selftest.py [-v]

Starts one moto_server and one proxy per test class on free ports; needs nothing else.
"""

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROXY = os.path.join(REPO, "tests", "support", "strict_proxy.py")
MOTO = os.environ.get("STACKCTL_MOTO_SERVER", os.path.join(REPO, ".venv", "bin", "moto_server"))
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}, separators=(",", ":"))


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

    def __init__(self, config, seed=1):
        self.dir = tempfile.TemporaryDirectory()
        port = free_port()
        self.recording = os.path.join(self.dir.name, "recording.jsonl")
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
        self.proxy = subprocess.Popen([sys.executable, PROXY, "--upstream", self.moto_url, "--port", "0",
                                       "--config", cfg, "--seed", str(seed), "--ready-file", ready],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
                            config=Config(retries={"mode": "standard", "max_attempts": attempts}))

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

    def close(self):
        for p in (self.proxy, self.moto):
            p.terminate()
            p.wait()
        self.dir.cleanup()


def code(err):
    return err.response["Error"]["Code"], err.response["Error"].get("Message"), err.response["ResponseMetadata"]["HTTPStatusCode"]


class DynamoDB(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"table_creating_ms": 1500, "describe_not_found_after_create": True, "table_updating_ms": 1500,
                       "table_deleting_ms": 1500, "no_change_update_table": True, "deletion_protection": True})
        cls.ddb = cls.s.client("dynamodb")

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def create(self, name, **extra):
        return self.ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}], **extra)

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
        time.sleep(1.6)
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
        time.sleep(1.6)
        with self.assertRaises(ClientError) as e:
            self.ddb.update_table(TableName="life", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
        self.assertIn("will not change", code(e.exception)[1])
        self.assertEqual(self.ddb.delete_table(TableName="life")["TableDescription"]["TableStatus"], "DELETING")
        self.assertEqual(self.ddb.describe_table(TableName="life")["Table"]["TableStatus"], "DELETING")
        self.assertEqual(self.ddb.delete_table(TableName="life")["TableDescription"]["TableStatus"], "DELETING")
        with self.assertRaises(ClientError) as e:
            self.create("life")
        self.assertEqual(code(e.exception)[0], "ResourceInUseException")
        time.sleep(1.6)
        with self.assertRaises(ClientError) as e:
            self.ddb.describe_table(TableName="life")
        self.assertEqual(code(e.exception)[0], "ResourceNotFoundException")

    def test_deletion_protection_message(self):
        self.create("protected", DeletionProtectionEnabled=True)
        time.sleep(1.6)
        with self.assertRaises(ClientError) as e:
            self.ddb.delete_table(TableName="protected")
        self.assertEqual(code(e.exception)[0], "ValidationException")
        self.assertIn("protected against deletion", code(e.exception)[1])

    def test_side_requests_are_invisible_to_the_harness_filter(self):
        # The harness drops recorded lines that mention /moto-api/; side requests carry it in their query.
        self.create("side")
        time.sleep(1.6)
        with self.assertRaises(ClientError):
            self.ddb.update_table(TableName="side", BillingMode="PAY_PER_REQUEST")
        entries = [e for e in self.s.log() if e["resource"] == "side"]
        self.assertIn("ValidationException", [e["injected"] for e in entries])
        with open(self.s.recording) as f:
            side = [line for line in f if "X-Strict-Proxy-Side-Request" in line]
        self.assertTrue(side)
        self.assertTrue(all("/moto-api/" in line for line in side))


class IamAndLambda(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack({"delete_conflicts": True, "url_encode_documents": True, "role_propagation_ms": 1500,
                       "function_pending_ms": 1000, "function_update_ms": 1000})
        cls.iam = cls.s.client("iam")
        cls.lam = cls.s.client("lambda")

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

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

    def test_documents_are_url_encoded(self):
        arn = self.iam.create_policy(PolicyName="enc", PolicyDocument=DOC)["Policy"]["Arn"]
        body = "Action=GetPolicyVersion&Version=2010-05-08&PolicyArn=%s&VersionId=v1" % urllib.request.quote(arn, safe="")
        req = urllib.request.Request(self.s.url + "/", data=body.encode(), method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x"})
        xml = urllib.request.urlopen(req).read().decode()
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
        time.sleep(1.6)
        self.assertEqual(self.lam.create_function(**create)["State"], "Pending")
        self.assertEqual(self.lam.get_function(FunctionName="fn")["Configuration"]["State"], "Pending")
        with self.assertRaises(ClientError) as e:
            self.lam.update_function_configuration(FunctionName="fn", MemorySize=256)
        self.assertEqual(code(e.exception)[0::2], ("ResourceConflictException", 409))
        time.sleep(1.1)
        cfg = self.lam.get_function_configuration(FunctionName="fn")
        self.assertEqual((cfg["State"], cfg["LastUpdateStatus"]), ("Active", "Successful"))
        self.assertEqual(self.lam.update_function_configuration(FunctionName="fn", MemorySize=256)["LastUpdateStatus"], "InProgress")
        with self.assertRaises(ClientError) as e:
            self.lam.update_function_code(FunctionName="fn", ZipFile=ZIP)
        self.assertTrue(code(e.exception)[1].startswith(
            "The operation cannot be performed at this time. An update is in progress for resource: "
            "arn:aws:lambda:us-east-1:123456789012:function:fn"), code(e.exception))
        time.sleep(1.1)
        self.s.control("POST", "/__strict/config", {"fail_next_update": {"function": "fn", "reason": "nope", "reason_code": "InvalidImage"}})
        self.lam.update_function_code(FunctionName="fn", ZipFile=ZIP)
        self.assertEqual(self.lam.get_function_configuration(FunctionName="fn")["LastUpdateStatus"], "InProgress")
        time.sleep(1.1)
        cfg = self.lam.get_function_configuration(FunctionName="fn")
        self.assertEqual((cfg["LastUpdateStatus"], cfg["LastUpdateStatusReason"], cfg["LastUpdateStatusReasonCode"]),
                         ("Failed", "nope", "InvalidImage"))
        self.assertIsNone(self.s.control("GET", "/__strict/config")[1]["fail_next_update"])
        self.lam.delete_function(FunctionName="fn")


class Faults(unittest.TestCase):
    def test_formats_and_retry(self):
        s = Stack({"throttle_rate": 1.0, "max_consecutive_faults": 2})
        try:
            for service, call, expected in [
                ("dynamodb", lambda c: c.list_tables(), ("ThrottlingException", 400)),
                ("iam", lambda c: c.list_roles(), ("Throttling", 400)),
                ("lambda", lambda c: c.list_functions(), ("TooManyRequestsException", 429)),
            ]:
                with self.assertRaises(ClientError) as e:
                    call(s.client(service, attempts=1))
                self.assertEqual(code(e.exception)[0::2], expected)
                call(s.client(service, attempts=3))  # third attempt passes (max 2 in a row)
            s.control("POST", "/__strict/config", {"throttle_rate": 0, "error_5xx_rate": 1.0})
            with self.assertRaises(ClientError) as e:
                s.client("iam").list_roles()
            self.assertIn(code(e.exception)[2], (500, 503))
        finally:
            s.close()

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

    def test_unknown_key_refused(self):
        s = Stack({})
        try:
            status, body = s.control("POST", "/__strict/config", {"throttle_rat": 1})
            self.assertEqual(status, 400)
            self.assertIn("unknown config key", body["error"])
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
