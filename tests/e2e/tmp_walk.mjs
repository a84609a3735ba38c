import { serveDist, launch, openPage } from './harness.mjs';
const { url, close } = await serveDist();
const browser = await launch();
const { page, errors } = await openPage(browser, `${url}#/lm?tokens=2049&bits=4&group=32&weights=rtn`, { width: 1400, height: 1000 });
await page.waitForSelector('[data-testid=lm-table-empty]');
for (const m of ['rtn', 'awq', 'gptq']) {
  await page.selectOption('[data-testid=lm-method]', m).catch((e) => console.log('method', e.message));
  const n = await page.$$eval('[data-testid=lm-row]', (r) => r.length);
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction((k) => document.querySelectorAll('[data-testid=lm-row]').length === k, n + 1, { timeout: 300_000 });
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 20_000 });
}
await page.screenshot({ path: '/tmp/walk_full.png', fullPage: true });
console.log('errors', errors);
await browser.close(); await close();
