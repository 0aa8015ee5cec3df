#!/usr/bin/env python3
"""Scenario driver for tests/mta/sendmail/run.sh.

The case table below is the single source of truth of the harness: what each message is,
how it is sent, and the final outcome of each recipient (status, enhanced status code,
relay). The expected values were observed on real Sendmail 8.17.1.9 runs (Debian
8.17.1.9-2+deb12u2) and are hard-coded; nothing in truth.jsonl is derived from the log.

Sub-commands (configuration comes from the environment that run.sh exports):

    send                 submit every message over SMTP to the daemon
    wait WHAT [TIMEOUT]  poll the log / queue until WHAT is reached (later-deferred,
                         final); exit 1 on timeout
    truth                write truth.jsonl to stdout
"""

import glob
import json
import os
import re
import smtplib
import ssl
import subprocess
import sys
import time

ENV = os.environ
PORT = int(ENV["PORT_SENDMAIL"])
LOG = ENV["SENDMAIL_LOG"]
QUEUE = ENV["SENDMAIL_QUEUE"]
DOMAIN = "harness.test"

OK = "[127.0.0.51] [127.0.0.51]"
LATER = "[127.0.0.52] [127.0.0.52]"
REJECT = "[127.0.0.54] [127.0.0.54]"
FULL = "[127.0.0.55] [127.0.0.55]"
DOWN = "[127.0.0.56] [127.0.0.56]"

# (case, sender, session, source address, recipients: [(address, status, dsn, relay)], note)
# Recipients refused in the dialogue are "rejected": their record has no Message-ID.
CASES = [
    ("case01", "s01@sender.test", "a", "127.0.0.1",
     [("rcpt01@ok.test", "delivered", "2.0.0", OK)], "delivered"),
    ("case02", "s02@sender.test", "b", "127.0.0.1",
     [("rcpt02a@ok.test", "delivered", "2.0.0", OK),
      ("rcpt02b@ok.test", "delivered", "2.0.0", OK)], "delivered, two recipients"),
    ("case03", "s03@sender.test", "b", "127.0.0.1",
     [("rcpt03@ok.test", "delivered", "2.0.0", OK)], "second message of the session"),
    ("case04", "s04@sender.test", "c", "127.0.0.1",
     [("rcpt04@later.test", "delivered", "2.0.0", LATER)], "greylisted (451), then delivered"),
    ("case05", "s05@sender.test", "d", "127.0.0.1",
     [("rcpt05@reject.test", "bounced", "5.1.1", REJECT)], "user unknown at the next hop: DSN"),
    ("case06", "s06@sender.test", "d", "127.0.0.1",
     [("rcpt06@full.test", "expired", "4.2.2", FULL)], "mailbox full until the queue return"),
    ("case07", "s07@sender.test", "d", "127.0.0.1",
     [("rcpt07@down.test", "expired", "4.4.1", DOWN)], "connection refused until the queue return"),
    ("case08", "s08@sender.test", "e", "127.0.0.1",
     [("rcpt08a@ok.test", "delivered", "2.0.0", OK),
      ("rcpt08b@reject.test", "bounced", "5.1.1", REJECT)], "one delivered, one bounced"),
    ("case09", "s09@sender.test", "f", "127.0.0.1",
     [("rcpt09@blocked.test", "rejected", "5.2.1", None)], "refused by the access map"),
    ("case10", "s10@sender.test", "f", "127.0.0.1",
     [("nosuchuser@mx.harness.test", "rejected", None, None)], "local user unknown"),
    ("case11", "s11@sender.test", "g", "127.0.0.1",
     [("rcpt11a@ok.test", "delivered", "2.0.0", OK),
      ("rcpt11b@blocked.test", "rejected", "5.2.1", None)], "one accepted, one refused"),
    ("case12", "s12@sender.test", "h", "127.0.0.2",
     [("rcpt12@ok.test", "rejected", "5.7.1", None)], "relaying denied to a foreign client"),
    ("case13", "s13@sender.test", "i", "127.0.0.1",
     [("rcpt13a@ok.test", "delivered", "2.0.0", OK),
      ("rcpt13b@ok.test", "delivered", "2.0.0", OK),
      ("rcpt13c@later.test", "delivered", "2.0.0", LATER)], "three recipients, one greylisted"),
    ("case14", "s14@sender.test", "j", "127.0.0.1",
     [(f"rcpt14{c}@ok.test", "delivered", "2.0.0", OK) for c in "abcde"],
     "five recipients, one delivery"),
    ("case15", "s15@sender.test", "j", "127.0.0.1",
     [("rcpt15a@ok.test", "delivered", "2.0.0", OK),
      ("rcpt15b@full.test", "expired", "4.2.2", FULL)], "one delivered, one expired"),
    ("case16", "s16@sender.test", "k", "127.0.0.1",
     [("rcpt16a@ok.test", "delivered", "2.0.0", OK),
      ("rcpt16b@reject.test", "bounced", "5.1.1", REJECT),
      ("rcpt16c@blocked.test", "rejected", "5.2.1", None)], "delivered, bounced and refused"),
    ("case17", "s17@sender.test", "l", "127.0.0.1",
     [("rcpt17@ok.test", "delivered", "2.0.0", OK)], "first of three in a session"),
    ("case18", "", "l", "127.0.0.1",
     [("rcpt18@ok.test", "delivered", "2.0.0", OK)], "null sender"),
    ("case19", "s19@sender.test", "l", "127.0.0.1",
     [("rcpt19a@later.test", "delivered", "2.0.0", LATER),
      ("rcpt19b@reject.test", "bounced", "5.1.1", REJECT)], "greylisted and bounced"),
    ("case20", "s20@sender.test", "local", "",
     [("rcpt20@ok.test", "delivered", "2.0.0", OK)], "local submission (sendmail -bm)"),
    ("case21", "s21@sender.test", "tls", "127.0.0.1",
     [("rcpt21@ok.test", "delivered", "2.0.0", OK)], "received over STARTTLS"),
]


def message_id(case):
    return f"<{case}@{DOMAIN}>"


def body(case, sender, rcpts, note):
    return (
        f"From: <{sender}>\r\n"
        f"To: {', '.join('<' + r + '>' for r in rcpts)}\r\n"
        f"Subject: {case}: {note}\r\n"
        f"Message-ID: {message_id(case)}\r\n"
        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
        "\r\n"
        f"{note}\r\n"
    )


def submit_locally(case, sender, rcpts, note):
    """`sendmail -bm` as root on the command line, in the daemon's namespaces."""
    cmd = ["unshare", "-m", "-u", ENV["SENDMAIL_NS"], ENV["SENDMAIL_BIN"], "-C",
           ENV["SENDMAIL_CF"], "-L", "sm-mta", "-oi", "-f", sender] + rcpts
    subprocess.run(cmd, input=body(case, sender, rcpts, note).replace("\r\n", "\n"),
                   text=True, check=True, timeout=60)


def submit_through_msp():
    """`sendmail` with the submission configuration: the message is queued by the submission
    program and relayed over SMTP to the daemon (two queue ids, two messages). Not in the
    truth: the same Message-ID is on both; the integration test checks their link."""
    sender, rcpt = "s22@sender.test", "rcpt22@ok.test"
    cmd = ["unshare", "-m", "-u", ENV["SENDMAIL_NS"], ENV["SENDMAIL_BIN"], "-C",
           ENV["SENDMAIL_SUBMIT_CF"], "-oi", "-f", sender, rcpt]
    text = body("case22", sender, [rcpt], "submitted through the submission program")
    subprocess.run(cmd, input=text.replace("\r\n", "\n"), text=True, check=True, timeout=60)


def send():
    submit_through_msp()
    sessions = {}
    for case in CASES:
        sessions.setdefault(case[2], []).append(case)
    for case, sender, _, _, rcpts, note in sessions.pop("local"):
        submit_locally(case, sender, [r[0] for r in rcpts], note)
    for cases in sessions.values():
        src = cases[0][3]
        smtp = smtplib.SMTP("127.0.0.1", PORT, local_hostname="client.harness.test",
                            source_address=(src, 0), timeout=30)
        if cases[0][2] == "tls":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            smtp.starttls(context=ctx)
        for case, sender, _, _, rcpts, note in cases:
            addrs = [r[0] for r in rcpts]
            try:
                refused = smtp.sendmail(sender, addrs, body(case, sender, addrs, note))
            except smtplib.SMTPRecipientsRefused as e:
                refused = e.recipients
                smtp.rset()
            want = {r[0] for r in rcpts if r[1] == "rejected"}
            if set(refused) != want:
                sys.exit(f"scenario.py: {case}: refused {sorted(refused)}, expected {sorted(want)}")
        smtp.quit()


def queue_empty():
    return not glob.glob(os.path.join(QUEUE, "qf*")) and not glob.glob(os.path.join(QUEUE, "df*"))


def log_text():
    try:
        with open(LOG, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait(what, timeout):
    end = time.time() + timeout
    while time.time() < end:
        text = log_text()
        if what == "later-deferred":
            if all(re.search(rf"to=<{a}@later\.test>.*stat=Deferred", text)
                   for a in ("rcpt04", "rcpt13c", "rcpt19a")):
                return
        elif what == "final":
            expired = text.count("Cannot send message for")
            warned = text.count("Warning: could not send message for past")
            if queue_empty() and expired >= 3 and warned >= 3:
                return
        else:
            sys.exit(f"scenario.py: unknown wait target {what}")
        time.sleep(0.5)
    sys.exit(f"scenario.py: timed out waiting for {what}")


def truth():
    for case, sender, _, _, rcpts, note in CASES:
        for addr, status, dsn, relay in rcpts:
            print(json.dumps({
                "case": case,
                "message_id": message_id(case),
                "sender": sender,
                "recipient": addr,
                "status": status,
                "dsn": dsn,
                "relay": relay,
                "subject": f"{case}: {note}",
            }))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "send":
        send()
    elif cmd == "wait":
        wait(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 60)
    elif cmd == "truth":
        truth()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
