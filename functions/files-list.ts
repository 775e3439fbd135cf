import { listFiles } from '../lib/files';
import { bearerAuth } from '../lib/http/auth';
import { validQuery } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { ListFilesQuery } from '../lib/schemas';

/** GET /files?limit=&cursor=: the caller's stored files, newest first. */
export const handler = httpHandler({ auth: bearerAuth, query: validQuery(ListFilesQuery) }, async ({ user, query }) =>
  ok(await listFiles(user.id, query.limit, query.cursor)),
);
