/** Wall-clock timing of async work, interleaved so that drift hits every series alike. */

export type Task = () => Promise<void>;

/** Milliseconds `task` takes, from a monotonic clock. */
export async function timeMs(task: Task): Promise<number> {
  const started = process.hrtime.bigint();
  await task();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export interface InterleaveOptions {
  /** Timed runs of each task. */
  readonly iterations: number;
  /** Untimed runs of each task first (JIT, connection pools, SQLite page cache). */
  readonly warmup: number;
  /** Runs of one task back to back before switching to the next; 1 alternates every call. */
  readonly batch?: number;
}

/**
 * Runs the tasks in rounds of `batch` calls each, rotating which one goes first every round,
 * so slow drift (thermal, a neighbour's job, GC pressure building up) lands on all of them
 * equally instead of on whichever ran last. One call in flight at a time.
 */
export async function interleave<K extends string>(tasks: Readonly<Record<K, Task>>, options: InterleaveOptions): Promise<Record<K, number[]>> {
  const names = Object.keys(tasks) as K[];
  const batch = Math.max(1, options.batch ?? 1);
  for (const name of names) for (let i = 0; i < options.warmup; i += 1) await tasks[name]();

  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; samples[names[0] as K].length < options.iterations; round += 1) {
    const order = names.map((_, index) => names[(index + round) % names.length] as K);
    for (const name of order) {
      const count = Math.min(batch, options.iterations - samples[name].length);
      for (let i = 0; i < count; i += 1) samples[name].push(await timeMs(tasks[name]));
    }
  }
  return samples;
}
