import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { getSigningKey } from '../auth/signing-key';
import { verifyToken } from '../auth/tokens';
import { findUserById, type User } from '../users';
import { unauthorized } from './errors';

export interface AuthContext extends Context {
  user?: User;
}

const BEARER = /^Bearer +([A-Za-z0-9\-_.~+/]+=*) *$/i;

/**
 * Requires `Authorization: Bearer <access token>` naming a user that still exists. Missing
 * credentials are 401 (not the 403 of old FastAPI versions); every 401 carries the
 * `WWW-Authenticate: Bearer` challenge.
 */
export function bearerAuth(): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, AuthContext> {
  return {
    before: async (request) => {
      const header = request.event.headers?.authorization;
      if (!header) throw unauthorized('Not authenticated');
      const token = BEARER.exec(header)?.[1];
      if (!token) throw unauthorized('Could not validate credentials', 'invalid_token');
      const claims = verifyToken(await getSigningKey(), token, 'access');
      const user = findUserById(claims.sub);
      if (!user) throw unauthorized('Could not validate credentials', 'invalid_token');
      request.context.user = user;
    },
  };
}
