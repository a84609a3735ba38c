// The worker dies in the middle of a job (an uncaught error inside it, while the job waits for
// the training text): the page says so, keeps its table, and the next job runs in a fresh worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, useServedApp } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

const rowCount = (page) => page.$$eval('[data-testid=lm-row]', (trs) => trs.length);

test('a worker that dies mid-job is replaced, and the page keeps what it holds', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&bits=4&group=32&tokens=513&calib_tokens=512`);
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=lm-row]').length === 1, null, { timeout: 120_000 });
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached' });
  // GPTQ fetches the training split: hold that request, and make the worker fail while it waits.
  let release;
  const held = new Promise((ok) => { release = ok; });
  await page.context().route('**/data/shakespeare.train.txt.gz', async (route) => {
    await held;
    await route.continue().catch(() => {});
  });
  await page.selectOption('[data-testid=lm-method]', 'gptq');
  const fetching = page.waitForRequest('**/data/shakespeare.train.txt.gz', { timeout: 60_000 });
  await page.click('[data-testid=lm-run]');
  await fetching;
  const workers = page.workers();
  assert.ok(workers.length >= 1, 'the page has its worker');
  await workers[workers.length - 1].evaluate(() => setTimeout(() => { throw new Error('qplay test: the worker dies'); }, 0));
  await page.waitForSelector('[data-testid=run-error]', { timeout: 10_000 });
  assert.match(await page.textContent('[data-testid=run-error]'), /the worker stopped .*a fresh one starts with the next job/);
  assert.equal(await rowCount(page), 1, 'the table keeps its row');
  release();
  await page.context().unroute('**/data/shakespeare.train.txt.gz');
  // The next job runs in a fresh worker.
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=lm-row]').length === 2, null, { timeout: 120_000 });
  assert.match(await page.textContent('[data-testid=lm-row]:nth-child(2)'), /GPTQ/);
  // The only console error is the one the test caused inside the dead worker.
  assert.deepEqual(errors.filter((e) => !/qplay test: the worker dies/.test(e)), []);
});
