import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { getConfig } from '../config';

export function hashPassword(password: string, rounds = getConfig().bcryptRounds): Promise<string> {
  return bcrypt.hash(password, rounds);
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return bcrypt.compare(password, hash);
}

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
let dummy: { rounds: number; hash: string } | undefined;

/**
 * A well-formed hash that no password matches, at the configured cost. Comparing an unknown
 * email's password against it costs exactly what a real compare costs, so response time does
 * not reveal which emails have accounts. Built from random characters rather than by hashing,
 * so it adds nothing to a cold start.
 */
export function dummyPasswordHash(rounds = getConfig().bcryptRounds): string {
  if (dummy?.rounds !== rounds) {
    const body = Array.from(randomBytes(53), (byte) => BCRYPT_ALPHABET[byte % 64]).join('');
    dummy = { rounds, hash: `$2b$${String(rounds).padStart(2, '0')}$${body}` };
  }
  return dummy.hash;
}
