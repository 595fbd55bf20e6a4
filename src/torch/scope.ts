// Deterministic memory management, in TensorFlow.js's idiom: tensors made inside
// tidy() are disposed when it returns, except those it returns or keep()s.
// The GC frees forgotten handles too, but only when the event loop turns and V8
// feels pressure, which a training loop never gives it: tidy is the real mechanism.
import { native } from './native.js';
import type { Tensor } from './tensor.js';

/** A scope collects the tensors created while it is the innermost one. */
export type Scope = Tensor[];
const stack: Scope[] = [];

export function currentScope(): Scope | undefined {
  return stack[stack.length - 1];
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && (x as { isTensor?: unknown }).isTensor === true;
}

/** Every tensor reachable from a value through arrays, Maps and plain objects. */
function reachable(x: unknown, out: Set<Tensor>, seen = new Set<unknown>()): Set<Tensor> {
  if (typeof x !== 'object' || x === null || seen.has(x)) return out;
  seen.add(x);
  if (isTensor(x)) out.add(x);
  else if (Array.isArray(x)) for (const v of x) reachable(v, out, seen);
  else if (x instanceof Map) for (const v of x.values()) reachable(v, out, seen);
  else if (Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) reachable(v, out, seen);
  return out;
}

/**
 * Runs fn and disposes every tensor it created, except the ones in its result
 * (which move to the enclosing scope) and the ones passed to keep().
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = [];
  // Tensors made in a tidy are freed by it, so V8 need not hear of their memory (see addon.cc).
  if (stack.length === 0) native().setExternalReporting(false);
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    leave();
    for (const t of scope) if (t.scope === scope) t.dispose();
    throw e;
  }
  leave();
  if (result instanceof Promise) throw new Error('tidy(fn): fn must be synchronous (it returned a Promise)');
  const survivors = reachable(result, new Set());
  const parent = currentScope();
  for (const t of scope) {
    if (t.scope !== scope) continue;
    if (survivors.has(t)) {
      t.scope = parent;
      parent?.push(t);
    } else {
      t.dispose();
    }
  }
  return result;
}

function leave(): void {
  stack.pop();
  if (stack.length === 0) native().setExternalReporting(true);
}

/** Exempts tensors from every enclosing tidy(); dispose them yourself. */
export function keep<T>(x: T): T {
  for (const t of reachable(x, new Set())) t.scope = undefined;
  return x;
}

/** Disposes every tensor reachable from x (a tensor, array, Map or plain object). */
export function dispose(x: unknown): void {
  for (const t of reachable(x, new Set())) t.dispose();
}

export interface MemoryInfo {
  /** Live tensor handles (views and parameter references each count). */
  tensors: number;
  /** Bytes held by live CPU tensor storages (from the caching allocator). */
  bytes: number;
  /** Freed bytes the allocator keeps for reuse. */
  cachedBytes: number;
  /** Most large-block bytes in use at once since start. */
  peakBytes: number;
  /** Nesting depth of tidy() at the call. */
  scopes: number;
}

export function memory(): MemoryInfo {
  const n = native();
  const a = n.allocatorStats();
  return { tensors: n.liveTensors(), bytes: a.bytesInUse, cachedBytes: a.cachedBytes, peakBytes: a.peakLargeBytes, scopes: stack.length };
}

/** Returns the allocator's cached free blocks to the operating system. */
export function emptyCache(): void {
  native().emptyCache();
}
