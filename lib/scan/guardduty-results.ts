import { recordAuditEvent } from '../audit';
import { getConfig } from '../config';
import { getDb } from '../db/connection';
import { deleteObject } from '../files';
import { logger } from '../logger';

/**
 * The `detail` of a "GuardDuty Malware Protection Object Scan Result" event, as far as it is
 * used here (GuardDuty user guide, "Monitoring S3 object scans with Amazon EventBridge").
 */
export interface GuardDutyScanResultDetail {
  readonly schemaVersion?: string;
  /** `COMPLETED`, `SKIPPED` or `FAILED`. */
  readonly scanStatus?: string;
  readonly resourceType?: string;
  readonly s3ObjectDetails?: {
    readonly bucketName?: string;
    readonly objectKey?: string;
    readonly eTag?: string;
    readonly versionId?: string | null;
    readonly s3Throttled?: boolean;
  };
  readonly scanResultDetails?: {
    /** `NO_THREATS_FOUND`, `THREATS_FOUND`, `UNSUPPORTED`, `ACCESS_DENIED` or `FAILED`. */
    readonly scanResultStatus?: string;
    readonly threats?: ReadonlyArray<{ readonly name?: string }> | null;
  };
}

/** The EventBridge envelope (only `id` and `detail` are read). */
export interface GuardDutyScanResultEvent {
  readonly version?: string;
  readonly id?: string;
  readonly 'detail-type'?: string;
  readonly source?: string;
  readonly account?: string;
  readonly time?: string;
  readonly region?: string;
  readonly resources?: readonly string[];
  readonly detail?: GuardDutyScanResultDetail;
}

/** What one result did to the files table and the bucket. */
export type ScanResultOutcome = 'clean' | 'infected' | 'ignored';

/**
 * Records one GuardDuty verdict on the file whose object it scanned (by key):
 *
 * - `NO_THREATS_FOUND`: a pending file becomes `clean`, hence servable (its object now carries
 *   the tag the bucket policy wants for reads).
 * - `THREATS_FOUND`: the object is deleted whoever it belongs to (a staging object too: it can
 *   then never be completed), and a file on that key becomes `infected` with `file.infected`
 *   audited for its owner. The row stays, so the owner sees what became of the upload.
 * - anything else (skipped, unsupported, access denied, failed): logged; the file stays
 *   `pending`, so it is never served, and its owner can delete it.
 *
 * Idempotent (EventBridge delivers at least once): a file that already has its verdict is not
 * touched again, and deleting a deleted object succeeds.
 */
export async function recordGuardDutyResult(event: GuardDutyScanResultEvent): Promise<ScanResultOutcome> {
  const detail = event.detail ?? {};
  const bucket = detail.s3ObjectDetails?.bucketName;
  const key = detail.s3ObjectDetails?.objectKey;
  const result = detail.scanResultDetails?.scanResultStatus;
  if (!key || bucket !== getConfig().s3.bucket) {
    logger.warn('GuardDuty scan result for another bucket or without a key; ignored', { bucket, key });
    return 'ignored';
  }
  if (result === 'NO_THREATS_FOUND') {
    const changed = (await getDb().run(`UPDATE files SET scan_status = 'clean' WHERE key = ? AND scan_status = 'pending'`, key)).changes;
    logger.info('GuardDuty found no threats', { key, fileUpdated: changed === 1 });
    return 'clean';
  }
  if (result === 'THREATS_FOUND') {
    const threats = (detail.scanResultDetails?.threats ?? []).map((threat) => threat.name ?? 'unknown').join(', ') || 'unknown';
    // The object first: malware must not stay readable while the database is being updated.
    await deleteObject(key);
    const file = (await getDb().get(`SELECT id, owner_id, filename, size FROM files WHERE key = ? AND scan_status <> 'infected'`, key)) as
      | { id: string; owner_id: string; filename: string; size: number }
      | undefined;
    if (file && (await getDb().run(`UPDATE files SET scan_status = 'infected' WHERE id = ? AND scan_status <> 'infected'`, file.id)).changes === 1) {
      await recordAuditEvent(
        {
          type: 'file.infected',
          userId: file.owner_id,
          details: { file_id: file.id, filename: file.filename, size: file.size, signature: threats, scanner: 'guardduty' },
        },
        { ip: 'aws.guardduty', userAgent: undefined, requestId: event.id ?? 'guardduty' },
      );
    }
    logger.warn('GuardDuty found threats; object deleted', { key, threats, fileId: file?.id });
    return 'infected';
  }
  logger.warn('GuardDuty gave no verdict; the file stays pending and is not served', { key, scanStatus: detail.scanStatus, result });
  return 'ignored';
}
