import { created, httpHandler } from '../lib/http';
import { RegisterBody } from '../lib/schemas';
import { registerUser } from '../lib/users';

/** POST /auth/register: 201 {id, email, created_at}; 409 when the email is taken. */
export const handler = httpHandler({ body: RegisterBody }, async ({ body }) => created(await registerUser(body)));
