// Drives Debian's Chromium (headless, through playwright-core) through one
// scenario against a running Wayfarer and prints one JSON report line:
//
//   node run.mjs <graphiql|chat|notification> <base URL> <screenshot dir>
//
// Every request the browser makes is checked: one that is not to
// 127.0.0.1, localhost or [::1] is blocked and listed in the report, as are
// Content-Security-Policy violations and uncaught page errors; the test
// (tests/api/browser.rs) fails on any of them. Each step saves a
// screenshot. Chromium runs as CI runs it: as root, on a closed network,
// with a fresh empty profile.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [scenario, base, shots] = process.argv.slice(2);
if (!['graphiql', 'chat', 'notification'].includes(scenario) || !base || !shots) {
  console.error('usage: node run.mjs <graphiql|chat|notification> <base URL> <screenshot dir>');
  process.exit(2);
}

const CHROMIUM = [process.env.WAYFARER_CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].filter(Boolean);
const STEP_TIMEOUT = 30_000;

// `socketInit` says, per connection_init sent, whether it carried a bearer
// token (never the token itself); the events received stay in `received`.
const report = { scenario, steps: [], outside: [], csp: [], pageErrors: [], socketInit: [] };
const received = { init: [], events: [], subscribes: [], operations: [] };
// The page's WebSockets pass through a route, so a step can drop one as a
// network failure would; the browser still opens the real connection.
const sockets = [];

function isLocal(url) {
  if (url.protocol === 'data:' || url.protocol === 'blob:' || url.protocol === 'about:') return true;
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

function checkUrl(href) {
  let url;
  try {
    url = new URL(href);
  } catch {
    report.outside.push(href);
    return false;
  }
  if (isLocal(url)) return true;
  if (!report.outside.includes(href)) report.outside.push(href);
  return false;
}

function finish(code) {
  console.log(JSON.stringify(report));
  process.exit(code);
}

const executablePath = CHROMIUM.find((path) => existsSync(path));
if (!executablePath) {
  report.steps.push({ name: 'chromium', ok: false, error: `Chromium is missing (looked for ${CHROMIUM.join(', ')}): install Debian's chromium package (bash .ci/test does)` });
  finish(1);
}

mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'wayfarer-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Belt and braces: no name but these resolves, so nothing can leave
    // even if a request slipped past the route below.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]',
  ],
  viewport: { width: 1280, height: 900 },
  locale: 'en-US',
  timezoneId: 'Europe/Lisbon',
});
context.setDefaultTimeout(STEP_TIMEOUT);

await context.route('**/*', (route) => (checkUrl(route.request().url()) ? route.continue() : route.abort('blockedbyclient')));
context.on('request', (request) => {
  checkUrl(request.url());
  if (request.method() === 'POST' && request.url().endsWith('/graphql')) {
    received.operations.push(safeJson(request.postData() ?? '')?.operationName ?? null);
  }
});
await context.routeWebSocket(/\/graphql$/, (socket) => {
  if (!checkUrl(socket.url())) return socket.close({ code: 1008, reason: 'not localhost' });
  socket.connectToServer();
  sockets.push(socket);
});

const page = context.pages()[0] ?? (await context.newPage());
page.on('console', (message) => {
  if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) report.csp.push(message.text().slice(0, 300));
});
page.on('pageerror', (error) => report.pageErrors.push(String(error).slice(0, 300)));
page.on('websocket', (socket) => {
  checkUrl(socket.url());
  socket.on('framesent', ({ payload }) => {
    const message = safeJson(payload);
    if (message?.type === 'subscribe') received.subscribes.push(message.payload?.operationName ?? null);
    if (message?.type === 'connection_init') {
      received.init.push(message.payload ?? {});
      report.socketInit.push(/^Bearer \S+$/.test(message.payload?.authorization ?? ''));
    }
  });
  socket.on('framereceived', ({ payload }) => {
    const message = safeJson(payload);
    if (message?.type === 'next') received.events.push(message.payload?.data ?? {});
  });
});

function safeJson(text) {
  try {
    return JSON.parse(typeof text === 'string' ? text : text.toString());
  } catch {
    return null;
  }
}

let shot = 0;
async function step(name, run) {
  shot += 1;
  const file = join(shots, `${scenario}-${String(shot).padStart(2, '0')}-${name}.png`);
  try {
    const detail = await run();
    report.steps.push({ name, ok: true, ...(detail ? { detail } : {}) });
    await page.screenshot({ path: file, fullPage: true });
  } catch (error) {
    report.steps.push({ name, ok: false, error: String(error?.message ?? error).split('\n').slice(0, 6).join(' | ') });
    await page.screenshot({ path: file.replace('.png', '-FAILED.png'), fullPage: true }).catch(() => {});
    throw error;
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** Waits until `read()` returns something truthy (polling), or fails with `message`. */
async function until(read, message, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(message);
    await page.waitForTimeout(100);
  }
}

async function notBuilt() {
  return (await page.content()).includes('not built into this server');
}

// ------------------------------------------------------------ GraphiQL

async function graphiql() {
  await step('graphiql-loads', async () => {
    const introspection = page.waitForResponse(
      (r) => r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes('__schema'),
    );
    introspection.catch(() => {}); // awaited below; a failed goto must not leave it unhandled
    await page.goto(`${base}/playground`);
    expect(!(await notBuilt()), 'the pages are not built into this server (npm ci && npm run build in playground/)');
    await page.locator('.graphiql-container').waitFor();
    await page.locator('.wf-examples').waitFor();
    const body = await (await introspection).json();
    expect(body?.data?.__schema?.types?.length > 0, `introspection failed: ${JSON.stringify(body).slice(0, 300)}`);
    const examples = await page.locator('[data-example]').count();
    return { examples, types: body.data.__schema.types.length };
  });

  await step('start-session', async () => {
    await page.locator('.wf-start').click();
    await page.locator('.wf-session', { hasText: 'Session started' }).waitFor();
    const tools = await until(
      async () => {
        const text = await page.locator('.graphiql-editor-tool').innerText();
        return text.includes('Bearer') ? text : null;
      },
      'the token did not appear in the request headers editor',
    );
    expect(/Authorization/.test(tools), 'no Authorization header in the headers editor');
  });

  const response = () => page.locator('.graphiql-response').innerText();
  const run = () => page.locator('.graphiql-execute-button').click();

  await step('runs-a-query', async () => {
    await page.locator('[data-example="CurrentSession"]').click();
    await until(async () => (await page.locator('.graphiql-query-editor').innerText()).includes('CurrentSession'), 'the example did not open');
    await run();
    const text = await until(async () => {
      const t = await response();
      return t.includes('"session"') && t.includes('timeZone') ? t : null;
    }, 'CurrentSession returned no session');
    expect(!text.includes('UNAUTHENTICATED'), 'CurrentSession was not authenticated');
  });

  await step('receives-a-subscription-event', async () => {
    await page.locator('[data-example="OnServiceStatus"]').click();
    await until(async () => (await page.locator('.graphiql-query-editor').innerText()).includes('OnServiceStatus'), 'the example did not open');
    await run();
    await until(async () => {
      const t = await response();
      return t.includes('"serviceStatus"') && t.includes('"components"');
    }, 'no serviceStatus event arrived in the response pane');
    const init = received.init.at(-1) ?? {};
    expect(/^Bearer \S+/.test(init.authorization ?? ''), `connection_init carried no token: ${JSON.stringify(init)}`);
    const events = received.events.filter((e) => e.serviceStatus).length;
    expect(events >= 1, 'no serviceStatus event came over the WebSocket');
    await run(); // stops the subscription
    return { events };
  });
}

// ------------------------------------------------------------ the chat

const MESES = ['enero', 'febrero', 'marzo', 'abril', 'mayo', 'junio', 'julio', 'agosto', 'septiembre', 'octubre', 'noviembre', 'diciembre'];

async function chat() {
  await step('chat-loads', async () => {
    await page.goto(`${base}/`);
    expect(!(await notBuilt()), 'the pages are not built into this server (npm ci && npm run build in playground/)');
    await page.locator('#start-session').waitFor();
    expect((await page.locator('[aria-live]').count()) >= 1, 'no aria-live region');
  });

  await step('start-session', async () => {
    await page.locator('#start-session').click();
    await page.locator('#composer-input:enabled').waitFor();
    await page.locator('#live-status[data-state="connected"]').waitFor();
    expect(/^Bearer \S+/.test(received.init.at(-1)?.authorization ?? ''), 'the WebSocket did not authenticate');
  });

  const departure = new Date();
  departure.setDate(departure.getDate() + 30);
  const text = `Quiero volar de Madrid a Londres el ${departure.getDate()} de ${MESES[departure.getMonth()]}, somos 2`;

  await step('search-in-spanish', async () => {
    await page.locator('#composer-input').fill(text);
    await page.locator('#composer-input').press('Enter');
    await page.locator('.offer').first().waitFor();
    const lang = await page.evaluate(() => document.documentElement.lang);
    expect(lang === 'es', `the page did not follow the conversation into Spanish (lang=${lang})`);
    const reply = await page.locator('.message.assistant .bubble').last().innerText();
    await until(async () => (await page.locator('#announcer').innerText()).includes(reply.slice(0, 20)), 'the reply was not announced in the aria-live region');
    return { reply, cards: await page.locator('.offer').count() };
  });

  await step('flight-cards', async () => {
    const card = page.locator('.offer').first();
    const carrier = (await card.locator('.carrier').innerText()).trim();
    const price = (await card.locator('.price').innerText()).trim();
    expect(carrier.length > 0, 'a card without a carrier');
    expect(/\d/.test(price) && /€|EUR/.test(price), `a card without a price: ${price}`);
    const meta = await card.locator('.meta').first().innerText();
    expect(/\d+ h|\d+ min/.test(meta) && /(Directo|escala)/.test(meta), `a card without duration and stops: ${meta}`);
    // Times are in each airport's own zone: Madrid's for the departure,
    // London's for the arrival, whatever the browser's zone (Lisbon).
    const times = card.locator('.leg').first().locator('time');
    const [dep, arr] = [times.nth(0), times.nth(1)];
    const local = (at, timeZone) =>
      new Intl.DateTimeFormat('es', { hour: '2-digit', minute: '2-digit', timeZone }).format(new Date(at));
    const depAt = await dep.getAttribute('datetime');
    const arrAt = await arr.getAttribute('datetime');
    expect((await dep.innerText()) === local(depAt, 'Europe/Madrid'), `departure not in Madrid time: ${await dep.innerText()} for ${depAt}`);
    expect((await arr.innerText()) === local(arrAt, 'Europe/London'), `arrival not in London time: ${await arr.innerText()} for ${arrAt}`);
    return { carrier, price, meta };
  });

  await step('keyboard-navigation', async () => {
    const buttons = page.locator('.offer .book');
    const count = await buttons.count();
    await buttons.first().focus();
    if (count > 1) {
      await page.keyboard.press('ArrowDown');
      const focused = await page.evaluate(() => document.activeElement?.closest('.offer')?.dataset.offerId);
      expect(focused === (await page.locator('.offer').nth(1).getAttribute('data-offer-id')), 'ArrowDown did not move to the next card');
      await page.keyboard.press('ArrowUp');
    }
    const name = await page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
    expect(/Reservar .+ por /.test(name ?? ''), `the Book button has no accessible name: ${name}`);
  });

  await step('booking-form', async () => {
    await page.keyboard.press('Enter'); // the focused Book button
    await page.locator('#booking form.booking-form').waitFor();
    const travellers = await page.locator('#booking fieldset.traveller').count();
    expect(travellers === 2, `the form asks for ${travellers} travellers, the search was for 2`);
    const focused = await page.evaluate(() => document.activeElement?.dataset.field);
    expect(focused === 'input.travelers.0.firstName', `focus did not move into the form (${focused})`);
  });

  await step('validation-error-shown', async () => {
    const field = (name) => page.locator(`[data-field="${name}"]`);
    await field('input.travelers.0.firstName').fill('Ana');
    await field('input.travelers.0.lastName').fill('García');
    await field('input.travelers.0.dateOfBirth').fill('1990-04-12');
    await field('input.travelers.1.firstName').fill('Luis');
    await field('input.travelers.1.lastName').fill('García');
    await field('input.travelers.1.dateOfBirth').fill('1988-09-30');
    await field('input.contact.email').fill('ana@');
    await page.locator('#booking button[type="submit"]').click();
    const email = page.locator('[data-field="input.contact.email"][aria-invalid="true"]');
    await email.waitFor();
    const describedBy = await email.getAttribute('aria-describedby');
    const message = (await page.locator(`[id="${describedBy}"]`).innerText()).trim();
    expect(message.length > 0, 'no message at the email field');
    expect(await page.locator('#booking .form-errors[role="alert"]').isVisible(), 'no error summary');
    const focused = await page.evaluate(() => document.activeElement?.dataset.field);
    expect(focused === 'input.contact.email', `focus did not move to the invalid field (${focused})`);
    return { message };
  });

  await step('validation-corrected', async () => {
    await page.locator('[data-field="input.contact.email"]').fill('ana@example.com');
    await page.locator('#booking button[type="submit"]').click();
    await page.locator('#booking-status[data-status="PENDING_PAYMENT"]').waitFor();
    await page.locator('#pay').waitFor();
    return { reference: (await page.locator('#booking-reference').innerText()).trim() };
  });

  await step('payment-confirmed', async () => {
    await page.locator('input[value="pm_card_visa"]').check();
    await page.locator('#pay').click();
    await page.locator('#booking-status[data-status="CONFIRMED"]').waitFor();
    const status = (await page.locator('#booking-status').innerText()).trim();
    expect(status === 'Confirmada', `status shown as ${status}`);
    return { status };
  });

  await step('reconnects-and-catches-up', async () => reconnect(['Booking']));
}

/**
 * Drops the page's WebSocket as a network failure would (1012, "service
 * restart") and checks that it comes back on its own: a new authenticated
 * connection_init, the subscriptions `resubscribe` sent again, and the
 * catch-up queries `expected` sent after the reconnection.
 */
async function reconnect(expected, resubscribe = []) {
  const inits = received.init.length;
  const subscribes = received.subscribes.length;
  const operations = received.operations.length;
  await sockets.at(-1).close({ code: 1012, reason: 'dropped by the test' });
  await until(() => received.init.length > inits, 'the page did not reconnect');
  await page.locator('#live-status[data-state="connected"]').waitFor();
  const resubscribed = await until(() => {
    const again = received.subscribes.slice(subscribes);
    return resubscribe.every((name) => again.includes(name)) ? again : null;
  }, `${resubscribe.join(' and ')} not subscribed again`);
  const caughtUp = await until(() => {
    const sent = received.operations.slice(operations);
    return expected.every((name) => sent.includes(name)) ? sent : null;
  }, `no catch-up ${expected.join(' and ')} after the reconnection`);
  expect(/^Bearer \S+/.test(received.init.at(-1)?.authorization ?? ''), 'the new connection did not authenticate');
  return { resubscribed, caughtUp };
}

async function notification() {
  await chat();
  await step('confirmation-notification-live', async () => {
    const item = page.locator('.notification[data-kind="BOOKING_CONFIRMED"]');
    const unavailable = page.locator('#notifications-state[data-available="false"]');
    await item.or(unavailable).first().waitFor({ timeout: 15_000 });
    expect(
      !(await unavailable.isVisible()),
      'the server has no notifications: the Notifications query and the notificationAdded subscription do not validate',
    );
    const live = received.events.some((e) => e.notificationAdded?.kind === 'BOOKING_CONFIRMED');
    expect(live, 'BOOKING_CONFIRMED was shown but did not arrive over the WebSocket subscription');
    return { title: (await item.locator('.title').innerText()).trim() };
  });

  await step('notifications-caught-up-after-reconnect', async () =>
    reconnect(['Booking', 'Notifications'], ['OnNotification', 'OnBookingStatus']),
  );
}

let code = 0;
try {
  await { graphiql, chat, notification }[scenario]();
} catch {
  code = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
if (report.outside.length > 0 || report.csp.length > 0 || report.pageErrors.length > 0) code = 1;
finish(code);
