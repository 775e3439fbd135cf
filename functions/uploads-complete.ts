import { completeUpload } from '../lib/direct-uploads';
import { bearerAuth } from '../lib/http/auth';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { ok } from '../lib/http/response';
import { CompleteUploadBody } from '../lib/schemas';

/** POST /uploads/{id}/complete: verify what arrived (size, type) and make it a stored file. */
export const handler = httpHandler(
  { auth: bearerAuth, body: jsonBody(CompleteUploadBody, { optional: true }) },
  async ({ user, event, body }) => ok(await completeUpload(user.id, event.pathParameters?.id ?? '', body.parts)),
);
