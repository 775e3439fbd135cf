/**
 * Debian's Chromium for the browser tests, driven by playwright-core (which downloads no browser
 * of its own). `.ci/run` installs it; `CHROMIUM_PATH` may name another build.
 */
import fs from 'node:fs';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The Chromium binary, or undefined when none is installed. */
export const CHROMIUM_BINARY: string | undefined = CANDIDATES.find((file): file is string => {
  if (!file) return false;
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

/**
 * `describe` when Chromium is installed; otherwise the suite is skipped with one line that says
 * how to get it. Never skipped in CI (`CI` set): `.ci/run` installs it, and a missing one fails
 * the suite there instead of passing it silently.
 */
export const describeWithChromium: jest.Describe =
  CHROMIUM_BINARY || process.env.CI
    ? describe
    : (() => {
        process.stderr.write('Chromium not found (/usr/bin/chromium): skipping the browser suites; install it with `apt-get install chromium`\n');
        return describe.skip;
      })();

/** Flags for a headless run in a container (root, small /dev/shm). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'];
