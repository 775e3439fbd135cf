import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** What a handler returns; the chain turns it into API Gateway's result. */
export interface HttpResponse {
  readonly status: number;
  /** Serialized as JSON, unless a string or Buffer with its own `Content-Type` header. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export const ok = (body: unknown, headers?: Record<string, string>): HttpResponse => ({ status: 200, body, headers });
export const created = (body: unknown, headers?: Record<string, string>): HttpResponse => ({ status: 201, body, headers });
export const noContent = (): HttpResponse => ({ status: 204 });

/**
 * Headers every API answer carries unless the handler says otherwise: nothing here is meant
 * for a shared cache, and a JSON answer must never be rendered as a document.
 */
export const API_DEFAULT_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
};

export function toApiGatewayResult(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  const headers: Record<string, string> = { ...API_DEFAULT_HEADERS, ...response.headers };
  const hasContentType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  const { body } = response;
  if (body === undefined) return { statusCode: response.status, headers };
  if (Buffer.isBuffer(body) && hasContentType) {
    return { statusCode: response.status, headers, body: body.toString('base64'), isBase64Encoded: true };
  }
  if (typeof body === 'string' && hasContentType) return { statusCode: response.status, headers, body };
  return {
    statusCode: response.status,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** 202: the request is taken; what follows (a mail) happens whether or not the client can tell. */
export const accepted = (): HttpResponse => ({ status: 202, body: { status: 'accepted' } });
