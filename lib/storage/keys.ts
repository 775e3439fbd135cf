import { HttpError } from '../http/errors';

/**
 * The last segment of a key, `{fileId}-{safeName}`, is at most this long (SPEC, "Keys"): storage
 * backends that map keys to files (the embedded s3rver adds `._S3rver_metadata.json` to each
 * segment, MinIO on a filesystem) must accept it, and Linux allows 255 bytes per file name.
 */
export const MAX_KEY_SEGMENT_BYTES = 200;
const MAX_DISPLAY_NAME_BYTES = 255;
/** An extension longer than this is not kept apart when a long name is shortened. */
const MAX_KEPT_EXTENSION = 16;

/**
 * Characters a shown name must not keep: controls (C0 and C1), format characters (bidi overrides
 * and isolates, which make `invoice\u202Efdp.exe` display as "invoiceexe.pdf", zero-width and
 * other invisible characters, soft hyphens) and line or paragraph separators. Zero-width joiners
 * go too, so an emoji sequence may show as its parts: a name must read as what it is.
 */
const UNSHOWABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
/** In a `u` regex a surrogate pair is one code point, so this matches only unpaired halves. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

/**
 * The name shown back to the user: the last path segment of what the client sent (browsers
 * and curl send a bare name, but nothing stops `../../etc/passwd` or `C:\\x\\y.pdf`), well-formed
 * UTF-16 (a lone surrogate becomes U+FFFD), without the {@link UNSHOWABLE} characters,
 * NFC-normalized, at most 255 bytes. Empty after that is a 422.
 */
export function displayFilename(raw: string): string {
  const base = raw.split(/[/\\]/).pop() ?? '';
  const cleaned = shorten(base.replace(LONE_SURROGATE, '\uFFFD').normalize('NFC').replace(UNSHOWABLE, '').trim(), MAX_DISPLAY_NAME_BYTES).trim();
  if (!cleaned || cleaned === '.' || cleaned === '..') {
    throw new HttpError(422, 'The file name is empty or invalid', { errors: [{ pointer: '/file', detail: 'invalid file name' }] });
  }
  return cleaned;
}

/**
 * The name as it appears in a storage key: ASCII letters, digits, `.`, `-`, `_` kept, anything
 * else becomes `_` (so `写真.png` is `__.png`; the display name keeps the real one), no leading
 * dots, at most `maxBytes` (one byte per character). A name too long loses the end of its stem,
 * not its extension (`report…x.pdf` stays a `.pdf`). A name with nothing left (`...`) is a 422.
 */
export function safeFilename(raw: string, maxBytes = MAX_KEY_SEGMENT_BYTES): string {
  const whole = Array.from(displayFilename(raw), (char) => (/^[A-Za-z0-9._-]$/.test(char) ? char : '_'))
    .join('')
    .replace(/^\.+/, '');
  const safe = shorten(whole, maxBytes);
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
  const prefix = `${fileId}-`;
  return `${userId}/${prefix}${safeFilename(filename, MAX_KEY_SEGMENT_BYTES - prefix.length)}`;
}

/** `name` cut to at most `maxBytes` of UTF-8 on a character boundary, keeping a short extension whole. */
function shorten(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name) <= maxBytes) return name;
  const dot = name.lastIndexOf('.');
  const tail = dot > 0 ? name.slice(dot) : '';
  const extension = tail && Buffer.byteLength(tail) <= MAX_KEPT_EXTENSION && Buffer.byteLength(tail) < maxBytes ? tail : '';
  return truncateUtf8(extension ? name.slice(0, dot) : name, maxBytes - Buffer.byteLength(extension)) + extension;
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
