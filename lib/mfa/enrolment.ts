import { recordAuditEvent } from '../audit';
import { getConfig } from '../config';
import { HttpError } from '../http/errors';
import type { RequestOrigin } from '../request-origin';
import type { User } from '../users';
import { hashRecoveryCode, newRecoveryCodes } from './recovery-codes';
import { admitCodeAttempt, codeFailed, codeSucceeded, proofOf } from './second-factor';
import { sealSecret } from './secret-box';
import { claimRecoveryCode, claimTotpStep, deleteTotp, enableTotp, findTotp, savePendingTotp } from './store';
import { newTotpSecret, otpauthUrl } from './totp';

/** `POST /auth/mfa/totp`'s answer: shown once, for the authenticator app. */
export interface TotpEnrolment {
  readonly secret: string;
  readonly otpauth_url: string;
}

const alreadyEnabled = () => new HttpError(409, 'MFA is already enabled');

/**
 * Starts (or restarts) TOTP enrolment: a fresh secret, sealed, pending until confirmed. A
 * pending secret from an earlier start is replaced; with MFA already on, 409.
 */
export async function startTotpEnrolment(user: User): Promise<TotpEnrolment> {
  if ((await findTotp(user.id))?.enabledAt) throw alreadyEnabled();
  const secret = newTotpSecret();
  if (!(await savePendingTotp(user.id, await sealSecret(secret, user.id)))) throw alreadyEnabled();
  return { secret, otpauth_url: otpauthUrl(secret, user.email, getConfig().mfa.issuer) };
}

/**
 * Confirms enrolment with a first TOTP code (recovery codes do not exist yet): MFA is on, and
 * the answer carries the recovery codes, the only time they are ever shown. A wrong code is a
 * throttling failure.
 */
export async function confirmTotpEnrolment(user: User, code: string, origin: RequestOrigin): Promise<{ recovery_codes: string[] }> {
  const record = await findTotp(user.id);
  if (record?.enabledAt) throw alreadyEnabled();
  if (!record) throw new HttpError(409, 'No MFA enrolment is pending: start one with POST /auth/mfa/totp');
  const admitted = await admitCodeAttempt(user.id, origin);
  const proof = await proofOf(user.id, record, code, { recovery: false });
  if (proof?.kind !== 'totp') throw await codeFailed(admitted);
  const codes = newRecoveryCodes();
  // False when a racing confirmation or a new enrolment got there first.
  if (!(await enableTotp(user.id, record.sealed, proof.step, codes.map(hashRecoveryCode)))) {
    throw new HttpError(409, 'The enrolment changed meanwhile: start again');
  }
  await codeSucceeded(admitted);
  await recordAuditEvent({ type: 'auth.mfa.enabled', userId: user.id, details: { method: 'totp' } }, origin);
  return { recovery_codes: codes };
}

/** Turns MFA off with a TOTP or recovery code (which counts as used); a wrong code is a throttling failure. */
export async function disableTotp(user: User, code: string, origin: RequestOrigin): Promise<void> {
  const record = await findTotp(user.id);
  if (!record?.enabledAt) throw new HttpError(409, 'MFA is not enabled');
  const admitted = await admitCodeAttempt(user.id, origin);
  const proof = await proofOf(user.id, record, code, { recovery: true });
  const claimed = proof && (proof.kind === 'totp' ? await claimTotpStep(user.id, proof.step) : await claimRecoveryCode(user.id, proof.codeHash));
  if (!claimed) throw await codeFailed(admitted);
  await deleteTotp(user.id);
  await codeSucceeded(admitted);
  await recordAuditEvent({ type: 'auth.mfa.disabled', userId: user.id, details: { method: proof.kind === 'totp' ? 'totp' : 'recovery_code' } }, origin);
}
