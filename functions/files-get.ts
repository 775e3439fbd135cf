import { getFileWithUrl } from '../lib/files';
import { httpHandler, ok } from '../lib/http';

/** GET /files/{id}: one of the caller's files with a fresh download URL; 404 for anyone else's. */
export const handler = httpHandler({ auth: true }, async ({ user, event }) =>
  ok(await getFileWithUrl(user.id, event.pathParameters?.id ?? '')),
);
