// The HTML report of a folder of runs: one self-contained file (inline CSS and SVG, images as
// data: URIs, no scripts, no fonts or anything else fetched) with the comparison tables,
// training curves, the learned policy (per-block fine-tune frequency per method and per class)
// and example test images with the blocks each one ran fine-tuned.
import { PALETTE, esc, heatLegend, heatmap, lineChart } from './charts.js';
import { encodePng } from './png.js';
import { compare, tableCells, type Comparison } from './table.js';
import type { RunRecord } from './runs.js';

export interface ReportOptions {
  title: string;
  /** A paragraph under the title (HTML is escaped). */
  subtitle?: string;
}

/** Methods whose decisions depend on the image: their per-class policy is worth a heatmap. */
const ADAPTIVE = ['spottune', 'spottune-global-k', 'random-policy'];

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Element-wise mean of equally shaped arrays. */
function meanOf(rows: number[][]): number[] {
  return rows[0].map((_, i) => mean(rows.map((r) => r[i])));
}

/** Mean over seeds at each epoch where at least one seed has a value. */
function curve(runs: RunRecord[], value: (m: RunRecord['metrics'][number]) => number | null): [number, number][] {
  const byEpoch = new Map<number, number[]>();
  for (const r of runs) for (const m of r.metrics) {
    const v = value(m);
    if (v !== null && Number.isFinite(v)) (byEpoch.get(m.epoch) ?? byEpoch.set(m.epoch, []).get(m.epoch)!).push(v);
  }
  return [...byEpoch].sort((a, b) => a[0] - b[0]).map(([e, vs]) => [e + 1, mean(vs)]);
}

function htmlTable(header: string[], rows: string[][], className = ''): string {
  const th = header.map((h, i) => `<th${i ? ' class="num"' : ''}>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c, i) => (i ? `<td class="num">${c}</td>` : `<td><span class="method">${c}</span></td>`)).join('')}</tr>`).join('\n');
  return `<table class="${className}"><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

function legend(methods: string[], color: (m: string) => string): string {
  return `<div class="legend">${methods.map((m) => `<span><i style="background:${color(m)}"></i>${esc(m)}</span>`).join('')}</div>`;
}

function comparisonSection(c: Comparison): string {
  const escCells = (rows: string[][]) => rows.map((r) => r.map((x) => (x.startsWith('<strong>') ? x : esc(x))));
  const { accRows, pairedRows, costRows } = tableCells(c, (s) => `<strong>${esc(s)}</strong>`);
  const block = (title: string, note: string, table: string) => `<div><h3>${title}</h3><p class="note">${note}</p>${table}</div>`;
  const parts = [block('Test accuracy (%)', 'After the last epoch, mean ± standard deviation over seeds; the best method per dataset in bold.', htmlTable(['method', ...c.datasets], escCells(accRows), 'results'))];
  if (pairedRows) {
    parts.push(block('Against standard fine-tuning, seed by seed', 'Mean ± std over seeds of acc(method, seed) − acc(finetune, seed), in points. Same seed, same batch order: the noise both share cancels. Seeds in parentheses.', htmlTable(['method', ...c.datasets], escCells(pairedRows), 'results')));
  }
  parts.push(block('Training cost', 'Mean per run: seconds of training (evaluation excluded), training images per second, trainable parameters (SpotTune\'s include the policy network).', htmlTable(['method', 'seconds', 'images/s', 'trainable'], escCells(costRows), 'results')));
  return `<section><h2>Comparison</h2><div class="tables">${parts.join('')}</div></section>`;
}

function curvesSection(runs: RunRecord[], c: Comparison, color: (m: string) => string): string {
  let html = `<section><h2>Training curves</h2><p class="note">Mean over seeds. Test accuracy is measured every few epochs (the runs' <code>evalEvery</code>); the loss is the training loss.</p>${legend(c.methods, color)}`;
  for (const d of c.datasets) {
    const of = (m: string) => runs.filter((r) => r.result.method === m && r.result.data === d);
    const acc = c.methods.map((m) => ({ name: m, color: color(m), points: curve(of(m), (x) => x.testAcc) }));
    const loss = c.methods.map((m) => ({ name: m, color: color(m), points: curve(of(m), (x) => x.trainLoss) }));
    html += `<div class="charts">${lineChart({ title: `${d}: test accuracy`, xLabel: 'epoch', yLabel: 'accuracy (%)', series: acc, yDomain: [0, 100] })}${lineChart({ title: `${d}: training loss`, xLabel: 'epoch', yLabel: 'loss', series: loss })}</div>`;
  }
  return html + '</section>';
}

function policySection(runs: RunRecord[], c: Comparison): string {
  let html = `<section><h2>Where fine-tuning happens</h2><p class="note">For each residual block (b1 = first), the share of test images that ran the fine-tuned block rather than the frozen pre-trained one, mean over seeds. Baselines decide once for every image (0 or 100); SpotTune decides per image.</p>${heatLegend()}`;
  for (const d of c.datasets) {
    const rowsOf = c.methods.map((m) => runs.filter((r) => r.result.method === m && r.result.data === d)).filter((rs) => rs.length > 0);
    if (rowsOf.length === 0) continue;
    const L = rowsOf[0][0].result.blockFreq.length;
    const sameDepth = rowsOf.filter((rs) => rs[0].result.blockFreq.length === L);
    const cols = Array.from({ length: L }, (_, i) => `b${i + 1}`);
    html += `<h3>${esc(d)}</h3><div class="maps">`;
    html += heatmap({ title: 'by method', rows: sameDepth.map((rs) => rs[0].result.method), cols, values: sameDepth.map((rs) => meanOf(rs.map((r) => r.result.blockFreq))) });
    for (const rs of sameDepth) {
      const method = rs[0].result.method;
      if (!ADAPTIVE.includes(method)) continue;
      const byClass = rs.map((r) => r.result.blockFreqByClass);
      const values = byClass[0].map((_, k) => meanOf(byClass.map((b) => b[k])));
      html += heatmap({ title: `${method}, by class`, rows: rs[0].result.classes, cols, values });
    }
    html += '</div>';
  }
  return html + '</section>';
}

function examplesSection(runs: RunRecord[], c: Comparison): string {
  const blocks: string[] = [];
  for (const d of c.datasets) {
    const run = ADAPTIVE.map((m) => runs.find((r) => r.result.method === m && r.result.data === d && r.examples && r.examples.examples.length > 0)).find((r) => r);
    if (!run) continue;
    const ex = run.examples!;
    const cards = ex.examples.map((e) => {
      const png = encodePng(new Uint8Array(Buffer.from(e.image.pixels, 'base64')), e.image.width, e.image.height, e.image.channels as 1 | 3).toString('base64');
      const ok = e.pred === e.label;
      const route = e.decisions.map((v, l) => `<i class="${v > 0.5 ? 'ft' : 'fr'}" title="b${l + 1}: ${v > 0.5 ? 'fine-tuned' : 'frozen'}"></i>`).join('');
      return `<figure class="example"><img alt="${esc(ex.classes[e.label])}" src="data:image/png;base64,${png}"><figcaption><span class="${ok ? 'ok' : 'bad'}">${esc(ex.classes[e.label])} → ${esc(ex.classes[e.pred])}</span> <small>${(100 * e.confidence).toFixed(0)}%</small><div class="route">${route}</div></figcaption></figure>`;
    }).join('');
    blocks.push(`<h3>${esc(d)}: ${esc(run.result.method)}, seed ${run.result.seed}</h3><div class="examples">${cards}</div>`);
  }
  if (blocks.length === 0) return '';
  return `<section><h2>Example test images and their routing</h2><p class="note">Label → prediction (confidence). Under each image, one square per block: <i class="ft"></i> fine-tuned, <i class="fr"></i> frozen (the policy's decision for that image).</p>${blocks.join('')}</section>`;
}

const CSS = `
:root { --ink: #1b2a3a; --muted: #5b6b7d; --line: #dde3ea; --accent: #08306b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, "DejaVu Sans", "Liberation Sans", sans-serif; color: var(--ink); background: #f6f8fa; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 28px 60px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 0; color: var(--muted); }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 22px; margin-top: 22px; }
h2 { margin: 0 0 6px; font-size: 19px; } h3 { margin: 18px 0 6px; font-size: 15px; }
.note { color: var(--muted); margin: 0 0 10px; max-width: 860px; }
table.results { border-collapse: collapse; margin: 6px 0 4px; }
table.results th, table.results td { padding: 5px 14px; border-bottom: 1px solid var(--line); }
table.results th { text-align: left; font-weight: 600; border-bottom: 2px solid #c5ccd6; }
table.results .num { text-align: right; font-variant-numeric: tabular-nums; }
table.results strong { color: var(--accent); }
.method { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.highlights { display: flex; gap: 14px; flex-wrap: wrap; margin-top: 16px; }
.highlights div { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--accent); border-radius: 6px; padding: 8px 14px; }
.highlights b { font-size: 18px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 4px 0 8px; }
.legend span { display: inline-flex; align-items: center; gap: 6px; font-size: 13px; }
.legend i { width: 14px; height: 4px; border-radius: 2px; display: inline-block; }
.tables { display: flex; flex-wrap: wrap; gap: 4px 40px; align-items: flex-start; }
.tables > div { max-width: 470px; } .tables h3 { margin-top: 8px; }
.charts, .maps { display: flex; flex-wrap: wrap; gap: 12px 26px; align-items: flex-start; }
svg text { font-family: system-ui, "DejaVu Sans", sans-serif; fill: var(--ink); }
svg .chart-title { font-size: 13px; font-weight: 600; }
svg .tick { font-size: 11px; fill: var(--muted); } svg .label { font-size: 12px; fill: var(--muted); }
svg .cell { font-size: 10px; } svg .cell.on-dark { fill: #fff; } svg .grid { stroke: #edf0f4; } svg .axis { stroke: #9aa6b2; }
.examples { display: flex; flex-wrap: wrap; gap: 10px; }
.example { margin: 0; width: 96px; text-align: center; font-size: 12px; }
.example img { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid var(--line); border-radius: 4px; background: #000; }
.example .ok { color: #2e7d32; } .example .bad { color: #c62828; font-weight: 600; }
.route { display: flex; justify-content: center; gap: 1px; margin-top: 3px; }
i.ft, i.fr { display: inline-block; width: 6px; height: 10px; border-radius: 1px; vertical-align: middle; }
i.ft { background: var(--accent); } i.fr { background: #dfe6ee; }
footer { color: var(--muted); font-size: 12px; margin-top: 20px; }
`;

export function renderReport(runs: RunRecord[], o: ReportOptions): string {
  const c = compare(runs);
  const color = (m: string) => PALETTE[c.methods.indexOf(m) % PALETTE.length];
  const seeds = new Set(runs.map((r) => r.result.seed)).size;
  const first = runs[0].result;
  const setting = `${first.arch}${first.perClass ? `, ${first.perClass} labelled images per class` : ''}, ${first.epochs} epochs`;
  const highlights = c.datasets.map((d) => {
    const bestM = [...c.best.get(d)!][0];
    const s = c.accuracy.get(bestM)!.get(d)!;
    return `<div>${esc(d)}: best <span class="method">${esc(bestM)}</span> <b>${s.mean.toFixed(1)}%</b></div>`;
  }).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(o.title)}</title><style>${CSS}</style></head>
<body><main>
<header><h1>${esc(o.title)}</h1><p>${esc(o.subtitle ?? `${runs.length} runs: ${c.methods.length} methods × ${c.datasets.length} dataset(s) × ${seeds} seed(s); ${setting}.`)}</p>
<div class="highlights">${highlights}</div></header>
${comparisonSection(c)}
${curvesSection(runs, c, color)}
${policySection(runs, c)}
${examplesSection(runs, c)}
<footer>Made by spottune report. Self-contained: nothing is loaded from elsewhere.</footer>
</main></body></html>
`;
}
