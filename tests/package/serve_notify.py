#!/usr/bin/env python3
"""serve_notify.py: `dupla serve` as systemd sees it, without systemd.

A unix datagram socket stands in for the service manager ($NOTIFY_SOCKET,
$WATCHDOG_USEC): the real binary must say READY=1 once listening, send
WATCHDOG=1 keepalives, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1
on SIGTERM, and exit 0. And a listener whose certificate is missing stops
it before it listens, with a message naming the file and the key.

    serve_notify.py DUPLA_BIN
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import json

BIN = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def states(sock, until, timeout):
    """Datagrams received until one equals `until` (returned in the list),
    or the timeout."""
    got = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(msg)
        if msg == until:
            break
    return got


with tempfile.TemporaryDirectory(prefix="dupla-notify-") as tmp:
    subprocess.run([BIN, "pki", "init", "--dir", tmp + "/pki"], check=True,
                   stdout=subprocess.DEVNULL)
    listener = {"name": "api", "address": "127.0.0.1", "port": 0,
                "cert": "pki/server.pem", "key": "pki/server.key"}
    with open(tmp + "/dupla.json", "w") as f:
        json.dump({"environment": "test", "store": "sqlite:dupla.db",
                   "listeners": [listener]}, f)

    # The refusal of a missing certificate: at once, naming it.
    listener_missing = dict(listener, cert="tls/server.pem")
    with open(tmp + "/missing.json", "w") as f:
        json.dump({"environment": "production", "store": "sqlite:missing.db",
                   "listeners": [listener_missing]}, f)
    p = subprocess.run([BIN, "serve", "--config", tmp + "/missing.json"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 1, "a missing server certificate: exit 1 (got %d)" % p.returncode)
    check("tls/server.pem cannot be read" in p.stderr and "listeners[0].cert" in p.stderr,
          "the message names the file and the key: " + p.stderr.strip()[-200:])

    sock_path = tmp + "/notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    log = open(tmp + "/serve.log", "w")
    srv = subprocess.Popen([BIN, "serve", "--config", tmp + "/dupla.json",
                            "--ready-file", tmp + "/ready.json"], env=env,
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        got = states(sock, "READY=1", 90)
        check(got and got[-1] == "READY=1", "READY=1 once listening (got %s)" % got)
        check(os.path.exists(tmp + "/ready.json"), "the ready file was written before READY=1")
        got = states(sock, "WATCHDOG=1", 3)
        check(got and got[-1] == "WATCHDOG=1", "WATCHDOG=1 within 3 s at WatchdogSec=1s (got %s)"
              % got)
        srv.send_signal(signal.SIGHUP)
        got = [s for s in states(sock, "READY=1", 30) if s != "WATCHDOG=1"]
        check(got == ["RELOADING=1", "READY=1"], "SIGHUP: RELOADING=1, READY=1 (got %s)" % got)
        srv.send_signal(signal.SIGTERM)
        got = [s for s in states(sock, "STOPPING=1", 30) if s != "WATCHDOG=1"]
        check(got == ["STOPPING=1"], "SIGTERM: STOPPING=1 (got %s)" % got)
        check(srv.wait(timeout=60) == 0, "exit 0 after SIGTERM")
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
        log.close()
        if failures:
            print(open(tmp + "/serve.log").read()[-3000:])

sys.exit(1 if failures else 0)
