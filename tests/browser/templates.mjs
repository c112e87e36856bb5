// templates.mjs: agreement templates, purpose categories and rate budgets in
// a real browser (see lib.mjs; axe on every page). The data owner's reviewer
// publishes a template; the demo processor starts a draft from it and finds
// the template's title, category and legal basis filled in; the reviewer
// gives the demo agreement its own rate budget, and the recipient's usage
// page shows the 429 column.
import { Run, expect, login } from './lib.mjs';

async function story(run) {
  const check = (page, name) => run.check(page, name);

  // The reviewer publishes a template.
  const dfv = run.user('dataforvaltning');
  const d = await run.newUser();
  await login(d, dfv.username, dfv.password);
  await d.goto('/aftaler');
  await d.getByRole('link', { name: 'Skabeloner for aftaler' }).click();
  await d.waitForURL(/\/aftaler\/skabeloner$/);
  await check(d, 'skabeloner-dataejer');
  await d.getByLabel('Titel').fill('Boligstøtte');
  await d.getByRole('button', { name: 'Gem skabelon' }).click();
  await d.locator('.form-error-message').first().waitFor();
  await check(d, 'skabelon-fejl');
  expect((await d.locator('main').textContent()).includes('Vælg hovedformålet'),
    'a template without its category is refused at the field');
  await d.getByLabel('Kategori').selectOption('sagsbehandling');
  await d.getByLabel('Aftagertype').selectOption('offentlig-myndighed');
  await d.getByLabel('Hjemmel: lov', { exact: true }).fill('Lov om individuel boligstøtte');
  await d.getByLabel('Hjemmel: paragraf', { exact: true }).fill('§ 50');
  await d.locator('input[name="felt"]').first().check();
  await d.getByLabel('Offentliggør skabelonen med det samme').check();
  await d.getByRole('button', { name: 'Gem skabelon' }).click();
  await d.waitForURL(/ok=gemt$/);
  await check(d, 'skabelon-gemt');
  expect((await d.locator('main').textContent()).includes('Offentliggjort'), 'the template is published');

  // The processor starts a draft from it.
  const proc = run.user('aftager-behandler');
  const p = await run.newUser();
  await login(p, proc.username, proc.password);
  await p.goto('/aftaler');
  await p.getByRole('link', { name: 'Start ud fra en skabelon' }).click();
  await p.waitForURL(/\/aftaler\/skabeloner$/);
  await check(p, 'skabeloner-aftager');
  await p.getByRole('button', { name: 'Start en aftale ud fra Boligstøtte' }).click();
  await p.waitForURL(/\/aftaler\/rediger\?id=/);
  await check(p, 'kladde-fra-skabelon');
  expect(await p.getByLabel('Titel').inputValue() === 'Boligstøtte', 'the title is filled in');
  expect(await p.getByLabel('Kategori').inputValue() === 'sagsbehandling',
    'the purpose category is filled in');
  expect(await p.getByLabel('Hjemmel: lov', { exact: true }).inputValue() ===
    'Lov om individuel boligstøtte', 'the legal basis is filled in');

  // The reviewer gives the demo agreement its own budget.
  await d.goto('/aftaler');
  await d.locator('main table a').first().click();
  await d.waitForURL(/\/aftaler\/vis\?id=/);
  await d.getByLabel('Kald i sekundet pr. system').fill('5');
  await d.getByLabel('Højst i træk').fill('10');
  await d.getByRole('button', { name: 'Gem budget' }).click();
  await d.waitForURL(/ok=budget$/);
  await check(d, 'aftale-budget');
  expect((await d.locator('main').textContent()).includes('5 kald i sekundet pr. system'),
    'the agreement shows its own budget');

  // The usage page has the 429 column.
  await d.goto('/forbrug');
  await check(d, 'forbrug');
  expect((await d.locator('main table').textContent()).includes('For mange kald (429)'),
    'the usage counts 429s');
}

await new Run('templates', process.argv[2]).play(story);
