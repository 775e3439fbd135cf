import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { verifySigV4, type IncomingSignedRequest } from '../../infra/local/sigv4-verifier';

/**
 * The embedded S3 server's SigV4 verifier against AWS's published S3 signature examples
 * (S3 API reference, "Signature Calculations for the Authorization Header" and "Authenticating
 * Requests: Using Query Parameters") and against URLs the AWS SDK presigns.
 */
const EXAMPLE = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const exampleOptions = {
  secretFor: (id: string) => (id === EXAMPLE.accessKeyId ? EXAMPLE.secret : undefined),
  region: 'us-east-1',
  now: () => new Date('2013-05-24T00:00:00Z'),
};

function request(method: string, url: string, headers: Record<string, string>): IncomingSignedRequest {
  return { method, url, headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), [value]])) };
}

const authorization = (signedHeaders: string, signature: string) =>
  `AWS4-HMAC-SHA256 Credential=${EXAMPLE.accessKeyId}/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${signature}`;

describe("AWS's published S3 examples", () => {
  const host = 'examplebucket.s3.amazonaws.com';

  it('GET Object with a Range header', async () => {
    const signature = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';
    const headers = {
      host,
      range: 'bytes=0-9',
      'x-amz-content-sha256': EMPTY_SHA256,
      'x-amz-date': '20130524T000000Z',
      authorization: authorization('host;range;x-amz-content-sha256;x-amz-date', signature),
    };
    expect(await verifySigV4(request('GET', '/test.txt', headers), exampleOptions)).toEqual({
      ok: true,
      accessKeyId: EXAMPLE.accessKeyId,
      payload: { kind: 'sha256', sha256: EMPTY_SHA256 },
    });
    const otherRange = await verifySigV4(request('GET', '/test.txt', { ...headers, range: 'bytes=0-99' }), exampleOptions);
    expect(otherRange).toMatchObject({ ok: false, error: { status: 403, code: 'SignatureDoesNotMatch' } });
  });

  it('PUT Object with a Date header, a storage class and a payload hash', async () => {
    const signature = '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd';
    const headers = {
      host,
      date: 'Fri, 24 May 2013 00:00:00 GMT',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
      authorization: authorization('date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class', signature),
    };
    const verdict = await verifySigV4(request('PUT', '/test%24file.text', headers), exampleOptions);
    expect(verdict).toMatchObject({ ok: true, payload: { kind: 'sha256', sha256: headers['x-amz-content-sha256'] } });
  });

  it('GET Bucket lifecycle (a sub-resource without a value)', async () => {
    const signature = 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543';
    const headers = { host, 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY_SHA256, authorization: authorization('host;x-amz-content-sha256;x-amz-date', signature) };
    expect(await verifySigV4(request('GET', '/?lifecycle', headers), exampleOptions)).toMatchObject({ ok: true });
  });

  it('Get Bucket (list objects), whose query is signed sorted', async () => {
    const signature = '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7';
    const headers = { host, 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY_SHA256, authorization: authorization('host;x-amz-content-sha256;x-amz-date', signature) };
    expect(await verifySigV4(request('GET', '/?max-keys=2&prefix=J', headers), exampleOptions)).toMatchObject({ ok: true });
    expect(await verifySigV4(request('GET', '/?prefix=J&max-keys=2', headers), exampleOptions)).toMatchObject({ ok: true });
    expect(await verifySigV4(request('GET', '/?max-keys=3&prefix=J', headers), exampleOptions)).toMatchObject({ ok: false, error: { code: 'SignatureDoesNotMatch' } });
  });

  it('a presigned GET, valid for 24 hours', async () => {
    const url =
      '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
      '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
      '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
    expect(await verifySigV4(request('GET', url, { host }), exampleOptions)).toEqual({ ok: true, accessKeyId: EXAMPLE.accessKeyId, payload: { kind: 'unsigned' } });

    const later = (iso: string) => ({ ...exampleOptions, now: () => new Date(iso) });
    expect(await verifySigV4(request('GET', url, { host }), later('2013-05-25T00:00:00Z'))).toMatchObject({ ok: true }); // the last second
    expect(await verifySigV4(request('GET', url, { host }), later('2013-05-25T00:00:01Z'))).toEqual({
      ok: false,
      error: { status: 403, code: 'AccessDenied', message: 'Request has expired', detail: expect.objectContaining({ 'X-Amz-Expires': '86400' }) },
    });
    expect(await verifySigV4(request('GET', url, { host: 'otherbucket.s3.amazonaws.com' }), exampleOptions)).toMatchObject({ ok: false, error: { code: 'SignatureDoesNotMatch' } });
    expect(await verifySigV4(request('GET', url.replace('86400', '86401'), { host }), exampleOptions)).toMatchObject({ ok: false, error: { code: 'SignatureDoesNotMatch' } });
    expect(await verifySigV4(request('GET', `${url}&response-content-disposition=inline`, { host }), exampleOptions)).toMatchObject({
      ok: false,
      error: { code: 'SignatureDoesNotMatch' },
    });
    expect(await verifySigV4(request('GET', url.replace('AKIAIOSFODNN7EXAMPLE', 'AKIAUNKNOWN'), { host }), exampleOptions)).toMatchObject({
      ok: false,
      error: { status: 403, code: 'InvalidAccessKeyId' },
    });
    expect(await verifySigV4(request('GET', url, { host, 'x-amz-acl': 'public-read' }), exampleOptions)).toMatchObject({
      ok: false,
      error: { status: 403, code: 'AccessDenied', detail: { HeadersNotSigned: 'x-amz-acl' } },
    });
  });
});

describe('refusals before the signature', () => {
  const url = (expires: string, extra = '') =>
    `/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=${expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=00${extra}`;
  const cases: Array<[string, IncomingSignedRequest, number, string]> = [
    ['no signature', request('GET', '/b/k', { host: 'h' }), 403, 'AccessDenied'],
    ['an anonymous listing', request('GET', '/b?list-type=2', { host: 'h' }), 403, 'AccessDenied'],
    ['a week and a second', request('GET', url('604801'), { host: 'h' }), 400, 'AuthorizationQueryParametersError'],
    ['a negative lifetime', request('GET', url('-1'), { host: 'h' }), 400, 'AuthorizationQueryParametersError'],
    ['a missing parameter', request('GET', url('60').replace(/&X-Amz-SignedHeaders=host/, ''), { host: 'h' }), 400, 'AuthorizationQueryParametersError'],
    ['host not signed', request('GET', url('60').replace('SignedHeaders=host', 'SignedHeaders=range'), { host: 'h' }), 403, 'AccessDenied'],
    ['two mechanisms', request('GET', url('60'), { host: 'h', authorization: authorization('host', '00') }), 400, 'InvalidArgument'],
    ['signature version 2', request('GET', '/b/k', { host: 'h', authorization: 'AWS AKIAIOSFODNN7EXAMPLE:abc=' }), 400, 'InvalidRequest'],
    ['a malformed header', request('GET', '/b/k', { host: 'h', authorization: 'AWS4-HMAC-SHA256 Credential=x' }), 400, 'AuthorizationHeaderMalformed'],
    ['a broken %-escape', request('GET', '/b/%zz', { host: 'h' }), 400, 'InvalidURI'],
  ];
  it.each(cases)('%s', async (_name, incoming, status, code) => {
    expect(await verifySigV4(incoming, exampleOptions)).toMatchObject({ ok: false, error: { status, code } });
  });

  it('a header signature 16 minutes off the clock is too skewed; one signed with another region is malformed', async () => {
    const headers = { host: 'h', 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY_SHA256, authorization: authorization('host;x-amz-content-sha256;x-amz-date', '00') };
    const skewed = await verifySigV4(request('GET', '/b/k', headers), { ...exampleOptions, now: () => new Date('2013-05-24T00:16:00Z') });
    expect(skewed).toMatchObject({ ok: false, error: { status: 403, code: 'RequestTimeTooSkewed' } });
    const elsewhere = await verifySigV4(request('GET', '/b/k', headers), { ...exampleOptions, region: 'eu-west-1' });
    expect(elsewhere).toMatchObject({ ok: false, error: { status: 400, code: 'AuthorizationHeaderMalformed' } });
    const noHash = await verifySigV4(request('GET', '/b/k', { ...headers, 'x-amz-content-sha256': '' }), exampleOptions);
    expect(noHash).toMatchObject({ ok: false, error: { status: 400 } });
  });
});

describe('URLs the AWS SDK presigns', () => {
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const client = new S3Client({ endpoint: 'http://127.0.0.1:9999', forcePathStyle: true, region: 'us-east-1', credentials });
  const options = { secretFor: (id: string) => (id === 'S3RVER' ? 'S3RVER' : undefined), region: 'us-east-1' };
  afterAll(() => client.destroy());

  const asReceived = (signed: string, method: string, headers: Record<string, string> = {}) => {
    const url = new URL(signed);
    return request(method, `${url.pathname}${url.search}`, { host: url.host, ...headers });
  };

  it.each(['plain.txt', 'a b/c+d (1)!*~.txt', 'ünï/cödé €.pdf', "quote's & amp=eq?.png"])('verifies a download URL for %j', async (key) => {
    const signed = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'uploads', Key: key, ResponseContentDisposition: `attachment; filename="${key}"` }), { expiresIn: 60 });
    expect(await verifySigV4(asReceived(signed, 'GET'), options)).toMatchObject({ ok: true, payload: { kind: 'unsigned' } });
    expect(await verifySigV4(asReceived(signed, 'HEAD'), options)).toMatchObject({ ok: false, error: { code: 'SignatureDoesNotMatch' } });
    const inline = signed.replace(/response-content-disposition=[^&]*/, 'response-content-disposition=inline');
    expect(await verifySigV4(asReceived(inline, 'GET'), options)).toMatchObject({ ok: false, error: { code: 'SignatureDoesNotMatch' } });
  });

  it('holds an upload URL to its signed Content-Type and Content-Length', async () => {
    const command = new PutObjectCommand({ Bucket: 'uploads', Key: 'staging/x.png', ContentType: 'image/png', ContentLength: 1234 });
    const signed = await getSignedUrl(client, command, { expiresIn: 60, signableHeaders: new Set(['content-type', 'content-length']) });
    const put = (headers: Record<string, string>) => verifySigV4(asReceived(signed, 'PUT', headers), options);
    expect(await put({ 'content-type': 'image/png', 'content-length': '1234' })).toMatchObject({ ok: true });
    const tampered: Array<Record<string, string>> = [
      { 'content-type': 'image/png', 'content-length': '1235' },
      { 'content-type': 'text/html', 'content-length': '1234' },
      { 'content-length': '1234' },
      { 'content-type': 'image/png', 'transfer-encoding': 'chunked' },
    ];
    for (const headers of tampered) {
      expect([headers, await put(headers)]).toEqual([headers, expect.objectContaining({ ok: false, error: expect.objectContaining({ status: 403, code: 'SignatureDoesNotMatch' }) })]);
    }
    const wrongSecret = await verifySigV4(asReceived(signed, 'PUT', { 'content-type': 'image/png', 'content-length': '1234' }), { ...options, secretFor: () => 'other' });
    expect(wrongSecret).toMatchObject({ ok: false, error: { code: 'SignatureDoesNotMatch' } });
  });

  // s3rver reads the query with node:querystring (`+` is a space, as in AWS): a signed `%2B`
  // sent as `+` is another value, so it must not verify.
  it('reads + in the query as a space, as s3rver and AWS do', async () => {
    const signed = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'uploads', Key: 'a.svg', ResponseContentType: 'image/svg+xml' }), { expiresIn: 60 });
    expect(await verifySigV4(asReceived(signed, 'GET'), options)).toMatchObject({ ok: true });
    const plus = await verifySigV4(asReceived(signed.replace(/%2B/g, '+'), 'GET'), options);
    expect(plus).toMatchObject({ ok: false, error: { status: 403, code: 'SignatureDoesNotMatch' } });
    const spaced = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'uploads', Key: 'a.txt', ResponseContentDisposition: 'attachment; filename="a b.txt"' }), { expiresIn: 60 });
    expect(await verifySigV4(asReceived(spaced.replace(/%20/g, '+'), 'GET'), options)).toMatchObject({ ok: true });
  });

  it('refuses a second signature in any case, and a fragment s3rver would cut off', async () => {
    const signed = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'uploads', Key: 'a.txt' }), { expiresIn: 60 });
    for (const extra of ['&x-amz-signature=zzz', '&X-AMZ-SIGNATURE=zzz', '&X-Amz-Signature=zzz']) {
      expect([extra, await verifySigV4(asReceived(`${signed}${extra}`, 'GET'), options)]).toEqual([extra, expect.objectContaining({ ok: false, error: expect.objectContaining({ status: 400 }) })]);
    }
    const url = new URL(signed);
    const fragment = request('GET', `${url.pathname}${url.search}#x`, { host: url.host });
    expect(await verifySigV4(fragment, options)).toMatchObject({ ok: false, error: { status: 400, code: 'InvalidURI' } });
  });
});
