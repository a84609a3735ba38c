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
  ['bench', '#/bench', 'main h2'],
];

for (const [width, height] of [[1280, 800], [1024, 768]]) {
  test(`the first screen of every page at ${width} × ${height}`, async () => {
    const dir = join(root, 'docs', 'screenshots');
    await mkdir(dir, { recursive: true });
    for (const [name, hash, ready] of pages) {
      const { page, errors } = await openPage(browser, url + hash, { width, height });
      await page.waitForSelector(ready);
      await page.waitForTimeout(300);
      assert.ok(await page.isVisible('main'), `${name}: the page renders`);
      await page.screenshot({ path: join(dir, `first-${name}-${width}.png`) });
      await assertHealthy(page, errors);
      await page.close();
    }
  });
}
