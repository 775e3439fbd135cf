import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { created } from '../lib/http/response';
import { signUp } from '../lib/registration';
import { RegisterBody } from '../lib/schemas';

/** POST /auth/register: 201 {id, email, created_at}; 409 when the email is taken; 429 past the per-address limits. */
export const handler = httpHandler({ body: jsonBody(RegisterBody) }, async ({ body, origin }) => created(await signUp(body, origin)));
