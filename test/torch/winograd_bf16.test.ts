// The Winograd kernel's bfloat16 path (native/src/kernels/winograd.cc, Conv3x3<Bf16>), which
// CPU autocast reaches on a CPU with AVX-512 BF16: forward, input gradient and weight gradient
// against libtorch's direct convolution in float64 on the same bfloat16 inputs, within a bound
// derived from the kernel's roundings; and a SpotTune training step against libtorch's (oneDNN)
// bfloat16 convolution. Without AVX-512 BF16 the same calls must be libtorch's convolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { SGD } from '../../src/optim/index.js';
import { Agent, resnet26 } from '../../src/models/index.js';
import { SpotTuneModel, TwoBranchNet, gumbelNoise } from '../../src/spottune/index.js';

const hasBf16 = /\bavx512_bf16\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
const bf16 = <T>(fn: () => T): T => torch.autocast(fn, { device: 'cpu', dtype: 'bfloat16' });
function oneDnn<T>(f: () => T): T {
  torch.useWinograd(false);
  try {
    return f();
  } finally {
    torch.useWinograd(true);
  }
}

// The tolerance, from the kernel's roundings. Per 4×4 tile the kernel computes
// y = Aᵀ[Σ_c V_c ∘ U_c]A in float32, V = Bᵀ d B and U = G g Gᵀ rounded to bfloat16 (round to
// nearest: an error uniform within half a unit in the last place, so of variance at most
// (u·|v|)²/3 with u = 2⁻⁸). The roundings of V and U are independent, so a product V·U is off by
// an error of variance ≤ (2u²/3)(V·U)², and y by one of variance
// σ² = (2u²/3)·Σ_ξ (Aᵀ_iξ A_ξj)²·Σ_c (V_c,ξ U_c,ξ)², plus (u²/3)·y² where the output is stored in
// bfloat16; float32 arithmetic adds ~2⁻¹⁶ of that. The weight gradient Gᵀ[Σ_t V_t ∘ Z_t]G,
// Z = A dY Aᵀ, likewise with V and Z rounded. The test asks every element within 6σ and the
// root-mean-square error within σ's: a coefficient off by a tenth in any transform fails it.
const u = 2 ** -8;
const BT = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]];
const G = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]];
const AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]];
const transpose = (m: number[][]) => m[0].map((_, j) => m.map((row) => row[j]));
const squared = (m: number[][]) => m.map((r) => r.map((v) => v * v));

/** L·X·Rᵀ for X r×c (row-major), L m×r, R n×c: an m×n result. */
function sandwich(L: number[][], X: ArrayLike<number>, r: number, c: number, R: number[][]): Float64Array {
  const m = L.length, n = R.length, out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let a = 0; a < r; a++) {
      const l = L[i][a];
      if (l === 0) continue;
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let b = 0; b < c; b++) s += X[a * c + b] * R[j][b];
        out[i * n + j] += l * s;
      }
    }
  return out;
}

interface Tiles { n: number; th: number; tw: number }
const tilesOf = (N: number, H: number, W: number): Tiles => ({ n: N * Math.ceil(H / 4) * Math.ceil(W / 4), th: Math.ceil(H / 4), tw: Math.ceil(W / 4) });
/** Image, first row and first column of tile i's `size`×`size` window starting `offset` before it. */
function tileAt(t: Tiles, i: number, offset: number): [number, number, number] {
  return [Math.floor(i / (t.th * t.tw)), 4 * Math.floor((i % (t.th * t.tw)) / t.tw) - offset, 4 * (i % t.tw) - offset];
}

/** Every tile's size×size window of x [N][C][H][W] (zeros outside), transformed by L·X·Lᵀ: [tile][channel][36]. */
function tileTransform(x: Float64Array, N: number, C: number, H: number, W: number, size: number, offset: number, L: number[][]): Float64Array {
  const t = tilesOf(N, H, W), out = new Float64Array(t.n * C * 36), d = new Float64Array(size * size);
  for (let i = 0; i < t.n; i++) {
    const [img, h0, w0] = tileAt(t, i, offset);
    for (let c = 0; c < C; c++) {
      for (let a = 0; a < size; a++)
        for (let b = 0; b < size; b++) {
          const h = h0 + a, w = w0 + b;
          d[a * size + b] = h >= 0 && h < H && w >= 0 && w < W ? x[((img * C + c) * H + h) * W + w] : 0;
        }
      out.set(sandwich(L, d, size, size, L), (i * C + c) * 36);
    }
  }
  return out;
}
const inputTiles = (x: Float64Array, N: number, C: number, H: number, W: number) => tileTransform(x, N, C, H, W, 6, 1, BT);
const gradTiles = (dy: Float64Array, N: number, K: number, H: number, W: number) => tileTransform(dy, N, K, H, W, 4, 0, transpose(AT));

/** G g Gᵀ of weights [K][C][3][3]: [k][c][36]. */
function weightTiles(w: Float64Array, K: number, C: number): Float64Array {
  const out = new Float64Array(K * C * 36);
  for (let kc = 0; kc < K * C; kc++) out.set(sandwich(G, w.subarray(kc * 9, kc * 9 + 9), 3, 3, G), kc * 36);
  return out;
}

/** Variance of the products' rounding in every output element, [N][K][H][W]. */
function outputVariance(v: Float64Array, uw: Float64Array, N: number, C: number, K: number, H: number, W: number): Float64Array {
  const t = tilesOf(N, H, W), out = new Float64Array(N * K * H * W), m = new Float64Array(36), A2 = squared(AT);
  for (let i = 0; i < t.n; i++) {
    const [img, h0, w0] = tileAt(t, i, 0);
    for (let k = 0; k < K; k++) {
      m.fill(0);
      for (let c = 0; c < C; c++) {
        const vo = (i * C + c) * 36, uo = (k * C + c) * 36;
        for (let x = 0; x < 36; x++) m[x] += (v[vo + x] * uw[uo + x]) ** 2;
      }
      const y = sandwich(A2, m, 6, 6, A2);
      for (let a = 0; a < 4 && h0 + a < H; a++) for (let b = 0; b < 4 && w0 + b < W; b++) out[((img * K + k) * H + h0 + a) * W + w0 + b] = ((2 * u * u) / 3) * y[a * 4 + b];
    }
  }
  return out;
}

/** Variance of the products' rounding in every weight-gradient element, [K][C][3][3]. */
function weightGradVariance(v: Float64Array, z: Float64Array, tiles: number, C: number, K: number): Float64Array {
  const out = new Float64Array(K * C * 9), s = new Float64Array(36), G2 = squared(transpose(G));
  for (let k = 0; k < K; k++)
    for (let c = 0; c < C; c++) {
      s.fill(0);
      for (let i = 0; i < tiles; i++) {
        const vo = (i * C + c) * 36, zo = (i * K + k) * 36;
        for (let x = 0; x < 36; x++) s[x] += (v[vo + x] * z[zo + x]) ** 2;
      }
      out.set(sandwich(G2, s, 6, 6, G2).map((e) => ((2 * u * u) / 3) * e), (k * C + c) * 9);
    }
  return out;
}

/** Every element of got within 6σ of want, the root-mean-square error within σ's (σ² = variance, plus the bfloat16 output's rounding when `rounded`). */
function withinRounding(what: string, got: Tensor, want: Tensor, variance: Float64Array, rounded: boolean): void {
  const g = got.to('float64').contiguous().data() as Float64Array, w = want.contiguous().data() as Float64Array;
  let err2 = 0, var2 = 0;
  for (let i = 0; i < w.length; i++) {
    const s2 = variance[i] + (rounded ? (u * u * w[i] * w[i]) / 3 : 0), e = g[i] - w[i];
    if (!(Math.abs(e) <= 6 * Math.sqrt(s2) + 2 ** -30)) assert.fail(`${what}: element ${i} is ${g[i]}, want ${w[i]} (σ ${Math.sqrt(s2)})`);
    err2 += e * e;
    var2 += s2;
  }
  assert.ok(err2 <= var2, `${what}: root-mean-square error ${Math.sqrt(err2 / w.length)}, σ's ${Math.sqrt(var2 / w.length)}`);
}

// The fp32 tests' shape classes: few tiles (≤ 128: channels in blocks) and many, channel counts
// that are not multiples of 16 (the products' 8-column tail), partial tiles; odd tile counts (the
// weight gradient sums tiles in pairs), the last one over two batches of the weight gradient.
const shapes: [number, number, number, number, number][] = [
  // batch, in channels, out channels, height, width
  [16, 24, 40, 4, 4],
  [64, 136, 72, 4, 4],
  [3, 16, 24, 9, 9],
  [8, 32, 16, 13, 6],
  [64, 24, 40, 1, 3],
  [16, 64, 64, 8, 8],
  [8, 32, 48, 24, 20],
  [15, 64, 64, 36, 36],
];

for (const [n, c, k, h, w] of shapes) {
  test(`winograd bf16 ${n}x${c}x${h}x${w} -> ${k}: forward and both gradients within the bfloat16 roundings of float64 direct convolution, both weight layouts`, () => {
    torch.tidy(() => {
      torch.manualSeed(n * 1000 + c + k + h + w);
      // bfloat16 activations and output gradient (as autocast makes them), float32 weights.
      const x16 = torch.randn([n, c, h, w]).to('bfloat16'), g16 = torch.randn([n, k, h, w]).to('bfloat16');
      const w32 = torch.randn([k, c, 3, 3]).mul(Math.sqrt(2 / (9 * c)));
      const x64 = x16.to('float64').requiresGrad_(true), w64 = w32.to('float64').requiresGrad_(true);
      const ref = torch.conv2d(x64, w64, undefined, 1, 1);
      ref.backward(g16.to('float64'));

      const xd = x16.to('float64').data() as Float64Array, gd = g16.to('float64').data() as Float64Array, wd = w32.to('float64').data() as Float64Array;
      const v = inputTiles(xd, n, c, h, w);
      // The input gradient is the convolution of dY with the weights transposed and flipped.
      const wFlip = torch.tensor(Array.from(wd), { dtype: 'float64' }).reshape([k, c, 3, 3]).flip([2, 3]).transpose(0, 1).contiguous().data() as Float64Array;
      const yVar = outputVariance(v, weightTiles(wd, k, c), n, c, k, h, w);
      const dxVar = outputVariance(inputTiles(gd, n, k, h, w), weightTiles(wFlip, c, k), n, k, c, h, w);
      const dwVar = weightGradVariance(v, gradTiles(gd, n, k, h, w), tilesOf(n, h, w).n, c, k);

      for (const layout of ['contiguous', 'channelsLast'] as const) {
        const x = x16.clone().requiresGrad_(true), wt = w32.contiguous(torch.memoryFormat[layout]).detach().requiresGrad_(true);
        const y = bf16(() => torch.conv2d(x, wt, undefined, 1, 1));
        y.backward(g16);
        assert.equal(y.dtype, 'bfloat16');
        assert.equal(x.grad!.dtype, 'bfloat16');
        assert.equal(wt.grad!.dtype, 'float32', 'the weight gradient is float32, for the float32 weights');
        assert.deepEqual(wt.grad!.strides, wt.strides, 'the weight gradient is laid out as the weight');
        const d = oneDnn(() => bf16(() => torch.conv2d(x16, w32, undefined, 1, 1)));
        if (!hasBf16) {
          assert.equal(y.sub(d).abs().max().item(), 0, 'without AVX-512 BF16: libtorch\'s bfloat16 convolution');
          continue;
        }
        assert.notEqual(y.sub(d).abs().max().item(), 0, 'the Winograd kernel did not run');
        withinRounding(`${layout} output`, y, ref, yVar, true);
        withinRounding(`${layout} input gradient`, x.grad!, x64.grad!, dxVar, true);
        withinRounding(`${layout} weight gradient`, wt.grad!, w64.grad!, dwVar, false);
      }
    });
  });
}

test('winograd bf16: float32 activations under autocast are cast (the same result as bfloat16 ones); float64 ones stay on libtorch', () => {
  torch.tidy(() => {
    torch.manualSeed(3);
    const x = torch.randn([8, 16, 12, 12]).to('bfloat16'), w = torch.randn([16, 16, 3, 3]);
    const a = bf16(() => torch.conv2d(x, w, undefined, 1, 1)), b = bf16(() => torch.conv2d(x.float(), w, undefined, 1, 1));
    assert.equal(a.sub(b).abs().max().item(), 0);
    const y64 = bf16(() => torch.conv2d(x.to('float64'), w.to('float64'), undefined, 1, 1));
    assert.equal(y64.dtype, 'float64');
  });
});

// Decisions are argmax(log α + G) over the two branches, so a decision can only differ between
// the two convolutions where the sampled margin (log α₁ + G₁) − (log α₀ + G₀) is smaller than the
// change of log α₁ − log α₀ between them. Near-ties happen either way: oneDNN's bfloat16 path flips
// them against float32 too. The test pins that every differing decision is such a near-tie, that
// they are rare, and that the policy logits and loss stay close.
test('a bf16 SpotTune training step with the kernel: the same decisions as with libtorch\'s bfloat16 convolution except near-ties, the loss close', () => {
  const run = (winograd: boolean) => {
    torch.useWinograd(winograd);
    try {
      torch.manualSeed(7);
      const net = new TwoBranchNet(resnet26({ numClasses: 10, width: 0.5 }), resnet26({ numClasses: 10, width: 0.5 }));
      const model = new SpotTuneModel(net, { kind: 'agent', agent: new Agent({ numBlocks: net.numBlocks, inputSize: 32 }) }, { tau: 5, evalRouting: 'argmax' });
      const [netGroup, agentGroup] = model.paramGroups();
      const opts = [new SGD(netGroup.params, { lr: 0.1, momentum: 0.9 }), new SGD(agentGroup.params, { lr: 0.01, momentum: 0.9 })];
      model.setTraining(true);
      const x = torch.keep(torch.randn([16, 3, 32, 32])), labels = torch.keep(torch.randint(0, 10, [16]));
      const out: { decisions: number[]; margin: number[]; logits: Tensor; loss: number }[] = [];
      for (let step = 0; step < 2; step++) {
        torch.tidy(() => {
          const uniform = torch.rand([16, net.numBlocks, 2]);
          const o = bf16(() => model.forwardTrain(x, uniform));
          const loss = bf16(() => torch.crossEntropy(o.logits, labels));
          for (const opt of opts) opt.zeroGrad();
          loss.backward();
          for (const opt of opts) opt.step();
          const logits = o.policyLogits!.float();
          const sampled = logits.add(gumbelNoise(logits, uniform));
          out.push({ decisions: o.decisions.toArray(), margin: sampled.select(2, 1).sub(sampled.select(2, 0)).toArray(), logits: torch.keep(logits), loss: loss.item() });
        });
      }
      return out;
    } finally {
      torch.useWinograd(true);
    }
  };
  torch.tidy(() => {
    const ours = run(true), theirs = run(false);
    let differing = 0;
    for (let step = 0; step < 2; step++) {
      const a = ours[step], b = theirs[step];
      const shift = a.logits.select(2, 1).sub(a.logits.select(2, 0)).sub(b.logits.select(2, 1).sub(b.logits.select(2, 0))).abs().toArray();
      assert.ok(a.decisions.every((d) => d === 0 || d === 1));
      a.decisions.forEach((d, i) => {
        if (d === b.decisions[i]) return;
        differing++;
        assert.ok(Math.abs(b.margin[i]) <= shift[i], `step ${step}, decision ${i}: differs with margin ${b.margin[i]}, more than the logits moved (${shift[i]})`);
      });
      const scale = b.logits.abs().max().item();
      const moved = a.logits.sub(b.logits).abs().max().item();
      // Measured: 0.03 of 0.7 (4%); oneDNN's bfloat16 against float32: 0.007.
      assert.ok(moved < 0.1 * scale, `step ${step}: policy logits moved by ${moved} (largest ${scale})`);
      assert.ok(Math.abs(a.loss - b.loss) < 0.01 * b.loss, `step ${step}: loss ${a.loss} vs ${b.loss}`);
    }
    assert.ok(differing <= 0.02 * ours[0].decisions.length * 2, `${differing} decisions differ`);
    if (hasBf16) assert.notEqual(ours[1].loss, theirs[1].loss, 'the step did not use the Winograd kernel');
  });
});
