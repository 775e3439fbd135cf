import { admitAttempt, recordFailedAttempt, recordSucceededAttempt, userAccount, type AdmittedAttempt } from '../abuse-protection';
import { HttpError } from '../http/errors';
import type { RequestOrigin } from '../request-origin';
import type { SecondFactorProof } from './challenges';
import { hashRecoveryCode, isRecoveryCode, normalizeRecoveryCode } from './recovery-codes';
import { openSecret } from './secret-box';
import type { TotpRecord } from './store';
import { matchTotpStep } from './totp';

/** The one answer to a wrong code, whatever was wrong with it. */
export const invalidCode = (): HttpError => new HttpError(400, 'Invalid code');

/**
 * What a code proves for a user with this TOTP record: a TOTP code's (unused) time step, or,
 * when `recovery` allows it, the hash of what looks like a recovery code (whether it is one of
 * the user's unused codes is decided when it is claimed). Undefined when it proves nothing.
 */
export async function proofOf(userId: string, record: TotpRecord, code: string, options: { readonly recovery: boolean }): Promise<SecondFactorProof | undefined> {
  const trimmed = code.trim();
  const digits = trimmed.replace(/ /g, '');
  if (/^\d{6}$/.test(digits)) {
    const secret = await openSecret(record.sealed, userId);
    const step = matchTotpStep(secret, digits, record.lastUsedStep);
    return step === undefined ? undefined : { kind: 'totp', step };
  }
  const normalized = normalizeRecoveryCode(trimmed);
  if (options.recovery && isRecoveryCode(normalized)) return { kind: 'recovery', codeHash: hashRecoveryCode(normalized) };
  return undefined;
}

/**
 * The abuse policy around a code check on an authenticated route or the verify step: refused
 * past the per-IP or per-user limit, and a wrong code counts for both.
 */
export async function admitCodeAttempt(userId: string, origin: RequestOrigin, captcha?: string): Promise<AdmittedAttempt> {
  return admitAttempt({ ip: origin.ip, account: userAccount(userId), captcha });
}

export async function codeFailed(admitted: AdmittedAttempt): Promise<HttpError> {
  await recordFailedAttempt(admitted);
  return invalidCode();
}

export const codeSucceeded = (admitted: AdmittedAttempt): Promise<void> => recordSucceededAttempt(admitted);
