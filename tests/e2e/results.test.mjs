// End-to-end tests (issue 15) that results describe what ran, against the release build, in
// headless Chromium: picking a Pareto point runs PTQ with its bits and keeps the chart; QAT refuses
// per-layer bits with the reason; a change re-runs live after a slow first run, replacing a run in
// flight; download names carry the bits that ran; focus follows the job; the Lab's Cancel is neutral.
// Every test fails on any console error, page error or panic banner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, screenshot, useServedApp, assertHealthy } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

const layerBits = (page) => page.$$eval('[data-testid=per-layer-table] tbody tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent));

test('a Pareto pick runs PTQ with its bits and keeps the chart; QAT then refuses the per-layer bits', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?task=mixed_bit`);
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=pareto-chart-pick]', { timeout: 240_000 });
  // The search proposes a point of the front, at most 8 bits a layer, and says it is not applied.
  assert.match(await page.textContent('[data-testid=selection]'), /^Proposed[\s\S]*Not applied yet/);
  // The model page's default mode is full quantization: the proposal says the activations are quantized too.
  assert.match(await page.textContent('[data-testid=selection]'), /full quantization: the activations are quantized too \(8-bit, static ranges\)/);
  const bitsProposed = (await page.textContent('[data-testid=selection]')).match(/(\d+) bits/g).map((b) => parseInt(b));
  assert.ok(bitsProposed.every((b) => b <= 8), `no layer above 8 bits: ${bitsProposed}`);
  const proposedOptions = await page.$$eval('[data-testid=pareto-chart-pick] option', (os) => os.filter((o) => o.textContent.endsWith('(proposed)')).length);
  assert.equal(proposedOptions, 1, 'the proposal is one of the front\'s points');
  assert.match(await page.textContent('[data-testid=pareto-chart-pick]'), / kB · /);
  const [json] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=dl-mixed-json]')]);
  assert.equal(json.suggestedFilename(), 'mlp-fashion-mixed-bit-w1-8a8.json');
  // The front's smallest point (the list is sorted by size).
  const value = await page.$eval('[data-testid=pareto-chart-pick] option:nth-child(2)', (o) => o.value);
  await page.selectOption('[data-testid=pareto-chart-pick]', value);
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  assert.ok(await page.isVisible('[data-testid=pareto-chart]'), 'the chart stays');
  await page.waitForFunction(() => /A point of the chart is applied/.test(document.querySelector('[data-testid=selection]').textContent));
  assert.equal(await page.$eval('[data-testid=pareto-chart-pick]', (s) => s.value), value, 'the list shows the applied point');
  assert.equal(await page.$('[data-testid=stale]'), null, 'the result is of the picked bits, not stale');
  const applied = await page.$$eval('[data-testid^=bits-]', (ss) => ss.filter((s) => s.tagName === 'SELECT').map((s) => s.value));
  const ran = await layerBits(page);
  assert.equal(ran.length, 3);
  applied.forEach((b, i) => { if (b !== '') assert.equal(ran[i], b, `layer ${i} ran at the picked ${b} bits`); });
  // The download names carry the bits that ran (w4a8, or w4-8a8 when the layers differ).
  const nums = ran.map(Number);
  const [lo, hi] = [Math.min(...nums), Math.max(...nums)];
  const tag = lo === hi ? `w${lo}a8` : `w${lo}-${hi}a8`;
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=dl-report-json]')]);
  assert.equal(download.suggestedFilename(), `mlp-fashion-${tag}-report.json`);
  await screenshot(page, 'model-pareto-pick.png');
  // QAT with those per-layer bits: refused, with the reason, instead of training at 8 bits.
  await page.selectOption('[data-testid=task]', 'qat');
  await page.waitForSelector('[data-testid=invalid]');
  assert.match(await page.textContent('[data-testid=invalid]'), /QAT trains every layer at one weight width/);
  assert.equal(await page.$eval('[data-testid=run]', (b) => b.disabled), true, 'Run QAT is refused');
  await assertHealthy(page, errors);
});

test('QAT after a 4-bit pick in a link is refused with the reason', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?task=qat&ptq.layer_bits.nn1=4&ptq.layer_bits.nn2=4`);
  await page.waitForSelector('[data-testid=invalid]');
  const reason = await page.textContent('[data-testid=invalid]');
  assert.match(reason, /QAT trains every layer at one weight width \(8 bits here\)/);
  assert.match(reason, /nn1: 4 bits/);
  assert.equal(await page.$eval('[data-testid=run]', (b) => b.disabled), true);
  await assertHealthy(page, errors);
});

test('focus moves to Cancel when a job starts and to the results when it ends', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model`);
  await page.focus('[data-testid=run]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=job-status]');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'cancel', 'focus on Cancel while the job runs');
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  await page.waitForFunction(() => document.activeElement?.closest('.results') != null, null, { timeout: 5_000 });
  // A page without a results block (the Lab, a step at a time): focus goes back to the step's
  // Run, where the student was, not to the top of the page.
  await page.goto(`${url}#/lab`);
  await page.focus('[data-testid=lab-run-layerwise]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=job-status]');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'cancel');
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 120_000 });
  await page.waitForFunction(() => document.activeElement?.dataset.testid === 'lab-run-layerwise', null, { timeout: 5_000 });
  // Each page has its own title.
  assert.match(await page.title(), /^Lab — qplay/);
  await assertHealthy(page, errors);
});

test('after a slow first run a change re-runs live, replacing the run in flight', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model`);
  await page.click('[data-testid=run]');
  // The first run loads the dataset and the FP32 baseline: slow, but its PTQ part is fast.
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  // Two changes in a row: the second lands while the first's live run is in flight.
  await page.selectOption('[data-testid=ptq-weight_bits]', '4');
  await page.waitForSelector('[data-testid=job-status]', { timeout: 10_000 });
  await page.selectOption('[data-testid=ptq-weight_bits]', '6');
  await page.waitForFunction(() => {
    const bits = [...document.querySelectorAll('[data-testid=per-layer-table] tbody tr td:nth-child(2)')].map((td) => td.textContent);
    return bits.length === 3 && bits.every((b) => b === '6') && !document.querySelector('[data-testid=stale]') && !document.querySelector('[data-testid=job-status]');
  }, null, { timeout: 30_000 });
  assert.equal(await page.$('[data-testid=cancelled]'), null, 'a replaced live run is not reported as cancelled');
  await assertHealthy(page, errors);
});

test("the Lab's Cancel shows a neutral note, not a failure", async () => {
  const { page, errors } = await openPage(browser, `${url}#/lab`);
  await page.click('[data-testid=lab-run-qat]');
  await page.waitForSelector('[data-testid=job-status]');
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=lab-cancelled]');
  assert.equal(await page.$('.lab-page .error'), null, 'no red "This step failed"');
  assert.match(await page.textContent('[data-testid=lab-why-differ]'), /handout/);
  await assertHealthy(page, errors);
});
