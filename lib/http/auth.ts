import { verifyToken } from '../auth/tokens';
import { findUserById, type User } from '../users';
import { unauthorized } from './errors';
import type { InputStep } from './handler';

const BEARER = /^Bearer +([A-Za-z0-9\-_.~+/]+=*) *$/i;

/**
 * Requires `Authorization: Bearer <access token>` naming a user that still exists; the
 * handler gets `user`. Missing credentials are 401 (not the 403 of old FastAPI versions);
 * every 401 carries the `WWW-Authenticate: Bearer` challenge.
 */
export const bearerAuth: InputStep<User> = {
  read: async ({ event }) => {
    const header = event.headers?.authorization;
    if (!header) throw unauthorized('Not authenticated');
    const token = BEARER.exec(header)?.[1];
    if (!token) throw unauthorized('Could not validate credentials', 'invalid_token');
    const claims = await verifyToken(token, 'access');
    const user = findUserById(claims.sub);
    if (!user) throw unauthorized('Could not validate credentials', 'invalid_token');
    return user;
  },
};
