// Security review 2 (issue 12): findings written as tests that fail until they are fixed.
import { getSecretString } from '../../lib/aws/secrets-manager';
import { HttpError } from '../../lib/http/errors';
import { displayFilename, objectKey } from '../../lib/storage/keys';
import { attachment } from '../../lib/storage/presign';

const FILE_ID = '0b6f7c1e-1111-4222-8333-444455556666';

describe('review 2: the lean GetSecretValue', () => {
  // Plain http sends the session token and receives the JWT signing key in clear text. Tests
  // and local stand-ins only ever need loopback; a stray AWS_ENDPOINT_URL=http://... in a
  // deployed function should be a configuration error, not a cleartext secret read.
  it('refuses a plain-http endpoint that is not loopback, before sending anything', async () => {
    const env = {
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE',
      AWS_SECRET_ACCESS_KEY: 'fake-secret-access-key',
      AWS_SESSION_TOKEN: 'fake-session-token',
      // .invalid never resolves (RFC 6761): nothing can leave this machine.
      AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://secretsmanager.example.invalid',
    };
    await expect(getSecretString('jwt', { env, maxAttempts: 1, timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ConfigError' });
  });
});

describe('review 2: shown file names (SPEC: minus control, bidi and invisible characters)', () => {
  // C1 controls (U+0080-U+009F) are Unicode category Cc like C0; U+2028/U+2029 break lines
  // in logs and UIs. Today only U+0000-U+001F and U+007F are removed.
  it.each([
    ['U+0085 (NEL)', 'a\u0085b.txt', 'ab.txt'],
    ['U+009B (CSI)', 'a\u009bb.txt', 'ab.txt'],
    ['U+2028 and U+2029', 'a\u2028b\u2029c.txt', 'abc.txt'],
  ])('removes %s', (_label, raw, shown) => {
    expect(displayFilename(raw)).toBe(shown);
  });

  // Known open finding from issue 7, confirmed still open: bidi overrides/isolates/marks and
  // invisible characters reach the returned filename and Content-Disposition filename*.
  it.each([
    ['U+202E (RLO)', 'invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ['U+2066/U+2069 (isolates)', 'a\u2066b\u2069.pdf', 'ab.pdf'],
    ['U+200E/U+200F (marks)', 'a\u200Eb\u200F.pdf', 'ab.pdf'],
    ['U+200B/U+2060 (zero width)', 're\u200Bport\u2060.pdf', 'report.pdf'],
    ['U+00AD (soft hyphen)', 'so\u00ADft.pdf', 'soft.pdf'],
  ])('removes %s (issue 7)', (_label, raw, shown) => {
    expect(displayFilename(raw)).toBe(shown);
    expect(attachment(displayFilename(raw))).not.toMatch(/%E2%80%AE|%E2%81%A6|%E2%80%8E|%E2%80%8B|%C2%AD/);
  });

  it('refuses a name made only of invisible characters with a 422, as it would an empty one (issue 7)', () => {
    expect(() => displayFilename('\u200B\u200E')).toThrow(HttpError);
  });

  // A JSON body (POST /uploads) can carry a lone surrogate ("\ud800"). displayFilename keeps
  // it: encodeURIComponent then throws URIError in attachment() (a 500 on any path that
  // presigns before the SQLite round trip), and SQLite stores invalid UTF-8 that reads back
  // as three U+FFFD. The shown name must be well-formed (toWellFormed, or a 422).
  it('never returns a name with a lone surrogate', () => {
    let shown: string;
    try {
      shown = displayFilename('\uD800report.pdf');
    } catch (error) {
      expect(error).toBeInstanceOf(HttpError);
      return;
    }
    expect(shown).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    expect(() => attachment(shown)).not.toThrow();
    expect(objectKey('user', FILE_ID, '\uD800report.pdf')).toBe(`user/${FILE_ID}-_report.pdf`);
  });
});
