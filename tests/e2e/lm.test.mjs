// End-to-end tests of the Language-model page against the release build, in headless Chromium:
// a W8 RTN run within 0.5 % of FP32, a W4 g32 run in a second table row, side-by-side generation,
// a share link, Cancel. Every test fails on any console error, page error or panic banner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openPage, screenshot, root, artifacts, useServedApp, assertHealthy } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

const rows = (page) => page.$$eval('[data-testid=lm-row]', (trs) => trs.map((tr) => ({
  label: tr.querySelector('[data-testid=lm-label]').textContent,
  fp32: parseFloat(tr.querySelector('[data-testid=ppl-fp32]').textContent),
  quant: parseFloat(tr.querySelector('[data-testid=ppl-quant]').textContent),
  delta: parseFloat(tr.querySelector('[data-testid=delta]').textContent),
  kl: parseFloat(tr.querySelector('[data-testid=kl]').textContent),
})));

async function runAndWait(page, n) {
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction((k) => document.querySelectorAll('[data-testid=lm-row]').length === k, n, { timeout: 180_000 });
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 10_000 });
}

test('W8 RTN stays within 0.5 % of FP32, W4 g32 adds a row, and both models write side by side', async () => {
  // 2,049 tokens: 8 windows of 256 predictions (the page's default is the CLI's 8,193).
  const { page, errors } = await openPage(browser, `${url}#/lm?tokens=2049&max_new=120`);
  await page.waitForSelector('[data-testid=lm-table-empty]');
  assert.match(await page.textContent('header nav'), /Language model/);
  // Every control has a tooltip.
  for (const id of ['weights', 'bits', 'group', 'symmetric', 'narrow', 'int8_acts', 'kv', 'skip', 'tokens', 'prompt', 'max_new', 'temperature', 'top_k', 'top_p', 'seed']) {
    const title = await page.$eval(`[data-testid=lm-${id}]`, (el) => el.closest('label').title);
    assert.ok(title.length > 40, `${id} has a tooltip`);
  }

  await page.selectOption('[data-testid=lm-weights]', 'rtn');
  assert.equal(await page.$eval('[data-testid=lm-bits]', (s) => s.value), '8');
  assert.equal(await page.$eval('[data-testid=lm-group]', (s) => s.value), '0');
  assert.match(await page.evaluate(() => location.hash), /weights=rtn/);
  await runAndWait(page, 1);
  let r = await rows(page);
  assert.match(r[0].label, /W8 per-channel RTN/);
  assert.ok(r[0].fp32 > 2 && r[0].fp32 < 10, `FP32 perplexity ${r[0].fp32}`);
  assert.ok(Math.abs(r[0].quant - r[0].fp32) / r[0].fp32 <= 0.005, `W8 ${r[0].quant} within 0.5 % of FP32 ${r[0].fp32}`);
  // FP32 against W8 in tokens/s, as the GPT-J guide's table: the speed-up in the row, the rates under the table.
  assert.match(await page.textContent('[data-testid=speed-up]'), /^×\d+\.\d\d×\d+\.\d\d$/);
  const speed = await page.textContent('[data-testid=lm-speed]');
  assert.match(speed, /^Last run, in this worker: decoding \d+ → \d+ tokens\/s FP32 → quantized \(×\d+\.\d\d; a token's latency [\d.]+ ms → [\d.]+ ms\), prefilling 64 tokens \d+ → \d+ tokens\/s \(×\d+\.\d\d\)\.$/);
  console.log(speed);

  await page.selectOption('[data-testid=lm-bits]', '4');
  await page.selectOption('[data-testid=lm-group]', '32');
  await runAndWait(page, 2);
  r = await rows(page);
  assert.match(r[1].label, /W4 g32 RTN/);
  assert.equal(r[1].fp32, r[0].fp32, 'the same FP32 baseline');
  assert.ok(r[1].delta > r[0].delta, `W4 (${r[1].delta} %) costs more than W8 (${r[0].delta} %)`);
  assert.match(await page.textContent('[data-testid=lm-layers]'), /layers\.5\.feed_forward\.w2/);
  // Each projection with its shape, FP32 size, stored size and bits per weight (w2: 128 × 384 at W4 g32).
  const w2row = await page.$$eval('[data-testid=lm-layers] tbody tr', (trs) => trs.map((tr) => tr.textContent).find((t) => t.includes('layers.5.feed_forward.w2')));
  assert.match(w2row, /128 × 384/);
  assert.match(w2row, /5\.00/, `W4 g32 with f32 scales is 4 + 32/32 = 5 bits per weight: ${w2row}`);

  // Inside a projection: one row of W4 g32 weights on its group grids, and the histogram.
  await page.selectOption('[data-testid=inspect-layer]', 'layers.0.feed_forward.w2');
  await page.fill('[data-testid=inspect-row]', '5');
  await page.dispatchEvent('[data-testid=inspect-row]', 'change');
  await page.click('[data-testid=inspect-show]');
  await page.waitForSelector('[data-testid=lm-weights-row]', { timeout: 60_000 });
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 10_000 });
  // w2 reads the 384 hidden channels: 12 groups of 32, each with its own 4-bit grid.
  assert.match(await page.textContent('[data-testid=inspect-summary]'), /12 groups of 32 per row, each with its own 4-bit grid/);
  assert.match(await page.$eval('[data-testid=lm-weights-row]', (c) => c.getAttribute('aria-label')), /Row 5 of layers\.0\.feed_forward\.w2/);
  assert.ok(await page.$('[data-testid=lm-weights-hist]'));
  // RTN rescales no activation: the activation chart says which methods do.
  assert.match(await page.textContent('[data-testid=act-ranges-none]'), /AWQ or SmoothQuant/);
  await page.$eval('[data-testid=lm-weights-row]', (c) => c.scrollIntoView());
  const inspectShot = await screenshot(page, 'lm-weights.png');
  await copyFile(inspectShot, join(root, 'docs', 'screenshots', 'lm-weights.png'));

  // Side-by-side generation with the W4 g32 settings: the two columns stream together (the
  // models step in turn), so the quantized column never waits for the FP32 one to finish.
  await page.evaluate(() => {
    window.__genSnapshots = [];
    const len = (id) => document.querySelector(`[data-testid=${id}]`)?.querySelectorAll('.tok').length ?? 0;
    const obs = new MutationObserver(() => window.__genSnapshots.push([len('gen-fp32'), len('gen-quant'), !!document.querySelector('[data-testid=job-status]')]));
    obs.observe(document.body, { childList: true, subtree: true });
    window.__genObserver = obs;
  });
  await page.click('[data-testid=lm-generate]');
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 120_000 });
  const snaps = await page.evaluate(() => {
    window.__genObserver.disconnect();
    return window.__genSnapshots;
  });
  const final = snaps[snaps.length - 1];
  assert.ok(final[0] > 50 && final[1] > 50, `both columns wrote: ${JSON.stringify(final)}`);
  const running = snaps.filter((s) => s[2] && (s[0] > 0 || s[1] > 0));
  for (const [a, b] of running) {
    assert.equal(a, b, `the columns stream together: ${a} FP32 tokens against ${b}`);
  }
  const captions = await page.$$eval('.lm-generation figcaption', (fs) => fs.map((f) => f.textContent));
  assert.ok(captions.every((c) => /\d+ tokens\/s/.test(c)), captions.join(' | '));
  console.log(`generation: ${running.length} streamed updates before the end, final ${final[0]} / ${final[1]} tokens; ${captions.join(' | ')}`);
  const fp32Text = await page.textContent('[data-testid=gen-fp32]');
  const quantText = await page.textContent('[data-testid=gen-quant]');
  assert.ok(fp32Text.startsWith('ROMEO:') && fp32Text.length > 100, `FP32 wrote ${JSON.stringify(fp32Text)}`);
  assert.ok(quantText.startsWith('ROMEO:') && quantText.length > 100, `W4 wrote ${JSON.stringify(quantText)}`);
  const marked = await page.$('[data-testid=divergence]');
  const none = await page.$('[data-testid=no-divergence]');
  assert.ok(marked || none, 'a divergence is marked or there is none');
  if (marked) {
    // Everything before the marked token is the same in both columns.
    const prefix = (id) => page.$eval(`[data-testid=${id}]`, (el) => {
      let s = '';
      for (const n of el.children) {
        if (n.dataset.testid?.startsWith('divergence')) break;
        s += n.textContent;
      }
      return s;
    });
    assert.equal(await prefix('gen-quant'), await prefix('gen-fp32'));
    assert.match(await page.textContent('[data-testid=divergence-note]'), /part at generated token \d+/);
  } else {
    assert.equal(fp32Text, quantText);
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  const shot = await screenshot(page, 'lm.png');
  await mkdir(join(root, 'docs', 'screenshots'), { recursive: true });
  await copyFile(shot, join(root, 'docs', 'screenshots', 'lm.png'));
  await page.setViewportSize({ width: 1024, height: 900 });
  // At 1024 px the comparison table and the Q/DQ graph fit the page without scrolling sideways.
  const fit = await page.evaluate(() => {
    const over = (el) => el && Math.round(el.getBoundingClientRect().width) - el.parentElement.clientWidth;
    return { table: over(document.querySelector('[data-testid=lm-table]')), qdq: over(document.querySelector('svg.qdq-graph')) };
  });
  assert.ok(fit.table <= 1, `the table overflows by ${fit.table} px at 1024 px`);
  assert.ok(fit.qdq === null || fit.qdq <= 1, `the Q/DQ graph overflows by ${fit.qdq} px at 1024 px`);
  await copyFile(await screenshot(page, 'lm-1024.png'), join(root, 'docs', 'screenshots', 'lm-1024.png'));
  await page.setViewportSize({ width: 1280, height: 900 });

  // The share link reproduces the table row and the generated text in a fresh page (and worker).
  const link = await page.$eval('[data-testid=share-link]', (i) => i.value);
  assert.match(link, /#\/lm\?weights=rtn&bits=4&group=32/);
  await page.click('[data-testid=copy-link]');
  await page.waitForSelector('[data-testid=copy-status]');
  assert.match(await page.textContent('[data-testid=copy-status]'), /Link copied|Ctrl\+C/);
  const { page: p2, errors: e2 } = await openPage(browser, link);
  await runAndWait(p2, 1);
  const again = (await rows(p2))[0];
  assert.deepEqual(again, r[1], 'the same row');
  await p2.click('[data-testid=lm-generate]');
  await p2.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 120_000 });
  assert.equal(await p2.textContent('[data-testid=gen-fp32]'), fp32Text);
  assert.equal(await p2.textContent('[data-testid=gen-quant]'), quantText);
  await assertHealthy(p2, e2);

  // "Use" puts a row's settings back in the form, the dropdowns included (touched by hand above).
  const form = () => page.evaluate(() => ['bits', 'group'].map((k) => document.querySelector(`[data-testid=lm-${k}]`).value).join(' '));
  await page.click('[data-testid=lm-row]:nth-child(1) [data-testid=apply-row]');
  assert.equal(await form(), '8 0', 'the W8 per-channel row');
  assert.doesNotMatch(await page.evaluate(() => location.hash), /bits=/);
  await page.click('[data-testid=lm-row]:nth-child(2) [data-testid=apply-row]');
  assert.equal(await form(), '4 32', 'the W4 g32 row');
  // A teacher's link followed in this tab: the locked dropdowns show its values, and a row whose
  // settings would change a locked one cannot be used (the button says why).
  await page.evaluate(() => { location.hash = '#/lm?weights=rtn&tokens=2049&max_new=120&lock=bits,group'; });
  await page.waitForFunction(() => document.querySelector('[data-testid=lm-bits]').disabled);
  assert.equal(await form(), '8 0', 'the link\'s values, not the last ones picked');
  const use = (n) => page.$eval(`[data-testid=lm-row]:nth-child(${n}) [data-testid=apply-row]`, (b) => ({ disabled: b.disabled, title: b.title }));
  assert.equal((await use(1)).disabled, false, 'W8 per-channel changes no locked setting');
  const locked = await use(2);
  assert.equal(locked.disabled, true);
  assert.match(locked.title, /^Set by the link \(hidden or locked\): bits, group;/);
  await page.evaluate(() => { location.hash = '#/lm?weights=rtn&bits=4&group=32&tokens=2049&max_new=120'; });
  await page.waitForFunction(() => !document.querySelector('[data-testid=lm-bits]').disabled);
  assert.equal(await form(), '4 32');

  // Rows come off one by one.
  await page.click('[data-testid=lm-row]:first-child [data-testid=remove-row]');
  r = await rows(page);
  assert.equal(r.length, 1);
  assert.match(r[0].label, /W4 g32/);
  await assertHealthy(page, errors);
});

test('a share link opens with its settings; bad keys are skipped with a notice', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&bits=4&group=32`);
  await page.waitForSelector('[data-testid=lm-weights]');
  assert.equal(await page.$eval('[data-testid=lm-weights]', (s) => s.value), 'rtn');
  assert.equal(await page.$eval('[data-testid=lm-bits]', (s) => s.value), '4');
  assert.equal(await page.$eval('[data-testid=lm-group]', (s) => s.value), '32');
  assert.equal(await page.$('[data-testid=link-notice]'), null, 'no notice');
  assert.match(await page.$eval('[data-testid=share-link]', (i) => i.value), /#\/lm\?weights=rtn&bits=4&group=32$/);
  // The FP32 list and per-layer bits as typed text: a bad entry is named and changes nothing.
  assert.equal(await page.$eval('[data-testid=lm-skip]', (i) => i.value), 'output, tok_embeddings');
  await page.fill('[data-testid=lm-layer_bits]', 'feed_forward.w2=9');
  await page.dispatchEvent('[data-testid=lm-layer_bits]', 'change');
  assert.match(await page.textContent('[data-testid=lm-layer_bits-error]'), /feed_forward\.w2: 9 is outside 2–8/);
  // A name given twice with other bits is refused, not the last kept.
  await page.fill('[data-testid=lm-layer_bits]', 'feed_forward.w2=8, feed_forward.w2=4');
  await page.dispatchEvent('[data-testid=lm-layer_bits]', 'change');
  assert.equal(await page.textContent('[data-testid=lm-layer_bits-error]'), '"feed_forward.w2" is given twice, with 8 and 4 bits: give each name once');
  assert.doesNotMatch(await page.evaluate(() => location.hash), /layer_bits/);
  await page.fill('[data-testid=lm-layer_bits]', 'feed_forward.w2=8, layers.0.attention.wq=3');
  await page.dispatchEvent('[data-testid=lm-layer_bits]', 'change');
  assert.equal(await page.$('[data-testid=lm-layer_bits-error]'), null);
  await page.fill('[data-testid=lm-skip]', 'output, layers.5');
  await page.dispatchEvent('[data-testid=lm-skip]', 'change');
  // A name that matches no Linear of the model is named, and Run waits (it would quantize the
  // layers the list meant to keep).
  await page.fill('[data-testid=lm-skip]', 'outptu, layers.5');
  await page.dispatchEvent('[data-testid=lm-skip]', 'change');
  assert.match(await page.textContent('[data-testid=invalid]'), /"outptu" names no Linear of this model/);
  assert.equal(await page.$eval('[data-testid=lm-run]', (b) => b.disabled), true);
  await page.fill('[data-testid=lm-skip]', 'output, layers.5');
  await page.dispatchEvent('[data-testid=lm-skip]', 'change');
  assert.equal(await page.$('[data-testid=invalid]'), null);
  const edited = await page.$eval('[data-testid=share-link]', (i) => i.value);
  assert.match(edited, /skip=output%2Clayers\.5/);
  assert.match(edited, /layer_bits\.feed_forward\.w2=8/);
  assert.match(edited, /layer_bits\.layers\.0\.attention\.wq=3/);
  // Per-layer bits are RTN's: under q4_0 the box is off, and the link leaves them (and bits,
  // group) out; back to RTN they are all there again.
  await page.selectOption('[data-testid=lm-weights]', 'q4_0');
  await page.waitForFunction(() => document.querySelector('[data-testid=lm-layer_bits]').disabled);
  const q4 = await page.$eval('[data-testid=share-link]', (i) => i.value);
  assert.doesNotMatch(q4, /layer_bits|bits=|group=/);
  await page.selectOption('[data-testid=lm-weights]', 'rtn');
  await page.waitForFunction(() => !document.querySelector('[data-testid=lm-layer_bits]').disabled);
  assert.equal(await page.$eval('[data-testid=share-link]', (i) => i.value), edited);
  // A number outside a box's range is clamped and said; one that is not a number is kept out;
  // either way the box shows the setting, not what was typed.
  const typeNumber = (id, v) => page.$eval(`[data-testid=lm-${id}]`, (e, v) => {
    e.value = v;
    e.dispatchEvent(new Event('change', { bubbles: true }));
  }, v);
  await typeNumber('max_new', '-3');
  assert.match(await page.textContent('[data-testid=lm-max_new-note]'), /-3 is outside 1–4096: using 1/);
  // The note describes the box, which is marked invalid while it stands.
  assert.deepEqual(await page.$eval('[data-testid=lm-max_new]', (i) => [i.getAttribute('aria-invalid'), i.getAttribute('aria-describedby')]),
    ['true', 'lm-max_new-note']);
  assert.equal(await page.$eval('[data-testid=lm-max_new]', (i) => i.value), '1');
  assert.match(await page.evaluate(() => location.hash), /max_new=1(&|$)/);
  await typeNumber('max_new', '-7');
  assert.equal(await page.$eval('[data-testid=lm-max_new]', (i) => i.value), '1', 'the setting, although it did not change');
  await typeNumber('seed', 'x');
  assert.match(await page.textContent('[data-testid=lm-seed-note]'), /not a number, or too large to read \(0–\d+\): kept 42/);
  assert.equal(await page.$eval('[data-testid=lm-seed]', (i) => i.value), '42');
  // A fraction in a box of whole numbers is rounded, and said.
  await typeNumber('seed', '2.5');
  assert.match(await page.textContent('[data-testid=lm-seed-note]'), /2\.5 is not a whole number: using 3/);
  assert.equal(await page.$eval('[data-testid=lm-seed]', (i) => i.value), '3');
  // Typing again clears the note: it was about the text typed before (typing the box's own value
  // back fires no change, so the note would otherwise stay).
  await page.focus('[data-testid=lm-seed]');
  await page.keyboard.press('End');
  await page.keyboard.type('1');
  assert.equal(await page.$('[data-testid=lm-seed-note]'), null, 'typing clears the note');
  assert.equal(await page.$eval('[data-testid=lm-seed]', (i) => i.getAttribute('aria-invalid')), null, 'and the mark');
  // ... and keeps what is typed: the key that cleared the note is not lost, nor is the box reset.
  assert.equal(await page.$eval('[data-testid=lm-seed]', (i) => i.value), '31');
  await page.keyboard.type('07');
  await page.keyboard.press('Tab');
  assert.equal(await page.$eval('[data-testid=lm-seed]', (i) => i.value), '3107');
  assert.match(await page.evaluate(() => location.hash), /seed=3107(&|$)/);
  // A whole new value typed over the box after a note is the value used.
  await typeNumber('max_new', '-3');
  await page.focus('[data-testid=lm-max_new]');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('25');
  await page.keyboard.press('Tab');
  assert.equal(await page.$eval('[data-testid=lm-max_new]', (i) => i.value), '25');
  assert.match(await page.evaluate(() => location.hash), /max_new=25(&|$)/);
  assert.equal(await page.$('[data-testid=lm-max_new-note]'), null);
  await typeNumber('max_new', '64');
  assert.equal(await page.$('[data-testid=lm-max_new-note]'), null, 'a value in range clears the note');

  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/lm?bits=12&colour=red&prompt=%3Cimg%20src=x%3E&lock=weights&hide=seed&temperature=0.5%FF`);
  await p2.waitForSelector('[data-testid=link-notice]');
  const notice = await p2.textContent('[data-testid=link-notice]');
  assert.match(notice, /bits/);
  assert.match(notice, /colour/);
  // A broken %-escape is named even with a teacher's hide / lock in the link.
  assert.match(notice, /"temperature" has a %-escape that is not UTF-8/);
  assert.equal(await p2.$eval('[data-testid=lm-bits]', (s) => s.value), '8');
  assert.equal(await p2.$eval('[data-testid=lm-prompt]', (i) => i.value), '<img src=x>');
  assert.equal(await p2.$('img'), null, 'nothing from the link becomes HTML');
  assert.equal(await p2.$eval('[data-testid=lm-weights]', (s) => s.disabled), true, 'locked');
  assert.equal(await p2.$('[data-testid=lm-seed]'), null, 'hidden');
  // A prompt outside the model's alphabet is a message, not a crash.
  const { page: p3, errors: e3 } = await openPage(browser, `${url}#/lm?prompt=ROMEO%3A%20%E2%98%83&max_new=5`);
  await p3.click('[data-testid=lm-generate]');
  await p3.waitForSelector('[data-testid=run-error]', { timeout: 120_000 });
  assert.match(await p3.textContent('[data-testid=run-error]'), /prompt.*'☃'.*not in the model's alphabet/);
  // Once the prompt is edited the failure is of earlier settings, and said so.
  await p3.fill('[data-testid=lm-prompt]', 'ROMEO: ');
  await p3.waitForSelector('[data-testid=run-error-earlier]');
  assert.equal(await p3.$('[data-testid=run-error]'), null);
  assert.match(await p3.textContent('[data-testid=run-error-earlier]'), /^The last job failed with earlier settings: .*'☃'/);
  await assertHealthy(page, errors);
  await assertHealthy(p2, e2);
  await assertHealthy(p3, e3);
});

test('Cancel stops a long run within a second, and the next run works', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=q8_0&tokens=200000`);
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction(() => /scoring/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 120_000 });
  const t0 = Date.now();
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=cancelled]', { timeout: 1000 });
  assert.ok(Date.now() - t0 < 1000);
  await page.$eval('[data-testid=lm-tokens]', (i) => {
    i.value = '513';
    i.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await runAndWait(page, 1);
  assert.match((await rows(page))[0].label, /Q8_0/);
  await assertHealthy(page, errors);
});

test('GPTQ, SmoothQuant and AWQ run in the worker, fill rows and time themselves; Cancel stops GPTQ within a second', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&bits=4&group=32&tokens=1025&calib_tokens=1024`);
  await page.waitForSelector('[data-testid=lm-table-empty]');
  for (const id of ['method', 'calib_tokens', 'alpha', 'damp', 'act_order', 'awq_clip', 'awq_gptq', 'outliers', 'outlier_scale']) {
    const title = await page.$eval(`[data-testid=lm-${id}]`, (el) => el.closest('label').title);
    assert.ok(title.length > 40, `${id} has a tooltip`);
  }
  // A setting that would change nothing is disabled: the dampening without GPTQ, the outlier scale
  // without outliers, the narrow range without a symmetric grid, top-k / top-p when greedy.
  const disabled = (id) => page.$eval(`[data-testid=lm-${id}]`, (c) => c.disabled);
  assert.equal(await disabled('damp'), true, 'the dampening is GPTQ\'s');
  assert.equal(await disabled('outlier_scale'), true, 'no outliers: no scale');
  assert.equal(await disabled('narrow'), false);
  await page.click('[data-testid=lm-symmetric]');
  assert.equal(await disabled('narrow'), true, 'asymmetric: no narrow range');
  await page.click('[data-testid=lm-symmetric]');
  assert.equal(await disabled('top_k'), false);
  await page.fill('[data-testid=lm-temperature]', '0');
  await page.dispatchEvent('[data-testid=lm-temperature]', 'change');
  assert.equal(await disabled('top_k'), true, 'greedy: no top-k');
  assert.equal(await disabled('top_p'), true, 'greedy: no top-p');
  await page.selectOption('[data-testid=lm-method]', 'gptq');
  assert.match(await page.evaluate(() => location.hash), /method=gptq/);
  assert.equal(await disabled('damp'), false, 'GPTQ reads the dampening');
  await page.fill('[data-testid=lm-damp]', '0.02');
  await page.dispatchEvent('[data-testid=lm-damp]', 'change');
  assert.match(await page.evaluate(() => location.hash), /damp=0\.02/);
  // Cancel while GPTQ quantizes (its own progress stage), then run it to the end.
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction(() => /GPTQ/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 120_000 });
  const t0 = Date.now();
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=cancelled]', { timeout: 1000 });
  assert.ok(Date.now() - t0 < 1000, 'cancelled within a second');
  await runAndWait(page, 1);
  let r = await rows(page);
  // The row names the settings it differs from the defaults by.
  assert.match(r[0].label, /W4 g32 GPTQ, damp 0\.02, 1024 calibration tokens/);
  assert.ok(Math.abs(r[0].delta) < 3, `GPTQ W4 g32 Δ ${r[0].delta} %`);
  // SmoothQuant switches int8 activations on (it is for W8A8).
  await page.selectOption('[data-testid=lm-bits]', '8');
  await page.selectOption('[data-testid=lm-group]', '0');
  await page.selectOption('[data-testid=lm-method]', 'smoothquant');
  assert.equal(await page.$eval('[data-testid=lm-int8_acts]', (c) => c.checked), true);
  await runAndWait(page, 2);
  r = await rows(page);
  assert.match(r[1].label, /W8A8 per-channel SmoothQuant/);
  assert.ok(Math.abs(r[1].delta) < 1, `SmoothQuant W8A8 Δ ${r[1].delta} %`);
  // The activation range of every channel before and after smoothing, one input at a time.
  const inputs = await page.$$eval('[data-testid=act-input] option', (os) => os.map((o) => o.textContent));
  assert.equal(inputs.length, 12, `two smoothed inputs per block: ${inputs}`);
  assert.ok(inputs.some((t) => /attention_norm → .*wq.*wk.*wv/.test(t)), inputs.join(' | '));
  await page.selectOption('[data-testid=act-input]', '1');
  await page.waitForSelector('[data-testid=lm-act-ranges]');
  assert.equal(await page.$('[data-testid=lm-awq-alpha]'), null, 'SmoothQuant\'s α is a setting: no search to draw');
  await page.$eval('[data-testid=lm-act-ranges]', (c) => c.scrollIntoView());
  await copyFile(await screenshot(page, 'lm-act-ranges.png'), join(root, 'docs', 'screenshots', 'lm-act-ranges.png'));
  // AWQ at W4 g32 (weight-only), the third row.
  await page.selectOption('[data-testid=lm-bits]', '4');
  await page.selectOption('[data-testid=lm-group]', '32');
  await page.selectOption('[data-testid=lm-method]', 'awq');
  if (await page.$eval('[data-testid=lm-int8_acts]', (c) => c.checked)) await page.click('[data-testid=lm-int8_acts]');
  await runAndWait(page, 3);
  r = await rows(page);
  assert.match(r[2].label, /W4 g32 AWQ/);
  assert.ok(Math.abs(r[2].delta) < 3, `AWQ W4 g32 Δ ${r[2].delta} %`);
  // AWQ's α search, group by group: the chart of the group the Input select picks, and the table
  // of every group's α with its output error against RTN's (α = 0), which it never exceeds.
  const groups = await page.$$eval('[data-testid=act-input] option', (os) => os.map((o) => o.textContent));
  assert.equal(groups.length, 18, `three scaled groups per block (wv → wo skipped: grouped KV heads): ${groups}`);
  await page.selectOption('[data-testid=act-input]', '2');
  await page.waitForSelector('[data-testid=lm-awq-alpha]');
  assert.match(await page.$eval('[data-testid=lm-awq-alpha]', (c) => c.getAttribute('aria-label')), /AWQ's output error against α/);
  const alphaRows = await page.$$eval('[data-testid=lm-awq-alpha-row]', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  assert.equal(alphaRows.length, 18);
  assert.deepEqual(alphaRows.map((c) => c[0]), groups, 'one row per group, in the select\'s order');
  for (const [group, a, l0, l, change] of alphaRows) {
    assert.ok(+a >= 0 && +a <= 0.95 && Math.abs(+a * 20 - Math.round(+a * 20)) < 1e-6, `${group}: α ${a} on the grid`);
    assert.ok(parseFloat(l) <= parseFloat(l0), `${group}: ${l} ≤ RTN's ${l0}`);
    assert.ok(parseFloat(change) <= 0 && (+a > 0 || parseFloat(change) === 0), `${group}: ${change}`);
  }
  assert.match(await page.textContent('[data-testid=lm-awq-alpha-summary]'), /AWQ chose α > 0 in \d+ of 18 groups; their output error against RTN's: median [-+]\d/);
  await page.click('[data-testid=lm-awq-alpha-summary]');
  await (await page.$('[data-testid=lm-awq-search]')).screenshot({ path: join(root, 'docs', 'screenshots', 'lm-awq-alpha.png') });
  // Each method's own time in this browser's worker, the column the table shows.
  const seconds = await page.$$eval('[data-testid=quantize-s]', (tds) => tds.map((td) => parseFloat(td.textContent)));
  for (const s of seconds) assert.ok(s > 0 && s < 120, `a measured quantization time: ${s} s`);
  console.log(`Chromium worker, 1,024 calibration tokens: GPTQ W4 g32 ${seconds[0]} s, SmoothQuant W8A8 ${seconds[1]} s, AWQ W4 g32 ${seconds[2]} s`);
  // AWQ + GPTQ: "then GPTQ" rounds AWQ's scaled weights with GPTQ, whose act_order then applies.
  assert.equal(await page.$eval('[data-testid=lm-act_order]', (c) => c.disabled), true, 'act_order is GPTQ\'s');
  await page.click('[data-testid=lm-awq_gptq]');
  assert.equal(await page.$eval('[data-testid=lm-act_order]', (c) => c.disabled), false, 'GPTQ rounds: act_order applies');
  assert.match(await page.evaluate(() => location.hash), /awq_gptq=true/);
  await runAndWait(page, 4);
  r = await rows(page);
  assert.match(r[3].label, /W4 g32 AWQ \+GPTQ/);
  assert.ok(r[3].kl < r[2].kl, `AWQ + GPTQ KL ${r[3].kl} below AWQ's ${r[2].kl}`);
  // The heat map of any run, alone or against another run of the same model: AWQ + GPTQ against
  // AWQ gains SQNR in most of the 42 projections and the head (GPTQ minimises each one's output error).
  const runs = await page.$$eval('[data-testid=lm-heatmap-run] option', (os) => os.map((o) => o.textContent));
  assert.equal(runs.length, 5, runs.join(' | '));
  // Each row's label names what it differs from the defaults by: the dampening of the runs GPTQ rounds, the calibration size.
  const [gptq, awq, both] = ['W4 g32 GPTQ, damp 0.02, 1024 calibration tokens', 'W4 g32 AWQ, 1024 calibration tokens', 'W4 g32 AWQ +GPTQ, damp 0.02, 1024 calibration tokens'];
  assert.deepEqual([runs[0], runs[1], runs[3], runs[4]], [`the latest (4: ${both})`, `1: ${gptq}`, `3: ${awq}`, `4: ${both}`]);
  assert.match(runs[2], /^2: W8A8 per-channel SmoothQuant/);
  assert.equal(await page.$('[data-testid=lm-heatmap-summary]'), null, 'no baseline: the SQNR itself');
  await page.selectOption('[data-testid=lm-heatmap-base]', { label: `run 3: ${awq}` });
  const change = (await page.textContent('[data-testid=lm-heatmap-summary]')).match(/^Run 4: W4 g32 AWQ \+GPTQ, damp 0\.02, 1024 calibration tokens has the higher output SQNR in (\d+) of (\d+) projections and the lower in (\d+) \(median change ([-+][\d.]+) dB\) against run 3: W4 g32 AWQ, 1024 calibration tokens\.$/);
  assert.ok(change, await page.textContent('[data-testid=lm-heatmap-summary]'));
  const [better, compared, worse, median] = change.slice(1).map(Number);
  assert.equal(compared, 43, 'every projection of the 6 blocks, and the head (FP32, but its input carries the error)');
  assert.ok(better > 21 && better + worse <= 43 && median > 0, `AWQ + GPTQ against AWQ: ${change[0]}`);
  await (await page.$('[data-testid=lm-heatmap]')).screenshot({ path: join(root, 'docs', 'screenshots', 'lm-heatmap-change.png') });
  // The run itself is not offered as its own baseline; choosing it as the run drops the pair.
  const bases = await page.$$eval('[data-testid=lm-heatmap-base] option', (os) => os.map((o) => o.textContent));
  assert.ok(!bases.some((b) => b.includes('4: W4 g32 AWQ +GPTQ')), bases.join(' | '));
  await page.selectOption('[data-testid=lm-heatmap-run]', { label: `3: ${awq}` });
  assert.equal(await page.$('[data-testid=lm-heatmap-summary]'), null, 'run 3 against itself is no pair');
  await page.selectOption('[data-testid=lm-heatmap-run]', { index: 0 });
  // Float weights take RTN's place, and AWQ's switches go with AWQ.
  await page.selectOption('[data-testid=lm-weights]', 'f32');
  assert.doesNotMatch(await page.evaluate(() => location.hash), /awq_gptq|act_order|method=/);
  await page.selectOption('[data-testid=lm-weights]', 'rtn');
  // Static activation scales: only with int8 activations; calibrated in the worker, named in the
  // row's label and in each Linear's note.
  await page.selectOption('[data-testid=lm-bits]', '8');
  await page.selectOption('[data-testid=lm-group]', '0');
  await page.selectOption('[data-testid=lm-method]', 'rtn');
  assert.doesNotMatch(await page.evaluate(() => location.hash), /awq_gptq/, 'AWQ\'s switch goes with AWQ');
  assert.equal(await page.$eval('[data-testid=lm-static_acts]', (c) => c.disabled), true, 'static scales need int8 activations');
  assert.ok((await page.$eval('[data-testid=lm-static_acts]', (el) => el.closest('label').title)).length > 40, 'static_acts has a tooltip');
  await page.click('[data-testid=lm-int8_acts]');
  assert.equal(await page.$$eval('[data-testid=lm-qdq] .qdq-clip', (n) => n.length), 0, 'per-token scales: no Clip');
  await page.click('[data-testid=lm-static_acts]');
  assert.match(await page.evaluate(() => location.hash), /static_acts=true/);
  // The QDQ drawing puts a Clip in front of each of the block's 7 activation QuantizeLinear nodes.
  assert.equal(await page.$$eval('[data-testid=lm-qdq] .qdq-clip', (n) => n.length), 7);
  assert.match(await page.textContent('[data-testid=lm-qdq-summary]'), /21 Q\/DQ nodes in this block; each activation's scale is a calibrated constant/);
  assert.equal(await page.$eval('[data-testid=lm-calib_tokens]', (s) => s.disabled), false, 'calibrated: the calibration size applies');
  await runAndWait(page, 5);
  r = await rows(page);
  assert.match(r[4].label, /W8A8 per-channel RTN, static activation scales/);
  assert.ok(Math.abs(r[4].delta) < 3, `static W8A8 Δ ${r[4].delta} %`);
  await page.click('text=Per-layer report of the last run');
  assert.match(await page.textContent('[data-testid=lm-layers]'), /static input scale \d\.\d+ \(max \|x\| [\d.]+ over 1024 calibration tokens\)/);
  assert.match(await page.textContent('[data-testid=lm-layers]'), /int8 × int8 \(W8A8, static activation scale\)/);
  // Unticking int8 activations unticks static scales too: they are the scales of int8 activations.
  await page.click('[data-testid=lm-int8_acts]');
  assert.deepEqual(await page.$eval('[data-testid=lm-static_acts]', (c) => [c.checked, c.disabled]), [false, true]);
  assert.doesNotMatch(await page.evaluate(() => location.hash), /static_acts/);
  await assertHealthy(page, errors);
});

test('the larger built-in model is chosen by a radio button and a link, and runs RTN and GPTQ', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&bits=4&group=32&tokens=1025&calib_tokens=1024`);
  await page.waitForSelector('[data-testid=lm-table-empty]');
  assert.equal(await page.$eval('[data-testid=lm-use-builtin]', (r) => r.checked), true, 'the small model by default');
  assert.match(await page.textContent('[data-testid=lm-builtin-notes]'), /1,214,080 parameters/);
  await page.check('[data-testid=lm-use-builtin-large]');
  assert.match(await page.textContent('[data-testid=lm-builtin-notes]'), /3,213,568 parameters, dim 256, 4 layers/);
  assert.match(await page.evaluate(() => location.hash), /builtin=large/);
  await runAndWait(page, 1);
  let r = await rows(page);
  assert.match(r[0].label, /W4 g32 RTN/);
  assert.deepEqual(await page.$$eval('[data-testid=lm-model]', (tds) => tds.map((td) => td.textContent)), ['Shakespeare large (built-in)']);
  // Its own four blocks of 256-wide projections (w2: 256 × 768).
  const layers = await page.textContent('[data-testid=lm-layers]');
  assert.match(layers, /layers\.3\.feed_forward\.w2/);
  assert.doesNotMatch(layers, /layers\.4\./);
  assert.match(layers, /256 × 768/);
  assert.doesNotMatch(layers, /\b0 × 0\b/, 'the f32 embedding table has its shape too');
  await page.selectOption('[data-testid=lm-method]', 'gptq');
  await runAndWait(page, 2);
  r = await rows(page);
  assert.match(r[1].label, /W4 g32 GPTQ/);
  assert.equal(r[1].fp32, r[0].fp32, 'the same FP32 baseline');
  assert.ok(Math.abs(r[1].delta) < 3, `GPTQ W4 g32 on the larger model: Δ ${r[1].delta} %`);
  // Back to the small model: another FP32 baseline, named in its row.
  await page.check('[data-testid=lm-use-builtin]');
  assert.doesNotMatch(await page.evaluate(() => location.hash), /builtin=/);
  await runAndWait(page, 3);
  r = await rows(page);
  assert.notEqual(r[2].fp32, r[0].fp32, 'the two models score the text differently');
  const models = await page.$$eval('[data-testid=lm-model]', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(models, ['Shakespeare large (built-in)', 'Shakespeare large (built-in)', 'Shakespeare (built-in)']);
  // Use on a row puts its model back in the form with its settings.
  const use = async (i) => (await page.$$('[data-testid=apply-row]'))[i].click();
  await use(1);
  assert.equal(await page.$eval('[data-testid=lm-use-builtin-large]', (r) => r.checked), true, 'Use on a larger-model row');
  assert.match(await page.evaluate(() => location.hash), /builtin=large/);
  assert.equal(await page.$eval('[data-testid=lm-method]', (s) => s.value), 'gptq');
  await use(2);
  assert.equal(await page.$eval('[data-testid=lm-use-builtin]', (r) => r.checked), true, 'Use on a small-model row');
  assert.doesNotMatch(await page.evaluate(() => location.hash), /builtin=/);
  await page.$eval('[data-testid=lm-table]', (t) => t.scrollIntoView());
  await screenshot(page, 'lm-large.png');
  // A link with builtin=large opens with the larger model chosen; a bad value is named.
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/lm?builtin=large`);
  await p2.waitForSelector('[data-testid=lm-use-builtin-large]');
  assert.equal(await p2.$eval('[data-testid=lm-use-builtin-large]', (r) => r.checked), true);
  const { page: p3, errors: e3 } = await openPage(browser, `${url}#/lm?builtin=huge`);
  await p3.waitForSelector('[data-testid=link-notice]');
  assert.match(await p3.textContent('[data-testid=link-notice]'), /builtin.*small or large/);
  assert.equal(await p3.$eval('[data-testid=lm-use-builtin]', (r) => r.checked), true);
  await assertHealthy(page, errors);
  await assertHealthy(p2, e2);
  await assertHealthy(p3, e3);
});

test('the first perplexity of a W8 RTN run on the built-in model, timed from the click', async () => {
  // The page's default evaluation (8,193 tokens), model and validation text fetched first. The
  // status shows both perplexities over the windows scored so far; the row comes at the end.
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn`);
  await page.waitForSelector('[data-testid=lm-table-empty]');
  const timeRun = async () => {
    const t0 = Date.now();
    await page.click('[data-testid=lm-run]');
    await page.waitForFunction(() => /perplexity after \d+ predictions: FP32 \d+\.\d{4}, W8 .*RTN \d+\.\d{4}/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 60_000, polling: 10 });
    const first = Date.now() - t0;
    await page.waitForSelector('[data-testid=ppl-quant]', { timeout: 60_000 });
    const row = Date.now() - t0;
    await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 10_000 });
    return [first, row];
  };
  const [coldFirst, coldRow] = await timeRun();
  const r = (await rows(page))[0];
  assert.ok(Math.abs(r.delta) < 0.5, `W8 Δ ${r.delta} %`);
  // Once the model is loaded: W8 in groups of 128, quantized afresh.
  await page.click('[data-testid=remove-row]');
  await page.selectOption('[data-testid=lm-group]', '128');
  const [warmFirst, warmRow] = await timeRun();
  console.log(`W8 RTN, 8,193 tokens: fresh tab (model and text fetched) first figure ${coldFirst} ms, row ${coldRow} ms; loaded (W8 g128) first figure ${warmFirst} ms, row ${warmRow} ms`);
  await assertHealthy(page, errors);
});

test('the mixed-precision search runs in the worker, meets its budget, and Use puts its widths in the form', async () => {
  // One window of 256 predictions for both the search and the run, so the run re-measures the
  // chosen candidate on the same text. A pool of 2 workers shares the search.
  const link = `${url}#/lm?weights=rtn&group=32&tokens=257&search_tokens=257&search_bpw=5.5`;
  const { page, errors } = await openPage(browser, link, { workers: 2 });
  await page.waitForSelector('[data-testid=lm-search]');
  assert.equal(await page.$eval('[data-testid=lm-search_low]', (s) => s.value), '4');
  assert.equal(await page.$eval('[data-testid=lm-search_high]', (s) => s.value), '8');
  assert.equal(await page.$eval('[data-testid=lm-search_value]', (i) => i.value), '5.5');
  for (const id of ['search_low', 'search_high', 'search_target', 'search_value', 'search_tokens']) {
    const title = await page.$eval(`[data-testid=lm-${id}]`, (el) => el.closest('label').title);
    assert.ok(title.length > 40, `${id} has a tooltip`);
  }
  // Cancel in the second stage stops both workers at once; the next search starts afresh.
  await page.click('[data-testid=lm-search-run]');
  await page.waitForFunction(() => /step 2 of 2.*on 2 workers/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 120_000, polling: 20 });
  const t0 = Date.now();
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=cancelled]', { timeout: 1000 });
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(await page.$('[data-testid=lm-search-summary]'), null);
  const started = Date.now();
  await page.click('[data-testid=lm-search-run]');
  // Both stages are shared among the pool.
  for (const step of [1, 2]) {
    await page.waitForFunction((k) => new RegExp(`step ${k} of 2.*on 2 workers`).test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), step, { timeout: 120_000, polling: 20 });
  }
  await page.waitForSelector('[data-testid=lm-search-summary]', { timeout: 300_000 });
  const twoWorkers = (Date.now() - started) / 1000;
  const summary = await page.textContent('[data-testid=lm-search-summary]');
  const table = await page.textContent('[data-testid=lm-search-candidates]');
  // One worker alone finds the same candidates, scores and choice.
  {
    const { page: p1, errors: e1 } = await openPage(browser, link, { workers: 1 });
    await p1.waitForSelector('[data-testid=lm-search]');
    const t0 = Date.now();
    await p1.click('[data-testid=lm-search-run]');
    await p1.waitForSelector('[data-testid=lm-search-summary]', { timeout: 300_000 });
    console.log(`mixed-precision search of 257 tokens: ${twoWorkers.toFixed(1)} s on 2 workers (fresh workers after Cancel, loading the model), ${((Date.now() - t0) / 1000).toFixed(1)} s on 1`);
    assert.equal(await p1.textContent('[data-testid=lm-search-summary]'), summary);
    assert.equal(await p1.textContent('[data-testid=lm-search-candidates]'), table);
    await assertHealthy(p1, e1);
    await p1.close();
  }
  const m = summary.match(/(\d+) of 42 Linears at W4, the rest at W8: (\d+\.\d{3}) bits per weight, perplexity (\d+\.\d{4}) \(FP32 (\d+\.\d{4})\), KL (\d\.\d{5}), scored on 256 predictions/);
  assert.ok(m, summary);
  const [low, bpw, ppl] = [parseInt(m[1]), parseFloat(m[2]), m[3]];
  assert.ok(bpw <= 5.5 && low > 0 && low < 42, summary);
  // 43 steps of the greedy path (0 … 42 Linears at W4) and the uniform W5, W6, W7; one chosen.
  assert.equal(await page.$$eval('[data-testid=lm-search-candidates] tbody tr', (trs) => trs.length), 46);
  assert.equal(await page.$$eval('[data-testid=lm-search-candidates] tr.chosen', (trs) => trs.length), 1);
  const sens = await page.$$eval('[data-testid=lm-search-sensitivity] tbody tr', (trs) => trs.map((tr) => parseFloat(tr.children[1].textContent)));
  assert.equal(sens.length, 42);
  assert.ok(sens.every((v, i) => i === 0 || v <= sens[i - 1] + 1e-12), 'most sensitive first');
  // The section alone (the page is long): controls, summary, chart and the sensitivity table open.
  await page.$eval('[data-testid=lm-search-sensitivity]', (t) => { t.closest('details').open = true; });
  await mkdir(artifacts, { recursive: true });
  const searchShot = join(artifacts, 'lm-search.png');
  await (await page.$('section[aria-label="Mixed precision"]')).screenshot({ path: searchShot });
  await copyFile(searchShot, join(root, 'docs', 'screenshots', 'lm-search.png'));

  // Use: the widths go in the form, and a Run re-measures the chosen candidate's perplexity.
  await page.click('[data-testid=lm-search-use-' + await page.$$eval('[data-testid=lm-search-candidates] tbody tr', (trs) => trs.findIndex((tr) => tr.classList.contains('chosen'))) + ']');
  const typed = await page.$eval('[data-testid=lm-layer_bits]', (i) => i.value);
  const base = await page.$eval('[data-testid=lm-bits]', (s) => s.value);
  const listed = typed.split(',').filter((s) => s.trim());
  assert.equal(listed.length, base === '4' ? 42 - low : low, `${typed} (base W${base})`);
  assert.ok(listed.every((e) => e.trim().endsWith(base === '4' ? '=8' : '=4')), typed);
  assert.match(await page.evaluate(() => location.hash), /layer_bits\.layers\./);
  await runAndWait(page, 1);
  assert.equal((await rows(page))[0].quant.toFixed(4), ppl, 'the run scores the chosen widths as the search did');

  // The result belongs to its model: choosing the other built-in model clears it.
  assert.ok(await page.$('[data-testid=lm-search-summary]'));
  await page.check('[data-testid=lm-use-builtin-large]');
  assert.equal(await page.$('[data-testid=lm-search-summary]'), null);
  await page.check('[data-testid=lm-use-builtin]');

  // The search takes RTN: another method disables it with the reason.
  await page.selectOption('[data-testid=lm-method]', 'gptq');
  assert.equal(await page.$eval('[data-testid=lm-search-run]', (b) => b.disabled), true);
  assert.match(await page.textContent('[data-testid=lm-search-blocked]'), /RTN/);
  await page.selectOption('[data-testid=lm-method]', 'rtn');
  // A KL target goes in the link; an impossible budget is named before any evaluation.
  await page.selectOption('[data-testid=lm-search_target]', 'kl');
  assert.match(await page.evaluate(() => location.hash), /search_kl=0\.002/);
  await page.selectOption('[data-testid=lm-search_target]', 'bpw');
  await page.selectOption('[data-testid=lm-search_low]', '3');
  await page.selectOption('[data-testid=lm-search_high]', '6');
  assert.match(await page.evaluate(() => location.hash), /search_low=3&search_high=6/);
  await page.selectOption('[data-testid=lm-search_low]', '4');
  await page.selectOption('[data-testid=lm-search_high]', '8');
  await page.fill('[data-testid=lm-search_value]', '1');
  await page.dispatchEvent('[data-testid=lm-search_value]', 'change');
  await page.click('[data-testid=lm-search-run]');
  await page.waitForSelector('[data-testid=run-error]', { timeout: 60_000 });
  assert.match(await page.textContent('[data-testid=run-error]'), /budget cannot be met: all at W4 takes \d+ bytes/);
  assert.equal(await page.$('[data-testid=lm-search-summary]'), null, 'a failed search leaves no result of other settings');
  await assertHealthy(page, errors);

  // A link that locks the per-layer widths: the search runs, its Use is disabled and says why.
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/lm?weights=rtn&group=32&search_tokens=257&lock=layer_bits,bits`);
  await p2.click('[data-testid=lm-search-run]');
  await p2.waitForSelector('[data-testid=lm-search-summary]', { timeout: 300_000 });
  const use = await p2.$('[data-testid=lm-search-summary] button');
  assert.equal(await use.isDisabled(), true);
  // At the default 6 bits per weight the choice here is a uniform width, said as one, whose Use
  // sets Bits alone; a 4/8 mix would set the per-layer widths as well.
  const chosen = await p2.textContent('[data-testid=lm-search-summary]');
  const uniform = chosen.match(/: all 42 Linears at W(\d): /);
  assert.match(await use.getAttribute('title'), uniform ? /^set by the link \(hidden or locked\): bits/ : /^set by the link .*layer_bits/, chosen);
  assert.ok(uniform || /\d+ of 42 Linears at W4, the rest at W8/.test(chosen), chosen);
  await assertHealthy(p2, e2);
});

test('an F32 row rounds nothing: the heat map neither shows it nor offers it as a run or a baseline', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?tokens=257`);
  await page.waitForSelector('[data-testid=lm-table-empty]');
  await page.selectOption('[data-testid=lm-weights]', 'f32');
  await runAndWait(page, 1);
  assert.equal(await page.$('[data-testid=lm-heatmap]'), null);
  assert.match(await page.textContent('[data-testid=lm-heatmap-none]'), /an F32 row rounds none/);
  await page.selectOption('[data-testid=lm-weights]', 'rtn');
  await runAndWait(page, 2);
  await page.waitForSelector('[data-testid=lm-heatmap]');
  const runs = await page.$$eval('[data-testid=lm-heatmap-run] option', (os) => os.map((o) => o.textContent));
  assert.deepEqual(runs, ['the latest (2: W8 per-channel RTN)', '2: W8 per-channel RTN']);
  const bases = await page.$$eval('[data-testid=lm-heatmap-base] option', (os) => os.map((o) => o.textContent));
  assert.deepEqual(bases, ['FP32 only (its SQNR)']);
  await assertHealthy(page, errors);
});

test('the settings read as Golden Stick\'s PTQConfig, and a pasted PTQConfig sets the form and runs', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&bits=4&group=32&int8_acts=true&tokens=1025`);
  await page.waitForSelector('[data-testid=lm-ptq-config]');
  await page.click('[data-testid=lm-ptq-config] summary');
  // The form's settings, as the call Golden Stick's guides write.
  assert.equal(await page.textContent('[data-testid=lm-ptq-config-text]'),
    'PTQConfig(opname_blacklist=["lm_head"], weight_quant_dtype=msdtype.qint4x2, act_quant_dtype=msdtype.int8, kvcache_quant_dtype=None, '
    + 'outliers_suppression=OutliersSuppressionType.NONE, weight_quant_granularity=QuantGranularity.PER_GROUP, group_size=32, '
    + 'act_quant_granularity=QuantGranularity.PER_TOKEN)');
  assert.equal(await page.$('[data-testid=lm-ptq-config-unsaid]'), null);
  // What a call cannot say is listed: llama.cpp's blocks.
  await page.selectOption('[data-testid=lm-weights]', 'q4_1');
  assert.match(await page.textContent('[data-testid=lm-ptq-config-unsaid]'), /llama\.cpp's Q4_1 blocks/);
  await page.selectOption('[data-testid=lm-weights]', 'rtn');
  // A call that does not read is named and changes nothing.
  const before = await page.$eval('[data-testid=share-link]', (i) => i.value);
  await page.fill('[data-testid=lm-ptq-config-input]', 'PTQConfig(weight_quant_dtype=msdtype.int4)');
  await page.click('[data-testid=lm-ptq-config-apply]');
  assert.match(await page.textContent('[data-testid=lm-ptq-config-error]'), /weight_quant_dtype=msdtype\.int4: use one of INT8, QINT4X2, NONE/);
  assert.equal(await page.$eval('[data-testid=share-link]', (i) => i.value), before);
  // A blacklist entry that names no Linear of the model is refused, named, and changes nothing.
  await page.fill('[data-testid=lm-ptq-config-input]', "PTQConfig(weight_quant_dtype=msdtype.int8, opname_blacklist=['lm_head', 'mlp.gate_projx'])");
  await page.click('[data-testid=lm-ptq-config-apply]');
  assert.match(await page.textContent('[data-testid=lm-ptq-config-error]'),
    /^opname_blacklist: "feed_forward\.gate_projx" names no Linear of this model .*: the form was left as it was$/);
  assert.equal(await page.$eval('[data-testid=share-link]', (i) => i.value), before);
  // The seeds' A8W8 call, pasted as the guide prints it: SmoothQuant W8A8, static scales.
  await page.fill('[data-testid=lm-ptq-config-input]', 'ptq_config = PTQConfig(weight_quant_dtype=msdtype.int8, act_quant_dtype=msdtype.int8, kvcache_quant_dtype=None,\n'
    + '                        outliers_suppression=OutliersSuppressionType.SMOOTH)');
  await page.click('[data-testid=lm-ptq-config-apply]');
  assert.equal(await page.textContent('[data-testid=lm-ptq-config-notes]'), 'Applied.');
  assert.equal(await page.$eval('[data-testid=lm-weights]', (s) => s.value), 'rtn');
  assert.equal(await page.$eval('[data-testid=lm-bits]', (s) => s.value), '8');
  assert.equal(await page.$eval('[data-testid=lm-group]', (s) => s.value), '0');
  assert.equal(await page.$eval('[data-testid=lm-int8_acts]', (c) => c.checked), true);
  assert.equal(await page.$eval('[data-testid=lm-static_acts]', (c) => c.checked), true);
  assert.equal(await page.$eval('[data-testid=lm-method]', (s) => s.value), 'smoothquant');
  assert.equal(await page.$eval('[data-testid=lm-skip]', (i) => i.value), 'tok_embeddings');
  assert.match(await page.$eval('[data-testid=share-link]', (i) => i.value), /#\/lm\?weights=rtn&int8_acts=true&static_acts=true&skip=tok_embeddings&method=smoothquant&tokens=1025$/);
  // The call said back is the one pasted (the head quantized: no blacklist).
  assert.equal(await page.textContent('[data-testid=lm-ptq-config-text]'),
    'PTQConfig(weight_quant_dtype=msdtype.int8, act_quant_dtype=msdtype.int8, kvcache_quant_dtype=None, outliers_suppression=OutliersSuppressionType.SMOOTH)');
  await screenshot(page, 'lm-ptq-config.png');
  // And it runs: a row of SmoothQuant W8A8 with static scales.
  await runAndWait(page, 1);
  const [row] = await rows(page);
  assert.match(row.label, /W8A8 per-channel SmoothQuant .*static activation scales/);
  assert.ok(Number.isFinite(row.quant) && row.quant > 0, `perplexity ${row.quant}`);
  // Under a teacher's lock, a call that would change the locked setting is refused.
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/lm?weights=rtn&lock=method`);
  await p2.click('[data-testid=lm-ptq-config] summary');
  await p2.fill('[data-testid=lm-ptq-config-input]', 'PTQConfig(precision_recovery=PrecisionRecovery.GPTQ)');
  await p2.click('[data-testid=lm-ptq-config-apply]');
  assert.match(await p2.textContent('[data-testid=lm-ptq-config-error]'), /the link you opened fixes method/);
  assert.equal(await p2.$eval('[data-testid=lm-method]', (s) => s.value), 'rtn');
  // The notes say what qplay does otherwise (mode, backend, the KV cache's granularity).
  await p2.fill('[data-testid=lm-ptq-config-input]', 'PTQConfig(mode=PTQMode.QUANTIZE, backend=BackendTarget.ASCEND, kvcache_quant_dtype=msdtype.int8)');
  await p2.click('[data-testid=lm-ptq-config-apply]');
  const notes = await p2.textContent('[data-testid=lm-ptq-config-notes]');
  assert.match(notes, /mode=PTQMode\.QUANTIZE: qplay quantizes and evaluates in one run/);
  assert.match(notes, /PER_CHANNEL \(the default\)/);
  assert.equal(await p2.$eval('[data-testid=lm-kv]', (s) => s.value), 'int8');
  await assertHealthy(page, errors);
  await assertHealthy(p2, e2);
});
