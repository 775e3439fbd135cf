import { listFiles } from '../lib/files';
import { httpHandler, ok } from '../lib/http';
import { ListFilesQuery } from '../lib/schemas';

/** GET /files?limit=&cursor=: the caller's stored files, newest first. */
export const handler = httpHandler({ auth: true, query: ListFilesQuery }, ({ user, query }) =>
  ok(listFiles(user.id, query.limit, query.cursor)),
);
