import { planUpload } from '../lib/direct-uploads';
import { bearerAuth } from '../lib/http/auth';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { created } from '../lib/http/response';
import { UploadPlanBody } from '../lib/schemas';

/** POST /uploads: plan a direct-to-storage upload (presigned PUT, or multipart for large files). */
export const handler = httpHandler({ auth: bearerAuth, body: jsonBody(UploadPlanBody) }, async ({ user, body }) =>
  created(await planUpload(user.id, body), { 'Cache-Control': 'no-store' }),
);
