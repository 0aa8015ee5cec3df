#!/usr/bin/env python3
"""A minimal syslog daemon for tests/mta/sendmail/run.sh.

Sendmail logs only through syslog(3), which writes datagrams to /dev/log. run.sh runs
Sendmail in a private mount namespace whose /dev/log is a symlink to this receiver's
socket, so that its lines land in a file of the run and nowhere else.

Usage: syslogd.py SOCKET OUTFILE HOSTNAME

Each datagram is "<PRI>Mmm dd hh:mm:ss tag[pid]: text" (glibc); it is written as a
traditional syslog file line, "Mmm dd hh:mm:ss HOSTNAME tag[pid]: text", as rsyslog's
default file format does. Runs until killed.
"""

import os
import re
import socket
import sys

sock_path, out_path, host = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    os.unlink(sock_path)
except FileNotFoundError:
    pass
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)
os.chmod(sock_path, 0o666)
PRI = re.compile(rb"^<\d{1,3}>")
with open(out_path, "ab", buffering=0) as out:
    while True:
        data = PRI.sub(b"", sock.recv(65536)).rstrip(b"\n\0")
        if len(data) > 16 and data[15:16] == b" ":
            data = data[:16] + host.encode() + b" " + data[16:]
        out.write(data.replace(b"\n", b" ") + b"\n")
