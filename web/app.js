// The page's logic (plain JavaScript: the page is served as is, without a build step).
// A dropped image is preprocessed as the run's fileTransform does — shorter side resized,
// centre crop, grey by ITU-R 601 luma, (pixel / 255 − mean) / std — and model.onnx runs in
// onnxruntime-web (WebAssembly). For SpotTune the page also shows, per residual block,
// whether the policy chose the fine-tuned copy for this image.
import * as ort from './ort/ort.wasm.bundle.min.mjs';

// Threads need a cross-origin-isolated page, which a plain static host does not give.
ort.env.wasm.numThreads = 1;

const $ = (id) => document.getElementById(id);

/** @type {{classes: string[], input: number[], resize: number, mean: number[], std: number[], method: string, data: string, routing: string, blocks: number}} */
let info;
let session;
try {
  const r = await fetch('model.json');
  if (!r.ok) throw new Error(`model.json: HTTP ${r.status}`);
  info = await r.json();
  session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] });
} catch (e) {
  $('model').textContent = `cannot load the model: ${e.message}`;
  document.body.dataset.state = 'error';
  throw e;
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop offsets). */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The network's input for an image (ImageBitmap or canvas): Float32Array [C·H·W]. */
export function toInput(image) {
  const [C, H, W] = info.input;
  const portrait = image.width <= image.height;
  const [short, long] = portrait ? [image.width, image.height] : [image.height, image.width];
  const newLong = short === info.resize ? long : Math.floor((info.resize * long) / short);
  const [rw, rh] = portrait ? [info.resize, newLong] : [newLong, info.resize];
  const canvas = document.createElement('canvas');
  canvas.width = rw;
  canvas.height = rh;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(image, 0, 0, rw, rh);
  // Outside the canvas getImageData reads transparent black: the zero padding of a too-small image.
  const offset = (full, target) => (target > full ? -Math.floor((target - full) / 2) : roundHalfEven((full - target) / 2));
  const px = ctx.getImageData(offset(rw, W), offset(rh, H), W, H).data;
  const plane = H * W;
  const x = new Float32Array(C * plane);
  for (let k = 0; k < C; k++) {
    const s = info.std.length === 1 ? info.std[0] : info.std[k];
    const scale = 1 / (255 * s);
    const shift = (info.mean.length === 1 ? info.mean[0] : info.mean[k]) / s;
    for (let i = 0; i < plane; i++) {
      const v = C === 1 ? Math.round((px[4 * i] * 299 + px[4 * i + 1] * 587 + px[4 * i + 2] * 114) / 1000) : px[4 * i + k];
      x[k * plane + i] = v * scale - shift;
    }
  }
  return x;
}

/** Runs the model on one input: logits, class probabilities, and the policy's decisions (or null). */
export async function classify(x) {
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x), [1, ...info.input]) });
  const logits = Array.from(out.logits.data);
  const top = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return { logits, probs: e.map((v) => v / sum), decisions: out.decisions ? Array.from(out.decisions.data) : null };
}

function show(result, imageUrl) {
  $('preview').src = imageUrl;
  const order = result.probs.map((p, k) => [p, k]).sort((a, b) => b[0] - a[0]).slice(0, 5);
  $('classes').replaceChildren(...order.map(([p, k]) => {
    const li = document.createElement('li');
    li.innerHTML = `<span class="name"></span><span class="bar"><span style="width:${(100 * p).toFixed(1)}%"></span></span><span class="p">${(100 * p).toFixed(1)}%</span>`;
    li.querySelector('.name').textContent = info.classes[k];
    return li;
  }));
  $('prediction').textContent = info.classes[order[0][1]];
  $('policy').hidden = !result.decisions;
  if (result.decisions) {
    $('blocks').replaceChildren(...result.decisions.map((d, l) => {
      const b = document.createElement('span');
      b.className = d > 0.5 ? 'block tuned' : 'block';
      b.title = `block ${l + 1}: ${d > 0.5 ? 'fine-tuned' : 'frozen'}`;
      return b;
    }));
  }
  $('result').hidden = false;
  $('result').dataset.logits = JSON.stringify(result.logits);
  $('result').dataset.decisions = JSON.stringify(result.decisions);
}

async function classifyFile(file) {
  $('error').textContent = '';
  document.body.dataset.state = 'busy';
  try {
    const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    show(await classify(toInput(bitmap)), URL.createObjectURL(file));
    document.body.dataset.state = 'done';
  } catch (e) {
    $('error').textContent = `${file.name}: ${e.message}`;
    document.body.dataset.state = 'error';
  }
}

$('model').textContent = `${info.method} on ${info.data} — ${info.classes.length} classes, input ${info.input.join('×')}${info.blocks ? `, ${info.blocks} blocks, routing ${info.routing}` : ''}`;
$('file').addEventListener('change', (e) => e.target.files[0] && classifyFile(e.target.files[0]));
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer.files[0]) classifyFile(e.dataTransfer.files[0]);
});
window.spottune = { info, toInput, classify };
document.body.dataset.state = 'ready';
