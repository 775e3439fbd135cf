import { HttpError } from '../../lib/http/errors';
import { parseMultipart, type MultipartFile } from '../../lib/http/multipart';
import { multipartBody } from '../helpers/events';
import { bytes, integer, pick, seeded } from '../helpers/random';

const BOUNDARY = 'xYz-42';
const TYPE = `multipart/form-data; boundary=${BOUNDARY}`;
/** Bytes that make boundary look-alikes likely inside a file: CR, LF, dashes, boundary letters. */
const LOOKALIKE = Buffer.from(`\r\n--${BOUNDARY}\r\n--xYz-4`);
const LIMITS = { fileSize: 64 * 1024, files: 1, fields: 5 };

function fileOf(form: Record<string, MultipartFile | string>, field = 'file'): MultipartFile {
  const file = form[field];
  if (typeof file !== 'object') throw new Error(`no file in ${field}`);
  return file;
}

/** The same body at a random offset inside a larger buffer, as a pooled or sliced Buffer is. */
function offset(body: Buffer, by: number): Buffer {
  const host = Buffer.alloc(body.length + by + 7, 0x2d);
  body.copy(host, by);
  return host.subarray(by, by + body.length);
}

describe('parseMultipart', () => {
  it('returns every file byte for byte, for contents full of boundary look-alikes', async () => {
    const random = seeded(56);
    for (let n = 0; n < 400; n += 1) {
      const size = pick(random, [0, 1, 2, integer(random, 0, 100), integer(random, 0, 70_000)]);
      const content = bytes(random, size, random() < 0.5 ? LOOKALIKE : undefined);
      const fields = Array.from({ length: integer(random, 0, 3) }, (_, i) => ({ name: `f${i}`, content: bytes(random, integer(random, 0, 40), LOOKALIKE).toString('latin1') }));
      const parts = [...fields, { name: 'file', filename: 'a.bin', content }].sort(() => random() - 0.5);
      const body = offset(multipartBody(parts, BOUNDARY).body, integer(random, 0, 9));
      const file = fileOf(await parseMultipart(body, TYPE, LIMITS));
      const expected = content.subarray(0, LIMITS.fileSize);
      expect([n, file.truncated, file.content.equals(expected)]).toEqual([n, size > LIMITS.fileSize, true]);
    }
  });

  it('shares the body it parses instead of copying the file out of it', async () => {
    const content = bytes(seeded(1), 50_000, LOOKALIKE);
    const body = offset(multipartBody([{ name: 'file', filename: 'a.bin', content }], BOUNDARY).body, 3);
    const file = fileOf(await parseMultipart(body, TYPE, LIMITS));
    expect(file.content.equals(content)).toBe(true);
    expect(file.content.buffer).toBe(body.buffer);
    const start = file.content.byteOffset - body.byteOffset;
    expect(body.subarray(start, start + content.length).equals(content)).toBe(true);
  });

  it('answers a 4xx, never anything else, for cut, corrupted and garbage bodies', async () => {
    const random = seeded(78);
    const statuses = new Set<number>();
    for (let n = 0; n < 600; n += 1) {
      const valid = multipartBody([{ name: 'file', filename: 'a.bin', content: bytes(random, integer(random, 0, 300), LOOKALIKE) }], BOUNDARY).body;
      let body: Buffer;
      const kind = pick(random, ['cut', 'flip', 'garbage'] as const);
      if (kind === 'cut') body = valid.subarray(0, integer(random, 0, valid.length - 1));
      else if (kind === 'garbage') body = bytes(random, integer(random, 0, 400), LOOKALIKE);
      else {
        body = Buffer.from(valid);
        for (let i = integer(random, 1, 4); i > 0; i -= 1) body[integer(random, 0, body.length - 1)] = pick(random, [...LOOKALIKE, 0x22, 0x3b, 0x00]);
      }
      try {
        const form = await parseMultipart(body, TYPE, LIMITS);
        const file = form.file;
        if (typeof file === 'object') expect(Buffer.isBuffer(file.content)).toBe(true);
      } catch (error) {
        expect([n, kind, error instanceof HttpError]).toEqual([n, kind, true]);
        const status = (error as HttpError).status;
        statuses.add(status);
        expect([n, status >= 400 && status < 500]).toEqual([n, true]);
      }
    }
    expect(statuses.has(400)).toBe(true);
  });
});
