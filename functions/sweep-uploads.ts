import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { sweepAuditEvents } from '../lib/audit';
import { sweepExpiredUploads } from '../lib/direct-uploads';
import { logger } from '../lib/logger';
import { sweepThrottleState } from '../lib/throttle';

/**
 * Scheduled (not an HTTP route): removes direct-upload plans that expired without completing,
 * with their objects and multipart uploads; audit events past AUDIT_RETENTION_DAYS; and ended
 * throttle windows and expired CAPTCHA challenges.
 */
export const handler = middy()
  .use(injectLambdaContext(logger, { logEvent: false }))
  .handler(async () => {
    const removed = await sweepExpiredUploads();
    const auditEvents = await sweepAuditEvents();
    const throttleRows = await sweepThrottleState();
    logger.info('Swept expired uploads, old audit events and ended throttle windows', { removed, auditEvents, throttleRows });
    return { removed };
  });
