import { HttpError } from '../http/errors';
import { ScannerUnavailableError, ScanTooLargeError } from './scanner';

/** How long a client should wait before retrying while the scanner is down (`Retry-After`). */
export const SCANNER_RETRY_AFTER_SECONDS = 30;

/**
 * The problem a failed scan answers, for callers to throw (`catch (e) { throw asScanProblem(e) }`):
 *
 * - {@link ScannerUnavailableError}: 503 "Scanner unavailable" with `Retry-After`. Fail closed:
 *   nothing is stored, and a retry can succeed once the scanner is back.
 * - {@link ScanTooLargeError}: 413 "The file is too large to scan", without `Retry-After`,
 *   since the same bytes will never fit; nothing is stored either.
 *
 * Any other error comes back unchanged (a 500 unless it already is an HttpError). The scan
 * error stays the `cause`, so the log line says what happened while the body says nothing.
 */
export function asScanProblem(error: unknown): unknown {
  if (error instanceof ScannerUnavailableError) {
    return new HttpError(503, 'Scanner unavailable', {
      headers: { 'Retry-After': String(SCANNER_RETRY_AFTER_SECONDS) },
      cause: error,
    });
  }
  if (error instanceof ScanTooLargeError) return new HttpError(413, 'The file is too large to scan', { cause: error });
  return error;
}
