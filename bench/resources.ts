/**
 * What a call costs besides its wall time: garbage-collection pauses that fell inside it and
 * the page faults (fresh memory) it caused. With one call in flight at a time, a GC entry is
 * charged to the call whose time window holds its start.
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import type { Task } from './timing';

interface Window {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly faults: number;
}

export interface ResourceMeter {
  /** `task`, recording its window and page faults under `name`. */
  wrap(name: string, task: Task): Task;
  /** Per call: milliseconds of GC pauses and minor page faults, in call order. */
  results(name: string): { gcMs: number[]; faults: number[] };
  stop(): void;
}

export function meterResources(): ResourceMeter {
  const windows: Window[] = [];
  const gcs: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    wrap: (name, task) => async () => {
      const faults = process.resourceUsage().minorPageFault;
      const start = performance.now();
      await task();
      windows.push({ name, start, end: performance.now(), faults: process.resourceUsage().minorPageFault - faults });
    },
    results: (name) => {
      observer.takeRecords().forEach((entry) => gcs.push(entry));
      const mine = windows.filter((window) => window.name === name);
      return {
        gcMs: mine.map((window) => gcs.filter((gc) => gc.startTime >= window.start && gc.startTime < window.end).reduce((sum, gc) => sum + gc.duration, 0)),
        faults: mine.map((window) => window.faults),
      };
    },
    stop: () => observer.disconnect(),
  };
}
