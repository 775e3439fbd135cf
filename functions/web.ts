import { httpHandler } from '../lib/http/handler';
import { webAsset } from '../lib/web-assets';

/** GET / and GET /assets/{file}: the web client, built by Vite from `web/`, same origin as the API. */
export const handler = httpHandler({}, ({ event }) => webAsset(event.pathParameters?.file ?? '', event.headers['accept-encoding']));
