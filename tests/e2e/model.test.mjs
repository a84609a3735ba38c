// End-to-end tests of the Model page against the release build, in headless Chromium:
// a W8A8 run on the Fashion-MNIST MLP, the live re-run, a teacher's link, Cancel, and bad files.
// Every test fails on any console error, page error or panic banner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPage, screenshot, root, useServedApp, assertHealthy, pct, pageMemoryMiB } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

/** Waits until a canvas has drawn something that is not white. */
async function drawn(page, testid) {
  await page.waitForFunction((id) => {
    const c = document.querySelector(`[data-testid=${id}]`);
    if (!c) return false;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) ink++;
    return ink > 500;
  }, testid, { timeout: 30_000 });
}

test('a W8A8 run on the Fashion-MNIST MLP stays within 1 point of FP32 and draws the per-layer chart', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model`);
  await page.waitForSelector('[data-testid=layer-table]');
  assert.match(await page.textContent('[data-testid=layer-table]'), /nn1[\s\S]*Linear[\s\S]*\[128, 784\]/);
  // The input's shape heads the table and the totals row says "total", sizes in kB.
  assert.match(await page.textContent('[data-testid=input-row]'), /^input\s*\[1, 28, 28\]/);
  assert.match(await page.textContent('[data-testid=total-row]'), /^total[\s\S]*kB/);
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  const fp32 = pct(await page.textContent('[data-testid=fp32-accuracy]'));
  const quant = pct(await page.textContent('[data-testid=quant-accuracy]'));
  assert.ok(fp32 > 85, `FP32 accuracy ${fp32}`);
  assert.ok(fp32 - quant <= 1, `W8A8 ${quant} % within 1 point of FP32 ${fp32} %`);
  assert.match(await page.textContent('[data-testid=engine]'), /integer-only int8/);
  // FP32 against int8 speed beside accuracy, as Neural Compressor's benchmark prints them.
  const head = await page.textContent('[data-testid=ptq-result] .summary-table thead');
  assert.match(head, /latency \(batch 1\)[\s\S]*throughput \(batch \d+\)/);
  const ms = (t) => { const [, v, unit] = t.match(/^([\d.]+) (ms|µs)/); return unit === 'ms' ? Number(v) : Number(v) / 1000; };
  const perS = (t) => Number(t.match(/^([\d,]+) images\/s/)[1].replaceAll(',', ''));
  const [l32, lq] = [await page.textContent('[data-testid=fp32-latency]'), await page.textContent('[data-testid=quant-latency]')];
  const [t32, tq] = [await page.textContent('[data-testid=fp32-throughput]'), await page.textContent('[data-testid=quant-throughput]')];
  assert.ok(ms(l32) > 0 && ms(lq) > 0 && perS(t32) > 0 && perS(tq) > 0, `${l32} ${lq} ${t32} ${tq}`);
  assert.match(lq, /\(\d+\.\d\d× (faster|slower)\)$/);
  assert.match(tq, /\(\d+\.\d\d× (faster|slower)\)$/);
  assert.equal(await page.$('[data-testid=speed-simulated]'), null, 'the int8 engine ran');
  console.log(`MLP W8A8 in the worker: latency FP32 ${l32}, int8 ${lq}; throughput FP32 ${t32}, int8 ${tq}`);
  await drawn(page, 'per-layer-chart');
  await drawn(page, 'confusion-chart');
  await drawn(page, 'samples-chart');
  assert.match(await page.textContent('[data-testid=qdq-view]'), /QuantizeLinear[\s\S]*DequantizeLinear[\s\S]*Gemm/);
  await screenshot(page, 'model-ptq.png');

  // A fast run follows the settings: 4-bit weights re-run by themselves, and the link follows.
  await page.selectOption('[data-testid=ptq-weight_bits]', '4');
  await page.waitForFunction(() => {
    const bits = [...document.querySelectorAll('[data-testid=per-layer-table] tbody tr td:nth-child(2)')].map((td) => td.textContent);
    return bits.length === 3 && bits.every((b) => b === '4');
  }, null, { timeout: 60_000 });
  assert.match(await page.evaluate(() => location.hash), /ptq\.weight_bits=4/);

  // A setting changed just before another task starts (inside the re-run's 200 ms wait): the
  // re-run reads the page as it is when it fires, so it leaves the sweep alone.
  await page.selectOption('[data-testid=ptq-weight_bits]', '6');
  await page.selectOption('[data-testid=task]', 'sweep');
  await page.click('[data-testid=run]');
  const sweeping = () => /bits, /.test(document.querySelector('[data-testid=job-status]')?.textContent ?? '');
  await page.waitForFunction(sweeping, null, { timeout: 120_000 });
  await page.waitForTimeout(600);
  assert.ok(await page.evaluate(sweeping), 'the sweep still runs');
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=cancelled]', { timeout: 5000 });
  await assertHealthy(page, errors);
});

test('a teacher link hides and locks controls, and bad keys are ignored with a notice', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?ptq.weight_bits=6&ptq.colour=red&hide=ptq.act_bits&lock=ptq.weight_bits`);
  await page.waitForSelector('[data-testid=link-notice]');
  assert.match(await page.textContent('[data-testid=link-notice]'), /ptq\.colour/);
  assert.equal(await page.$eval('[data-testid=ptq-weight_bits]', (s) => s.value), '6');
  assert.equal(await page.$eval('[data-testid=ptq-weight_bits]', (s) => s.disabled), true, 'locked');
  assert.equal(await page.$('[data-testid=ptq-act_bits]'), null, 'hidden');
  assert.match(await page.textContent('[data-testid=teacher-note]'), /\(1 control locked, 1 control hidden\)/);
  assert.match(await page.textContent('[data-testid=teacher-note]'), /Locked: ptq\.weight_bits\. Hidden: ptq\.act_bits\./, 'the note names them');
  // A misspelt name is named in the notice, not counted as locked, and dropped from the link.
  const { page: p3, errors: e3 } = await openPage(browser, `${url}#/model?lock=ptq.weigth_bits,ptq.act_bits`);
  await p3.waitForSelector('[data-testid=link-notice]');
  assert.match(await p3.textContent('[data-testid=link-notice]'), /"ptq\.weigth_bits"/);
  assert.match(await p3.textContent('[data-testid=teacher-note]'), /\(1 control locked\)/);
  assert.doesNotMatch(await p3.inputValue('[data-testid=share-link]'), /weigth/);
  await assertHealthy(p3, e3);
  // A control both hidden and locked is one control, hidden.
  const { page: both, errors: bothErrors } = await openPage(browser, `${url}#/model?hide=ptq.rounding,seed&lock=ptq.rounding`);
  await both.waitForSelector('[data-testid=teacher-note]');
  assert.match(await both.textContent('[data-testid=teacher-note]'), /\(2 controls hidden\)/);
  assert.doesNotMatch(await both.textContent('[data-testid=teacher-note]'), /Locked|greyed/);
  assert.equal(await both.$('[data-testid=ptq-rounding]'), null);
  await assertHealthy(both, bothErrors);
  // Nothing from the link becomes HTML.
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/model?model=%3Cimg%20src=x%20onerror=alert(1)%3E`);
  await p2.waitForSelector('[data-testid=link-notice]');
  assert.equal(await p2.$('img'), null);
  assert.match(await p2.textContent('[data-testid=link-notice]'), /<img/);
  await assertHealthy(page, errors);
  await assertHealthy(p2, e2);
  // The mixed-bit settings are live only where they are read: the target cosine under auto_tune,
  // the size budget in the size-budget task.
  const { page: p4, errors: e4 } = await openPage(browser, `${url}#/model?task=mixed_bit`);
  const off = (id) => p4.$eval(`[data-testid=${id}]`, (i) => i.disabled);
  await p4.waitForSelector('[data-testid=mixed_bit-size_budget]');
  assert.equal(await off('mixed_bit-size_budget'), true, 'no budget in the mixed-bit task');
  assert.equal(await off('mixed_bit-target_cosine'), true, 'no target without auto_tune');
  await p4.click('[data-testid=mixed_bit-auto_tune]');
  await p4.waitForFunction(() => !document.querySelector('[data-testid=mixed_bit-target_cosine]').disabled);
  await p4.evaluate(() => { location.hash = '#/model?task=size_budget&mixed_bit.size_budget=60000'; });
  await p4.waitForFunction(() => !document.querySelector('[data-testid=mixed_bit-size_budget]').disabled);
  await assertHealthy(p4, e4);
});

test('Cancel stops a long sweep within a second, and the page keeps working', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?task=sweep`);
  await page.click('[data-testid=run]');
  await page.waitForFunction(() => /bits/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 120_000 });
  // A model dropped while the job runs is refused, with why: taken, the sweep of the model before
  // would have shown under its name.
  const good = await readFile(join(root, 'tests', 'fixtures', 'st_mlp_state_dict.safetensors'));
  await page.setInputFiles('[data-testid=model-drop-input]', { name: 'during.safetensors', mimeType: 'application/octet-stream', buffer: good });
  await page.waitForSelector('[data-testid=model-drop-refused]');
  assert.match(await page.textContent('[data-testid=model-drop-refused]'), /a job is running: give the files again when it has finished/);
  assert.equal(await page.$('[data-testid=model-reading]'), null, 'the file is not read');
  const t0 = Date.now();
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=cancelled]', { timeout: 1000 });
  const took = Date.now() - t0;
  assert.ok(took < 1000, `stopped in ${took} ms`);
  assert.equal(await page.$('[data-testid=job-status]'), null);
  // A new run works on a fresh worker.
  await page.selectOption('[data-testid=task]', 'ptq');
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  await assertHealthy(page, errors);
});

test('the controls a task sets itself are off, and the narrow range goes with symmetric weights', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model`);
  await page.waitForSelector('[data-testid=layer-table]');
  const disabled = (id) => page.$eval(`[data-testid=${id}]`, (e) => e.disabled);
  assert.equal(await disabled('ptq-weight_bits'), false);
  assert.equal(await disabled('bits-nn1'), false);
  // The sweep sets each cell's bits, granularity and activation calibration.
  await page.selectOption('[data-testid=task]', 'sweep');
  await page.waitForSelector('[data-testid=task-sets]');
  for (const id of ['ptq-weight_bits', 'ptq-act_bits', 'ptq-granularity-kind', 'ptq-act_calibration-method', 'bits-nn1']) {
    assert.equal(await disabled(id), true, `${id} is off in a sweep`);
  }
  assert.equal(await disabled('ptq-method'), false, 'the method still applies');
  // The mixed-bit search chooses every layer's bits; under auto_tune it also searches init_scale.
  await page.selectOption('[data-testid=task]', 'mixed_bit');
  await page.waitForSelector('[data-testid=task-sets]');
  assert.equal(await disabled('ptq-weight_bits'), true);
  assert.equal(await disabled('bits-nn1'), true);
  assert.equal(await disabled('ptq-act_bits'), false);
  const tuned = await page.$eval('[data-testid=mixed_bit-auto_tune]', (e) => e.checked);
  assert.equal(await disabled('mixed_bit-init_scale'), tuned);
  // Asymmetric weights: the narrow range is cleared and off, and stays out of the link.
  await page.selectOption('[data-testid=task]', 'ptq');
  await page.check('[data-testid=ptq-narrow_range]');
  await page.waitForFunction(() => /ptq\.narrow_range=true/.test(location.hash));
  await page.uncheck('[data-testid=ptq-weight_symmetric]');
  await page.waitForFunction(() => !/narrow_range/.test(location.hash));
  assert.equal(await disabled('ptq-narrow_range'), true);
  assert.equal(await page.$eval('[data-testid=ptq-narrow_range]', (e) => e.checked), false);
  await assertHealthy(page, errors);
});

test('bad model files show a message and the model loaded before stays', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model`);
  await page.waitForSelector('[data-testid=layer-table]');
  const good = await readFile(join(root, 'www', 'models', 'cnn-fashion.safetensors'));
  await page.setInputFiles('[data-testid=model-drop-input]', { name: 'my-cnn.safetensors', mimeType: 'application/octet-stream', buffer: good });
  await page.waitForFunction(() => /conv1[\s\S]*Conv2d/.test(document.querySelector('[data-testid=layer-table]').textContent));
  const table = await page.textContent('[data-testid=layer-table]');

  // A model that reads but cannot run on these datasets (7 classes): refused when it is loaded.
  const header = Buffer.from(JSON.stringify({ 'fc.weight': { dtype: 'F32', shape: [7, 784], data_offsets: [0, 21952] }, 'fc.bias': { dtype: 'F32', shape: [7], data_offsets: [21952, 21980] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const seven = Buffer.concat([len, header, Buffer.alloc(21980)]);
  const bad = [
    ['seven.safetensors', seven, /the model has 7 outputs, but MNIST and Fashion-MNIST have 10 classes/],
    ['truncated.safetensors', good.subarray(0, 300), /truncated\.safetensors/],
    ['sigmoid.onnx', await readFile(join(root, 'tests', 'fixtures', 'onnx_unsupported_sigmoid.onnx')), /Sigmoid/],
    ['notes.txt', Buffer.from('hello'), /\.safetensors or \.onnx/],
  ];
  for (const [name, buffer, message] of bad) {
    await page.setInputFiles('[data-testid=model-drop-input]', { name, mimeType: 'application/octet-stream', buffer });
    await page.waitForFunction((n) => document.querySelector('[data-testid=model-error]')?.textContent.includes(n), name);
    assert.match(await page.textContent('[data-testid=model-error]'), message);
    assert.equal(await page.textContent('[data-testid=layer-table]'), table, `${name}: the loaded model is still there`);
  }
  // Cancel while the worker reads a large model (an MLP 784-20000-10, 15.9 M weights, 64 MB): the
  // reading stops, the page says so as a note, and the model loaded before stays.
  const [hidden, inputs, classes] = [20_000, 784, 10];
  const offsets = [0, hidden * inputs * 4, hidden * inputs * 4 + hidden * 4, (hidden * inputs + hidden + classes * hidden) * 4];
  const bigHeader = Buffer.from(JSON.stringify({
    '0.weight': { dtype: 'F32', shape: [hidden, inputs], data_offsets: [offsets[0], offsets[1]] },
    '0.bias': { dtype: 'F32', shape: [hidden], data_offsets: [offsets[1], offsets[2]] },
    '2.weight': { dtype: 'F32', shape: [classes, hidden], data_offsets: [offsets[2], offsets[3]] },
    '2.bias': { dtype: 'F32', shape: [classes], data_offsets: [offsets[3], offsets[3] + classes * 4] },
  }));
  const bigLen = Buffer.alloc(8);
  bigLen.writeBigUInt64LE(BigInt(bigHeader.length));
  const bigPath = join(tmpdir(), 'qplay-e2e-wide-mlp.safetensors');
  await writeFile(bigPath, Buffer.concat([bigLen, bigHeader, Buffer.alloc(offsets[3] + classes * 4)]));
  const memoryBefore = await pageMemoryMiB(page);
  try {
    await page.setInputFiles('[data-testid=model-drop-input]', bigPath);
    const t0 = Date.now();
    await page.click('[data-testid=model-reading-cancel]');
    console.log(`Cancel clicked ${Date.now() - t0} ms after the 64 MB model was dropped`);
  } finally {
    await rm(bigPath, { force: true });
  }
  await page.waitForFunction(() => /Reading qplay-e2e-wide-mlp\.safetensors was cancelled; the model loaded before is still here\./.test(document.querySelector('[data-testid=model-reading-cancelled]')?.textContent ?? ''));
  assert.equal(await page.$('[data-testid=model-error]'), null, 'a Cancel is a note, not an error');
  assert.equal(await page.textContent('[data-testid=layer-table]'), table, 'the loaded model is still there');
  // The page keeps a dropped model as a blob the browser holds, not in its own memory (which
  // never shrinks): copied there, the 64 MB had stayed with the page.
  const memoryAfter = await pageMemoryMiB(page);
  assert.ok(memoryAfter - memoryBefore < 16, `the page's memory grew ${memoryBefore} → ${memoryAfter} MiB`);
  // The loaded model runs (on the restarted worker).
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  assert.ok(pct(await page.textContent('[data-testid=fp32-accuracy]')) > 85);
  await screenshot(page, 'model-file.png');
  // A link to a built-in model in this tab, then Back: the entry of the run on the file opens on
  // the file again (it is still loaded), with no notice that a file cannot travel in a link.
  assert.match(page.url(), /model=file/);
  await page.evaluate(() => { location.hash = '#/model?ptq.weight_bits=4'; });
  await page.waitForFunction(() => /nn1[\s\S]*Linear/.test(document.querySelector('[data-testid=layer-table]').textContent));
  await page.goBack();
  await page.waitForFunction(() => /conv1[\s\S]*Conv2d/.test(document.querySelector('[data-testid=layer-table]').textContent));
  assert.match(page.url(), /model=file/);
  assert.equal(await page.$('[data-testid=link-notice]'), null, 'no notice on Back to the file');
  assert.ok(pct(await page.textContent('[data-testid=fp32-accuracy]')) > 85, 'the run on the file is shown again');
  // Another file: the first file's results are not shown as this one's (both are model=file).
  const mlp = await readFile(join(root, 'www', 'models', 'mlp-fashion.safetensors'));
  await page.setInputFiles('[data-testid=model-drop-input]', { name: 'my-mlp.safetensors', mimeType: 'application/octet-stream', buffer: mlp });
  await page.waitForFunction(() => /nn1[\s\S]*Linear/.test(document.querySelector('[data-testid=layer-table]').textContent));
  const shown = await page.$eval('[data-testid=ptq-result]', (e) => e.textContent).catch(() => '');
  assert.ok(!/conv1/.test(shown), `the CNN's results went with it: ${shown.slice(0, 200)}`);
  await assertHealthy(page, errors);
});

test('a file read after another file\'s fast run runs by itself, as one read after a built-in model\'s does', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model`);
  await page.waitForSelector('[data-testid=layer-table]');
  const mlp = await readFile(join(root, 'www', 'models', 'mlp-fashion.safetensors'));
  await page.setInputFiles('[data-testid=model-drop-input]', { name: 'my-mlp.safetensors', mimeType: 'application/octet-stream', buffer: mlp });
  await page.waitForFunction(() => /model=file/.test(location.hash));
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  assert.match(await page.textContent('[data-testid=ptq-result]'), /nn1/);
  // The MLP's run is fast: the CNN read in its place runs by itself (before, its results went and
  // nothing ran until Run, though a file read after a built-in model's fast run did run).
  const cnn = await readFile(join(root, 'www', 'models', 'cnn-fashion.safetensors'));
  await page.setInputFiles('[data-testid=model-drop-input]', { name: 'my-cnn.safetensors', mimeType: 'application/octet-stream', buffer: cnn });
  await page.waitForFunction(() => /conv1[\s\S]*Conv2d/.test(document.querySelector('[data-testid=layer-table]').textContent));
  await page.waitForFunction(() => /conv1/.test(document.querySelector('[data-testid=ptq-result]')?.textContent ?? ''), null, { timeout: 120_000 });
  assert.equal(await page.$('[data-testid=stale]'), null, 'the result is of the settings shown');
  assert.ok(pct(await page.textContent('[data-testid=fp32-accuracy]')) > 85);
  await assertHealthy(page, errors);
});

test('a link made on a model file keeps its per-layer settings until the file is loaded', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?model=file&ptq.skip=nn2&ptq.weight_bits=4&ptq.layer_bits.nn3=6&ptq.layer_bits.fc9=3`);
  await page.waitForSelector('[data-testid=link-notice]');
  // Before, they were checked against the built-in MLP shown meanwhile and dropped.
  assert.match(await page.textContent('[data-testid=link-notice]'), /load the file to use it; its per-layer settings \(ptq\.skip, ptq\.layer_bits\) wait for it/);
  assert.doesNotMatch(await page.textContent('[data-testid=link-notice]'), /Ignored/);
  const mlp = await readFile(join(root, 'www', 'models', 'mlp-fashion.safetensors'));
  await page.setInputFiles('[data-testid=model-drop-input]', { name: 'my-mlp.safetensors', mimeType: 'application/octet-stream', buffer: mlp });
  // (The link already says model=file: wait for the file's settings instead.)
  await page.waitForFunction(() => !/cannot travel/.test(document.querySelector('[data-testid=link-notice]')?.textContent ?? ''));
  assert.equal(await page.isChecked('[data-testid=skip-nn2]'), true);
  assert.equal(await page.$eval('[data-testid=bits-nn3]', (s) => s.value), '6');
  const hash = await page.evaluate(() => location.hash);
  assert.match(hash, /ptq\.skip=nn2/);
  assert.match(hash, /ptq\.layer_bits\.nn3=6/);
  const notice = await page.textContent('[data-testid=link-notice]');
  assert.match(notice, /Ignored ptq\.layer_bits\.fc9 in the link: the model file has no quantizable layer "fc9" \(its layers are nn1, nn2, nn3\)/);
  assert.doesNotMatch(notice, /cannot travel/);
  await assertHealthy(page, errors);
});

test('the calibration images are asked for and reported where the settings read them', async () => {
  // Dynamic PTQ reads none: no box, and the result says so (it reported "10000 / 256").
  const { page, errors } = await openPage(browser, `${url}#/model?ptq.mode=dynamic&eval_size=1000`);
  await page.waitForSelector('[data-testid=layer-table]');
  assert.equal(await page.$('[data-testid=calib_size]'), null);
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=ptq-result]', { timeout: 120_000 });
  assert.equal(await page.textContent('[data-testid=images]'), '1000 / none (these settings read no calibration images)');
  // Bias correction measures each layer's error on them, under any mode: the box is back, and
  // the count it sets is the one reported (the box was shown under full quantization only).
  await page.check('[data-testid=ptq-bias_correction]');
  await page.waitForSelector('[data-testid=calib_size]');
  await page.fill('[data-testid=calib_size]', '128');
  await page.press('[data-testid=calib_size]', 'Enter');
  await page.waitForFunction(() => /calib_size=128/.test(location.hash));
  await page.click('[data-testid=run]');
  await page.waitForFunction(() => document.querySelector('[data-testid=images]')?.textContent === '1000 / 128', null, { timeout: 120_000 });
  // Each activation calibrator's own setting has a box (it was in the link only).
  await page.selectOption('[data-testid=ptq-mode]', 'full');
  await page.selectOption('[data-testid=ptq-act_calibration-method]', 'percentile');
  await page.fill('[data-testid=ptq-act_calibration-percentile]', '99.9');
  await page.press('[data-testid=ptq-act_calibration-percentile]', 'Enter');
  await page.waitForFunction(() => /ptq\.act_calibration\.percentile=99\.9(&|$)/.test(location.hash));
  await page.selectOption('[data-testid=ptq-act_calibration-method]', 'kl');
  assert.equal(await page.inputValue('[data-testid=ptq-act_calibration-bins]'), '2048');
  await page.fill('[data-testid=ptq-act_calibration-bins]', '100');
  await page.press('[data-testid=ptq-act_calibration-bins]', 'Enter');
  await page.waitForFunction(() => /ptq\.act_calibration\.bins=128(&|$)/.test(location.hash));
  await page.selectOption('[data-testid=ptq-act_calibration-method]', 'moving_average_min_max');
  assert.equal(await page.inputValue('[data-testid=ptq-act_calibration-batch]'), '256');
  await page.selectOption('[data-testid=ptq-act_calibration-method]', 'min_max');
  assert.equal(await page.$('[data-testid=ptq-act_calibration-bins]'), null);
  await assertHealthy(page, errors);
});

test('a task\'s result of earlier settings is marked as such, as the PTQ result is', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?task=layerwise&eval_size=500`);
  await page.waitForSelector('[data-testid=layer-table]');
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=layerwise-result]', { timeout: 300_000 });
  assert.equal(await page.$('[data-testid=stale]'), null);
  // Another method: the analysis shown is of the previous one.
  const method = await page.$eval('[data-testid=ptq-method]', (s) => s.value);
  const other = await page.$eval('[data-testid=ptq-method]', (s, m) => [...s.options].map((o) => o.value).find((v) => v !== m), method);
  await page.selectOption('[data-testid=ptq-method]', other);
  await page.waitForSelector('[data-testid=stale]');
  assert.match(await page.textContent('[data-testid=stale]'), /earlier settings/);
  assert.ok(await page.$('[data-testid=layerwise-result]'), 'the result stays, marked');
  // Back to the settings it ran with: no mark.
  await page.selectOption('[data-testid=ptq-method]', method);
  await page.waitForFunction(() => !document.querySelector('[data-testid=stale]'));
  await assertHealthy(page, errors);
});

test('weight-only W4 runs on the integer kernels with the simulation\'s accuracy, timed against FP32', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?model=cnn-fashion&ptq.mode=weight_only&ptq.weight_bits=4&eval_size=1000`);
  await page.waitForSelector('[data-testid=layer-table]');
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=quant-latency]', { timeout: 120_000 });
  assert.equal(await page.textContent('[data-testid=engine]'), 'weight-only W4 kernels');
  // The kernels' predictions are the simulation's (conv2 and fc on qmatmul, conv1's 9 inputs packed).
  const sim = await page.textContent('[data-testid=sim-accuracy]');
  const [, a, b] = sim.match(/^([\d.]+ %) \(kernels ([\d.]+ %)\)$/);
  assert.equal(a, b, sim);
  assert.equal(await page.textContent('[data-testid=quant-accuracy]'), b);
  assert.equal(await page.$('[data-testid=speed-simulated]'), null, 'the weight-only kernels ran');
  assert.match(await page.textContent('[data-testid=quant-latency]'), /\(\d+\.\d\d× (faster|slower)\)$/);
  await drawn(page, 'samples-chart');
  await screenshot(page, 'model-weight-only.png');
  await assertHealthy(page, errors);
});

test('the Seed box takes the seeds the Tensor page takes, up to 2^53 − 1, and says when it clamps', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model`);
  await page.waitForSelector('[data-testid=seed]');
  const type = (v) => page.$eval('[data-testid=seed]', (e, v) => {
    e.value = v;
    e.dispatchEvent(new Event('change', { bubbles: true }));
  }, v);
  // Once 2^32 − 1 was the limit here while a link carried larger seeds.
  await type('4294967296');
  await page.waitForFunction(() => /seed=4294967296(&|$)/.test(location.hash));
  assert.equal(await page.$('[data-testid=seed-note]'), null);
  await type('1e30');
  await page.waitForFunction(() => /seed=9007199254740991(&|$)/.test(location.hash));
  assert.equal(await page.textContent('[data-testid=seed-note]'), '1e30 is outside 0–9007199254740991: using 9007199254740991');
  assert.equal(await page.$eval('[data-testid=seed]', (e) => e.value), '9007199254740991');
  await assertHealthy(page, errors);
});

test('the rounding mode is a control: a link\'s stochastic rounding and its seed are shown, and a change re-rounds the weights', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model?ptq.mode=weight_only&ptq.weight_bits=2&ptq.granularity.kind=per_tensor&eval_size=500&ptq.rounding.stochastic.seed=7`);
  await page.waitForSelector('[data-testid=layer-table]');
  // The link's stochastic rounding was applied and shown nowhere; now it is the select's choice, with its seed.
  assert.equal(await page.$eval('[data-testid=ptq-rounding]', (e) => e.value), 'stochastic');
  assert.equal(await page.$eval('[data-testid=ptq-rounding-stochastic-seed]', (e) => e.value), '7');
  // The result of the settings shown (a result of earlier ones is marked stale; after the first
  // run a change runs again by itself).
  const accuracy = async () => {
    await page.waitForFunction(() => document.querySelector('[data-testid=quant-accuracy]') && !document.querySelector('[data-testid=stale]')
      && !document.querySelector('[data-testid=job-status]'), null, { timeout: 120_000 });
    return page.textContent('[data-testid=quant-accuracy]');
  };
  await page.click('[data-testid=run]');
  const stochastic = await accuracy();
  // Round to nearest: the seed box goes, the link drops the setting (the default), and 2-bit
  // per-tensor weights rounded otherwise give another accuracy.
  await page.selectOption('[data-testid=ptq-rounding]', 'half_even');
  await page.waitForFunction(() => !/rounding/.test(location.hash));
  assert.equal(await page.$('[data-testid=ptq-rounding-stochastic-seed]'), null);
  const nearest = await accuracy();
  assert.notEqual(nearest, stochastic, `stochastic rounding (seed 7) and half to even both gave ${nearest}`);
  await page.selectOption('[data-testid=ptq-rounding]', 'floor');
  await page.waitForFunction(() => /ptq\.rounding=floor(&|$)/.test(location.hash));
  // Stochastic again, with a seed typed: the link carries it.
  await page.selectOption('[data-testid=ptq-rounding]', 'stochastic');
  await page.fill('[data-testid=ptq-rounding-stochastic-seed]', '9');
  await page.press('[data-testid=ptq-rounding-stochastic-seed]', 'Enter');
  await page.waitForFunction(() => /ptq\.rounding\.stochastic\.seed=9(&|$)/.test(location.hash));
  await assertHealthy(page, errors);
  // A teacher can lock it like any other control, by its link name.
  const locked = await openPage(browser, `${url}#/model?lock=ptq.rounding`);
  await locked.page.waitForSelector('[data-testid=layer-table]');
  assert.equal(await locked.page.$eval('[data-testid=ptq-rounding]', (e) => e.disabled), true);
  assert.equal(await locked.page.$('[data-testid=link-notice]'), null, 'ptq.rounding is a name the page knows');
  await assertHealthy(locked.page, locked.errors);
});
