import { bearerAuth } from '../lib/http/auth';
import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { created } from '../lib/http/response';
import { CreateShareBody } from '../lib/schemas';
import { createShare } from '../lib/shares';

/** POST /files/{id}/shares: a new share link to one of the caller's files; the only answer that holds its token. */
export const handler = httpHandler({ auth: bearerAuth, body: jsonBody(CreateShareBody, { optional: true }) }, async ({ user, event, body, origin }) =>
  created(await createShare(user.id, event.pathParameters?.id ?? '', body, origin)),
);
