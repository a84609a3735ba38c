// End-to-end tests (issue 15) that results describe what ran, against the release build, in
// headless Chromium: picking a Pareto point runs PTQ with its bits and keeps the chart; QAT refuses
// per-layer bits with the reason; a change re-runs live after a slow first run, replacing a run in
// flight; download names carry the bits that ran; focus follows the job; the Lab's Cancel is neutral.
// Every test fails on any console error, page error or panic banner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
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

/** The files of a .zip as { name: text }: its central directory read from the end record, each
 *  member inflated with Node's zlib (deflated or stored). */
function unzipTexts(buf) {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'an end of central directory record');
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const files = {};
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(at), 0x02014b50, 'a central directory entry');
    const [method, packed, size] = [buf.readUInt16LE(at + 10), buf.readUInt32LE(at + 20), buf.readUInt32LE(at + 24)];
    const [nameLen, extraLen, commentLen] = [buf.readUInt16LE(at + 28), buf.readUInt16LE(at + 30), buf.readUInt16LE(at + 32)];
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + packed);
    const bytes = method === 8 ? inflateRawSync(data) : data;
    assert.equal(bytes.length, size, `${name}: ${size} bytes`);
    files[name] = bytes.toString('utf8');
    at += 46 + nameLen + extraLen + commentLen;
  }
  return files;
}

test("MindSpore Lite's debug folder downloads as a .zip: a report per calibration round, the output summary, quant_param.csv", async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?calib_size=5`);
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('[data-testid=dl-debug-info]')]);
  assert.equal(download.suggestedFilename(), 'mlp-fashion-w8a8-debug_info.zip');
  const files = unzipTexts(await readFile(await download.path()));
  assert.deepEqual(Object.keys(files), ['report_0.csv', 'report_1.csv', 'report_2.csv', 'report_3.csv', 'report_4.csv', 'output_summary.csv', 'quant_param.csv']);
  // Each round: 3 Linears × (weight, input, output) × (Origin, Dequant), under MindSpore Lite's header (its MAX in capitals).
  const round = files['report_3.csv'].trim().split('\n');
  assert.match(round[0], /^NodeName,NodeType,TensorName,InOutFlag,DataTypeFlag,TensorTypeFlag,Min,Q1,Median,Q3,MAX,Mean,Var,Sparsity,Clip,CosineSimilarity$/);
  assert.equal(round.length, 1 + 18);
  const summary = files['output_summary.csv'].trim().split('\n');
  assert.equal(summary[0], 'Round,TensorName,CosineSimilarity');
  assert.equal(summary.length, 1 + 5);
  for (const [i, line] of summary.slice(1).entries()) {
    const [r, name, cos] = line.split(',');
    assert.equal(Number(r), i);
    assert.equal(name, 'nn3.output');
    assert.ok(Number(cos) > 0.99 && Number(cos) <= 1, `round ${i}: cosine ${cos}`);
  }
  // The same parameters as the page's quant_params.csv.
  const [params] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=dl-params-csv]')]);
  assert.equal(files['quant_param.csv'], await readFile(await params.path(), 'utf8'));
  await assertHealthy(page, errors);
});
