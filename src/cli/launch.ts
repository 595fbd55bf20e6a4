// `--nproc N`: runs the same command as N worker processes on this machine (like torchrun),
// each with --rank/--world-size/--master-addr/--master-port, and waits for them. When one
// fails, the others get a few seconds to report their own error, then are terminated.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createServer } from 'node:net';

/** A TCP port that is free now on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The command line without `--nproc <n>` / `--nproc=<n>`. */
function withoutNproc(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--nproc') i++;
    else if (!args[i].startsWith('--nproc=')) out.push(args[i]);
  }
  return out;
}

export interface LaunchOptions {
  nproc: number;
  masterPort?: number;
  /** libtorch threads per worker; default: the cores divided among the workers. */
  threads?: number;
  /** Seconds the other workers get to exit on their own after one fails. Default 10. */
  graceSeconds?: number;
}

/** Runs the workers; resolves to the exit code for this process. */
export async function launch(o: LaunchOptions): Promise<number> {
  const port = o.masterPort ?? (await freePort());
  const args = withoutNproc(process.argv.slice(2));
  const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / o.nproc));
  const workers: ChildProcess[] = [];
  for (let rank = 0; rank < o.nproc; rank++) {
    const rankArgs = ['--rank', String(rank), '--world-size', String(o.nproc), '--master-addr', '127.0.0.1', '--master-port', String(port)];
    workers.push(spawn(process.execPath, [...process.execArgv, process.argv[1], ...args, ...rankArgs], {
      stdio: 'inherit',
      env: { ...process.env, SPOTTUNE_THREADS: String(threads) },
    }));
  }
  const stop = (signal: NodeJS.Signals) => () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill(signal);
  };
  process.on('SIGINT', stop('SIGINT'));
  process.on('SIGTERM', stop('SIGTERM'));

  let failure: string | undefined;
  let grace: NodeJS.Timeout | undefined;
  await Promise.all(workers.map((w, rank) => new Promise<void>((resolve) => {
    w.once('exit', (code, signal) => {
      if ((code !== 0 || signal) && failure === undefined) {
        failure = `worker rank ${rank} of ${o.nproc} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
        grace = setTimeout(stop('SIGTERM'), (o.graceSeconds ?? 10) * 1000);
      }
      resolve();
    });
  })));
  clearTimeout(grace);
  if (failure === undefined) return 0;
  process.stderr.write(`spottune: ${failure}; the run failed\n`);
  return 1;
}
