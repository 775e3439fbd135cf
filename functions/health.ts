import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';

/** GET /health: no auth, no I/O; for load balancers and the local runtime's start-up check. */
export const handler = httpHandler({}, () => ok({ status: 'ok' }));
