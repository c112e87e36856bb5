#!/usr/bin/env python3
"""The failure tests of several nodes on one PostgreSQL (#15.3), end to end.

    tests/cluster/cluster_test.py [BUILD_DIR]      (make check-cluster)

Starts a whole cluster with scripts/cluster.sh in a temporary folder on its
own ports (so it runs beside `make run` and `make run-cluster`), then:

  kill      SIGKILL one node while clients fetch through HAProxy, retrying on
            503 and connection errors as the public client does: every call
            completes, every answer received is in the disclosure log exactly
            once (its X-Dupla-Udlevering sequence number holds its request
            id), `dupla audit verify` passes, the restarted node rejoins
            (HAProxy marks it up, it answers).
  kill-sequencer  the same for node1, the disclosure log's sequencer (the
            others relay their entries to it): they had relayed entries
            before, append themselves while it is down, and relay to it
            again once it is back.
  failover  stop the PostgreSQL primary under load, promote the standby: every
            node answers again within 10 s, no answer a client received is
            missing from the log, the chain verifies.
  mail      three nodes race on the mail queue: every message (by Message-ID)
            reaches the SMTP sink exactly once.
  revoke    a certificate and a system revoked through node A's
            configuration (the CLI on the shared store): node B refuses the
            next token within 1 s (the measured delay is printed);
  revoke-agreement  the same for an agreement and node B's next data call.

Python's standard library only. Tests named in EXPECTED_FAILURES wait for
the shared state of #15.1 (the disclosure log's shared sequence and chain,
registries pushed to every node); the script prints them as XFAIL (and a
test that passes although listed as XPASS, to be taken off the list).
A failure of any other test fails the run. DUPLA_CLUSTER_STRICT=1 makes an
expected failure fail the run too.
"""
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Tests that cannot pass until #15.1 (the "cluster" work) is on main: the
# disclosure log's sequence and chain shared by every node (until then a
# second node's append collides: 500), and registries pushed to every node.
# The log's shared head (#15.1) is on main since 3901bb4; what is left:
EXPECTED_FAILURES = {
    # empty: the last one, "failover" (a call answered 500 instead of 503
    # during the promotion), passed 8 runs in a row on 2026-12-03 since the
    # log head is read in one snapshot
}

RESULTS = []  # (name, ok, detail)


def log(msg):
    print(msg, flush=True)


class Cluster:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.dupla = os.path.join(self.build, "dupla")
        self.dir = tempfile.mkdtemp(prefix="dupla-cluster-test-")
        os.chmod(self.dir, 0o755)
        self.base = 10000 + random.randrange(0, 8000, 10)
        self.proc = None
        self.extra = {}  # node name -> Popen of a node restarted by a test
        self.smtp = None

    def start(self, env):
        self.log_path = os.path.join(self.dir, "cluster.out")
        out = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "scripts", "cluster.sh"), "run", "--dir", self.dir,
             "--base-port", str(self.base), "--build", self.build],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        path = os.path.join(self.dir, "connect.json")
        deadline = time.time() + 240
        while not os.path.exists(path):
            if self.proc.poll() is not None or time.time() > deadline:
                sys.stdout.write(open(self.log_path).read())
                raise SystemExit("cluster: scripts/cluster.sh did not come up")
            time.sleep(0.2)
        self.connect = json.load(open(path))
        demo = os.path.join(self.dir, "demo")
        self.pki = os.path.join(demo, "pki")
        self.ca = os.path.join(self.pki, "ca.pem")
        self.nodes = {n["name"]: n for n in self.connect["nodes"]}

    def stop(self):
        for p in self.extra.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        if os.environ.get("DUPLA_CLUSTER_KEEP"):
            log("cluster: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree("/tmp/dupla-cluster-" + hashlib.sha256(self.dir.encode()).hexdigest()[:10],
                          ignore_errors=True)

    def cli(self, *args, check=True):
        r = subprocess.run([self.dupla] + list(args), capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError("dupla %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                           (r.stderr or r.stdout).strip()[-400:]))
        return r

    def config(self, node):
        return self.nodes[node]["config_file"]

    def script(self, *args):
        subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh")] + list(args), check=True)

    def psql(self, sql):
        r = subprocess.run(["psql", self.connect["postgresql"]["url"], "-qAt", "-F", "\t", "-c", sql],
                           capture_output=True, text=True, check=True)
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def haproxy(self, command):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(os.path.join(self.dir, "haproxy.sock"))
        s.sendall(command.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return data.decode()

    def haproxy_status(self, backend, server):
        for line in self.haproxy("show stat").splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == backend and f[1] == server:
                return f[17]
        return "?"


def hostport(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port


class Client:
    """One keep-alive HTTPS connection; reconnects after an error."""

    def __init__(self, base_url, ctx):
        self.host, self.port = hostport(base_url)
        self.ctx = ctx
        self.conn = None

    def request(self, method, path, headers=None, body=None, timeout=10):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                    timeout=timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            r = self.conn.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        except Exception:
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Calls:
    """The demo system's data calls, each with its own X-Request-ID."""

    def __init__(self, cl):
        self.cl = cl
        c = cl.connect
        self.ctx = ssl.create_default_context(cafile=cl.ca)
        self.agreement = c["agreement_id"]
        self.cprs = c["PersonCPRNummer"]
        self.token = None

    def client_ctx(self, name="demo-system"):
        ctx = ssl.create_default_context(cafile=self.cl.ca)
        ctx.load_cert_chain(os.path.join(self.cl.pki, name + ".pem"),
                            os.path.join(self.cl.pki, name + ".key"))
        return ctx

    def get_token(self, token_url, name="demo-system"):
        """(status, access token or the answer) from TOKEN_URL, a new TLS connection."""
        c = Client(token_url, self.client_ctx(name))
        try:
            status, _, body = c.request(
                "POST", urllib.parse.urlsplit(token_url).path,
                {"Content-Type": "application/x-www-form-urlencoded",
                 "x-transaktion-id": str(uuid.uuid4())},
                "client_id=api-gateway&scope=openid&grant_type=password", timeout=5)
        finally:
            c.close()
        if status == 200:
            return status, json.loads(body)["access_token"]
        return status, body.decode(errors="replace")[:200]

    def refresh_token(self):
        status, tok = self.get_token(self.cl.connect["token_url"])
        if status != 200:
            raise AssertionError("token through HAProxy: %d %s" % (status, tok))
        self.token = tok

    def path(self):
        cpr = random.choice(self.cprs)
        return "/Aarsopgoerelse?PersonCPRNummer=%s&Indkomst%%C3%%85r=2024" % cpr

    def headers(self, rid):
        return {"Authorization": "Bearer " + self.token, "X-Request-ID": rid,
                "X-Transaktions-ID": "cluster-test",
                "UFST-Adgangsgrundlag": "urn:ufst:adgangsgrundlag:aftale:" + self.agreement}

    def once(self, client):
        """One call, no retry: (status, seq or None, request id)."""
        status, seq, rid, _ = self.once_body(client)
        return status, seq, rid

    def once_body(self, client):
        rid = str(uuid.uuid4())
        status, h, body = client.request("GET", self.path(), self.headers(rid))
        seq = h.get("x-dupla-udlevering")
        return status, int(seq) if seq else None, rid, body

    def with_retries(self, client, budget_s, stats):
        """One call retried (same request id) on 503, on 429 after its
        Retry-After, and on connection errors, as the public client does:
        (status, seq, request id). A fast machine reaches the cluster's one
        rate budget (200 calls/s) with these few threads; the rate limit is
        not what these tests measure."""
        rid = str(uuid.uuid4())
        path = self.path()
        deadline = time.time() + budget_s
        while True:
            try:
                status, h, body = client.request("GET", path, self.headers(rid))
                if status == 429:
                    stats["retries_429"] += 1
                    wait = h.get("retry-after") or "1"
                    time.sleep(min(1.0, float(wait)) if wait.isdigit() else 1.0)
                    if time.time() > deadline:
                        return None, None, rid
                    continue
                if status != 503:
                    seq = h.get("x-dupla-udlevering")
                    if status != 200:
                        stats["bodies"].append("%d %s" % (status, body[:200]))
                    return status, int(seq) if seq else None, rid
                stats["retries_503"] += 1
            except (OSError, http.client.HTTPException):
                stats["retries_conn"] += 1
            if time.time() > deadline:
                return None, None, rid
            time.sleep(0.1)


class Load:
    """THREADS clients calling through base_url with retries until stopped."""

    def __init__(self, calls, base_url, threads, budget_s=25):
        self.calls, self.base_url, self.budget = calls, base_url, budget_s
        self.stop_ev = threading.Event()
        self.received = []  # (seq, request id)
        self.failed = []  # (status, request id)
        self.stats = {"retries_503": 0, "retries_429": 0, "retries_conn": 0, "bodies": []}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        c = Client(self.base_url, self.calls.ctx)
        while not self.stop_ev.is_set():
            status, seq, rid = self.calls.with_retries(c, self.budget, self.stats)
            with self.lock:
                if status == 200 and seq is not None:
                    self.received.append((seq, rid))
                else:
                    self.failed.append((status, rid))
        c.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(self.budget + 15)


def check_log(cl, received, what):
    """Every answer received is in the log exactly once, under its request id."""
    rows = cl.psql("SELECT seq, request_id FROM audit_entry")
    by_seq = {}
    for seq, rid in rows:
        by_seq.setdefault(int(seq), []).append(rid)
    seqs = [s for s, _ in received]
    problems = []
    if len(set(seqs)) != len(seqs):
        problems.append("%d answers share a sequence number" % (len(seqs) - len(set(seqs))))
    missing = [(s, r) for s, r in received if by_seq.get(s) != [r]]
    if missing:
        problems.append("%d of %d answers not in the log exactly once under their request id "
                        "(first: seq %d)" % (len(missing), len(received), missing[0][0]))
    r = cl.cli("audit", "verify", "--config", cl.config("node1"), check=False)
    if r.returncode != 0:
        problems.append("dupla audit verify: %s" % (r.stdout + r.stderr).strip()[-300:])
    log("  %s: %d answers received, %d log entries, audit verify exit %d" %
        (what, len(received), len(rows), r.returncode))
    return problems


def wait_ready_file(path, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def restart_node(cl, node, problems):
    """Starts node again (after a SIGKILL); its Popen."""
    info = cl.nodes[node]
    ready = os.path.join(cl.dir, node, "ready.json")
    if os.path.exists(ready):
        os.unlink(ready)
    out = open(os.path.join(cl.dir, node, "server.log"), "a")
    p = subprocess.Popen([cl.dupla, "serve", "--config", info["config_file"], "--ready-file", ready,
                          "--drain-seconds", "5"], stdout=out, stderr=subprocess.STDOUT)
    cl.extra[node] = p
    if not wait_ready_file(ready, p, 60):
        out.flush()
        tail = open(os.path.join(cl.dir, node, "server.log")).read().splitlines()[-5:]
        problems.append("%s did not start again (exit %s): %s" % (node, p.poll(), " | ".join(tail)))
    return p


def node_metric(cl, calls, node, name):
    """The sum of a metric's samples on node's /metrics (its token
    listener, on loopback), or None when unreachable."""
    try:
        c = Client(cl.nodes[node]["token_url"].rsplit("/token", 1)[0], calls.ctx)
        st, _, body = c.request("GET", "/metrics")
        c.close()
    except OSError:
        return None
    if st != 200:
        return None
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def relayed(cl, calls):
    """Entries node2 and node3 handed to the sequencer (node1) so far."""
    return sum(node_metric(cl, calls, n, "dupla_audit_relayed_total") or 0 for n in ("node2", "node3"))


def test_kill(cl, calls, node="node2"):
    problems = []
    calls.refresh_token()
    info = cl.nodes[node]
    sequencer = node == "node1"
    with Load(calls, cl.connect["base_url"], threads=4) as load:
        time.sleep(3)
        if sequencer:
            before = relayed(cl, calls)
            log("  node2 and node3 relayed %d entries to the sequencer so far" % before)
            if not before:
                problems.append("no entry was relayed to the sequencer (node1) before the kill")
        os.kill(info["pid"], signal.SIGKILL)
        t_kill = time.time()
        log("  SIGKILL %s (pid %d) under load" % (node, info["pid"]))
        time.sleep(3)
        p = restart_node(cl, node, problems)
        up = None
        deadline = time.time() + 20
        while time.time() < deadline:
            if cl.haproxy_status("api_nodes", node) == "UP":
                up = time.time() - t_kill
                break
            time.sleep(0.2)
        if up is None:
            problems.append("HAProxy does not mark %s up again (status %s)" %
                            (node, cl.haproxy_status("api_nodes", node)))
        else:
            log("  %s restarted (pid %d); HAProxy marks it UP %.1f s after the kill" % (node, p.pid, up))
        time.sleep(3)
        if sequencer:
            # the others appended themselves meanwhile, and relay again
            # once the restarted sequencer answers (they try every second)
            lost = sum(node_metric(cl, calls, n, "dupla_audit_relay_lost_total") or 0
                       for n in ("node2", "node3"))
            mid = relayed(cl, calls)
            time.sleep(2)
            after = relayed(cl, calls)
            log("  entries refused (503) in flight at the kill: %d; relayed since: %d" %
                (lost, after - before))
            if after <= mid:
                problems.append("node2 and node3 do not relay to the restarted sequencer "
                                "(relayed %d, then %d)" % (mid, after))
    log("  clients: %d answers, %d calls that never completed, retries: %d on 503, %d on 429, "
        "%d on connection errors" % (len(load.received), len(load.failed), load.stats["retries_503"],
                                     load.stats["retries_429"], load.stats["retries_conn"]))
    if load.failed:
        problems.append("%d calls did not complete (e.g. status %s: %s)" %
                        (len(load.failed), load.failed[0][0], (load.stats["bodies"] or ["-"])[0]))
    if not load.received:
        problems.append("no answer received at all")
    # the restarted node answers directly
    try:
        st, _, _ = calls.once(Client(info["base_url"], calls.ctx))
        if st != 200:
            problems.append("%s answers %d after its restart" % (node, st))
    except OSError as e:
        problems.append("%s unreachable after its restart: %s" % (node, e))
    problems += check_log(cl, load.received, "after the kill")
    return problems


def test_failover(cl, calls):
    problems = []
    calls.refresh_token()
    with Load(calls, cl.connect["base_url"], threads=3, budget_s=30) as load:
        time.sleep(2)
        cl.script("stop-primary", cl.dir)
        t_stop = time.time()
        log("  PostgreSQL primary stopped under load")
        time.sleep(1)
        cl.script("promote", cl.dir)
        t_prom = time.time()
        log("  standby promoted %.1f s after the stop" % (t_prom - t_stop))
        back = {}
        clients = {n: Client(i["base_url"], calls.ctx) for n, i in cl.nodes.items()}
        deadline = t_prom + 20
        while len(back) < len(clients) and time.time() < deadline:
            for n, c in clients.items():
                if n in back:
                    continue
                try:
                    st, seq, rid = calls.once(c)
                    if st == 200 and seq is not None:
                        back[n] = time.time() - t_prom
                        with load.lock:
                            load.received.append((seq, rid))
                except (OSError, http.client.HTTPException):
                    pass
            time.sleep(0.1)
        for n in sorted(clients):
            clients[n].close()
            if n in back:
                log("  %s answers again %.2f s after the promotion" % (n, back[n]))
            else:
                problems.append("%s does not answer within 20 s of the promotion" % n)
        slow = [n for n, t in back.items() if t > 10]
        if slow:
            problems.append("nodes back later than 10 s: %s" % ", ".join(sorted(slow)))
        time.sleep(2)
    log("  clients: %d answers, %d calls that never completed, retries: %d on 503, %d on 429, "
        "%d on connection errors" % (len(load.received), len(load.failed), load.stats["retries_503"],
                                     load.stats["retries_429"], load.stats["retries_conn"]))
    if load.failed:
        problems.append("%d calls did not complete (e.g. status %s: %s)" %
                        (len(load.failed), load.failed[0][0], (load.stats["bodies"] or ["-"])[0]))
    problems += check_log(cl, load.received, "after the failover")
    return problems


class SmtpSink:
    """A minimal SMTP server: stores each message's Message-ID."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.ids = []
        self.lock = threading.Lock()
        # hold: the next message's end of DATA is not answered; the session
        # waits instead, with its Message-ID and the sender's port in held
        self.hold = False
        self.held = None  # (Message-ID, the sender's port)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn, addr), daemon=True).start()

    def session(self, conn, addr):
        f = conn.makefile("rb")
        send = lambda s: conn.sendall(s.encode() + b"\r\n")
        try:
            send("220 sink ESMTP")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").strip().upper()
                if cmd.startswith("EHLO"):
                    send("250-sink\r\n250 8BITMIME")
                elif cmd.startswith("DATA"):
                    send("354 go on")
                    msg_id = None
                    while True:
                        ln = f.readline()
                        if not ln or ln in (b".\r\n", b".\n"):
                            break
                        if msg_id is None and ln.lower().startswith(b"message-id:"):
                            msg_id = ln.split(b":", 1)[1].strip().decode(errors="replace")
                    with self.lock:
                        hold = self.hold
                        if hold:
                            self.hold = False
                            self.held = (msg_id or "(none)", addr[1])
                        else:
                            self.ids.append(msg_id or "(none)")
                    if hold:  # never answered: wait until the sender is gone
                        while conn.recv(1024):
                            pass
                        return
                    send("250 queued")
                elif cmd.startswith("QUIT"):
                    send("221 bye")
                    return
                elif cmd.startswith("RSET") or cmd.startswith("NOOP") or cmd.startswith("HELO") or \
                        cmd.startswith("MAIL") or cmd.startswith("RCPT"):
                    send("250 ok")
                else:
                    send("502 not here")
        except OSError:
            pass
        finally:
            conn.close()


def test_mail(cl, calls):
    problems = []
    sink = cl.smtp
    ag = calls.agreement
    before = len(sink.ids)
    # each step mails the organisation's contact: 2 x 4 messages queued at
    # once, for the three nodes' senders to race on
    for i in range(4):
        cl.cli("agreement", "suspend", "--config", cl.config("node1"), ag, "--reason", "cluster test %d" % i)
        cl.cli("agreement", "reactivate", "--config", cl.config("node1"), ag, "--reason", "cluster test %d" % i)
    # until the queue is empty (and a little longer, for a late duplicate)
    deadline = time.time() + 60
    while time.time() < deadline:
        left = cl.psql("SELECT count(*) FROM mail_message WHERE state = 'pending'")
        if left and left[0][0] == "0":
            break
        time.sleep(0.5)
    time.sleep(3)
    with sink.lock:
        ids = list(sink.ids)
    dup = sorted({i for i in ids if ids.count(i) > 1})
    log("  SMTP sink: %d messages (%d during this test), %d distinct Message-IDs" %
        (len(ids), len(ids) - before, len(set(ids))))
    if len(ids) - before < 8:
        problems.append("only %d of the 8 messages arrived" % (len(ids) - before))
    if dup:
        problems.append("%d messages sent more than once (e.g. %s)" % (len(dup), dup[0]))
    return problems


def pid_of_port(port):
    """The pid of the local process whose TCP socket has source port PORT."""
    r = subprocess.run(["ss", "-tnpH", "sport = :%d" % port], capture_output=True, text=True)
    m = re.search(r"pid=(\d+)", r.stdout)
    return int(m.group(1)) if m else None


def node_of_pid(cl, pid):
    """The node whose dupla serve is pid (by its --config), or None."""
    try:
        args = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")
    except OSError:
        return None
    for name, info in cl.nodes.items():
        if info["config_file"].encode() in args:
            return name
    return None


def test_mail_kill(cl, calls):
    """A node killed while it sends a message: another node sends it once
    its lease has run out (2 x timeout_seconds + 60 s), and only once."""
    problems = []
    sink = cl.smtp
    ag = calls.agreement
    with sink.lock:
        sink.hold, sink.held = True, None
    cl.cli("agreement", "suspend", "--config", cl.config("node1"), ag, "--reason", "cluster test: kill")
    deadline = time.time() + 30
    while time.time() < deadline and sink.held is None:
        time.sleep(0.05)
    cl.cli("agreement", "reactivate", "--config", cl.config("node1"), ag, "--reason", "cluster test: kill")
    if sink.held is None:
        with sink.lock:
            sink.hold = False
        return ["no node began to send the message within 30 s"]
    msg_id, port = sink.held
    pid = pid_of_port(port)
    node = node_of_pid(cl, pid) if pid else None
    if not node:
        return ["cannot tell which node sends the held message (port %d, pid %s)" % (port, pid)]
    os.kill(pid, signal.SIGKILL)
    t_kill = time.time()
    log("  %s (pid %d) killed while it sent %s" % (node, pid, msg_id))
    lease = 2 * 5 + 60
    sent = None
    while time.time() < t_kill + lease + 30:
        with sink.lock:
            if msg_id in sink.ids:
                sent = time.time() - t_kill
                break
        time.sleep(0.2)
    restart_node(cl, node, problems)
    time.sleep(3)
    with sink.lock:
        n = sink.ids.count(msg_id)
    if sent is None:
        problems.append("the message was not sent by another node within %d s of the kill" % (lease + 30))
    else:
        log("  another node sent it %.1f s after the kill (the lease: %d s); delivered %d time(s)"
            % (sent, lease, n))
    if n > 1:
        problems.append("the message was delivered %d times" % n)
    bare = msg_id.strip("<>").replace("'", "")
    state = cl.psql("SELECT state FROM mail_message WHERE message_id IN ('%s', '<%s>')" % (bare, bare))
    if not state:
        problems.append("no message %s in mail_message" % msg_id)
    if state and state[0][0] != "sent":
        problems.append("the message's state is %s, not sent" % state[0][0])
    return problems


def cert_sha256(path):
    """The SHA-256 of the first certificate in PATH (the system's own)."""
    pem = open(path).read()
    end = "-----END CERTIFICATE-----"
    first = pem[pem.index("-----BEGIN CERTIFICATE-----"):pem.index(end) + len(end)]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def poll_refused(fn, timeout=5.0):
    """Seconds until fn() says refused (True), polling; None if never."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if fn():
                return time.time() - t0
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.02)
    return None


def agreement_refused(answer):
    status, _, _, body = answer
    return status == 403 and b"agreement-revoked" in body


def measure_revocation(problems, what, action, refused, limit=1.0):
    action()
    d = poll_refused(refused)
    if d is None:
        problems.append("%s: node B still serves 5 s later" % what)
        log("  %s through node A: node B still serves after 5 s" % what)
    else:
        log("  %s through node A (node1): node B (node3) refuses after %.3f s" % (what, d))
        if d > limit:
            problems.append("%s: node B refused only after %.3f s (bound %.1f s)" % (what, d, limit))


def test_revoke(cl, calls):
    problems = []
    cvr = cl.connect["organisation_cvr"]
    a, b = cl.nodes["node1"], cl.nodes["node3"]  # node2 was killed and restarted
    for name in ("cl-cert", "cl-sys"):
        cl.cli("pki", "issue-system", "--dir", cl.pki, "--cvr", cvr, "--name", name)
        cl.cli("system", "register", "--config", a["config_file"], "--org", cvr, "--name", name,
               "--cert", os.path.join(cl.pki, name + ".pem"))
    # both new systems get tokens from node B (registration reached it)
    for name in ("cl-cert", "cl-sys"):
        ok = poll_refused(lambda: calls.get_token(b["token_url"], name)[0] == 200, timeout=10)
        if ok is None:
            problems.append("node B never issues a token to the new system %s" % name)
    if problems:
        return problems

    measure_revocation(problems, "certificate revoked",
            lambda: cl.cli("system", "revoke-cert", "--config", a["config_file"],
                           cert_sha256(os.path.join(cl.pki, "cl-cert.pem"))),
            lambda: calls.get_token(b["token_url"], "cl-cert")[0] in (400, 401, 403))
    measure_revocation(problems, "system revoked",
            lambda: cl.cli("system", "revoke", "--config", a["config_file"], cvr + "/cl-sys"),
            lambda: calls.get_token(b["token_url"], "cl-sys")[0] in (400, 401, 403))
    return problems


def test_revoke_agreement(cl, calls):
    problems = []
    a, b = cl.nodes["node1"], cl.nodes["node3"]
    calls.refresh_token()
    client = Client(b["base_url"], calls.ctx)
    # (until #15.1 a node's first append after another node's may collide
    # on the log's sequence and answer 500 once: a precondition, so retried)
    for _ in range(5):
        st, _, _ = calls.once(client)
        if st == 200:
            break
    if st != 200:
        problems.append("node B answers %d before the agreement is revoked" % st)
        return problems
    measure_revocation(problems, "agreement revoked",
            lambda: cl.cli("agreement", "revoke", "--config", a["config_file"], calls.agreement,
                           "--reason", "cluster test"),
            lambda: agreement_refused(calls.once_body(client)))
    client.close()
    return problems


TESTS = [("kill", test_kill),
         ("kill-sequencer", lambda cl, calls: test_kill(cl, calls, "node1")),
         ("failover", test_failover), ("mail", test_mail),
         ("mail-kill", test_mail_kill), ("revoke", test_revoke),
         ("revoke-agreement", test_revoke_agreement)]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    only = os.environ.get("DUPLA_CLUSTER_TESTS", "").split(",") if os.environ.get("DUPLA_CLUSTER_TESTS") else None
    if not shutil.which("haproxy") and not os.path.exists("/usr/sbin/haproxy"):
        log("cluster tests: haproxy is missing (make deps installs it)")
        return 1
    t0 = time.time()
    cl = Cluster(build)
    cl.smtp = SmtpSink()
    env = dict(os.environ, DUPLA_CLUSTER_SMTP_URL="smtp://127.0.0.1:%d" % cl.smtp.port)
    log("cluster tests: starting a cluster in %s (base port %d)" % (cl.dir, cl.base))
    status = 0
    try:
        cl.start(env)
        log("cluster tests: up after %.0f s" % (time.time() - t0))
        calls = Calls(cl)
        for name, fn in TESTS:
            if only and name not in only:
                continue
            log("== %s" % name)
            t = time.time()
            try:
                problems = fn(cl, calls)
            except Exception as e:  # a test that breaks is a failure, never skipped
                problems = ["%s: %s" % (type(e).__name__, e)]
            ok = not problems
            for p in problems:
                log("  problem: %s" % p)
            RESULTS.append((name, ok, time.time() - t))
    finally:
        cl.stop()
    log("")
    log("cluster tests, %.0f s in all:" % (time.time() - t0))
    strict = os.environ.get("DUPLA_CLUSTER_STRICT") == "1"
    if EXPECTED_FAILURES:
        log("expected failures (until the named work is on main): " +
            ", ".join("%s (%s)" % kv for kv in sorted(EXPECTED_FAILURES.items())))
    for name, ok, secs in RESULTS:
        xf = name in EXPECTED_FAILURES
        if ok and not xf:
            word = "PASS"
        elif ok:
            word = "XPASS (take it off EXPECTED_FAILURES in %s)" % os.path.relpath(__file__, ROOT)
            status = 1 if strict else status
        elif xf:
            word = "XFAIL (expected until %s)" % EXPECTED_FAILURES[name]
            status = 1 if strict else status
        else:
            word = "FAIL"
            status = 1
        log("  %-16s %s (%.0f s)" % (name, word, secs))
    return status


if __name__ == "__main__":
    sys.exit(main())
