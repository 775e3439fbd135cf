import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { ClientInfo } from '../sessions';

/**
 * The client of a request as API Gateway reports it: `requestContext.http.sourceIp` (the TCP
 * peer API Gateway saw, not a spoofable X-Forwarded-For) and the User-Agent header.
 */
export function clientOf(event: APIGatewayProxyEventV2): ClientInfo {
  return { ip: event.requestContext?.http?.sourceIp, userAgent: event.headers?.['user-agent'] };
}
