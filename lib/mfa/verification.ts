import { admitAttempt } from '../abuse-protection';
import { recordAuditEvent } from '../audit';
import { issueTokenPair, type TokenPair } from '../auth/refresh-tokens';
import { HttpError, unauthorized } from '../http/errors';
import type { RequestOrigin } from '../request-origin';
import { findMfaChallengeUser, recordMfaChallengeFailure, redeemMfaChallenge } from './challenges';
import { admitCodeAttempt, codeFailed, codeSucceeded, proofOf } from './second-factor';
import { findTotp } from './store';

export interface MfaVerification {
  readonly mfa_token: string;
  readonly code: string;
  readonly captcha?: string | undefined;
}

const deadToken = () => unauthorized('Invalid or expired MFA token');

/**
 * The second step of a login with MFA on: a live mfa_token and a TOTP or recovery code answer
 * the same token pair (and session) as a login without MFA. A wrong code is 400 "Invalid
 * code", one failure against the token (dead after 5), the user and the address; an unknown,
 * expired or dead token is 401. Per-address refusals (429) come before anything else.
 */
export async function verifyMfaLogin(input: MfaVerification, origin: RequestOrigin): Promise<TokenPair> {
  const userId = await findMfaChallengeUser(input.mfa_token);
  if (!userId) {
    await admitAttempt({ ip: origin.ip }); // a refused address hears 429 whatever it sends
    throw deadToken();
  }
  let admitted;
  try {
    admitted = await admitCodeAttempt(userId, origin, input.captcha);
  } catch (error) {
    if (error instanceof HttpError && error.status === 429) {
      await recordAuditEvent({ type: 'auth.login.failed', userId, details: { reason: 'throttled' } }, origin);
    }
    throw error;
  }
  const record = await findTotp(userId);
  // MFA turned off meanwhile ends its pending logins; the token cannot be worth anything now.
  if (!record?.enabledAt) throw deadToken();

  const proof = await proofOf(userId, record, input.code, { recovery: true });
  const outcome = proof ? await redeemMfaChallenge(input.mfa_token, userId, proof) : 'code_refused';
  // `token_dead`: wrong codes racing this one killed the token after it was looked up (its
  // claim was rolled back). It must answer what those wrong codes answer: a 401 here, and only
  // here, would single out the right code of a burst, still unused, for the next mfa_token.
  if (outcome !== 'redeemed') {
    await recordMfaChallengeFailure(input.mfa_token);
    await recordAuditEvent({ type: 'auth.login.failed', userId, details: { reason: 'mfa_failed' } }, origin);
    throw await codeFailed(admitted);
  }
  await codeSucceeded(admitted);
  const pair = await issueTokenPair(userId, origin);
  await recordAuditEvent({ type: 'auth.login.succeeded', userId, details: { mfa: proof?.kind === 'recovery' ? 'recovery_code' : 'totp' } }, origin);
  return pair;
}
