// `spottune inspect-weights <file>`: what a weights file holds, as --weights reads it: its format,
// where the tensors are (checkpoint keys, a whole pickled module's tree), the tensors under this
// library's names with dtypes and shapes, and the --arch they fit. Nothing in the file runs.
import { describeGuess, guessArch, readWeightsFile } from '../models/pretrained.js';

export interface WeightsReport {
  path: string;
  format: string;
  holds: string;
  notes: string[];
  moduleTree?: string[];
  tensors: { name: string; dtype: string; shape: number[] }[];
  values: number;
  /** The --arch flags the tensors fit, if any. */
  fits?: string;
}

export function inspectWeights(path: string): WeightsReport {
  const file = readWeightsFile(path);
  const tensors = [...file.stateDict].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
  const guess = guessArch(file.stateDict);
  return {
    path,
    format: file.format,
    holds: file.container,
    notes: file.notes,
    ...(file.moduleTree ? { moduleTree: file.moduleTree } : {}),
    tensors,
    values: tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0),
    ...(guess ? { fits: `--arch ${describeGuess(guess)}` } : {}),
  };
}

export function formatWeightsReport(r: WeightsReport): string {
  const lines = [r.path, `format: ${r.format}`, `holds: ${r.holds}`, ...r.notes.map((n) => `note: ${n}`)];
  if (r.moduleTree) lines.push(`module tree (${r.moduleTree.length} modules):`, ...r.moduleTree.map((m) => `  ${m}`));
  lines.push(`tensors (${r.tensors.length}, ${r.values} values), named as --weights reads them:`);
  const width = Math.max(...r.tensors.map((t) => t.name.length));
  lines.push(...r.tensors.map((t) => `  ${t.name.padEnd(width)}  ${t.dtype} [${t.shape.join(', ')}]`));
  lines.push(r.fits ? `fits: ${r.fits}` : 'fits: no --arch of this library (not the parameter names and block counts of a torchvision ResNet or a ResNet-26/38)');
  return lines.join('\n');
}

export function inspectWeightsCommand(path: string, json: boolean): void {
  const r = inspectWeights(path);
  process.stdout.write(`${json ? JSON.stringify(r, null, 1) : formatWeightsReport(r)}\n`);
}
