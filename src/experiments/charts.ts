// Inline SVG for the report: line charts (training curves) and heatmaps (the policy). Plain
// strings, no scripts, so the report opens anywhere without a network.

export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#1f3b73', '#8cd17d', '#d37295'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Fixed y range (e.g. accuracy 0–100); default: the data's, padded. */
  yDomain?: [number, number];
  width?: number;
  height?: number;
}

export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 440;
  const H = o.height ?? 270;
  const m = { left: 52, right: 14, top: 30, bottom: 42 };
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(1, ...xs);
  const x1 = Math.max(x0 + 1, ...xs);
  let [y0, y1] = o.yDomain ?? [Math.min(...ys), Math.max(...ys)];
  if (!o.yDomain) {
    const pad = (y1 - y0) * 0.08 || 1;
    [y0, y1] = [Math.max(0, y0 - pad), y1 + pad];
  }
  const yTicks = niceTicks(y0, y1, 5);
  [y0, y1] = [Math.min(y0, yTicks[0]), Math.max(y1, yTicks[yTicks.length - 1])];
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * (W - m.left - m.right);
  const py = (y: number) => H - m.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - m.top - m.bottom);
  const xTicks = niceTicks(x0, x1, 6).filter((t) => Number.isInteger(t));
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`];
  out.push(`<text x="${m.left}" y="18" class="chart-title">${esc(o.title)}</text>`);
  for (const t of yTicks) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" class="grid"/>`);
    out.push(`<text x="${m.left - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${t}</text>`);
  }
  for (const t of xTicks) out.push(`<text x="${px(t).toFixed(1)}" y="${H - m.bottom + 16}" text-anchor="middle" class="tick">${t}</text>`);
  out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" class="axis"/>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" class="axis"/>`);
  out.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 8}" text-anchor="middle" class="label">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${(m.top + H - m.bottom) / 2}) rotate(-90)" text-anchor="middle" class="label">${esc(o.yLabel)}</text>`);
  for (const s of o.series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"><title>${esc(s.name)}</title></path>`);
    if (s.points.length <= 40) for (const [x, y] of s.points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
  }
  out.push('</svg>');
  return out.join('');
}

/** Sequential colour from white (0) to deep blue (1). */
export function heat(v: number): string {
  const t = Math.min(1, Math.max(0, v));
  const lo = [247, 251, 255];
  const hi = [8, 48, 107];
  const c = lo.map((l, i) => Math.round(l + (hi[i] - l) * t));
  return `rgb(${c.join(',')})`;
}

export interface HeatmapOptions {
  title: string;
  rows: string[];
  cols: string[];
  /** [row][col] in [0, 1]. */
  values: number[][];
  cell?: { w: number; h: number };
}

export function heatmap(o: HeatmapOptions): string {
  const cw = o.cell?.w ?? 30;
  const ch = o.cell?.h ?? 22;
  const labelW = Math.max(40, 7.2 * Math.max(...o.rows.map((r) => r.length)) + 10);
  const top = 44;
  const W = labelW + cw * o.cols.length + 4;
  const H = top + ch * o.rows.length + 4;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`];
  out.push(`<text x="0" y="16" class="chart-title">${esc(o.title)}</text>`);
  o.cols.forEach((c, j) => out.push(`<text x="${labelW + cw * j + cw / 2}" y="${top - 8}" text-anchor="middle" class="tick">${esc(c)}</text>`));
  o.rows.forEach((r, i) => {
    const y = top + ch * i;
    out.push(`<text x="${labelW - 8}" y="${y + ch / 2 + 4}" text-anchor="end" class="tick">${esc(r)}</text>`);
    o.values[i].forEach((v, j) => {
      const x = labelW + cw * j;
      out.push(`<rect x="${x}" y="${y}" width="${cw - 1}" height="${ch - 1}" fill="${heat(v)}"><title>${esc(r)}, ${esc(o.cols[j])}: ${(100 * v).toFixed(1)}% fine-tuned</title></rect>`);
      out.push(`<text x="${x + cw / 2 - 0.5}" y="${y + ch / 2 + 4}" text-anchor="middle" class="cell${v > 0.55 ? ' on-dark' : ''}">${Math.round(100 * v)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('');
}

/** A horizontal colour bar explaining the heatmaps' scale. */
export function heatLegend(): string {
  const stops = Array.from({ length: 11 }, (_, i) => `<stop offset="${i * 10}%" stop-color="${heat(i / 10)}"/>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" class="heat-legend" viewBox="0 0 290 34" width="290" height="34"><defs><linearGradient id="heat-scale">${stops}</linearGradient></defs>` +
    `<rect x="30" y="4" width="200" height="12" fill="url(#heat-scale)" stroke="#c5ccd6"/><text x="24" y="14" text-anchor="end" class="tick">0%</text><text x="236" y="14" class="tick">100%</text>` +
    `<text x="130" y="30" text-anchor="middle" class="tick">share of images on the fine-tuned block</text></svg>`;
}
