// The Visual Decathlon score: the baseline earns 250 points per domain (2500 in all), a perfect
// classifier 1000, and errors of twice the baseline's or worse nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DECATHLON_BASELINE, decathlonScore } from '../../src/experiments/decathlon.js';

test('the baseline accuracies score 2500, 250 per domain', () => {
  const s = decathlonScore({ ...DECATHLON_BASELINE });
  assert.equal(Object.keys(s.perDomain).length, 10);
  assert.ok(Math.abs(s.score - 2500) < 1e-9, `S = ${s.score}`);
  for (const [d, p] of Object.entries(s.perDomain)) assert.ok(Math.abs(p - 250) < 1e-9, `${d}: ${p}`);
});

test('perfect, half-error and too-poor accuracies', () => {
  assert.ok(Math.abs(decathlonScore({ aircraft: 100 }).score - 1000) < 1e-9);
  // Half the baseline error: (E_max − E_base/2)² / E_max² · 1000 = (1.5/2)² · 1000 = 562.5
  const half = 100 - (100 - DECATHLON_BASELINE.dtd) / 2;
  assert.ok(Math.abs(decathlonScore({ dtd: half }).score - 562.5) < 1e-9);
  const tooPoor = 100 - 2 * (100 - DECATHLON_BASELINE.svhn) - 1;
  assert.equal(decathlonScore({ svhn: tooPoor }).score, 0);
  assert.ok(Math.abs(decathlonScore({ 'decathlon:/data/decathlon:gtsrb': 100 }).perDomain.gtsrb - 1000) < 1e-9);
  assert.throws(() => decathlonScore({ cub: 80 }), /"cub" is not a Visual Decathlon dataset; expected one of imagenet12/);
  assert.throws(() => decathlonScore({ dtd: 150 }), /accuracy of dtd: expected a percentage/);
});

test('spottune decathlon-score from the command line', () => {
  const args = Object.entries(DECATHLON_BASELINE).map(([d, a]) => `${d}=${a}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'decathlon-score', ...args, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Math.abs(JSON.parse(r.stdout).score - 2500) < 1e-9);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'decathlon-score', 'aircraft:60'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /expected a runs folder, or <dataset>=<accuracy %> pairs/);
});

test('decathlon-score of a runs folder: per method, mean accuracy over seeds per Decathlon dataset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-decathlon-'));
  try {
    const put = (method: string, name: string, seed: number, testAcc: number) => {
      const run = join(dir, method, name, `seed${seed}`);
      mkdirSync(run, { recursive: true });
      writeFileSync(join(run, 'result.json'), JSON.stringify({ method, data: `decathlon:/data/decathlon:${name}`, seed, testAcc }));
    };
    // dtd: seeds average to the baseline (250); aircraft: baseline (250); spottune: aircraft perfect (1000)
    put('finetune', 'dtd', 0, DECATHLON_BASELINE.dtd - 1);
    put('finetune', 'dtd', 1, DECATHLON_BASELINE.dtd + 1);
    put('finetune', 'aircraft', 0, DECATHLON_BASELINE.aircraft);
    put('spottune', 'aircraft', 0, 100);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'decathlon-score', dir, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { method: string; score: number }[];
    assert.deepEqual(rows.map((x) => x.method), ['finetune', 'spottune']);
    assert.ok(Math.abs(rows[0].score - 500) < 1e-9, `finetune: ${rows[0].score}`);
    assert.ok(Math.abs(rows[1].score - 1000) < 1e-9, `spottune: ${rows[1].score}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scores against given baselines: the baseline earns 250, half its error 562.5, twice its error 0', () => {
  const s = decathlonScore({ digits: 80, shapes: 90, textures: 60 }, { digits: 80, shapes: 80, textures: 80 });
  assert.deepEqual(s.perDomain, { digits: 250, shapes: 562.5, textures: 0 });
  assert.throws(() => decathlonScore({ glyphs: 70 }, { digits: 80 }), /no baseline accuracy for "glyphs"; the baselines have digits/);
});

test('decathlon-score --baseline finetune: baselines from the folder, per-seed scores and paired differences', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-decathlon-'));
  try {
    const put = (method: string, data: string, seed: number, testAcc: number) => {
      const run = join(dir, method, data, `seed${seed}`);
      mkdirSync(run, { recursive: true });
      writeFileSync(join(run, 'result.json'), JSON.stringify({ method, data, seed, testAcc }));
    };
    put('finetune', 'digits', 0, 78);
    put('finetune', 'digits', 1, 82);
    put('spottune', 'digits', 0, 90);
    put('spottune', 'digits', 1, 80);
    // A domain SpotTune lacks: left out of its pairing (finetune scored on digits only there).
    put('finetune', 'shapes', 0, 50);
    put('finetune', 'shapes', 1, 50);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'decathlon-score', dir, '--baseline', 'finetune', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [ft, st] = JSON.parse(r.stdout) as { method: string; score: number; perSeed: { mean: number; std: number }; vsBaseline?: { mean: number; std: number } }[];
    // Baseline 80 % (the mean of 78 and 82): E_max = 40. Finetune's mean scores 250 (+ 250 on shapes); its seeds 202.5 and 302.5.
    assert.equal(ft.method, 'finetune');
    assert.ok(Math.abs(ft.score - 500) < 1e-9 && Math.abs(ft.perSeed.mean - 502.5) < 1e-9);
    // SpotTune: mean 85 % → 0.625·25² = 390.625; seeds 90 % → 562.5 and 80 % → 250; paired +360 and −52.5.
    assert.ok(Math.abs(st.score - 390.625) < 1e-9, `S = ${st.score}`);
    assert.ok(Math.abs(st.perSeed.mean - 406.25) < 1e-9 && Math.abs(st.perSeed.std - Math.SQRT2 * 156.25) < 1e-9);
    assert.ok(Math.abs(st.vsBaseline!.mean - 153.75) < 1e-9 && Math.abs(st.vsBaseline!.std - Math.SQRT2 * 206.25) < 1e-9);
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'decathlon-score', dir, '--baseline', 'l2sp'], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--baseline l2sp: no runs of that method in the folder \(methods: finetune, spottune\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
