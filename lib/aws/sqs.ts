/**
 * A lean SQS `SendMessage` (AWS JSON 1.0, one signed POST through lib/aws/json-call.ts): how the
 * functions in the VPC hand mail to the mailer, without the ~290 KB SQS client in their bundles.
 */
import { callAwsJson, type AwsCallOptions, type AwsJsonService } from './json-call';

const SQS: AwsJsonService = {
  label: 'SQS',
  signingName: 'sqs',
  tracingName: 'SQS',
  endpointVariable: 'AWS_ENDPOINT_URL_SQS',
  targetPrefix: 'AmazonSQS',
  jsonVersion: '1.0',
};

/** Puts one message on a queue; resolves with its MessageId. */
export async function sendSqsMessage(queueUrl: string, body: string, options: AwsCallOptions = {}): Promise<string> {
  const what = `SQS SendMessage to ${queueUrl.split('/').pop() ?? 'the queue'}`;
  const answer = await callAwsJson(SQS, 'SendMessage', { QueueUrl: queueUrl, MessageBody: body }, what, options);
  return typeof answer.MessageId === 'string' ? answer.MessageId : '';
}
