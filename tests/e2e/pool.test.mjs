// The pool of workers in headless Chromium: every task that splits (a PTQ run's evaluation, the
// layer-by-layer analysis, the mixed-bit search, a language model's perplexity) gives the same
// report, figure for figure, on one worker and on three (navigator.hardwareConcurrency set
// before the page starts its pool; three workers on two cores still run, only slower).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { openPage, useServedApp, assertHealthy } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

/** A page whose pool has `workers` workers. */
const pageWith = (workers, hash) => openPage(browser, `${url}${hash}`, { workers });

/** The JSON a download button writes, without the timings (which differ run to run). */
async function downloaded(page, testid) {
  const [d] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=${testid}]`)]);
  const json = JSON.parse(await readFile(await d.path(), 'utf8'));
  const strip = (v) => {
    if (Array.isArray(v)) return v.map(strip);
    // The times (millis) and the language model's measured tokens/s (speed).
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !/millis/.test(k) && k !== 'speed').map(([k, x]) => [k, strip(x)]));
    return v;
  };
  return strip(json);
}

/** Runs the Model page's task of `hash` on `workers` workers; returns its report.json and
 *  whether the progress said it was shared. */
async function modelRun(workers, hash, result, button) {
  const { page, errors } = await pageWith(workers, hash);
  await page.waitForSelector('[data-testid=layer-table]');
  let shared = false;
  await page.click('[data-testid=run]');
  const deadline = Date.now() + 300_000;
  while (!(await page.$(`[data-testid=${result}]`))) {
    const failed = await page.$('[data-testid=run-error]');
    assert.equal(failed && (await failed.textContent()), null, `${hash} on ${workers} workers`);
    const status = (await page.textContent('[data-testid=job-status]').catch(() => '')) ?? '';
    if (new RegExp(`on ${workers} workers`).test(status)) shared = true;
    assert.ok(Date.now() < deadline, `${hash}: no result`);
    await page.waitForTimeout(50);
  }
  const report = await downloaded(page, button);
  await assertHealthy(page, errors);
  await page.close();
  return { report, shared };
}

for (const [what, hash, result, button] of [
  ['a PTQ run of the CNN on the integer engine', '#/model?model=cnn-fashion&task=ptq', 'ptq-result', 'dl-report-json'],
  ['a dynamic PTQ run of the MLP (each batch sets its own range)', '#/model?task=ptq&ptq.mode=dynamic&eval_size=2300', 'ptq-result', 'dl-report-json'],
  ['the layer-by-layer analysis', '#/model?task=layerwise', 'layerwise-result', 'dl-layerwise-json'],
  ['the mixed-bit search', '#/model?task=mixed_bit&eval_size=2000', 'mixed-bit-result', 'dl-mixed-json'],
]) {
  test(`${what} gives the same report on one worker and on three`, async () => {
    const one = await modelRun(1, hash, result, button);
    const three = await modelRun(3, hash, result, button);
    assert.ok(three.shared, 'the progress says the job ran on 3 workers');
    assert.ok(!one.shared);
    assert.deepEqual(three.report, one.report);
  });
}

test("a language model's perplexity gives the same row on one worker and on three", async () => {
  const rowOf = async (workers) => {
    const { page, errors } = await pageWith(workers, '#/lm?weights=rtn&bits=4&group=32&int8_acts=true');
    await page.waitForSelector('[data-testid=lm-run]');
    await page.click('[data-testid=lm-run]');
    await page.waitForSelector('[data-testid=lm-row]', { timeout: 180_000 });
    const json = await downloaded(page, 'lm-json');
    await assertHealthy(page, errors);
    await page.close();
    return json;
  };
  const one = await rowOf(1);
  const three = await rowOf(3);
  assert.ok(JSON.stringify(one).includes('perplexity') || JSON.stringify(one).includes('ppl'), JSON.stringify(one).slice(0, 300));
  assert.deepEqual(three, one);
});

test("a Cancel on one page stops that page's job only: another page's job on the same workers goes on", async () => {
  // Each worker runs one job at a time: a job sent while another page's holds its worker waits,
  // and says so; its Cancel takes it off the queue and leaves the other job running.
  const { page, errors } = await pageWith(2, '#/model?task=sweep&eval_size=1000');
  await page.waitForSelector('[data-testid=layer-table]');
  await page.click('[data-testid=run]');
  await page.waitForFunction(() => /on 2 workers/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 120_000 });
  await page.click('nav >> text=Language model');
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction(() => /waiting for its worker to finish another job/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 10_000 });
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=cancelled]', { timeout: 2_000 });
  assert.equal(await page.$('[data-testid=job-status]'), null);
  // Back on the Model page the sweep still runs, and ends with its table.
  await page.click('nav >> text=Model');
  await page.waitForSelector('[data-testid=job-status]', { timeout: 2_000 });
  assert.equal(await page.$('[data-testid=cancelled]'), null, 'the sweep was not cancelled');
  await page.waitForSelector('[data-testid=sweep-result]', { timeout: 600_000 });
  assert.equal(await page.$('[data-testid=cancelled]'), null);
  // And the other way round: the Model page's Cancel leaves a language-model run going.
  await page.selectOption('[data-testid=task]', 'sweep');
  await page.click('[data-testid=run]');
  await page.waitForFunction(() => /on 2 workers/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 120_000 });
  await page.click('nav >> text=Language model');
  const rows = await page.$$eval('[data-testid=lm-table] tbody tr', (r) => r.length).catch(() => 0);
  await page.click('[data-testid=lm-run]');
  await page.click('nav >> text=Model');
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=cancelled]', { timeout: 2_000 });
  await page.click('nav >> text=Language model');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=lm-table] tbody tr').length > n, rows, { timeout: 300_000 });
  assert.equal(await page.$('[data-testid=cancelled]'), null);
  await assertHealthy(page, errors);
});
