// story.mjs: the web self-service's whole story played in a real browser
// (see lib.mjs for the server, the browser and the checks on every page):
// the data owner onboards an organisation; its administrator chooses a
// password with the one-time secret, adds a processor and a signatory and
// grants their roles, and registers the system's certificate; the processor
// drafts an agreement and is refused when signing it (four eyes); the
// signatory signs; the data owner approves with one field removed; the
// system fetches data over the API (token over mutual TLS) and does not get
// the removed field; the data owner opens the printable document and
// suspends the agreement; the administrator sees the disclosure on its page
// and downloads it as CSV.
import fs from 'node:fs';
import path from 'node:path';
import { Run, expect, fetchData, login, logout, setup } from './lib.mjs';

const ORG_CVR = '20000007';

async function story(run) {
  const { dir } = run;
  run.dupla(['pki', 'issue-system', '--dir', path.join(dir, 'pki'), '--cvr', ORG_CVR,
    '--name', 'testby-system']);
  const owner = run.user('dataforvaltning');
  const check = (page, name) => run.check(page, name);
  const newUser = () => run.newUser();
  // The data owner onboards an organisation.
  const own = await newUser();
  await own.goto('/');
  expect(new URL(own.url()).pathname === '/login', 'a page needing login redirects to /login');
  await check(own, 'login');
  await login(own, owner.username, owner.password);
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
  const adm = await newUser();
  await adm.goto('/opsaetning');
  await check(adm, 'opsaetning');
  await setup(adm, 'admin@testby.dk', adminSecret);
  await check(adm, 'login-opsat');
  await login(adm, 'admin@testby.dk');
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
  const proc = await newUser();
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
  const sig = await newUser();
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
  const granted = await own.locator('h3:has-text("Data der er bevilget") + .agreement-services').textContent();
  const removedField = removed.split('/')[1];
  expect(!granted.includes(removedField) && granted.includes(picked[0].split('/')[1]),
    `the approval grants the fields asked for but ${removedField}`);

  // The system fetches data and does not get the removed field.
  const [service, keptField] = picked[0].split('/');
  const agreementId = new URL(agreementUrl).searchParams.get('id');
  const data = await fetchData({
    ca: run.ca,
    tls: {
      cert: fs.readFileSync(path.join(dir, 'pki/testby-system.pem')),
      key: fs.readFileSync(path.join(dir, 'pki/testby-system.key')),
    },
    listeners: run.listeners,
  }, agreementId, service, `PersonCPRNummer=${run.connect.PersonCPRNummer[0]}`);
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
}

await new Run('story', process.argv[2]).play(story);
