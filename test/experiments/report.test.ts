// The HTML report of a real (tiny) sweep, opened in headless Chromium (Debian's, driven by
// playwright-core): it renders without console errors, fetches nothing, and shows the
// comparison table, the policy heatmaps, the curves and the routed example images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const dir = mkdtempSync(join(tmpdir(), 'spottune-report-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const cli = ['--import', 'tsx', 'src/cli/main.ts'];

test('the report of a sweep renders in headless Chromium with its table, heatmaps, curves and examples', async () => {
  const config = join(dir, 'sweep.json');
  writeFileSync(config, JSON.stringify({
    sources: { src: { arch: 'resnet26', width: 0.25, data: 'digits', perClass: 10, epochs: 1, batchSize: 16, lr: 0.05 } },
    base: { width: 0.25, weights: 'source:src', perClass: 10, epochs: 2, batchSize: 16, lr: 0.05, agentWidth: 0.25 },
    methods: ['finetune', 'spottune'],
    datasets: ['digits'],
    seeds: [0],
  }));
  const runs = join(dir, 'runs');
  const sweep = spawnSync(process.execPath, [...cli, 'sweep', '--config', config, '--output', runs, '--jobs', '2', '--threads', '1'], { encoding: 'utf8' });
  assert.equal(sweep.status, 0, sweep.stderr);
  const html = join(dir, 'report.html');
  const made = spawnSync(process.execPath, [...cli, 'report', runs, '--output', html], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);

  const text = readFileSync(html, 'utf8');
  assert.doesNotMatch(text, /<script|<link|@import|url\(http/i, 'no scripts, stylesheets or fonts from elsewhere');
  assert.deepEqual([...new Set(text.match(/https?:\/\/[^"' )]+/g))], ['http://www.w3.org/2000/svg'], 'the only URL is the SVG namespace');

  const profile = mkdtempSync(join(tmpdir(), 'spottune-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, viewport: { width: 1200, height: 900 } });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    const fetched: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => fetched.push(r.url()));
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.deepEqual(errors, []);
    assert.deepEqual(fetched.filter((u) => !u.startsWith('file:') && !u.startsWith('data:')), []);

    const png = readFileSync(shot);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.equal(png.readUInt32BE(16), 1200, 'screenshot width');
    assert.ok(png.readUInt32BE(20) > 900, 'the full page is taller than one screen');

    const rows = await page.locator('table.results').first().locator('tbody tr').allInnerTexts();
    assert.deepEqual(rows.map((r) => r.split('\t')[0].trim()), ['finetune', 'spottune']);
    assert.equal(await page.locator('table.results strong').count() >= 1, true, 'the best method is marked');
    // by method (2 rows × 12 blocks), and spottune by class (10 digits × 12 blocks)
    const maps = page.locator('svg.heatmap');
    assert.equal(await maps.count(), 2);
    assert.equal(await maps.nth(0).locator('rect').count(), 2 * 12);
    assert.equal(await maps.nth(1).locator('rect').count(), 10 * 12);
    const box = await maps.nth(1).boundingBox();
    assert.ok(box && box.width > 300 && box.height > 200, `the class heatmap is drawn (${JSON.stringify(box)})`);
    assert.equal(await page.locator('svg.chart').count(), 2);
    assert.equal(await page.locator('svg.chart path').count(), 4, 'a curve per method in each chart');
    const images = await page.locator('.example img').evaluateAll((els) => els.map((e) => (e as HTMLImageElement).naturalWidth));
    assert.equal(images.length, 20, 'two test images of each of the 10 digits');
    assert.ok(images.every((w) => w === 8), 'every example image decoded (8×8 digits)');
    assert.equal(await page.locator('.example').first().locator('.route i').count(), 12, 'one routing square per block');
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
