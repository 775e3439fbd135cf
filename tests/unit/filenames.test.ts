import { HttpError } from '../../lib/http/errors';
import { displayFilename, objectKey, safeFilename } from '../../lib/storage/keys';
import { attachment } from '../../lib/storage/presign';

describe('file names', () => {
  it.each([
    ['document.pdf', 'document.pdf', 'document.pdf'],
    ['../../etc/passwd', 'passwd', 'passwd'],
    ['..\\..\\boot.ini', 'boot.ini', 'boot.ini'],
    ['.bashrc', '.bashrc', 'bashrc'],
    ['my report (final).pdf', 'my report (final).pdf', 'my_report__final_.pdf'],
    ['naïve\u0000\u001f.txt', 'naïve.txt', 'na_ve.txt'],
    ['写真.png', '写真.png', '__.png'],
    ['日本語', '日本語', '___'],
    ['😀.txt', '😀.txt', '_.txt'],
  ])('%j is shown as %j and stored as %j', (raw, shown, safe) => {
    expect(displayFilename(raw)).toBe(shown);
    expect(safeFilename(raw)).toBe(safe);
  });

  it('caps the stored name at 200 bytes, keeping its extension, and the shown one at 255', () => {
    expect(safeFilename(`${'a'.repeat(300)}.txt`)).toBe(`${'a'.repeat(196)}.txt`);
    expect(safeFilename(`${'a'.repeat(300)}.${'b'.repeat(40)}`)).toBe('a'.repeat(200));
    expect(Buffer.byteLength(displayFilename('é'.repeat(300)))).toBeLessThanOrEqual(255);
  });

  it.each(['', '/', '..', '../..', '\u0000', '...'])('refuses %j with a 422', (raw) => {
    expect(() => safeFilename(raw)).toThrow(HttpError);
    try {
      safeFilename(raw);
    } catch (error) {
      expect((error as HttpError).status).toBe(422);
    }
  });

  it('builds keys under the owner', () => {
    expect(objectKey('user-1', 'file-1', '../x.txt')).toBe('user-1/file-1-x.txt');
    // SPEC: the whole last segment {fileId}-{safeName} is at most 200 bytes, whatever the name.
    const fileId = '0b3f2c4e-9a1d-4f6b-8c2e-5d7a9e1f3b40';
    const segment = (name: string) => objectKey('user-1', fileId, name).split('/').pop() ?? '';
    expect(segment(`${'x'.repeat(400)}.pdf`)).toBe(`${fileId}-${'x'.repeat(200 - 37 - 4)}.pdf`);
    expect(Buffer.byteLength(segment(`${'名'.repeat(400)}.pdf`))).toBeLessThanOrEqual(200);
    expect(segment(`${'名'.repeat(400)}.pdf`)).toMatch(/\.pdf$/);
  });

  it('builds an attachment disposition that cannot be broken out of', () => {
    expect(attachment('a"b\\c.txt')).toBe(`attachment; filename="a_b_c.txt"; filename*=UTF-8''a%22b%5Cc.txt`);
    expect(attachment('résumé.pdf')).toBe(`attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`);
  });
});
