import { createCaptchaChallenge } from '../lib/captcha-challenge';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';

/**
 * GET /auth/captcha: a fresh ALTCHA challenge (altcha-lib's createChallenge), valid 10 minutes.
 * Solve it and send the payload as `captcha` to login or register.
 */
export const handler = httpHandler({}, async () => ok(await createCaptchaChallenge()));
