// `spottune export <run> --format onnx`: writes a trained run's model as ONNX and, with
// --verify, checks it in onnxruntime against libtorch on the run's test images.
import { join } from 'node:path';
import { Rng } from '../util/rng.js';
import { DataLoader } from '../data/index.js';
import { writeFileAtomic } from '../io/file.js';
import { exportOnnx } from '../export/model.js';
import { preprocessing, writeWebApp } from '../export/web.js';
import type { EvalRouting } from '../spottune/index.js';
import { loadRun } from '../train/saved_run.js';

export interface ExportCommandOptions {
  format: string;
  /** The .onnx file to write. */
  output?: string;
  /** A folder for the web page that runs the model in the browser (holds its own model.onnx). */
  web?: string;
  checkpoint?: 'best' | 'last';
  routing?: EvalRouting;
  /** Compare with libtorch on this many test images (0: no check). */
  verify?: number;
  /** Largest |Δlogit| accepted by --verify. */
  tolerance?: number;
  /** Where the model is loaded and --verify runs libtorch; the file is written from CPU copies of the weights. */
  device?: string;
  json?: boolean;
}

export async function exportCommand(dir: string, o: ExportCommandOptions): Promise<void> {
  if (o.format !== 'onnx') throw new Error(`--format ${o.format}: only onnx is supported`);
  if (!o.output && !o.web) throw new Error('give --output <file.onnx>, --web <folder>, or both');
  const checkpoint = o.checkpoint ?? 'best';
  const { config, task, model, routing, device } = loadRun(dir, { checkpoint, routing: o.routing, device: o.device });
  try {
    if (task.test.length === 0) throw new Error(`${dir}: the run's test set is empty; the input size comes from its first image`);
    const first = await task.evalTransform(task.test.get(0), new Rng(0));
    const exported = exportOnnx(model, {
      inputShape: [first.channels, first.height, first.width],
      routing,
      metadata: { classes: JSON.stringify(task.classes), method: config.method, data: config.data, arch: config.arch, checkpoint },
    });
    const output = o.output ?? join(o.web as string, 'model.onnx');
    if (o.output) writeFileAtomic(o.output, (append) => append(exported.bytes));
    if (o.web) {
      writeWebApp(o.web, exported.bytes, {
        ...(await preprocessing(task)), classes: task.classes, method: config.method, data: config.data, routing: exported.routing,
        blocks: exported.outputs.length > 1 ? model.numBlocks : 0,
      });
    }
    const shapes = exported.outputs.map((v) => `${v.name} [${v.dims.join(', ')}]`).join(', ');
    const summary = { output, web: o.web, bytes: exported.bytes.length, input: ['batch', first.channels, first.height, first.width], outputs: exported.outputs, routing: exported.routing };
    if (!o.json) {
      console.log(`wrote ${output} (${(exported.bytes.length / 1e6).toFixed(1)} MB, ONNX opset 13): input [batch, ${first.channels}, ${first.height}, ${first.width}] → ${shapes}; routing ${exported.routing}`);
      if (o.web) console.log(`web page in ${o.web}: serve the folder over HTTP (e.g. python3 -m http.server -d ${o.web}) and open index.html`);
    }
    if (!o.verify) {
      if (o.json) console.log(JSON.stringify(summary));
      return;
    }
    const { compareWithLibtorch, openSession } = await import('../export/verify.js');
    const session = await openSession(exported.bytes);
    try {
      const loader = new DataLoader(task.test, task.evalTransform, { batchSize: 50 });
      const c = await compareWithLibtorch(session, model, loader.epoch(0), { limit: o.verify, routing: exported.routing, device });
      const tolerance = o.tolerance ?? 1e-4;
      const decisions = exported.outputs.length > 1 ? c.images * model.numBlocks : 0;
      if (o.json) console.log(JSON.stringify({ ...summary, verify: { ...c, tolerance } }));
      else {
        console.log(`verified on ${c.images} test images, onnxruntime-node (CPU) against libtorch: max |Δlogit| ${c.maxAbsDiff.toExponential(2)} (tolerance ${tolerance}), `
          + `same class ${c.images - c.classMismatches}/${c.images}${decisions ? `, same decisions ${decisions - c.decisionMismatches}/${decisions}` : ''}`
          + `; ${c.onnxSeconds.toFixed(2)} s in onnxruntime, ${c.torchSeconds.toFixed(2)} s in libtorch`);
      }
      if (!(c.maxAbsDiff <= tolerance) || c.classMismatches > 0 || c.decisionMismatches > 0) {
        throw new Error(`verification failed: ${output} does not reproduce the libtorch model (max |Δlogit| ${c.maxAbsDiff}, ${c.classMismatches} class and ${c.decisionMismatches} decision mismatches)`);
      }
    } finally {
      await session.release();
    }
  } finally {
    model.dispose();
  }
}
