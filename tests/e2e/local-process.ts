/**
 * Runs `npm start`'s command (`tsx infra/local/main.ts`) as a child process, the way a user
 * does, and watches what it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { isProductVariable } from '../helpers/product-env';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

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
  /** Whether any process of the group (tsx, or the node process it started) is still running. */
  groupAlive(): boolean;
}

export function startLocalProcess(env: NodeJS.ProcessEnv): LocalProcess {
  // Its own process group, so a signal reaches tsx and the node process it runs, like Ctrl-C.
  const child = spawn(TSX, ['infra/local/main.ts'], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
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
    groupAlive: () => {
      if (child.pid === undefined) return false;
      try {
        process.kill(-child.pid, 0);
        return true;
      } catch {
        return false;
      }
    },
  };
}
