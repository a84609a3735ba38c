// End-to-end: the Lab walkthrough runs every step in headless Chromium and fills the
// FP32 / PTQ / QAT table with measured numbers. Fails on any console error or panic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, screenshot, useServedApp, pct, assertHealthy } from './harness.mjs';

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
  await assertHealthy(page, errors);
});

test("a Lab link keeps the lab's own settings, a link opened mid-session clears the results, and the steps go on on another page", async () => {
  // A teacher's short link: only the bits. The rest stays the lab's (per tensor, asymmetric),
  // so it runs exactly what choosing 4 in the select runs.
  const { page, errors } = await openPage(browser, `${url}#/lab?ptq.weight_bits=4&ptq.act_bits=4`);
  assert.equal(await page.inputValue('[data-testid=lab-bits]'), '4');
  const words = await page.textContent('[data-testid=lab-ptq-words]');
  assert.match(words, /one s and Z per weight tensor \(asymmetric, the normal method\)/);
  assert.match(words, /from its min and max over 256 training images, all at once/);
  await page.click('text=Run steps 1 and 3');
  await page.waitForSelector('[data-testid=lab-ptq]', { timeout: 120_000 });
  const fromLink = await page.textContent('[data-testid=step-3] .result');
  assert.match(fromLink, /^W4A4 PTQ accuracy/);
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/lab`);
  await p2.selectOption('[data-testid=lab-bits]', '4');
  await p2.click('text=Run steps 1 and 3');
  await p2.waitForSelector('[data-testid=lab-ptq]', { timeout: 120_000 });
  assert.equal(await p2.textContent('[data-testid=step-3] .result'), fromLink, 'the link and the select run the same PTQ');
  assert.deepEqual(e2, []);
  await p2.close();

  // Another link followed in the same tab: the old results do not stay under the new settings.
  await page.evaluate(() => { location.hash = '#/lab?ptq.weight_bits=16&ptq.mode=weight_only&qat.epochs=2'; });
  await page.waitForFunction(() => !document.querySelector('[data-testid=lab-ptq]'));
  // 16 bits is not among the select's widths: the select says what runs.
  assert.match(await page.textContent('[data-testid=lab-bits] option:checked'), /W16 A8 \(from the link\)/);
  assert.match(await page.textContent('[data-testid=lab-ptq-words]'), /activations stay in FP32 \(weight-only\)/);
  assert.match(await page.textContent('[data-testid=step-5]'), /2 epochs over the training images/);
  await page.click('text=Run steps 1 and 3');
  await page.waitForSelector('[data-testid=lab-ptq]', { timeout: 120_000 });
  assert.match(await page.textContent('[data-testid=step-3] .result'), /^W16 weight-only PTQ accuracy/);

  // "Run every step", then another page: the steps go on without the Lab on screen.
  await page.evaluate(() => { location.hash = '#/lab'; });
  await page.waitForFunction(() => !document.querySelector('[data-testid=lab-ptq]'));
  await page.click('[data-testid=lab-run-all]');
  await page.click('nav >> text=Tensor');
  await page.waitForTimeout(500);
  assert.equal(await page.isVisible('[data-testid=lab-run-all]'), false, 'the Lab is off screen');
  // The three steps take about 5 s on an idle machine; the Lab used to stop after the step
  // that was running when the page changed.
  await page.waitForTimeout(45_000);
  await page.click('nav >> text=Lab');
  // Finished while away: the table is there at once, not after the steps start again.
  await page.waitForSelector('[data-testid=qat-table]', { timeout: 3_000 });
  assert.ok(await page.isVisible('[data-testid=lab-mse-table]'));
  const deployed = pct(await page.textContent('[data-testid=table-qat-deployed]'));
  assert.ok(deployed > 80 && deployed <= 100, `deployed QAT ${deployed}`);
  assert.match(await page.textContent('[data-testid=qat-table]'), /QAT \(fake-quant, as trained\)/);
  assert.equal(await page.isVisible('#panic-banner'), false);
  await assertHealthy(page, errors);
});

test('a Lab link that names another model or task is told so, and the PTQ words say every setting it makes', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lab?model=cnn-fashion&task=sweep&ptq.skip=nn1&ptq.layer_bits.nn2=2&ptq.bias_correction=true`);
  const notice = await page.textContent('[data-testid=link-notice]');
  assert.match(notice, /Ignored model in the link: the Lab runs the handout's MLP \(mlp-fashion/);
  assert.match(notice, /Ignored task in the link: the Lab runs its steps in order/);
  const words = await page.textContent('[data-testid=lab-ptq-words]');
  assert.match(words, /with nn2 at 2 bits; left in FP32: nn1; biases corrected/);
  await screenshot(page, 'lab-link-notice.png');
  // The dataset chooses the MLP: no notice for a link that only says mnist.
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/lab?dataset=mnist`);
  assert.equal(await p2.$('[data-testid=link-notice]'), null);
  assert.deepEqual(e2, []);
  await p2.close();
  await assertHealthy(page, errors);
});

test('with the clip method, step 3 says why a network with ReLUs falls to chance', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lab`);
  await page.waitForSelector('[data-testid=lab-ptq-words]');
  assert.equal(await page.$('[data-testid=lab-clip-why]'), null, 'normal: nothing to explain');
  await page.selectOption('[data-testid=lab-method]', 'clip');
  assert.match(await page.textContent('[data-testid=lab-clip-why]'), /zero itself cannot be stored.*0 → 128·β \/ 511/);
  await assertHealthy(page, errors);
});
