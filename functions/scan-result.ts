import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '../lib/logger';
import { type GuardDutyScanResultEvent, recordGuardDutyResult } from '../lib/scan/guardduty-results';

/**
 * EventBridge target (not an HTTP route) of "GuardDuty Malware Protection Object Scan Result"
 * events for the uploads bucket (SCANNER=guardduty): records the verdict on the file by its
 * key. A failure throws, so EventBridge's retries and the dead-letter queue keep the event.
 */
export const handler = middy<GuardDutyScanResultEvent, { outcome: string }>()
  .use(injectLambdaContext(logger, { logEvent: false }))
  .handler(async (event) => ({ outcome: await recordGuardDutyResult(event) }));
