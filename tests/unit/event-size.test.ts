import type { IncomingMessage } from 'node:http';
import { routes } from '../../functions/routes';
import { serializedEventBytes, toApiGatewayEvent } from '../../infra/local/event';
import { Router } from '../../infra/local/routing';
import { createTestEventV2 } from '../helpers/events';
import { bytes, integer, pick, seeded, stringOf, type Random } from '../helpers/random';

/** What the payload limit is defined on: the event's JSON, in UTF-8 bytes. */
const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * Characters JSON escapes (quote, backslash, control characters, lone surrogates), characters
 * it writes as they are but in several UTF-8 bytes (Latin-1, BMP, U+2028, astral), and plain.
 */
const TRICKY = ['a', 'Z', '0', ' ', '"', '\\', '/', '\t', '\n', '\r', '\u0000', '\u001f', '\u007f', '\u0080', 'é', '\u00ff', '€', '\u2028', '\u2029', '\ufeff', '😀', '\ud800', '\udfff', '<', '&', "'", '%', '+', '=', ';', ','];
/** Without lone surrogates, which a URL cannot carry. */
const WELL_FORMED = TRICKY.filter((c) => !/^[\ud800-\udfff]$/.test(c));
/** What can arrive in an HTTP header value: visible ASCII, tab, and obs-text (Latin-1). */
const HEADER_TEXT = [...'abcXYZ019 "\\/;,=+%\t\u0080\u00e9\u00ff'];
const CONTENT_TYPES = [undefined, 'application/json', 'text/plain; charset=utf-8', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'image/png'];
const router = new Router(routes);

/** A request as node:http hands it over, as far as the event builder reads it. */
function incoming(random: Random): IncomingMessage {
  const headers: Record<string, string | string[]> = { host: stringOf(random, HEADER_TEXT, 30) || 'localhost' };
  for (let i = integer(random, 0, 6); i > 0; i -= 1) {
    const name = `x-${stringOf(random, [...'abc-'], 12)}`;
    headers[name] = random() < 0.2 ? [stringOf(random, HEADER_TEXT, 20), stringOf(random, HEADER_TEXT, 20)] : stringOf(random, HEADER_TEXT, 80);
  }
  const type = pick(random, CONTENT_TYPES);
  if (type) headers['content-type'] = type;
  if (random() < 0.3) headers['user-agent'] = stringOf(random, HEADER_TEXT, 40);
  if (random() < 0.3) headers.cookie = `a=${stringOf(random, HEADER_TEXT, 10)}; b=${stringOf(random, HEADER_TEXT, 10)}`;
  const query = random() < 0.5 ? `?${stringOf(random, ['a', '=', '&', '%22', '%5C', '%E2%80%A8', '%F0%9F%98%80', '%E0%A4', '%ff', '+', 'x', '%00', '%1F'], 30)}` : '';
  return {
    url: `/files/${encodeURIComponent(stringOf(random, WELL_FORMED, 12)) || 'f'}${query}`,
    method: 'GET',
    httpVersion: pick(random, ['1.0', '1.1']),
    headers,
    socket: { remoteAddress: pick(random, ['127.0.0.1', '::ffff:10.0.0.1', '::1', undefined]), localPort: integer(random, 1, 65535) },
  } as unknown as IncomingMessage;
}

describe('serializedEventBytes', () => {
  it('equals the byte length of JSON.stringify for events the local runtime builds', () => {
    const random = seeded(12);
    for (let n = 0; n < 1500; n += 1) {
      const request = incoming(random);
      const match = router.match('GET', new URL(request.url ?? '/', 'http://localhost').pathname);
      if (!match) throw new Error(`no route for ${request.url}`);
      // Random bytes are invalid UTF-8 as often as not: text bodies then carry U+FFFD.
      const body = bytes(random, pick(random, [0, 1, 2, 3, integer(random, 0, 64), integer(random, 0, 5000)]));
      const event = toApiGatewayEvent(request, body, match, `req-${n}`);
      expect([n, serializedEventBytes(event)]).toEqual([n, jsonBytes(event)]);
    }
  });

  it('equals it for events of any strings, with base64, text and empty bodies', () => {
    const random = seeded(34);
    for (let n = 0; n < 1500; n += 1) {
      const headers: Record<string, string> = {};
      for (let i = integer(random, 0, 5); i > 0; i -= 1) headers[stringOf(random, TRICKY, 8) || 'x'] = stringOf(random, TRICKY, 60);
      const kind = pick(random, ['binary', 'text', 'json', 'none'] as const);
      const event = createTestEventV2({
        method: 'POST',
        path: `/${stringOf(random, TRICKY, 10)}`,
        headers,
        query: random() < 0.5 ? { [stringOf(random, TRICKY, 5)]: stringOf(random, TRICKY, 20) } : undefined,
        pathParameters: random() < 0.5 ? { id: stringOf(random, TRICKY, 20) } : undefined,
        ...(kind === 'binary' ? { binary: bytes(random, integer(random, 0, 3000)) } : {}),
        ...(kind === 'text' ? { text: stringOf(random, TRICKY, 200) } : {}),
        ...(kind === 'json' ? { json: { value: stringOf(random, TRICKY, 100) } } : {}),
      });
      expect([n, serializedEventBytes(event)]).toEqual([n, jsonBytes(event)]);
    }
  });

  it('counts a multi-megabyte base64 body exactly, one byte per character', () => {
    const event = createTestEventV2({ method: 'POST', path: '/upload', binary: Buffer.alloc(4 * 1024 * 1024 + 1, 0xfb) });
    expect(serializedEventBytes(event)).toBe(jsonBytes(event));
    expect(serializedEventBytes(event) - serializedEventBytes({ ...event, body: '' })).toBe(Math.ceil((4 * 1024 * 1024 + 1) / 3) * 4);
  });
});
