#!/usr/bin/env python3
"""The TLS face of both listeners, as an outsider scans it (#18.4).

    tests/tls/check_tls.py [BUILD_DIR]      (make check-tls)

Sets up a demo platform (`dupla demo --setup-only`) in a temporary folder on
free ports, serves it, and runs testssl.sh (Debian's package `testssl.sh`)
against the data and pages listener ("api") and the token listener (which
requests client certificates), both at once. Then checks what #18.4 asks:

  protocols     nothing below TLS 1.2 (SSLv2, SSLv3, TLS 1.0, TLS 1.1 not
                offered); TLS 1.2 and 1.3 offered
  ciphers       no NULL, anonymous, export, low, 3DES/IDEA or obsolete CBC
                ciphers; forward secrecy offered, and every cipher offered
                has it; the server chooses the cipher (its own order)
  renegotiation secure renegotiation (RFC 5746) supported, client-initiated
                renegotiation refused (testssl's verdict, and a check of our
                own: `openssl s_client` asks to renegotiate and the server
                closes instead of answering another request)
  compression   none (CRIME)
  HSTS          on the pages' listener, at least 180 days

It prints one summary line per listener (the README's table is made from
them) and exits non-zero naming every check that failed. Python's standard
library only; exits 77 (skipped) when testssl or openssl is missing.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# protocols, standard cipher lists, forward secrecy, server preference,
# headers, renegotiation, compression: the checks above, without testssl's
# slow client simulations and per-cipher enumeration
TESTSSL_CHECKS = ["-p", "-s", "-f", "-P", "-h", "-R", "-C"]
TESTSSL_TIMEOUT = 900
HSTS_MIN = 180 * 24 * 3600


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("dupla serve exited (%d) before it listened" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("dupla serve did not listen on %d within %d s" % (port, seconds))


def testssl(port, out_json, log):
    cmd = ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--connect-timeout", "10",
           "--openssl-timeout", "10", *TESTSSL_CHECKS, "--jsonfile", out_json,
           "127.0.0.1:%d" % port]
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=TESTSSL_TIMEOUT)
    # testssl's exit status counts findings; the JSON is what we judge
    if not os.path.exists(out_json):
        raise SystemExit("testssl wrote no result for port %d (status %d, see %s)"
                         % (port, r.returncode, log))
    with open(out_json) as f:
        return {item["id"]: item for item in json.load(f)}


def renegotiation_refused(port):
    """Asks for a TLS 1.2 renegotiation, then sends a request: a server that
    refuses closes the connection, so no HTTP answer comes back."""
    script = "R\n"
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-tls1_2",
                          "-quiet", "-no_ign_eof"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.5)
        p.stdin.write(script.encode())
        p.stdin.flush()
        time.sleep(1.5)
        p.stdin.write(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        p.stdin.flush()
    except BrokenPipeError:
        pass
    try:
        out, _ = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    text = out.decode(errors="replace")
    return "RENEGOTIATING" in text and "HTTP/1.1 200" not in text, text


def judge(name, r, pages):
    """The failed checks for one listener's testssl result r."""
    failed = []

    def finding(key):
        return r.get(key, {}).get("finding", "(not reported)")

    def severity(key):
        return r.get(key, {}).get("severity", "")

    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        if not finding(proto).startswith("not offered"):
            failed.append("%s: %s is offered (%s)" % (name, proto, finding(proto)))
    for proto in ("TLS1_2", "TLS1_3"):
        if not finding(proto).startswith("offered"):
            failed.append("%s: %s is not offered (%s)" % (name, proto, finding(proto)))
    for c in ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
              "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"):
        if finding(c) != "not offered":
            failed.append("%s: %s: %s" % (name, c, finding(c)))
    if finding("PFS") != "offered" or severity("PFS") != "OK":
        failed.append("%s: forward secrecy: %s" % (name, finding("PFS")))
    if severity("cipher_order") not in ("OK", "INFO") or "NOT" in finding("cipher_order"):
        failed.append("%s: the server does not choose the cipher (%s)"
                      % (name, finding("cipher_order")))
    if severity("secure_renego") != "OK":
        failed.append("%s: secure renegotiation: %s" % (name, finding("secure_renego")))
    if severity("CRIME_TLS") != "OK":
        failed.append("%s: TLS compression: %s" % (name, finding("CRIME_TLS")))
    if pages:
        hsts = r.get("HSTS_time", {})
        secs = 0
        text = hsts.get("finding", "")
        if "=" in text:
            try:
                secs = int(text.split("=")[1].split()[0])
            except ValueError:
                secs = 0
        if secs < HSTS_MIN:
            failed.append("%s: HSTS: %s" % (name, text or "(no header)"))
    return failed


def summary(name, r, own_reneg):
    protos = [p.replace("_", ".").replace("TLS1.", "TLS 1.") for p in ("TLS1_2", "TLS1_3")
              if r.get(p, {}).get("finding", "").startswith("offered")]
    ciphers = r.get("PFS_ciphers", {}).get("finding", "").split()
    return ("%s: %s; %d ciphers, all with forward secrecy and AEAD (%s); server cipher order: %s; "
            "client renegotiation: %s (own check: %s); compression: none; HSTS: %s"
            % (name, " and ".join(protos), len(ciphers), " ".join(ciphers),
               r.get("cipher_order", {}).get("severity", "?"),
               r.get("secure_client_renego", {}).get("finding", "?"),
               "refused" if own_reneg else "ACCEPTED",
               r.get("HSTS_time", {}).get("finding", "none")))


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
    dupla = os.path.join(build, "dupla")
    for tool in ("testssl", "openssl"):
        if not shutil.which(tool):
            print("check_tls: %s is not installed (scripts/install-deps.sh installs it); "
                  "skipped" % tool)
            return 77
    work = tempfile.mkdtemp(prefix="dupla-tls-")
    demo = os.path.join(work, "demo")
    api, token = free_port(), free_port()
    subprocess.run([dupla, "demo", "--dir", demo, "--api-port", str(api), "--token-port",
                    str(token), "--setup-only"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([dupla, "serve", "--config", os.path.join(demo, "dupla.json")],
                              stdout=log, stderr=subprocess.STDOUT)
    failed = []
    keep = False
    try:
        wait_listening(api, server)
        wait_listening(token, server)
        started = time.time()
        with ThreadPoolExecutor(2) as pool:
            jobs = {name: pool.submit(testssl, port, os.path.join(work, name + ".json"),
                                      os.path.join(work, name + ".txt"))
                    for name, port in (("api", api), ("token", token))}
            results = {name: job.result() for name, job in jobs.items()}
        print("check_tls: testssl ran %.0f s on both listeners" % (time.time() - started))
        for name, port in (("api", api), ("token", token)):
            r = results[name]
            failed += judge(name, r, pages=name == "api")
            refused, text = renegotiation_refused(port)
            if not refused:
                failed.append("%s: a client-initiated renegotiation was answered:\n%s"
                              % (name, text[-2000:]))
            print("check_tls: " + summary(name, r, refused))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if failed:
            keep = True
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("check_tls: FAILED (testssl's output and JSON are in %s):" % work)
        for f in failed:
            print("  - " + f)
        return 1
    print("check_tls: OK, both listeners")
    return 0


if __name__ == "__main__":
    sys.exit(main())
