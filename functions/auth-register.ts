import { jsonBody } from '../lib/http/body';
import { httpHandler } from '../lib/http/handler';
import { created } from '../lib/http/response';
import { RegisterBody } from '../lib/schemas';
import { registerUser } from '../lib/users';

/** POST /auth/register: 201 {id, email, created_at}; 409 when the email is taken. */
export const handler = httpHandler({ body: jsonBody(RegisterBody) }, async ({ body }) => created(await registerUser(body)));
