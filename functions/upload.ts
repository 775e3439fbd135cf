import { storeUpload } from '../lib/files';
import { httpHandler, ok, requireFile } from '../lib/http';

/** POST /upload: multipart field `file`, stored under the caller's id; 200 as the seed answers. */
export const handler = httpHandler({ auth: true, multipart: true }, async ({ user, form }) => {
  const file = requireFile(form, 'file');
  const stored = await storeUpload(user.id, {
    filename: file.filename,
    contentType: file.mimetype || 'application/octet-stream',
    content: file.content,
  });
  return ok(stored);
});
