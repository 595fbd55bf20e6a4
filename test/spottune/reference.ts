// Debian's PyTorch (/usr/bin/python3, torch 1.13) as an independent reference: a Python
// snippet reads JSON `data` from stdin and prints JSON.
import { spawnSync } from 'node:child_process';

export function pytorch(code: string, data: unknown): any {
  const script = ['import sys, json, torch, numpy as np', 'torch.set_default_dtype(torch.float64)', 'data = json.load(sys.stdin)', code].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(data), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Deterministic values in about [−1.5, 1.5], no two alike. */
export function values(n: number, seed = 1): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 1.5);
}
