import { recordAuditEvent } from '../audit';
import { getConfig } from '../config';
import { HttpError } from '../http/errors';
import type { RequestOrigin } from '../request-origin';
import { asScanProblem } from './problems';
import type { Scanner, ScannerBackend, ScanSource, ScanStatus, ScanVerdict } from './scanner';

/**
 * The scan gate on both upload paths (SPEC "Scanning"): what a file's `scan_status` starts as,
 * what may be scanned at all, and how a verdict becomes an answer. The callers keep the order
 * that makes "nothing kept" true: scan before anything is stored (`POST /upload`), or scan the
 * verified object and delete it on a refusal (a direct upload's completion).
 */

/**
 * `scan_status` of a file stored under `backend` once its inline scan (where there is one) passed: clamd
 * answered clean; GuardDuty answers later (pending until the EventBridge result); none scans
 * nothing. A direct-upload plan starts `pending` with either scanner, since nothing has been
 * scanned when it is planned.
 */
export function storedScanStatus(backend: ScannerBackend): Exclude<ScanStatus, 'infected'> {
  switch (backend) {
    case 'clamd':
      return 'clean';
    case 'guardduty':
      return 'pending';
    case 'none':
      return 'unscanned';
  }
}

/** The `scan_status` a planned (not yet uploaded) direct upload is recorded with. */
export const plannedScanStatus = (backend: ScannerBackend): ScanStatus => (backend === 'none' ? 'unscanned' : 'pending');

/**
 * 413 "The file is too large to scan" when `size` exceeds `SCAN_MAX_BYTES` with an inline
 * scanner (clamd): such a file could be uploaded but never scanned, so it is refused before
 * any bytes are sent (at planning for direct uploads). GuardDuty and none have no such limit.
 */
export function assertScannable(scanner: Scanner, size: number): void {
  if (scanner.backend !== 'clamd') return;
  const limit = getConfig().scanner.maxBytes;
  if (size > limit) throw new HttpError(413, `The file is too large to scan: at most ${limit} bytes (SCAN_MAX_BYTES)`);
}

/** Scans inline; a scan that gives no verdict throws its problem (503 unavailable, 413 too large). */
export async function scanOrFail(scanner: Scanner, source: ScanSource): Promise<ScanVerdict> {
  try {
    return await scanner.scan(source);
  } catch (error) {
    throw asScanProblem(error);
  }
}

export interface InfectedFile {
  readonly ownerId: string;
  readonly fileId: string;
  readonly filename: string;
  readonly size: number;
  /** A direct upload (completion) rather than `POST /upload`. */
  readonly direct?: boolean;
}

/**
 * Records `file.infected` for the owner and returns the 422 "Malware detected" to throw. The
 * signature goes to the audit log (the owner sees it in `GET /auth/events`), not the body.
 */
export async function malwareDetected(signature: string, file: InfectedFile, origin: RequestOrigin): Promise<HttpError> {
  await recordAuditEvent(
    {
      type: 'file.infected',
      userId: file.ownerId,
      details: { file_id: file.fileId, filename: file.filename, size: file.size, signature, ...(file.direct ? { direct: true } : {}) },
    },
    origin,
  );
  return new HttpError(422, 'Malware detected');
}
