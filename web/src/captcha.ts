import { ApiError } from './api';
import type { StatusApi } from './status';

/**
 * Solves the API's ALTCHA proof of work in the page, with altcha-lib's own solver and its Web
 * Crypto PBKDF2 (the same library the API verifies with), and answers what goes into `captcha`:
 * `base64(JSON {challenge, solution})`, as the ALTCHA widget submits it. Loaded on demand: most
 * sign-ins never need it. About a second of CPU.
 */
export async function solveCaptcha(): Promise<string> {
  const response = await fetch('/auth/captcha');
  if (!response.ok) throw new ApiError(response.status, 'Could not fetch a CAPTCHA challenge', {});
  const challenge = (await response.json()) as Parameters<typeof import('altcha-lib').solveChallenge>[0]['challenge'];
  const [{ solveChallenge }, { deriveKey }] = await Promise.all([import('altcha-lib'), import('altcha-lib/algorithms/web/pbkdf2')]);
  const solution = await solveChallenge({ challenge, deriveKey });
  if (!solution) throw new ApiError(400, 'Could not solve the CAPTCHA; please try again', {});
  return btoa(JSON.stringify({ challenge, solution }));
}

/** A refusal that a solved CAPTCHA gets past: 429 after failed logins, 400 with CAPTCHA=always. */
export function wantsCaptcha(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 429 || error.status === 400) && error.body.captcha_required === true;
}

/**
 * A call that may need a solved CAPTCHA (past a failure limit, or CAPTCHA=always): tried once
 * without, then, if the API asks for one, once more with the solution. `send` puts the solution
 * (when given) into the body's `captcha`.
 */
export async function withCaptcha<T>(status: StatusApi, send: (captcha?: string) => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    if (!wantsCaptcha(error)) throw error;
    status.info('One moment: your browser is solving a CAPTCHA…');
    return send(await solveCaptcha());
  }
}
