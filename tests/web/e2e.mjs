// End-to-end tests of the mailtrace dashboard in headless Chromium (playwright-core).
//
// Usage: node e2e.mjs BASE_URL        (or MAILTRACE_URL=BASE_URL node e2e.mjs)
//
// The server must serve a store holding testdata/postfix/harness.log and
// testdata/postfix/hostile.log (crates/mailtrace/tests/web.rs sets that up). Chromium is
// /usr/bin/chromium unless CHROMIUM names another binary. Every wait is bounded; the exit code
// is 0 only when every scenario passed.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const BASE = (process.argv[2] || process.env.MAILTRACE_URL || '').replace(/\/+$/, '');
if (!/^https?:\/\/[^/]+$/.test(BASE)) {
  console.error('usage: node e2e.mjs http://HOST:PORT   (or set MAILTRACE_URL)');
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ZONE = 'Europe/Berlin';
const TIMEOUT = 15_000; // any single wait
const SCENARIO_TIMEOUT = 90_000; // one scenario, all its waits together
const GLOBAL_TIMEOUT = 300_000; // the whole run

// What hostile.log carries (see tests/web/hostile/scenario.py).
const XSS_SUBJECT = '<script>window.__xss=1;alert(1)</script><img src=x onerror="window.__xss=2">';
const BOLD_SENDER = '"<b>bold</b>"@ok.test';
const ATTR_RCPT = '"x\\"onmouseover=alert(1)"@ok.test';

const watchdog = setTimeout(() => {
  console.error(`e2e: still running after ${GLOBAL_TIMEOUT / 1000} s, giving up`);
  process.exit(3);
}, GLOBAL_TIMEOUT);
watchdog.unref();

// ---------------------------------------------------------------- reporting helpers

const show = (v) => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));
const clip = (s, n = 120) => (s.length > n ? `${s.slice(0, n)}…` : s);

function eq(actual, expected, what) {
  assert.deepStrictEqual(actual, expected, `${what}: got ${show(actual)}, expected ${show(expected)}`);
  console.log(`  ✓ ${what} = ${clip(show(expected))}`);
}

function ok(cond, what, detail = '') {
  assert.ok(cond, `${what}${detail ? `: ${detail}` : ''}`);
  console.log(`  ✓ ${what}`);
}

function matches(actual, re, what) {
  assert.match(String(actual), re, `${what}: ${show(actual)} does not match ${re}`);
  console.log(`  ✓ ${what} ~ ${re} (${clip(show(actual), 80)})`);
}

// ---------------------------------------------------------------- time helpers

const pad = (n) => String(n).padStart(2, '0');

/** "YYYY-MM-DD HH:MM:SS" of an instant in a zone (independent of the page's own code). */
function wallClock(iso, timeZone) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** The zone's UTC offset in minutes at an instant ("GMT+01:00" → 60). */
function offsetMinutes(iso, timeZone) {
  const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })
    .formatToParts(new Date(iso))
    .find((x) => x.type === 'timeZoneName').value;
  const m = /^GMT(?:([+-])(\d\d):(\d\d))?$/.exec(name);
  assert.ok(m, `unexpected offset name ${name}`);
  return m[1] ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

function utcText(iso) {
  const d = new Date(iso);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

// ---------------------------------------------------------------- CSV (RFC 4180)

function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (ch === '"') {
        quoted = false;
        i += 1;
      } else {
        field += ch;
        i += 1;
      }
      continue;
    }
    if (ch === '"' && field === '') {
      quoted = true;
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else if (ch !== '\r') {
      field += ch;
    }
    i += 1;
  }
  assert.equal(quoted, false, 'CSV ends inside a quoted field');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** What the CSV export writes for a cell (formula-safe: `= + - @` TAB CR get a leading `'`). */
const defused = (s) => (/^[=+\-@\t\r]/.test(s) ? `'${s}` : s);

// ---------------------------------------------------------------- browser plumbing

let browser;

/** A fresh context (own storage) in ZONE with one page that records errors and dialogs. */
async function open(opts = {}) {
  const context = await browser.newContext({
    timezoneId: ZONE,
    locale: 'en-GB',
    acceptDownloads: true,
    ...opts,
  });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(TIMEOUT);
  const page = await context.newPage();
  const problems = [];
  const dialogs = [];
  page.on('pageerror', (e) => problems.push(`uncaught exception: ${e.message}`));
  page.on('console', (m) => {
    const url = m.location().url || '';
    if (m.type() !== 'error' || /\/favicon\.ico$/.test(url)) return;
    if (opts.allowConsole && opts.allowConsole.test(m.text())) return;
    problems.push(`console error: ${m.text()} (${url})`);
  });
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  return { context, page, problems, dialogs };
}

async function goto(page, path, status = 200) {
  const res = await page.goto(BASE + path, { waitUntil: 'load', timeout: TIMEOUT });
  assert.ok(res, `no response for ${path}`);
  eq(res.status(), status, `HTTP status of ${path}`);
  return res;
}

/** Submit the search form and wait for the result page. */
async function submit(page) {
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT }),
    page.click('#search-submit'),
  ]);
}

async function apiJson(page, path) {
  const res = await page.request.get(BASE + path, { timeout: TIMEOUT });
  eq(res.status(), 200, `HTTP status of ${path}`);
  return res.json();
}

const texts = (loc) => loc.allTextContents();

/** The row ids and the total the page shows. */
async function shownResults(page) {
  const ids = await page.locator('table#results tr.msg').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  const total = (await page.locator('#total').textContent()).trim();
  return { ids, total };
}

/** No script ran from log content and none of its markup became an element. */
async function assertNoInjection(page, where) {
  const found = await page.evaluate(() => ({
    xss: typeof window.__xss === 'undefined' ? null : window.__xss,
    scripts: Array.from(document.scripts).map((s) => s.getAttribute('src')),
    imgs: document.querySelectorAll('img').length,
    bold: document.querySelectorAll('b').length,
    handlers: document.querySelectorAll('[onerror],[onload],[onmouseover],[onclick]').length,
    cellElements: document.querySelectorAll('td script, td img, dd script, dd img, li script, li img').length,
  }));
  eq(found.xss, null, `${where}: window.__xss never set`);
  eq(found.scripts, ['/static/app.js'], `${where}: the only script element is /static/app.js`);
  eq(found.imgs, 0, `${where}: no <img> element`);
  eq(found.bold, 0, `${where}: no <b> element`);
  eq(found.handlers, 0, `${where}: no element with an inline event handler`);
  eq(found.cellElements, 0, `${where}: no script/img inside cells`);
}

// ---------------------------------------------------------------- scenarios

const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });

scenario('a. search page lists messages, times in the browser zone', async ({ page }) => {
  const res = await goto(page, '/');
  matches(res.headers()['content-security-policy'], /script-src 'self'/, 'CSP header');
  ok(!/unsafe-inline/.test(res.headers()['content-security-policy']), "CSP has no 'unsafe-inline'");
  const api = await apiJson(page, '/api/v1/messages?limit=1000');
  ok(api.total >= 40, `the store holds the harness messages (${api.total})`);
  const { ids, total } = await shownResults(page);
  eq(ids.length, Math.min(api.total, 50), 'rows on the first page (default page size 50)');
  eq(ids, api.messages.slice(0, 50).map((m) => m.id), 'rows are the API messages, newest first');
  matches(total, new RegExp(`^1\\D+${ids.length} of ${api.total} messages?$`), '#total');
  eq((await page.locator('#tz-name').textContent()).trim(), ZONE, '#tz-name shows the browser zone');
  eq(await page.locator('#tz').inputValue(), ZONE, 'hidden #tz carries the browser zone');

  const cells = await page.locator('table#results tr.msg td.c-time time.ts').evaluateAll((ts) =>
    ts.map((t) => ({ datetime: t.getAttribute('datetime'), title: t.title, text: t.textContent })),
  );
  eq(cells.length, ids.length, 'every row has a time.ts');
  for (const c of cells) {
    assert.equal(c.title, utcText(c.datetime), `title of ${c.datetime} is its UTC time`);
    assert.equal(c.text, wallClock(c.datetime, ZONE), `text of ${c.datetime} is its ${ZONE} time`);
    const shift = (Date.parse(`${c.text.replace(' ', 'T')}Z`) - Date.parse(c.datetime)) / 60000;
    assert.equal(shift, offsetMinutes(c.datetime, ZONE), `${c.datetime}: shift equals the zone offset`);
    assert.notEqual(shift, 0);
  }
  const first = cells[0];
  console.log(`  ✓ all ${cells.length} time cells: UTC in title, ${ZONE} in text (e.g. ${first.title} → ${first.text})`);
  eq(
    wallClock(first.datetime, ZONE).slice(0, 16) !== first.title.slice(0, 16),
    true,
    'the shown local time differs from the UTC time',
  );
});

scenario('b. search by recipient, bookmarkable URL', async ({ page, context }) => {
  await goto(page, '/');
  await page.fill('#to', 'rcpt17@later.test');
  await submit(page);
  const url = new URL(page.url());
  matches(url.search, /(^\?|&)to=rcpt17%40later\.test(&|$)/, 'URL holds the recipient');
  eq(url.searchParams.get('tz'), ZONE, 'URL holds the browser zone');
  eq(
    [...url.searchParams.keys()].sort(),
    ['to', 'tz'],
    'empty fields and the default page size are left out of the URL',
  );
  eq(await page.inputValue('#to'), 'rcpt17@later.test', '#to keeps the typed value');
  eq((await page.locator('#total').textContent()).trim(), '1 message', '#total');
  const rows = page.locator('table#results tr.msg');
  eq(await rows.count(), 1, 'exactly one row');
  eq((await rows.locator('td.c-to').textContent()).trim(), 'rcpt17@later.test', 'To cell');
  eq((await rows.locator('td.c-from').textContent()).trim(), 's17@ok.test', 'From cell');
  const badge = rows.locator('td.c-status span.badge');
  eq((await badge.textContent()).trim(), 'delivered', 'status badge text');
  eq(await badge.getAttribute('class'), 'badge st-delivered', 'status badge class');
  const api = await apiJson(page, '/api/v1/messages?to=rcpt17%40later.test');
  eq(await rows.getAttribute('data-id'), api.messages[0].id, 'the row is the API match');

  // The URL alone reproduces the search (a bookmark, in a new tab).
  const again = await context.newPage();
  const res = await again.goto(page.url(), { waitUntil: 'load', timeout: TIMEOUT });
  eq(res.status(), 200, 'bookmarked URL loads');
  eq(await again.locator('table#results tr.msg').count(), 1, 'bookmarked URL shows the same one row');
  eq(await again.inputValue('#to'), 'rcpt17@later.test', 'bookmarked URL fills #to');
  await again.close();
});

scenario('c. message page: recipients, timeline, highlighted raw log', async ({ page }) => {
  await goto(page, '/?to=rcpt17%40later.test');
  await Promise.all([
    page.waitForURL(/\/message\/\d+$/, { timeout: TIMEOUT }),
    page.click('table#results tr.msg a.msg-link'),
  ]);
  const id = new URL(page.url()).pathname.split('/').pop();
  console.log(`  message page ${page.url()}`);
  eq((await page.locator('#info-message-id').textContent()).trim(), '<case17@harness.test>', '#info-message-id');
  eq((await page.locator('#info-from').textContent()).trim(), 's17@ok.test', '#info-from');
  eq((await page.locator('#info-to').textContent()).trim(), 'rcpt17@later.test', '#info-to');
  eq(
    (await page.locator('#info-subject').textContent()).trim(),
    'case 17: greylisted first, delivered later',
    '#info-subject',
  );

  const rcpt = page.locator('table#recipients tr.rcpt');
  eq(await rcpt.count(), 1, 'one recipient row');
  const cells = await rcpt.locator(':scope > td').allTextContents();
  eq(cells[0].trim(), 'rcpt17@later.test', 'recipient address');
  eq((await rcpt.locator('span.badge').textContent()).trim(), 'delivered', 'recipient status');
  eq(cells[2].trim(), '2.0.0', 'recipient dsn');
  const attempts = Number.parseInt(cells[7].trim(), 10);
  ok(attempts > 1, `more than one delivery attempt (${attempts})`);
  await rcpt.locator('details summary').click();
  const history = await texts(rcpt.locator('ol.attempts > li'));
  eq(history.length, attempts, 'history lists every attempt');
  matches(history[0], /deferred 4\.7\.1 .*Greylisted/, 'first attempt');
  matches(history[history.length - 1], /sent 2\.0\.0 .*250 2\.0\.0 Ok/, 'last attempt');

  const kinds = await page
    .locator('table#timeline tr.event')
    .evaluateAll((rows) => rows.map((r) => [...r.classList].find((c) => c.startsWith('ev-'))));
  ok(kinds.includes('ev-deferred'), 'timeline has a deferred event', kinds.join(' '));
  ok(kinds.includes('ev-sent'), 'timeline has a sent event', kinds.join(' '));
  ok(kinds.indexOf('ev-deferred') < kinds.indexOf('ev-sent'), 'deferred comes before sent');
  const eventTimes = await page
    .locator('table#timeline tr.event time.ts')
    .evaluateAll((ts) => ts.map((t) => t.getAttribute('datetime')));
  eq([...eventTimes].sort(), eventTimes, 'timeline is in time order');

  const lines = page.locator('details#log ol.log > li');
  const summary = (await page.locator('details#log > summary').textContent()).trim();
  ok(!(await lines.first().isVisible()), 'raw log hidden before "Show log"');
  await page.click('details#log > summary');
  await lines.first().waitFor({ state: 'visible', timeout: TIMEOUT });
  const n = await lines.count();
  eq(summary, `Show log (${n} lines)`, 'summary counts the lines');
  ok(await lines.last().isVisible(), 'raw log lines visible after "Show log"');
  const raw = await texts(lines);
  ok(raw.some((l) => l.includes('status=deferred')), 'a log line has status=deferred');
  ok(raw.some((l) => l.includes('status=sent')), 'a log line has status=sent');
  const api = await apiJson(page, `/api/v1/messages/${id}/raw`);
  eq(raw, api.lines.map((l) => l.text), 'log lines equal the API raw lines');
  eq(
    await lines.evaluateAll((ls) => ls.map((l) => Number(l.getAttribute('value')))),
    api.lines.map((l) => l.no),
    'log lines are numbered with their line numbers',
  );

  const sent = page.locator('ol.log > li.accepted-sent');
  const queued = page.locator('ol.log > li.accepted-queued');
  eq(await sent.count(), 1, 'one accepted-sent line');
  eq(await queued.count(), 1, 'one accepted-queued line');
  matches(await sent.textContent(), /postfix\/smtp\[\d+\]: \w+: to=<rcpt17@later\.test>.* status=sent /, 'accepted-sent line');
  matches(await queued.textContent(), /postfix\/qmgr\[\d+\]: \w+: from=<s17@ok\.test>/, 'accepted-queued line');
  eq(
    api.lines.filter((l) => l.accepted).map((l) => [l.accepted, l.text]),
    [
      ['queued', await queued.textContent()],
      ['sent', await sent.textContent()],
    ],
    'the highlighted lines are those the API marks',
  );
  const bg = (loc) => loc.evaluate((el) => getComputedStyle(el).backgroundColor);
  const plain = await bg(page.locator('ol.log > li.line:not(.accepted)').first());
  const sentBg = await bg(sent);
  const queuedBg = await bg(queued);
  const transparent = /^(transparent|rgba\(0, 0, 0, 0\))$/;
  ok(!transparent.test(sentBg) && sentBg !== plain, `accepted-sent is highlighted (${sentBg} vs ${plain})`);
  ok(!transparent.test(queuedBg) && queuedBg !== plain, `accepted-queued is highlighted (${queuedBg} vs ${plain})`);
  ok(sentBg !== queuedBg, 'the two kinds of acceptance look different');
});

scenario('c2. linked messages: a bounce and its notification', async ({ page }) => {
  await goto(page, `/?message_id=${encodeURIComponent('<case09@harness.test>')}`);
  eq(await page.locator('table#results tr.msg').count(), 1, 'one message with <case09@harness.test>');
  await Promise.all([page.waitForURL(/\/message\/\d+$/), page.click('tr.msg a.msg-link')]);
  const original = new URL(page.url()).pathname;
  eq((await page.locator('h1 span.badge').textContent()).trim(), 'bounced', 'message status');
  const link = page.locator('#info a.related');
  eq(await link.count(), 1, 'one related message');
  matches(await link.locator('xpath=..').textContent(), /delivery status notification/, 'related link says what it is');
  await Promise.all([page.waitForURL(/\/message\/\d+$/), link.click()]);
  ok(new URL(page.url()).pathname !== original, 'followed the link to another message');
  eq((await page.locator('#info-from').textContent()).trim(), '<>', 'the notification has the null sender');
  eq((await page.locator('#info-to').textContent()).trim(), 's09@ok.test', 'the notification goes to the sender');
  const back = page.locator('#info a.related');
  eq(await back.count(), 1, 'the notification links back');
  eq(await back.getAttribute('href'), original, 'the link back points at the bounced message');
});

scenario('d. choice of columns, remembered across reloads', async ({ page }) => {
  await goto(page, '/?to=%40ok.test');
  const th = (c) => page.locator(`table#results th[data-col=${c}]`);
  const tds = (c) => page.locator(`table#results tr.msg td.c-${c}`);
  const box = (c) => page.locator(`#show-fields input[name=col][value=${c}]`);
  const rows = await page.locator('table#results tr.msg').count();
  ok(rows > 1, `several rows (${rows})`);
  ok(await th('subject').isVisible(), 'Subject shown by default');
  ok(!(await th('message_id').isVisible()), 'Message-ID hidden by default');
  ok(!(await tds('message_id').first().isVisible()), 'Message-ID cells hidden by default');

  await page.click('#show-fields > summary');
  await box('subject').uncheck();
  await box('message_id').check();
  await th('subject').waitFor({ state: 'hidden', timeout: TIMEOUT });
  await th('message_id').waitFor({ state: 'visible', timeout: TIMEOUT });
  const visible = (loc) => loc.evaluateAll((els) => els.map((e) => e.checkVisibility()));
  eq(await visible(tds('subject')), Array(rows).fill(false), 'every Subject cell hidden');
  eq(await visible(tds('message_id')), Array(rows).fill(true), 'every Message-ID cell shown');
  matches(await tds('message_id').first().textContent(), /^<[^<>]+@[^<>]+>$/, 'Message-ID cell');
  const stored = JSON.parse(await page.evaluate(() => localStorage.getItem('mailtrace.columns')));
  ok(stored.includes('message_id') && !stored.includes('subject'), 'choice stored in localStorage', show(stored));

  await page.reload({ waitUntil: 'load', timeout: TIMEOUT });
  ok(!(await th('subject').isVisible()), 'after reload: Subject still hidden');
  ok(await th('message_id').isVisible(), 'after reload: Message-ID still shown');
  eq(await visible(tds('subject')), Array(rows).fill(false), 'after reload: every Subject cell hidden');
  eq(await box('subject').isChecked(), false, 'after reload: subject box unchecked');
  eq(await box('message_id').isChecked(), true, 'after reload: message_id box checked');

  await goto(page, '/?to=rcpt17%40later.test');
  ok(!(await th('subject').isVisible()) && (await th('message_id').isVisible()), 'another search: same columns');
  eq((await tds('message_id').textContent()).trim(), '<case17@harness.test>', 'Message-ID cell of case17');

  await page.click('#show-fields > summary');
  await box('subject').check();
  await th('subject').waitFor({ state: 'visible', timeout: TIMEOUT });
  ok(await tds('subject').isVisible(), 'Subject shown again when re-checked');
});

scenario('e. CSV download equals the search', async ({ page }) => {
  await goto(page, '/');
  await page.fill('#to', '@later.test');
  await submit(page);
  const href = await page.getAttribute('a#download-csv', 'href');
  matches(href, /^\/api\/v1\/export\.csv\?.*to=%40later\.test/, 'CSV link carries the search');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: TIMEOUT }),
    page.click('a#download-csv'),
  ]);
  eq(download.suggestedFilename(), 'mailtrace-export.csv', 'download file name');
  const file = await download.path();
  const rows = parseCsv(await readFile(file, 'utf8'));
  const header = rows.shift();
  eq(header.slice(0, 3), ['received_at', 'server', 'queue_id'], 'CSV header starts');
  const col = Object.fromEntries(header.map((h, i) => [h, i]));
  for (const h of ['message_id', 'sender', 'subject', 'recipient', 'recipient_status', 'dsn', 'last_attempt_at']) {
    ok(h in col, `CSV has column ${h}`);
  }
  ok(rows.every((r) => r.length === header.length), 'every CSV row has every column');

  const api = await apiJson(page, '/api/v1/messages?to=%40later.test&limit=1000');
  const expected = api.messages.flatMap((m) =>
    m.recipients.map((r) => [m.received_at, m.queue_id, m.message_id, m.sender, r.address, r.status, r.dsn ?? '']),
  );
  const got = rows.map((r) =>
    ['received_at', 'queue_id', 'message_id', 'sender', 'recipient', 'recipient_status', 'dsn'].map((h) => r[col[h]]),
  );
  ok(expected.length >= 3, `the API has recipients for @later.test (${expected.length})`);
  eq(got, expected, 'CSV rows equal the API messages × recipients, in order');
  ok(
    rows.every((r) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(r[col.received_at])),
    'received_at in UTC (ends with Z)',
  );
  ok(
    rows.every((r) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(r[col.last_attempt_at])),
    'last_attempt_at in UTC (ends with Z)',
  );
  const pageIds = (await shownResults(page)).ids;
  eq(pageIds, api.messages.map((m) => m.id), 'the page shows the same messages');
  const pageTo = (await texts(page.locator('table#results tr.msg td.c-to'))).join(' ');
  for (const r of got) ok(pageTo.includes(r[4]), `page To cells include ${r[4]}`);

  // The whole store (no criteria): every message, one row per recipient (one if it has none),
  // hostile text intact through CSV quoting.
  await goto(page, '/');
  const [all] = await Promise.all([page.waitForEvent('download'), page.click('a#download-csv')]);
  const allRows = parseCsv(await readFile(await all.path(), 'utf8'));
  eq(allRows.shift(), header, 'same header for the whole store');
  const everything = await apiJson(page, '/api/v1/messages?limit=1000');
  eq(
    allRows.length,
    everything.messages.reduce((n, m) => n + Math.max(1, m.recipients.length), 0),
    'whole-store CSV has a row per recipient',
  );
  eq(
    [...new Set(allRows.map((r) => r[col.queue_id]))].length,
    new Set(everything.messages.map((m) => m.queue_id)).size,
    'whole-store CSV covers every queue id',
  );
  eq(
    allRows.map((r) => r[col.sender]),
    everything.messages.flatMap((m) =>
      Array(Math.max(1, m.recipients.length)).fill(defused(m.sender === '' ? '<>' : m.sender)),
    ),
    'senders (null sender as <>)',
  );
  const xss = allRows.filter((r) => r[col.subject] === XSS_SUBJECT);
  eq(xss.length, 1, 'the hostile subject survives CSV quoting literally');
  const bold = allRows.filter((r) => r[col.sender] === BOLD_SENDER);
  eq(bold.map((r) => r[col.recipient]), [ATTR_RCPT], 'the quoted sender and recipient survive CSV quoting');
});

scenario('f. hostile log content is shown as text, never run', async ({ page }) => {
  // Search for it through the form: the hostile string is also reflected into the form.
  await goto(page, '/');
  await page.fill('#subject', '<script>window.__xss=1');
  await submit(page);
  eq(await page.inputValue('#subject'), '<script>window.__xss=1', '#subject keeps the typed text');
  const rows = page.locator('table#results tr.msg');
  eq(await rows.count(), 1, 'one message with that subject');
  const cell = rows.locator('td.c-subject');
  eq(await cell.textContent(), XSS_SUBJECT, 'subject cell text is the literal subject');
  eq(
    await cell.evaluate((td) => [...td.querySelectorAll('*')].map((e) => e.tagName + ':' + (e.getAttribute('href') || '')).join(' ')),
    await cell.evaluate((td) => 'A:' + td.closest('tr').querySelector('a.msg-link').getAttribute('href')),
    'subject cell holds only the link to its message',
  );
  await assertNoInjection(page, 'search page');

  await Promise.all([page.waitForURL(/\/message\/\d+$/), rows.locator('a.msg-link').click()]);
  eq(await page.locator('#info-subject').textContent(), XSS_SUBJECT, '#info-subject is the literal subject');
  eq(await page.locator('#info-subject').evaluate((dd) => dd.childElementCount), 0, '#info-subject holds no element');
  eq((await page.locator('#info-from').textContent()).trim(), 'xss@ok.test', '#info-from');
  await page.click('details#log > summary');
  const logText = await texts(page.locator('ol.log > li'));
  ok(
    logText.some((l) => l.includes(`info: header Subject: ${XSS_SUBJECT} from localhost`)),
    'the raw header_checks line shows the subject literally',
  );
  const events = await texts(page.locator('table#timeline tr.event td:last-child'));
  ok(events.some((t) => t.includes(XSS_SUBJECT)), 'the timeline shows the subject literally');
  await assertNoInjection(page, 'message page');

  // Quoted addresses with markup and an attribute break.
  await goto(page, '/');
  await page.fill('#from', BOLD_SENDER);
  await submit(page);
  eq(new URL(page.url()).searchParams.get('from'), BOLD_SENDER, 'URL carries the quoted sender');
  eq(await page.inputValue('#from'), BOLD_SENDER, '#from keeps the quoted sender');
  const row = page.locator('table#results tr.msg');
  eq(await row.count(), 1, 'one message from the quoted sender');
  eq(await row.locator('td.c-from').textContent(), BOLD_SENDER, 'From cell is literal');
  eq(await row.locator('td.c-to').textContent(), ATTR_RCPT, 'To cell is literal');
  await row.locator('td.c-to').hover();
  await row.locator('td.c-from').hover();
  await assertNoInjection(page, 'search page (addresses)');
  await Promise.all([page.waitForURL(/\/message\/\d+$/), row.locator('a.msg-link').click()]);
  eq(await page.locator('#info-from').textContent(), BOLD_SENDER, '#info-from is literal');
  eq(await page.locator('#info-to').textContent(), ATTR_RCPT, '#info-to is literal');
  eq(
    (await page.locator('table#recipients tr.rcpt > td').first().textContent()).trim(),
    ATTR_RCPT,
    'recipient cell is literal',
  );
  await page.locator('#info-to').hover();
  await assertNoInjection(page, 'message page (addresses)');
});

scenario('g. a bad filter is a 400 naming the field', async ({ page }) => {
  await goto(page, '/?since=garbage', 400);
  const err = page.locator('#error');
  ok(await err.isVisible(), '#error is shown');
  eq(await err.getAttribute('data-field'), 'since', '#error names the field');
  matches(await err.textContent(), /since/, '#error text names the field');
  eq(await page.locator('table#results').count(), 0, 'no results table');
  ok(await page.locator('form#search').isVisible(), 'the form is still there');

  await goto(page, '/?bogus=1', 400);
  eq(await page.getAttribute('#error', 'data-field'), 'bogus', 'unknown parameter named');
  await goto(page, '/?limit=5000', 400);
  eq(await page.getAttribute('#error', 'data-field'), 'limit', 'page size out of range named');

  const res = await page.request.get(`${BASE}/api/v1/messages?since=garbage`, { timeout: TIMEOUT });
  eq(res.status(), 400, 'API: HTTP 400');
  eq((await res.json()).error.field, 'since', 'API: error names the field');
});

scenario('h. paging and page size', async ({ page }) => {
  const api = await apiJson(page, '/api/v1/messages?limit=1000');
  await goto(page, '/');
  await page.selectOption('#limit', '20');
  await submit(page);
  eq(new URL(page.url()).searchParams.get('limit'), '20', 'URL holds the page size');
  const seen = [];
  let n = 1;
  for (;;) {
    const { ids, total } = await shownResults(page);
    const first = (n - 1) * 20 + 1;
    const last = Math.min(n * 20, api.total);
    eq(total, `${first}–${last} of ${api.total} messages`, `#total on page ${n}`);
    eq(ids, api.messages.slice(first - 1, last).map((m) => m.id), `rows of page ${n}`);
    eq(await page.locator('#prev').count(), n > 1 ? 1 : 0, `#prev on page ${n}`);
    seen.push(...ids);
    if ((await page.locator('#next').count()) === 0) break;
    ok(n < 10, 'fewer than 10 pages');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT }), page.click('#next')]);
    n += 1;
    eq(new URL(page.url()).searchParams.get('page'), String(n), `URL holds page=${n}`);
    eq(await page.inputValue('#limit'), '20', `page size kept on page ${n}`);
  }
  eq(seen, api.messages.map((m) => m.id), 'the pages together list every message once, in order');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT }), page.click('#prev')]);
  eq(new URL(page.url()).searchParams.get('page'), String(n - 1), '#prev goes back one page');
});

scenario('i. custom date range typed in the browser zone', async ({ page }) => {
  const api17 = await apiJson(page, '/api/v1/messages?to=rcpt17%40later.test');
  const at = api17.messages[0].received_at;
  const next = new Date(Date.parse(at) + 1000).toISOString().replace('.000Z', 'Z');
  const expected = await apiJson(page, `/api/v1/messages?since=${at}&until=${next}&limit=1000`);
  ok(expected.messages.some((m) => m.message_id === '<case17@harness.test>'), `the API finds case17 in [${at}, ${next})`);

  await goto(page, '/');
  ok(await page.locator('#since').isDisabled(), '#since disabled unless "Custom"');
  ok(!(await page.locator('#since').isVisible()), '#since hidden unless "Custom"');
  await page.selectOption('#when', 'custom');
  ok(await page.locator('#since').isEnabled(), '#since enabled with "Custom"');
  ok(await page.locator('#since').isVisible(), '#since shown with "Custom"');
  const local = (iso) => wallClock(iso, ZONE).replace(' ', 'T');
  await page.fill('#since', local(at));
  await page.fill('#until', local(next));
  console.log(`  typed ${local(at)} – ${local(next)} (${ZONE}) for ${at} – ${next}`);
  await submit(page);
  const url = new URL(page.url());
  eq(url.searchParams.get('since'), local(at), 'URL holds the local since');
  eq(url.searchParams.get('tz'), ZONE, 'URL holds the zone it means');
  eq((await shownResults(page)).ids, expected.messages.map((m) => m.id), 'the page finds what the API finds in UTC');
  eq(await page.inputValue('#when'), 'custom', '"Custom" stays selected');
  eq(await page.inputValue('#since'), local(at), '#since keeps the typed time');
});

scenario('j. navigation: rows open messages, back returns to the search, dates keep their zone', async ({ page }) => {
  // A whole row opens its message even with the Time column hidden; "Search" goes back to it.
  await goto(page, '/?to=%40later.test');
  const search = new URL(page.url());
  const first = page.locator('table#results tr.msg').first();
  const id = await first.getAttribute('data-id');
  await Promise.all([page.waitForURL(new RegExp(`/message/${id}$`), { timeout: TIMEOUT }), first.locator('td.c-to').click()]);
  eq(await page.getAttribute('#back', 'href'), search.pathname + search.search, '#back leads to the search');
  await Promise.all([page.waitForURL((u) => u.search === search.search, { timeout: TIMEOUT }), page.click('#back')]);

  // A bookmarked range in UTC (no tz) means the same messages after pressing Search again.
  const api = await apiJson(page, '/api/v1/messages?since=2026-11-24T18:43:34Z&limit=1000');
  await goto(page, '/?since=2026-11-24T18:43:34Z');
  eq(await page.inputValue('#when'), 'custom', 'a date range is shown as "Custom"');
  eq(await page.inputValue('#since'), '2026-11-24T18:43:34', '#since shows the date in the zone of the request');
  eq(await page.inputValue('#tz'), 'UTC', 'the form keeps the zone of its dates');
  eq((await shownResults(page)).ids, api.messages.slice(0, 50).map((m) => m.id), 'the bookmarked range');
  await submit(page);
  eq((await shownResults(page)).ids, api.messages.slice(0, 50).map((m) => m.id), 'the same range after submitting again');

  // A bad date stays visible, in an enabled field.
  await goto(page, '/?since=garbage', 400);
  ok(await page.locator('#since').isVisible(), 'the field at fault is shown');
  eq(await page.inputValue('#since'), 'garbage', 'with the bad value');
});

scenario('k. statistics page: SVG charts with one bar per period and ranking row', async ({ page }) => {
  // The period of the data set, whatever year the log was given when ingested.
  const newest = (await apiJson(page, '/api/v1/messages?limit=1')).messages[0].received_at;
  const day = newest.slice(0, 10);
  const next = new Date(Date.parse(day + 'T00:00:00Z') + 86400000).toISOString().slice(0, 10);
  const q = `since=${day}&until=${next}&tz=UTC`;
  const report = await apiJson(page, `/api/v1/report?${q}&top=15`);
  ok(report.totals.received > 0, `the report counts received messages (${report.totals.received})`);
  await goto(page, `/stats?${q}`);
  eq(new URL(page.url()).searchParams.get('tz'), 'UTC', 'an explicit zone is kept');
  const count = (id) => page.locator(`svg#${id} g.bar`).count();
  eq(await count('chart-hours'), 24, '24 hour columns');
  eq(await count('chart-weekdays'), 7, '7 weekday columns');
  eq(await count('chart-days-of-month'), 31, '31 day-of-month columns');
  eq(await count('chart-destinations'), report.destination_domains.length, 'one bar per destination domain');
  eq(await count('chart-senders'), report.top_senders.length, 'one bar per top sender');
  eq(await count('chart-codes'), report.smtp_codes.length, 'one bar per SMTP code');
  eq(await count('chart-rejects'), report.reject_classes.length, 'one bar per reject class');
  eq(await count('chart-delays'), report.delays.histogram.length, 'one column per delay bucket');
  const hour = report.per_hour.findIndex((h) => h.delivered > 0);
  const want = ['delivered', 'deferred', 'bounced', 'rejected'].reduce((a, k) => a + report.per_hour[hour][k], 0);
  eq(await page.locator(`svg#chart-hours g.bar[data-label="${report.per_hour[hour].period}"]`).getAttribute('data-value'), String(want), `hour ${hour} column value`);
  const box = await page.locator('svg#chart-hours g.bar[data-label="' + report.per_hour[hour].period + '"] rect').first().boundingBox();
  ok(box && box.height > 0 && box.width > 0, 'the busy hour column is drawn');
  ok(await page.locator('svg#chart-hours text.axis-title', { hasText: 'hour of day' }).count() === 1, 'x axis title');
  ok(await page.locator('svg#chart-hours text.axis-title', { hasText: 'messages' }).count() === 1, 'y axis title with its unit');
  eq((await page.locator('#t-received').textContent()).trim(), String(report.totals.received), 'received total');
  // The filter form narrows the charts: a sender domain with one sender.
  await page.selectOption('#from', '@monitor.example');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT }), page.click('#stats-submit')]);
  eq(await count('chart-senders'), 1, 'one sender for @monitor.example');
  eq(await page.locator('svg#chart-senders g.bar').getAttribute('data-label'), 'alerts@monitor.example', 'that sender');
});

// Last (l and m): they add messages to the store.
scenario('l. live page: a message ingested after the page opened appears without a reload', async ({ page }) => {
  const bin = process.env.MAILTRACE_BIN;
  const db = process.env.MAILTRACE_DB;
  const late = process.env.MAILTRACE_LATE_LOG;
  ok(bin && db && late, 'MAILTRACE_BIN, MAILTRACE_DB and MAILTRACE_LATE_LOG are set');
  const text = readFileSync(late, 'utf8');
  const qid = (text.match(/postfix\/smtpd\[\d+\]: ([0-9A-F]{6,}): client=/) || [])[1];
  ok(qid, `a queue id of the late log (${qid})`);
  await goto(page, '/live');
  await page.evaluate(() => { window.__notReloaded = true; });
  const before = await page.locator('#live tr.msg').count();
  ok(before > 0, `the live page lists messages (${before})`);
  eq(await page.locator('#live td.c-queue_id', { hasText: qid }).count(), 0, `${qid} is not listed yet`);
  const ingest = spawnSync(bin, ['--db', db, 'ingest', '--quiet', late], { encoding: 'utf8', timeout: 60000 });
  eq(ingest.status, 0, `mailtrace ingest of the late log: ${ingest.stderr}`);
  await page.locator('#live td.c-queue_id', { hasText: qid }).first().waitFor({ timeout: TIMEOUT });
  ok(await page.evaluate(() => window.__notReloaded === true), 'the page was updated in place, not reloaded');
  const row = page.locator('#live tr.msg', { has: page.locator('td.c-queue_id', { hasText: qid }) }).first();
  matches(await row.locator('a.msg-link').getAttribute('href'), /^\/message\/-?\d+$/, 'the new row links to its message');
  ok((await page.locator('#live tr.msg').count()) > before, 'more rows than before');
  matches(await page.locator('#live-updated').textContent(), /^updated \d\d:\d\d:\d\d$/, 'the page says when it was updated');
  eq(await page.getAttribute('#list-today', 'href'), '/?when=today', 'a link to today\'s list');
  eq(await page.getAttribute('#list-7d', 'href'), '/?when=7d', 'a link to the last 7 days');
});

/** One delivered Postfix message as syslog lines of `host` (a server of the store). */
function postfixMessage({ host, at, qid, n }) {
  const pid = 31000 + n * 10;
  const line = (prog, p, text) => `${at} ${host} postfix/${prog}[${p}]: ${text}`;
  return [
    line('smtpd', pid, 'connect from localhost[127.0.0.1]'),
    line('smtpd', pid, `${qid}: client=localhost[127.0.0.1]`),
    line('cleanup', pid + 1, `${qid}: message-id=<live${n}@servers.test>`),
    line('qmgr', pid + 2, `${qid}: from=<s${n}@servers.test>, size=400, nrcpt=1 (queue active)`),
    line('smtp', pid + 3, `${qid}: to=<r${n}@ok.test>, relay=127.0.0.1[127.0.0.1]:25, delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)`),
    line('qmgr', pid + 2, `${qid}: removed`),
    line('smtpd', pid, 'disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5'),
  ].join('\n');
}

scenario('m. live page of one server: the polling keeps the server, the pick list switches it', async ({ page }) => {
  const bin = process.env.MAILTRACE_BIN;
  const db = process.env.MAILTRACE_DB;
  ok(bin && db, 'MAILTRACE_BIN and MAILTRACE_DB are set');
  // A second server with markup in its name (syslog host names come from the network), at the
  // day of the newest log (hostile.log, Dec 04), so that the year is read the same way.
  const EDGE = 'edge<b>2</b>';
  const dir = mkdtempSync(join(tmpdir(), 'mailtrace-e2e-'));
  const ingest = (name, messages) => {
    const file = join(dir, name);
    writeFileSync(file, `${messages.map(postfixMessage).join('\n')}\n`);
    const r = spawnSync(bin, ['--db', db, 'ingest', '--quiet', file], { encoding: 'utf8', timeout: 60000 });
    eq(r.status, 0, `mailtrace ingest of ${name}${r.status === 0 ? '' : `: ${r.stderr}`}`);
  };
  try {
    ingest('edge-1.log', [{ host: EDGE, at: 'Dec 04 15:38:00', qid: 'E1E1E1E1E01', n: 1 }]);
    const edgeApi = await apiJson(page, `/api/v1/messages?${new URLSearchParams({ server: EDGE })}`);
    eq(edgeApi.messages.map((m) => m.queue_id), ['E1E1E1E1E01'], `the store has a message of ${EDGE}`);

    // Every request the page makes to the message list, and every server shown in a row.
    const polls = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname === '/api/v1/messages') polls.push(u);
    });
    await goto(page, '/live?server=mx');
    await page.evaluate(() => {
      window.__notReloaded = true;
      window.__servers = [];
      const body = document.querySelector('#live tbody');
      const note = () => body.querySelectorAll('td.c-server').forEach((td) => window.__servers.push(td.textContent));
      note();
      new MutationObserver(note).observe(body, { childList: true, subtree: true, characterData: true });
    });
    const servers = () => page.locator('#live tr.msg td.c-server').allTextContents();
    const first = await servers();
    ok(first.length > 0, `the page lists messages of mx (${first.length})`);
    eq([...new Set(first)], ['mx'], 'only mx in the rows');
    eq(await page.locator('#live td.c-queue_id', { hasText: 'E1E1E1E1E01' }).count(), 0, `no row of ${EDGE}`);
    eq(await page.inputValue('#live-server'), 'mx', 'the pick list shows mx');
    const options = await page.locator('#live-server option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
    eq(options[0], ['', 'All servers'], '"All servers" comes first');
    ok(options.some(([v, t]) => v === 'mx' && t === 'mx'), 'the pick list names mx', show(options));

    // More mail on both servers while the page is open: only mx's appears.
    ingest('both-2.log', [
      { host: EDGE, at: 'Dec 04 15:39:00', qid: 'E1E1E1E1E02', n: 2 },
      { host: 'mx', at: 'Dec 04 15:39:30', qid: 'F1F1F1F1F03', n: 3 },
    ]);
    await page.locator('#live td.c-queue_id', { hasText: 'F1F1F1F1F03' }).first().waitFor({ timeout: TIMEOUT });
    // One more round of polling after the new row, for an edge row that came late.
    await page.evaluate(() => { document.getElementById('live-updated').textContent = ''; });
    await page.locator('#live-updated', { hasText: /^updated / }).waitFor({ timeout: TIMEOUT });
    ok(await page.evaluate(() => window.__notReloaded === true), 'the page was updated in place, not reloaded');
    eq([...new Set(await servers())], ['mx'], 'after the updates, still only mx in the rows');
    eq([...new Set(await page.evaluate(() => window.__servers))], ['mx'], `no row of another server ever appeared (${EDGE} neither)`);
    const api = await apiJson(page, '/api/v1/messages?server=mx&limit=100');
    eq(
      await page.locator('#live tr.msg').evaluateAll((rows) => rows.map((r) => r.dataset.id)),
      api.messages.map((m) => m.id),
      'the rows are the newest 100 of mx, as the API lists them',
    );
    eq((await page.locator('#live-total').textContent()).trim(), String(api.total), 'the count is that of mx');
    ok(polls.length >= 2, `the page polled the API (${polls.length} requests)`);
    eq(
      [...new Set(polls.map((u) => `${u.searchParams.get('server')} ${u.searchParams.get('limit')}`))],
      ['mx 100'],
      'every poll asks for server=mx, limit=100',
    );

    // The pick list: "All servers" is /live, where both servers show (the name literally).
    await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT }), page.selectOption('#live-server', '')]);
    eq(new URL(page.url()).pathname + new URL(page.url()).search, '/live', '"All servers" goes to /live');
    const edgeRow = page.locator('#live tr.msg', { has: page.locator('td.c-queue_id', { hasText: 'E1E1E1E1E02' }) });
    eq(await edgeRow.locator('td.c-server').textContent(), EDGE, `the row of ${EDGE} names it literally`);
    await page.evaluate(() => { document.getElementById('live-updated').textContent = ''; });
    await page.locator('#live-updated', { hasText: /^updated / }).waitFor({ timeout: TIMEOUT });
    eq(await edgeRow.locator('td.c-server').textContent(), EDGE, `after polling too`);
    await assertNoInjection(page, 'live page (all servers)');

    // The other server, named in the URL; then back to mx with the pick list.
    await goto(page, `/live?${new URLSearchParams({ server: EDGE })}`);
    eq(await page.inputValue('#live-server'), EDGE, `the pick list shows ${EDGE}`);
    eq(await page.locator('#live td.c-queue_id').allTextContents(), ['E1E1E1E1E02', 'E1E1E1E1E01'], `the messages of ${EDGE}`);
    await page.evaluate(() => { document.getElementById('live-updated').textContent = ''; });
    await page.locator('#live-updated', { hasText: /^updated / }).waitFor({ timeout: TIMEOUT });
    eq(await page.locator('#live td.c-queue_id').allTextContents(), ['E1E1E1E1E02', 'E1E1E1E1E01'], `after polling, still the messages of ${EDGE}`);
    eq([...new Set(await servers())], [EDGE], `only ${EDGE} in the rows`);
    await assertNoInjection(page, `live page of ${EDGE}`);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT }), page.selectOption('#live-server', 'mx')]);
    eq(new URL(page.url()).search, '?server=mx', 'picking mx goes to /live?server=mx');
    eq([...new Set(await servers())], ['mx'], 'only mx in the rows');

    // Without JavaScript the pick list works with its button.
    const plain = await browser.newContext({ javaScriptEnabled: false });
    try {
      const p = await plain.newPage();
      await p.goto(`${BASE}/live`, { waitUntil: 'load', timeout: TIMEOUT });
      await p.selectOption('#live-server', 'mx');
      await Promise.all([p.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT }), p.click('#live-submit')]);
      eq(new URL(p.url()).search, '?server=mx', 'without JavaScript: the button goes to /live?server=mx');
      eq([...new Set(await p.locator('#live tr.msg td.c-server').allTextContents())], ['mx'], 'without JavaScript: only mx');
    } finally {
      await plain.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- runner

async function main() {
  console.log(`mailtrace dashboard e2e: ${BASE} with ${CHROMIUM}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  console.log(`Chromium ${browser.version()}`);
  const failed = [];
  const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : null;
  for (const s of scenarios) {
    if (only && !only.test(s.name)) continue;
    console.log(`\n${s.name}`);
    const allowConsole = /^[gj]\./.test(s.name) ? /status of 400/ : undefined;
    const env = await open({ allowConsole });
    let timer;
    try {
      await Promise.race([
        s.fn(env),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`scenario took over ${SCENARIO_TIMEOUT / 1000} s`)), SCENARIO_TIMEOUT);
        }),
      ]);
      eq(env.dialogs, [], 'no dialog opened');
      eq(env.problems, [], 'no script error, no CSP violation');
    } catch (e) {
      failed.push(s.name);
      console.log(`  ✗ FAILED: ${e.stack || e}`);
      if (env.page.url()) console.log(`    at ${env.page.url()}`);
    } finally {
      clearTimeout(timer);
      await env.context.close().catch(() => {});
    }
  }
  await browser.close();
  if (failed.length > 0) {
    console.log(`\n${failed.length} scenario(s) failed:\n  ${failed.join('\n  ')}`);
    return 1;
  }
  console.log(`\nall ${scenarios.length} scenarios passed`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (e) => {
    console.error(`e2e: ${e.stack || e}`);
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  },
);
