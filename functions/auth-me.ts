import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';

/** GET /auth/me: the user the access token belongs to. */
export const handler = httpHandler({ auth: bearerAuth }, ({ user }) => ok(user));
