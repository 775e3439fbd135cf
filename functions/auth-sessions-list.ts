import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { listSessions } from '../lib/sessions';

/** GET /auth/sessions: the caller's live sessions, newest first; `current` marks the one asking. */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user }) => ok({ sessions: await listSessions(user.id, user.sessionId) }));
