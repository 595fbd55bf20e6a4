import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dataset, Sample } from '../../src/data/dataset.js';
import { hashString, mixSeed, Rng } from '../../src/util/rng.js';
import { samplesPerClass, Subset, trainValSplit } from '../../src/data/subset.js';

describe('Rng', () => {
  it('is deterministic for a seed, and seeds differ', () => {
    const a = Array.from({ length: 5 }, ((r) => () => r.uint32())(new Rng(42)));
    const b = Array.from({ length: 5 }, ((r) => () => r.uint32())(new Rng(42)));
    const c = Array.from({ length: 5 }, ((r) => () => r.uint32())(new Rng(43)));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('draws floats in [0, 1) and integers in [lo, hi) covering the range', () => {
    const r = new Rng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const f = r.float();
      assert.ok(f >= 0 && f < 1);
      const k = r.int(3, 8);
      assert.ok(Number.isInteger(k) && k >= 3 && k < 8);
      seen.add(k);
    }
    assert.deepEqual([...seen].sort(), [3, 4, 5, 6, 7]);
    assert.throws(() => r.int(2, 2), /empty/);
  });

  it('gives permutations', () => {
    const p = new Rng(7).permutation(100);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
    assert.notDeepEqual([...p], Array.from({ length: 100 }, (_, i) => i));
  });

  it('mixes seed tuples order-sensitively and hashes strings', () => {
    assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
    assert.equal(mixSeed(5, 6, 7), mixSeed(5, 6, 7));
    assert.notEqual(mixSeed(2 ** 40), mixSeed(0));
    assert.throws(() => mixSeed(0.5), /integers/);
    assert.equal(hashString('abc'), hashString('abc'));
    assert.notEqual(hashString('abc'), hashString('abd'));
  });
});

/** 3 classes with 10, 6 and 1 samples. */
function toyDataset(): Dataset {
  const labels = Int32Array.from([...Array(10).fill(0), ...Array(6).fill(1), 2]);
  return {
    length: labels.length,
    classes: ['a', 'b', 'c'],
    labels,
    get: (i: number): Sample => ({ kind: 'file', path: `img${i}.jpg` }),
  };
}

describe('subsets', () => {
  it('Subset maps indices and labels', () => {
    const ds = toyDataset();
    const s = new Subset(ds, Int32Array.from([16, 0]));
    assert.equal(s.length, 2);
    assert.deepEqual([...s.labels], [2, 0]);
    assert.deepEqual(s.get(0), { kind: 'file', path: 'img16.jpg' });
    assert.throws(() => s.get(2), /out of range/);
    assert.throws(() => new Subset(ds, Int32Array.from([17])), /out of range/);
  });

  it('trainValSplit is stratified, disjoint, complete and seeded', () => {
    const ds = toyDataset();
    const { train, val } = trainValSplit(ds, { valFraction: 0.2, seed: 1 });
    assert.deepEqual([...train.indices, ...val.indices].sort((a, b) => a - b), Array.from({ length: 17 }, (_, i) => i));
    const count = (s: Subset, y: number): number => s.labels.filter((l) => l === y).length;
    assert.deepEqual([count(val, 0), count(val, 1), count(val, 2)], [2, 1, 0]);
    assert.deepEqual(trainValSplit(ds, { valFraction: 0.2, seed: 1 }).val.indices, val.indices);
    assert.notDeepEqual(trainValSplit(ds, { valFraction: 0.2, seed: 2 }).val.indices, val.indices);
    assert.throws(() => trainValSplit(ds, { valFraction: 1, seed: 0 }), /valFraction/);
  });

  it('samplesPerClass picks N per class, seeded, nested as N grows', () => {
    const ds = toyDataset();
    const two = samplesPerClass(ds, { perClass: 2, seed: 3 });
    assert.deepEqual([...two.labels], [0, 0, 1, 1, 2]);
    const four = samplesPerClass(ds, { perClass: 4, seed: 3 });
    for (const i of two.indices) assert.ok(four.indices.includes(i));
    assert.deepEqual(samplesPerClass(ds, { perClass: 2, seed: 3 }).indices, two.indices);
    assert.throws(() => samplesPerClass(ds, { perClass: 0, seed: 3 }), /perClass/);
  });
});
