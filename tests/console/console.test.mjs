// End-to-end test of modelgate's web console in a real browser (Debian's Chromium, driven by
// playwright-core): it starts `modelgate mock-provider` and `modelgate serve` (first start, the
// admin key read from what the node prints) on free loopback ports, then, as an operator would:
// signs in, creates a connection and a model against the mock provider, chats in the playground
// and watches the answer stream, finds the call in the usage chart and table, creates a key and
// revokes it, signs out and is refused. Beside that, the security rules: cookie flags, nothing
// in browser storage, CSRF, a read-only key that cannot write, a model whose display name is
// markup shown as text with no script run. A screenshot of each page goes to docs/console/.
//
// Plain script: the first failed check ends it with the server logs. MODELGATE_BIN names the
// binary (run.sh builds the debug one); CHROMIUM the browser (default /usr/bin/chromium).

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = process.env.MODELGATE_BIN || 'target/debug/modelgate';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = resolve(process.env.CONSOLE_SCREENSHOTS || 'docs/console');
const UPSTREAM_KEY = 'sk-mock-upstream-key';
const HOSTILE_NAME = '<img src=x onerror=alert(1)>';
const processes = [];
let current = null; // the page, for a screenshot of a failure

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
    server.on('error', fail);
  });
}

/** Starts a process; its output is kept for the failure report. */
function start(name, args) {
  // A first start without MODELGATE_BOOTSTRAP_API_KEY: the node makes the admin key and prints it.
  const env = { ...process.env, RUST_LOG: 'warn' };
  delete env.MODELGATE_BOOTSTRAP_API_KEY;
  const child = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const entry = { name, child, output: '' };
  child.stdout.on('data', (data) => { entry.output += data; });
  child.stderr.on('data', (data) => { entry.output += data; });
  processes.push(entry);
  return entry;
}

async function until(what, check, seconds = 20) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'modelgate-console-'));
  const [apiPort, runPort, mockPort] = [await freePort(), await freePort(), await freePort()];
  const api = `http://127.0.0.1:${apiPort}`;
  const run = `http://127.0.0.1:${runPort}`;
  const mock = `http://127.0.0.1:${mockPort}`;
  start('mock-provider', ['mock-provider', '--addr', `127.0.0.1:${mockPort}`]);
  const serve = start('serve', ['serve', '--api-addr', `127.0.0.1:${apiPort}`, '--run-addr', `127.0.0.1:${runPort}`,
    '--data-dir', dataDir]);
  // The admin key a first start prints once, alone on its line.
  const adminKey = await until('the admin key printed at first start',
    async () => (serve.output.match(/^\s+(mgk_\S+)\s*$/m) || [])[1]);
  await until('the control plane', async () => (await fetch(`${api}/v0/health`)).ok);
  await until('the mock provider', async () => (await fetch(`${mock}/v1/models`, { headers: { authorization: `Bearer ${UPSTREAM_KEY}` } })).status < 500);

  const adminCall = async (method, path, body) => {
    const response = await fetch(`${api}/v0${path}`, { method, headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined });
    return { status: response.status, body: await response.json().catch(() => null) };
  };

  mkdirSync(SHOTS, { recursive: true });
  // Root needs --no-sandbox; the rest keeps Chromium from calling out of an offline machine.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    const page = await context.newPage();
    current = page;
    const problems = [];
    page.on('dialog', (dialog) => { problems.push(`a dialog opened: ${dialog.message()}`); dialog.dismiss(); });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    // Refused requests the test makes on purpose are logged as failed loads; anything else
    // (a Content-Security-Policy refusal, a script error) is a problem.
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console error: ${message.text()}`);
    });
    const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`) });
    const goTo = async (path, heading) => {
      await page.click(`nav a[href="#/${path}"]`);
      await page.locator('main h1', { hasText: heading }).waitFor();
    };

    // ---- sign in ----
    await page.goto(api);
    await page.locator('input[name=apiKey]').waitFor();
    await shot('sign-in');
    await page.fill('input[name=apiKey]', 'mgk_not_a_key');
    await page.click('button[type=submit]');
    await page.locator('.notice.error', { hasText: 'not valid' }).waitFor();
    await page.fill('input[name=apiKey]', adminKey);
    await page.click('button[type=submit]');
    await page.locator('main h1', { hasText: 'Overview' }).waitFor();
    console.log('ok: signed in with the admin key printed at first start');

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'modelgate_console');
    assert.ok(session, 'a session cookie is set');
    assert.equal(session.httpOnly, true, 'HttpOnly');
    assert.equal(session.sameSite, 'Strict', 'SameSite=Strict');
    assert.equal(session.path, '/');
    assert.notEqual(session.value, adminKey, 'the cookie is not the key');
    const stored = await page.evaluate(() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)].join('|'));
    assert.ok(!stored.includes(adminKey) && !stored.includes(session.value), `nothing readable by scripts holds the key or session: ${stored}`);
    console.log('ok: HttpOnly, SameSite=Strict cookie; the key is in no cookie or browser storage');

    // ---- a connection against the mock provider ----
    await goTo('connections', 'Integration connections');
    await page.click('#new-connection');
    await page.fill('.panel input[name=name]', 'mock-openai');
    await page.selectOption('.panel select[name=integration]', 'openai');
    await page.locator('.panel input[name="secret.apiKey"]').waitFor();
    await page.fill('.panel input[name=url]', mock);
    await page.fill('.panel input[name="secret.apiKey"]', UPSTREAM_KEY);
    await page.click('.panel button[type=submit]');
    await page.locator('.notice', { hasText: 'Connection mock-openai created' }).waitFor();
    await page.locator('td', { hasText: 'apiKey ••••' }).waitFor();
    assert.ok(!(await page.content()).includes(UPSTREAM_KEY), 'the secret is never shown back');
    console.log('ok: created a connection; its secret is shown masked');

    // ---- a model, its display name hostile markup ----
    await goTo('models', 'Models');
    await page.click('#new-model');
    await page.fill('.panel input[name=name]', 'gpt-mock');
    await page.fill('.panel input[name=displayName]', HOSTILE_NAME);
    await page.selectOption('.panel select[name=type]', 'openai');
    await page.fill('.panel input[name=model]', 'gpt-4o-mini');
    await page.check('.panel input[value="mock-openai"]');
    await page.click('.panel button[type=submit]');
    await page.locator('.notice', { hasText: 'Model gpt-mock saved: DEPLOYED' }).waitFor();
    const shown = page.locator('.display-name', { hasText: HOSTILE_NAME });
    await shown.waitFor();
    assert.equal(await shown.textContent(), HOSTILE_NAME, 'the display name is shown as text');
    assert.equal(await page.locator('main img').count(), 0, 'no element was made from it');
    await shot('models');
    console.log('ok: created a model; a display name of markup renders as text');

    // ---- the playground, streamed ----
    await goTo('playground', 'Playground');
    await page.fill('#playground-model', 'gpt-mock');
    await page.fill('#playground-prompt', 'Hello there');
    await page.evaluate(() => {
      window.answerUpdates = 0;
      new MutationObserver((changes) => {
        for (const change of changes) if (change.target.closest && change.target.closest('.answer')) window.answerUpdates += 1;
      }).observe(document.getElementById('transcript'), { subtree: true, childList: true, characterData: true });
    });
    await page.click('#playground-send');
    await page.locator('.answer', { hasText: 'Hello from the mock openai provider' }).waitFor();
    await page.locator('.stats', { hasText: 'tokens' }).waitFor();
    // gpt-4o-mini is in the price catalogue: the answer's cost is shown in dollars.
    await page.locator('.stats', { hasText: /\$0\.\d{4}/ }).waitFor();
    const updates = await page.evaluate(() => window.answerUpdates);
    assert.ok(updates >= 2, `the answer arrived in pieces (${updates} updates)`);
    await shot('playground');
    console.log(`ok: chatted in the playground; the answer streamed in ${updates} updates, with tokens and latency`);

    // ---- the call in the usage chart and table ----
    await goTo('usage', 'Usage');
    await until('the call in the usage table', async () => {
      await page.click('.filters button');
      return (await page.locator('#usage-table td', { hasText: 'gpt-mock' }).count()) > 0;
    });
    const total = await page.locator('figure.chart-box').first().getAttribute('data-total');
    assert.ok(Number(total) >= 1, `the chart counts the call (${total})`);
    await shot('usage');
    await goTo('overview', 'Overview');
    await page.locator('#total-requests .value', { hasText: /^[1-9]/ }).waitFor();
    await shot('overview');
    console.log('ok: the call is in the usage chart and table, and on the overview');

    // ---- a key created and revoked ----
    await goTo('keys', 'Keys and service accounts');
    await page.locator('.new-key').first().click();
    await page.fill('.panel input[name=name]', 'e2e-key');
    await page.fill('.panel input[name=expiresIn]', '30d');
    await page.click('.panel button[type=submit]');
    const keyField = page.locator('.panel input.secret');
    await keyField.waitFor();
    const newKey = await keyField.inputValue();
    assert.match(newKey, /^mgk_/);
    const invoke = (key) => fetch(`${run}/default/models/gpt-mock/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal((await invoke(newKey)).status, 200, 'the new key calls the model');
    await page.click('.panel .close');
    const row = page.locator('tr', { hasText: 'e2e-key' });
    await row.locator('button.danger').click();
    await row.locator('button.danger', { hasText: 'Confirm' }).click();
    await page.locator('.notice', { hasText: 'Key e2e-key' }).waitFor();
    assert.equal((await invoke(newKey)).status, 401, 'the revoked key is refused');
    await page.click('#new-service-account');
    await page.fill('.panel input[name=name]', 'billing-service');
    await page.click('.panel button[type=submit]');
    await page.locator('.panel input.secret').waitFor();
    await page.click('.panel .close');
    await shot('keys');
    console.log('ok: created a key (shown once, it works), revoked it (refused after)');

    // ---- a model disabled and enabled again, its events ----
    await goTo('models', 'Models');
    const modelRow = page.locator('tr', { hasText: 'gpt-mock' });
    await modelRow.locator('button', { hasText: 'Disable' }).click();
    await page.locator('.notice', { hasText: 'Model gpt-mock disabled' }).waitFor();
    assert.equal((await invoke(adminKey)).status, 403, 'a disabled model refuses calls');
    await modelRow.locator('button', { hasText: 'Enable' }).click();
    await page.locator('.notice', { hasText: 'Model gpt-mock enabled' }).waitFor();
    assert.equal((await invoke(adminKey)).status, 200, 'enabled again');
    await modelRow.locator('button', { hasText: 'Events' }).click();
    await page.locator('.panel td', { hasText: 'DEACTIVATED' }).first().waitFor();
    await page.click('.panel .close');
    console.log('ok: disabled and enabled a model; its events list the change');

    // ---- the other pages ----
    await goTo('policies', 'Policies');
    await page.click('main .page-header button');
    await page.fill('.panel input[name=name]', 'tokens-per-minute');
    await page.fill('.panel input[name=total]', '100000');
    await page.fill('.panel input[name=requests]', '600');
    await page.click('.panel button[type=submit]');
    await page.locator('td', { hasText: 'total 100000, requests 600 per 1 minute' }).waitFor();
    await shot('policies');
    await goTo('workspaces', 'Workspaces');
    await page.click('main .page-header button');
    await page.fill('.panel input[name=name]', 'team-search');
    await page.click('.panel button[type=submit]');
    await page.locator('td', { hasText: 'team-search' }).waitFor();
    await shot('workspaces');
    await goTo('connections', 'Integration connections');
    await page.locator('td', { hasText: 'mock-openai' }).waitFor();
    await shot('connections');
    console.log('ok: policies, workspaces and connections pages');

    // ---- CSRF: the cookie alone does not write ----
    const csrfStatus = await page.evaluate(async () => (await fetch('/v0/policies/tokens-per-minute', { method: 'DELETE' })).status);
    assert.equal(csrfStatus, 403, 'a write with the cookie but without X-CSRF-Token is refused');
    console.log('ok: a write without the CSRF token is refused (403)');

    // ---- sign out, and be refused ----
    await page.click('#sign-out');
    await page.locator('input[name=apiKey]').waitFor();
    const after = await fetch(`${api}/v0/models`, { headers: { cookie: `modelgate_console=${session.value}` } });
    assert.equal(after.status, 401, 'the old session is refused by the server');
    await page.reload();
    await page.locator('input[name=apiKey]').waitFor();
    console.log('ok: signed out; the session is refused afterwards');

    // ---- a read-only key's session cannot write ----
    const readOnly = await adminCall('POST', '/users/me/api_keys', { name: 'read-only', scopes: ['models:list', 'models:get'] });
    assert.equal(readOnly.status, 200, JSON.stringify(readOnly.body));
    await page.fill('input[name=apiKey]', readOnly.body.apiKey);
    await page.click('button[type=submit]');
    await page.locator('main h1', { hasText: 'Overview' }).waitFor();
    await goTo('models', 'Models');
    await page.locator('td', { hasText: 'gpt-mock' }).waitFor();
    assert.equal(await page.locator('#new-model').isVisible(), false, 'no create button for a read-only key');
    const write = await page.evaluate(async () => {
      const { csrfToken } = await (await fetch('/console/api/session')).json();
      const response = await fetch('/v0/models/gpt-mock', { method: 'DELETE', headers: { 'X-CSRF-Token': csrfToken } });
      return { status: response.status, body: await response.json() };
    });
    assert.equal(write.status, 403, JSON.stringify(write.body));
    assert.match(write.body.message, /models:delete/);
    assert.equal((await adminCall('GET', '/models/gpt-mock')).status, 200, 'the model is still there');
    console.log('ok: a read-only key\'s session is refused writes by the API (403)');

    // ---- revoking the key ends its session, in the open page too ----
    assert.equal((await adminCall('DELETE', `/users/me/api_keys/${readOnly.body.id}`)).status, 200);
    await page.click('nav a[href="#/policies"]');
    await page.locator('#signed-out-reason', { hasText: 'no longer holds' }).waitFor();
    await page.locator('input[name=apiKey]').waitFor();
    console.log('ok: revoking the key ends its console session; the page asks to sign in again');

    assert.deepEqual(problems, [], 'no dialog, page error or console error (CSP violations included)');
    await context.close();
  } catch (error) {
    await current.screenshot({ path: join(tmpdir(), 'modelgate-console-failure.png') }).catch(() => {});
    console.error(`screenshot of the failure: ${join(tmpdir(), 'modelgate-console-failure.png')}`);
    throw error;
  } finally {
    await browser.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

try {
  await main();
  console.log('console browser test: all checks passed');
} catch (error) {
  console.error(`console browser test FAILED: ${error.stack || error}`);
  for (const { name, output } of processes) console.error(`----- ${name} -----\n${output.slice(-6000)}`);
  process.exitCode = 1;
} finally {
  for (const { child } of processes) child.kill('SIGTERM');
}
