import { verifyToken } from '../auth/tokens';
import { findUserBySession, type AccountUser } from '../users';
import { unauthorized } from './errors';
import type { InputStep } from './handler';

const BEARER = /^Bearer +([A-Za-z0-9\-_.~+/]+=*) *$/i;

/** The caller: the user, and the session (`sid`) the access token belongs to. */
export interface AuthenticatedUser extends AccountUser {
  readonly sessionId: string;
}

/**
 * Requires `Authorization: Bearer <access token>` whose session is live and whose user still
 * exists; the handler gets `user`. Missing credentials are 401 (not the 403 of old FastAPI
 * versions); every 401 carries the `WWW-Authenticate: Bearer` challenge.
 */
export const bearerAuth: InputStep<AuthenticatedUser> = {
  read: async ({ event }) => {
    const header = event.headers?.authorization;
    if (!header) throw unauthorized('Not authenticated');
    const token = BEARER.exec(header)?.[1];
    if (!token) throw unauthorized('Could not validate credentials', 'invalid_token');
    const { sub, sid } = await verifyToken(token, 'access');
    // No sid: a token from before sessions existed, which nothing could end. Refused.
    const user = typeof sid === 'string' ? await findUserBySession(sub, sid) : undefined;
    if (!user || typeof sid !== 'string') throw unauthorized('Could not validate credentials', 'invalid_token');
    return { ...user, sessionId: sid };
  },
};
