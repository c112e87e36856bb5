// authorisations.mjs: supplier systems and a company's authorisations in a
// real browser (see lib.mjs; axe on every page). The demo administrator
// registers a system supplier's certificate as one of its systems (first
// with a certificate that is not the supplier's, refused at the field), the
// supplier's certificate then gets a token for the demo organisation, and
// the registration is revoked after the second step. Then the administrator
// grants an accountant's organisation an authorisation for one SE number
// (first without services, refused at the field), sees it in the list and
// the history, the accountant's system gets a token acting for that SE
// number, and the authorisation is revoked after the second step.
import fs from 'node:fs';
import path from 'node:path';
import { Run, call, expect, login } from './lib.mjs';

const DEMO_CVR = '12345674';
const SUPPLIER_CVR = '50000001';
const ACCOUNTANT_CVR = '20000007';
const SE = '11223344';

async function story(run) {
  const { dir } = run;
  const check = (page, name) => run.check(page, name);
  const config = path.join(dir, 'dupla.json');
  const pki = path.join(dir, 'pki');
  run.dupla(['pki', 'issue-system', '--dir', pki, '--cvr', SUPPLIER_CVR, '--name', 'leverandoer']);
  run.dupla(['pki', 'issue-system', '--dir', pki, '--cvr', ACCOUNTANT_CVR, '--name', 'revisor']);
  run.dupla(['org', 'create', '--config', config, '--name', 'Revisorhuset', '--cvr', ACCOUNTANT_CVR,
    '--admin', 'admin@revisor.dk', '--contact-email', 'post@revisor.dk']);
  run.dupla(['system', 'register', '--config', config, '--org', ACCOUNTANT_CVR, '--name', 'revisor',
    '--cert', path.join(pki, 'revisor.pem')]);
  const token = (name, form) => call(`https://localhost:${run.listeners.token}/token`, {
    ca: run.ca,
    tls: { pfx: fs.readFileSync(path.join(pki, `${name}.p12`)),
      passphrase: fs.readFileSync(path.join(pki, `${name}.p12.pass`), 'utf8').trim() },
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded',
      'x-transaktion-id': '0b1c6a4e-1111-4222-8333-944455556666' },
    body: `client_id=api-gateway&scope=openid&grant_type=password${form}`,
  });
  const admin = run.user('administrator');
  const adm = await run.newUser();
  await login(adm, admin.username, admin.password);

  // A supplier's system: the wrong certificate first, then the supplier's.
  await adm.goto('/systemer');
  await adm.getByLabel('Navn på leverandørens system').fill('lønsystem');
  await adm.getByLabel('Leverandørens CVR-nummer').fill(SUPPLIER_CVR);
  await adm.getByLabel('Leverandørens navn').fill('Lønleverandøren A/S');
  await adm.getByLabel('Leverandørens certifikat som fil (PEM eller DER)')
    .setInputFiles(path.join(pki, 'demo-system.pem'));
  await adm.getByRole('button', { name: 'Registrér leverandørens system' }).click();
  await adm.locator('.alert-error').waitFor();
  await check(adm, 'leverandoer-fejl');
  expect((await adm.locator('#supplier_certificate_file-error').textContent())
    .includes(`men leverandørens CVR-nummer er ${SUPPLIER_CVR}`),
  "a certificate that is not the supplier's is refused at its field");
  expect(await adm.getByLabel('Navn på leverandørens system').inputValue() === 'lønsystem',
    'what was typed is kept');
  await adm.getByLabel('Leverandørens certifikat som fil (PEM eller DER)')
    .setInputFiles(path.join(pki, 'leverandoer.pem'));
  await adm.getByRole('button', { name: 'Registrér leverandørens system' }).click();
  await adm.waitForURL(/ok=leverandoer$/);
  await check(adm, 'leverandoer-registreret');
  expect((await adm.locator('main').textContent()).includes(`Lønleverandøren A/S (CVR-nummer ${SUPPLIER_CVR})`),
    'the system names its supplier');
  let tok = await token('leverandoer', `&org_cvr=${DEMO_CVR}`);
  expect(tok.status === 200, `the supplier's certificate gets a token for the organisation (${tok.status})`);
  await adm.getByRole('link', { name: 'Spær registreringen af lønsystem permanent' }).click();
  await adm.waitForURL(/\/systemer\/spaer\?system=/);
  await check(adm, 'spaer-leverandoer');
  expect((await adm.locator('main').textContent()).includes('Leverandørens andre kunder berøres ikke'),
    'the second step says what the revocation concerns');
  await adm.getByRole('button', { name: 'Ja, spær systemet' }).click();
  await adm.waitForURL(/ok=spaerret$/);
  tok = await token('leverandoer', `&org_cvr=${DEMO_CVR}`);
  expect(tok.status !== 200, `after the revocation the supplier gets no token for it (${tok.status})`);

  // An authorisation: without services first, then granted, listed, revoked.
  await adm.getByRole('link', { name: 'Fuldmagter' }).first().click();
  await adm.waitForURL(/\/fuldmagter$/);
  await check(adm, 'fuldmagter');
  await adm.getByLabel('Virksomhedens SE-nummer').fill(SE);
  await adm.getByLabel('Tredjepartens CVR-nummer').fill(ACCOUNTANT_CVR);
  await adm.getByLabel('Sidste dag').fill('2099-12-31');
  await adm.getByRole('button', { name: 'Giv fuldmagt' }).click();
  await adm.locator('.alert-error').waitFor();
  await check(adm, 'fuldmagt-fejl');
  expect((await adm.locator('#services-error').textContent()).includes('Vælg mindst én tjeneste'),
    'an authorisation without services is refused at the services');
  await adm.getByLabel(/\(Momsangivelse\)/).check();
  await adm.getByRole('button', { name: 'Giv fuldmagt' }).click();
  await adm.waitForURL(/ok=givet$/);
  await check(adm, 'fuldmagt-givet');
  const row = adm.locator('tr', { hasText: ACCOUNTANT_CVR }).first();
  const rowText = await row.textContent();
  expect(rowText.includes(SE) && rowText.includes('2099-12-31') && rowText.includes('Gyldig'),
    'the authorisation is listed, valid, with its SE number and last day');
  expect((await adm.locator('table', { hasText: 'historik' }).textContent()).includes('Givet'),
    'the history has the grant');
  tok = await token('revisor', `&onbehalfofse=${SE}`);
  expect(tok.status === 200, `the accountant's system gets a token acting for the company (${tok.status})`);
  await row.getByRole('link', { name: /Tilbagekald/ }).click();
  await adm.waitForURL(/\/fuldmagter\/tilbagekald\?authorisation=/);
  await check(adm, 'tilbagekald-fuldmagt');
  await adm.getByRole('button', { name: 'Ja, tilbagekald fuldmagten' }).click();
  await adm.waitForURL(/ok=tilbagekaldt$/);
  await check(adm, 'fuldmagt-tilbagekaldt');
  expect((await adm.locator('tr', { hasText: ACCOUNTANT_CVR }).first().textContent()).includes('Tilbagekaldt'),
    'the authorisation shows as revoked');
  tok = await token('revisor', `&onbehalfofse=${SE}`);
  expect(tok.status !== 200, `after the revocation no token acts for the company (${tok.status})`);
}

await new Run('authorisations', process.argv[2]).play(story);
