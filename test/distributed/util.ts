// Helpers of the distributed tests: free loopback ports and real worker processes.
import { spawn } from 'node:child_process';

export { freePort } from '../../src/cli/launch.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx <args>` with 1 libtorch thread; kills it after `timeoutMs`. */
export function run(args: string[], timeoutMs = 120_000): { pid: number; done: Promise<Exit> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, SPOTTUNE_THREADS: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Exit>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { pid: child.pid!, done };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
