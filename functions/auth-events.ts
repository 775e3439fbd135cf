import { listAuditEvents } from '../lib/audit';
import { bearerAuth } from '../lib/http/auth';
import { validQuery } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { ListEventsQuery } from '../lib/schemas';

/** GET /auth/events?limit=&cursor=: the caller's own audit events, newest first. */
export const handler = httpHandler({ auth: bearerAuth, query: validQuery(ListEventsQuery) }, async ({ user, query }) =>
  ok(await listAuditEvents(user.id, query.limit, query.cursor)),
);
