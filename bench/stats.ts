/** Summary statistics over samples in milliseconds. */

function sorted(samples: readonly number[]): number[] {
  if (samples.length === 0) throw new Error('no samples');
  return [...samples].sort((a, b) => a - b);
}

/** The p-th percentile (0-100), linearly interpolated between the nearest ranks. */
export function percentile(samples: readonly number[], p: number): number {
  const values = sorted(samples);
  const rank = (p / 100) * (values.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const lowValue = values[low] ?? 0;
  const highValue = values[high] ?? lowValue;
  return lowValue + (highValue - lowValue) * (rank - low);
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export function mean(samples: readonly number[]): number {
  if (samples.length === 0) throw new Error('no samples');
  return samples.reduce((sum, value) => sum + value, 0) / samples.length;
}

/** Megabytes (10^6 bytes) per second for `bytes` moved in `ms` milliseconds. */
export function megabytesPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}
