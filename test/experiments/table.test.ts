// The comparison table: mean ± sample std over seeds, best per column, paired differences
// against fine-tuning over the seeds both methods have, cost; the three output formats; and
// finding runs in a folder (source models left out).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compare, formatComparison } from '../../src/experiments/table.js';
import { loadRuns, type RunRecord } from '../../src/experiments/runs.js';
import { formatPolicy } from '../../src/experiments/policy_table.js';
import type { RunResult } from '../../src/train/engine.js';

function result(method: string, data: string, seed: number, testAcc: number, trainSeconds = 10): RunResult {
  return {
    method, data, seed, testAcc, arch: 'resnet26', perClass: 10, epochs: 3, testTop5: 100, bestTestAcc: testAcc, bestEpoch: 2,
    blockFreq: [1, 0], blockFreqByClass: [[1, 0]], classes: ['a'], trainImages: 100, trainSeconds, imagesPerSec: 1000 / trainSeconds, trainableParams: 1234,
  };
}
const rec = (r: RunResult): RunRecord => ({ dir: `${r.method}/${r.data}/seed${r.seed}`, label: r.method, result: r, metrics: [] });

const runs = [
  ...[80, 82, 84].map((a, s) => rec(result('finetune', 'glyphs', s, a, 10))),
  ...[83, 84, 88].map((a, s) => rec(result('spottune', 'glyphs', s, a, 30))),
  ...[90, 70, 75].map((a, s) => rec(result('finetune', 'imagefolder:/x_y', s, a))),
  // seeds 0 and 2 only: the paired difference uses those, not the mean over all finetune seeds
  rec(result('spottune', 'imagefolder:/x_y', 0, 91)), rec(result('spottune', 'imagefolder:/x_y', 2, 74)),
];

test('mean ± std over seeds, best per column, paired differences on shared seeds, cost', () => {
  const c = compare(runs);
  assert.deepEqual(c.methods, ['finetune', 'spottune']);
  const ft = c.accuracy.get('finetune')!.get('glyphs')!;
  assert.deepEqual(ft, { mean: 82, std: 2, n: 3 });
  const st = c.accuracy.get('spottune')!.get('glyphs')!;
  assert.equal(st.mean, 85);
  assert.ok(Math.abs(st.std - Math.sqrt(7)) < 1e-12);
  assert.deepEqual([...c.best.get('glyphs')!], ['spottune']);
  assert.deepEqual([...c.best.get('imagefolder:/x_y')!], ['spottune'], '82.5 against 78.33');
  assert.deepEqual(c.paired!.get('spottune')!.get('glyphs'), { mean: 3, std: 1, n: 3 });
  // (91 − 90, 74 − 75) = (1, −1): no gain seed for seed, though the means differ by 4.2 points
  const p = c.paired!.get('spottune')!.get('imagefolder:/x_y')!;
  assert.equal(p.mean, 0);
  assert.equal(p.n, 2);
  assert.equal(c.cost.get('spottune')!.seconds.mean, 22, 'mean over every run of the method: (3·30 + 2·10) / 5');
  assert.throws(() => compare([...runs, rec(result('finetune', 'glyphs', 0, 1))]), /two runs of finetune on glyphs with seed 0/);
});

test('markdown, csv and latex', () => {
  const c = compare(runs);
  const md = formatComparison(c, 'markdown');
  assert.match(md, /\| method \| glyphs \| imagefolder:\/x_y \|/);
  assert.match(md, /n seeds in parentheses/);
  assert.match(md, /\| finetune \| 82\.00 ± 2\.00 \(3\) \| 78\.33 ± 10\.41 \(3\) \|/);
  assert.match(md, /\| spottune \| \*\*85\.00 ± 2\.65 \(3\)\*\* \| \*\*82\.50 ± 12\.02 \(2\)\*\* \|/);
  assert.match(md, /\| spottune \| \+3\.00 ± 1\.00 \(3\) \| 0\.00 ± 1\.41 \(2\) \|/);
  assert.match(md, /\| spottune \| 22\.0 \| 60 \| 1\.2k \|/);

  const lines = formatComparison(c, 'csv').trim().split('\n').map((l) => l.split(','));
  assert.deepEqual(lines[0], ['section', 'method', 'dataset', 'metric', 'mean', 'std', 'n', 'best']);
  const row = (section: string, m: string, d: string, metric: string) => lines.find((l) => l[0] === section && l[1] === m && l[2] === d && l[3] === metric)!;
  assert.deepEqual(row('accuracy', 'spottune', 'glyphs', 'testAcc').slice(4), ['85', String(Math.sqrt(7)), '3', '1']);
  assert.deepEqual(row('accuracy', 'finetune', 'glyphs', 'testAcc').slice(7), ['0']);
  assert.deepEqual(row('paired_vs_finetune', 'spottune', 'glyphs', 'testAccDiff').slice(4, 7), ['3', '1', '3']);
  assert.deepEqual(row('cost', 'finetune', '', 'trainableParams').slice(4, 7), ['1234', '0', '6']);

  const tex = formatComparison(c, 'latex');
  assert.match(tex, /method & glyphs & imagefolder:\/x\\_y \\\\/);
  assert.match(tex, /spottune & \\textbf\{85\.00 \$\\pm\$ 2\.65 \(3\)\} & \\textbf\{82\.50 \$\\pm\$ 12\.02 \(2\)\} \\\\/);
  assert.equal(tex.match(/\\begin\{tabular\}/g)!.length, 3);
  assert.throws(() => formatComparison(c, 'html' as 'csv'), /--format must be markdown, csv or latex/);
});

test('a variant is paired against its own method, seed for seed (acc(m [v]) − acc(m)), in every format', () => {
  const variant = (method: string, seed: number, testAcc: number): RunRecord => ({ ...rec(result(method, 'glyphs', seed, testAcc)), label: `${method} [bf16]` });
  // spottune [bf16] − spottune: (84 − 83, 83 − 84, 88 − 88) = (1, −1, 0); finetune [bf16] − finetune on seeds 0, 1: (81 − 80, 85 − 82) = (1, 3).
  const c = compare([...runs, variant('spottune', 0, 84), variant('spottune', 1, 83), variant('spottune', 2, 88), variant('finetune', 0, 81), variant('finetune', 1, 85)]);
  assert.deepEqual([...c.variants!.keys()], ['spottune [bf16]', 'finetune [bf16]']);
  assert.deepEqual(c.variants!.get('spottune [bf16]')!.get('glyphs'), { mean: 0, std: 1, n: 3 });
  const ft = c.variants!.get('finetune [bf16]')!.get('glyphs')!;
  assert.equal(ft.mean, 2);
  assert.ok(Math.abs(ft.std - Math.SQRT2) < 1e-12);
  assert.equal(c.variants!.get('spottune [bf16]')!.has('imagefolder:/x_y'), false, 'no variant runs there');
  // Against finetune, as every method: (84 − 80, 83 − 82, 88 − 84) = (4, 1, 4).
  assert.equal(c.paired!.get('spottune [bf16]')!.get('glyphs')!.mean, 3);
  const md = formatComparison(c, 'markdown');
  assert.match(md, /Paired difference of each variant against its own method \(same seed\)/);
  assert.match(md, /\| variant \| glyphs \| imagefolder:\/x_y \|\n\| --- \| ---: \| ---: \|\n\| spottune \[bf16\] \| 0\.00 ± 1\.00 \(3\) \| – \|\n\| finetune \[bf16\] \| \+2\.00 ± 1\.41 \(2\) \| – \|/);
  const csv = formatComparison(c, 'csv');
  assert.match(csv, /\npaired_vs_own_method,finetune \[bf16\],glyphs,testAccDiff,2,1\.414213562373095\d*,2,0\n/);
  assert.equal(formatComparison(c, 'latex').match(/\\begin\{tabular\}/g)!.length, 4);
  assert.equal(compare(runs).variants, undefined);
});

test('loadRuns finds runs below a folder and leaves source models out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-table-'));
  try {
    const put = (sub: string, r: RunResult, done?: string) => {
      mkdirSync(join(dir, sub), { recursive: true });
      writeFileSync(join(dir, sub, 'result.json'), JSON.stringify(r));
      writeFileSync(join(dir, sub, 'metrics.jsonl'), `${JSON.stringify({ epoch: 0, trainLoss: 1, testAcc: null })}\n${JSON.stringify({ epoch: 1, trainLoss: 0.5, testAcc: r.testAcc })}\n`);
      if (done) writeFileSync(join(dir, sub, 'done'), done);
    };
    put('spottune/glyphs/seed1', result('spottune', 'glyphs', 1, 50), JSON.stringify({ kind: 'run' }));
    put('finetune/glyphs/seed0', result('finetune', 'glyphs', 0, 60));
    put('sources/src', result('scratch', 'fashion-mnist', 0, 88), JSON.stringify({ kind: 'source' }));
    const found = loadRuns(dir);
    assert.deepEqual(found.map((r) => r.dir), [join('finetune', 'glyphs', 'seed0'), join('spottune', 'glyphs', 'seed1')]);
    assert.deepEqual(found[0].metrics.map((m) => m.testAcc), [null, 60]);
    // A variant folder (one sweep per setting studied) gives its runs a row of their own, paired against finetune.
    put('tau1/spottune/glyphs/seed0', result('spottune', 'glyphs', 0, 63));
    const variants = loadRuns(dir);
    assert.deepEqual(variants.map((r) => r.label), ['finetune', 'spottune', 'spottune [tau1]']);
    const c = compare(variants);
    assert.equal(c.paired!.get('spottune [tau1]')!.get('glyphs')!.mean, 3);
    writeFileSync(join(dir, 'finetune/glyphs/seed0/result.json'), '{"method": "finetune"}');
    assert.throws(() => loadRuns(dir), /seed0\/result\.json: no field "data"/);
    assert.throws(() => loadRuns(join(dir, 'nope')), /no such folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--policy: last-epoch policy statistics and fine-tuned blocks, mean over seeds', () => {
  const stats = (entropy: number, agree: number, off: number) => ({ images: 10, entropy, argmaxFreq: [1, 0], offMajority: off, imagesOffMajority: 2 * off, sampleAgreement: agree });
  const withPolicy = (seed: number, entropy: number, agree: number, off: number, blockFreq: number[]): RunRecord => ({
    ...rec({ ...result('spottune', 'glyphs', seed, 80), blockFreq }),
    metrics: [{ policy: { train: stats(0.9, 0.5, 0), test: null } }, { policy: { train: stats(entropy, agree, 0), test: stats(0, null as never, off) } }] as never,
  });
  const out = formatPolicy([rec(result('finetune', 'glyphs', 0, 80)), withPolicy(0, 0.2, 0.8, 0.1, [1, 0.5]), withPolicy(1, 0.4, 0.9, 0.3, [0.5, 0])]);
  assert.match(out, /\| spottune \| glyphs \| 2 \| 0\.30 \| 85 \| 20 \| 40 \| 50 \|/);
  assert.match(out, /\| spottune \| glyphs \| 75 \| 25 \|/);
  assert.equal(formatPolicy([rec(result('finetune', 'glyphs', 0, 80))]), '');
});
