import { httpHandler, ok } from '../lib/http';

/** GET /auth/me: the user the access token belongs to. */
export const handler = httpHandler({ auth: true }, ({ user }) => ok(user));
