import { createHash, createHmac } from 'node:crypto';

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/**
 * Checks a presigned SigV4 query-string URL (GET, UNSIGNED-PAYLOAD) the way S3 does, for the
 * host in the URL itself: proof, independent of the embedded server's own verifier, that a URL
 * was signed for the address it points at and not rewritten afterwards.
 */
export function verifyPresignedUrl(rawUrl: string, secretAccessKey: string, method = 'GET'): boolean {
  const url = new URL(rawUrl);
  const rawQuery = url.search.slice(1).split('&').filter(Boolean);
  const params = new Map(rawQuery.map((pair) => [pair.split('=')[0] ?? '', pair.slice(pair.indexOf('=') + 1)]));
  const signature = params.get('X-Amz-Signature');
  const date = params.get('X-Amz-Date');
  const credential = decodeURIComponent(params.get('X-Amz-Credential') ?? '');
  if (!signature || !date || !credential) return false;
  const [, day, region, service] = credential.split('/');
  if (!day || !region || !service) return false;

  const canonicalQuery = rawQuery
    .filter((pair) => !pair.startsWith('X-Amz-Signature='))
    .sort() // byte order of the encoded names, as SigV4 requires
    .join('&');
  const signedHeaders = decodeURIComponent(params.get('X-Amz-SignedHeaders') ?? '');
  if (signedHeaders !== 'host') return false;
  const canonicalRequest = [method, url.pathname, canonicalQuery, `host:${url.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign).digest('hex') === signature;
}
