// Launch by torchrun or Kubernetes' PyTorchJob (Kubeflow training operator): both start one
// process per rank and describe the run in environment variables, read here:
//   RANK, WORLD_SIZE             this process's rank and the number of processes
//   MASTER_ADDR, MASTER_PORT     where rank 0's rendezvous store is
//   LOCAL_RANK, LOCAL_WORLD_SIZE this process's rank on its machine, processes on the machine
//   TORCHELASTIC_USE_AGENT_STORE torchrun's agent serves the store itself ("True"); the workers
//                                then use it under /worker/attempt_<TORCHELASTIC_RESTART_COUNT>
// (PyTorchJob sets the first four; torchrun all of them.)
import { availableParallelism } from 'node:os';

export interface LaunchedRank {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  localRank: number;
  localWorldSize: number;
  /** Whether this process serves the rendezvous store (rank 0, unless torchrun's agent does). */
  storeServer: boolean;
  storePrefix?: string;
}

function intVar(env: NodeJS.ProcessEnv, name: string, min: number, max: number, fallback?: number): number {
  const v = env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`launched with RANK and WORLD_SIZE set, the environment variable ${name} must be set too`);
  }
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw new Error(`environment variable ${name}: expected an integer in [${min}, ${max}], got "${v}"`);
  return n;
}

/** The rank this process was launched as, or undefined when RANK and WORLD_SIZE are not set. */
export function launchedRank(env: NodeJS.ProcessEnv = process.env): LaunchedRank | undefined {
  const hasRank = env.RANK !== undefined && env.RANK !== '';
  const hasWorld = env.WORLD_SIZE !== undefined && env.WORLD_SIZE !== '';
  if (!hasRank && !hasWorld) return undefined;
  if (!hasRank || !hasWorld) throw new Error(`environment variables RANK and WORLD_SIZE go together (a launcher such as torchrun sets both); got only ${hasRank ? 'RANK' : 'WORLD_SIZE'}`);
  const worldSize = intVar(env, 'WORLD_SIZE', 1, 1 << 16);
  const rank = intVar(env, 'RANK', 0, worldSize - 1);
  const masterAddr = env.MASTER_ADDR ?? '';
  if (masterAddr === '') throw new Error('launched with RANK and WORLD_SIZE set, the environment variable MASTER_ADDR must be set too');
  const masterPort = intVar(env, 'MASTER_PORT', 1, 65535);
  const localWorldSize = intVar(env, 'LOCAL_WORLD_SIZE', 1, worldSize, 1);
  const localRank = intVar(env, 'LOCAL_RANK', 0, localWorldSize - 1, 0);
  const agentStore = env.TORCHELASTIC_USE_AGENT_STORE === 'True';
  return {
    rank, worldSize, masterAddr, masterPort, localRank, localWorldSize,
    storeServer: !agentStore && rank === 0,
    storePrefix: agentStore ? `/worker/attempt_${intVar(env, 'TORCHELASTIC_RESTART_COUNT', 0, 1 << 30, 0)}` : undefined,
  };
}

/** libtorch threads of each of the machine's processes: the cores shared out, as --nproc does. */
export function threadsPerProcess(localWorldSize: number): number {
  return Math.max(1, Math.floor(availableParallelism() / localWorldSize));
}
