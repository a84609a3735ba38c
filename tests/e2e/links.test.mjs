// End-to-end tests of links and teacher views (issue 15) against the release build, in headless
// Chromium: a link to another page followed in a tab that is already on qplay keeps its settings
// and its hide= / lock=; lock=all and hide=gen cover the generator; a misspelt key is named in a
// notice; a note tells the student that controls are set by the teacher.
// Every test fails on any console error, page error or panic banner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, screenshot, useServedApp, assertHealthy } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

test("the Lab's link to the clip example lands on the clip example in the same tab", async () => {
  const { page, errors } = await openPage(browser, `${url}#/lab`);
  await page.click('text=Open the clip example on the Tensor page');
  await page.waitForSelector('[data-testid=zero-point]');
  // The handout's clip example: Z = −21 on the grid [−256, 255] (the normal example has Z = −4).
  assert.equal(await page.textContent('[data-testid=zero-point]'), '-21');
  assert.equal(await page.$eval('[data-testid=method]', (s) => s.value), 'clip');
  assert.match(await page.evaluate(() => location.hash), /method=clip/);
  await assertHealthy(page, errors);
  // Under a Lab of lock=all (or hide=all) the links lead to pages locked alike: the class stays on
  // the teacher's example.
  for (const q of ['lock=all', 'hide=all']) {
    const { page: lab, errors: labErrors } = await openPage(browser, `${url}#/lab?${q}`);
    await lab.waitForSelector('[data-testid=step-2]');
    const lmLinks = await lab.$$eval('a[href^="#/lm?"]', (as) => as.map((a) => a.getAttribute('href')));
    assert.ok(lmLinks.length >= 1 && lmLinks.every((h) => /lock=all/.test(h)), `${q}: ${lmLinks}`);
    await lab.click('text=Open the clip example on the Tensor page');
    await lab.waitForSelector('[data-testid=teacher-note]');
    assert.match(await lab.evaluate(() => location.hash), /method=clip.*lock=all/);
    assert.ok(await lab.isDisabled('[data-testid=bits]'), `${q}: the Tensor page's bits locked`);
    await assertHealthy(lab, labErrors);
  }
});

test('a cross-page link followed in an open tab keeps its settings and its locks', async () => {
  const { page, errors } = await openPage(browser, `${url}#/tensor`);
  await page.waitForSelector('[data-testid=zero-point]');
  // Visit the Model page first, so the app holds a Model state of its own.
  await page.click('nav >> text=Model');
  await page.waitForSelector('[data-testid=ptq-weight_bits]');
  await page.click('nav >> text=Tensor');
  await page.waitForSelector('[data-testid=zero-point]');
  // The teacher's link, followed in this tab.
  await page.evaluate(() => { location.hash = '#/model?ptq.weight_bits=4&lock=ptq.weight_bits&hide=ptq.act_bits'; });
  await page.waitForSelector('[data-testid=ptq-weight_bits]');
  await page.waitForFunction(() => document.querySelector('[data-testid=ptq-weight_bits]').value === '4');
  assert.equal(await page.$eval('[data-testid=ptq-weight_bits]', (s) => s.disabled), true, 'locked');
  assert.equal(await page.$('[data-testid=ptq-act_bits]'), null, 'hidden');
  const hash = await page.evaluate(() => location.hash);
  assert.match(hash, /ptq\.weight_bits=4/);
  assert.match(hash, /lock=ptq\.weight_bits/);
  assert.match(hash, /hide=ptq\.act_bits/);
  assert.match(await page.textContent('[data-testid=teacher-note]'), /set by your teacher/);
  // The same for a Tensor link followed from the Model page.
  await page.evaluate(() => { location.hash = '#/tensor?bits=4&lock=bits'; });
  await page.waitForFunction(() => document.querySelector('[data-testid=grid-range]')?.textContent === '-8, 7');
  assert.equal(await page.$eval('[data-testid=bits]', (s) => s.matches(':disabled')), true, 'bits locked');
  assert.match(await page.evaluate(() => location.hash), /bits=4.*lock=bits/);
  await assertHealthy(page, errors);
});

test('lock=all disables Generate, and hide=gen hides the whole generator', async () => {
  const { page, errors } = await openPage(browser, `${url}#/tensor?lock=all`);
  await page.waitForSelector('[data-testid=generate]');
  assert.equal(await page.$eval('[data-testid=generate]', (b) => b.matches(':disabled')), true, 'Generate locked');
  assert.equal(await page.$eval('[data-testid=example-clip]', (b) => b.matches(':disabled')), true, 'the examples locked');
  await page.click('[data-testid=generate]', { force: true }).catch(() => {});
  assert.equal(await page.$('[data-testid=generated-note]'), null, 'the tensor stays the teacher\'s');
  assert.match(await page.textContent('[data-testid=teacher-note]'), /set by your teacher/);
  await screenshot(page, 'tensor-lock-all.png');
  // lock=x (the teacher's tensor) also locks Generate, which would replace it.
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/tensor?lock=x`);
  await p2.waitForSelector('[data-testid=generate]');
  assert.equal(await p2.$eval('[data-testid=generate]', (b) => b.matches(':disabled')), true, 'Generate locked by lock=x');
  // hide=gen, with a generated tensor: no distribution, no Generate, no rows, cols or seed.
  const { page: p3, errors: e3 } = await openPage(browser, `${url}#/tensor?gen=normal&shape=4,8&hide=gen`);
  await p3.waitForSelector('[data-testid=generated-note]');
  for (const id of ['distribution', 'generate', 'use-text', 'gen-rows', 'gen-cols', 'gen-seed']) {
    assert.equal(await p3.$(`[data-testid=${id}]`), null, `${id} hidden`);
  }
  await assertHealthy(page, errors);
  await assertHealthy(p2, e2);
  await assertHealthy(p3, e3);
  // A link too long to be read shows the defaults, and does not lock them: its hide / lock go too.
  const pad = 'A'.repeat(60_000);
  for (const [hash, control] of [[`#/tensor?bits=4&lock=bits&pad=${pad}`, 'bits'], [`#/model?ptq.weight_bits=4&lock=ptq.weight_bits&pad=${pad}`, 'ptq-weight_bits'], [`#/lab?ptq.weight_bits=4&lock=ptq.weight_bits&pad=${pad}`, 'lab-bits']]) {
    const { page: p, errors: e } = await openPage(browser, `${url}${hash}`);
    await p.waitForSelector('[data-testid=link-notice]');
    const text = await p.textContent('[data-testid=link-notice]');
    assert.match(text, /longer than|more than the limit/, hash.slice(0, 20));
    assert.match(text, /hide= \/ lock= were not applied either/, hash.slice(0, 20));
    assert.equal(await p.$('[data-testid=teacher-note]'), null, `${hash.slice(0, 20)}: no teacher's note`);
    assert.equal(await p.$eval(`[data-testid="${control}"]`, (c) => c.matches(':disabled')), false, `${hash.slice(0, 20)}: ${control} not locked`);
    await assertHealthy(p, e);
  }
});

test('a lock covers every control that would change what it fixes: the examples, the drop zone, per-layer widths', async () => {
  // The lab examples reset every setting: any lock disables them (they switched locked Bits and Method).
  const { page, errors } = await openPage(browser, `${url}#/tensor?bits=4&method=normal&lock=bits,method`);
  await page.waitForSelector('[data-testid=example-clip]');
  for (const id of ['example-clip', 'example-normal']) {
    assert.equal(await page.$eval(`[data-testid=${id}]`, (b) => b.matches(':disabled')), true, `${id} locked`);
  }
  await page.click('[data-testid=example-clip]', { force: true }).catch(() => {});
  assert.equal(await page.$eval('[data-testid=bits]', (s) => s.value), '4');
  assert.equal(await page.$eval('[data-testid=method]', (s) => s.value), 'normal');
  // The teacher's tensor: neither a dropped nor a picked file replaces it under lock=x or lock=all.
  for (const lock of ['x', 'all']) {
    const { page: p, errors: e } = await openPage(browser, `${url}#/tensor?x=1,2,3&lock=${lock}`);
    await p.waitForSelector('[data-testid=tensor-drop]');
    assert.match(await p.$eval('[data-testid=tensor-drop]', (d) => d.className), /locked/);
    await p.setInputFiles('[data-testid=tensor-drop-input]', { name: 'mine.txt', mimeType: 'text/plain', buffer: Buffer.from('9, 8, 7, 6') });
    await p.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['9, 8, 7, 6'], 'mine.txt', { type: 'text/plain' }));
      document.querySelector('[data-testid=tensor-drop]').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await p.waitForTimeout(500);
    assert.equal(await p.$('[data-testid=loaded-file]'), null, `lock=${lock}: no file replaced the tensor`);
    assert.match(await p.evaluate(() => location.hash), /x=1(%2C|,)2(%2C|,)3/);
    await assertHealthy(p, e);
  }
  // Per-layer widths override the model's width: lock=ptq.weight_bits locks them, and a point of
  // the mixed-bit chart cannot be applied.
  const { page: m, errors: me } = await openPage(browser, `${url}#/model?ptq.weight_bits=4&lock=ptq.weight_bits`);
  await m.waitForSelector('[data-testid=bits-nn1]');
  assert.equal(await m.$eval('[data-testid=bits-nn1]', (s) => s.disabled), true, 'per-layer bits locked');
  // The language model: per-layer widths and the weight format (Q8_0 is 8 bits) are covered by lock=bits.
  const { page: l, errors: le } = await openPage(browser, `${url}#/lm?weights=rtn&bits=4&group=32&lock=bits`);
  await l.waitForSelector('[data-testid=lm-layer_bits]');
  assert.equal(await l.$eval('[data-testid=lm-layer_bits]', (i) => i.disabled), true, 'per-layer bits locked');
  assert.equal(await l.$eval('[data-testid=lm-weights]', (s) => s.disabled), true, 'the weight format locked');
  assert.equal(await l.$eval('[data-testid=lm-group]', (s) => s.disabled), false, 'the group is not');
  await assertHealthy(page, errors);
  await assertHealthy(m, me);
  await assertHealthy(l, le);
});

test('a misspelt key in hide= or lock= is named in a notice', async () => {
  const { page, errors } = await openPage(browser, `${url}#/tensor?lock=bitz,method&hide=sedd`);
  await page.waitForSelector('[data-testid=link-notice]');
  const notice = await page.textContent('[data-testid=link-notice]');
  assert.match(notice, /"bitz"/);
  assert.match(notice, /"sedd"/);
  assert.doesNotMatch(notice, /"method"/, 'a real key is not reported');
  assert.equal(await page.$eval('[data-testid=method]', (s) => s.matches(':disabled')), true, 'the real lock works');
  await screenshot(page, 'tensor-misspelt-lock.png');
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/model?lock=ptq.weight_bit`);
  await p2.waitForSelector('[data-testid=link-notice]');
  assert.match(await p2.textContent('[data-testid=link-notice]'), /"ptq\.weight_bit"/);
  const { page: p3, errors: e3 } = await openPage(browser, `${url}#/lab?lock=metod`);
  await p3.waitForSelector('[data-testid=link-notice]');
  assert.match(await p3.textContent('[data-testid=link-notice]'), /"metod"/);
  // The Lab's Bits select sets the activations' bits too: a lock on them is one on it (the page
  // said no control used ptq.act_bits, left the select free, and a choice dropped the lock).
  const { page: p4, errors: e4 } = await openPage(browser, `${url}#/lab?ptq.weight_bits=4&ptq.act_bits=4&lock=ptq.act_bits`);
  await p4.waitForSelector('[data-testid=lab-bits]');
  assert.equal(await p4.$('[data-testid=link-notice]'), null, 'ptq.act_bits is a Lab key');
  assert.equal(await p4.$eval('[data-testid=lab-bits]', (s) => s.matches(':disabled')), true, 'the Bits select is locked');
  assert.match(await p4.evaluate(() => location.hash), /lock=ptq\.act_bits/);
  const { page: p5, errors: e5 } = await openPage(browser, `${url}#/lab?hide=ptq.act_bits`);
  await p5.waitForSelector('[data-testid=lab-method]');
  assert.equal(await p5.$('[data-testid=lab-bits]'), null, 'hidden with the activations\' bits');
  await assertHealthy(page, errors);
  await assertHealthy(p2, e2);
  await assertHealthy(p3, e3);
  await assertHealthy(p4, e4);
  await assertHealthy(p5, e5);
});

test('a setting that does not apply, or any key of a Benchmark link, is named in a notice', async () => {
  // The experiment link's default granularity is per channel: a group size alone has nothing to set.
  const { page, errors } = await openPage(browser, `${url}#/model?ptq.granularity.group_size=16&ptq.weight_bits=4`);
  await page.waitForSelector('[data-testid=link-notice]');
  assert.match(await page.textContent('[data-testid=link-notice]'), /"ptq\.granularity\.group_size".*ptq\.granularity\.kind=per_channel/);
  assert.equal(await page.$eval('[data-testid=ptq-weight_bits]', (s) => s.value), '4', 'the rest of the link applies');
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/tensor?group=8&bits=4`);
  await p2.waitForSelector('[data-testid=link-notice]');
  assert.match(await p2.textContent('[data-testid=link-notice]'), /group "8".*gran=per_group/);
  const { page: p3, errors: e3 } = await openPage(browser, `${url}#/bench?runs=5&x=1`);
  await p3.waitForSelector('[data-testid=link-notice]');
  assert.match(await p3.textContent('[data-testid=link-notice]'), /"runs", "x".*takes no settings/);
  await screenshot(p3, 'bench-link-notice.png');
  await p3.click('[data-testid=link-notice] button');
  await p3.waitForFunction(() => !document.querySelector('[data-testid=link-notice]'));
  assert.equal(await p3.evaluate(() => location.hash), '#/bench');
  assert.equal(await p3.$eval('[data-testid=run-bench]', (b) => b.disabled), false, 'the page works');
  // A layer the model does not have is named and dropped (it once left Run disabled, with no
  // control to clear it); a built-in model runs on its own dataset, within that dataset's splits.
  const { page: p4, errors: e4 } = await openPage(browser, `${url}#/model?ptq.skip=nn9,nn2&ptq.layer_bits.nn7=4&model=mlp-mnist&eval_size=5000`);
  await p4.waitForSelector('[data-testid=link-notice]');
  const n4 = await p4.textContent('[data-testid=link-notice]');
  assert.match(n4, /ptq\.skip's "nn9" in the link: mlp-mnist has no quantizable layer "nn9" \(its layers are nn1, nn2, nn3\)/);
  assert.match(n4, /ptq\.layer_bits\.nn7/);
  assert.match(n4, /eval_size in the link: 5000 images is more than the 2000 test images of mnist/);
  assert.equal(await p4.$eval('[data-testid=run]', (b) => b.disabled), false, 'Run works');
  assert.equal(await p4.$eval('[data-testid=eval_size]', (i) => i.max), '2000');
  await assertHealthy(page, errors);
  await assertHealthy(p2, e2);
  await assertHealthy(p3, e3);
  await assertHealthy(p4, e4);
});

test('a skip link is the first Tab stop and moves focus to the main content, route unchanged', async () => {
  const { page, errors } = await openPage(browser, `${url}#/tensor?bits=6`);
  await page.waitForSelector('[data-testid=zero-point]');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'skip-link');
  assert.ok(await page.isVisible('[data-testid=skip-link]'), 'visible while focused');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  assert.match(await page.evaluate(() => location.hash), /^#\/tensor\?.*bits=6/);
  await assertHealthy(page, errors);
});

test('hide=all on the Tensor page: the texts speak of no control that is gone', async () => {
  const { page, errors } = await openPage(browser, `${url}#/tensor?hide=all`);
  await page.waitForSelector('[data-testid=teacher-note]');
  const note = await page.textContent('[data-testid=teacher-note]');
  assert.match(note, /every control is hidden/);
  assert.doesNotMatch(note, /greyed out/, 'nothing is locked');
  assert.doesNotMatch(await page.textContent('[data-testid=start-here]'), /lab example/);
  assert.equal(await page.$('[data-testid=example-normal]'), null);
  assert.doesNotMatch(await page.textContent('.tensor-page'), /drag a slider/);
  // The card that held the controls says what the teacher set, and is no taller than that.
  assert.match(await page.textContent('[data-testid=tensor-fixed]'), /Set by your teacher: 8 bits, signed, asymmetric, the normal method, per tensor/);
  const card = await page.$eval('.tensor-page > .inputs', (e) => e.getBoundingClientRect().height);
  assert.ok(card < 240, `the card is ${card} px tall`);
  // Locked, not hidden: the note says they are greyed out, and the examples are disabled.
  const { page: p2, errors: e2 } = await openPage(browser, `${url}#/tensor?lock=bits`);
  assert.match(await p2.textContent('[data-testid=teacher-note]'), /greyed out/);
  assert.doesNotMatch(await p2.textContent('[data-testid=start-here]'), /lab example/);
  assert.match(await p2.textContent('.tensor-page'), /drag a slider/);
  await assertHealthy(p2, e2);
  await assertHealthy(page, errors);
});

test("a teacher's locked range or calibration cannot be undone by the sliders or 'Use the calibrated range'; hide=model hides the Model page's chooser", async () => {
  for (const q of ['range=-0.5,0.5&lock=range', 'range=-0.5,0.5&lock=calib']) {
    const { page, errors } = await openPage(browser, `${url}#/tensor?${q}`);
    await page.waitForSelector('[data-testid=range-reset]');
    assert.ok(await page.isDisabled('[data-testid=range-reset]'), q);
    assert.ok(await page.isDisabled('[data-testid=alpha-slider]'), q);
    assert.doesNotMatch(await page.textContent('.tensor-page'), /drag a slider/, q);
    await assertHealthy(page, errors);
  }
  const { page: hidden, errors: hiddenErrors } = await openPage(browser, `${url}#/tensor?range=-0.5,0.5&hide=range`);
  await hidden.waitForSelector('[data-testid=zero-point]');
  assert.equal(await hidden.$('[data-testid=range-reset]'), null);
  assert.match(await hidden.evaluate(() => location.hash), /range=-0\.5(,|%2C)0\.5/);
  // A typed tensor the link cannot carry (more than 256 values): the link says it leaves it out.
  assert.equal(await hidden.$('[data-testid=link-leaves-out]'), null);
  await hidden.fill('[data-testid=tensor-text]', Array.from({ length: 300 }, (_, i) => (i / 100).toFixed(2)).join(', '));
  await hidden.waitForSelector('[data-testid=link-leaves-out]');
  assert.match(await hidden.textContent('[data-testid=link-leaves-out]'), /not the typed tensor .*at most 256 numbers/);
  // Text that is not numbers: the link says that, not that it holds too many.
  await hidden.fill('[data-testid=tensor-text]', '1, NaN, 2');
  await hidden.waitForFunction(() => /does not read as a list of numbers/.test(document.querySelector('[data-testid=link-leaves-out]')?.textContent ?? ''));
  await assertHealthy(hidden, hiddenErrors);
  for (const q of ['hide=model', 'hide=all']) {
    const { page, errors } = await openPage(browser, `${url}#/model?${q}`);
    await page.waitForSelector('[data-testid=layer-table]');
    assert.equal(await page.$('[data-testid=model-select]'), null, q);
    assert.equal(await page.$('[data-testid=model-drop]'), null, q);
    await assertHealthy(page, errors);
  }
});

test('hide=all hides every control of the Language-model page and the Lab; an empty prompt stops Generate, not Run', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?hide=all`);
  await page.waitForSelector('[data-testid=lm-run]');
  assert.match(await page.textContent('[data-testid=teacher-note]'), /every control is hidden/);
  for (const id of ['lm-weights', 'lm-bits', 'lm-prompt', 'lm-tokens']) {
    assert.equal(await page.$(`[data-testid=${id}]`), null, `${id} hidden`);
  }
  const { page: lab, errors: labErrors } = await openPage(browser, `${url}#/lab?hide=all`);
  await lab.waitForSelector('[data-testid=lab-run-all]');
  for (const id of ['lab-dataset', 'lab-method', 'lab-bits']) {
    assert.equal(await lab.$(`[data-testid=${id}]`), null, `${id} hidden`);
  }
  // Run scores the validation text: the prompt is Generate's alone.
  const { page: p3, errors: e3 } = await openPage(browser, `${url}#/lm?prompt=`);
  await p3.waitForSelector('[data-testid=lm-run]');
  assert.equal(await p3.isEnabled('[data-testid=lm-run]'), true, 'Run needs no prompt');
  assert.equal(await p3.isEnabled('[data-testid=lm-generate]'), false, 'Generate does');
  assert.match(await p3.textContent('[data-testid=invalid]'), /the prompt is empty: Generate needs text to continue/);
  await p3.fill('[data-testid=lm-prompt]', 'ROMEO:');
  await p3.waitForFunction(() => !document.querySelector('[data-testid=lm-generate]').disabled);
  assert.equal(await p3.$('[data-testid=invalid]'), null);
  // A prompt that fills the built-in model's context (a token per character) is said before Generate.
  await p3.fill('[data-testid=lm-prompt]', 'a'.repeat(1000));
  await p3.waitForSelector('[data-testid=invalid]');
  assert.match(await p3.textContent('[data-testid=invalid]'), /the prompt is 1000 characters: the built-in model reads one token per character and its context is (\d+), so Generate needs a prompt of at most \d+ characters/);
  assert.equal(await p3.isEnabled('[data-testid=lm-generate]'), false);
  assert.equal(await p3.isEnabled('[data-testid=lm-run]'), true, 'Run scores the validation text, not the prompt');
  await p3.fill('[data-testid=lm-prompt]', 'ROMEO:');
  await p3.waitForFunction(() => !document.querySelector('[data-testid=lm-generate]').disabled);
  await assertHealthy(page, errors);
  await assertHealthy(lab, labErrors);
  await assertHealthy(p3, e3);
});

test('a link that locks or unlocks the model, followed in an open tab, applies without a page error; each link shows only its own notices', async () => {
  // The drop zone's lock once skipped a hook when it came with a new link: the page died.
  for (const [page0, drop] of [['lm', 'lm-drop'], ['model', 'model-drop']]) {
    const { page, errors } = await openPage(browser, `${url}#/${page0}?seed=1`);
    await page.waitForSelector(`[data-testid=${drop}]`);
    const locked = () => page.$eval(`[data-testid=${drop}]`, (d) => d.classList.contains('locked'));
    assert.equal(await locked(), false, page0);
    await page.evaluate((p) => { location.hash = `#/${p}?lock=model&seed=2`; }, page0);
    await page.waitForFunction((id) => document.querySelector(`[data-testid=${id}]`)?.classList.contains('locked'), drop);
    await page.evaluate((p) => { location.hash = `#/${p}?seed=3`; }, page0);
    await page.waitForFunction((id) => !document.querySelector(`[data-testid=${id}]`)?.classList.contains('locked'), drop);
    assert.match(await page.evaluate(() => location.hash), /seed=3/);
    await assertHealthy(page, errors);
  }
  // A link's notice goes when another link, read cleanly, is followed (the page's own link coming
  // back keeps it).
  for (const [bad, good] of [['#/lm?bits=99', '#/lm?tokens=8193'], ['#/tensor?bits=99', '#/tensor?bits=8'], ['#/model?ptq.weight_bits=99', '#/model?seed=0']]) {
    const { page, errors } = await openPage(browser, `${url}${bad}`);
    await page.waitForSelector('[data-testid=link-notice]');
    await page.waitForTimeout(300);
    assert.ok(await page.$('[data-testid=link-notice]'), `${bad}: the notice stays while the page's own link comes back`);
    await page.evaluate((h) => { location.hash = h; }, good);
    await page.waitForSelector('[data-testid=link-notice]', { state: 'detached', timeout: 5000 });
    await assertHealthy(page, errors);
  }
});

test("what a teacher's link fixes cannot be changed another way: calibration under a locked range, a file or the text box under a locked shape, examples under a hidden width, the Lab's links, a table row's model", async () => {
  // A locked range: the calibrator and the granularity (either would drop the range) are locked too.
  const { page: t, errors: te } = await openPage(browser, `${url}#/tensor?range=-0.5,0.5&lock=range`);
  await t.waitForSelector('[data-testid=calibration]');
  for (const id of ['calibration', 'granularity']) assert.equal(await t.$eval(`[data-testid=${id}]`, (s) => s.matches(':disabled')), true, `${id} locked with the range`);
  // A locked calibration setting locks the calibrator.
  await t.evaluate(() => { location.hash = '#/tensor?calib=percentile&cparam=99&lock=cparam'; });
  await t.waitForFunction(() => document.querySelector('[data-testid=calibration]')?.value === 'percentile');
  assert.equal(await t.$eval('[data-testid=calibration]', (s) => s.matches(':disabled')), true, 'the calibrator locked with its setting');
  // A locked shape: neither a file nor the text box replaces the generated tensor.
  await t.evaluate(() => { location.hash = '#/tensor?gen=normal&shape=4,8&lock=shape'; });
  await t.waitForSelector('[data-testid=use-text]');
  assert.equal(await t.$eval('[data-testid=use-text]', (b) => b.matches(':disabled')), true, 'Use the text box locked');
  assert.match(await t.$eval('[data-testid=tensor-drop]', (d) => d.className), /locked/);
  // ... and with the text box's tensor, Generate would replace it and its shape: locked too.
  await t.evaluate(() => { location.hash = '#/tensor?x=1,2,3,4&lock=shape'; });
  await t.waitForSelector('[data-testid=generate]');
  assert.equal(await t.$eval('[data-testid=generate]', (b) => b.matches(':disabled')), true, 'Generate locked with the shape');
  // A hidden width is fixed: the examples, which set it, are disabled.
  await t.evaluate(() => { location.hash = '#/tensor?bits=3&hide=bits'; });
  await t.waitForFunction(() => !document.querySelector('[data-testid=bits]'));
  assert.equal(await t.$eval('[data-testid=example-clip]', (b) => b.matches(':disabled')), true, 'examples disabled under a hidden width');
  // The Lab's link to the Tensor page under a teacher's lock there opens the page as the teacher set it.
  await t.evaluate(() => { location.hash = '#/tensor?bits=4&method=normal&lock=bits,method'; });
  await t.waitForFunction(() => document.querySelector('[data-testid=bits]')?.value === '4');
  await t.click('nav >> text=Lab');
  await t.waitForSelector('[data-testid=lab-tensor-fixed]');
  await t.click('[data-testid=lab-tensor-fixed] a');
  await t.waitForSelector('[data-testid=teacher-note]');
  assert.match(await t.evaluate(() => location.hash), /lock=bits%2Cmethod|lock=bits,method/);
  assert.equal(await t.$eval('[data-testid=bits]', (s) => s.value), '4');
  // ... and from a Lab of lock=all, with every control locked there too, not only the Tensor link's own.
  await t.evaluate(() => { location.hash = '#/lab?lock=all'; });
  await t.waitForSelector('[data-testid=lab-tensor-fixed]');
  await t.click('[data-testid=lab-tensor-fixed] a');
  await t.waitForFunction(() => location.hash.startsWith('#/tensor'));
  assert.match(await t.evaluate(() => decodeURIComponent(location.hash)), /lock=[^&]*all/);
  await t.waitForSelector('[data-testid=bits]');
  assert.equal(await t.$eval('[data-testid=rounding]', (s) => s.matches(':disabled')), true, 'a control the Tensor link left free is locked by the Lab\'s lock=all');
  await assertHealthy(t, te);

  // The language model: narrow range, dampening, top-k and top-p lock on their own; hide=model still names the model.
  const { page: l, errors: le } = await openPage(browser, `${url}#/lm?weights=rtn&bits=8&lock=bits,weights,narrow,damp,top_k,top_p&hide=model`);
  await l.waitForSelector('[data-testid=lm-model-fixed]');
  assert.match(await l.textContent('[data-testid=lm-model-fixed]'), /Shakespeare|small|built-in/i);
  for (const id of ['lm-narrow', 'lm-damp', 'lm-top_k', 'lm-top_p']) {
    const el = await l.$(`[data-testid=${id}] input, input[data-testid=${id}], [data-testid=${id}]`);
    assert.ok(el, id);
    assert.equal(await el.evaluate((e) => (e.matches('input, select') ? e : e.querySelector('input, select')).disabled), true, `${id} locked`);
  }
  assert.equal(await l.$('[data-testid=link-notice]'), null, 'every lock name is known');
  // The Lab's second track keeps the locks in its links, and names the lock where a step changes a locked setting.
  await l.click('nav >> text=Lab');
  await l.waitForSelector('[data-testid=lab-lm]');
  const hrefs = await l.$$eval('[data-testid=lab-lm] a', (as) => as.filter((a) => a.textContent === 'open').map((a) => a.getAttribute('href')));
  assert.ok(hrefs.length > 0, 'some steps change nothing locked');
  for (const h of hrefs) assert.match(h, /lock=/, h);
  assert.match(await l.textContent('[data-testid=lab-lm]'), /locked: bits/);
  await assertHealthy(l, le);
});

test('a hash without its slash (#?bits=4, #bits=4), opened or typed, reads under / without a page error', async () => {
  const { page, errors } = await openPage(browser, `${url}#?bits=4&lock=bits`);
  await page.waitForSelector('[data-testid=bits]');
  assert.equal(await page.$eval('[data-testid=bits]', (s) => s.value), '4');
  assert.equal(await page.$eval('[data-testid=bits]', (s) => s.matches(':disabled')), true, 'the lock holds');
  assert.match(await page.evaluate(() => location.hash), /^#\/(tensor)?\?/);
  await page.evaluate(() => { location.hash = 'bits=5'; });
  await page.waitForSelector('[data-testid=link-notice]');
  assert.match(await page.textContent('[data-testid=link-notice]'), /Unknown page "\/?bits=5"/);
  await page.evaluate(() => { location.hash = '?bits=3'; });
  await page.waitForFunction(() => document.querySelector('[data-testid=bits]')?.value === '3');
  await assertHealthy(page, errors);
});
