import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from '../lib/logger';
import { deliverQueuedMail } from '../lib/mail/ses';

/**
 * SQS-triggered (not an HTTP route), outside the VPC: sends the mail the VPC functions queued
 * (lib/mail, transport `ses`) with SES. A message SES refuses or that times out is reported as
 * a batch item failure, so SQS retries only that one, and after its last receive moves it to
 * the dead-letter queue (with an alarm); the others of the batch are done.
 */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger, { logEvent: false })) // never log the event: it holds one-time links
  .handler(async (event) => {
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      try {
        await deliverQueuedMail(record.body);
      } catch (error) {
        logger.warn('SES did not take a queued mail; SQS will retry it', { messageId: record.messageId, error: error as Error });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  });
