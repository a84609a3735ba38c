// The worker dies in the middle of a job (an uncaught error inside it): the page says so, keeps
// what it holds (a table, a model file the user loaded, earlier results), and the next job runs
// in a fresh worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openPage, root, useServedApp } from './harness.mjs';

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

test('the Model page: a worker that dies mid-sweep is replaced, and the loaded file and earlier result stay', async () => {
  // 500 evaluation images: the PTQ run is one batch, on the pool's first worker only.
  const { page, errors } = await openPage(browser, `${url}#/model?eval_size=500`, { workers: 2 });
  await page.waitForSelector('[data-testid=layer-table]');
  const file = await readFile(join(root, 'www', 'models', 'cnn-fashion.safetensors'));
  await page.setInputFiles('[data-testid=model-drop-input]', { name: 'my-cnn.safetensors', mimeType: 'application/octet-stream', buffer: file });
  await page.waitForFunction(() => /conv1[\s\S]*Conv2d/.test(document.querySelector('[data-testid=layer-table]').textContent));
  const table = await page.textContent('[data-testid=layer-table]');
  // A PTQ result first: it must survive the crash.
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  const accuracy = await page.textContent('[data-testid=fp32-accuracy]');
  // A sweep, shared among the pool's workers, killed while it runs. A worker busy computing only
  // runs a timer when its part is done, so the kill goes to the second worker while it waits for
  // the images (held here), which it fetches for its first job.
  let release;
  const held = new Promise((ok) => { release = ok; });
  await page.context().route('**/data/fashion-*.qds.gz', async (route) => {
    await held;
    await route.continue().catch(() => {});
  });
  await page.selectOption('[data-testid=task]', 'sweep');
  const fetching = page.waitForRequest('**/data/fashion-*.qds.gz', { timeout: 60_000 });
  await page.click('[data-testid=run]');
  await fetching;
  const workers = page.workers();
  assert.ok(workers.length >= 2, 'the sweep runs on two workers');
  await workers[workers.length - 1].evaluate(() => setTimeout(() => { throw new Error('qplay test: the worker dies'); }, 0));
  await page.waitForSelector('[data-testid=run-error]', { timeout: 10_000 });
  release();
  await page.context().unroute('**/data/fashion-*.qds.gz');
  assert.match(await page.textContent('[data-testid=run-error]'), /the worker stopped .*a fresh one starts with the next job/);
  assert.equal(await page.$('[data-testid=job-status]'), null, 'no job is left spinning');
  // The loaded file is still the model in use, and the PTQ result is still there.
  assert.equal(await page.textContent('[data-testid=layer-table]'), table);
  assert.equal(await page.$eval('[data-testid=model-select]', (s) => s.selectedOptions[0].textContent), 'loaded file: my-cnn.safetensors');
  await page.selectOption('[data-testid=task]', 'ptq');
  await page.waitForSelector('[data-testid=ptq-result]');
  assert.equal(await page.textContent('[data-testid=fp32-accuracy]'), accuracy);
  // The next job runs in a fresh worker, on the loaded file.
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=job-status]', { timeout: 10_000 });
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 120_000 });
  assert.equal(await page.$('[data-testid=run-error]'), null);
  assert.equal(await page.textContent('[data-testid=fp32-accuracy]'), accuracy);
  assert.deepEqual(errors.filter((e) => !/qplay test: the worker dies/.test(e)), []);
});
