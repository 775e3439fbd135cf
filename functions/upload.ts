import { recordAuditEvent } from '../lib/audit';
import { storeUpload } from '../lib/files';
import { bearerAuth } from '../lib/http/auth';
import { httpHandler } from '../lib/http/handler';
import { multipartForm, requireFile } from '../lib/http/multipart-form';
import { ok } from '../lib/http/response';

/** POST /upload: multipart field `file`, scanned (SCANNER) and stored under the caller's id; 200 as the seed answers. */
export const handler = httpHandler({ auth: bearerAuth, form: multipartForm }, async ({ user, form, origin }) => {
  const file = requireFile(form, 'file');
  const stored = await storeUpload(user.id, {
    filename: file.filename,
    contentType: file.mimetype || 'application/octet-stream',
    content: file.content,
  }, origin);
  await recordAuditEvent({ type: 'file.uploaded', userId: user.id, details: { file_id: stored.id, filename: stored.filename, size: file.content.length } }, origin);
  return ok(stored);
});
