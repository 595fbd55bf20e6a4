// The web page of `spottune export --web`, in Debian's headless Chromium over a loopback HTTP
// server: onnxruntime-web (WebAssembly) reproduces libtorch on 100 test images, and a PNG given
// to the page's file input is preprocessed and classified as `spottune predict` would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import * as torch from '../../src/torch/index.js';
import { Rng } from '../../src/util/rng.js';
import { openTask } from '../../src/train/task.js';
import { exportOnnx } from '../../src/export/model.js';
import { preprocessing, writeWebApp } from '../../src/export/web.js';
import { images, spotTune } from './models.js';

const CHROMIUM = '/usr/bin/chromium';
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream' };

/** Serves `root` on 127.0.0.1 (a free port). */
async function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!path.startsWith(root) || !existsSync(path) || !TYPES[extname(path)]) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(path)] }).end(readFileSync(path));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}/index.html` };
}

test('the exported web page classifies images in Chromium like libtorch', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: scripts/setup.sh installs Debian's chromium`);
  const dir = mkdtempSync(join(tmpdir(), 'spottune-web-'));
  const batches = await images(1);
  const model = spotTune(batches, 'argmax');
  const task = openTask({ data: 'fashion-mnist', seed: 0 });
  const pre = await preprocessing(task);
  assert.deepEqual(pre, { input: [1, 28, 28], resize: 28, mean: [0.5], std: [0.5] });
  const exported = exportOnnx(model, { inputShape: [1, 28, 28], routing: 'argmax' });
  writeWebApp(join(dir, 'site'), exported.bytes, { ...pre, classes: task.classes, method: 'spottune', data: 'fashion-mnist', routing: 'argmax', blocks: model.numBlocks });
  const { server, url } = await serve(join(dir, 'site'));
  const browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('body[data-state=ready], body[data-state=error]', { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', `page errors: ${errors.join('; ')}`);

    // 100 normalised images through onnxruntime-web against libtorch.
    const inputs = batches.flatMap((b) => Array.from({ length: b.shape[0] }, (_, i) => Array.from(b.x.subarray(i * 784, (i + 1) * 784))));
    const web = await page.evaluate(async (xs) => {
      const s = (window as unknown as { spottune: { classify(x: number[]): Promise<{ logits: number[]; decisions: number[] }> } }).spottune;
      const out = [];
      for (const x of xs) out.push(await s.classify(x));
      return out;
    }, inputs);
    model.setTraining(false);
    const ref = torch.tidy(() => {
      const out = batches.map((b) => model.forwardEval(torch.tensor(b.x, { shape: [...b.shape] })));
      return { logits: torch.cat(out.map((o) => o.logits), 0).toArray(), decisions: torch.cat(out.map((o) => o.decisions), 0).toArray() };
    });
    let maxDiff = 0;
    for (let i = 0; i < 100; i++) {
      for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(web[i].logits[k] - ref.logits[i * 10 + k]));
      assert.deepEqual(web[i].decisions, ref.decisions.slice(i * 12, (i + 1) * 12), `decisions of image ${i}`);
    }
    assert.ok(maxDiff < 1e-4, `max |Δlogit| ${maxDiff}`);
    console.log(`onnxruntime-web in Chromium: max |Δlogit| ${maxDiff.toExponential(2)} over 100 images`);

    // The page's own path: a PNG in the file input, preprocessed in the browser.
    for (const i of [0, 1, 2]) {
      const sample = task.test.get(i);
      assert.equal(sample.kind, 'image');
      const png = join(dir, `image${i}.png`);
      if (sample.kind === 'image') await sharp(Buffer.from(sample.image.data), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
      await page.evaluate(() => { document.body.dataset.state = 'waiting'; });
      await page.setInputFiles('#file', png);
      await page.waitForSelector('body[data-state=done], body[data-state=error]');
      const shown = await page.evaluate(() => ({ prediction: document.getElementById('prediction')!.textContent, logits: JSON.parse(document.getElementById('result')!.dataset.logits!) as number[], error: document.getElementById('error')!.textContent }));
      assert.equal(shown.error, '');
      const chw = await task.fileTransform({ kind: 'file', path: png }, new Rng(0));
      const logits = torch.tidy(() => model.forwardEval(torch.tensor(chw.data, { shape: [1, 1, 28, 28] })).logits.toArray());
      const diff = Math.max(...logits.map((l, k) => Math.abs(l - shown.logits[k])));
      assert.ok(diff < 1e-4, `image ${i}: max |Δlogit| ${diff}`);
      assert.equal(shown.prediction, task.classes[logits.indexOf(Math.max(...logits))]);
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
