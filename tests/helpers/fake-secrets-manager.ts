import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';

/** What the fake answers to one well-formed, correctly signed request. */
export type FakeReply =
  | { readonly status: number; readonly body: unknown; readonly errorType?: string }
  /** Never answers (the client's timeout must fire). */
  | 'hang'
  /** Drops the connection without a response. */
  | 'reset';

export interface ReceivedCall {
  readonly target: string | undefined;
  readonly body: { SecretId?: string; VersionStage?: string; QueueUrl?: string; MessageBody?: string };
  /** Why the request was refused before `reply` saw it, if it was. */
  readonly refused?: string;
}

export interface FakeSecretsManager {
  /** For `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
  readonly url: string;
  readonly calls: ReceivedCall[];
  /** Decides the answer to each accepted request (default: 500). */
  reply: (call: ReceivedCall, index: number) => FakeReply;
  close(): Promise<void>;
}

export interface FakeCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** Which AWS JSON-protocol service a fake stands in for. */
export interface FakeService {
  readonly signingName: string;
  readonly contentType: string;
  readonly target: string;
}

const SECRETS_MANAGER: FakeService = { signingName: 'secretsmanager', contentType: 'application/x-amz-json-1.1', target: 'secretsmanager.GetSecretValue' };
export const SQS_SEND_MESSAGE: FakeService = { signingName: 'sqs', contentType: 'application/x-amz-json-1.0', target: 'AmazonSQS.SendMessage' };

/**
 * A Secrets Manager stand-in on 127.0.0.1, port 0, that refuses (403, like AWS) any request
 * not SigV4-signed with `credentials` for `region`/`secretsmanager`: it re-signs what it
 * received with `@smithy/signature-v4` and compares, so a wrong key, a tampered body, an
 * unsigned header or a missing session token all fail. It also checks the JSON 1.1 target.
 */
export function startFakeSecretsManager(credentials: FakeCredentials, region: string): Promise<FakeSecretsManager> {
  return startFakeAwsJsonService(SECRETS_MANAGER, credentials, region);
}

/** The same checks for another AWS JSON-protocol operation (SQS SendMessage, say). */
export async function startFakeAwsJsonService(service: FakeService, credentials: FakeCredentials, region: string): Promise<FakeSecretsManager> {
  const calls: ReceivedCall[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const fake: FakeSecretsManager = {
    url: '',
    calls,
    reply: () => ({ status: 500, body: { __type: 'InternalFailure' } }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const target = header(req, 'x-amz-target');
      let body: ReceivedCall['body'] = {};
      try {
        body = JSON.parse(raw) as ReceivedCall['body'];
      } catch {
        // left empty: refused below
      }
      const refused = await whyRefused(service, req, raw, target, credentials, region);
      const call: ReceivedCall = { target, body, ...(refused ? { refused } : {}) };
      calls.push(call);
      if (refused) {
        res.writeHead(refused.startsWith('signature') ? 403 : 400, { 'content-type': service.contentType });
        res.end(JSON.stringify({ __type: refused.startsWith('signature') ? 'InvalidSignatureException' : 'UnknownOperationException', message: refused }));
        return;
      }
      const reply = fake.reply(call, calls.length - 1);
      if (reply === 'hang') return;
      if (reply === 'reset') {
        req.socket.destroy();
        return;
      }
      res.writeHead(reply.status, {
        'content-type': service.contentType,
        ...(reply.errorType ? { 'x-amzn-errortype': reply.errorType } : {}),
      });
      res.end(JSON.stringify(reply.body));
    })();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, { url: `http://127.0.0.1:${port}` });
}

async function whyRefused(expected: FakeService, req: IncomingMessage, body: string, target: string | undefined, credentials: FakeCredentials, region: string): Promise<string | undefined> {
  const authorization = header(req, 'authorization');
  const amzDate = header(req, 'x-amz-date');
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(authorization ?? '');
  if (!match || !amzDate) return 'signature: missing or malformed Authorization / X-Amz-Date';
  const [, accessKeyId, , scopeRegion, service, signedHeaderList = ''] = match;
  if (accessKeyId !== credentials.accessKeyId) return 'signature: unknown access key';
  if (scopeRegion !== region || service !== expected.signingName) return 'signature: wrong credential scope';
  if (header(req, 'x-amz-security-token') !== credentials.sessionToken) return 'signature: session token missing or wrong';
  const signedHeaders = signedHeaderList.split(';');
  for (const required of ['host', 'x-amz-date', 'x-amz-target', 'content-type']) {
    if (!signedHeaders.includes(required)) return `signature: ${required} is not signed`;
  }
  if (credentials.sessionToken && !signedHeaders.includes('x-amz-security-token')) return 'signature: x-amz-security-token is not signed';

  // Re-sign exactly what arrived (signed headers only, the body as received) and compare.
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) headers[name] = header(req, name) ?? '';
  const [host, port] = (headers.host ?? '').split(':');
  const signer = new SignatureV4({ service: expected.signingName, region, credentials, sha256: Hash.bind(null, 'sha256') });
  const signingDate = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  const resigned = await signer.sign(
    { method: req.method ?? 'POST', protocol: 'http:', hostname: host ?? '', ...(port ? { port: Number(port) } : {}), path: req.url ?? '/', query: {}, headers, body },
    { signingDate },
  );
  if (resigned.headers.authorization !== authorization) return 'signature: does not match';

  if (req.method !== 'POST' || req.url !== '/') return 'protocol: not POST /';
  if (header(req, 'content-type') !== expected.contentType) return 'protocol: wrong content type';
  if (target !== expected.target) return 'protocol: wrong X-Amz-Target';
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
