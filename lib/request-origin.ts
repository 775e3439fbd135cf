import type { APIGatewayProxyEventV2 } from 'aws-lambda';

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

/**
 * NUL: PostgreSQL text cannot hold it (the insert fails, so the audited request would be a
 * 500), and SQLite would keep it; dropped, so both engines record the same user agent.
 */
const NUL = /\u0000/g;

export function requestOrigin(event: APIGatewayProxyEventV2, requestId: string): RequestOrigin {
  const userAgent = (event.requestContext?.http?.userAgent || event.headers?.['user-agent'])?.replace(NUL, '');
  return {
    ip: event.requestContext?.http?.sourceIp || 'unknown',
    userAgent: userAgent ? userAgent.slice(0, USER_AGENT_MAX) : undefined,
    requestId,
  };
}
