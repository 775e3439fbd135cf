import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { sweepAuditEvents } from '../lib/audit';
import { sweepExpiredUploads } from '../lib/direct-uploads';
import { logger } from '../lib/logger';
import { sweepEndedShares } from '../lib/shares';
import { sweepThrottleState } from '../lib/throttle';

/**
 * Scheduled (not an HTTP route): removes direct-upload plans that expired without completing,
 * with their objects and multipart uploads; audit events past AUDIT_RETENTION_DAYS; ended
 * throttle windows and expired CAPTCHA challenges; and share links that can never open again.
 */
export const handler = middy()
  .use(injectLambdaContext(logger, { logEvent: false }))
  .handler(async () => {
    const removed = await sweepExpiredUploads();
    const auditEvents = await sweepAuditEvents();
    const throttleRows = await sweepThrottleState();
    const shares = await sweepEndedShares();
    logger.info('Swept expired uploads, old audit events, ended throttle windows and ended shares', { removed, auditEvents, throttleRows, shares });
    return { removed };
  });
