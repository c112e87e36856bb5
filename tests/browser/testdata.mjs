// testdata.mjs: the self-service test data page (/testdata) in a real
// browser (see lib.mjs for the server, the browser and the checks, axe
// included, on every page): the demo processor finds persons with residual
// tax and church tax in 2024 (read from the demo's synthetic data), is told
// which field is wrong when a person's condition is asked of companies, and
// re-assesses one of the persons found, which makes a new version, and
// has a person made to order.
import { Run, expect, login } from './lib.mjs';

async function story(run) {
  const check = (page, name) => run.check(page, name);
  const processor = run.user('aftager-behandler');
  const p = await run.newUser();
  await p.goto('/login');
  await login(p, processor.username, processor.password);
  await p.getByRole('link', { name: 'Testdata' }).first().click();
  await p.waitForURL(/\/testdata$/);
  await check(p, 'testdata');

  // Persons with residual tax and church tax in 2024.
  await p.getByLabel('Slags').selectOption('person');
  await p.getByLabel('Indkomstår').first().fill('2024');
  await p.getByLabel('Restskat', { exact: true }).selectOption('true');
  await p.getByLabel('Kirkeskat', { exact: true }).selectOption('true');
  await p.getByRole('button', { name: 'Søg' }).click();
  await p.waitForURL(/residual_tax=true/);
  await check(p, 'testdata-personer');
  const caption = await p.locator('table caption').textContent();
  expect(/^[1-9][0-9]* personer fundet/.test(caption.trim()), `persons found: ${caption}`);
  const rows = p.locator('table tbody tr');
  const n = await rows.count();
  expect(n > 0, 'rows are shown');
  for (let i = 0; i < n; i++) {
    const cells = await rows.nth(i).locator('td').allTextContents();
    expect(cells[1] === '2024' && Number(cells[3]) > 0 && cells[5] === 'Ja',
      `row ${i} has residual tax and church tax in 2024: ${cells.join(' | ')}`);
  }
  const cpr = (await rows.first().locator('td').first().textContent()).trim();

  // A person's condition asked of companies: the field is named.
  await p.getByLabel('Slags').selectOption('company');
  await p.getByRole('button', { name: 'Søg' }).click();
  await p.locator('.alert-error').waitFor();
  await check(p, 'testdata-fejl');
  const errors = await p.locator('.alert-error').textContent();
  expect(errors.includes('Restskat kan kun vælges for personer'), `the field is named: ${errors}`);

  // A re-assessment of the person found: a new version.
  await p.getByLabel('Ændring', { exact: true }).selectOption('reassessment');
  await p.getByLabel('CPR-, SE- eller CVR-nummer').fill(cpr);
  await p.getByLabel('Indkomstår (genoptagelse)').fill('2024');
  await p.getByRole('button', { name: 'Lav ændringen' }).click();
  await p.locator('.alert-success').waitFor();
  await check(p, 'testdata-aendret');
  const done = await p.locator('.alert-success').textContent();
  expect(done.includes('Aarsopgoerelse') && done.includes(cpr) && done.includes('1 ny version'),
    `the change is confirmed: ${done}`);

  // A person made to order: excess tax, no church tax.
  await p.getByLabel('Kirkeskattepligtig').selectOption('false');
  await p.getByLabel('Årsopgørelsen giver').selectOption('excess');
  await p.getByLabel('Lønindkomst (kr. om året)').fill('380000');
  await p.getByRole('button', { name: 'Lav personen' }).click();
  await p.locator('.alert-success').waitFor();
  await check(p, 'testdata-person');
  const made = await p.locator('.alert-success').textContent();
  expect(/Testpersonen [0-9]{10} er lavet/.test(made), `the person is made: ${made}`);
}

await new Run('testdata', process.argv[2]).play(story);
