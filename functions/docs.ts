import { docsAsset } from '../lib/docs';
import { httpHandler } from '../lib/http/handler';

/** GET /docs and /docs/*: Swagger UI from the swagger-ui-dist package, no CDN, works offline. */
export const handler = httpHandler({}, ({ event }) =>
  docsAsset(event.pathParameters?.proxy ?? '', event.headers['accept-encoding']),
);
