import { getDb, type Queryable } from '../db/connection';
import { isoSeconds } from '../time';
import type { SealedSecret } from './secret-box';

/**
 * The MFA repository: TOTP secrets (sealed) and recovery codes (hashed), through async
 * functions so a PostgreSQL implementation can stand behind the same interface. Every
 * check-and-set is one conditional statement (`UPDATE ... WHERE`, `ON CONFLICT ... WHERE`),
 * which is the same SQL in both dialects and decides races without a read lock.
 */

export interface TotpRecord {
  readonly sealed: SealedSecret;
  /** Null while the enrolment waits for its first code. */
  readonly enabledAt: string | null;
  readonly lastUsedStep: number | null;
}

interface TotpRow {
  secret_encrypted: string;
  key_id: string;
  enabled_at: string | null;
  last_used_step: number | null;
}

export async function findTotp(userId: string): Promise<TotpRecord | undefined> {
  const row = (await getDb().get('SELECT secret_encrypted, key_id, enabled_at, last_used_step FROM mfa_totp WHERE user_id = ?', userId)) as
    | TotpRow
    | undefined;
  return row && { sealed: { keyId: row.key_id, ciphertext: row.secret_encrypted }, enabledAt: row.enabled_at, lastUsedStep: row.last_used_step };
}

/** Whether the user has MFA on (one primary-key read: what every login with a right password pays). */
export async function totpEnabled(userId: string): Promise<boolean> {
  return (await getDb().get('SELECT 1 FROM mfa_totp WHERE user_id = ? AND enabled_at IS NOT NULL', userId)) !== undefined;
}

/**
 * Stores a pending secret, replacing an earlier pending one; false (nothing written) when MFA
 * is already on, also when that happened a moment ago in another container.
 */
export async function savePendingTotp(userId: string, sealed: SealedSecret): Promise<boolean> {
  const { changes } = await getDb().run(
    `INSERT INTO mfa_totp (user_id, secret_encrypted, key_id, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = excluded.secret_encrypted, key_id = excluded.key_id,
         created_at = excluded.created_at, last_used_step = NULL
       WHERE mfa_totp.enabled_at IS NULL`,
    userId,
    sealed.ciphertext,
    sealed.keyId,
    isoSeconds(),
  );
  return changes === 1;
}

/**
 * Turns the pending secret on, if it is still the one the code was checked against, with the
 * step of that code as used and a fresh set of recovery code hashes; false if it changed or is
 * already on (a racing confirmation or a new enrolment won).
 */
export async function enableTotp(userId: string, sealed: SealedSecret, step: number, recoveryHashes: readonly string[]): Promise<boolean> {
  return getDb().transaction(async (tx) => {
    const enabled = (
      await tx.run(
        `UPDATE mfa_totp SET enabled_at = ?, last_used_step = ?
          WHERE user_id = ? AND enabled_at IS NULL AND secret_encrypted = ? AND key_id = ?`,
        isoSeconds(),
        step,
        userId,
        sealed.ciphertext,
        sealed.keyId,
      )
    ).changes;
    if (enabled !== 1) return false;
    await tx.run('DELETE FROM mfa_recovery_codes WHERE user_id = ?', userId);
    for (const hash of recoveryHashes) await tx.run('INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)', userId, hash);
    return true;
  });
}

/** Claims a TOTP step: only a step newer than the last one accepted (shared with lib/mfa/challenges.ts). */
export const CLAIM_TOTP_STEP_SQL = `UPDATE mfa_totp SET last_used_step = ?
  WHERE user_id = ? AND enabled_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < ?)`;

/** Claims a recovery code: only an unused one of this user. */
export const CLAIM_RECOVERY_CODE_SQL = 'UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL';

/**
 * Records `step` as the newest accepted one, only if it is newer than what is recorded: of
 * two requests racing with the same code, exactly one gets true.
 */
export async function claimTotpStep(userId: string, step: number): Promise<boolean> {
  return (await getDb().run(CLAIM_TOTP_STEP_SQL, step, userId, step)).changes === 1;
}

/** Uses up a recovery code: true once, for an unused code of this user. */
export async function claimRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
  return (await getDb().run(CLAIM_RECOVERY_CODE_SQL, isoSeconds(), userId, codeHash)).changes === 1;
}

/** MFA off: the secret, the recovery codes and any login waiting for a code, in one commit. */
export async function deleteTotp(userId: string): Promise<boolean> {
  return getDb().transaction(async (tx) => {
    const removed = (await tx.run('DELETE FROM mfa_totp WHERE user_id = ? AND enabled_at IS NOT NULL', userId)).changes;
    if (removed !== 1) return false;
    await tx.run('DELETE FROM mfa_recovery_codes WHERE user_id = ?', userId);
    await tx.run('DELETE FROM mfa_challenges WHERE user_id = ?', userId);
    return true;
  });
}
