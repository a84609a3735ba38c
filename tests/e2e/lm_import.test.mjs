// End-to-end tests of the Language-model page with the user's own model, against the release
// build in headless Chromium: a truncated GGUF and a model.bin with a wrong header each show a
// message and the previous model stays usable (issue 14's acceptance); a small GGUF, a llama2.c
// model.bin + tokenizer.bin and a Hugging Face folder (several files at once) load and get a
// perplexity row; a fresh worker after Cancel gets the user's files again; the table downloads as
// CSV / JSON and the model as GGUF / QDQ ONNX. Any console error, page error or panic fails a test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPage, screenshot, root, useServedApp, assertHealthy, watchReading, assertReadingSeen } from './harness.mjs';

let url, browser;
useServedApp((u, b) => {
  url = u;
  browser = b;
});

const fixtures = join(root, 'tests', 'fixtures', 'lm', 'import');
const fixture = async (name) => ({ name: name.split('/').pop(), mimeType: 'application/octet-stream', buffer: await readFile(join(fixtures, name)) });

const rows = (page) => page.$$eval('[data-testid=lm-row]', (trs) => trs.map((tr) => ({
  model: tr.querySelector('[data-testid=lm-model]').textContent,
  label: tr.querySelector('[data-testid=lm-label]').textContent,
  fp32: parseFloat(tr.querySelector('[data-testid=ppl-fp32]').textContent),
  quant: parseFloat(tr.querySelector('[data-testid=ppl-quant]').textContent),
})));

async function idle(page, timeout = 120_000) {
  await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout });
}

async function runAndWait(page, n) {
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction((k) => document.querySelectorAll('[data-testid=lm-row]').length === k, n, { timeout: 180_000 });
  await idle(page);
}

// Drops files on the page's model input and waits for their outcome. The read starts a moment after setInputFiles (the
// browser reads the files first), so the wait names what must change: a rejected drop changes the
// error under the drop zone, a load changes the description of the user's model.
async function drop(page, files, outcome = 'loaded') {
  const text = (id) => page.$eval(`[data-testid=${id}]`, (e) => e.textContent).catch(() => null);
  const before = { error: await text('lm-model-error'), model: await text('lm-user-model') };
  await page.setInputFiles('[data-testid=lm-drop-input]', files);
  await page.waitForFunction(([b, outcome]) => {
    const now = (id) => document.querySelector(`[data-testid=${id}]`)?.textContent ?? null;
    if (document.querySelector('[data-testid=job-status]')) return false;
    return outcome === 'rejected'
      ? now('lm-model-error') !== null && now('lm-model-error') !== b.error
      : now('lm-model-error') === null && now('lm-user-model') !== null && now('lm-user-model') !== b.model;
  }, [before, outcome], { timeout: 60_000 });
  await idle(page);
}

const error = (page) => page.$eval('[data-testid=lm-model-error]', (e) => e.textContent).catch(() => null);

test('rejected files leave the previous model; GGUF, llama2.c and Hugging Face models load and score', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&tokens=513&max_new=24`);
  await page.waitForSelector('[data-testid=lm-drop]');
  assert.ok((await page.$eval('[data-testid=lm-drop]', (e) => e.title)).length > 40, 'the drop zone has a tooltip');
  const gguf = await readFile(join(fixtures, 'tied_f32.gguf'));

  // A truncated GGUF while the built-in model is in use: a message, and the built-in model stays.
  await drop(page, [{ name: 'cut.gguf', mimeType: 'application/octet-stream', buffer: gguf.subarray(0, 700) }], 'rejected');
  assert.match(await error(page), /cut\.gguf/);
  assert.match(await error(page), /the model in use did not change/);
  assert.ok(await page.$('[data-testid=lm-builtin-notes]'), 'the built-in model is still described');
  await runAndWait(page, 1);
  assert.equal((await rows(page))[0].model, 'Shakespeare (built-in)');

  // A model.bin with a wrong header.
  const bad = Buffer.alloc(4096, 7);
  bad.write('NOPE', 0);
  await drop(page, [{ name: 'model.bin', mimeType: 'application/octet-stream', buffer: bad }], 'rejected');
  const badMessage = await error(page);
  assert.match(badMessage, /model\.bin/);
  assert.doesNotMatch(badMessage, /cut\.gguf/, 'a new message');

  // A small valid GGUF (F32, tied embedding, SentencePiece vocabulary) loads and gets a row.
  await drop(page, [await fixture('tied_f32.gguf')]);
  assert.equal(await error(page), null, 'the message goes');
  const info = await page.textContent('[data-testid=lm-user-model]');
  assert.match(info, /tied_f32\.gguf \("qplay import fixture"\) — GGUF v3: .* dim 32, 2 layers/);
  assert.match(info, /Shakespeare validation text, tokenized by this model's tokenizer/);
  await runAndWait(page, 2);
  let r = await rows(page);
  assert.equal(r[1].model, 'tied_f32.gguf');
  assert.match(r[1].label, /W8 per-channel RTN/);
  assert.ok(Number.isFinite(r[1].fp32) && r[1].fp32 > 1, `perplexity ${r[1].fp32}`);
  assert.ok(Number.isFinite(r[1].quant) && r[1].quant > 1);

  // A truncated GGUF now: the user's model stays, and still runs.
  await drop(page, [{ name: 'cut.gguf', mimeType: 'application/octet-stream', buffer: gguf.subarray(0, gguf.length - 100) }], 'rejected');
  assert.match(await error(page), /cut\.gguf/);
  assert.match(await page.textContent('[data-testid=lm-user-model]'), /tied_f32\.gguf/);
  await runAndWait(page, 3);
  r = await rows(page);
  assert.equal(r[2].model, 'tied_f32.gguf');
  assert.equal(r[2].fp32, r[1].fp32, 'the same model, the same FP32 perplexity');

  // It writes, too.
  await page.click('[data-testid=lm-generate]');
  await idle(page);
  assert.ok((await page.textContent('[data-testid=gen-fp32]')).startsWith('ROMEO:'));

  // Back to the built-in model, and to the user's.
  await page.check('[data-testid=lm-use-builtin]');
  assert.ok(await page.$('[data-testid=lm-builtin-notes]'));
  await page.check('[data-testid=lm-use-user]');

  // A llama2.c model.bin with its tokenizer.bin, both at once.
  await drop(page, [await fixture('model_v0.bin'), await fixture('tokenizer.bin')]);
  assert.equal(await error(page), null);
  assert.match(await page.textContent('[data-testid=lm-user-model]'), /model_v0\.bin, tokenizer\.bin — llama2\.c model\.bin v0: .*Tokenizer: SentencePiece BPE/);
  await runAndWait(page, 4);
  r = await rows(page);
  assert.equal(r[3].model, 'model_v0.bin, tokenizer.bin');
  assert.ok(Number.isFinite(r[3].fp32) && r[3].fp32 > 1, `perplexity ${r[3].fp32}`);

  // The link names the user's model; opened elsewhere it asks for the same files, and with them
  // it reproduces the row.
  const link = await page.$eval('[data-testid=share-link]', (i) => i.value);
  assert.match(link, /model=model_v0\.bin%2C\+tokenizer\.bin/);
  const { page: p2, errors: e2 } = await openPage(browser, link);
  await p2.waitForSelector('[data-testid=lm-model-missing]');
  assert.match(await p2.textContent('[data-testid=lm-model-missing]'), /"model_v0\.bin, tokenizer\.bin".*drop the same files/);
  assert.equal(await p2.$eval('[data-testid=lm-run]', (b) => b.disabled), true, 'Run waits for the files');
  assert.match(await p2.textContent('[data-testid=invalid]'), /your own model/);
  await drop(p2, [await fixture('model_v0.bin'), await fixture('tokenizer.bin')]);
  await p2.waitForSelector('[data-testid=lm-model-missing]', { state: 'detached' });
  await runAndWait(p2, 1);
  assert.deepEqual((await rows(p2))[0], r[3], 'the same row from the link and the same files');
  assert.equal(await p2.$('[data-testid=link-notice]'), null, 'the same files: nothing to say');
  // The link carries the files' fingerprint: other contents under the same names are said.
  assert.match(link, /&files=\d+-[0-9a-f]{12}/);
  const { page: p4, errors: e4 } = await openPage(browser, link.replace(/files=\d+-[0-9a-f]{12}/, 'files=12345-0123456789ab'));
  await p4.waitForSelector('[data-testid=lm-model-missing]');
  await drop(p4, [await fixture('model_v0.bin'), await fixture('tokenizer.bin')]);
  assert.match(await p4.textContent('[data-testid=link-notice]'), /not its files' contents \(the link's: 12,345 bytes, hash 0123456789ab; these: /);
  assert.doesNotMatch(await p4.$eval('[data-testid=share-link]', (i) => i.value), /12345-0123456789ab/, 'the link now names these files');
  await assertHealthy(p4, e4);
  // Or the built-in model instead.
  const { page: p3, errors: e3 } = await openPage(browser, link);
  await p3.click('[data-testid=lm-link-use-builtin]');
  await p3.waitForSelector('[data-testid=lm-model-missing]', { state: 'detached' });
  assert.doesNotMatch(await p3.$eval('[data-testid=share-link]', (i) => i.value), /model=/);
  assert.equal(await p3.$eval('[data-testid=lm-run]', (b) => b.disabled), false);
  await assertHealthy(p2, e2);
  await assertHealthy(p3, e3);

  // A Hugging Face folder: model.safetensors, config.json, tokenizer.json.
  await drop(page, [await fixture('hf/config.json'), await fixture('hf/model.safetensors'), await fixture('hf/tokenizer.json')]);
  assert.equal(await error(page), null, 'the files read');
  const hf = await page.textContent('[data-testid=lm-user-model]');
  assert.match(hf, /Hugging Face safetensors: 20,640 parameters/);
  assert.match(hf, /q_proj and k_proj un-permuted/);
  // The fixture's tokenizer.json is BPE with neither a ByteLevel pre-tokenizer nor the
  // SentencePiece-style "▁" layout, which qplay does not implement: the notes say so, and Run and
  // Generate wait for one, saying what is missing.
  assert.match(hf, /No tokenizer/);
  assert.match(hf, /neither byte-level nor SentencePiece-style BPE/);
  for (const b of ['lm-run', 'lm-generate']) {
    assert.equal(await page.$eval(`[data-testid=${b}]`, (e) => e.disabled), true, `${b} waits for a tokenizer`);
  }
  assert.match(await page.textContent('[data-testid=invalid]'), /no tokenizer qplay can use/);
  assert.equal((await rows(page)).length, 4, 'the table keeps its rows');
  // Its export is named by the weights' file, whatever order the files were dropped in (its
  // tokenizer.json cannot go into a GGUF file, so the packed .safetensors).
  const [hfExport] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('[data-testid=lm-safetensors]')]);
  assert.match(hfExport.suggestedFilename(), /^model-.*\.safetensors$/);
  await idle(page);
  // A tokenizer.json that is not JSON is a bad file: refused, and the model in use stays.
  await drop(page, [await fixture('hf/model.safetensors'), await fixture('hf/config.json'),
    { name: 'tokenizer.json', mimeType: 'application/json', buffer: Buffer.from('{"model": {"type": "BPE", "vocab": ') }], 'rejected');
  assert.match(await error(page), /tokenizer\.json.*(malformed|EOF|end of)/i);
  assert.match(await error(page), /the model in use did not change/);
  assert.match(await page.textContent('[data-testid=lm-user-model]'), /Hugging Face safetensors: 20,640 parameters/);
  // The charts and the Q/DQ graph.
  assert.ok(await page.$('[data-testid=lm-heatmap]'));
  assert.ok(await page.$('[data-testid=lm-pareto]'));
  assert.match(await page.textContent('[data-testid=lm-qdq-summary]'), /No Q\/DQ node|Q\/DQ nodes/);
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'lm-import.png');
  await assertHealthy(page, errors);
});

// A llama2.c v0 model.bin of hidden size 36 (not a whole number of blocks of 32), weights small and
// varied: export.py's legacy layout, the classifier shared (vocabulary given positive).
function v0With36Hidden() {
  const [dim, hidden, layers, heads, kvHeads, vocab, seq] = [32, 36, 1, 4, 2, 32, 32];
  const kvDim = (dim / heads) * kvHeads;
  const counts = [vocab * dim, layers * dim, layers * dim * dim, layers * kvDim * dim, layers * kvDim * dim, layers * dim * dim,
    layers * dim, layers * hidden * dim, layers * dim * hidden, layers * hidden * dim, dim, seq * (dim / heads / 2) * 2];
  const n = counts.reduce((a, b) => a + b, 0);
  const buf = Buffer.alloc(28 + 4 * n);
  [dim, hidden, layers, heads, kvHeads, vocab, seq].forEach((v, i) => buf.writeInt32LE(v, 4 * i));
  for (let i = 0; i < n; i++) buf.writeFloatLE(Math.sin(i * 0.7) * 0.1 + ((i % 7) - 3) * 0.01, 28 + 4 * i);
  return buf;
}

test('a model whose rows are not whole blocks of 32: RTN g32 runs it (per channel there), the GGUF block exports say why they cannot', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&bits=4&group=32&tokens=513`);
  await page.waitForSelector('[data-testid=lm-drop]');
  await drop(page, [{ name: 'model.bin', mimeType: 'application/octet-stream', buffer: v0With36Hidden() }, await fixture('tokenizer.bin')]);
  for (const id of ['lm-gguf-q8_0', 'lm-gguf-q4_0', 'lm-gguf-q4_1']) {
    assert.equal(await page.$eval(`[data-testid=${id}]`, (b) => b.disabled), true, `${id} disabled`);
    assert.match(await page.$eval(`[data-testid=${id}]`, (b) => b.title), /layers\.0\.feed_forward\.w2 has rows of 36 values/);
  }
  assert.match(await page.textContent('[data-testid=lm-gguf-blocks-refused]'), /rows of 36 values, not whole blocks of 32/);
  assert.equal(await page.$eval('[data-testid=lm-gguf-f16]', (b) => b.disabled), false, 'F16 is still written');
  await runAndWait(page, 1);
  const r = await rows(page);
  assert.ok(Number.isFinite(r[0].quant) && r[0].quant > 1, `perplexity ${r[0].quant}`);
  await assertHealthy(page, errors);
});

test('a large file: the drop zone says how far the browser has read it, then the worker says what it is', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&tokens=513`);
  await page.waitForSelector('[data-testid=lm-drop]');
  await drop(page, [await fixture('model_v0.bin'), await fixture('tokenizer.bin')]);
  // 20 MiB that is no model: three slices of the browser's read, then the worker's message.
  const path = join(tmpdir(), 'qplay-e2e-big.gguf');
  await writeFile(path, Buffer.alloc(20 << 20, 7));
  try {
    await watchReading(page, 'lm-drop');
    await drop(page, [path], 'rejected');
  } finally {
    await rm(path, { force: true });
  }
  const percents = await assertReadingSeen(page, 'lm-drop', 'qplay-e2e-big.gguf', '20.0');
  console.log(`the drop zone said ${percents.join(' → ')} % while the browser read 20 MiB`);
  assert.match(await error(page), /qplay-e2e-big\.gguf/);
  assert.match(await error(page), /the model in use did not change/);
  assert.match(await page.textContent('[data-testid=lm-user-model]'), /model_v0\.bin, tokenizer\.bin/);
  await assertHealthy(page, errors);
});

test("another model's tokenizer (ids beyond the vocabulary) is refused like a bad file, and the model in use stays", async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&tokens=513`);
  await page.waitForSelector('[data-testid=lm-drop]');
  await drop(page, [await fixture('model_v0.bin'), await fixture('tokenizer.bin')]);
  // The same tokenizer.bin with 1,000 more pieces than the model has rows.
  const tok = await readFile(join(fixtures, 'tokenizer.bin'));
  const header = Buffer.from(tok.subarray(0, 4));
  header.writeInt32LE(Math.max(header.readInt32LE(0), 8));
  const extra = [];
  for (let i = 0; i < 1000; i++) {
    const piece = Buffer.from(`zz${i}`);
    const head = Buffer.alloc(8);
    head.writeFloatLE(-1000 - i, 0);
    head.writeInt32LE(piece.length, 4);
    extra.push(head, piece);
  }
  const bigger = Buffer.concat([header, tok.subarray(4), ...extra]);
  await drop(page, [await fixture('model_v0.bin'), { name: 'tokenizer.bin', mimeType: 'application/octet-stream', buffer: bigger }], 'rejected');
  assert.match(await error(page), /tokenizer.*beyond the model's vocabulary/);
  assert.match(await error(page), /the model in use did not change/);
  assert.match(await page.textContent('[data-testid=lm-user-model]'), /model_v0\.bin, tokenizer\.bin/);
  assert.equal(await page.$eval('[data-testid=lm-run]', (b) => b.disabled), false, 'the model in use still runs');
  await assertHealthy(page, errors);
});

test("generation stops at the model's end-of-text token, marked, and the page says which column stopped why", async () => {
  // tied_f32.gguf writes "n" (id 10) within its first tokens at temperature 0: with its EOS id
  // rewritten to 10, both columns end there.
  const gguf = Buffer.from(await readFile(join(fixtures, 'tied_f32.gguf')));
  const key = Buffer.from('tokenizer.ggml.eos_token_id');
  const at = gguf.indexOf(key) + key.length;
  assert.equal(gguf.readUInt32LE(at), 4, 'a u32 value');
  assert.equal(gguf.readUInt32LE(at + 4), 2);
  gguf.writeUInt32LE(10, at + 4);
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=rtn&bits=8&temperature=0&max_new=24&prompt=ROMEO%3A`);
  await page.waitForSelector('[data-testid=lm-drop]');
  await drop(page, [{ name: 'eos10.gguf', mimeType: 'application/octet-stream', buffer: gguf }]);
  await page.click('[data-testid=lm-generate]');
  await idle(page);
  await page.waitForSelector('[data-testid=gen-stopped]');
  const stopped = await page.textContent('[data-testid=gen-stopped]');
  const m = stopped.match(/^Stopped before the 24 tokens asked for: FP32 wrote its end-of-text token after (\d+) tokens?; W8 per-channel RTN wrote its end-of-text token after (\d+) tokens?\.$/);
  assert.ok(m, stopped);
  for (const [col, n] of [['gen-fp32', Number(m[1])], ['gen-quant', Number(m[2])]]) {
    const toks = await page.$$eval(`[data-testid=${col}] .tok`, (t) => t.map((e) => [e.textContent, e.classList.contains('end-of-text')]));
    assert.ok(n >= 1 && n < 24 && toks.length === n, `${col}: ${JSON.stringify(toks)}`);
    assert.deepEqual(toks[n - 1], ['⏎ end of text', true], col);
    assert.ok(toks.slice(0, -1).every(([t, end]) => !end && t !== 'n'), `${col}: only the last is "n", the end`);
  }
  await screenshot(page, 'lm-end-of-text.png');
  // The fixture as it is (EOS 2, which it does not write first): 24 tokens or the context, and
  // no end-of-text mark.
  await drop(page, [await fixture('tied_f32.gguf')]);
  await page.click('[data-testid=lm-generate]');
  await idle(page);
  assert.equal(await page.$$eval('[data-testid=gen-fp32] .tok.end-of-text', (t) => t.length), 0);
  assert.ok((await page.$$eval('[data-testid=gen-fp32] .tok', (t) => t.map((e) => e.textContent))).includes('n'));
  assert.match(await page.textContent('[data-testid=gen-stopped]'), /filled the model's context|^Both columns wrote the 24 tokens asked for\.$/);
  await assertHealthy(page, errors);
});

test('a fresh worker after Cancel gets the files again; downloads', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?weights=q8_0&tokens=200000`);
  await page.waitForSelector('[data-testid=lm-drop]');
  await drop(page, [await fixture('tied_f32.gguf')]);
  await page.check('[data-testid=lm-use-builtin]');
  await page.click('[data-testid=lm-run]');
  await page.waitForFunction(() => /scoring/.test(document.querySelector('[data-testid=job-status]')?.textContent ?? ''), null, { timeout: 120_000 });
  // Files given while a job runs are not read, and the zone says so (until the job ends).
  await page.setInputFiles('[data-testid=lm-drop-input]', [await fixture('tied_f32.gguf')]);
  assert.match(await page.textContent('[data-testid=lm-drop-refused]'), /a job is running: give the files again/);
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=cancelled]', { timeout: 1000 });
  await page.waitForSelector('[data-testid=lm-drop-refused]', { state: 'detached', timeout: 5000 });
  // The worker that held the user's model is gone: the page sends the files to the new one.
  await page.check('[data-testid=lm-use-user]');
  await page.$eval('[data-testid=lm-tokens]', (i) => {
    i.value = '257';
    i.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await runAndWait(page, 1);
  const r = await rows(page);
  assert.equal(r[0].model, 'tied_f32.gguf');
  assert.match(r[0].label, /Q8_0/);

  const download = async (id) => {
    const [d] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click(`[data-testid=${id}]`)]);
    const path = await d.path();
    return { name: d.suggestedFilename(), bytes: await readFile(path) };
  };
  const csv = await download('lm-csv');
  assert.equal(csv.name, 'lm-comparison.csv');
  const lines = csv.bytes.toString().trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^model,configuration,weight_bytes/);
  assert.match(lines[1], /^tied_f32\.gguf,Q8_0/);
  // FP32 against the quantized model in tokens/s, decode and prefill, as the GPT-J guide's table has them.
  // Then the method's own time and the link of the row's settings.
  assert.match(lines[0], /,fp32_decode_tokens_per_s,quant_decode_tokens_per_s,fp32_prefill_tokens_per_s,quant_prefill_tokens_per_s,quantize_millis,link$/);
  assert.equal(lines[1].split(',').length, 20, lines[1]);
  assert.match(lines[1], /,#\/lm\?weights=q8_0&[^,]*model=tied_f32\.gguf[^,]*$/);
  const json = JSON.parse((await download('lm-json')).bytes.toString());
  assert.equal(json.length, 1);
  assert.equal(json[0].model, 'tied_f32.gguf');
  assert.equal(json[0].link, lines[1].split(',').pop());
  assert.ok(json[0].layers.length > 0);
  const q8 = await download('lm-gguf-q8_0');
  assert.equal(q8.name, 'tied_f32-q8_0.gguf');
  assert.equal(q8.bytes.subarray(0, 4).toString(), 'GGUF');
  // general.name is the model's own (the file's general.name), not "qplay": the key, its string's
  // u64 length, then the string.
  const key = Buffer.from('general.name');
  const at = q8.bytes.indexOf(key) + key.length + 4;
  const len = Number(q8.bytes.readBigUInt64LE(at));
  assert.equal(q8.bytes.subarray(at + 8, at + 8 + len).toString(), 'qplay import fixture');
  await idle(page);
  const onnx = await download('lm-onnx');
  assert.match(onnx.name, /^tied_f32-.*-qdq\.onnx$/);
  assert.doesNotMatch(onnx.name, /--|-\./, 'one hyphen between words');
  assert.ok(onnx.bytes.length > 1000);
  // Its settings as JSON in the metadata, as the CLI's export writes them.
  assert.ok(onnx.bytes.includes('qplay.quant_config') && onnx.bytes.includes('"weights":"q8_0"'), 'qplay.quant_config in the metadata');
  await idle(page);
  // The packed .safetensors: its header describes every quantized layer.
  const packed = await download('lm-safetensors');
  assert.match(packed.name, /^tied_f32-.*\.safetensors$/);
  const headerLen = Number(packed.bytes.readBigUInt64LE(0));
  const header = JSON.parse(packed.bytes.subarray(8, 8 + headerLen).toString());
  assert.equal(header.__metadata__.format, 'qplay-lm-packed');
  const layers = JSON.parse(header.__metadata__['qplay.layers']);
  assert.ok(layers.length > 0, 'layers described');
  assert.ok(Object.keys(header).some((k) => k.endsWith('.qweight')), 'packed integers');
  await idle(page);
  // The float GGUF's FP32 is its own; the Q8_0 export read back is dequantized, and says so.
  assert.equal(await page.$('[data-testid=lm-dequantized]'), null, 'tied_f32.gguf stores floats');
  await drop(page, [{ name: q8.name, mimeType: 'application/octet-stream', buffer: q8.bytes }]);
  assert.match(await page.textContent('[data-testid=lm-dequantized]'), /stores its weights quantized \(Q8_0 ×\d+\); they are dequantized to f32 on load/);
  await assertHealthy(page, errors);
});

test('under lock=model, files given to the page are not read, and the drop zone says why', async () => {
  const { page, errors } = await openPage(browser, `${url}#/lm?lock=model`);
  await page.waitForSelector('[data-testid=lm-drop]');
  await page.setInputFiles('[data-testid=lm-drop-input]', [await fixture('tied_f32.gguf')]);
  assert.match(await page.textContent('[data-testid=lm-drop-refused]'), /^locked by the link: the files were not read$/);
  await page.waitForTimeout(500);
  assert.equal(await page.$('[data-testid=lm-user-model]'), null, 'no model was loaded');
  assert.equal(await page.$('[data-testid=job-status]'), null, 'nothing runs');
  await assertHealthy(page, errors);
});
