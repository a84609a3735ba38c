// The first screen of each page at 1280 × 800 and 1024 × 768, saved to docs/screenshots/ for the
// README (first-<page>-<width>.png), in headless Chromium against the release build. Each page
// must render its heading without a console error; the pictures are for a person to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openPage, useServedApp, assertHealthy, root } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

const pages = [
  ['tensor', '#/tensor', '[data-testid=histogram]'],
  ['model', '#/model', '[data-testid=run]'],
  ['lab', '#/lab', '[data-testid=lab-run-all]'],
  ['lm', '#/lm', '[data-testid=lm-run]'],
  ['bench', '#/bench', 'main h2'],
];

test('at a phone\'s 390 px nothing is wider than the window, and each page has its own title', async () => {
  const titles = { tensor: 'Tensor', model: 'Model', lab: 'Lab', lm: 'Language model', bench: 'Benchmark' };
  for (const [name, hash, ready] of pages) {
    const { page, errors } = await openPage(browser, url + hash, { width: 390, height: 800 });
    await page.waitForSelector(ready);
    await page.waitForTimeout(300);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `${name}: the page is ${wide} px wide in a 390 px window`);
    assert.equal(await page.title(), `${titles[name]} — qplay, the quantization playground`);
    await assertHealthy(page, errors);
    await page.close();
  }
});

test('at a phone\'s 390 px a run\'s results stay in the window too: wide tables scroll inside their cards', async () => {
  const { page, errors } = await openPage(browser, `${url}#/model`, { width: 390, height: 800 });
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=per-layer-table]', { timeout: 120000 });
  await page.waitForTimeout(500);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 390, `the page is ${wide} px wide in a 390 px window after a run`);
  // The per-layer table keeps every column, scrolling sideways inside its card.
  const t = await page.$eval('[data-testid=per-layer-table]', (e) => ({ client: e.clientWidth, scroll: e.scrollWidth, overflow: getComputedStyle(e).overflowX }));
  assert.ok(t.scroll > t.client && t.overflow === 'auto', JSON.stringify(t));
  await page.screenshot({ path: join(root, 'tests', 'e2e', 'artifacts', 'phone-model-results.png'), fullPage: true });
  await assertHealthy(page, errors);
  await page.close();
});

for (const [width, height] of [[1280, 800], [1024, 768]]) {
  test(`the first screen of every page at ${width} × ${height}`, async () => {
    const dir = join(root, 'docs', 'screenshots');
    await mkdir(dir, { recursive: true });
    for (const [name, hash, ready] of pages) {
      const { page, errors } = await openPage(browser, url + hash, { width, height });
      // Loading a page warns about nothing either (Chromium once warned on every load about the
      // integrity hash of the wasm preload).
      const warnings = [];
      page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
      await page.reload();
      await page.waitForSelector(ready);
      await page.waitForTimeout(300);
      assert.ok(await page.isVisible('main'), `${name}: the page renders`);
      if (name === 'tensor') await assertTensorFirstScreen(page, width, height);
      await page.screenshot({ path: join(dir, `first-${name}-${width}.png`) });
      if (name === 'tensor') await assertTensorFirstClicks(page);
      await assertHealthy(page, errors);
      assert.deepEqual(warnings, [], `${name}: no console warning`);
      await page.close();
    }
  });
}

// The Tensor page teaches on its first screen: the way to the Lab, the controls, and beside
// them the histogram with its grid and the figures s, Z, MSE, SQNR, all above the fold.
async function assertTensorFirstScreen(page, width, height) {
  await page.waitForSelector('[data-testid=glance-scale]');
  const box = async (sel) => {
    const b = await page.locator(sel).boundingBox();
    assert.ok(b, `${sel} is shown`);
    return b;
  };
  for (const sel of ['[data-testid=start-lab]', '[data-testid=histogram]', '[data-testid=glance]', '[data-testid=example-clip]', 'select >> nth=0']) {
    const b = await box(sel);
    assert.ok(b.y + b.height <= height, `${width} × ${height}: ${sel} ends at ${Math.round(b.y + b.height)} px, below the fold`);
  }
  const hist = await box('[data-testid=histogram]');
  const inputs = await box('section.inputs');
  assert.ok(hist.x >= inputs.x + inputs.width - 1, `the histogram sits beside the controls (x ${hist.x} vs ${inputs.x + inputs.width})`);
}

async function assertTensorFirstClicks(page) {
  // The clip example puts its s and Z beside the chart.
  await page.click('[data-testid=example-clip]');
  await page.waitForFunction(() => document.querySelector('[data-testid=glance-zero]')?.textContent !== undefined);
  const scale = await page.textContent('[data-testid=glance-scale]');
  assert.match(scale, /^0\.0\d+/, `scale s is shown (${scale})`);
  await page.click('[data-testid=example-normal]');
  await page.waitForTimeout(200);
  // "Start with the Lab" goes to the Lab.
  await page.click('[data-testid=start-lab]');
  await page.waitForSelector('[data-testid=lab-run-all]');
}

// Charts fill their container and are drawn at the device pixel ratio: on a 2× screen the
// canvas holds twice the pixels of its CSS size, and its width follows the page.
test('charts are drawn at the device pixel ratio and as wide as their container', async () => {
  for (const [width, scale] of [[1280, 2], [1024, 1]]) {
    const { page, errors } = await openPage(browser, url + '#/tensor', { width, height: 800, scale });
    await page.waitForSelector('[data-testid=histogram]');
    await page.waitForTimeout(300);
    const m = await page.$eval('[data-testid=histogram]', (c) => ({
      w: c.width, h: c.height, cssW: c.getBoundingClientRect().width, cssH: c.getBoundingClientRect().height,
      logical: Number(c.dataset.logicalWidth), parent: c.closest('figure').clientWidth,
    }));
    assert.equal(m.w, Math.round(m.logical * scale), `${width} px at ${scale}×: canvas pixels = ${scale} × its logical width (${JSON.stringify(m)})`);
    assert.ok(Math.abs(m.cssW - m.logical) <= 1, `shown at its logical size (${JSON.stringify(m)})`);
    assert.ok(m.cssW >= m.parent - 40 && m.cssW <= m.parent + 1, `as wide as its figure (${JSON.stringify(m)})`);
    assert.ok(Math.abs(m.h / m.w - m.cssH / m.cssW) < 0.01, `not stretched (${JSON.stringify(m)})`);
    await assertHealthy(page, errors);
    await page.close();
  }
});
