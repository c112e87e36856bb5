// enrol.mjs: applying to become an agreement party in a real browser (see
// lib.mjs for the server, the browser and the checks, axe included, on every
// page). An applicant fills the public page (a wrong CVR number first), the
// data owner's reviewer finds the application from the review queue and
// approves it, the server mails the set-up link to a small SMTP sink here,
// and the new administrator chooses a password from it and logs in.
import net from 'node:net';
import { Run, expect, login, setup } from './lib.mjs';

// A minimal SMTP server on loopback that keeps each message's data.
function smtpSink() {
  const messages = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let data = null;
    let rcpt = [];
    sock.write('220 sink\r\n');
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (data !== null) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          data += buf.slice(0, end);
          buf = buf.slice(end + 5);
          messages.push({ rcpt, data });
          data = null;
          rcpt = [];
          sock.write('250 ok\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250 sink\r\n');
        else if (verb === 'RCPT') { rcpt.push(line); sock.write('250 ok\r\n'); }
        else if (verb === 'DATA') { data = ''; sock.write('354 go\r\n'); }
        else if (verb === 'QUIT') { sock.end('221 bye\r\n'); return; }
        else sock.write('250 ok\r\n');
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ server, messages, port: server.address().port })));
}

function qpDecode(s) {
  const bytes = Buffer.from(s.replace(/=\r\n/g, ''), 'latin1').toString('latin1')
    .replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

const sink = await smtpSink();

async function story(run) {
  const check = (page, name) => run.check(page, name);

  // The applicant: the login page links to the application form.
  const a = await run.newUser();
  await a.goto('/login');
  await a.getByRole('link', { name: 'Ansøg om tilslutning' }).click();
  await a.waitForURL(/\/tilslutning$/);
  await check(a, 'tilslutning');
  await a.getByLabel('Organisationens navn').fill('Nordby Kommune');
  await a.getByLabel('CVR-nummer').fill('29189847');
  await a.getByLabel('Kontaktpostkasse').fill('post@nordby.dk');
  await a.getByLabel('Administratorens navn').fill('Nina Nordby');
  await a.getByLabel('Administratorens e-mailadresse').fill('nina@nordby.dk');
  await a.getByLabel('Testmiljøet (syntetiske data)').check();
  await a.getByRole('button', { name: 'Send ansøgning' }).click();
  await a.locator('.form-error-message').first().waitFor();
  await check(a, 'tilslutning-fejl');
  expect((await a.locator('main').textContent()).includes('kontrolcifferet'),
    'a wrong check digit is named at the CVR field');
  await a.getByLabel('CVR-nummer').fill('29189846');
  await a.getByRole('button', { name: 'Send ansøgning' }).click();
  await a.waitForURL(/modtaget=1$/);
  await check(a, 'tilslutning-modtaget');
  expect((await a.locator('main').textContent()).includes('Ansøgningen er modtaget'),
    'the application is received');

  // The data owner's reviewer: from the review queue to the application.
  const dfv = run.user('dataforvaltning');
  const d = await run.newUser();
  await login(d, dfv.username, dfv.password);
  await d.getByRole('link', { name: 'Til gennemgang' }).first().click();
  await d.waitForURL(/\/gennemgang$/);
  expect((await d.locator('main').textContent()).includes('1 ansøgning venter'),
    'the queue counts the application');
  await d.getByRole('link', { name: 'Se ansøgningerne om tilslutning' }).click();
  await d.waitForURL(/\/tilslutninger$/);
  await check(d, 'tilslutninger');
  await d.getByRole('link', { name: 'Nordby Kommune' }).click();
  await d.waitForURL(/\/tilslutninger\/vis\?id=/);
  await check(d, 'tilslutning-vis');
  // rejecting without a reason is refused at the reason field
  await d.getByRole('button', { name: 'Afvis ansøgningen' }).click();
  await d.locator('.form-error-message').first().waitFor();
  await check(d, 'tilslutning-afvis-fejl');
  await d.getByRole('button', { name: 'Godkend ansøgningen' }).click();
  await d.waitForURL(/ok=godkendt$/);
  await check(d, 'tilslutninger-godkendt');

  // The set-up mail reaches the administrator (the server's sender runs
  // every few seconds).
  let mail = null;
  for (let i = 0; i < 150 && !mail; i++) {
    mail = sink.messages.find((m) => m.rcpt.some((r) => r.includes('nina@nordby.dk')));
    if (!mail) await new Promise((r) => setTimeout(r, 200));
  }
  expect(mail, 'the administrator got the set-up mail');
  const text = qpDecode(mail.data);
  expect(text.includes('https://dupla.example/opsaetning?bruger=nina%40nordby.dk'),
    'the mail links to the set-up page');
  const secret = text.split('engangskode der:')[1].trim().split(/\s/)[0];
  expect(secret.length > 20, 'the mail holds the one-time code');

  // The new administrator chooses a password and logs in.
  const n = await run.newUser();
  await setup(n, 'nina@nordby.dk', secret);
  await login(n, 'nina@nordby.dk');
  await check(n, 'ny-administrator');
  expect((await n.locator('header').textContent()).includes('Nordby Kommune'),
    'the administrator is logged in to the new organisation');
}

const run = new Run('enrol', process.argv[2]);
try {
  await run.play(story, {
    config: (cfg) => {
      cfg.mail = { ...(cfg.mail || {}), from: 'dupla@skat.example',
        smtp_url: `smtp://127.0.0.1:${sink.port}` };
      cfg.enrol = { public_url: 'https://dupla.example' };
    },
  });
} finally {
  sink.server.close();
}
