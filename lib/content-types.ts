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

/** Formats that are a ZIP or an OLE compound file inside; the sniffer sees the container. */
const CONTAINERS: Readonly<Record<string, RegExp>> = {
  'application/zip': /openxmlformats|opendocument|epub|java-archive|vnd\.android|x-xpinstall|vnd\.apple/,
  'application/x-cfb': /msword|ms-excel|ms-powerpoint|ms-outlook|x-msi|vnd\.visio/,
};

const TYPE_SYNTAX = /^[a-z0-9][\w.+-]*\/[a-z0-9][\w.+-]*$/;

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

/** 415 unless `ALLOWED_CONTENT_TYPES` is unset or lists the type (exactly or as `type/*`). */
export function assertAllowedType(type: string): void {
  const allowed = getConfig().allowedContentTypes;
  if (allowed.length === 0) return;
  const family = `${type.split('/')[0]}/*`;
  if (!allowed.includes(type) && !allowed.includes(family)) {
    throw new HttpError(415, `Files of type ${type} are not accepted here (ALLOWED_CONTENT_TYPES: ${allowed.join(', ')})`);
  }
}

/**
 * Checks the leading bytes against the declared type (magic numbers, via file-type) and
 * returns the type to store. `application/octet-stream` takes whatever the bytes are. A
 * declared type that the bytes contradict, or a recognizable format (PNG, PDF, ...) whose
 * signature is absent, is a 422. Text formats have no signature and pass as declared.
 */
export async function verifyContentType(declared: string, head: Uint8Array): Promise<string> {
  const detected = (await fileTypeFromBuffer(head))?.mime;
  if (declared === 'application/octet-stream') return detected ?? declared;
  if (detected) {
    const compatible = detected === declared || CONTAINERS[detected]?.test(declared) === true;
    if (!compatible) {
      throw new HttpError(422, `The file's content is ${detected}, not the declared ${declared}`, {
        errors: [{ pointer: '/content_type', detail: `content is ${detected}` }],
      });
    }
    return declared;
  }
  if (supportedMimeTypes.has(declared as never)) {
    throw new HttpError(422, `The file's content is not ${declared}: its signature is missing`, {
      errors: [{ pointer: '/content_type', detail: `content is not ${declared}` }],
    });
  }
  return declared;
}
