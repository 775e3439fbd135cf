import { recordAuditEvent } from '../lib/audit';
import { completeUpload } from '../lib/direct-uploads';
import { bearerAuth } from '../lib/http/auth';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { CompleteUploadBody } from '../lib/schemas';

/** POST /uploads/{id}/complete: verify what arrived (size, type, malware scan) and make it a stored file. */
export const handler = httpHandler(
  { auth: bearerAuth, body: jsonBody(CompleteUploadBody, { optional: true }) },
  async ({ user, event, body, origin }) => {
    const stored = await completeUpload(user.id, event.pathParameters?.id ?? '', body.parts, origin);
    // Completion is idempotent: a client's retry of a finished completion records it again.
    await recordAuditEvent(
      { type: 'file.uploaded', userId: user.id, details: { file_id: stored.id, filename: stored.filename, size: stored.size, direct: true } },
      origin,
    );
    return ok(stored);
  },
);
