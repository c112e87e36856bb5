// story.mjs: the web self-service played in a real browser (Debian's
// chromium driven by playwright-core), with axe-core (WCAG 2.1 A and AA) on
// every page and a screenshot of every page in artifacts/.
//
// Starts its own `dupla serve` (DUPLA_BIN) on free ports over a fresh
// `dupla demo --setup-only` folder, then plays: the data owner onboards an
// organisation; its administrator chooses a password with the one-time
// secret, adds a processor and a signatory and grants their roles, and
// registers the system's certificate; the processor drafts an agreement and
// is refused when signing it (four eyes); the signatory signs; the data
// owner approves with one field removed; the system fetches data over the
// API (token over mutual TLS) and does not get the removed field; the data
// owner opens the printable document and suspends the agreement; the
// administrator sees the disclosure on its page and downloads it as CSV.
// Any CSP violation, script error, axe violation (WCAG 2.1 A/AA) or
// sanitizer report in the server's log fails the run. Exits 0 when all
// passed, 77 (skipped) without chromium or the npm packages.
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
const DUPLA = process.env.DUPLA_BIN || path.join(here, '../../build/dupla');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.argv[2] || process.env.DUPLA_BROWSER_ARTIFACTS || path.join(here, 'artifacts');
const AXE_FILE = path.join(here, 'node_modules/axe-core/axe.min.js');
// Meson's code for a skipped test: without the browser or the npm packages
// (scripts/install-deps.sh installs both) there is nothing to run.
if (!chromium || !fs.existsSync(CHROMIUM) || !fs.existsSync(AXE_FILE)) {
  console.log(`skipped: needs ${CHROMIUM} and npm ci in ${here} (scripts/install-deps.sh)`);
  process.exit(77);
}
const AXE = fs.readFileSync(AXE_FILE, 'utf8');
const PASSWORD = 'en lang og god adgangskode';
const ORG_CVR = '20000007';
const STEP_TIMEOUT_MS = 20000;

function freePort() {
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

// One HTTPS request with the system's certificate; resolves {status, body}.
function call(url, { dir, method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method,
      headers,
      ca: fs.readFileSync(path.join(dir, 'pki/ca.pem')),
      cert: fs.readFileSync(path.join(dir, 'pki/testby-system.pem')),
      key: fs.readFileSync(path.join(dir, 'pki/testby-system.key')),
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// The system fetches data over the API as a client would: a token over
// mutual TLS, then a GET under the agreement.
async function fetchData(dir, listeners, agreementId, service, cpr) {
  const tx = crypto.randomUUID();
  const tok = await call(`https://localhost:${listeners.token}/token`, {
    dir,
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'x-transaktion-id': tx },
    body: 'client_id=api-gateway&scope=openid&grant_type=password',
  });
  if (tok.status !== 200) throw new Error(`token: ${tok.status} ${tok.body}`);
  const token = JSON.parse(tok.body).access_token;
  return call(`https://localhost:${listeners.api}/${service}?PersonCPRNummer=${cpr}`, {
    dir,
    headers: {
      Authorization: `Bearer ${token}`,
      'X-Request-ID': crypto.randomUUID(),
      'X-Transaktions-ID': tx,
      'UFST-Adgangsgrundlag': `urn:ufst:adgangsgrundlag:aftale:${agreementId}`,
    },
  });
}

const failures = [];
let shot = 0;
const cspViolations = [];

// Screenshot and axe on the page as it stands.
async function check(page, name) {
  const t0 = Date.now();
  shot += 1;
  const file = path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  for (const v of result.violations) {
    failures.push(`axe on ${name} (${page.url()}): ${v.id}: ${v.help} ` +
      v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | '));
  }
  console.log(`ok page ${name}: ${result.violations.length} axe violations (${Date.now() - t0} ms)`);
}

function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
  console.log(`ok ${what}`);
}

async function newUser(browser, base) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, baseURL: base, locale: 'da-DK' });
  ctx.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => failures.push(`script error on ${page.url()}: ${e.message}`));
  return page;
}

async function login(page, username, name, password = PASSWORD) {
  await page.goto('/login');
  if (name) await check(page, name);
  await page.getByLabel('Brugernavn').fill(username);
  await page.getByLabel('Adgangskode', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log ind' }).click();
  await page.waitForURL((u) => u.pathname === '/');
}

async function setup(page, username, secret, name) {
  await page.goto('/opsaetning');
  if (name) await check(page, name);
  await page.getByLabel('Brugernavn').fill(username);
  await page.getByLabel('Engangskode').fill(secret);
  await page.getByLabel('Ny adgangskode').fill(PASSWORD);
  await page.getByLabel('Gentag adgangskoden').fill(PASSWORD);
  await page.getByRole('button', { name: 'Gem adgangskode' }).click();
  await page.waitForURL(/\/login\?opsat=1/);
}

async function logout(page) {
  await page.getByRole('button', { name: 'Log af' }).click();
  await page.waitForURL(/\/login\?logget_ud=1/);
}

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dupla-browser-'));
  const apiPort = await freePort();
  const tokenPort = await freePort();
  execFileSync(DUPLA, ['demo', '--dir', dir, '--setup-only', '--api-port', String(apiPort),
    '--token-port', String(tokenPort)], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(DUPLA, ['pki', 'issue-system', '--dir', path.join(dir, 'pki'), '--cvr', ORG_CVR,
    '--name', 'testby-system'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const users = JSON.parse(fs.readFileSync(path.join(dir, 'users.json'), 'utf8')).users;
  const owner = users.find((u) => u.roles.includes('dataforvaltning'));
  const ready = path.join(dir, 'ready.json');
  const log = fs.openSync(path.join(dir, 'server.log'), 'w');
  const server = spawn(DUPLA, ['serve', '--config', path.join(dir, 'dupla.json'), '--ready-file', ready],
    { stdio: ['ignore', log, log] });
  let browser;
  let ok = false;
  try {
    const { listeners } = await waitFor(ready, 30000);
    const base = `https://localhost:${listeners.api}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });

    // The data owner onboards an organisation.
    const own = await newUser(browser, base);
    await own.goto('/');
    expect(new URL(own.url()).pathname === '/login', 'a page needing login redirects to /login');
    await login(own, owner.username, 'login', owner.password);
    await check(own, 'forside-dataejer');
    await own.goto('/organisationer');
    await own.getByRole('button', { name: 'Tilslut organisation' }).click();
    await check(own, 'organisationer-fejl');
    expect(await own.locator('.alert-error').count() === 1, 'an empty onboarding form shows the error summary');
    await own.getByLabel('Organisationens navn').fill('Testby Kommune');
    await own.getByLabel('CVR-nummer').fill('1234');
    await own.getByLabel('Kontaktpostkasse').fill('post@testby.dk');
    await own.getByLabel('Administratorens brugernavn (e-mailadresse)').fill('admin@testby.dk');
    await own.getByLabel('Administratorens navn').fill('Anne Admin');
    await own.getByRole('button', { name: 'Tilslut organisation' }).click();
    expect(await own.getByLabel('Organisationens navn').inputValue() === 'Testby Kommune',
      'what was typed is kept after an error');
    await own.getByLabel('CVR-nummer').fill(ORG_CVR);
    await own.getByRole('button', { name: 'Tilslut organisation' }).click();
    await own.locator('#engangskode').waitFor();
    await check(own, 'organisation-tilsluttet');
    const adminSecret = (await own.locator('#engangskode').textContent()).trim();
    await own.goto('/organisationer');
    await check(own, 'organisationer');

    // Its administrator sets a password, adds users, grants roles, registers the system.
    const adm = await newUser(browser, base);
    await setup(adm, 'admin@testby.dk', adminSecret, 'opsaetning');
    await login(adm, 'admin@testby.dk', 'login-opsat');
    const secrets = {};
    for (const who of ['behandler@testby.dk', 'underskriver@testby.dk']) {
      await adm.goto('/organisation');
      await adm.getByLabel('Brugernavn (e-mailadresse)').fill(who);
      await adm.getByLabel('Navn', { exact: true }).fill(who.split('@')[0]);
      await adm.getByRole('button', { name: 'Tilføj bruger' }).click();
      await adm.locator('#engangskode').waitFor();
      if (!secrets.first) await check(adm, 'bruger-oprettet');
      secrets.first = true;
      secrets[who] = (await adm.locator('#engangskode').textContent()).trim();
    }
    const grant = async (who, role) => {
      await adm.goto('/organisation');
      await adm.getByLabel(`Rolle for ${who}`).selectOption({ label: role });
      await adm.locator('tr', { hasText: who }).getByRole('button', { name: 'Tildel' }).click();
      await adm.waitForURL(/ok=rolle/);
    };
    await grant('behandler@testby.dk', 'Behandler');
    await grant('behandler@testby.dk', 'Underskriver');
    await grant('underskriver@testby.dk', 'Underskriver');
    await check(adm, 'brugere-og-roller');
    expect(await adm.locator('tr', { hasText: 'behandler@testby.dk' }).textContent()
      .then((t) => t.includes('Behandler, Underskriver')), 'the processor holds both roles');
    await adm.goto('/systemer');
    await adm.getByLabel('Systemets navn').fill('testby-system');
    await adm.getByLabel('Certifikat (PEM)').fill(fs.readFileSync(path.join(dir, 'pki/testby-system.pem'), 'utf8'));
    await adm.getByRole('button', { name: 'Registrér system' }).click();
    await adm.waitForURL(/ok=registreret/);
    await check(adm, 'systemer');
    expect(await adm.locator('td.fingerprint').count() === 1, 'the certificate is shown with its fingerprint');

    // The processor drafts an agreement and is refused when signing it.
    const proc = await newUser(browser, base);
    await setup(proc, 'behandler@testby.dk', secrets['behandler@testby.dk']);
    await login(proc, 'behandler@testby.dk');
    await proc.goto('/aftaler');
    await check(proc, 'aftaler-tom');
    await proc.getByRole('link', { name: 'Ny aftale' }).click();
    await check(proc, 'ny-aftale');
    await proc.getByLabel('Titel').fill('Indkomstoplysninger til boligstøtte');
    await proc.getByRole('button', { name: 'Gem kladde' }).click();
    await check(proc, 'ny-aftale-fejl');
    expect(await proc.getByLabel('Titel').inputValue() === 'Indkomstoplysninger til boligstøtte',
      'the draft form keeps what was typed');
    await proc.getByLabel('Formål').fill('Beregning af boligstøtte efter indkomst.');
    await proc.getByLabel('Hjemmel: lov').fill('Lov om individuel boligstøtte');
    await proc.getByLabel('Hjemmel: paragraf').fill('§ 50');
    await proc.getByLabel('Kontaktperson: navn').fill('Bo Behandler');
    await proc.getByLabel('Kontaktperson: e-mail').fill('behandler@testby.dk');
    await proc.getByLabel('Gyldig fra').fill(new Date().toISOString().slice(0, 10));
    await proc.getByLabel('testby-system').check();
    const boxes = proc.locator('input[name=felt]');
    const picked = [];
    for (let i = 0; i < 3; i++) {
      await boxes.nth(i).check();
      picked.push(await boxes.nth(i).getAttribute('value'));
    }
    await proc.getByRole('button', { name: 'Gem kladde' }).click();
    await proc.waitForURL(/\/aftaler\/vis\?id=.*ok=kladde/);
    const agreementUrl = proc.url().replace(/&ok=.*/, '');
    await check(proc, 'aftale-kladde');
    await proc.getByRole('button', { name: 'Underskriv og send' }).click();
    await proc.locator('.alert-error').waitFor();
    await check(proc, 'aftale-fire-oejne');
    expect((await proc.locator('.alert-error').textContent()).includes('fire øjne'),
      'the drafter is refused when signing (four eyes)');

    // The signatory signs.
    const sig = await newUser(browser, base);
    await setup(sig, 'underskriver@testby.dk', secrets['underskriver@testby.dk']);
    await login(sig, 'underskriver@testby.dk');
    await sig.goto(agreementUrl);
    await sig.getByRole('button', { name: 'Underskriv og send' }).click();
    await sig.waitForURL(/ok=underskrevet/);
    await check(sig, 'aftale-underskrevet');
    await logout(sig);
    await check(sig, 'logget-af');

    // The data owner approves with one field removed.
    await own.goto('/gennemgang');
    await check(own, 'gennemgang');
    await own.getByRole('link', { name: 'Indkomstoplysninger til boligstøtte' }).click();
    await check(own, 'afgoerelse');
    const removed = picked[2];
    await own.locator(`input[name=felt][value="${removed}"]`).uncheck();
    await own.getByLabel('Proportionalitetsvurdering').fill('Felterne er nødvendige for beregningen.');
    await own.getByLabel('Begrundelse').fill('Det tredje felt er ikke nødvendigt.');
    await own.getByRole('button', { name: 'Godkend' }).click();
    await own.waitForURL(/ok=godkendt/);
    await check(own, 'aftale-godkendt');
    const granted = await own.locator('h3:has-text("Data der er bevilget") + ul').textContent();
    const removedField = removed.split('/')[1];
    expect(!granted.includes(removedField) && granted.includes(picked[0].split('/')[1]),
      `the approval grants the fields asked for but ${removedField}`);

    // The system fetches data and does not get the removed field.
    const [service, keptField] = picked[0].split('/');
    const connect = JSON.parse(fs.readFileSync(path.join(dir, 'connect.json'), 'utf8'));
    const agreementId = new URL(agreementUrl).searchParams.get('id');
    const data = await fetchData(dir, listeners, agreementId, service, connect.PersonCPRNummer[0]);
    expect(data.status === 200, `the system fetches ${service} under the agreement (${data.status})`);
    expect(data.body.includes(`"${keptField}"`) && !data.body.includes(`"${removedField}"`),
      `the answer has ${keptField} and not the removed ${removedField}`);

    // The printable document; then the data owner suspends the agreement.
    await own.getByRole('link', { name: 'Aftaledokumentet (til udskrift)' }).click();
    await own.waitForURL(/\/aftaler\/dokument\?id=/);
    await check(own, 'aftaledokument');
    await own.goBack();
    await own.getByLabel('Begrundelse for ændringen').fill('Kontrol af brugen.');
    await own.getByRole('button', { name: 'Suspendér' }).click();
    await own.waitForURL(/ok=suspenderet/);
    await check(own, 'aftale-suspenderet');

    // The administrator's disclosures page.
    await adm.goto('/udleveringer');
    await check(adm, 'udleveringer');
    expect((await adm.locator('table').textContent()).includes(service),
      'the administrator sees the disclosure on its page');
    const csv = await adm.request.get('/udleveringer.csv');
    expect(csv.status() === 200 && csv.headers()['content-type'].startsWith('text/csv'),
      'the disclosures download as CSV');
    await adm.goto('/aftaler');
    await check(adm, 'aftaler');
    expect((await adm.locator('table').textContent()).includes('Suspenderet'), 'the list shows the state');
    ok = true;
  } catch (e) {
    failures.push(`story stopped: ${e.stack || e}`);
  } finally {
    if (browser) await browser.close();
    const exited = new Promise((r) => server.once('exit', (code) => r(code)));
    server.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) failures.push(`dupla serve exited with ${code}`);
    const serverLog = fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
    if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(serverLog)) {
      failures.push(`sanitizer report in ${path.join(dir, 'server.log')}`);
    }
  }
  for (const v of cspViolations) failures.push(`CSP violation: ${v}`);
  if (failures.length) {
    for (const f of failures) console.error(`FAIL ${f}`);
    console.error(`server folder kept: ${dir}`);
    process.exit(1);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`browser story: passed (${shot} pages, screenshots in ${ARTIFACTS})`);
  if (!ok) process.exit(1);
}

main().catch((e) => { console.error(e); process.exit(1); });
