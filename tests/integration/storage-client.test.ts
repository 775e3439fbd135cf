import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getS3 } from '../../lib/storage/s3';
import { resetRuntime } from '../helpers/runtime';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly socket: number;
}

/** An HTTP server that records what a PUT carried and answers as S3 does. */
async function recordingServer(): Promise<{ url: string; received: Received[]; connections: () => number; close: () => Promise<void> }> {
  const received: Received[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ headers: req.headers, body, socket: (req.socket as unknown as { id: number }).id });
      res.writeHead(200, { ETag: `"${createHash('md5').update(body).digest('hex')}"` });
      res.end();
    });
  });
  server.on('connection', (socket) => {
    connections += 1;
    (socket as unknown as { id: number }).id = connections;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe("the API's S3 client", () => {
  it('sends large PUTs signed, exactly sized, without Expect: 100-continue, on one kept-alive connection', async () => {
    const server = await recordingServer();
    Object.assign(process.env, { S3_ENDPOINT: server.url, S3_BUCKET: 'uploads', S3_ACCESS_KEY_ID: 'key', S3_SECRET_ACCESS_KEY: 'secret' });
    resetRuntime();
    try {
      const bodies = [randomBytes(3 * 1024 * 1024), randomBytes(4 * 1024 * 1024 + 3)];
      for (const [index, body] of bodies.entries()) {
        await getS3().send(new PutObjectCommand({ Bucket: 'uploads', Key: `k${index}`, Body: body, ContentLength: body.length, ContentType: 'application/octet-stream' }));
      }
      expect(server.received).toHaveLength(2);
      for (const [index, { headers, body }] of server.received.entries()) {
        expect(body.equals(bodies[index] as Buffer)).toBe(true);
        expect(headers['content-length']).toBe(String(body.length));
        expect(headers.expect).toBeUndefined();
        // The payload is signed (SigV4 over http), and no CRC32 checksum rides along (WHEN_REQUIRED).
        expect(headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
        expect(Object.keys(headers).filter((name) => name.startsWith('x-amz-checksum-'))).toEqual([]);
      }
      expect(server.connections()).toBe(1);
    } finally {
      resetRuntime();
      await server.close();
    }
  });
});
