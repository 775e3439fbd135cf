import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { storableText } from './db/database';

/** Who sent a request, as audit events and abuse counters record it. */
export interface RequestOrigin {
  /** API Gateway's `requestContext.http.sourceIp` (the local runtime sets it from the socket); never `X-Forwarded-For`. */
  readonly ip: string;
  readonly userAgent: string | undefined;
  /** The request id clients see as the problem `instance`. */
  readonly requestId: string;
}

/** Longest user agent kept: the header is the client's to fill. */
const USER_AGENT_MAX = 512;

export function requestOrigin(event: APIGatewayProxyEventV2, requestId: string): RequestOrigin {
  // Without NUL: PostgreSQL would refuse the audit row (a 500), SQLite keep it (storableText).
  const raw = event.requestContext?.http?.userAgent || event.headers?.['user-agent'];
  const userAgent = raw === undefined ? undefined : storableText(raw);
  return {
    ip: event.requestContext?.http?.sourceIp || 'unknown',
    userAgent: userAgent ? userAgent.slice(0, USER_AGENT_MAX) : undefined,
    requestId,
  };
}
