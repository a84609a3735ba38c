// FP32 against quantized latency and throughput on the Model page, one run per link (the README's
// "Model speed" table): `trunk build --release`, then `node tests/e2e/model_speed.mjs`.
import { serveDist, launch } from './harness.mjs';
const { server, url } = await serveDist();
const browser = await launch();
const settings = [
  'ptq.mode=full',
  'ptq.mode=weight_only&ptq.weight_bits=8',
  'ptq.mode=weight_only&ptq.weight_bits=4',
  'ptq.mode=dynamic',
  'ptq.act_bits=6',
  'model=cnn-fashion&ptq.mode=full',
  'model=cnn-fashion&ptq.mode=weight_only&ptq.weight_bits=4',
  'model=cnn-fashion&ptq.mode=weight_only&ptq.weight_bits=8',
];
for (const q of settings) {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}#/model?${q}`);
  await page.waitForSelector('[data-testid=run]');
  await page.click('[data-testid=run]');
  await page.waitForSelector('[data-testid=fp32-latency]', { timeout: 300_000 });
  const t = async (id) => (await page.textContent(`[data-testid=${id}]`)).trim();
  const head = await page.textContent('[data-testid=ptq-result] .summary-table thead');
  console.log(`${q}: engine ${await t('engine')} | acc ${await t('quant-accuracy')} | latency ${await t('fp32-latency')} -> ${await t('quant-latency')} | throughput ${await t('fp32-throughput')} -> ${await t('quant-throughput')} | ${head.match(/batch \d+\)/g)} ${errors.join(' ')}`);
  await page.close();
}
await browser.close();
server.close();
