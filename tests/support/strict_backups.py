"""The strict proxy's DynamoDB backups and point-in-time recovery (a mixin of strict_proxy.Proxy): what moto 5.2
lacks there (docs/strict-emulation.md, "Backups and point-in-time recovery"). Standard library only.

moto answers every backup AVAILABLE at once, ignores ListBackups' BackupType, Limit and ExclusiveStartBackupArn,
accepts any BackupName and RecoveryPeriodInDays, silently "tags" a backup ARN and keeps no system backup when a
table with point-in-time recovery is deleted. Each rule below is switched by its own config key.
"""

import json
import re
import time

DDB_NS = "com.amazonaws.dynamodb.v20120810#"
JSON_HEADERS = [("Content-Type", "application/x-amz-json-1.0")]
# AWS: BackupName is 3-255 characters of [a-zA-Z0-9_.-] (API_CreateBackup.html); ListBackups' Limit is 1-100
# and its BackupType one of four values (API_ListBackups.html); RecoveryPeriodInDays is 1-35
# (API_PointInTimeRecoverySpecification.html).
BACKUP_NAME = re.compile(r"^[a-zA-Z0-9_.-]+$")
BACKUP_TYPES = ("USER", "SYSTEM", "AWS_BACKUP", "ALL")
# Deleting a table with point-in-time recovery on keeps `<table>$DeletedTableBackup` for 35 days
# (PointInTimeRecovery_Howitworks.html).
SYSTEM_SUFFIX = "$DeletedTableBackup"
SYSTEM_DAYS = 35
# DescribeContinuousBackups: "LatestRestorableDateTime is typically 5 minutes before the current time".
LATEST_RESTORABLE_LAG_SECS = 300
CONFLICT = ("There is another ongoing conflicting backup control plane operation on the table. "
            "The backup is either being created, deleted or restored to a table.")


def backup_key(arn):
    """ListBackups' order: by the creation milliseconds an ARN carries (`.../backup/01576616366715-b4e58d3a`),
    then the ARN; an ExclusiveStartBackupArn deleted meanwhile still says where the next page starts."""
    m = re.search(r"/backup/0*(\d+)-", arn or "")
    return (int(m.group(1)) if m else 0, arn or "")


def error_code_of(resp):
    data = resp.json() or {}
    return str(data.get("__type") or "").split("#")[-1]


class BackupBehaviours:
    """Mixed into Proxy: needs self.config, self.lock, self.now(), self.note(), self.passthrough(),
    self.side_request(), self.ok_json(), self.tables / self.table_state() and self.table_busy()."""

    def reset_backups(self):
        self.backups = {}  # backup ARN -> {"until", "reads_left", "system", "expiry"} (caller holds the lock)
        self.pitr_enabling = {}  # table name -> proxy-clock time its backups are enabled (pitr_unavailable_ms)

    def ddb_refuse(self, call, code, message, reason):
        self.note(call, "behaviour", code, reason=reason)
        resp = self.ok_json({"__type": DDB_NS + code, "message": message})
        resp.status, resp.reason = 400, "Bad Request"
        return resp

    def ddb_side(self, call, op, request):
        resp = self.side_request(call, json.dumps(request).encode(),
                                 JSON_HEADERS + [("X-Amz-Target", "DynamoDB_20120810." + op)])
        return resp.json() or {} if resp.status == 200 else None

    # ---- states: CREATING, then AVAILABLE ------------------------------------------------------------------

    def backup_creating(self, arn, read=False):
        """True while the backup is still CREATING (`backup_creating_ms` on the proxy's clock and/or
        `backup_creating_reads` DescribeBackup / ListBackups answers); `read` counts one answer."""
        with self.lock:
            st = self.backups.get(arn)
            if st is None:
                return False
            timed = bool(st["until"]) and self.now() < st["until"]
            counted = st["reads_left"] > 0
            if read and counted:
                st["reads_left"] -= 1
            return timed or counted

    def track_backup(self, arn, system=False):
        cfg = self.config
        with self.lock:
            self.backups[arn] = {
                "until": self.now() + cfg["backup_creating_ms"] / 1000.0 if cfg["backup_creating_ms"] else None,
                "reads_left": cfg["backup_creating_reads"],
                "system": system,
                "expiry": time.time() + SYSTEM_DAYS * 86400 if system else None,
            }

    def dress(self, details, arn, read):
        """A BackupDetails / BackupSummary as AWS shows it: its state, and a system backup's type and expiry."""
        with self.lock:
            st = dict(self.backups.get(arn) or {})
        if st.get("system"):
            details["BackupType"] = "SYSTEM"
            details["BackupExpiryDateTime"] = st["expiry"]
        if self.backup_creating(arn, read=read):
            details["BackupStatus"] = "CREATING"
            details["BackupSizeBytes"] = 0  # AWS: 0 until the backup is AVAILABLE (the CLI's create-backup example)
            return True
        return False

    def dynamodb_CreateBackup(self, call):
        name = str((call.json or {}).get("BackupName") or "")
        if self.config["backup_validation"]:
            problem = None
            if not 3 <= len(name) <= 255:
                problem = "Member must have length %s" % ("greater than or equal to 3" if len(name) < 3
                                                         else "less than or equal to 255")
            elif not BACKUP_NAME.match(name):
                problem = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
            if problem:
                return self.ddb_refuse(call, "ValidationException",
                                       "1 validation error detected: Value '%s' at 'backupName' failed to satisfy "
                                       "constraint: %s" % (name, problem), "BackupName outside AWS's pattern")
        if self.config["backup_unavailable_after_create"]:
            # CreateBackup's documented ContinuousBackupsUnavailableException ("Backups have not yet been
            # enabled for this table"), in the same window as UpdateContinuousBackups after CreateTable.
            table = call.resource
            with self.lock:
                until = self.pitr_enabling.get(table)
                not_yet = bool(until) and self.now() < until
            if not_yet:
                return self.ddb_refuse(call, "ContinuousBackupsUnavailableException",
                                       "Backups are being enabled for the table: %s. Please retry later" % table,
                                       "backups of a new table are being enabled")
        resp = self.passthrough(call)
        body = resp.json() or {}
        details = body.get("BackupDetails")
        if resp.status != 200 or not details or not details.get("BackupArn"):
            return resp
        self.track_backup(details["BackupArn"])
        if self.dress(details, details["BackupArn"], read=False):
            resp.set_json(body, "dynamodb")
            self.note(call, "rewrite", "BackupStatus=CREATING")
        return resp

    def dynamodb_DescribeBackup(self, call):
        resp = self.passthrough(call)
        body = resp.json() or {}
        details = (body.get("BackupDescription") or {}).get("BackupDetails")
        arn = str((call.json or {}).get("BackupArn") or "")
        if resp.status == 200 and details and arn in self.backups:
            creating = self.dress(details, arn, read=True)
            resp.set_json(body, "dynamodb")
            if creating:
                self.note(call, "rewrite", "BackupStatus=CREATING")
        return resp

    def dynamodb_DeleteBackup(self, call):
        arn = str((call.json or {}).get("BackupArn") or "")
        if self.backup_creating(arn):
            return self.ddb_refuse(call, "BackupInUseException", CONFLICT, "backup is CREATING")
        resp = self.passthrough(call)
        if resp.status == 200:
            with self.lock:
                st = self.backups.pop(arn, None)
            body = resp.json() or {}
            details = (body.get("BackupDescription") or {}).get("BackupDetails")
            if details and st and st.get("system"):
                details["BackupType"], details["BackupExpiryDateTime"] = "SYSTEM", st["expiry"]
                resp.set_json(body, "dynamodb")
        return resp

    # ---- ListBackups: BackupType and pages -----------------------------------------------------------------

    def dynamodb_ListBackups(self, call):
        request = call.json or {}
        kind = request.get("BackupType", "USER")
        limit = request.get("Limit")
        if self.config["backup_validation"]:
            if kind not in BACKUP_TYPES:
                return self.ddb_refuse(call, "ValidationException",
                                       "1 validation error detected: Value '%s' at 'backupType' failed to satisfy "
                                       "constraint: Member must satisfy enum value set: [USER, SYSTEM, AWS_BACKUP, "
                                       "ALL]" % kind, "BackupType outside AWS's values")
            if limit is not None and not (isinstance(limit, int) and 1 <= limit <= 100):
                return self.ddb_refuse(call, "ValidationException",
                                       "1 validation error detected: Value '%s' at 'limit' failed to satisfy "
                                       "constraint: Member must have value %s" % (
                                           limit, "less than or equal to 100" if isinstance(limit, int) and limit > 100
                                           else "greater than or equal to 1"), "Limit outside 1-100")
        resp = self.passthrough(call)
        body = resp.json() or {}
        if resp.status != 200 or not isinstance(body.get("BackupSummaries"), list):
            return resp
        summaries = body["BackupSummaries"]
        creating = [s for s in summaries if self.dress(s, s.get("BackupArn"), read=True)]
        if creating:
            self.note(call, "rewrite", "BackupStatus=CREATING", backups=len(creating))
        if self.config["backup_listing"]:
            # AWS: USER is the default; ALL is USER and SYSTEM; AWS_BACKUP ones are AWS Backup's (none here).
            wanted = {"USER": ("USER",), "SYSTEM": ("SYSTEM",), "ALL": ("USER", "SYSTEM")}.get(kind, ())
            kept = sorted((s for s in summaries if s.get("BackupType", "USER") in wanted),
                          key=lambda s: backup_key(s.get("BackupArn")))
            start = request.get("ExclusiveStartBackupArn")
            if start:
                kept = [s for s in kept if backup_key(s.get("BackupArn")) > backup_key(start)]
            cap = limit if isinstance(limit, int) and not isinstance(limit, bool) else 0
            size = min(x for x in (cap, self.config["backup_page_size"], len(kept) or 1) if x > 0)
            page = kept[:size]
            body = {"BackupSummaries": page}
            if len(kept) > size:
                body["LastEvaluatedBackupArn"] = page[-1]["BackupArn"]
            if len(page) != len(summaries) or start:
                self.note(call, "rewrite", "BackupSummaries", backup_type=kind, shown=len(page), of=len(summaries))
        resp.set_json(body, "dynamodb")
        return resp

    # ---- tags: AWS tags no native backup ---------------------------------------------------------------------

    def backup_tags_refused(self, call):
        """`backup_tags_refused`: "DynamoDB does not support assigning tags to backups unless you first enable
        Advanced DynamoDB backup" (AWS Backup developer guide, tags-on-backups.html); a native backup's ARN is
        not a taggable resource. moto answers TagResource/UntagResource on it 200 and keeps nothing."""
        arn = str((call.json or {}).get("ResourceArn") or "")
        if not self.config["backup_tags_refused"] or "/backup/" not in arn:
            return None
        return self.ddb_refuse(call, "ValidationException",
                               "Tagging is not supported for the resource: %s" % arn, "tags on a backup ARN")

    def dynamodb_TagResource(self, call):
        return self.backup_tags_refused(call) or self.passthrough(call)

    def dynamodb_UntagResource(self, call):
        return self.backup_tags_refused(call) or self.passthrough(call)

    # ---- RestoreTableFromBackup ------------------------------------------------------------------------------

    def dynamodb_RestoreTableFromBackup(self, call):
        request = call.json or {}
        arn = str(request.get("BackupArn") or "")
        target = str(request.get("TargetTableName") or "")
        if self.backup_creating(arn):
            return self.ddb_refuse(call, "BackupInUseException", CONFLICT, "backup is CREATING")
        if self.config["restore_rules"] and self.table_busy(target) == "deleted":
            # moto forgot the table at DeleteTable; AWS still has it, DELETING.
            return self.ddb_refuse(call, "TableAlreadyExistsException", "Table already exists: %s" % target,
                                   "target table is DELETING")
        resp = self.passthrough(call)
        body = resp.json() or {}
        desc = body.get("TableDescription")
        if resp.status != 200 or not desc or not self.config["restore_rules"]:
            return resp
        # AWS: a restored table has the BillingModeOverride asked for; moto's RestoredTable keeps only the
        # backup's throughput (it reads as PROVISIONED), so the proxy applies the override itself.
        override = request.get("BillingModeOverride")
        if override in ("PAY_PER_REQUEST", "PROVISIONED"):
            self.ddb_side(call, "UpdateTable", {"TableName": target, "BillingMode": override})
            desc["BillingModeSummary"] = {"BillingMode": override}
            resp.set_json(body, "dynamodb")
            self.note(call, "rewrite", "BillingModeSummary", reason="BillingModeOverride")
        # AWS: a restored table starts CREATING (RestoreInProgress) and, like moto's, carries no tags, no
        # deletion protection, no TTL and point-in-time recovery off: the restorer sets them again.
        ms = self.config["table_creating_ms"]
        with self.lock:
            self.tables[target] = {"creating_until": self.now() + ms / 1000.0 if ms else None, "updating_until": None,
                                   "deleting_until": None, "not_found_once": False, "desc": dict(desc)}
        if ms:
            desc["TableStatus"] = "CREATING"
            desc.setdefault("RestoreSummary", {})["RestoreInProgress"] = True
            resp.set_json(body, "dynamodb")
            self.note(call, "rewrite", "TableStatus=CREATING", reason="restored table")
        return resp

    def restore_in_progress(self, call, body):
        """DescribeTable of a restored table still CREATING: RestoreSummary.RestoreInProgress is true."""
        summary = (body.get("Table") or {}).get("RestoreSummary")
        if self.config["restore_rules"] and summary and self.table_busy(call.resource) == "created":
            summary["RestoreInProgress"] = True
            return True
        return False

    # ---- point-in-time recovery ------------------------------------------------------------------------------

    def backups_after(self, call, resp):
        """A table just created or restored: its backups are being enabled for `pitr_unavailable_ms`."""
        ms = self.config["pitr_unavailable_ms"]
        if ms and resp.status == 200 and call.op in ("CreateTable", "RestoreTableFromBackup"):
            name = str((call.json or {}).get("TableName") or (call.json or {}).get("TargetTableName") or "")
            with self.lock:
                self.pitr_enabling[name] = self.now() + ms / 1000.0

    def dynamodb_UpdateContinuousBackups(self, call):
        name = call.resource
        with self.lock:
            until = self.pitr_enabling.get(name)
            enabling = bool(until) and self.now() < until
        if enabling:
            # AWS, right after CreateTable: "Backups have not yet been enabled for this table" (the exception's
            # documented meaning); its message, as SDK users report it.
            return self.ddb_refuse(call, "ContinuousBackupsUnavailableException",
                                   "Backups are being enabled for the table: %s. Please retry later" % name,
                                   "backups of a new table are being enabled")
        spec = (call.json or {}).get("PointInTimeRecoverySpecification") or {}
        days = spec.get("RecoveryPeriodInDays")
        if self.config["pitr_rules"] and days is not None and not (isinstance(days, int) and 1 <= days <= 35):
            bound = "less than or equal to 35" if isinstance(days, int) and days > 35 else "greater than or equal to 1"
            return self.ddb_refuse(call, "ValidationException",
                                   "1 validation error detected: Value '%s' at 'pointInTimeRecoverySpecification."
                                   "recoveryPeriodInDays' failed to satisfy constraint: Member must have value %s"
                                   % (days, bound), "RecoveryPeriodInDays outside 1-35")
        return self.pitr_answer(call, self.passthrough(call))

    def dynamodb_DescribeContinuousBackups(self, call):
        return self.pitr_answer(call, self.passthrough(call))

    def pitr_answer(self, call, resp):
        """`pitr_rules`: LatestRestorableDateTime moves with the clock, 5 minutes behind now (never before the
        earliest); moto keeps the moment PITR was turned on."""
        body = resp.json() or {}
        pitr = (body.get("ContinuousBackupsDescription") or {}).get("PointInTimeRecoveryDescription") or {}
        if resp.status != 200 or not self.config["pitr_rules"] or pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
            return resp
        # The wall clock moved as /__strict/clock moved the proxy's: a test sees the window widen.
        wall = time.time() + (self.now() - time.monotonic())
        earliest = pitr.get("EarliestRestorableDateTime") or wall
        pitr["LatestRestorableDateTime"] = max(earliest, wall - LATEST_RESTORABLE_LAG_SECS)
        resp.set_json(body, "dynamodb")
        return resp

    # ---- system backups ------------------------------------------------------------------------------------

    def delete_table_keeping_system_backup(self, call):
        """`system_backups`: DeleteTable of a table with point-in-time recovery on keeps a SYSTEM backup
        `<table>$DeletedTableBackup` for 35 days. moto keeps none: the proxy makes a real moto backup first (so
        that RestoreTableFromBackup of it works), forwards the DeleteTable, and drops the backup again if the
        delete was refused."""
        name = call.resource
        arn = None
        if self.config["system_backups"]:
            described = self.ddb_side(call, "DescribeContinuousBackups", {"TableName": name}) or {}
            pitr = (described.get("ContinuousBackupsDescription") or {}).get("PointInTimeRecoveryDescription") or {}
            if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
                made = self.ddb_side(call, "CreateBackup", {"TableName": name, "BackupName": name + SYSTEM_SUFFIX})
                arn = ((made or {}).get("BackupDetails") or {}).get("BackupArn")
        resp = self.passthrough(call)
        if arn and resp.status == 200:
            self.track_backup(arn, system=True)
            self.note(call, "behaviour", "system backup", backup=arn)
        elif arn:
            self.ddb_side(call, "DeleteBackup", {"BackupArn": arn})
        return resp

    def backups_snapshot(self):
        now = self.now()
        with self.lock:
            return {arn: {"creating_ms_left": max(0, int((s["until"] - now) * 1000)) if s["until"] else None,
                          "creating_reads_left": s["reads_left"], "system": s["system"]}
                    for arn, s in self.backups.items()}
