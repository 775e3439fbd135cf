import { getFileWithUrl } from '../lib/files';
import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';

/** GET /files/{id}: one of the caller's files with a fresh download URL; 404 for anyone else's. */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user, event }) =>
  ok(await getFileWithUrl(user.id, event.pathParameters?.id ?? '')),
);
