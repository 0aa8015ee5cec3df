#!/usr/bin/env python3
"""Scenario driver for tests/mta/exim/run.sh.

The case table below is the single source of truth for the harness: it says
what each message is, how it is sent, and what the final outcome for each
recipient is expected to be (status, enhanced status code, relay).  The
expected values were determined by observing real Exim 4.96 runs (Debian
4.96-15+deb12u11) and are hard-coded; nothing in truth.jsonl is derived from
the log.

Sub-commands (all configuration comes from environment variables exported by
run.sh):

    send                 submit every message (SMTP to the daemon, and local
                         submission with `exim -bm` / `exim -bs`)
    wait WHAT [TIMEOUT]  poll the log/queue until WHAT is reached
                         (later-deferred, final); exit 1 on timeout
    truth                write truth.jsonl to stdout
    verify TRUTH         cross-check truth.jsonl against the Exim main log
    summary TRUTH        print a per-status summary of the truth
"""

import email.utils
import json
import os
import re
import smtplib
import ssl
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


PORT_EXIM = env_int("PORT_EXIM")
PORT_OK = env_int("PORT_OK")
PORT_TEMPFAIL = env_int("PORT_TEMPFAIL")
PORT_REJECT = env_int("PORT_REJECT")
PORT_DOWN = env_int("PORT_DOWN")
PORT_LATER = env_int("PORT_LATER")
PORT_EXPIRE = env_int("PORT_EXPIRE")
PORT_GONE = env_int("PORT_GONE")
PORT_BADDATA = env_int("PORT_BADDATA")
MESSAGE_SIZE_LIMIT = env_int("MESSAGE_SIZE_LIMIT")

EXIM = ENV.get("EXIM_BIN", "")
EXIM_CONF = ENV.get("EXIM_CONF", "")
LOG_FILE = ENV.get("EXIM_LOG", "")
AUTH_USER = ENV.get("AUTH_USER", "alice")
AUTH_PASS = ENV.get("AUTH_PASS", "secret")

HELO = "client.harness.test"


def relay(port):
    """Exim's H= item for a sink: host name, IP in brackets, ":port"
    (log_selector +outgoing_port), without the "*" Exim appends for a re-used
    connection. Each sink listens on its own loopback address 127.0.0.<port-26000>
    (see run.sh)."""
    ip = f"127.0.0.{port - 26000}"
    return f"{ip} [{ip}]:{port}"


class Outcome:
    """Expected final state of one recipient."""

    def __init__(self, kind, status, dsn, relay_):
        self.kind, self.status, self.dsn, self.relay = kind, status, dsn, relay_


# Values observed on Exim 4.96 + smtp-sink with the replies configured in run.sh.
# dsn: the enhanced status code as it appears in the log (C="250 2.0.0 Ok",
#      the remote's error text, or the text of an ACL message); None when the
#      log has none (connection refused, local delivery, Exim's built-in
#      rejection texts such as "relay not permitted").
# relay: Exim's H= value of the line that decided the outcome; None when no
#      host was involved (local delivery, no connection, rejected by Exim).
DELIVERED = Outcome("delivered", "delivered", "2.0.0", relay(PORT_OK))
DELIVERED_LATER = Outcome("later", "delivered", "2.0.0", relay(PORT_LATER))   # 450 first, then 250
DELIVERED_LOCAL = Outcome("local", "delivered", None, None)                    # appendfile mailbox
BOUNCED = Outcome("bounced", "bounced", "5.1.1", relay(PORT_REJECT))          # 550 5.1.1 at RCPT
BOUNCED_DATA = Outcome("bounced_data", "bounced", "5.7.1", relay(PORT_BADDATA))  # 554 5.7.1 after data
DEFERRED = Outcome("deferred", "deferred", "4.2.0", relay(PORT_TEMPFAIL))     # 450 4.2.0 at RCPT
DEFERRED_DOWN = Outcome("deferred_down", "deferred", None, None)              # connection refused
EXPIRED = Outcome("expired", "expired", "4.2.2", relay(PORT_EXPIRE))          # 452 4.2.2 until retry timeout
EXPIRED_DOWN = Outcome("expired_down", "expired", None, None)                 # refused until retry timeout
REJ_ACL = Outcome("rej_acl", "rejected", "5.7.1", None)        # RCPT ACL deny, message "550 5.7.1 ..."
REJ_PLAIN = Outcome("rej_plain", "rejected", None, None)       # RCPT ACL deny, no message: 550 Administrative prohibition
REJ_SENDER = Outcome("rej_sender", "rejected", "5.7.1", None)  # RCPT ACL deny on the sender
REJ_RELAY = Outcome("rej_relay", "rejected", None, None)       # 550 relay not permitted
REJ_UNROUTABLE = Outcome("rej_unroutable", "rejected", None, None)  # verify = recipient: 550 Unrouteable address
REJ_SIZE = Outcome("rej_size", "rejected", None, None)         # message_size_limit: 552 Message size exceeds ...
REJ_CONTENT = Outcome("rej_content", "rejected", "5.7.1", None)  # DATA ACL deny, message "550 5.7.1 ..."

# SMTP reply code the client must see for each kind of rejection.
REJECT_CODES = {"rej_acl": 550, "rej_plain": 550, "rej_sender": 550, "rej_relay": 550,
                "rej_unroutable": 550, "rej_size": 552, "rej_content": 550}


def C(n, desc, sender, rcpts, via="smtp", session=None, mode="auto", body_size=0,
      subject=None, subject_header=None, tls=False, local="bm"):
    """One scenario message.

    rcpts: list of (address, Outcome).
    via:   smtp  = over TCP to the daemon on 127.0.0.1:PORT_EXIM
           local = local submission by root: `exim -bm` (local="bm") or
                   `exim -bs` (local="bs", SMTP over stdin/stdout)
    mode:  auto   = smtplib.sendmail (declares SIZE= in MAIL FROM)
           nosize = MAIL FROM without SIZE=, so size is only checked after DATA
    subject_header: raw Subject: header when it differs from the decoded subject
    tls:   STARTTLS and AUTH PLAIN before MAIL
    """
    case = f"case{n:02d}"
    return {
        "n": n,
        "case": case,
        "message_id": f"<{case}@harness.test>",
        "subject": subject if subject is not None else f"case {n:02d}: {desc}",
        "subject_header": subject_header,
        "sender": sender,
        "rcpts": rcpts,
        "via": via,
        "local": local,
        "session": session if session is not None else case,
        "mode": mode,
        "body_size": body_size,
        "tls": tls,
    }


BIG = MESSAGE_SIZE_LIMIT + 10000

CASES = [
    # five messages in one SMTP session: smtp_accept_queue_per_connection = 4,
    # so the fifth is only queued ("no immediate delivery") and is delivered by
    # the next queue runner.
    C(1, "delivered, single recipient", "s01@ok.test",
      [("rcpt01@ok.test", DELIVERED)], session="sessA"),
    C(2, "delivered, second message in the same SMTP session", "s02@ok.test",
      [("rcpt02@ok.test", DELIVERED)], session="sessA"),
    C(3, "delivered, two recipients", "s03@ok.test",
      [("rcpt03a@ok.test", DELIVERED), ("rcpt03b@ok.test", DELIVERED)], session="sessA"),
    C(4, "null sender, delivered", "",
      [("rcpt04@ok.test", DELIVERED)], session="sessA"),
    C(5, "fifth message in a session, queued, delivered by a queue runner", "s05@ok.test",
      [("rcpt05@ok.test", DELIVERED)], session="sessA"),
    C(6, "delivered, three recipients", "s06@ok.test",
      [("rcpt06a@ok.test", DELIVERED), ("rcpt06b@ok.test", DELIVERED),
       ("rcpt06c@ok.test", DELIVERED)]),
    C(7, "sender at another domain, delivered", "alerts@monitor.example",
      [("rcpt07@ok.test", DELIVERED)]),
    C(8, "sender with +tag, delivered", "s08+tag@ok.test",
      [("rcpt08@ok.test", DELIVERED)]),
    C(9, "delivered, five recipients", "s09@ok.test",
      [(f"rcpt09{c}@ok.test", DELIVERED) for c in "abcde"]),
    C(10, "tricky subject", "s10@ok.test",
      [("rcpt10@ok.test", DELIVERED)],
      subject='case 10: tricky "quoted" \\back\\slash; from <x@y.test> for z@w.test T="fake"'),
    C(11, "MIME-encoded subject", "s11@ok.test",
      [("rcpt11@ok.test", DELIVERED)],
      subject="case 11: Grüße aus Köln",
      subject_header="case 11: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?="),
    C(12, "delivered, large body under the size limit", "s12@ok.test",
      [("rcpt12@ok.test", DELIVERED)], body_size=MESSAGE_SIZE_LIMIT // 2),
    C(13, "STARTTLS and AUTH PLAIN, delivered", "s13@ok.test",
      [("rcpt13@ok.test", DELIVERED)], tls=True),
    C(14, "bounced by remote 550 at RCPT", "s14@ok.test",
      [("rcpt14@reject.test", BOUNCED)]),
    C(15, "bounced, two recipients", "s15@ok.test",
      [("rcpt15a@reject.test", BOUNCED), ("rcpt15b@reject.test", BOUNCED)]),
    C(16, "mixed: delivered and bounced", "s16@ok.test",
      [("rcpt16a@ok.test", DELIVERED), ("rcpt16b@reject.test", BOUNCED)]),
    C(17, "bounced by remote 554 after end of data", "s17@ok.test",
      [("rcpt17@baddata.test", BOUNCED_DATA)]),
    C(18, "null sender, bounced: frozen, then dropped by ignore_bounce_errors_after", "",
      [("rcpt18@reject.test", BOUNCED)]),
    C(19, "bounced; the bounce to the sender fails too and is frozen", "s19@reject.test",
      [("rcpt19@reject.test", BOUNCED)]),
    C(20, "greylisted first, delivered later", "s20@ok.test",
      [("rcpt20@later.test", DELIVERED_LATER)]),
    C(21, "mixed: delivered now and delivered later", "s21@ok.test",
      [("rcpt21a@ok.test", DELIVERED), ("rcpt21b@later.test", DELIVERED_LATER)]),
    C(22, "452 until the retry rule times out", "s22@ok.test",
      [("rcpt22@expire.test", EXPIRED)]),
    C(23, "mixed: delivered and expired", "s23@ok.test",
      [("rcpt23a@ok.test", DELIVERED), ("rcpt23b@expire.test", EXPIRED)]),
    C(24, "connection refused until the retry rule times out", "s24@ok.test",
      [("rcpt24@gone.test", EXPIRED_DOWN)]),
    C(25, "deferred, stays in queue", "s25@ok.test",
      [("rcpt25@tempfail.test", DEFERRED)]),
    C(26, "deferred, two recipients", "s26@ok.test",
      [("rcpt26a@tempfail.test", DEFERRED), ("rcpt26b@tempfail.test", DEFERRED)]),
    C(27, "mixed: delivered, bounced and deferred", "s27@ok.test",
      [("rcpt27a@ok.test", DELIVERED), ("rcpt27b@reject.test", BOUNCED),
       ("rcpt27c@tempfail.test", DEFERRED)]),
    C(28, "deferred, connection refused", "s28@ok.test",
      [("rcpt28@down.test", DEFERRED_DOWN)]),
    C(29, "null sender, deferred", "",
      [("rcpt29@tempfail.test", DEFERRED)]),
    C(30, "local delivery to a mailbox file", "s30@ok.test",
      [("mbox30@local.harness.test", DELIVERED_LOCAL)]),
    C(31, "alias redirected to a remote address, delivered", "s31@ok.test",
      [("alias31@local.harness.test", DELIVERED)]),
    C(32, "rejected at RCPT by an ACL with 550 5.7.1", "s32@ok.test",
      [("blocked32@ok.test", REJ_ACL)]),
    C(33, "rejected at RCPT by a plain ACL deny", "s33@ok.test",
      [("rcpt33@reject-here.test", REJ_PLAIN)]),
    C(34, "one recipient accepted, one rejected at RCPT", "s34@ok.test",
      [("rcpt34a@ok.test", DELIVERED), ("blocked34b@ok.test", REJ_ACL)]),
    C(35, "sender rejected by the RCPT ACL", "spammer@bad.example",
      [("rcpt35@ok.test", REJ_SENDER)]),
    C(36, "relay not permitted", "s36@ok.test",
      [("rcpt36@elsewhere.example", REJ_RELAY)]),
    C(37, "unknown local user, rejected by verify = recipient", "s37@ok.test",
      [("nobody37@local.harness.test", REJ_UNROUTABLE)]),
    C(38, "too big, SIZE declared, rejected at MAIL", "s38@ok.test",
      [("rcpt38@ok.test", REJ_SIZE)], body_size=BIG),
    C(39, "too big, no SIZE, rejected after DATA", "s39@ok.test",
      [("rcpt39@ok.test", REJ_SIZE)], body_size=BIG, mode="nosize"),
    C(40, "SPAM in the subject, rejected by the DATA ACL", "s40@ok.test",
      [("rcpt40a@ok.test", REJ_CONTENT), ("rcpt40b@ok.test", REJ_CONTENT)]),
    # a session with a reject between two accepted messages
    C(41, "delivered, session with a reject in the middle", "s41@ok.test",
      [("rcpt41@ok.test", DELIVERED)], session="sessB"),
    C(42, "rejected at RCPT inside a session", "s42@ok.test",
      [("blocked42@ok.test", REJ_ACL)], session="sessB"),
    C(43, "delivered after a rejected message in the same session", "s43@ok.test",
      [("rcpt43@ok.test", DELIVERED)], session="sessB"),
    # local submission by root
    C(44, "submitted with exim -bm, delivered", "s44@ok.test",
      [("rcpt44@ok.test", DELIVERED)], via="local"),
    C(45, "submitted with exim -bm, two recipients delivered", "s45@ok.test",
      [("rcpt45a@ok.test", DELIVERED), ("rcpt45b@ok.test", DELIVERED)], via="local"),
    C(46, "submitted with exim -bm, bounced", "s46@ok.test",
      [("rcpt46@reject.test", BOUNCED)], via="local"),
    C(47, "submitted with exim -bm, deferred", "s47@ok.test",
      [("rcpt47@tempfail.test", DEFERRED)], via="local"),
    C(48, "submitted with exim -bs (SMTP on stdin), delivered", "s48@ok.test",
      [("rcpt48@ok.test", DELIVERED)], via="local", local="bs"),
]

STATUS_ORDER = ["delivered", "deferred", "bounced", "expired", "rejected"]


def sanity_check_cases():
    seen = set()
    for c in CASES:
        for addr, outcome in c["rcpts"]:
            assert addr not in seen, f"duplicate recipient {addr}"
            seen.add(addr)
            assert outcome.status in STATUS_ORDER
        if c["sender"]:
            assert c["sender"] not in seen, f"sender reused as recipient {c['sender']}"
    ids = [c["message_id"] for c in CASES]
    assert len(ids) == len(set(ids))


sanity_check_cases()

# Senders whose bounces cannot be delivered (their bounce is frozen).
UNDELIVERABLE_SENDER_DOMAINS = ("reject.test",)


# --------------------------------------------------------------------------
# message construction and sending


def build_message(c):
    hdr_from = c["sender"] or "MAILER-DAEMON@harness.test"
    lines = [
        f"From: <{hdr_from}>",
        "To: " + ", ".join(f"<{a}>" for a, _ in c["rcpts"]),
        f"Subject: {c['subject_header'] or c['subject']}",
        f"Message-ID: {c['message_id']}",
        f"Date: {email.utils.formatdate(localtime=True)}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"This is {c['case']} of the mailtrace Exim harness.",
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


def check_reply(c, addr, code, resp):
    o = dict(c["rcpts"])[addr]
    want = REJECT_CODES[o.kind]
    text = resp.decode(errors="replace") if isinstance(resp, bytes) else str(resp)
    expect(code == want, f"{c['case']}: {addr} refused with {code} {text!r}, expected {want}")
    got_dsn = text.split()[0] if text and re.match(r"[245]\.\d+\.\d+$", text.split()[0]) else None
    expect(got_dsn == o.dsn, f"{c['case']}: {addr} refused with {code} {text!r}, expected dsn {o.dsn}")


def send_smtp(conn, c):
    msg = build_message(c)
    kinds = {o.kind for _, o in c["rcpts"]}
    rejected_rcpts = [a for a, o in c["rcpts"] if o.kind in ("rej_acl", "rej_plain", "rej_sender",
                                                           "rej_relay", "rej_unroutable")]
    all_addrs = [a for a, _ in c["rcpts"]]
    accepted = [a for a in all_addrs if a not in rejected_rcpts]

    if c["mode"] == "nosize" or "rej_content" in kinds:
        # Do the transaction by hand (no SIZE=), so that the message is only
        # refused at the end of DATA.
        code, resp = conn.mail(c["sender"])
        expect(code == 250, f"{c['case']}: MAIL FROM got {code} {resp!r}")
        for a in all_addrs:
            code, resp = conn.rcpt(a)
            expect(code == 250, f"{c['case']}: RCPT {a} got {code} {resp!r}")
        code, resp = conn.data(msg)
        if "rej_size" in kinds or "rej_content" in kinds:
            check_reply(c, all_addrs[0], code, resp)
            conn.rset()
        else:
            expect(code == 250, f"{c['case']}: DATA got {code} {resp!r}")
        return

    try:
        refused = conn.sendmail(c["sender"], all_addrs, msg)
    except smtplib.SMTPSenderRefused as e:
        expect("rej_size" in kinds, f"{c['case']}: unexpected MAIL FROM refusal {e.smtp_code} {e.smtp_error!r}")
        check_reply(c, all_addrs[0], e.smtp_code, e.smtp_error)
        return
    except smtplib.SMTPRecipientsRefused as e:
        expect(not accepted and set(e.recipients) == set(rejected_rcpts),
               f"{c['case']}: unexpected recipient refusal {e.recipients!r}")
        for a, (code, resp) in e.recipients.items():
            check_reply(c, a, code, resp)
        return
    expect("rej_size" not in kinds, f"{c['case']}: oversized message was accepted")
    expect(set(refused) == set(rejected_rcpts),
           f"{c['case']}: refused={refused!r}, expected {sorted(rejected_rcpts)}")
    for a, (code, resp) in refused.items():
        check_reply(c, a, code, resp)


def send_bm(c):
    msg = build_message(c).replace(b"\r\n", b"\n")
    argv = [EXIM, "-C", EXIM_CONF, "-oi", "-f", c["sender"], "--"] + [a for a, _ in c["rcpts"]]
    p = subprocess.run(argv, input=msg, capture_output=True, timeout=60)
    expect(p.returncode == 0,
           f"{c['case']}: exim -bm failed rc={p.returncode}: {p.stderr.decode(errors='replace')}")


def send_bs(c):
    """SMTP over stdin/stdout of `exim -bs` (local SMTP, P=local-esmtp)."""
    p = subprocess.Popen([EXIM, "-C", EXIM_CONF, "-bs"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def reply():
        lines = []
        while True:
            ln = p.stdout.readline().decode(errors="replace")
            expect(ln != "", f"{c['case']}: exim -bs closed the connection after {lines!r}")
            lines.append(ln.rstrip("\r\n"))
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), lines

    def cmd(line, want):
        if line is not None:
            p.stdin.write(line.encode() + b"\r\n")
            p.stdin.flush()
        code, lines = reply()
        expect(code == want, f"{c['case']}: exim -bs: {line!r} got {lines!r}")

    try:
        cmd(None, 220)
        cmd(f"EHLO {HELO}", 250)
        cmd(f"MAIL FROM:<{c['sender']}>", 250)
        for a, _ in c["rcpts"]:
            cmd(f"RCPT TO:<{a}>", 250)
        cmd("DATA", 354)
        body = build_message(c).replace(b"\r\n.", b"\r\n..")
        p.stdin.write(body + b".\r\n")
        p.stdin.flush()
        cmd(None, 250)
        cmd("QUIT", 221)
        p.stdin.close()
        rc = p.wait(timeout=60)
        expect(rc == 0, f"{c['case']}: exim -bs exited with {rc}: {p.stderr.read().decode(errors='replace')}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def smtp_session(cs):
    conn = smtplib.SMTP("127.0.0.1", PORT_EXIM, local_hostname=HELO, timeout=60)
    try:
        conn.ehlo()
        if any(c["tls"] for c in cs):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE   # self-signed certificate made by run.sh
            conn.starttls(context=ctx)
            conn.ehlo()
            conn.login(AUTH_USER, AUTH_PASS)
        for c in cs:
            send_smtp(conn, c)
            print(f"  sent {c['case']} via smtp")
        conn.quit()
    finally:
        conn.close()


def cmd_send():
    sessions = []
    by_session = {}
    for c in CASES:
        if c["via"] == "local":
            sessions.append(("local", [c]))
            continue
        if c["session"] not in by_session:
            by_session[c["session"]] = []
            sessions.append(("smtp", by_session[c["session"]]))
        by_session[c["session"]].append(c)
    for kind, cs in sessions:
        if kind == "local":
            c = cs[0]
            if c["local"] == "bs":
                send_bs(c)
            else:
                send_bm(c)
            print(f"  sent {c['case']} via exim -{c['local']}")
        else:
            smtp_session(cs)
        # Keep the log ordering readable: one session at a time, small gap.
        time.sleep(0.2)


# --------------------------------------------------------------------------
# log access

QID = r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}"
TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
RE_ARRIVAL = re.compile(rf"^{TS} ({QID}) <= (\S+) (.*)$")
# "** addr: retry timeout exceeded" has a colon right after the address.
RE_DELIVERY = re.compile(rf"^{TS} ({QID}) (=>|->|\*\*|==) (\S+?)(?: <([^>]+)>)?:? (.*)$")
RE_COMPLETED = re.compile(rf"^{TS} ({QID}) Completed")
RE_FROZEN = re.compile(rf"^{TS} ({QID}) Frozen")
RE_REJ_RCPT = re.compile(rf"^{TS} (?:{QID} )?H=.* F=<([^>]*)> rejected RCPT <([^>]+)>(?:: (.*))?$")
RE_REJ_DATA = re.compile(rf"^{TS} ({QID}) H=.* F=<([^>]*)> rejected after DATA: (.*)$")
RE_REJ_MAIL_SIZE = re.compile(rf"^{TS} rejected MAIL FROM:<([^>]*)> .*: message too big")
RE_REJ_SIZE_DATA = re.compile(rf"^{TS} (?:({QID}) )?rejected from <([^>]*)> .*: message too big")
RE_HOST = re.compile(r"\bH=(\S+ \[[^\]]+\](?::\d+)?)\*?")  # "*": re-used connection
RE_CONFIRM = re.compile(r'\bC="(\d{3}) ([245]\.\d{1,3}\.\d{1,3})\b')
RE_REPLY_DSN = re.compile(r": \d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b")
RE_ACL_DSN = re.compile(r"^\d{3} ([245]\.\d{1,3}\.\d{1,3})\b")


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
        self.qid_sender = {}
        self.bounce_of = {}                  # bounce qid -> original qid
        self.bounces_for = defaultdict(list)  # original qid -> bounce qids
        self.dl = defaultdict(list)          # addr (final and original) -> [(qid, op, relay, dsn, rest)]
        self.completed = set()
        self.frozen = set()
        self.rej_rcpt = defaultdict(list)    # rcpt -> [(sender, text)]
        self.rej_data = []                   # (qid, sender, text)
        self.rej_mail_size = []              # sender
        self.rej_size_data = []              # (qid|None, sender)
        for ln in lines:
            m = RE_ARRIVAL.match(ln)
            if m:
                qid, sender, rest = m.groups()
                self.qid_sender[qid] = "" if sender == "<>" else sender
                mi = re.search(r"\bid=(\S+)", rest)
                if mi:
                    mid = "<" + mi.group(1) + ">"
                    self.qid_msgid[qid] = mid
                    self.msgid_qids[mid].append(qid)
                mr = re.search(rf"\bR=({QID})\b", rest)
                if sender == "<>" and mr:
                    self.bounce_of[qid] = mr.group(1)
                    self.bounces_for[mr.group(1)].append(qid)
                continue
            m = RE_DELIVERY.match(ln)
            if m:
                qid, op, addr, orig, rest = m.groups()
                h = RE_HOST.search(rest)
                rly = h.group(1) if h else None
                if op in ("=>", "->"):
                    d = RE_CONFIRM.search(rest)
                    dsn = d.group(2) if d else None
                else:
                    d = RE_REPLY_DSN.search(rest)
                    dsn = d.group(1) if d else None
                rec = (qid, op, rly, dsn, rest)
                self.dl[addr].append(rec)
                if orig and orig != addr:
                    self.dl[orig].append(rec)
                continue
            m = RE_COMPLETED.match(ln)
            if m:
                self.completed.add(m.group(1))
                continue
            m = RE_FROZEN.match(ln)
            if m:
                self.frozen.add(m.group(1))
                continue
            m = RE_REJ_RCPT.match(ln)
            if m:
                self.rej_rcpt[m.group(2)].append((m.group(1), m.group(3) or ""))
                continue
            m = RE_REJ_DATA.match(ln)
            if m:
                self.rej_data.append(m.groups())
                continue
            m = RE_REJ_MAIL_SIZE.match(ln)
            if m:
                self.rej_mail_size.append(m.group(1))
                continue
            m = RE_REJ_SIZE_DATA.match(ln)
            if m:
                self.rej_size_data.append(m.groups())

    def lines_for(self, c, addr):
        qids = self.msgid_qids.get(c["message_id"], [])
        return [r for r in self.dl.get(addr, []) if r[0] in qids]

    def decisive(self, c, addr):
        """The line that decides dsn/relay: the last delivery attempt. Skipped:
        "retry time not reached" (no attempt made) and the final
        "** addr: retry timeout exceeded" (dsn/relay of an expiry are those of
        the last attempt before it)."""
        lst = [r for r in self.lines_for(c, addr)
               if "retry time not reached" not in r[4] and not r[4].startswith("retry timeout exceeded")]
        return lst[-1] if lst else None

    def last(self, c, addr, ops):
        lst = [r for r in self.lines_for(c, addr) if r[1] in ops]
        return lst[-1] if lst else None

    def bounce_delivered(self, qid, sender):
        return any(r[1] in ("=>", "->") and r[0] in self.bounces_for.get(qid, [])
                   for r in self.dl.get(sender, []))


def queue_snapshot():
    """{qid: (sender, frozen, {pending recipients})} from `exim -bp`."""
    p = subprocess.run([EXIM, "-C", EXIM_CONF, "-bp"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise ScenarioError(f"exim -bp failed: {p.stderr.strip()}")
    q = {}
    cur = None
    for ln in p.stdout.splitlines():
        m = re.match(rf"^\s*\S+\s+\S+\s+({QID}) <([^>]*)>( \*\*\* frozen \*\*\*)?", ln)
        if m:
            cur = m.group(1)
            q[cur] = (m.group(2), bool(m.group(3)), set())
            continue
        s = ln.strip()
        if cur and s and not s.startswith("D "):
            q[cur][2].add(s.split()[-1] if s.startswith("+D ") else s)
    return q


# --------------------------------------------------------------------------
# waiting


def pending(lv):
    """Human-readable conditions of the final state that are not met yet."""
    missing = []
    for c in CASES:
        qids = lv.msgid_qids.get(c["message_id"], [])
        if c["rcpts"][0][1].status != "rejected" and not qids:
            missing.append(f"{c['case']} received")
            continue
        needs_bounce = False
        for addr, o in c["rcpts"]:
            st = o.status
            if st == "delivered" and not lv.last(c, addr, ("=>", "->")):
                missing.append(f"{c['case']} {addr} delivered")
            elif st in ("bounced", "expired"):
                needs_bounce = True
                if not lv.last(c, addr, ("**",)):
                    missing.append(f"{c['case']} {addr} failed (**)")
            elif st == "deferred" and not lv.last(c, addr, ("==",)):
                missing.append(f"{c['case']} {addr} deferred (==)")
        if not needs_bounce or not qids:
            continue
        qid = qids[0]
        if c["sender"] and not c["sender"].endswith(UNDELIVERABLE_SENDER_DOMAINS):
            if not lv.bounce_delivered(qid, c["sender"]):
                missing.append(f"{c['case']} bounce to {c['sender']} delivered")
        elif c["sender"]:
            # the bounce itself fails, is frozen, and is dropped after
            # ignore_bounce_errors_after
            bqs = lv.bounces_for.get(qid, [])
            if not bqs or not all(b in lv.completed for b in bqs):
                missing.append(f"{c['case']} bounce {bqs} frozen and dropped (Completed)")
        elif qid not in lv.completed:
            missing.append(f"{c['case']} {qid} (null sender) frozen and dropped (Completed)")
    return missing


def expected_queue():
    """message-id -> set of recipients still pending at the end."""
    exp = {}
    for c in CASES:
        left = {a for a, o in c["rcpts"] if o.status == "deferred"}
        if left:
            exp[c["message_id"]] = left
    return exp


def cmd_wait(what, timeout):
    deadline = min(time.time() + float(timeout), float(ENV.get("DEADLINE", "1e18")))
    last_report = 0.0
    while True:
        lv = LogView(read_log())
        if what == "later-deferred":
            missing = [f"{c['case']} {a} deferred" for c in CASES for a, o in c["rcpts"]
                       if o is DELIVERED_LATER and not lv.last(c, a, ("==",))]
        elif what == "final":
            missing = pending(lv)
            if not missing:
                exp = expected_queue()
                q = queue_snapshot()
                got = {lv.qid_msgid.get(qid, "?" + qid): rcpts for qid, (_, _, rcpts) in q.items()}
                frozen = [qid for qid, (_, fr, _) in q.items() if fr]
                if frozen:
                    missing = [f"frozen messages in the queue: {frozen}"]
                elif got != exp:
                    missing = [f"queue is {sorted((k, sorted(v)) for k, v in got.items())}, "
                               f"want {sorted((k, sorted(v)) for k, v in exp.items())}"]
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
        for addr, o in c["rcpts"]:
            yield {
                "case": c["case"],
                "message_id": c["message_id"],
                "sender": c["sender"],
                "recipient": addr,
                "status": o.status,
                "dsn": o.dsn,
                "relay": o.relay,
                "subject": c["subject"],
                "via": c["via"],
            }


def cmd_truth():
    for r in truth_records():
        print(json.dumps(r, ensure_ascii=False))


def unescape_exim(s):
    """Undo Exim's string_printing() escapes in a logged T="..." value."""
    out = bytearray()
    i = 0
    b = s.encode("latin-1", errors="replace")
    while i < len(b):
        ch = b[i]
        if ch == 0x5C and i + 1 < len(b):  # backslash
            nx = b[i + 1]
            if 0x30 <= nx <= 0x37:
                j = i + 1
                while j < len(b) and j < i + 4 and 0x30 <= b[j] <= 0x37:
                    j += 1
                out.append(int(b[i + 1:j], 8))
                i = j
                continue
            out.append({ord("n"): 10, ord("t"): 9, ord("r"): 13}.get(nx, nx))
            i += 2
            continue
        out.append(ch)
        i += 1
    return out.decode("utf-8", errors="replace")


def cmd_verify(truth_path):
    with open(truth_path, encoding="utf-8") as f:
        truth = [json.loads(ln) for ln in f if ln.strip()]
    lines = read_log()
    lv = LogView(lines)
    q = queue_snapshot() if EXIM_CONF and os.path.exists(EXIM_CONF) else None
    cases = {c["case"]: c for c in CASES}
    errors = []
    for t in truth:
        c = cases[t["case"]]
        addr, st = t["recipient"], t["status"]
        where = f"{t['case']} {addr}"
        qids = lv.msgid_qids.get(t["message_id"], [])
        if st != "rejected":
            if len(qids) != 1:
                errors.append(f"{where}: expected one arrival for {t['message_id']}, got {qids}")
                continue
            qid = qids[0]
            if lv.qid_sender.get(qid) != t["sender"]:
                errors.append(f"{where}: arrival sender {lv.qid_sender.get(qid)!r}, truth {t['sender']!r}")
            arr = next(ln for ln in lines if RE_ARRIVAL.match(ln) and RE_ARRIVAL.match(ln).group(1) == qid)
            mt = re.search(r' T="((?:[^"\\]|\\.)*)"', arr)
            if not mt or unescape_exim(mt.group(1)) != t["subject"]:
                errors.append(f"{where}: logged subject {mt.group(1) if mt else None!r}, truth {t['subject']!r}")
            want_p = "P=local" if t["via"] == "local" else "P=esmtp"
            if f" {want_p}" not in arr:
                errors.append(f"{where}: arrival has no {want_p}: {arr}")
            recs = lv.lines_for(c, addr)
            if not recs:
                errors.append(f"{where}: no delivery line in log")
                continue
            _, op, _, _, rest = recs[-1]
            dec = lv.decisive(c, addr)
            rly, dsn = (dec[2], dec[3]) if dec else (None, None)
            if st == "delivered":
                if op not in ("=>", "->"):
                    errors.append(f"{where}: last line is {op}, truth says delivered")
            elif st == "bounced":
                if op != "**" or "retry timeout exceeded" in rest or "after a long failure period" in rest:
                    errors.append(f"{where}: last line is {op} {rest[:80]!r}, truth says bounced")
            elif st == "expired":
                if op != "**" or not (rest.startswith("retry timeout exceeded") or "after a long failure period" in rest):
                    errors.append(f"{where}: last line is {op} {rest[:80]!r}, truth says expired")
            elif st == "deferred":
                if op != "==":
                    errors.append(f"{where}: last line is {op}, truth says deferred")
                elif q is not None and not any(qid == k and addr in v[2] for k, v in q.items()):
                    errors.append(f"{where}: not pending in the final queue")
            if dsn != t["dsn"]:
                errors.append(f"{where}: log dsn {dsn}, truth {t['dsn']}")
            if rly != t["relay"]:
                errors.append(f"{where}: log relay {rly}, truth {t['relay']}")
        else:
            kind = dict(c["rcpts"])[addr].kind
            if kind in ("rej_acl", "rej_plain", "rej_sender", "rej_relay", "rej_unroutable"):
                hits = lv.rej_rcpt.get(addr, [])
                if len(hits) != 1:
                    errors.append(f"{where}: {len(hits)} 'rejected RCPT' lines, want 1")
                    continue
                sender, text = hits[0]
                if sender != t["sender"]:
                    errors.append(f"{where}: reject F=<{sender}>, truth sender {t['sender']!r}")
                d = RE_ACL_DSN.match(text)
                if (d.group(1) if d else None) != t["dsn"]:
                    errors.append(f"{where}: reject text {text!r}, truth dsn {t['dsn']}")
            elif kind == "rej_content":
                hits = [r for r in lv.rej_data if r[1] == t["sender"]]
                d = RE_ACL_DSN.match(hits[0][2]) if len(hits) == 1 else None
                if len(hits) != 1 or (d.group(1) if d else None) != t["dsn"]:
                    errors.append(f"{where}: 'rejected after DATA' lines {hits}, truth dsn {t['dsn']}")
            elif kind == "rej_size":
                n_mail = lv.rej_mail_size.count(t["sender"])
                n_data = sum(1 for _, s in lv.rej_size_data if s == t["sender"])
                want = (0, 1) if c["mode"] == "nosize" else (1, 0)
                if (n_mail, n_data) != want:
                    errors.append(f"{where}: size rejections (MAIL, DATA) = {(n_mail, n_data)}, want {want}")
            if any(r for r in lv.dl.get(addr, [])):
                errors.append(f"{where}: truth says rejected but the log has a delivery line")
    if q is not None:
        exp = expected_queue()
        got = {lv.qid_msgid.get(qid, "?" + qid): v[2] for qid, v in q.items()}
        if got != exp:
            errors.append(f"final queue {got} != expected {exp}")
    if errors:
        print("VERIFY FAILED:", file=sys.stderr)
        for e in errors:
            print("  - " + e, file=sys.stderr)
        return 1
    print(f"  verify: all {len(truth)} truth records agree with the log")
    return 0


def cmd_summary(truth_path):
    with open(truth_path, encoding="utf-8") as f:
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
            cmd_send()
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
