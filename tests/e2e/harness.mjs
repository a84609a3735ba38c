// Shared end-to-end harness: a static server for the `trunk build --release`
// output in dist/, and a headless Debian Chromium driven by playwright-core
// that records every console error and page error so a test can fail on them.
import { createServer } from 'node:http';
import { readFile, stat, mkdir, copyFile } from 'node:fs/promises';
import { extname, join, normalize, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// QPLAY_DIST: another build's output (helpers working side by side build into their own folder).
export const dist = process.env.QPLAY_DIST ?? join(root, 'dist');
export const artifacts = join(root, 'tests', 'e2e', 'artifacts');

const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.png': 'image/png', '.json': 'application/json', '.bin': 'application/octet-stream',
};

/** Serves dist/ on 127.0.0.1 at a free port. */
export async function serveDist() {
  await stat(join(dist, 'index.html')).catch(() => {
    throw new Error('dist/index.html is missing: run `trunk build --release` first');
  });
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dist, path === '/' ? 'index.html' : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

/** Launches headless Chromium with the flags this closed network needs. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
}

/** A new page whose console errors and uncaught errors are collected in `errors`. */
export async function openPage(browser, url, { width = 1280, height = 900, scale = 1, workers } = {}) {
  const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: scale });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  // The pool's size is navigator.hardwareConcurrency (at most 8): a test can set it.
  if (workers) await page.addInitScript((n) => Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => n }), workers);
  // The page's wasm instance, for its memory's size (`pageMemoryMiB`).
  await page.addInitScript(() => addEventListener('TrunkApplicationStarted', (e) => { window.qplayWasm = e.detail.wasm; }));
  await page.goto(url);
  return { page, errors };
}

// Screenshots the README shows: the artifact's name → its name under docs/screenshots/.
const readmeShots = {
  'tensor-clip.png': 'tensor.png', 'model-ptq.png': 'model.png', 'model-pareto-pick.png': 'model-mixed-bit.png',
  'lab.png': 'lab.png', 'bench.png': 'bench.png', 'lm-import.png': 'lm-import.png',
};

/** A full-page screenshot under tests/e2e/artifacts/ (and under docs/screenshots/ when the README
 *  shows it). */
export async function screenshot(page, name) {
  await mkdir(artifacts, { recursive: true });
  const path = join(artifacts, name);
  await page.screenshot({ path, fullPage: true });
  if (readmeShots[name]) await copyFile(path, join(root, 'docs', 'screenshots', readmeShots[name]));
  return path;
}

/** Serves dist/ and launches Chromium before a file's tests, closing both after them; `ready`
 *  receives the page's base URL and the browser. */
export function useServedApp(ready) {
  let server, browser;
  before(async () => {
    let url;
    ({ server, url } = await serveDist());
    browser = await launch();
    ready(url, browser);
  });
  after(async () => {
    await browser?.close();
    server?.close();
  });
}

/** No panic banner and no console error on the page. */
export async function assertHealthy(page, errors) {
  assert.equal(await page.isVisible('#panic-banner'), false, 'the panic banner is hidden');
  assert.deepEqual(errors, [], 'no console errors');
}

/** The size of the page's wasm memory in MiB (it grows, never shrinks: what a file put there stays). */
export async function pageMemoryMiB(page) {
  await page.waitForFunction(() => window.qplayWasm?.memory);
  return page.evaluate(() => window.qplayWasm.memory.buffer.byteLength / 2 ** 20);
}

/** A percentage as shown on a page ("89.04 %") as a number. */
export const pct = (text) => parseFloat(text.replace('%', ''));

// Every status the drop zone showed while the browser read a file ([data-testid=<zone>-reading]),
// recorded by an observer put in the page before the file is given.
export async function watchReading(page, zone) {
  await page.evaluate((zone) => {
    window.readingSeen = [];
    const record = () => {
      const t = document.querySelector(`[data-testid=${zone}-reading]`)?.textContent;
      if (t && window.readingSeen.at(-1) !== t) window.readingSeen.push(t);
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, zone);
}

// The statuses seen, checked: "Reading <name> in the browser: p % of <MiB> MiB… ", p rising.
export async function assertReadingSeen(page, zone, name, mib) {
  const seen = await page.evaluate(() => window.readingSeen);
  const percents = seen.map((t) => {
    const m = /^Reading (.+) in the browser: (\d+) % of ([\d.]+) MiB… $/.exec(t);
    assert.ok(m, `status ${JSON.stringify(t)}`);
    assert.equal(m[1], name);
    assert.equal(m[3], mib);
    return Number(m[2]);
  });
  assert.ok(percents.length >= 2, `the zone said how far the read had got ${percents.length} times: ${seen}`);
  assert.ok(percents.every((p, i) => p <= 100 && (i === 0 || p > percents[i - 1])), `percents ${percents}`);
  assert.equal(await page.$(`[data-testid=${zone}-reading]`), null, 'the status goes once the file is read');
  return percents;
}
