// The core entry: detection from bytes, without file-type's Node stream and file helpers.
import { fileTypeFromBuffer, supportedMimeTypes } from 'file-type/core';
import { getConfig } from './config';
import { HttpError } from './http/errors';

/** How many leading bytes the sniffer needs (file-type's own sample size). */
export const SNIFF_BYTES = 4100;

const ALIASES: Readonly<Record<string, string>> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'audio/mp3': 'audio/mpeg',
  'application/x-zip-compressed': 'application/zip',
  'application/x-pdf': 'application/pdf',
  'image/x-png': 'image/png',
};

/**
 * Formats that are a ZIP or an OLE compound file inside; the sniffer may see only the
 * container. Anchored to the exact known subtypes: a declared `image/x-openxmlformats` on a
 * ZIP is a lie, not a document.
 */
const CONTAINERS: Readonly<Record<string, RegExp>> = {
  'application/zip': new RegExp(
    '^application/(' +
      [
        'vnd\\.openxmlformats-officedocument\\.[\\w.+-]+', // docx, xlsx, pptx and their templates
        'vnd\\.ms-(word|excel|powerpoint)\\.[\\w.-]+\\.macroenabled\\.12', // docm, xlsm, pptm...
        'vnd\\.oasis\\.opendocument\\.[\\w.+-]+', // odt, ods, odp...
        'epub\\+zip',
        'java-archive',
        'vnd\\.android\\.package-archive',
        'x-xpinstall',
        'vnd\\.apple\\.(keynote|pages|numbers)',
      ].join('|') +
      ')$',
  ),
  'application/x-cfb': /^application\/(msword|vnd\.ms-excel|vnd\.ms-powerpoint|vnd\.ms-outlook|x-msi|vnd\.visio)$/,
};

const TYPE_SYNTAX = /^[a-z0-9][\w.+-]*\/[a-z0-9][\w.+-]*$/;

/** What the bytes say about a file: the type to store, and whether a signature backs it. */
export interface VerifiedType {
  readonly type: string;
  /** True if the sniffer recognized the bytes (the type is the sniffed one, or a container's known subtype). */
  readonly signed: boolean;
}

/**
 * The declared media type, lower-cased, without parameters, aliases resolved. A malformed one
 * is a 422; a missing one is `application/octet-stream`.
 */
export function normalizeContentType(declared: string | undefined, pointer = '/content_type'): string {
  const type = (declared ?? '').split(';')[0]?.trim().toLowerCase() || 'application/octet-stream';
  if (!TYPE_SYNTAX.test(type)) {
    throw new HttpError(422, `${pointer}: not a media type`, { errors: [{ pointer, detail: 'must look like type/subtype' }] });
  }
  return ALIASES[type] ?? type;
}

/**
 * Application types that are text: no signature to sniff, so only their declaration says what
 * they are. JavaScript counts: it is text and is only ever served as an attachment. Any
 * structured-syntax suffix `+json` or `+xml` (RFC 6839) counts too.
 */
const TEXT_APPLICATION_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/xml',
  'application/javascript',
  'application/ecmascript',
  'application/x-ndjson',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/sql',
  'application/graphql',
]);

/** True for text types (`text/*`, JSON, XML, YAML, `+json`, `+xml`...): formats without a signature. */
export function isTextType(type: string): boolean {
  return type.startsWith('text/') || TEXT_APPLICATION_TYPES.has(type) || /\+(json|xml)$/.test(type);
}

const XML = 'application/xml';
/** XML and the types based on it (RFC 7303: `text/xml`, any `+xml`). */
const isXmlType = (type: string): boolean => type === XML || type === 'text/xml' || type.endsWith('+xml');

/**
 * Families whose wildcard admits a text type: `text/*` and `application/*`. Elsewhere a text
 * type is only a claim the bytes cannot back (an `image/svg+xml` is any text at all, and SVG
 * runs script), so `image/*` admits only what is recognized as an image; an unsigned type in
 * such a family passes only when listed exactly.
 */
const TEXT_WILDCARDS: ReadonlySet<string> = new Set(['text/*', 'application/*']);

const matchesEntry = (type: string, entry: string): boolean =>
  entry === type || (entry.endsWith('/*') && type.startsWith(entry.slice(0, -1)));

const notAccepted = (type: string, allowed: readonly string[]) =>
  new HttpError(415, `Files of type ${type} are not accepted here (ALLOWED_CONTENT_TYPES: ${allowed.join(', ')})`);

/**
 * Before any bytes exist (planning a direct upload): 415 unless `ALLOWED_CONTENT_TYPES` is
 * unset, lists the declared type (exactly or as `type/*`), or the type is
 * `application/octet-stream`, which leaves the type to the bytes. Completion decides for good
 * with {@link assertAllowedType}.
 */
export function assertDeclaredTypeAllowed(declared: string): void {
  const allowed = getConfig().allowedContentTypes;
  if (allowed.length === 0 || declared === 'application/octet-stream') return;
  if (!allowed.some((entry) => matchesEntry(declared, entry))) throw notAccepted(declared, allowed);
}

/**
 * 415 unless `ALLOWED_CONTENT_TYPES` is unset or admits what the bytes are (SPEC "Types"): a
 * recognized file's type must match an entry (exactly or as `type/*`); content without a
 * signature passes only as a text type that an entry lists exactly, or that `text/*` or
 * `application/*` covers. So `image/*` never admits unrecognizable bytes declared `image/x-...`.
 */
export function assertAllowedType(verified: VerifiedType): void {
  const allowed = getConfig().allowedContentTypes;
  if (allowed.length === 0) return;
  const { type, signed } = verified;
  const admitted = signed
    ? allowed.some((entry) => matchesEntry(type, entry))
    : isTextType(type) && allowed.some((entry) => entry === type || (TEXT_WILDCARDS.has(entry) && matchesEntry(type, entry)));
  if (!admitted) throw notAccepted(type, allowed);
}

/**
 * Checks the leading bytes against the declared type (magic numbers, via file-type) and
 * returns the type to store. `application/octet-stream` takes whatever the bytes are. A
 * declared type that the bytes contradict, or a recognizable format (PNG, PDF, ...) whose
 * signature is absent, is a 422. Text formats have no signature and pass as declared.
 */
export async function verifyContentType(declared: string, head: Uint8Array): Promise<VerifiedType> {
  const detected = (await fileTypeFromBuffer(head))?.mime;
  if (declared === 'application/octet-stream') return { type: detected ?? declared, signed: detected !== undefined };
  if (detected) {
    const compatible = detected === declared || CONTAINERS[detected]?.test(declared) === true;
    // An XML declaration is all the sniffer sees of any XML-based format (SVG, Atom, XHTML...),
    // and it is optional in all of them: it proves no type, so such a file is text as declared.
    if (!compatible && detected === XML && isXmlType(declared)) return { type: declared, signed: false };
    if (!compatible) {
      throw new HttpError(422, `The file's content is ${detected}, not the declared ${declared}`, {
        errors: [{ pointer: '/content_type', detail: `content is ${detected}` }],
      });
    }
    return { type: declared, signed: true };
  }
  // XML's declaration is optional: plain XML without one is still XML (a text type).
  if (supportedMimeTypes.has(declared as never) && declared !== XML) {
    throw new HttpError(422, `The file's content is not ${declared}: its signature is missing`, {
      errors: [{ pointer: '/content_type', detail: `content is not ${declared}` }],
    });
  }
  return { type: declared, signed: false };
}
