import { recordAuditEvent } from '../lib/audit';
import { deleteOwnedFile } from '../lib/files';
import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/response';

/** DELETE /files/{id}: removes the object and its record; 404 for anyone else's file. */
export const handler = httpHandler({ auth: bearerAuth }, async ({ user, event, origin }) => {
  const deleted = await deleteOwnedFile(user.id, event.pathParameters?.id ?? '');
  await recordAuditEvent({ type: 'file.deleted', userId: user.id, details: { file_id: deleted.id, filename: deleted.filename } }, origin);
  return noContent();
});
