import { HttpError } from '../http/errors';

const MAX_SAFE_NAME_BYTES = 200;
const MAX_DISPLAY_NAME_BYTES = 255;

/**
 * The name shown back to the user: the last path segment of what the client sent (browsers
 * and curl send a bare name, but nothing stops `../../etc/passwd` or `C:\\x\\y.pdf`), without
 * control characters, NFC-normalized, at most 255 bytes. Empty after that is a 422.
 */
export function displayFilename(raw: string): string {
  const base = raw.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const cleaned = truncateUtf8(base.normalize('NFC').replace(/[\u0000-\u001f\u007f]/g, '').trim(), MAX_DISPLAY_NAME_BYTES);
  if (!cleaned || cleaned === '.' || cleaned === '..') {
    throw new HttpError(422, 'The file name is empty or invalid', { errors: [{ pointer: '/file', detail: 'invalid file name' }] });
  }
  return cleaned;
}

/**
 * The name as it appears in a storage key: ASCII letters, digits, `.`, `-`, `_` kept, anything
 * else becomes `_` (so `写真.png` is `__.png`; the display name keeps the real one), no leading
 * dots, at most 200 bytes. A name with nothing left (`...`) is a 422.
 */
export function safeFilename(raw: string): string {
  const safe = Array.from(displayFilename(raw), (char) => (/^[A-Za-z0-9._-]$/.test(char) ? char : '_'))
    .join('')
    .replace(/^\.+/, '')
    .slice(0, MAX_SAFE_NAME_BYTES);
  if (!safe) {
    throw new HttpError(422, 'The file name has no usable characters', {
      errors: [{ pointer: '/file', detail: 'file name has nothing left after sanitizing' }],
    });
  }
  return safe;
}

/**
 * `{userId}/{fileId}-{safeName}`: unique per upload (two same-second uploads of one name never
 * overwrite each other, unlike the seed's `<epoch>-<userid8>-<name>`), listable by owner, and
 * free of traversal. Clients must treat keys as opaque.
 */
export function objectKey(userId: string, fileId: string, filename: string): string {
  return `${userId}/${fileId}-${safeFilename(filename)}`;
}

/**
 * Where a planned single-PUT upload lands before it is verified. Completion copies it to the
 * real key and deletes it, so the presigned PUT (valid until it expires) can never overwrite a
 * file that has been checked and listed. A bucket lifecycle rule expires leftovers.
 */
export const STAGING_PREFIX = 'staging/';
export const stagingKey = (key: string): string => `${STAGING_PREFIX}${key}`;

function truncateUtf8(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value) <= maxBytes) return value;
  let out = '';
  for (const char of value) {
    if (Buffer.byteLength(out + char) > maxBytes) break;
    out += char;
  }
  return out;
}
