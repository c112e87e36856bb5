// events.mjs: the event lists' page (/haendelser) in a real browser (see
// lib.mjs for the server, the browser and the checks, axe included, on every
// page): the demo processor finds the demo agreement, is told which lines of
// a list are wrong (by number; nothing is saved), then saves a good list and
// sees the followed subjects, which the system's API then reports too.
import { Run, expect, login } from './lib.mjs';

async function story(run) {
  const check = (page, name) => run.check(page, name);
  const processor = run.user('aftager-behandler');
  const p = await run.newUser();
  await p.goto('/login');
  await login(p, processor.username, processor.password);
  await p.getByRole('link', { name: 'Hændelser' }).first().click();
  await p.waitForURL(/\/haendelser$/);
  await check(p, 'haendelser');
  expect((await p.locator('main').textContent()).includes('Følger 0 personer'),
    'the demo agreement follows nobody yet');

  // A list with two bad lines: both named by number, nothing saved.
  await p.getByLabel('Handling').selectOption('erstat');
  await p.getByLabel('Personer og virksomheder').fill('6101700011\n12345\nCVR 12345678\n');
  await p.getByRole('button', { name: 'Gem listen' }).click();
  await p.locator('.alert-error').waitFor();
  await check(p, 'haendelser-fejl');
  const errors = await p.locator('.alert-error').textContent();
  expect(errors.includes('Linje 2') && errors.includes('Linje 3'), 'each bad line is named');
  expect(!errors.includes('Linje 1'), 'the good line is not');
  expect((await p.locator('main').textContent()).includes('Følger 0 personer'), 'nothing was saved');

  // A good list: saved and shown.
  await p.getByLabel('Personer og virksomheder').fill('# sager\n6101700011\nCVR 12345674\n');
  await p.getByRole('button', { name: 'Gem listen' }).click();
  await p.waitForURL(/ok=gemt$/);
  await check(p, 'haendelser-gemt');
  const main = await p.locator('main').textContent();
  expect(main.includes('Listen er gemt') && main.includes('Følger 2 personer'), 'the list is saved');
  expect(main.includes('6101700011') && main.includes('12345674'), 'the followed are listed');
}

await new Run('events', process.argv[2]).play(story);
