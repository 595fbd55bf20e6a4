// Finite-difference gradient checking, like torch.autograd.gradcheck: the analytic
// gradient from backward() against central differences, in float64.
import { noGrad } from './autograd.js';
import { tidy } from './scope.js';
import { Tensor, tensor } from './tensor.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric| over all checked elements. */
  maxError: number;
  /** Where it failed, e.g. "input 1, element 3: analytic 0.5, numeric 0.25". */
  failure?: string;
}

/**
 * Checks fn's gradient with respect to each float64 input. The output is reduced
 * with a fixed random projection, so every output element's gradient is checked.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], o: GradcheckOptions = {}): GradcheckResult {
  const eps = o.eps ?? 1e-6;
  const atol = o.atol ?? 1e-5;
  const rtol = o.rtol ?? 1e-3;
  for (const [i, x] of inputs.entries()) {
    if (x.dtype !== 'float64') throw new Error(`gradcheck: input ${i} is ${x.dtype}; use float64 for finite differences`);
  }
  const values = inputs.map((x) => x.data() as Float64Array);
  const shapes = inputs.map((x) => x.shape);
  const projection = tidy(() => {
    const out = noGrad(() => fn(...inputs));
    const n = out.numel;
    // deterministic weights in [0.5, 1.5] so no output is ignored
    return tensor(Float64Array.from({ length: n }, (_, k) => 0.5 + ((k * 7919) % 101) / 100), { shape: out.shape });
  });
  const project = (xs: Tensor[]): Tensor => fn(...xs).mul(projection).sum();

  const analytic = tidy(() => {
    const xs = values.map((v, i) => tensor(v, { shape: shapes[i], requiresGrad: true }));
    project(xs).backward();
    return xs.map((x) => {
      const g = x.grad;
      return g ? (g.data() as Float64Array) : new Float64Array(x.numel);
    });
  });

  let maxError = 0;
  try {
    for (let i = 0; i < values.length; i++) {
      for (let j = 0; j < values[i].length; j++) {
        const at = (delta: number): number =>
          tidy(() =>
            noGrad(() => {
              const xs = values.map((v, k) => {
                const copy = Float64Array.from(v);
                if (k === i) copy[j] += delta;
                return tensor(copy, { shape: shapes[k] });
              });
              return project(xs).item();
            }),
          );
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        const err = Math.abs(analytic[i][j] - numeric);
        maxError = Math.max(maxError, err);
        if (err > atol + rtol * Math.abs(numeric)) {
          return { ok: false, maxError, failure: `input ${i}, element ${j}: analytic ${analytic[i][j]}, numeric ${numeric}` };
        }
      }
    }
  } finally {
    projection.dispose();
  }
  return { ok: true, maxError };
}
