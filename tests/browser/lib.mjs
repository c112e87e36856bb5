// lib.mjs: what the browser tests share. Each test script starts its own
// `dupla serve` (DUPLA_BIN) on free ports over a fresh `dupla demo
// --setup-only` folder, drives Debian's chromium with playwright-core, runs
// axe-core (WCAG 2.1 A and AA) on every page it checks and saves a
// screenshot of it. Any CSP violation, script error, axe violation or
// sanitizer report in the server's log fails the run; without chromium or the
// npm packages the script exits 77 (skipped).
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const { chromium } = await import('playwright-core').catch(() => ({}));

const here = path.dirname(fileURLToPath(import.meta.url));
export const DUPLA = process.env.DUPLA_BIN || path.join(here, '../../build/dupla');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const AXE_FILE = path.join(here, 'node_modules/axe-core/axe.min.js');
export const PASSWORD = 'en lang og god adgangskode';
const STEP_TIMEOUT_MS = 20000;

// Meson's code for a skipped test: without the browser or the npm packages
// (scripts/install-deps.sh installs both) there is nothing to run.
if (!chromium || !fs.existsSync(CHROMIUM) || !fs.existsSync(AXE_FILE)) {
  console.log(`skipped: needs ${CHROMIUM} and npm ci in ${here} (scripts/install-deps.sh)`);
  process.exit(77);
}
const AXE = fs.readFileSync(AXE_FILE, 'utf8');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(file, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ready file ${file} after ${ms} ms`);
}

// One HTTPS request with a system's certificate (tls: {cert, key} or
// {pfx, passphrase}); resolves {status, headers, body}.
export function call(url, { ca, tls, method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca, ...tls }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// The system fetches data over the API as a client would: a token over
// mutual TLS, then a GET under the agreement. query: e.g. "PersonCPRNummer=...".
export async function fetchData({ ca, tls, listeners }, agreementId, service, query) {
  const tx = crypto.randomUUID();
  const tok = await call(`https://localhost:${listeners.token}/token`, {
    ca,
    tls,
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'x-transaktion-id': tx },
    body: 'client_id=api-gateway&scope=openid&grant_type=password',
  });
  if (tok.status !== 200) throw new Error(`token: ${tok.status} ${tok.body}`);
  const token = JSON.parse(tok.body).access_token;
  return call(`https://localhost:${listeners.api}/${service}?${query}`, {
    ca,
    tls,
    headers: {
      Authorization: `Bearer ${token}`,
      'X-Request-ID': crypto.randomUUID(),
      'X-Transaktions-ID': tx,
      'UFST-Adgangsgrundlag': `urn:ufst:adgangsgrundlag:aftale:${agreementId}`,
    },
  });
}

// One browser test run: its server, browser, screenshots and failures.
export class Run {
  constructor(name, artifacts) {
    this.name = name;
    this.artifacts = artifacts || path.join(here, 'artifacts', name);
    this.failures = [];
    this.csp = [];
    this.shot = 0;
  }

  // Sets up a demo folder (demo organisation, users in users.json, approved
  // agreement, synthetic data) and starts `dupla serve` and chromium.
  // opts.config(cfg), when given, changes the server's configuration (the
  // parsed dupla.json) before it starts.
  async start(opts = {}) {
    fs.rmSync(this.artifacts, { recursive: true, force: true }); // this run's pages only
    fs.mkdirSync(this.artifacts, { recursive: true });
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `dupla-browser-${this.name}-`));
    const apiPort = await freePort();
    const tokenPort = await freePort();
    this.dupla(['demo', '--dir', this.dir, '--setup-only', '--api-port', String(apiPort),
      '--token-port', String(tokenPort)]);
    this.users = JSON.parse(fs.readFileSync(path.join(this.dir, 'users.json'), 'utf8')).users;
    this.connect = JSON.parse(fs.readFileSync(path.join(this.dir, 'connect.json'), 'utf8'));
    this.ca = fs.readFileSync(path.join(this.dir, 'pki/ca.pem'));
    if (opts.config) {
      const file = path.join(this.dir, 'dupla.json');
      const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
      opts.config(cfg);
      fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
    }
    const ready = path.join(this.dir, 'ready.json');
    const log = fs.openSync(path.join(this.dir, 'server.log'), 'w');
    this.server = spawn(DUPLA, ['serve', '--config', path.join(this.dir, 'dupla.json'),
      '--ready-file', ready], { stdio: ['ignore', log, log] });
    this.listeners = (await waitFor(ready, 30000)).listeners;
    this.base = `https://localhost:${this.listeners.api}`;
    this.browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    return this;
  }

  // Runs the dupla binary (stdout returned as text).
  dupla(args) {
    return execFileSync(DUPLA, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  }

  // The demo user holding role (a role's id, e.g. "dataforvaltning").
  user(role) {
    return this.users.find((u) => u.roles.includes(role));
  }

  // A new browser context (one user) with Danish locale and a page in it.
  // options: more of playwright's context options (e.g. a viewport).
  async newUser(options = {}) {
    const ctx = await this.browser.newContext({ ignoreHTTPSErrors: true, baseURL: this.base,
      locale: 'da-DK', ...options });
    ctx.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) this.csp.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.failures.push(`script error on ${page.url()}: ${e.message}`));
    return page;
  }

  // Screenshot and axe on the page as it stands.
  async check(page, name) {
    const t0 = Date.now();
    this.shot += 1;
    const file = path.join(this.artifacts, `${String(this.shot).padStart(2, '0')}-${name}.png`);
    // a long page (an agreement over the whole catalogue lists some 400
    // fields) takes a while to capture on a busy machine
    await page.screenshot({ path: file, fullPage: true, timeout: 90000 });
    await page.evaluate(AXE);
    const result = await page.evaluate(() =>
      // eslint-disable-next-line no-undef
      axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
    for (const v of result.violations) {
      this.failures.push(`axe on ${name} (${page.url()}): ${v.id}: ${v.help} ` +
        v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | '));
    }
    console.log(`ok page ${name}: ${result.violations.length} axe violations (${Date.now() - t0} ms)`);
  }

  // Runs story(run), stops everything, reports and exits (0, or 1 on any
  // failure). opts: as for start().
  async play(story, opts = {}) {
    let ok = false;
    try {
      await this.start(opts);
      await story(this);
      ok = true;
    } catch (e) {
      this.failures.push(`story stopped: ${e.stack || e}`);
    } finally {
      if (this.browser) await this.browser.close();
      if (this.server) {
        const exited = new Promise((r) => this.server.once('exit', (code) => r(code)));
        this.server.kill('SIGTERM');
        const code = await exited;
        if (code !== 0) this.failures.push(`dupla serve exited with ${code}`);
        const serverLog = fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8');
        if (/ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|WARNING: ThreadSanitizer|runtime error:/.test(serverLog)) {
          this.failures.push(`sanitizer report in ${path.join(this.dir, 'server.log')}`);
        }
      }
    }
    for (const v of this.csp) this.failures.push(`CSP violation: ${v}`);
    if (this.failures.length || !ok) {
      for (const f of this.failures) console.error(`FAIL ${f}`);
      console.error(`server folder kept: ${this.dir}`);
      process.exit(1);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    console.log(`browser ${this.name}: passed (${this.shot} pages, screenshots in ${this.artifacts})`);
    process.exit(0);
  }
}

export function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
  console.log(`ok ${what}`);
}

export async function login(page, username, password = PASSWORD) {
  await page.goto('/login');
  await page.getByLabel('Brugernavn').fill(username);
  await page.getByLabel('Adgangskode', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log ind' }).click();
  await page.waitForURL((u) => u.pathname === '/');
}

export async function setup(page, username, secret) {
  await page.goto('/opsaetning');
  await page.getByLabel('Brugernavn').fill(username);
  await page.getByLabel('Engangskode').fill(secret);
  await page.getByLabel('Ny adgangskode').fill(PASSWORD);
  await page.getByLabel('Gentag adgangskoden').fill(PASSWORD);
  await page.getByRole('button', { name: 'Gem adgangskode' }).click();
  await page.waitForURL(/\/login\?opsat=1/);
}

export async function logout(page) {
  await page.getByRole('button', { name: 'Log af' }).click();
  await page.waitForURL(/\/login\?logget_ud=1/);
}
