import { getConfig } from '../config';
import { createClamdScanner } from './clamd';
import { guardDutyScanner } from './guardduty';
import { noneScanner } from './none';
import type { Scanner } from './scanner';

let current: Scanner | undefined;

/**
 * The scanner of this container, chosen by `SCANNER` on first use: `none` (default), `clamd`
 * (`CLAMD_HOST`, `CLAMD_PORT`, `CLAMD_TIMEOUT_MS`) or `guardduty` (asynchronous: see
 * {@link Scanner} for what callers do with each). All three are small (clamd needs only
 * `node:net`), so they are imported here rather than loaded lazily.
 */
export function getScanner(): Scanner {
  current ??= createScanner();
  return current;
}

/** Forgets the scanner, so the next {@link getScanner} reads the configuration again (tests). */
export function resetScanner(): void {
  current = undefined;
}

function createScanner(): Scanner {
  const { scanner } = getConfig();
  switch (scanner.backend) {
    case 'none':
      return noneScanner;
    case 'clamd':
      return createClamdScanner(scanner.clamd);
    case 'guardduty':
      return guardDutyScanner;
  }
}
