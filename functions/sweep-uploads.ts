import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '../lib/logger';
import { runScheduledSweep } from '../lib/sweep';

/**
 * Scheduled (not an HTTP route): removes direct-upload plans that expired without completing,
 * with their objects and multipart uploads; audit events past AUDIT_RETENTION_DAYS; ended
 * throttle windows and expired CAPTCHA challenges; sessions and refresh tokens, verification
 * and reset tokens over a day past their end; expired MFA login tokens; share links that can never open again (lib/sweep.ts).
 */
export const handler = middy()
  .use(injectLambdaContext(logger, { logEvent: false }))
  .handler(async () => {
    const report = await runScheduledSweep();
    logger.info('Swept expired uploads, old audit events, ended throttle windows, sessions and account tokens', { ...report });
    return { removed: report.removed };
  });
