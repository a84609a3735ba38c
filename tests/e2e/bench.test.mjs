// End-to-end: the Benchmark page prints GOPS for int8 and f32 in this browser,
// and the header links switch pages without losing the Tensor page's settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, screenshot, useServedApp } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

test('the Benchmark page measures int8 and f32 GEMMs in the browser', async () => {
  const { page, errors } = await openPage(browser, `${url}#/tensor?method=clip&bits=6`);
  await page.waitForSelector('[data-testid=value-table]');
  await page.click('nav >> text=Benchmark');
  await page.waitForSelector('[data-testid=run-bench]');
  assert.match(await page.textContent('.bench-page'), /Logical CPU cores/);
  await page.click('[data-testid=run-bench]');
  // The page stays responsive while the worker measures: the progress bar is there and a click works.
  await page.waitForSelector('[data-testid=job-status]');
  assert.equal(await page.evaluate(() => { const t0 = performance.now(); return new Promise((ok) => setTimeout(() => ok(performance.now() - t0), 10)); }) < 1000, true);
  // Another page and back: the run goes on, with its bar and Cancel, and Run stays off.
  await page.click('nav >> text=Tensor');
  await page.waitForSelector('[data-testid=value-table]');
  await page.click('nav >> text=Benchmark');
  await page.waitForSelector('[data-testid=run-bench]');
  if (!(await page.$('[data-testid=bench-status]'))) {
    assert.ok(await page.$('[data-testid=job-status]'), 'the run still shows after a page switch');
    assert.equal(await page.$eval('[data-testid=run-bench]', (b) => b.disabled), true);
  }
  await page.waitForFunction(() => document.querySelector('[data-testid=bench-status]')?.textContent === 'Done.', null, { timeout: 300_000 });
  const rows = await page.$$eval('[data-testid=bench-table] tbody tr', (trs) =>
    trs.map((tr) => ({ suite: tr.dataset.suite, kernel: tr.dataset.kernel, rate: tr.querySelector('td.rate').textContent })));
  const gops = (suite) => rows.filter((r) => r.suite === suite && r.kernel === 'simd128').map((r) => parseFloat(r.rate));
  assert.equal(gops('gemm_i8').length, 4, 'four int8 shapes');
  assert.equal(gops('gemm_f32').length, 4, 'four f32 shapes');
  for (const g of [...gops('gemm_i8'), ...gops('gemm_f32')]) assert.ok(g > 1, `a real rate: ${g} GOPS`);
  assert.ok(rows.some((r) => r.suite === 'mlp_784_128_64_10'), 'the MLP end to end');
  const ptq = await page.$$eval('[data-testid=bench-table] tbody tr[data-suite=ptq_w8a8]', (trs) => trs.map((tr) => tr.title));
  assert.equal(ptq.length, 2, 'the PTQ run: core and full report');
  for (const line of ptq) console.log(`Chromium: ${line}`);
  assert.match(await page.textContent('[data-testid=bench-ratios]'), /int8\/f32=/);
  // The language model in six formats, each a real rate, and its ratios to FP32.
  const lm = rows.filter((r) => r.suite === 'lm_decode');
  assert.equal(lm.length, 6, 'FP32, W8, W8A8, Q8_0, W4 g32, Q4_0');
  for (const r of lm) assert.ok(parseFloat(r.rate) > 10, `tokens/s: ${r.rate}`);
  assert.match(await page.textContent('[data-testid=bench-ratios]'), /suite=lm_decode case=shakespeare q4_0\/fp32=\d/);
  // The headline sums the ratios up, and the chart draws them.
  const headline = await page.textContent('[data-testid=bench-headline]');
  assert.match(headline, /The int8 GEMM is \d+\.\d\d× as fast as the f32 GEMM \(median over 4 shapes/);
  assert.match(headline, /The built-in language model decodes at W8 \d+\.\d\d×, W8A8 \d+\.\d\d×, Q8_0 \d+\.\d\d×, W4 g32 \d+\.\d\d×, Q4_0 \d+\.\d\d× FP32's tokens\/s/);
  assert.ok(await page.$('[data-testid=bench-chart]'));
  console.log(`Chromium headline: ${headline}`);
  await screenshot(page, 'bench.png');
  // Back to the Tensor page: its settings are still there.
  await page.click('nav >> text=Tensor');
  await page.waitForSelector('[data-testid=value-table]');
  assert.equal(await page.$eval('[data-testid=method]', (s) => s.value), 'clip');
  assert.equal(await page.$eval('[data-testid=bits]', (s) => s.value), '6');
  assert.deepEqual(errors, []);
});

// QPLAY_SCALING=full times the sweep (bits 2–8 × 2 granularities × 3 calibrators on the 10,000
// images) instead of the quick one, =ptq-cnn a PTQ run of the CNN, =mixed-bit the mixed-bit search;
// the README's figures come from them.
const workload = ['full', 'ptq-cnn', 'mixed-bit'].includes(process.env.QPLAY_SCALING) ? process.env.QPLAY_SCALING : 'quick';

test('the Benchmark page shares a job among the pool of workers, with the one-worker report', async () => {
  const { page, errors } = await openPage(browser, `${url}#/bench`);
  await page.waitForSelector('[data-testid=scaling-run]');
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const pool = Math.min(cores, 8);
  assert.match(await page.textContent('[data-testid=scaling-run]'), new RegExp(`1 to ${pool} workers`));
  await page.selectOption('[data-testid=scaling-workload]', workload);
  await page.click('[data-testid=scaling-run]');
  await page.waitForSelector('[data-testid=scaling] [data-testid=job-status]');
  // 1, 2, 4 … and the pool's size, three trials each, after the warm-up.
  const counts = [];
  for (let n = 1; n < pool; n *= 2) counts.push(n);
  counts.push(pool);
  await page.waitForFunction((k) => document.querySelectorAll('[data-testid=scaling-row]').length === k
    && !document.querySelector('[data-testid=scaling] [data-testid=job-status]'), counts.length, { timeout: 1_800_000 });
  assert.equal(await page.$('[data-testid=scaling-error]'), null);
  const rows = await page.$$eval('[data-testid=scaling-row]', (trs) => trs.map((tr) => ({
    workers: Number(tr.dataset.workers),
    cells: [...tr.querySelectorAll('td')].map((td) => td.textContent),
  })));
  assert.deepEqual(rows.map((r) => r.workers), counts);
  for (const r of rows) {
    assert.equal(r.cells[2], '3', `${r.workers} workers: three timed trials`);
    assert.equal(r.cells[4], 'identical', `${r.workers} workers: the merged report is the one-worker report`);
    console.log(`Chromium, ${workload} on ${r.workers} of ${cores} cores: median ${r.cells[1]}, speed-up ${r.cells[3]}`);
  }
  assert.equal(rows[0].cells[3], '1.00×');
  await screenshot(page, 'bench-workers.png');
  assert.deepEqual(errors, []);
});
