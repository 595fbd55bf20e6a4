// Checks an exported model: the same images through onnxruntime (CPU) and through the
// libtorch model it came from, comparing logits, predicted classes and routing decisions.
import * as ort from 'onnxruntime-node';
import * as torch from '../torch/index.js';
import { SpotTuneModel, type EvalRouting, type TrainModel } from '../spottune/index.js';

export interface ImageBatch {
  /** Normalised pixels, NCHW. */
  x: Float32Array;
  shape: readonly [number, number, number, number];
}

export interface Comparison {
  images: number;
  /** Largest |onnx − libtorch| over every logit. */
  maxAbsDiff: number;
  /** Images whose predicted class (argmax of the logits) differs. */
  classMismatches: number;
  /** Image×block decisions that differ (two-branch models; 0 otherwise). */
  decisionMismatches: number;
  /** Seconds spent in onnxruntime and in libtorch (on a shared machine: indicative only). */
  onnxSeconds: number;
  torchSeconds: number;
}

function argmaxRows(v: ArrayLike<number>, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * cols < v.length; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (v[r * cols + c] > v[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}

/**
 * Opens an exported model in onnxruntime-node (CPU). Its worker threads do not spin-wait
 * after a run: spinning threads would take the cores from libtorch, which runs next (10×
 * slower on 2 cores).
 */
export async function openSession(model: Uint8Array | string, threads?: number): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = { extra: { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } } };
  if (threads) options.intraOpNumThreads = threads;
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

export interface CompareOptions {
  /** At most this many images. */
  limit?: number;
  /** The routing the graph implements (two-branch models; 'fixed' or undefined: the model's own). */
  routing?: EvalRouting | 'fixed';
  /** The model's device (default cpu): the images are copied there. */
  device?: string;
}

/** Runs the images through both; `model` is the one exported, put in evaluation mode. */
export async function compareWithLibtorch(session: ort.InferenceSession, model: TrainModel, batches: AsyncIterable<ImageBatch> | Iterable<ImageBatch>, o: CompareOptions = {}): Promise<Comparison> {
  const limit = o.limit ?? Infinity;
  const routing = o.routing === 'fixed' ? undefined : o.routing;
  model.setTraining(false);
  const withDecisions = session.outputNames.includes('decisions');
  const r: Comparison = { images: 0, maxAbsDiff: 0, classMismatches: 0, decisionMismatches: 0, onnxSeconds: 0, torchSeconds: 0 };
  for await (const batch of batches) {
    if (r.images >= limit) break;
    const n = Math.min(batch.shape[0], limit - r.images);
    const shape = [n, batch.shape[1], batch.shape[2], batch.shape[3]] as const;
    const x = batch.x.subarray(0, shape.reduce((a, b) => a * b, 1));
    let t0 = performance.now();
    const onnxOut = await session.run({ input: new ort.Tensor('float32', x, [...shape]) });
    r.onnxSeconds += (performance.now() - t0) / 1000;
    t0 = performance.now();
    const ref = torch.tidy(() => {
      const input = torch.toDeviceAsync(torch.tensor(x, { shape: [...shape], device: 'cpu' }), o.device ?? 'cpu');
      const out = model instanceof SpotTuneModel ? model.forwardEval(input, routing) : model.forwardEval(input);
      return { logits: out.logits.data() as Float32Array, decisions: out.decisions.toArray() };
    });
    r.torchSeconds += (performance.now() - t0) / 1000;
    const logits = onnxOut.logits.data as Float32Array;
    if (logits.length !== ref.logits.length) throw new Error(`ONNX model gave ${logits.length} logits for ${n} images, libtorch ${ref.logits.length}`);
    for (let i = 0; i < logits.length; i++) r.maxAbsDiff = Math.max(r.maxAbsDiff, Math.abs(logits[i] - ref.logits[i]));
    const classes = logits.length / n;
    const a = argmaxRows(logits, classes);
    const b = argmaxRows(ref.logits, classes);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) r.classMismatches++;
    if (withDecisions) {
      const d = onnxOut.decisions.data as Float32Array;
      for (let i = 0; i < d.length; i++) if (d[i] !== ref.decisions[i]) r.decisionMismatches++;
    }
    r.images += n;
  }
  return r;
}
