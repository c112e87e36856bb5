// frame.mjs: the page frame every page shares, in a real browser (see
// lib.mjs): the keyboard alone (skip link, error summary focus, login,
// menu), the Danish page for a wrong address, the header of Det Fælles
// Designsystem with the user and log off,
// the main menu on a desktop and as the mobile menu (a dialog opened with the
// keyboard and closed with Escape) on a narrow screen, and the session
// warning (WCAG 2.2.1): with a short idle time the warning shows before the
// session ends, "Forbliv logget ind" keeps the session, and without activity
// the page ends at the login page saying why.
import { Run, expect, login } from './lib.mjs';

const IDLE_S = 24; // the session's idle time in this test (the warning comes 8 s before)

// The element that has the focus: its tag, id, text and whether it shows a focus outline.
const focused = (page) => page.evaluate(() => {
  const e = document.activeElement;
  const st = window.getComputedStyle(e);
  return { tag: e.tagName, id: e.id, text: e.textContent.trim(), module: e.dataset.module || '',
    outline: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0 };
});

// Presses Tab until the focus is on an element matching want (at most n times).
async function tabTo(page, want, n = 20) {
  for (let i = 0; i < n; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (want(f)) return f;
  }
  throw new Error('the keyboard never reached the element');
}

async function frame(run) {
  const admin = run.user('administrator');

  // The keyboard alone: skip link, an error summary that takes the focus and
  // leads to the field, then logging in.
  const kb = await run.newUser();
  await kb.goto('/login');
  let f = await tabTo(kb, (x) => x.text === 'Gå til sidens indhold', 1);
  expect(f.outline, 'the skip link is the first stop and shows its focus');
  await kb.keyboard.press('Enter');
  await tabTo(kb, (x) => x.id === 'username');
  await kb.keyboard.type(admin.username);
  await kb.keyboard.press('Enter'); // no password: the form comes back with an error
  await kb.locator('.alert-error').waitFor();
  f = await focused(kb);
  expect(f.module === 'error-summary', 'the error summary takes the focus');
  await run.check(kb, 'login-fejl-tastatur');
  f = await tabTo(kb, (x) => x.tag === 'A' && x.text.length > 0, 3);
  await kb.keyboard.press('Enter');
  f = await focused(kb);
  expect(f.id === 'password', 'the summary\'s link moves the focus to the field in error');
  expect(await kb.locator('#username').inputValue() === admin.username, 'what was typed is kept');
  await kb.keyboard.type(admin.password);
  await kb.keyboard.press('Enter');
  await kb.waitForURL((u) => u.pathname === '/');
  f = await tabTo(kb, (x) => x.text === 'Aftaler', 30);
  expect(f.outline, 'the menu is reached with Tab and shows its focus');
  await kb.keyboard.press('Enter');
  await kb.waitForURL(/\/aftaler$/);
  expect(true, 'the keyboard alone logs in and follows the menu');

  // A wrong address: the browser gets a page in Danish, not the API's problem.
  const lost = await kb.goto('/findes-ikke');
  expect(lost.status() === 404 && (await kb.locator('h1').textContent()) === 'Siden findes ikke',
    'a wrong address shows a Danish page');
  await run.check(kb, 'findes-ikke');

  // Desktop: the header names the user and the organisation; the menu marks the page.
  const page = await run.newUser();
  await login(page, admin.username, admin.password);
  await page.goto('/aftaler');
  await run.check(page, 'ramme-desktop');
  expect((await page.locator('.portal-user .user').textContent()).includes('Demo Kommune'),
    'the header shows the user and the organisation');
  expect(await page.locator('.navigation-menu a[aria-current=page]').textContent() === 'Aftaler',
    'the main menu marks the current page');
  expect(!(await page.locator('.mobile-drawer').isVisible()), 'the mobile menu is hidden on a desktop');

  // The session warning: it appears before the session ends, and staying keeps the session.
  const loaded = Date.now();
  await page.locator('#session-warning').waitFor({ state: 'visible', timeout: IDLE_S * 1000 });
  expect(Date.now() - loaded < IDLE_S * 1000, 'the warning comes before the session ends');
  await run.check(page, 'session-advarsel');
  expect((await page.locator('#session-left').textContent()).includes('sekunder'),
    'the warning says how long is left');
  await page.getByRole('button', { name: 'Forbliv logget ind' }).focus();
  await page.keyboard.press('Enter');
  await page.locator('#session-warning').waitFor({ state: 'hidden' });
  // Past the first expiry (nothing else may touch the session meanwhile).
  await page.waitForTimeout(12000);
  expect(new URL(page.url()).pathname === '/aftaler', 'staying logged in keeps the user on the page');

  // Without activity the page ends at the login page, saying why.
  await page.waitForURL(/\/login\?udloebet=1/, { timeout: (IDLE_S + 4) * 1000 });
  await run.check(page, 'session-udloebet');
  expect((await page.locator('main').textContent()).includes('logget af'),
    'the login page says the session ended');
  const after = await page.request.get('/aftaler', { maxRedirects: 0 });
  expect(after.status() === 303 && after.headers().location.startsWith('/login'),
    'the ended session no longer opens pages');

  // A narrow screen: the menu is a dialog opened by the Menu button, usable with the keyboard.
  const phone = await run.newUser({ viewport: { width: 390, height: 844 } });
  await login(phone, admin.username, admin.password);
  await phone.goto('/organisation');
  expect(!(await phone.locator('.navigation-menu').isVisible()), 'the desktop menu is hidden on a phone');
  await run.check(phone, 'ramme-mobil');
  await phone.getByRole('button', { name: 'Menu' }).focus();
  await phone.keyboard.press('Enter');
  await phone.locator('.mobile-drawer').waitFor({ state: 'visible' });
  await phone.waitForTimeout(500); // the drawer slides in
  await run.check(phone, 'ramme-mobil-menu');
  expect(await phone.locator('.navigation-menu-mobile a[aria-current=page]').textContent() ===
    'Brugere og roller', 'the mobile menu marks the current page');
  await phone.keyboard.press('Escape');
  await phone.locator('.mobile-drawer').waitFor({ state: 'hidden' });
  // The accessibility checks above can outlast the short idle time on a busy
  // machine: a reload is activity and keeps the session for the last step.
  await phone.reload();
  await phone.getByRole('button', { name: 'Menu' }).click();
  await phone.locator('.navigation-menu-mobile').getByRole('link', { name: 'Aftaler' }).click();
  await phone.waitForURL(/\/aftaler$/);
  expect(true, 'a link in the mobile menu opens its page');
}

await new Run('frame', process.argv[2]).play(frame, {
  config: (cfg) => { cfg.identity = { ...(cfg.identity || {}), session_idle_seconds: IDLE_S }; },
});
