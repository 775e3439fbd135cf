/**
 * The stages of a `POST /upload`, each run on its own on the same bytes the request carries,
 * so the benchmark can say where the request's time goes. Every stage calls the product's own
 * code (the local runtime's event builder, the multipart parser, the sniffer, the database
 * functions, the presigner); nothing here re-implements them.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { handler as uploadHandler } from '../functions/upload';
import { routes } from '../functions/routes';
import { lambdaContext, serializedEventBytes, toApiGatewayEvent } from '../infra/local/event';
import { Router } from '../infra/local/routing';
import { getConfig } from '../lib/config';
import { SNIFF_BYTES, verifyContentType } from '../lib/content-types';
import { markStored, reservePendingFile } from '../lib/files';
import { parseMultipart } from '../lib/http/multipart';
import { presignDownload } from '../lib/storage/presign';
import { getS3 } from '../lib/storage/s3';
import type { Task } from './timing';

export interface UploadStage {
  readonly label: string;
  /** Where the stage's code lives: `lib` runs in Lambda too, `local` only in the local runtime. */
  readonly where: 'lib' | 'local' | 'storage';
  readonly run: Task;
}

export interface UploadStagesInput {
  readonly ownerId: string;
  readonly accessToken: string;
  /** The multipart body as the client sends it, and its Content-Type. */
  readonly form: { readonly body: Buffer; readonly contentType: string };
  /** The file inside the form. */
  readonly content: Buffer;
}

/**
 * The raw PutObject the budget compares with: the API's own S3 client (same endpoint,
 * checksum and connection settings), the same kind of object /upload stores.
 */
export function rawPutObject(content: Buffer, ownerId: string): Task {
  return async () => {
    const id = randomUUID();
    await getS3().send(
      new PutObjectCommand({
        Bucket: getConfig().s3.bucket,
        Key: `${ownerId}/${id}-raw.bin`,
        Body: content,
        ContentType: 'application/octet-stream',
        ContentLength: content.length,
        Metadata: { 'owner-id': ownerId, 'file-id': id },
      }),
    );
  };
}

/** What node:http hands the local runtime for the request, as far as the event builder reads it. */
function incomingRequest(input: UploadStagesInput): IncomingMessage {
  const request = {
    url: '/upload',
    method: 'POST',
    httpVersion: '1.1',
    headers: {
      host: '127.0.0.1:3000',
      'content-type': input.form.contentType,
      'content-length': String(input.form.body.length),
      authorization: `Bearer ${input.accessToken}`,
      connection: 'keep-alive',
    },
    socket: { remoteAddress: '127.0.0.1', localPort: 3000 },
  };
  return request as unknown as IncomingMessage;
}

/**
 * The stages in request order. Storage (the PutObject inside /upload) is the budget's
 * baseline itself and is not repeated here; `invoke` is the whole Lambda handler on a
 * ready-made event (all `lib` stages plus Middy, authentication and the PutObject).
 */
export function uploadStages(input: UploadStagesInput): { stages: UploadStage[]; invoke: UploadStage } {
  const match = new Router(routes).match('POST', '/upload');
  if (!match) throw new Error('no POST /upload route');
  const request = incomingRequest(input);
  const event = toApiGatewayEvent(request, input.form.body, match, randomUUID());
  const decoded = Buffer.from(event.body ?? '', 'base64');
  const limits = { fileSize: getConfig().maxUploadBytes, files: 1, fields: 20 };
  const key = `${input.ownerId}/${randomUUID()}-bench.bin`;

  const stages: UploadStage[] = [
    { label: 'event encoding (base64 body)', where: 'local', run: async () => void toApiGatewayEvent(request, input.form.body, match, randomUUID()) },
    { label: 'event size check', where: 'local', run: async () => void serializedEventBytes(event) },
    { label: 'base64 decoding', where: 'lib', run: async () => void Buffer.from(event.body ?? '', 'base64') },
    {
      label: 'multipart parsing',
      where: 'lib',
      run: async () => {
        const form = await parseMultipart(decoded, input.form.contentType, limits);
        if (typeof form.file !== 'object' || form.file.content.length !== input.content.length) throw new Error('the parser lost the file');
      },
    },
    { label: 'type sniffing', where: 'lib', run: async () => void (await verifyContentType('application/octet-stream', input.content.subarray(0, SNIFF_BYTES))) },
    {
      label: 'SQLite reserve + mark stored',
      where: 'lib',
      run: async () => {
        const id = randomUUID();
        const file = { id, ownerId: input.ownerId, key: `${input.ownerId}/${id}-bench.bin`, filename: 'bench.bin', size: input.content.length, contentType: 'application/octet-stream', scanStatus: 'unscanned' as const };
        await reservePendingFile(file, new Date(Date.now() + 60_000));
        if (!(await markStored(id, file.size, file.contentType, 'unscanned'))) throw new Error('reservation vanished');
      },
    },
    { label: 'presigning the download', where: 'lib', run: async () => void (await presignDownload(key, 'bench.bin')) },
  ];

  const invoke: UploadStage = {
    label: 'handler invoked directly (what Lambda runs)',
    where: 'lib',
    run: async () => {
      // The handler replaces event.body with the parsed form: each call gets its own event.
      const fresh: APIGatewayProxyEventV2 = { ...event, requestContext: { ...event.requestContext, requestId: randomUUID() } };
      const result = await uploadHandler(fresh, lambdaContext('upload'));
      if (result.statusCode !== 200) throw new Error(`handler answered ${result.statusCode}: ${result.body?.slice(0, 200)}`);
    },
  };
  return { stages, invoke };
}
