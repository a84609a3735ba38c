// End-to-end: the Lab walkthrough runs every step in headless Chromium and fills the
// FP32 / PTQ / QAT table with measured numbers. Fails on any console error or panic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, screenshot, useServedApp, pct } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

test('every step of the lab completes and the FP32 / PTQ / QAT table is filled', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lab`);
  // Step 2 is on the page at once: the handout's integers.
  assert.equal(await page.textContent('[data-testid=lab-q-first-normal]'), '[62, -116, 127, 106, -39, -127, 82, -128]');
  assert.equal(await page.textContent('[data-testid=lab-q-second-clip]'), '[127, -128, -128, 101, -111, -128, 127, 33]');
  await page.click('[data-testid=lab-run-all]');
  await page.waitForSelector('[data-testid=qat-table]', { timeout: 300_000 });
  const fp32 = pct(await page.textContent('[data-testid=lab-fp32]'));
  const ptq = pct(await page.textContent('[data-testid=lab-ptq]'));
  const table = {
    fp32: pct(await page.textContent('[data-testid=table-fp32]')),
    ptq: pct(await page.textContent('[data-testid=table-ptq]')),
    qat: pct(await page.textContent('[data-testid=table-qat]')),
  };
  assert.ok(fp32 > 85 && fp32 < 100, `FP32 ${fp32}`);
  assert.equal(table.fp32, fp32, 'the table repeats step 1');
  assert.ok(Math.abs(table.ptq - ptq) < 1, `PTQ ${table.ptq} (step 3: ${ptq}; the same settings)`);
  assert.ok(table.qat > 80 && fp32 - table.qat < 2, `QAT ${table.qat}`);
  // Step 4: four points, and both modes measured.
  const rows = await page.$$eval('[data-testid=lab-mse-table] tbody tr', (trs) => trs.map((tr) => tr.textContent));
  assert.equal(rows.length, 4);
  assert.match(rows[3], /output/);
  // The handout's node names, with qplay's layer names beside them.
  assert.match(rows[0], /MSE of x \(the input\)/);
  assert.match(rows[1], /MSE of relu \(nn1\.relu\)/);
  assert.match(rows[2], /MSE of relu_1 \(nn2\.relu\)/);
  const sizes = await page.$$eval('[data-testid=qat-table] tbody tr td:nth-child(2)', (tds) => tds.map((td) => parseFloat(td.textContent)));
  assert.ok(sizes[1] < sizes[0] / 3.5, `int8 is about 4× smaller: ${sizes}`);
  await screenshot(page, 'lab.png');
  assert.equal(await page.isVisible('#panic-banner'), false);
  assert.deepEqual(errors, []);
});
