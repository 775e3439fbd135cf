import { planUpload } from '../lib/direct-uploads';
import { created, httpHandler } from '../lib/http';
import { UploadPlanBody } from '../lib/schemas';

/** POST /uploads: plan a direct-to-storage upload (presigned PUT, or multipart for large files). */
export const handler = httpHandler({ auth: true, body: UploadPlanBody }, async ({ user, body }) =>
  created(await planUpload(user.id, body), { 'Cache-Control': 'no-store' }),
);
