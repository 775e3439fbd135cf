/**
 * SCANNER=guardduty (AWS only, so these run "in Lambda": AWS_LAMBDA_FUNCTION_NAME is set):
 * both upload paths answer at once with `scan_status: "pending"` and `url: null`, nothing is
 * served until GuardDuty's verdict arrives, and the scan-result function records it through
 * its exported handler, with the event shape GuardDuty documents, the embedded S3 server and
 * SQLite.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { handler as events } from '../../functions/auth-events';
import { handler as login } from '../../functions/auth-login';
import { handler as register } from '../../functions/auth-register';
import { handler as getFile } from '../../functions/files-get';
import { handler as listFiles } from '../../functions/files-list';
import { handler as scanResult } from '../../functions/scan-result';
import { handler as upload } from '../../functions/upload';
import { handler as complete } from '../../functions/uploads-complete';
import { handler as plan } from '../../functions/uploads-plan';
import type { GuardDutyScanResultEvent } from '../../lib/scan/guardduty-results';
import { createTestEventV2, invoke, lambdaContext, multipartBody } from '../helpers/events';
import { pdfBytes } from '../helpers/fixtures';
import { resetRuntime, startTestStorage, testS3Client, useFreshDatabase, type TestStorage } from '../helpers/runtime';

let storage: TestStorage;
let token: string;

/**
 * A "GuardDuty Malware Protection Object Scan Result" event as GuardDuty's user guide shows
 * it ("Monitoring S3 object scans with Amazon EventBridge"), for one object and verdict.
 */
function scanResultEvent(bucketName: string, objectKey: string, scanResultStatus: string, threats: Array<{ name: string }> | null = null): GuardDutyScanResultEvent {
  return {
    version: '0',
    id: '72c7d362-737a-6dce-fc78-9e27a0171419',
    'detail-type': 'GuardDuty Malware Protection Object Scan Result',
    source: 'aws.guardduty',
    account: '111122223333',
    time: '2024-02-28T01:01:01Z',
    region: 'us-east-1',
    resources: ['arn:aws:guardduty:us-east-1:111122223333:malware-protection-plan/b4c7f464ab3a4EXAMPLE'],
    detail: {
      schemaVersion: '1.0',
      scanStatus: 'COMPLETED',
      resourceType: 'S3_OBJECT',
      s3ObjectDetails: { bucketName, objectKey, eTag: 'ASIAI44QH8DHBEXAMPLE', versionId: 'd41d8cd98f00b204e9800998eEXAMPLE', s3Throttled: false },
      scanResultDetails: { scanResultStatus, threats },
    },
  };
}

const deliver = (event: GuardDutyScanResultEvent) => scanResult(event, lambdaContext('scan-result'));

const uploadEvent = (filename: string, contentType: string, content: Buffer) => {
  const form = multipartBody([{ name: 'file', filename, contentType, content }]);
  return createTestEventV2({ method: 'POST', path: '/upload', token, headers: { 'content-type': form.contentType }, binary: form.body });
};
const fileEvent = (id: string) => createTestEventV2({ path: `/files/${id}`, routeKey: 'GET /files/{id}', pathParameters: { id }, token });

async function exists(key: string): Promise<boolean> {
  const s3 = testS3Client(storage.endpoint);
  try {
    await s3.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound') return false;
    throw error;
  } finally {
    s3.destroy();
  }
}

beforeAll(async () => {
  storage = await startTestStorage();
  await useFreshDatabase();
  Object.assign(process.env, { SCANNER: 'guardduty', AWS_LAMBDA_FUNCTION_NAME: 'test-function' });
  await resetRuntime();
  const credentials = { email: 'guarded@example.com', password: 'SecurePassword123!' };
  await invoke(register, createTestEventV2({ method: 'POST', path: '/auth/register', json: credentials }));
  token = (await invoke(login, createTestEventV2({ method: 'POST', path: '/auth/login', json: credentials }))).body.access_token;
});
afterAll(async () => {
  delete process.env.SCANNER;
  delete process.env.AWS_LAMBDA_FUNCTION_NAME;
  await resetRuntime();
  await storage.close();
});

describe('SCANNER=guardduty', () => {
  it('POST /upload answers at once with pending and no URL; GET and the list show it pending, without a URL', async () => {
    const answer = await invoke(upload, uploadEvent('report.pdf', 'application/pdf', pdfBytes(5_000)));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ id: expect.any(String), filename: 'report.pdf', key: expect.any(String), url: null, status: 'uploaded', scan_status: 'pending' });
    expect(await exists(answer.body.key)).toBe(true); // stored: GuardDuty scans it where it lies

    // A pending file is the caller's and exists: 200, so a client can poll, but nothing to fetch.
    const read = await invoke(getFile, fileEvent(answer.body.id));
    expect([read.status, read.body.scan_status, read.body.url]).toEqual([200, 'pending', null]);
    const listed = await invoke(listFiles, createTestEventV2({ path: '/files', token }));
    expect(listed.body.files[0]).toMatchObject({ id: answer.body.id, scan_status: 'pending' });
  });

  it('a direct upload completes pending with url null', async () => {
    const bytes = pdfBytes(8_000);
    const planned = await invoke(plan, createTestEventV2({ method: 'POST', path: '/uploads', token, json: { filename: 'direct.pdf', content_type: 'application/pdf', size: bytes.length } }));
    expect(planned.status).toBe(201);
    expect((await fetch(planned.body.upload.url, { method: 'PUT', headers: planned.body.upload.headers, body: bytes })).status).toBe(200);
    const done = await invoke(
      complete,
      createTestEventV2({ method: 'POST', path: `/uploads/${planned.body.id}/complete`, routeKey: 'POST /uploads/{id}/complete', pathParameters: { id: planned.body.id }, token }),
    );
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ id: planned.body.id, url: null, scan_status: 'pending', size: bytes.length });
  });

  it('the scan-result function flips pending to clean on NO_THREATS_FOUND: then the file is served', async () => {
    const bytes = pdfBytes(6_000);
    const stored = (await invoke(upload, uploadEvent('fine.pdf', 'application/pdf', bytes))).body;
    expect(await deliver(scanResultEvent(storage.bucket, stored.key, 'NO_THREATS_FOUND'))).toEqual({ outcome: 'clean' });
    const read = await invoke(getFile, fileEvent(stored.id));
    expect([read.status, read.body.scan_status]).toEqual([200, 'clean']);
    expect(Buffer.from(await (await fetch(read.body.url)).arrayBuffer()).equals(bytes)).toBe(true);
    // Delivered twice (EventBridge is at least once): nothing changes.
    expect(await deliver(scanResultEvent(storage.bucket, stored.key, 'NO_THREATS_FOUND'))).toEqual({ outcome: 'clean' });
    expect((await invoke(getFile, fileEvent(stored.id))).body.scan_status).toBe('clean');
  });

  it('the scan-result function flips pending to infected on THREATS_FOUND: object deleted, audited, never served', async () => {
    const stored = (await invoke(upload, uploadEvent('bad.pdf', 'application/pdf', pdfBytes(6_000)))).body;
    const event = scanResultEvent(storage.bucket, stored.key, 'THREATS_FOUND', [{ name: 'EICAR-Test-File (not a virus)' }]);
    expect(await deliver(event)).toEqual({ outcome: 'infected' });
    expect(await exists(stored.key)).toBe(false);
    const read = await invoke(getFile, fileEvent(stored.id));
    expect([read.status, read.body.scan_status, read.body.url]).toEqual([200, 'infected', null]);
    const audit = await invoke(events, createTestEventV2({ path: '/auth/events', token }));
    expect(audit.body.events.filter((e: { type: string }) => e.type === 'file.infected')).toEqual([
      expect.objectContaining({
        ip: 'aws.guardduty',
        request_id: event.id,
        details: { file_id: stored.id, filename: 'bad.pdf', size: 6_000, signature: 'EICAR-Test-File (not a virus)', scanner: 'guardduty' },
      }),
    ]);
    // A late clean result for the same key cannot make it servable again.
    await deliver(scanResultEvent(storage.bucket, stored.key, 'NO_THREATS_FOUND'));
    expect((await invoke(getFile, fileEvent(stored.id))).body).toMatchObject({ scan_status: 'infected', url: null });
  });

  it('leaves a file pending on results without a verdict, and ignores other buckets', async () => {
    const stored = (await invoke(upload, uploadEvent('odd.pdf', 'application/pdf', pdfBytes(3_000)))).body;
    expect(await deliver(scanResultEvent(storage.bucket, stored.key, 'UNSUPPORTED'))).toEqual({ outcome: 'ignored' });
    expect(await deliver(scanResultEvent('someone-elses-bucket', stored.key, 'THREATS_FOUND', [{ name: 'x' }]))).toEqual({ outcome: 'ignored' });
    expect(await exists(stored.key)).toBe(true);
    expect((await invoke(getFile, fileEvent(stored.id))).body).toMatchObject({ scan_status: 'pending', url: null });
  });
});
