import { chromium } from 'playwright-core';
const base = process.argv[2];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
const cases = [
  ['MLP W8A8', 'model=mlp-fashion'],
  ['MLP W8 weight-only', 'model=mlp-fashion&ptq.mode=weight_only'],
  ['MLP W4 weight-only', 'model=mlp-fashion&ptq.mode=weight_only&ptq.weight_bits=4'],
  ['MLP dynamic ALWC', 'model=mlp-fashion&ptq.mode=dynamic'],
  ['MLP W8A6 (simulated)', 'model=mlp-fashion&ptq.act_bits=6'],
  ['CNN W8A8', 'model=cnn-fashion'],
  ['CNN W4 weight-only', 'model=cnn-fashion&ptq.mode=weight_only&ptq.weight_bits=4'],
];
for (const [name, q] of cases) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${base}/#/model?${q}`);
  await page.waitForSelector('[data-testid=run]');
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=quant-latency]', { timeout: 180_000 });
  const t = async (id) => (await page.textContent(`[data-testid=${id}]`)).trim();
  console.log(`${name}: acc ${await t('fp32-accuracy')} / ${await t('quant-accuracy')} | latency ${await t('fp32-latency')} / ${await t('quant-latency')} | throughput ${await t('fp32-throughput')} / ${await t('quant-throughput')} | ${await t('engine')} | sim note ${!!(await page.$('[data-testid=speed-simulated]'))} | errors ${errors.length}`);
  if (name === 'MLP W4 weight-only') await page.screenshot({ path: '/tmp/speed_w4.png', clip: { x: 0, y: 0, width: 1280, height: 900 } });
  await page.close();
}
await browser.close();
