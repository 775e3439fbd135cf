/**
 * What a call costs besides its wall time: garbage-collection pauses that fell inside it, the
 * page faults (fresh memory) and the CPU time it took. CPU time says less about a neighbour
 * taking the CPU than wall time does, which matters on a shared machine. With one call in flight at a time, a GC entry is
 * charged to the call whose time window holds its start.
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import type { Task } from './timing';

interface Window {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly faults: number;
  readonly cpuMs: number;
}

export interface CallCosts {
  readonly gcMs: number[];
  readonly faults: number[];
  readonly cpuMs: number[];
}

export interface ResourceMeter {
  /** `task`, recording its window and page faults under `name`. */
  wrap(name: string, task: Task): Task;
  /** Per call, in call order: milliseconds of GC pauses, minor page faults, and CPU milliseconds of the whole process (all threads). */
  results(name: string): CallCosts;
  stop(): void;
}

export function meterResources(): ResourceMeter {
  const windows: Window[] = [];
  const gcs: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    wrap: (name, task) => async () => {
      const before = process.resourceUsage();
      const start = performance.now();
      await task();
      const after = process.resourceUsage();
      const cpuMs = (after.userCPUTime + after.systemCPUTime - before.userCPUTime - before.systemCPUTime) / 1000;
      windows.push({ name, start, end: performance.now(), faults: after.minorPageFault - before.minorPageFault, cpuMs });
    },
    results: (name) => {
      observer.takeRecords().forEach((entry) => gcs.push(entry));
      const mine = windows.filter((window) => window.name === name);
      return {
        gcMs: mine.map((window) => gcs.filter((gc) => gc.startTime >= window.start && gc.startTime < window.end).reduce((sum, gc) => sum + gc.duration, 0)),
        faults: mine.map((window) => window.faults),
        cpuMs: mine.map((window) => window.cpuMs),
      };
    },
    stop: () => observer.disconnect(),
  };
}
