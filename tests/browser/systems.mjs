// systems.mjs: the organisation and systems pages in a real browser (see
// lib.mjs for the server, the browser and the checks on every page): the demo
// administrator uploads a new certificate file for the demo system (roll-over)
// and sees its fingerprint and validity, is told precisely what is wrong with
// a file that is no certificate, revokes the new certificate after the second
// step (the demo system's own certificate still gets tokens), suspends a user
// (whose open session ends and who cannot log in) and re-activates it; the
// data owner suspends the demo organisation with a reason and re-activates it.
import fs from 'node:fs';
import path from 'node:path';
import { Run, call, expect, login } from './lib.mjs';

// "2. dec. 2026 kl. 18.08": how the pages write a time (Europe/Copenhagen),
// made here with the browser platform's own time zone data.
const MONTHS = ['jan.', 'feb.', 'mar.', 'apr.', 'maj', 'jun.', 'jul.', 'aug.', 'sep.', 'okt.', 'nov.', 'dec.'];
function danishTime(iso) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Copenhagen', year: 'numeric', month: 'numeric', day: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${Number(parts.day)}. ${MONTHS[Number(parts.month) - 1]} ${parts.year} kl. ${parts.hour}.${parts.minute}`;
}

const DEMO_CVR = '12345674';

async function story(run) {
  const { dir } = run;
  const check = (page, name) => run.check(page, name);
  run.dupla(['pki', 'issue-system', '--dir', path.join(dir, 'pki'), '--cvr', DEMO_CVR,
    '--name', 'demo-ny']);
  const newCert = JSON.parse(run.dupla(['pki', 'show', '--json', path.join(dir, 'pki/demo-ny.pem')]));
  const garbage = path.join(dir, 'ikke-et-certifikat.pem');
  fs.writeFileSync(garbage, 'Dette er en indkøbsliste, ikke et certifikat.\n');
  const admin = run.user('administrator');
  const processor = run.user('aftager-behandler');
  const owner = run.user('dataforvaltning');

  // The administrator rolls the demo system over to a new certificate file.
  const adm = await run.newUser();
  await adm.goto('/login');
  await check(adm, 'login');
  await login(adm, admin.username, admin.password);
  await check(adm, 'forside-administrator');
  await adm.goto('/systemer');
  await check(adm, 'systemer');
  expect(await adm.locator('td.fingerprint').count() >= 1, 'the demo system shows its certificate');
  await adm.getByLabel('Ny certifikatfil til demo-system').setInputFiles(garbage);
  await adm.getByRole('button', { name: 'Tilføj certifikat til demo-system' }).click();
  await adm.locator('.alert-error').waitFor();
  await check(adm, 'systemer-fejl');
  const msg = await adm.locator('.form-error-message').first().textContent();
  expect(msg.includes('X.509-certifikat'), 'a file that is no certificate is refused at the field');
  await adm.getByLabel('Ny certifikatfil til demo-system').setInputFiles(path.join(dir, 'pki/demo-ny.pem'));
  await adm.getByRole('button', { name: 'Tilføj certifikat til demo-system' }).click();
  await adm.waitForURL(/ok=certifikat$/);
  await check(adm, 'systemer-nyt-certifikat');
  const row = adm.locator('tr', { hasText: newCert.sha256 });
  const rowText = await row.textContent();
  expect(rowText.includes('CN=demo-ny') && rowText.includes('Aktivt'),
    'the new certificate is listed, active, with its subject and fingerprint');
  expect(rowText.includes(danishTime(newCert.not_before)) && rowText.includes(danishTime(newCert.not_after)),
    'its validity (from and to) is shown, in Danish time');

  // Revoke the new certificate: the second step, then the list.
  await row.getByRole('link', { name: /Spær certifikatet/ }).click();
  await adm.waitForURL(/\/systemer\/certifikat\/spaer\?sha256=/);
  await check(adm, 'spaer-certifikat');
  expect((await adm.locator('main').textContent()).includes(newCert.sha256),
    'the second step names the certificate');
  await adm.getByRole('button', { name: 'Ja, spær certifikatet' }).click();
  await adm.waitForURL(/ok=certifikat-spaerret/);
  await check(adm, 'systemer-certifikat-spaerret');
  expect((await adm.locator('tr', { hasText: newCert.sha256 }).textContent()).includes('Spærret'),
    'the revoked certificate shows as revoked');
  const tok = await call(`https://localhost:${run.listeners.token}/token`, {
    ca: run.ca,
    tls: { pfx: fs.readFileSync(path.join(dir, 'pki/demo-system.p12')), passphrase: run.connect.pkcs12_password },
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded',
      'x-transaktion-id': '0b1c6a4e-1111-4222-8333-944455556666' },
    body: 'client_id=api-gateway&scope=openid&grant_type=password',
  });
  expect(tok.status === 200, `the demo system's own certificate still gets a token (${tok.status})`);

  // Suspend a user: its open session ends and it cannot log in; then re-activate.
  const proc = await run.newUser();
  await login(proc, processor.username, processor.password);
  await adm.goto('/organisation');
  await check(adm, 'brugere');
  await adm.locator('tr', { hasText: processor.username }).getByRole('link', { name: /Suspendér/ }).click();
  await adm.waitForURL(/\/organisation\/bruger\/status\?user=/);
  await check(adm, 'suspender-bruger');
  await adm.getByRole('button', { name: 'Suspendér brugeren' }).click();
  await adm.locator('.alert-error').waitFor();
  await check(adm, 'suspender-bruger-fejl');
  await adm.getByLabel('Begrundelse').fill('Orlov i tre måneder.');
  await adm.getByRole('button', { name: 'Suspendér brugeren' }).click();
  await adm.waitForURL(/ok=suspenderet/);
  await check(adm, 'bruger-suspenderet');
  expect((await adm.locator('tr', { hasText: processor.username }).textContent()).includes('Suspenderet'),
    'the user shows as suspended');
  await proc.goto('/aftaler');
  expect(new URL(proc.url()).pathname === '/login', "the suspended user's session has ended");
  await check(proc, 'login-efter-suspendering');
  await proc.getByLabel('Brugernavn').fill(processor.username);
  await proc.getByLabel('Adgangskode', { exact: true }).fill(processor.password);
  await proc.getByRole('button', { name: 'Log ind' }).click();
  await proc.locator('.alert-error').waitFor();
  await check(proc, 'login-suspenderet');
  expect(new URL(proc.url()).pathname === '/login', 'the suspended user cannot log in');
  await adm.locator('tr', { hasText: processor.username }).getByRole('button', { name: /Genaktivér/ }).click();
  await adm.waitForURL(/ok=genaktiveret/);
  await check(adm, 'bruger-genaktiveret');
  await login(proc, processor.username, processor.password);
  await check(proc, 'forside-genaktiveret');
  expect(new URL(proc.url()).pathname === '/', 'the re-activated user logs in');

  // The data owner suspends the demo organisation with a reason, then re-activates it.
  const own = await run.newUser();
  await login(own, owner.username, owner.password);
  await check(own, 'forside-dataejer');
  await own.goto('/organisationer');
  await check(own, 'organisationer');
  await own.locator('tr', { hasText: DEMO_CVR }).getByRole('link', { name: /Suspendér/ }).click();
  await own.waitForURL(/\/organisationer\/status\?org=/);
  await check(own, 'suspender-organisation');
  await own.getByLabel('Begrundelse').fill('Kontrol af aftalernes overholdelse.');
  await own.getByRole('button', { name: 'Suspendér organisationen' }).click();
  await own.waitForURL(/ok=suspenderet/);
  await check(own, 'organisation-suspenderet');
  expect((await own.locator('tr', { hasText: DEMO_CVR }).textContent()).includes('Suspenderet'),
    'the organisation shows as suspended');
  await adm.goto('/systemer');
  expect(new URL(adm.url()).pathname === '/login', "the suspended organisation's administrator is logged out");
  await check(adm, 'login-organisation-suspenderet');
  await own.locator('tr', { hasText: DEMO_CVR }).getByRole('button', { name: /Genaktivér/ }).click();
  await own.waitForURL(/ok=genaktiveret/);
  await check(own, 'organisation-genaktiveret');
  await login(adm, admin.username, admin.password);
  await check(adm, 'forside-efter-genaktivering');
  expect(new URL(adm.url()).pathname === '/', 'after re-activation its administrator logs in again');
}

await new Run('systems', process.argv[2]).play(story);
