import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { sweepExpiredUploads } from '../lib/direct-uploads';
import { logger } from '../lib/logger';

/**
 * Scheduled (not an HTTP route): removes direct-upload plans that expired without completing,
 * with their objects and multipart uploads.
 */
export const handler = middy()
  .use(injectLambdaContext(logger, { logEvent: false }))
  .handler(async () => {
    const removed = await sweepExpiredUploads();
    logger.info('Swept expired uploads', { removed });
    return { removed };
  });
