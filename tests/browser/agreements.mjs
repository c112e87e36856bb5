// agreements.mjs: the agreement pages in a real browser (see lib.mjs for the
// server, the browser and the checks on every page). Demo Kommune's processor
// asks for a change of the approved demo agreement (one field fewer, a new
// purpose), first with an error that keeps what was typed; the system still
// gets that field while the approved version serves; the signatory signs the
// change; the data owner finds it marked "Ændring" in the review queue, sees
// what it changes beside the assessment and approves it; now the field is
// refused. Then the processor drafts a fresh application, edits it, is told
// a reason is needed to withdraw it, and withdraws it.
import path from 'node:path';
import fs from 'node:fs';
import { Run, expect, fetchData, login } from './lib.mjs';

async function agreements(run) {
  const check = (page, name) => run.check(page, name);
  const agreementId = run.connect.agreement_id;
  const agreementUrl = `/aftaler/vis?id=${agreementId}`;
  const system = {
    ca: run.ca,
    tls: {
      pfx: fs.readFileSync(path.join(run.dir, 'pki/demo-system.p12')),
      passphrase: run.connect.pkcs12_password,
    },
    listeners: run.listeners,
  };
  const cpr = run.connect.PersonCPRNummer[0];

  // The processor asks for a change of the approved agreement.
  const processor = run.user('aftager-behandler');
  const proc = await run.newUser();
  await login(proc, processor.username, processor.password);
  await proc.goto(agreementUrl);
  await check(proc, 'godkendt-aftale');
  await proc.getByRole('link', { name: 'Ansøg om ændring' }).click();
  await proc.waitForURL(/\/aftaler\/rediger\?id=/);
  await check(proc, 'aendring-formular');
  const first = proc.locator('input[name=felt]').first();
  const dropped = await first.getAttribute('value');
  expect(await first.isChecked(), `the form is prefilled: ${dropped} is asked for today`);
  await first.uncheck();
  await proc.getByLabel('Formål').fill('Kontrol af boligstøtte; færre felter er nok.');
  await proc.getByLabel('Kontaktperson: navn').fill('Demo Behandler');
  await proc.getByLabel('Kontaktperson: e-mail').fill(processor.username);
  const title = await proc.getByLabel('Titel').inputValue();
  await proc.getByLabel('Titel').fill('');
  await proc.getByRole('button', { name: 'Gem ændringen som kladde' }).click();
  await proc.locator('.alert-error').waitFor();
  await check(proc, 'aendring-fejl');
  expect(await proc.getByLabel('Formål').inputValue() === 'Kontrol af boligstøtte; færre felter er nok.',
    'the change form keeps what was typed after an error');
  expect(!(await proc.locator(`input[name=felt][value="${dropped}"]`).isChecked()),
    'and the field taken away stays taken away');
  await proc.getByLabel('Titel').fill(title || 'Demoaftale');
  await proc.getByRole('button', { name: 'Gem ændringen som kladde' }).click();
  await proc.waitForURL(/ok=aendring/);
  await check(proc, 'aendring-kladde');
  const body = await proc.locator('main').textContent();
  expect(body.includes('Gældende version') && body.includes('Ansøgt ændring'),
    'the page shows the serving version and the pending change');
  expect(body.includes('Felt fjernes'), 'and what the change takes away');

  // While the approved version serves, the field is still disclosed.
  const [service, field] = dropped.split('/');
  const before = await fetchData(system, agreementId, service, `PersonCPRNummer=${cpr}&Felter=${encodeURIComponent(field)}`);
  expect(before.status === 200, `the system still gets ${field} before approval (${before.status})`);

  // The signatory signs the change (four eyes).
  const signatory = run.user('aftager-underskriver');
  const sig = await run.newUser();
  await login(sig, signatory.username, signatory.password);
  await sig.goto(agreementUrl);
  await check(sig, 'aendring-til-underskrift');
  await sig.getByRole('button', { name: 'Underskriv og send' }).click();
  await sig.waitForURL(/ok=underskrevet/);
  await check(sig, 'aendring-underskrevet');

  // The data owner sees "Ændring" in the queue and approves it.
  const owner = run.user('dataforvaltning');
  const own = await run.newUser();
  await login(own, owner.username, owner.password);
  await own.goto('/gennemgang');
  await check(own, 'gennemgang-aendring');
  const row = own.locator('tr', { hasText: 'Ændring' });
  expect(await row.count() === 1, 'the queue lists the change, marked "Ændring"');
  await row.getByRole('link').click();
  await own.waitForURL(/\/aftaler\/vis\?id=/);
  await check(own, 'afgoerelse-aendring');
  const decision = await own.locator('main').textContent();
  expect(decision.includes('Ændringer i forhold til den gældende version') && decision.includes('Felt fjernes'),
    'the decision page says what the change changes');
  expect(decision.includes('Kontrol af boligstøtte; færre felter er nok.'),
    'and shows the purpose beside the assessment');
  await own.getByLabel('Proportionalitetsvurdering').fill('Færre felter end før; forholdsmæssigt.');
  await own.getByRole('button', { name: 'Godkend' }).click();
  await own.waitForURL(/ok=godkendt/);
  await check(own, 'aendring-godkendt');
  expect(!(await own.locator('main').textContent()).includes('Ansøgt ændring'),
    'after approval the change is the serving version');
  const after = await fetchData(system, agreementId, service, `PersonCPRNummer=${cpr}&Felter=${encodeURIComponent(field)}`);
  expect(after.status === 403, `now ${field} is refused (${after.status})`);
  await own.goto('/gennemgang');
  expect(await own.locator('tr', { hasText: 'Ændring' }).count() === 0, 'the queue is empty again');

  // The processor drafts a fresh application, edits it and withdraws it.
  await proc.goto('/aftaler/ny');
  await proc.getByLabel('Titel').fill('Kladde der trækkes tilbage');
  await proc.getByLabel('Formål').fill('Afprøvning.');
  await proc.getByLabel('Hjemmel: lov').fill('Skatteforvaltningsloven');
  await proc.getByLabel('Hjemmel: paragraf').fill('§ 17');
  await proc.getByLabel('Gyldig fra').fill(new Date().toISOString().slice(0, 10));
  await proc.getByLabel('Kontaktperson: navn').fill('Demo Behandler');
  await proc.getByLabel('Kontaktperson: e-mail').fill(processor.username);
  await proc.locator('input[name=felt]').first().check();
  await proc.getByRole('button', { name: 'Gem kladde' }).click();
  await proc.waitForURL(/ok=kladde/);
  await check(proc, 'ny-kladde');
  await proc.getByRole('link', { name: 'Redigér' }).click();
  await proc.waitForURL(/\/aftaler\/rediger\?id=/);
  await check(proc, 'rediger-kladde');
  expect(await proc.getByLabel('Titel').inputValue() === 'Kladde der trækkes tilbage',
    'the edit form is prefilled from the draft');
  await proc.getByLabel('Titel').fill('Rettet kladde der trækkes tilbage');
  await proc.getByRole('button', { name: 'Gem kladde' }).click();
  await proc.waitForURL(/ok=rettet/);
  await check(proc, 'kladde-rettet');
  await proc.getByRole('button', { name: 'Træk tilbage' }).click();
  await proc.locator('.alert-error').waitFor();
  await check(proc, 'traek-tilbage-fejl');
  expect((await proc.locator('.alert-error').textContent()).includes('Skriv en begrundelse'),
    'withdrawing needs a reason');
  await proc.getByLabel('Begrundelse for at trække tilbage').fill('Kun en afprøvning.');
  await proc.getByRole('button', { name: 'Træk tilbage' }).click();
  await proc.waitForURL(/ok=trukket/);
  await check(proc, 'kladde-trukket-tilbage');
  expect((await proc.locator('main').textContent()).includes('Trukket tilbage'),
    'the application is withdrawn');
  await proc.goto('/aftaler');
  await check(proc, 'aftaler');
}

await new Run('agreements', process.argv[2]).play(agreements);
