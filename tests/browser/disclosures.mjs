// disclosures.mjs: the disclosure pages in a real browser. The demo system
// fetches data about two persons; the data owner's staff searches by the
// first CPR number, sees only that row, downloads the search as CSV, makes
// the citizen-insight report (and its print layout), and types an invalid
// CPR number (error summary, the value kept); the demo organisation's
// administrator sees its own disclosures, filtered, and is refused another
// organisation's. Screenshots and axe on every page visited.
import fs from 'node:fs';

import { Run, expect, fetchData, login, logout } from './lib.mjs';

async function check(run, page, name) {
  await run.check(page, name);
}

async function rows(page) {
  return page.locator('table tbody tr').count();
}

async function story(run) {
  const [cpr, other] = run.connect.PersonCPRNummer;
  const agreementId = run.connect.agreement_id;
  const client = {
    ca: run.ca,
    tls: { pfx: fs.readFileSync(run.connect.pkcs12_file), passphrase: run.connect.pkcs12_password },
    listeners: run.listeners,
  };
  for (const p of [cpr, other]) {
    const data = await fetchData(client, agreementId, 'Aarsopgoerelse', `PersonCPRNummer=${p}`);
    expect(data.status === 200, `the demo system fetches Aarsopgoerelse (${data.status})`);
  }

  // The data owner's search by CPR number.
  const dfv = await run.newUser();
  const owner = run.user('dataforvaltning');
  await login(dfv, owner.username, owner.password);
  await dfv.getByRole('navigation', { name: 'Hovedmenu' }).getByRole('link', { name: 'Udleveringer', exact: true }).click();
  await dfv.waitForURL((u) => u.pathname === '/udleveringer');
  await check(run, dfv, 'soeg-alle');
  expect(await rows(dfv) === 2, 'the data owner sees both disclosures');
  await dfv.getByLabel('Type af nummer').selectOption('cpr');
  await dfv.getByLabel('CPR-, CVR- eller SE-nummer').fill(cpr);
  await dfv.getByRole('button', { name: 'Søg' }).click();
  await dfv.waitForURL(/subjekt=/);
  await check(run, dfv, 'soeg-cpr');
  const table = await dfv.locator('table').textContent();
  expect(await rows(dfv) === 1 && table.includes(cpr) && !table.includes(other),
    'the search by CPR number finds its row and only it');
  expect(table.includes(agreementId) && table.includes('Udleveret'), 'the row names the agreement');

  // The CSV of the same search.
  const href = await dfv.getByRole('link', { name: 'Hent hele søgeresultatet som CSV' })
    .getAttribute('href');
  const csv = await dfv.request.get(href);
  const text = await csv.text();
  const lines = text.trim().split('\r\n');
  expect(csv.status() === 200 && csv.headers()['content-type'].startsWith('text/csv'),
    'the search downloads as CSV');
  expect(lines.length === 2 && lines[1].includes(cpr) && !text.includes(other)
    && lines[1].includes(agreementId), 'the CSV holds the same one row');
  expect(lines[0].startsWith('Løbenummer,Tidspunkt (dansk tid),'), 'the CSV names its columns in Danish');

  // An invalid CPR number: the summary at the top, the message at the field, the value kept.
  await dfv.getByLabel('CPR-, CVR- eller SE-nummer').fill('12345');
  await dfv.getByLabel('Fra og med dato').fill('31-02-2026');
  await dfv.getByRole('button', { name: 'Søg' }).click();
  await dfv.waitForURL(/subjekt=12345/);
  await check(run, dfv, 'soeg-fejl');
  const summary = await dfv.locator('.alert-error').textContent();
  expect(summary.includes('CPR-nummeret skal være 10 cifre')
    && summary.includes('Fra-datoen findes ikke i kalenderen.'), 'the error summary names both');
  expect(await dfv.getByLabel('CPR-, CVR- eller SE-nummer').inputValue() === '12345',
    'the typed CPR number is kept');
  expect(await dfv.locator('#subjekt-error').isVisible(), 'the message is at the field');
  await dfv.locator('.alert-error a[href="#subjekt"]').click();
  expect(await dfv.evaluate(() => document.activeElement && document.activeElement.id) === 'subjekt'
    || dfv.url().endsWith('#subjekt'), 'the summary leads to the field');

  // The citizen-insight report.
  await dfv.getByRole('navigation', { name: 'Hovedmenu' }).getByRole('link', { name: 'Indsigt', exact: true }).click();
  await dfv.waitForURL((u) => u.pathname === '/indsigt');
  await check(run, dfv, 'indsigt');
  await dfv.getByLabel('Type af nummer').selectOption('cpr');
  await dfv.getByLabel('CPR-, CVR- eller SE-nummer').fill(cpr);
  await dfv.getByRole('button', { name: 'Lav rapport' }).click();
  await dfv.waitForURL(/\/indsigt\?/);
  await check(run, dfv, 'indsigt-rapport');
  const report = dfv.locator('table');
  const row = await report.locator('tbody tr').first().locator('td').allTextContents();
  const heads = await report.locator('thead th').allTextContents();
  // the cells by their column's heading, so that a new column moves nothing
  const cell = (name) => {
    const i = heads.indexOf(name);
    expect(i >= 0, `the report has a column "${name}" (${heads.join(' | ')})`);
    return row[i];
  };
  const cells = [null, cell('Modtager'), cell('Aftale (version)'), cell('Formål'), cell('Retsgrundlag')];
  expect(await report.locator('tbody tr').count() === 1, 'the report has the one disclosure');
  expect(cells[1].includes(run.connect.organisation_cvr) && cells[2].includes(agreementId),
    'the report names the recipient and the agreement');
  expect(cells[3].length > 0 && cells[3] !== 'Ukendt' && cells[4].length > 0
    && cells[4] !== 'Ukendt', `the report gives purpose and legal basis (${cells[3]}; ${cells[4]})`);
  expect(!(await dfv.locator('main').textContent()).includes(other), 'only that person is shown');
  const icsv = await dfv.request.get(await dfv.getByRole('link', {
    name: 'Hent hele søgeresultatet som CSV' }).getAttribute('href'));
  const itext = await icsv.text();
  expect(icsv.status() === 200 && itext.startsWith('Tidspunkt (dansk tid),')
    && itext.includes(cells[3]) && itext.trim().split('\r\n').length === 2,
  'the report downloads as CSV with the purpose');
  await dfv.emulateMedia({ media: 'print' });
  await check(run, dfv, 'indsigt-udskrift');
  expect(!(await dfv.locator('form[action="/indsigt"]').isVisible()), 'the form is not printed');
  await dfv.emulateMedia({ media: 'screen' });
  await logout(dfv);

  // The demo administrator's own disclosures, filtered.
  const adm = await run.newUser();
  const admin = run.user('administrator');
  await login(adm, admin.username, admin.password);
  await adm.goto('/udleveringer');
  await check(run, adm, 'egne');
  expect(await rows(adm) === 2, 'the administrator sees its two disclosures');
  expect(await adm.getByLabel('CPR-, CVR- eller SE-nummer').count() === 0,
    'no search by person for a recipient');
  await adm.getByLabel('Tjeneste').selectOption('Momsangivelse');
  await adm.getByRole('button', { name: 'Søg' }).click();
  await adm.waitForURL(/tjeneste=Momsangivelse/);
  await check(run, adm, 'egne-ingen');
  expect(await rows(adm) === 0, 'no Momsangivelse was fetched');
  await adm.getByLabel('Tjeneste').selectOption('Aarsopgoerelse');
  await adm.getByLabel('Udfald').selectOption('udleveret');
  await adm.getByRole('button', { name: 'Søg' }).click();
  await adm.waitForURL(/udfald=udleveret/);
  await check(run, adm, 'egne-filtreret');
  expect(await rows(adm) === 2, 'the filter keeps the two Aarsopgoerelse disclosures');
  const refused = await adm.goto('/udleveringer?organisation=20000007');
  await check(run, adm, 'egne-anden-organisation');
  expect(refused.status() === 403, 'another organisation\'s disclosures are refused');
  const insight = await adm.goto('/indsigt');
  expect(insight.status() === 403, 'the insight report is refused to a recipient');
}

await new Run('disclosures', process.argv[2]).play(story);
