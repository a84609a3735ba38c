// The Lab's second track, "quantize a language model": four steps on the built-in model, each
// run in the worker with its explanation filled from the live numbers; the runs also land in the
// Language-model page's table. Fails on any console error, page error or panic banner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openPage, screenshot, root, useServedApp, assertHealthy } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

const stepRows = (page, n) => page.$$eval(`[data-testid=lab-lm-step-${n}] [data-testid=lab-lm-row]`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));

test('the language-model track runs its four steps and explains each with its numbers', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lab`);
  await page.waitForSelector('[data-testid=lab-lm]');
  for (const n of [1, 2, 3, 4]) {
    assert.match(await page.textContent(`[data-testid=lab-lm-explain-${n}]`), /Run the step|not run yet/);
  }
  await page.click('[data-testid=lab-lm-run-all]');
  // The runs go on while another page is shown (the first row arrives there).
  await page.waitForSelector('[data-testid=job-status]');
  await page.click('nav >> text=Tensor');
  await page.waitForSelector('[data-testid=value-table]');
  await page.waitForTimeout(8_000);
  await page.click('nav >> text=Lab');
  await page.waitForSelector('[data-testid=lab-lm]');
  // Seven runs: W8, W4 g32, W8 + KV int8, GPTQ, AWQ, W8A8 with outliers, SmoothQuant.
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=lab-lm-row]').length === 7, null, { timeout: 600_000 });
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 10_000 });
  const [w8] = await stepRows(page, 1);
  const [w4] = await stepRows(page, 2);
  assert.match(w8[0], /W8 per-channel RTN/);
  const delta = (row) => parseFloat(row[2].replace('−', '-'));
  assert.ok(Math.abs(delta(w8)) < 0.5, `W8 Δ ${w8[2]}`);
  assert.ok(delta(w4) > delta(w8), `W4 ${w4[2]} costs more than W8 ${w8[2]}`);
  const e1 = await page.textContent('[data-testid=lab-lm-explain-1]');
  assert.match(e1, /perplexity moves by [+−]\d+\.\d\d %/);
  assert.match(e1, /Golden Stick/);
  assert.match(await page.textContent('[data-testid=lab-lm-explain-2]'), /against W8's [+−]\d/);
  assert.match(await page.textContent('[data-testid=lab-lm-explain-3]'), /a change of [+-]\d\.\d{5}/);
  const e4 = await page.textContent('[data-testid=lab-lm-explain-4]');
  assert.match(e4, /W4 g32 [+−]\d+\.\d\d % \(-?\d+ % of RTN's/);
  assert.match(e4, /plain W8A8 [+−]\d+\.\d\d % against SmoothQuant [+−]\d+\.\d\d %/);
  const step4 = await stepRows(page, 4);
  const [naive, sq] = [step4[2], step4[3]];
  assert.ok(delta(sq) < delta(naive), `SmoothQuant ${sq[2]} beats plain W8A8 ${naive[2]} with outliers`);
  // The runs are in the Language-model page's table too.
  await page.click('nav >> text=Language model');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=lm-row]').length === 7);
  await page.click('nav >> text=Lab');
  await page.waitForSelector('[data-testid=lab-lm-step-4]');
  await page.$eval('[data-testid=lab-lm]', (el) => el.scrollIntoView());
  await copyFile(await screenshot(page, 'lab-lm.png'), join(root, 'docs', 'screenshots', 'lab-lm.png'));
  await assertHealthy(page, errors);
});

test('after a cancelled step, the next Run starts its run (the old Cancelled does not end the new queue)', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lab`);
  await page.waitForSelector('[data-testid=lab-lm]');
  await page.click('[data-testid=lab-lm-run-1]');
  await page.waitForSelector('[data-testid=lab-lm] [data-testid=job-status]');
  await page.click('[data-testid=lab-lm] [data-testid=cancel]');
  await page.waitForSelector('[data-testid=lab-lm-cancelled]');
  assert.equal(await page.$$eval('[data-testid=lab-lm-row]', (r) => r.length), 0);
  await page.click('[data-testid=lab-lm-run-1]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=lab-lm-step-1] [data-testid=lab-lm-row]').length === 1, null, { timeout: 120_000 });
  assert.match((await stepRows(page, 1))[0][0], /W8 per-channel RTN/);
  await assertHealthy(page, errors);
});
