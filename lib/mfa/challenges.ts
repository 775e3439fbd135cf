import { createHash, randomBytes } from 'node:crypto';
import { getDb, type Queryable } from '../db/connection';
import { isoSeconds } from '../time';
import { CLAIM_RECOVERY_CODE_SQL, CLAIM_TOTP_STEP_SQL } from './store';

/**
 * Pending MFA logins: a correct password on an account with MFA on yields an opaque
 * `mfa_token` (256 random bits, base64url), stored only as its SHA-256 with the user, an expiry
 * and a count of wrong codes. It is worth one token pair, and nothing after
 * {@link MFA_TOKEN_MAX_FAILURES} wrong codes or {@link MFA_TOKEN_TTL_SECONDS}.
 */

export const MFA_TOKEN_TTL_SECONDS = 300;
export const MFA_TOKEN_MAX_FAILURES = 5;

/** What a login with MFA on answers instead of tokens. */
export interface MfaChallenge {
  readonly mfa_required: true;
  readonly mfa_token: string;
  readonly expires_in: number;
}

const hashMfaToken = (token: string): string => createHash('sha256').update(token).digest('hex');
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export async function startMfaChallenge(userId: string): Promise<MfaChallenge> {
  const token = randomBytes(32).toString('base64url');
  await getDb().run('INSERT INTO mfa_challenges (token_hash, user_id, expires_at) VALUES (?, ?, ?)', hashMfaToken(token), userId, nowSeconds() + MFA_TOKEN_TTL_SECONDS);
  return { mfa_required: true, mfa_token: token, expires_in: MFA_TOKEN_TTL_SECONDS };
}

/** The user a live mfa_token belongs to (known, not expired, not dead), or undefined. */
export async function findMfaChallengeUser(token: string): Promise<string | undefined> {
  const row = await getDb().get<{ user_id: string }>(
    'SELECT user_id FROM mfa_challenges WHERE token_hash = ? AND expires_at > ? AND failures < ?',
    hashMfaToken(token),
    nowSeconds(),
    MFA_TOKEN_MAX_FAILURES,
  );
  return row?.user_id;
}

/** What proves the second factor: a TOTP code's time step, or a recovery code's hash. */
export type SecondFactorProof = { readonly kind: 'totp'; readonly step: number } | { readonly kind: 'recovery'; readonly codeHash: string };

/**
 * Completes an MFA login in one transaction: the code is claimed (a TOTP step newer than the
 * last one used, or an unused recovery code) and the token used up, or neither happens.
 * `code_refused`: the code was already used (a replay, a racing request) or is no recovery
 * code of the user, so nothing changed; `token_dead`: the
 * token died meanwhile (a racing request), so the claim was rolled back.
 */
export async function redeemMfaChallenge(token: string, userId: string, proof: SecondFactorProof): Promise<'redeemed' | 'code_refused' | 'token_dead'> {
  const redeem = async (tx: Queryable) => {
    const claimed =
      proof.kind === 'totp'
        ? (await tx.run(CLAIM_TOTP_STEP_SQL, proof.step, userId, proof.step)).changes
        : (await tx.run(CLAIM_RECOVERY_CODE_SQL, isoSeconds(), userId, proof.codeHash)).changes;
    if (claimed !== 1) return 'code_refused' as const;
    const consumed = (
      await tx.run(
        'DELETE FROM mfa_challenges WHERE token_hash = ? AND user_id = ? AND expires_at > ? AND failures < ?',
        hashMfaToken(token),
        userId,
        nowSeconds(),
        MFA_TOKEN_MAX_FAILURES,
      )
    ).changes;
    if (consumed !== 1) throw new TokenDied();
    return 'redeemed' as const;
  };
  try {
    return await getDb().transaction(redeem);
  } catch (error) {
    if (error instanceof TokenDied) return 'token_dead';
    throw error;
  }
}

/** Rolls {@link redeemMfaChallenge}'s transaction back. */
class TokenDied extends Error {}

/** One more wrong code against the token (atomic: racing wrong codes each count). */
export async function recordMfaChallengeFailure(token: string): Promise<void> {
  await getDb().run('UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = ?', hashMfaToken(token));
}

/**
 * Ends every pending MFA login of the user (a password reset or change): an mfa_token proves
 * the password that was current when it was issued, so it must not outlive that password.
 */
export async function endMfaChallengesInTransaction(tx: Queryable, userId: string): Promise<void> {
  await tx.run('DELETE FROM mfa_challenges WHERE user_id = ?', userId);
}

/** Deletes expired tokens (dead ones go when they expire); resolves with how many. */
export async function sweepMfaChallenges(now: Date = new Date()): Promise<number> {
  return (await getDb().run('DELETE FROM mfa_challenges WHERE expires_at <= ?', Math.floor(now.getTime() / 1000))).changes;
}
