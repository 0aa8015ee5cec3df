#!/usr/bin/env python3
"""Hostile-content scenario for the real-Postfix harness (tests/mta/postfix).

make-hostile-log.sh copies tests/mta/postfix/run.sh next to this file, so that run.sh runs this
scenario instead of its own: this file loads the harness's scenario.py (path in
$HARNESS_SCENARIO) as a module, replaces its case table with the messages below and hands over
to its main(). Sending, waiting, truth and verification are the harness's own code, unchanged.

The messages carry attacker-controlled text a dashboard must display literally:
  hostile01  a Subject with a <script> element and an <img onerror> (logged by header_checks INFO)
  hostile02  a sender and a recipient with quoted local parts holding markup and an attribute break
"""

import importlib.util
import os
import sys

spec = importlib.util.spec_from_file_location("harness_scenario", os.environ["HARNESS_SCENARIO"])
base = importlib.util.module_from_spec(spec)
spec.loader.exec_module(base)

XSS_SUBJECT = '<script>window.__xss=1;alert(1)</script><img src=x onerror="window.__xss=2">'
BOLD_SENDER = '"<b>bold</b>"@ok.test'
ATTR_RCPT = '"x\\"onmouseover=alert(1)"@ok.test'


def H(n, desc, sender, rcpts, subject):
    c = base.C(n, desc, sender, rcpts, subject=subject)
    c["case"] = f"hostile{n:02d}"
    c["message_id"] = f"<hostile{n:02d}@harness.test>"
    c["session"] = c["case"]
    return c


base.CASES = [
    H(1, "script subject", "xss@ok.test", [("rcpt-xss@ok.test", base.DELIVERED)], XSS_SUBJECT),
    H(2, "hostile addresses", BOLD_SENDER, [(ATTR_RCPT, base.DELIVERED)],
      "hostile02: quoted addresses with markup"),
]

if __name__ == "__main__":
    sys.exit(base.main(sys.argv))
