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
  // The headline sums the ratios up, and the chart draws them.
  const headline = await page.textContent('[data-testid=bench-headline]');
  assert.match(headline, /The int8 GEMM is \d+\.\d\d× as fast as the f32 GEMM \(median over 4 shapes/);
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
