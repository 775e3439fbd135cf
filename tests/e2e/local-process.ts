/**
 * Runs `npm start`'s command (`node --import tsx infra/local/main.ts`) as a child process, the way a user
 * does, and watches what it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isProductVariable } from '../helpers/product-env';
import { testDialect, useFreshDatabase } from '../helpers/runtime';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/**
 * What `npm start` runs: one Node process with tsx as its loader. Not the `tsx` command, whose
 * parent process relays Ctrl-C and SIGKILLs the server if it does not acknowledge within 30 ms
 * (a loaded machine exits 130 instead of shutting down cleanly).
 */
const START_ARGS = ['--import', 'tsx', 'infra/local/main.ts'];

/** The `npm start` script, as the README tells users to run it (the e2e suites check they agree). */
export const START_COMMAND = `node ${START_ARGS.join(' ')}`;

/**
 * `process.env` without any product setting (jest's setup file or the caller's shell may hold
 * some; a user starting fresh has none), plus exactly `overrides`.
 */
export function cleanEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !isProductVariable(name)) env[name] = value;
  }
  return { ...env, ...overrides };
}

export interface LocalProcess {
  readonly child: ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited(timeoutMs: number): Promise<number | string>;
  /** Ctrl-C: SIGINT to the whole process group, as a terminal sends it. */
  interrupt(): void;
  /** Last resort cleanup: SIGKILL to the process group, if it is still running. */
  kill(): void;
  /**
   * Resolves with the processes of the group (the node process, esbuild's
   * service) still running after `timeoutMs`: empty once they have all gone. They exit one
   * after another (esbuild's service only notices its parent's exit when its stdin closes), so
   * one look right after the server exits can still see them; zombies waiting for a reaper (in a
   * container whose PID 1 reaps nothing) have exited and do not count.
   */
  groupRemains(timeoutMs: number): Promise<string[]>;
}

/** Running (not zombie) processes whose process group is `pgid`, as `pid command` strings. */
function runningInGroup(pgid: number): string[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    // No /proc (macOS): a signal 0 to the group says whether any member, zombie or not, exists.
    try {
      process.kill(-pgid, 0);
      return [`group ${pgid}`];
    } catch {
      return [];
    }
  }
  const running: string[] = [];
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const close = stat.lastIndexOf(')');
    const [state, , pgrp] = stat.slice(close + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') running.push(`${pid} ${stat.slice(stat.indexOf('(') + 1, close)}`);
  }
  return running;
}

export function startLocalProcess(env: NodeJS.ProcessEnv): LocalProcess {
  // Its own process group, so a signal reaches every process it starts, like Ctrl-C.
  const child = spawn(process.execPath, START_ARGS, { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);

  let exitResult: number | string | undefined;
  const exitPromise = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitResult = code ?? signal ?? 'unknown';
      for (const listener of listeners) listener();
      resolve(exitResult);
    });
  });

  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the whole group is gone already
    }
  };

  return {
    child,
    output: () => text,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = pattern.exec(text);
          if (found) return done(() => resolve(found));
          if (exitResult !== undefined) return done(() => reject(new Error(`exited (${exitResult}) before printing ${pattern}:\n${text}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${text}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      }),
    exited: (timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`still running ${timeoutMs} ms later:\n${text}`)), timeoutMs);
        void exitPromise.then((result) => {
          clearTimeout(timer);
          resolve(result);
        });
      }),
    interrupt: () => signalGroup('SIGINT'),
    kill: () => signalGroup('SIGKILL'),
    groupRemains: async (timeoutMs) => {
      if (child.pid === undefined) return [];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const running = runningInGroup(child.pid);
        if (running.length === 0 || Date.now() >= deadline) return running;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

/**
 * The database settings for a runtime an end-to-end suite starts. On SQLite: none, so the
 * runtime uses its default file in DATA_DIR, as a user's `npm start` does. In the `postgres`
 * project: `DATABASE_URL` of a fresh database on the suite's PostgreSQL, so the same flows run
 * with `DATABASE_URL=postgres://... npm start`.
 */
export async function runtimeDatabaseEnv(): Promise<Record<string, string>> {
  if (testDialect() !== 'postgres') return {};
  const url = await useFreshDatabase();
  delete process.env.DATABASE_URL; // the runtime's, not this test process's
  return { DATABASE_URL: url };
}

/** Starts `npm start`'s command and resolves once it says it is ready, with its API URL. */
export async function startReadyRuntime(env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<{ server: LocalProcess; api: string }> {
  const server = startLocalProcess(env);
  await server.waitFor(/^Ready\. Press Ctrl-C to stop\.$/m, timeoutMs);
  const api = /^API:\s+(http:\/\/\S+)$/m.exec(server.output())?.[1];
  if (!api) throw new Error(`no API URL in:\n${server.output()}`);
  return { server, api };
}
