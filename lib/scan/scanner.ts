import type { Readable } from 'node:stream';

/**
 * What a scanner reads: the bytes in memory (`POST /upload`), or a Node stream for objects too
 * large to hold (a direct upload read back from storage).
 *
 * A stream passed to {@link Scanner.scan} belongs to the scanner from then on: it is read to
 * its end, or destroyed when the scan cannot finish (so an S3 response body never leaks its
 * connection). Do not read it elsewhere.
 */
export type ScanSource = Uint8Array | Readable;

/** The verdict of one scan. `signature` is the scanner's name for what it found. */
export type ScanVerdict = { readonly status: 'clean' } | { readonly status: 'infected'; readonly signature: string };

/** `SCANNER`: which backend scans uploads. */
export type ScannerBackend = 'none' | 'clamd' | 'guardduty';

/**
 * The `scan_status` a file record carries (SPEC, "Scan gate"): `unscanned` only ever with
 * backend `none`, `pending` while GuardDuty has not answered, else the inline verdict.
 */
export type ScanStatus = 'clean' | 'pending' | 'infected' | 'unscanned';

/**
 * One malware scanner. Callers look at `backend` first:
 *
 * - `none`: nothing is scanned; `scan` answers clean without reading (a stream is destroyed)
 *   and the file is recorded `unscanned`.
 * - `clamd`: `scan` answers inline; the file is `clean` or rejected as infected.
 * - `guardduty`: results arrive later through EventBridge, so there is no inline verdict;
 *   `scan` rejects (a bug, hence a 500) and the file is recorded `pending`.
 *
 * `scan` rejects with {@link ScannerUnavailableError} when the scanner cannot give a verdict
 * (callers fail closed: 503) and with {@link ScanTooLargeError} when the object exceeds what
 * the scanner accepts; an error of a stream source itself is passed through unchanged.
 */
export interface Scanner {
  readonly backend: ScannerBackend;
  scan(source: ScanSource): Promise<ScanVerdict>;
}

/**
 * The scanner could not give a verdict: unreachable, too slow, or it answered something that
 * is not a verdict. The message is for logs (it names the address and what went wrong); the
 * client only ever sees "Scanner unavailable" (see `asScanProblem`).
 */
export class ScannerUnavailableError extends Error {
  override name = 'ScannerUnavailableError';
}

/**
 * The object is larger than the scanner accepts (clamd's `StreamMaxLength`). Retrying cannot
 * help, so this is not an outage: the upload is refused (413) and nothing is kept. An operator
 * should keep the scanner's limit above every size the API accepts for inline scanning.
 */
export class ScanTooLargeError extends Error {
  override name = 'ScanTooLargeError';
}

/** The one clean verdict (verdicts are plain values; sharing it saves an allocation per scan). */
export const CLEAN: ScanVerdict = Object.freeze({ status: 'clean' });

/** Whether `source` is bytes in memory rather than a stream. */
export function isBytes(source: ScanSource): source is Uint8Array {
  return source instanceof Uint8Array;
}
