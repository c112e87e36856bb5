#!/usr/bin/env python3
"""The monitoring files in contrib/ against the real server.

  contrib_check.py promtool SOURCE_ROOT
      `promtool check rules` and `promtool test rules` on
      contrib/prometheus/dupla-alerts.yml (exit 77, skipped, when promtool
      is missing: Debian's package "prometheus").

  contrib_check.py live DUPLA_BIN SOURCE_ROOT
      Sets up the demo (`dupla demo --setup-only`) in a fresh folder, serves
      it, makes requests that move every metric family (a token, a data
      answer, refusals), scrapes GET /metrics and checks:
        - the figures the requests must have moved;
        - contrib/grafana/dupla.json is a dashboard (panels with targets,
          ids unique, grid positions, the data source an input);
        - every dupla_* name in the dashboard's and the alert rules' PromQL
          is a metric the server exports (its # TYPE lines; a histogram's
          _bucket/_sum/_count included).
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

SKIP = 77


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def promtool(root):
    tool = shutil.which("promtool")
    if not tool:
        print("SKIP: promtool is missing (Debian: apt-get install prometheus, "
              "or `make deps`); the alert rules were not checked")
        return SKIP
    rules = os.path.join(root, "contrib", "prometheus", "dupla-alerts.yml")
    subprocess.run([tool, "check", "rules", rules], check=True)
    subprocess.run([tool, "test", "rules", "dupla-alerts.test.yml"], check=True,
                   cwd=os.path.join(root, "tests", "contrib"))
    return 0


# ---- the live server ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    def __init__(self, dupla, workdir):
        self.dupla = dupla
        self.dir = workdir
        self.api, self.token = free_port(), free_port()
        out = open(os.path.join(workdir, "demo.log"), "w")
        subprocess.run([dupla, "demo", "--dir", workdir, "--api-port", str(self.api),
                        "--token-port", str(self.token), "--setup-only"],
                       stdout=out, stderr=out, check=True, timeout=300)
        with open(os.path.join(workdir, "connect.json")) as f:
            self.connect = json.load(f)
        self.log = open(os.path.join(workdir, "serve.log"), "w")
        ready = os.path.join(workdir, "ready.json")
        self.proc = subprocess.Popen([dupla, "serve", "--config",
                                      os.path.join(workdir, "dupla.json"),
                                      "--ready-file", ready],
                                     stdout=self.log, stderr=self.log)
        for _ in range(600):
            if os.path.exists(ready) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(ready):
            self.stop()
            fail("the server did not start; see " + self.log.name)
        pki = os.path.join(workdir, "pki")
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
        self.mtls = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
        self.mtls.load_cert_chain(os.path.join(pki, "demo-system.pem"),
                                  os.path.join(pki, "demo-system.key"))

    def request(self, port, path, data=None, headers=None, mtls=False):
        req = urllib.request.Request("https://localhost:%d%s" % (port, path), data=data,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=self.mtls if mtls else self.ctx,
                                        timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def parse_metrics(text):
    """{name: type} from the # TYPE lines, and {series text: value}."""
    types, values = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return types, values


def exported_names(types):
    names = set()
    for name, kind in types.items():
        names.add(name)
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def value(values, series):
    if series not in values:
        fail("the scrape has no series %s" % series)
    return values[series]


def exercise(d):
    """Requests that move the metric families; returns nothing, fails loudly."""
    c = d.connect
    # a token over mutual TLS
    form = b"client_id=api-gateway&scope=openid&grant_type=password"
    st, body = d.request(d.token, "/token", data=form, mtls=True,
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "x-transaktion-id": str(uuid.uuid4())})
    if st != 200:
        fail("token: %d %s" % (st, body[:300]))
    tok = json.loads(body)["access_token"]
    # a token refused: no client certificate
    st, _ = d.request(d.token, "/token", data=form,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    if st != 401:
        fail("token without a certificate: %d" % st)
    # a data answer (its disclosure record goes through the log's writer)
    cpr = c["PersonCPRNummer"][0]
    hdr = {"Authorization": "Bearer " + tok, "X-Request-ID": str(uuid.uuid4()),
           "X-Transaktions-ID": str(uuid.uuid4()),
           "UFST-Adgangsgrundlag": "urn:ufst:adgangsgrundlag:aftale:" + c["agreement_id"]}
    path = "/Aarsopgoerelse?" + urllib.parse.urlencode({"PersonCPRNummer": cpr})
    st, body = d.request(d.api, path, headers=hdr)
    if st != 200:
        fail("data: %d %s" % (st, body[:300]))
    # refusals: a data request without a token, a path that does not exist
    st, _ = d.request(d.api, path)
    if st != 401:
        fail("data without a token: %d" % st)
    st, _ = d.request(d.api, "/no/such/thing")
    if st != 404:
        fail("unknown path: %d" % st)


def check_figures(types, values):
    want_types = {
        "dupla_http_refusals_total": "counter",
        "dupla_token_issued_total": "counter",
        "dupla_token_refused_total": "counter",
        "dupla_audit_append_seconds": "histogram",
        "dupla_audit_queue_depth": "gauge",
        "dupla_audit_entries_total": "counter",
        "dupla_audit_busy_total": "counter",
        "dupla_audit_commit_failures_total": "counter",
        "dupla_audit_batch_entries": "histogram",
        "dupla_audit_lingers_total": "counter",
        "dupla_audit_latecomers_total": "counter",
        "dupla_audit_relayed_total": "counter",
        "dupla_audit_relay_lost_total": "counter",
        "dupla_audit_sequenced_total": "counter",
        "dupla_audit_relay_refused_total": "counter",
        "dupla_audit_relay_up": "gauge",
        "dupla_store_pool_acquire_seconds": "histogram",
        "dupla_store_pool_waits_total": "counter",
        "dupla_store_pool_timeouts_total": "counter",
        "dupla_mail_outbox_messages": "gauge",
        "dupla_mail_outbox_oldest_pending_age_seconds": "gauge",
        "dupla_mail_sent_total": "counter",
        "dupla_mail_retries_total": "counter",
        "dupla_mail_failed_total": "counter",
    }
    for name, kind in want_types.items():
        if types.get(name) != kind:
            fail("%s: type %s, want %s" % (name, types.get(name), kind))
    if value(values, "dupla_token_issued_total") != 1:
        fail("dupla_token_issued_total is not 1")
    if value(values, 'dupla_token_refused_total{reason="certificate-missing"}') != 1:
        fail("the refused token is not counted")
    if value(values, 'dupla_http_refusals_total{route="unmatched",reason="not-found"}') < 1:
        fail("the 404 is not counted as a refusal")
    refused_data = [s for s in values if s.startswith(
        'dupla_http_refusals_total{route="Aarsopgoerelse",')]
    if not refused_data:
        fail("the data request without a token is not counted per service")
    if value(values, "dupla_audit_append_seconds_count") < 1:
        fail("no disclosure record went through the log's writer")
    if value(values, "dupla_audit_entries_total") < 1:
        fail("dupla_audit_entries_total did not move")
    if value(values, "dupla_audit_batch_entries_sum") != value(values, "dupla_audit_entries_total"):
        fail("dupla_audit_batch_entries does not add up to the entries committed")
    if value(values, "dupla_audit_batch_entries_count") < 1:
        fail("no committed batch was counted")
    if value(values, "dupla_audit_queue_depth") != 0:
        fail("the log's queue is not empty at rest")
    backend = "postgresql" if os.environ.get("DUPLA_TEST_STORE_PG") else "sqlite"
    if value(values, 'dupla_store_pool_acquire_seconds_count{backend="%s"}' % backend) < 1:
        fail("no store connection counted for %s" % backend)
    # the sender's run at start counted the outbox (no relay in the demo)
    for state in ("pending", "sending", "failed"):
        value(values, 'dupla_mail_outbox_messages{state="%s"}' % state)


def check_dashboard(root, exported):
    path = os.path.join(root, "contrib", "grafana", "dupla.json")
    with open(path) as f:
        dash = json.load(f)
    for key in ("title", "uid", "panels", "schemaVersion", "__inputs"):
        if key not in dash:
            fail("dashboard: no %s" % key)
    if not any(i.get("name") == "DS_PROMETHEUS" and i.get("pluginId") == "prometheus"
               for i in dash["__inputs"]):
        fail("dashboard: the Prometheus data source is not an input (import asks for it)")
    ids, exprs = set(), []
    for p in dash["panels"]:
        for key in ("id", "type", "title", "gridPos"):
            if key not in p:
                fail("dashboard panel %s: no %s" % (p.get("title"), key))
        if p["id"] in ids:
            fail("dashboard: panel id %s twice" % p["id"])
        ids.add(p["id"])
        g = p["gridPos"]
        if not (0 <= g["x"] < 24 and 0 < g["w"] <= 24 - g["x"] and g["h"] > 0):
            fail("dashboard panel %s: bad gridPos %s" % (p["title"], g))
        if p["type"] == "row":
            continue
        if not p.get("targets"):
            fail("dashboard panel %s: no targets" % p["title"])
        for t in p["targets"]:
            if not t.get("expr") or not t.get("refId"):
                fail("dashboard panel %s: a target without expr or refId" % p["title"])
            exprs.append(("dashboard panel " + p["title"], t["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("query"):
            exprs.append(("dashboard variable " + v["name"], v["query"]))
    if len(exprs) < 10:
        fail("dashboard: only %d queries" % len(exprs))
    return exprs


def rule_exprs(root):
    """The expr of every rule (the file's own simple YAML: 'expr:' then a
    value on the line or an indented block after '|')."""
    path = os.path.join(root, "contrib", "prometheus", "dupla-alerts.yml")
    out, lines = [], open(path).read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        if m.group(2).strip() != "|":
            out.append(("alert rule line %d" % (i + 1), m.group(2)))
            continue
        block, ind = [], len(m.group(1))
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= ind:
                break
            block.append(nxt.strip())
        out.append(("alert rule line %d" % (i + 1), " ".join(block)))
    if len(out) < 5:
        fail("alert rules: only %d expressions found" % len(out))
    return out


def live(dupla, root):
    work = tempfile.mkdtemp(prefix="dupla-contrib-")
    d = Demo(dupla, work)
    try:
        exercise(d)
        time.sleep(1.5)  # the ticker's first run (mail backlog, expiry) is done
        st, body = d.request(d.api, "/metrics")
        if st != 200:
            fail("/metrics: %d" % st)
    finally:
        d.stop()
    text = body.decode()
    types, values = parse_metrics(text)
    check_figures(types, values)
    exported = exported_names(types)
    bad = []
    for where, expr in check_dashboard(root, exported) + rule_exprs(root):
        for name in set(re.findall(r"\bdupla_[a-zA-Z0-9_]+", expr)):
            if name not in exported:
                bad.append("%s: %s is not exported" % (where, name))
    if bad:
        fail("names the server does not export:\n  " + "\n  ".join(sorted(set(bad))))
    shutil.rmtree(work, ignore_errors=True)
    print("ok: %d metric families scraped; the dashboard and the rules name only those"
          % len(types))
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "promtool":
        return promtool(argv[2])
    if len(argv) == 4 and argv[1] == "live":
        return live(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
