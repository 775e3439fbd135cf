import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { handler as captcha } from '../../functions/auth-captcha';
import { createTestEventV2, invoke } from './events';

/**
 * What a client does: GET /auth/captcha, solve it with altcha-lib's solver (the ALTCHA widget
 * runs the same code in workers), and encode the payload the widget submits:
 * base64(JSON {challenge, solution}).
 */
export async function solvedCaptcha(): Promise<string> {
  const answer = await invoke(captcha, createTestEventV2({ path: '/auth/captcha' }));
  if (answer.status !== 200) throw new Error(`GET /auth/captcha answered ${answer.status}`);
  const challenge = answer.body as Challenge;
  const solution = await solveChallenge({ challenge, deriveKey });
  if (!solution) throw new Error('the challenge could not be solved');
  return Buffer.from(JSON.stringify({ challenge, solution })).toString('base64');
}
