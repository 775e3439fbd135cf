import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';

/** GET /auth/me: the user the access token belongs to (not its session id). */
export const handler = httpHandler({ auth: bearerAuth }, ({ user: { sessionId: _session, ...user } }) => ok(user));
