import { sweepAccountTokens } from './account-tokens';
import { sweepAuditEvents } from './audit';
import { sweepExpiredUploads } from './direct-uploads';
import { sweepMfaChallenges } from './mfa/challenges';
import { sweepEndedSessions } from './sessions';
import { sweepEndedShares } from './shares';
import { sweepThrottleState } from './throttle';

/** What one sweep removed, by kind. */
export interface SweepReport {
  /** Expired direct-upload plans (with their objects and multipart uploads). */
  readonly removed: number;
  readonly auditEvents: number;
  readonly throttleRows: number;
  /** Sessions ended or expired over a day ago, with their refresh tokens, and expired refresh tokens. */
  readonly sessionRows: number;
  /** Verification and reset tokens used or expired over a day ago. */
  readonly accountTokens: number;
  /** MFA login tokens (mfa_token) past their expiry. */
  readonly mfaTokens: number;
  /** Share links that can never open again (expired or used up). */
  readonly shares: number;
}

/**
 * The scheduled sweep: what AWS runs from functions/sweep-uploads.ts and the local runtime
 * every five minutes. Each part is independent; one that fails does not stop the others, and
 * the first failure is rethrown after all have run (so the schedule's error alarm sees it).
 */
export async function runScheduledSweep(now: Date = new Date()): Promise<SweepReport> {
  const [removed, auditEvents, throttleRows, sessionRows, accountTokens, mfaTokens, shares] = await Promise.allSettled([
    sweepExpiredUploads(now),
    sweepAuditEvents(now),
    sweepThrottleState(now),
    sweepEndedSessions(now),
    sweepAccountTokens(now),
    sweepMfaChallenges(now),
    sweepEndedShares(now),
  ]);
  const parts = [removed, auditEvents, throttleRows, sessionRows, accountTokens, mfaTokens, shares];
  const failed = parts.find((part) => part.status === 'rejected');
  if (failed) throw failed.reason;
  const value = (part: PromiseSettledResult<number>): number => (part.status === 'fulfilled' ? part.value : 0);
  return {
    removed: value(removed),
    auditEvents: value(auditEvents),
    throttleRows: value(throttleRows),
    sessionRows: value(sessionRows),
    accountTokens: value(accountTokens),
    mfaTokens: value(mfaTokens),
    shares: value(shares),
  };
}
