#!/usr/bin/env python3
"""Scenario driver for tests/mta/postfix/run.sh.

The case table below is the single source of truth for the harness: it says
what each message is, how it is sent, and what the final outcome for each
recipient is expected to be (status, enhanced status code, relay).  The
expected values were determined by observing real Postfix 3.7 runs and are
hard-coded; nothing in truth.jsonl is derived from the log.

Sub-commands (all configuration comes from environment variables exported by
run.sh):

    send PHASE           submit the messages of PHASE (1 or 2)
    wait WHAT            poll log/queue until WHAT is reached (later-deferred,
                         phase1, phase2); exit 1 on timeout
    truth                write truth.jsonl to stdout
    verify               cross-check truth.jsonl against postfix.log
    summary              print a per-status summary of the truth
"""

import email.utils
import json
import os
import re
import smtplib
import subprocess
import sys
import time
from collections import Counter, defaultdict

ENV = os.environ


def env_int(name):
    try:
        return int(ENV[name])
    except (KeyError, ValueError):
        sys.exit(f"scenario.py: environment variable {name} missing or invalid")


PORT_SMTPD = env_int("PORT_SMTPD")
PORT_OK = env_int("PORT_OK")
PORT_TEMPFAIL = env_int("PORT_TEMPFAIL")
PORT_REJECT = env_int("PORT_REJECT")
PORT_LATER = env_int("PORT_LATER")
PORT_EXPIRE = env_int("PORT_EXPIRE")
PORT_DOWN = env_int("PORT_DOWN")

CONF_DIR = ENV.get("PF_CONF", "")
LOG_FILE = ENV.get("PF_LOG", "")
SENDMAIL = ENV.get("PF_SENDMAIL", "/usr/sbin/sendmail")
POSTQUEUE = ENV.get("PF_POSTQUEUE", "/usr/sbin/postqueue")
MESSAGE_SIZE_LIMIT = env_int("MESSAGE_SIZE_LIMIT")

HELO = "client.harness.test"


def relay(port):
    return f"127.0.0.1[127.0.0.1]:{port}"


R_OK = relay(PORT_OK)
R_TEMPFAIL = relay(PORT_TEMPFAIL)
R_REJECT = relay(PORT_REJECT)
R_LATER = relay(PORT_LATER)
R_EXPIRE = relay(PORT_EXPIRE)

# Expected (status, dsn, relay) per kind of outcome.  Values observed on
# Postfix 3.7.11 + smtp-sink with the replies configured in run.sh.
DELIVERED = ("delivered", "2.0.0", R_OK)
DELIVERED_LATER = ("delivered", "2.0.0", R_LATER)          # 4xx first, then 250
BOUNCED = ("bounced", "5.1.1", R_REJECT)                   # sink: 550 5.1.1 at RCPT
EXPIRED_DOWN = ("expired", "4.4.1", None)                  # connection refused until expiry
DEFERRED = ("deferred", "4.2.0", R_TEMPFAIL)               # sink: 450 4.2.0 at RCPT
DEFERRED_DOWN = ("deferred", "4.4.1", None)                # connection refused
EXPIRED = ("expired", "4.2.2", R_EXPIRE)                   # sink: 452 4.2.2 at RCPT, forever
REJ_ACCESS = ("rejected", "5.7.1", None)                   # check_recipient_access REJECT
REJ_UNKNOWN = ("rejected", "5.1.1", None)                  # check_recipient_access "550 5.1.1 ..."
REJ_SENDER = ("rejected", "5.7.1", None)                   # check_sender_access REJECT
REJ_SIZE = ("rejected", "5.3.4", None)                     # message_size_limit
REJ_ERROR = ("rejected", "5.1.2", None)                    # transport_maps error: nexthop


def C(n, desc, sender, rcpts, phase=1, via="smtp", session=None, mode="auto",
      body_size=0, subject=None):
    """One scenario message.

    rcpts: list of (address, outcome) with outcome one of the tuples above.
    mode:  auto   = smtplib.sendmail (declares SIZE= in MAIL FROM)
           nosize = MAIL FROM without SIZE=, so size is only checked after DATA
    """
    case = f"case{n:02d}"
    return {
        "n": n,
        "case": case,
        "message_id": f"<{case}@harness.test>",
        "subject": subject if subject is not None else f"case {n:02d}: {desc}",
        "sender": sender,
        "rcpts": rcpts,
        "phase": phase,
        "via": via,
        "session": session if session is not None else case,
        "mode": mode,
        "body_size": body_size,
    }


BIG = MESSAGE_SIZE_LIMIT + 10000

CASES = [
    # ---- phase 1: everything here reaches a final state before phase 2 ----
    # three messages in one SMTP session
    C(1, "delivered, single recipient", "s01@ok.test",
      [("rcpt01@ok.test", DELIVERED)], session="sessA"),
    C(2, "delivered, second message in the same SMTP session", "s02@ok.test",
      [("rcpt02@ok.test", DELIVERED)], session="sessA"),
    C(3, "delivered, two recipients", "s03@ok.test",
      [("rcpt03a@ok.test", DELIVERED), ("rcpt03b@ok.test", DELIVERED)], session="sessA"),
    C(4, "delivered, three recipients", "s04@ok.test",
      [("rcpt04a@ok.test", DELIVERED), ("rcpt04b@ok.test", DELIVERED),
       ("rcpt04c@ok.test", DELIVERED)]),
    C(5, "null sender, delivered", "",
      [("rcpt05@ok.test", DELIVERED)]),
    C(6, "sender at another domain, delivered", "alerts@monitor.example",
      [("rcpt06@ok.test", DELIVERED)]),
    C(7, "submitted with sendmail, delivered", "s07@ok.test",
      [("rcpt07@ok.test", DELIVERED)], via="sendmail"),
    C(8, "submitted with sendmail, bounced", "s08@ok.test",
      [("rcpt08@reject.test", BOUNCED)], via="sendmail"),
    C(9, "bounced by remote 550 at RCPT", "s09@ok.test",
      [("rcpt09@reject.test", BOUNCED)]),
    C(10, "bounced, two recipients", "s10@ok.test",
      [("rcpt10a@reject.test", BOUNCED), ("rcpt10b@reject.test", BOUNCED)]),
    C(11, "rejected at RCPT by recipient access REJECT", "s11@ok.test",
      [("blocked11@ok.test", REJ_ACCESS)]),
    C(12, "rejected at RCPT with 550 5.1.1 user unknown", "s12@ok.test",
      [("unknown12@ok.test", REJ_UNKNOWN)]),
    C(13, "one recipient accepted, one rejected at RCPT", "s13@ok.test",
      [("rcpt13a@ok.test", DELIVERED), ("blocked13b@ok.test", REJ_ACCESS)]),
    C(14, "sender rejected by sender access", "spammer@bad.example",
      [("rcpt14@ok.test", REJ_SENDER)]),
    C(15, "too big, SIZE declared, rejected at MAIL", "s15@ok.test",
      [("rcpt15@ok.test", REJ_SIZE)], body_size=BIG),
    C(16, "too big, no SIZE, rejected after DATA", "s16@ok.test",
      [("rcpt16@ok.test", REJ_SIZE)], body_size=BIG, mode="nosize"),
    C(17, "greylisted first, delivered later", "s17@ok.test",
      [("rcpt17@later.test", DELIVERED_LATER)]),
    C(18, "mixed: delivered now and delivered later", "s18@ok.test",
      [("rcpt18a@ok.test", DELIVERED), ("rcpt18b@later.test", DELIVERED_LATER)]),
    C(19, "never accepted, expires", "s19@ok.test",
      [("rcpt19@expire.test", EXPIRED)]),
    C(20, "mixed: delivered and expired", "s20@ok.test",
      [("rcpt20a@ok.test", DELIVERED), ("rcpt20b@expire.test", EXPIRED)]),
    C(21, "tricky subject", "s21@ok.test",
      [("rcpt21@ok.test", DELIVERED)],
      subject='case 21: tricky; from=<x@y.test> to=<z@w.test> "quoted", status=sent'),
    C(22, "delivered, large body under the size limit", "s22@ok.test",
      [("rcpt22@ok.test", DELIVERED)], body_size=MESSAGE_SIZE_LIMIT // 2),
    C(23, "sender with +tag, delivered", "s23+tag@ok.test",
      [("rcpt23@ok.test", DELIVERED)]),
    C(24, "delivered, five recipients", "s24@ok.test",
      [(f"rcpt24{c}@ok.test", DELIVERED) for c in "abcde"]),
    C(25, "mixed: delivered and bounced", "s25@ok.test",
      [("rcpt25a@ok.test", DELIVERED), ("rcpt25b@reject.test", BOUNCED)]),
    # a session with a reject between two accepted messages
    C(26, "delivered, session with a reject in the middle", "s26@ok.test",
      [("rcpt26@ok.test", DELIVERED)], session="sessB"),
    C(27, "rejected at RCPT inside a session", "s27@ok.test",
      [("blocked27@ok.test", REJ_ACCESS)], session="sessB"),
    C(28, "delivered after a rejected message in the same session", "s28@ok.test",
      [("rcpt28@ok.test", DELIVERED)], session="sessB"),
    C(29, "rejected at RCPT, domain routed to the error transport", "s29@ok.test",
      [("rcpt29@nowhere.test", REJ_ERROR)]),
    C(30, "submitted with sendmail, two recipients delivered", "s30@ok.test",
      [("rcpt30a@ok.test", DELIVERED), ("rcpt30b@ok.test", DELIVERED)], via="sendmail"),
    C(31, "connection refused until it expires", "s31@ok.test",
      [("rcpt31@down.test", EXPIRED_DOWN)]),

    # ---- phase 2: sent after the expiry above; stays in the queue ----
    C(32, "deferred, stays in queue", "s32@ok.test",
      [("rcpt32@tempfail.test", DEFERRED)], phase=2),
    C(33, "deferred, two recipients", "s33@ok.test",
      [("rcpt33a@tempfail.test", DEFERRED), ("rcpt33b@tempfail.test", DEFERRED)], phase=2),
    C(34, "mixed: delivered, bounced and deferred", "s34@ok.test",
      [("rcpt34a@ok.test", DELIVERED), ("rcpt34b@reject.test", BOUNCED),
       ("rcpt34c@tempfail.test", DEFERRED)], phase=2),
    C(35, "deferred, connection refused", "s35@ok.test",
      [("rcpt35@down.test", DEFERRED_DOWN)], phase=2),
    C(36, "null sender, deferred", "",
      [("rcpt36@tempfail.test", DEFERRED)], phase=2),
    C(37, "delivered while others are deferred", "s37@ok.test",
      [("rcpt37@ok.test", DELIVERED)], phase=2),
    C(38, "submitted with sendmail, deferred", "s38@ok.test",
      [("rcpt38@tempfail.test", DEFERRED)], phase=2, via="sendmail"),
]

STATUS_ORDER = ["delivered", "deferred", "bounced", "expired", "rejected"]


def sanity_check_cases():
    seen = set()
    for c in CASES:
        for addr, outcome in c["rcpts"]:
            assert addr not in seen, f"duplicate recipient {addr}"
            seen.add(addr)
            assert outcome[0] in STATUS_ORDER
        if c["sender"]:
            assert c["sender"] not in seen, f"sender reused as recipient {c['sender']}"
    ids = [c["message_id"] for c in CASES]
    assert len(ids) == len(set(ids))


sanity_check_cases()


# --------------------------------------------------------------------------
# message construction and sending


def build_message(c):
    hdr_from = c["sender"] or "MAILER-DAEMON@harness.test"
    lines = [
        f"From: <{hdr_from}>",
        "To: " + ", ".join(f"<{a}>" for a, _ in c["rcpts"]),
        f"Subject: {c['subject']}",
        f"Message-ID: {c['message_id']}",
        f"Date: {email.utils.formatdate(localtime=True)}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"This is {c['case']} of the mailtrace Postfix harness.",
        "",
    ]
    text = "\r\n".join(lines)
    if c["body_size"]:
        filler = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
        while len(text) < c["body_size"]:
            text += filler
    return text.encode("ascii")


class ScenarioError(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise ScenarioError(msg)


def send_smtp(conn, c):
    msg = build_message(c)
    rejected_rcpts = {a: o for a, o in c["rcpts"] if o[0] == "rejected"}
    accepted = [a for a, o in c["rcpts"] if o[0] != "rejected"]
    all_addrs = [a for a, _ in c["rcpts"]]
    size_reject = any(o is REJ_SIZE for _, o in c["rcpts"])

    if c["mode"] == "nosize":
        # Do the transaction by hand so that no SIZE= is sent.
        code, resp = conn.mail(c["sender"])
        expect(code == 250, f"{c['case']}: MAIL FROM got {code} {resp!r}")
        for a in all_addrs:
            code, resp = conn.rcpt(a)
            expect(code == 250, f"{c['case']}: RCPT {a} got {code} {resp!r}")
        code, resp = conn.data(msg)
        if size_reject:
            expect(code == 552, f"{c['case']}: expected 552 after DATA, got {code} {resp!r}")
            conn.rset()
        else:
            expect(code == 250, f"{c['case']}: DATA got {code} {resp!r}")
        return

    try:
        refused = conn.sendmail(c["sender"], all_addrs, msg)
    except smtplib.SMTPSenderRefused as e:
        expect(size_reject and e.smtp_code == 552,
               f"{c['case']}: unexpected MAIL FROM refusal {e.smtp_code} {e.smtp_error!r}")
        return
    except smtplib.SMTPRecipientsRefused as e:
        expect(not accepted and set(e.recipients) == set(rejected_rcpts),
               f"{c['case']}: unexpected recipient refusal {e.recipients!r}")
        for a, (code, resp) in e.recipients.items():
            expect(resp.decode().split()[0] == rejected_rcpts[a][1],
                   f"{c['case']}: {a} refused with {code} {resp!r}, expected dsn {rejected_rcpts[a][1]}")
        return
    expect(not size_reject, f"{c['case']}: oversized message was accepted")
    expect(set(refused) == set(rejected_rcpts),
           f"{c['case']}: refused={refused!r}, expected {sorted(rejected_rcpts)}")
    for a, (code, resp) in refused.items():
        expect(resp.decode().split()[0] == rejected_rcpts[a][1],
               f"{c['case']}: {a} refused with {code} {resp!r}")


def send_sendmail(c):
    msg = build_message(c).replace(b"\r\n", b"\n")
    argv = [SENDMAIL, "-C", CONF_DIR, "-i", "-f", c["sender"], "--"] + [a for a, _ in c["rcpts"]]
    p = subprocess.run(argv, input=msg, capture_output=True, timeout=60)
    expect(p.returncode == 0,
           f"{c['case']}: sendmail failed rc={p.returncode}: {p.stderr.decode(errors='replace')}")


def cmd_send(phase):
    phase = int(phase)
    todo = [c for c in CASES if c["phase"] == phase]
    sessions = []
    by_session = {}
    for c in todo:
        if c["via"] == "sendmail":
            sessions.append(("sendmail", [c]))
            continue
        if c["session"] not in by_session:
            by_session[c["session"]] = []
            sessions.append(("smtp", by_session[c["session"]]))
        by_session[c["session"]].append(c)
    for kind, cs in sessions:
        if kind == "sendmail":
            send_sendmail(cs[0])
            print(f"  sent {cs[0]['case']} via sendmail")
            continue
        conn = smtplib.SMTP("127.0.0.1", PORT_SMTPD, local_hostname=HELO, timeout=60)
        try:
            conn.ehlo()
            for c in cs:
                send_smtp(conn, c)
                print(f"  sent {c['case']} via smtp")
            conn.quit()
        finally:
            conn.close()
        # Keep the log ordering readable: one session at a time, small gap.
        time.sleep(0.2)


# --------------------------------------------------------------------------
# log access


QID = r"[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}"
RE_MSGID = re.compile(rf"postfix/cleanup\[\d+\]: ({QID}): message-id=(<[^>]*>)")
RE_TO = re.compile(
    rf"postfix/[a-z]+\[\d+\]: ({QID}): to=<([^>]*)>,(?: orig_to=<[^>]*>,)? relay=([^,]+), "
    rf"(?:conn_use=\d+, )?delay=[^,]+, delays=[^,]+, dsn=([0-9.]+), status=(\w+)")
RE_EXPIRED = re.compile(rf"postfix/qmgr\[\d+\]: ({QID}): from=<([^>]*)>, status=expired, returned to sender")
RE_REMOVED = re.compile(rf"postfix/qmgr\[\d+\]: ({QID}): removed")
RE_REJECT = re.compile(
    rf"postfix/smtpd\[\d+\]: (NOQUEUE|{QID}): reject: (\w+) from [^:]+: (\d{{3}}) ([0-9.]+) (.*)")
RE_REJECT_TO = re.compile(r"; from=<([^>]*)>(?: to=<([^>]*)>)?")
# Too big without SIZE=: no reject line, only this warning (smtpd and cleanup).
RE_SIZE_WARN = re.compile(
    rf"postfix/smtpd\[\d+\]: warning: ({QID}): queue file size limit exceeded")
RE_DSN_NOTICE = re.compile(
    rf"postfix/bounce\[\d+\]: ({QID}): sender non-delivery notification: ({QID})")


def read_log():
    try:
        with open(LOG_FILE, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


class LogView:
    def __init__(self, lines):
        self.lines = lines
        self.qid_msgid = {}
        self.msgid_qids = defaultdict(list)
        self.to = defaultdict(list)          # addr -> [(qid, relay, dsn, status)]
        self.expired = {}                    # qid -> sender
        self.removed = set()
        self.rejects = []                    # (qid|NOQUEUE, stage, code, dsn, from, to, line)
        self.dsn_notices = {}                # orig qid -> notice qid
        self.size_warnings = set()           # qids dropped for message_size_limit
        for ln in lines:
            m = RE_MSGID.search(ln)
            if m:
                self.qid_msgid[m.group(1)] = m.group(2)
                self.msgid_qids[m.group(2)].append(m.group(1))
                continue
            m = RE_TO.search(ln)
            if m:
                qid, addr, rly, dsn, st = m.groups()
                self.to[addr].append((qid, rly, dsn, st))
                continue
            m = RE_EXPIRED.search(ln)
            if m:
                self.expired[m.group(1)] = m.group(2)
                continue
            m = RE_REMOVED.search(ln)
            if m:
                self.removed.add(m.group(1))
                continue
            m = RE_REJECT.search(ln)
            if m:
                qid, stage, code, dsn, rest = m.groups()
                t = RE_REJECT_TO.search(rest)
                self.rejects.append((qid, stage, code, dsn,
                                     t.group(1) if t else None, t.group(2) if t else None, ln))
                continue
            m = RE_SIZE_WARN.search(ln)
            if m:
                self.size_warnings.add(m.group(1))
                continue
            m = RE_DSN_NOTICE.search(ln)
            if m:
                self.dsn_notices[m.group(1)] = m.group(2)

    def last_to(self, addr):
        lst = self.to.get(addr)
        return lst[-1] if lst else None

    def has_status(self, addr, status):
        return any(s == status for _, _, _, s in self.to.get(addr, []))


def queue_snapshot():
    p = subprocess.run([POSTQUEUE, "-c", CONF_DIR, "-j"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise ScenarioError(f"postqueue -j failed: {p.stderr.strip()}")
    out = []
    for ln in p.stdout.splitlines():
        ln = ln.strip()
        if ln:
            out.append(json.loads(ln))
    return out


# --------------------------------------------------------------------------
# waiting


def pending_for(phase, lv):
    """Return a list of human-readable conditions that are not met yet."""
    missing = []
    for c in CASES:
        if c["phase"] != phase:
            continue
        needs_dsn = False
        for addr, (st, _, _) in c["rcpts"]:
            if st == "delivered" and not lv.has_status(addr, "sent"):
                missing.append(f"{c['case']} {addr} sent")
            elif st == "bounced":
                needs_dsn = True
                if not lv.has_status(addr, "bounced"):
                    missing.append(f"{c['case']} {addr} bounced")
            elif st == "deferred" and not lv.has_status(addr, "deferred"):
                missing.append(f"{c['case']} {addr} deferred")
            elif st == "expired":
                needs_dsn = True
                qids = lv.msgid_qids.get(c["message_id"], [])
                if not any(q in lv.expired for q in qids):
                    missing.append(f"{c['case']} {addr} expired")
            elif st == "rejected":
                pass  # synchronous, checked by the sender and by verify
        if needs_dsn and c["sender"] and not lv.has_status(c["sender"], "sent"):
            missing.append(f"{c['case']} DSN to {c['sender']} sent")
    return missing


def expected_queue(phase):
    """Messages (by message-id) expected in the queue at the end of PHASE,
    with the set of recipients still pending."""
    exp = {}
    for c in CASES:
        if c["phase"] > phase:
            continue
        left = {a for a, (st, _, _) in c["rcpts"] if st == "deferred"}
        if left:
            exp[c["message_id"]] = left
    return exp


def cmd_wait(what, timeout):
    deadline = min(time.time() + float(timeout), float(ENV.get("DEADLINE", "1e18")))
    last_report = 0.0
    while True:
        lv = LogView(read_log())
        if what == "later-deferred":
            missing = [f"{a} deferred" for c in CASES for a, o in c["rcpts"]
                       if o is DELIVERED_LATER and not lv.has_status(a, "deferred")]
        elif what in ("phase1", "phase2"):
            phase = int(what[-1])
            missing = pending_for(phase, lv)
            if not missing:
                exp = expected_queue(phase)
                q = queue_snapshot()
                got = {}
                for e in q:
                    mid = lv.qid_msgid.get(e["queue_id"], "?" + e["queue_id"])
                    got[mid] = {r["address"] for r in e["recipients"]}
                if got != exp:
                    missing = [f"queue is {sorted((k, sorted(v)) for k, v in got.items())}, "
                               f"want {sorted((k, sorted(v)) for k, v in exp.items())}"]
                elif any(e["queue_name"] not in ("deferred",) for e in q):
                    missing = ["queue entries not yet in the deferred queue: " +
                               ", ".join(f"{e['queue_id']}:{e['queue_name']}" for e in q
                                         if e["queue_name"] != "deferred")]
        else:
            sys.exit(f"unknown wait target {what}")
        if not missing:
            return 0
        now = time.time()
        if now > deadline:
            print(f"TIMEOUT waiting for {what}; still missing:", file=sys.stderr)
            for m in missing[:40]:
                print(f"  - {m}", file=sys.stderr)
            return 1
        if now - last_report > 10:
            print(f"  waiting for {what}: {len(missing)} condition(s) left, e.g. {missing[0]}")
            last_report = now
        time.sleep(1)


# --------------------------------------------------------------------------
# truth, verification, summary


def truth_records():
    for c in CASES:
        for addr, (st, dsn, rly) in c["rcpts"]:
            yield {
                "case": c["case"],
                "message_id": c["message_id"],
                "sender": c["sender"],
                "recipient": addr,
                "status": st,
                "dsn": dsn,
                "relay": rly,
                "subject": c["subject"],
                "via": c["via"],
            }


def cmd_truth():
    for r in truth_records():
        print(json.dumps(r, ensure_ascii=False))


def cmd_verify(truth_path):
    with open(truth_path) as f:
        truth = [json.loads(ln) for ln in f if ln.strip()]
    lv = LogView(read_log())
    errors = []
    status_map = {"sent": "delivered", "bounced": "bounced", "deferred": "deferred"}
    for t in truth:
        addr, st = t["recipient"], t["status"]
        where = f"{t['case']} {addr}"
        qids = lv.msgid_qids.get(t["message_id"], [])
        if st in ("delivered", "bounced", "deferred", "expired"):
            last = lv.last_to(addr)
            if last is None:
                errors.append(f"{where}: no delivery line in log")
                continue
            qid, rly, dsn, s = last
            if qid not in qids:
                errors.append(f"{where}: last delivery line is for {qid}, not one of {qids}")
            got = status_map.get(s, s)
            if st == "expired":
                if s != "deferred" or qid not in lv.expired:
                    errors.append(f"{where}: expected expiry, last status {s}, expired={qid in lv.expired}")
            elif got != st:
                errors.append(f"{where}: log says {s}, truth says {st}")
            elif st == "deferred" and (qid in lv.expired or qid in lv.removed):
                errors.append(f"{where}: truth says deferred but {qid} expired or was removed")
            if dsn != t["dsn"]:
                errors.append(f"{where}: log dsn {dsn}, truth {t['dsn']}")
            want_relay = t["relay"] if t["relay"] is not None else "none"
            if rly != want_relay:
                errors.append(f"{where}: log relay {rly}, truth {t['relay']}")
            if st in ("delivered", "bounced", "expired"):
                # the whole message must be gone unless another recipient is deferred
                others_deferred = any(u["message_id"] == t["message_id"] and u["status"] == "deferred"
                                      for u in truth)
                if not others_deferred and qid not in lv.removed:
                    errors.append(f"{where}: queue file {qid} never removed")
        elif st == "rejected":
            hits = [r for r in lv.rejects if r[5] == addr]
            if hits:
                # NOQUEUE/QID reject at RCPT naming this recipient
                r = hits[-1]
                if r[3] != t["dsn"]:
                    errors.append(f"{where}: reject dsn {r[3]}, truth {t['dsn']}")
                if r[4] != t["sender"]:
                    errors.append(f"{where}: reject from=<{r[4]}>, truth sender {t['sender']!r}")
            elif qids:
                # accepted up to DATA, then dropped for size: the queue file
                # must have been dropped without any delivery.
                if any(q in lv.removed for q in qids) or lv.to.get(addr):
                    errors.append(f"{where}: message was queued/delivered, truth says rejected")
                if not any(q in lv.size_warnings for q in qids):
                    errors.append(f"{where}: no 'queue file size limit exceeded' for {qids}")
            else:
                # rejected at MAIL FROM (SIZE= too big): line has from= but no to=
                hits = [r for r in lv.rejects if r[1] == "MAIL" and r[4] == t["sender"]]
                if not hits:
                    errors.append(f"{where}: no reject line for this recipient or sender")
                elif hits[-1][3] != t["dsn"]:
                    errors.append(f"{where}: MAIL reject dsn {hits[-1][3]}, truth {t['dsn']}")
        else:
            errors.append(f"{where}: unknown status {st}")
    if errors:
        print("VERIFY FAILED:", file=sys.stderr)
        for e in errors:
            print("  - " + e, file=sys.stderr)
        return 1
    print(f"  verify: all {len(truth)} truth records agree with the log")
    return 0


def cmd_summary(truth_path):
    with open(truth_path) as f:
        truth = [json.loads(ln) for ln in f if ln.strip()]
    by_rcpt = Counter(t["status"] for t in truth)
    msgs = defaultdict(set)
    for t in truth:
        msgs[t["status"]].add(t["case"])
    n_msgs = len({t["case"] for t in truth})
    print(f"  {n_msgs} messages, {len(truth)} (message, recipient) records")
    for st in STATUS_ORDER:
        print(f"    {st:<10} recipients={by_rcpt.get(st, 0):<3} messages={len(msgs.get(st, ()))}")
    via = Counter(t["via"] for t in truth)
    print("    via: " + ", ".join(f"{k}={v}" for k, v in sorted(via.items())))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    try:
        if cmd == "send":
            cmd_send(argv[2])
            return 0
        if cmd == "wait":
            return cmd_wait(argv[2], argv[3] if len(argv) > 3 else 120)
        if cmd == "truth":
            cmd_truth()
            return 0
        if cmd == "verify":
            return cmd_verify(argv[2])
        if cmd == "summary":
            cmd_summary(argv[2])
            return 0
    except (ScenarioError, smtplib.SMTPException, OSError, subprocess.SubprocessError) as e:
        print(f"scenario.py {cmd}: ERROR: {e}", file=sys.stderr)
        return 1
    print(f"unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
