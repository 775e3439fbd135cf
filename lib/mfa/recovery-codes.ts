import { createHash, randomBytes } from 'node:crypto';

/**
 * Recovery codes: 10 per enrolment, each 80 random bits written as 16 base32 characters in
 * groups of four (`ABCD-EFGH-JKLM-NPQR`). High entropy, so a plain SHA-256 is a sound hash (no
 * slow hash needed); only hashes are stored, and each works once.
 */

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A code as typed: case, spaces and hyphens do not matter. */
export const normalizeRecoveryCode = (code: string): string => code.replace(/[\s-]/g, '').toUpperCase();

/** Whether a (normalized) code has the shape of a recovery code. */
export const isRecoveryCode = (normalized: string): boolean => /^[A-Z2-7]{16}$/.test(normalized);

export const hashRecoveryCode = (code: string): string => createHash('sha256').update(normalizeRecoveryCode(code)).digest('hex');

function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff; // at most 12 bits are pending
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)?.join('-') ?? out;
}

export const newRecoveryCodes = (): string[] => Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
