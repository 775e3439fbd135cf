import { completeUpload } from '../lib/direct-uploads';
import { httpHandler, ok } from '../lib/http';
import { CompleteUploadBody } from '../lib/schemas';

/** POST /uploads/{id}/complete: verify what arrived (size, type) and make it a stored file. */
export const handler = httpHandler({ auth: true, body: CompleteUploadBody, bodyOptional: true }, async ({ user, event, body }) =>
  ok(await completeUpload(user.id, event.pathParameters?.id ?? '', body.parts)),
);
