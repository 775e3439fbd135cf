import { getConfig } from '../config';
import { HttpError, validationFailed } from './errors';
import type { InputStep } from './handler';
import { parseMultipart, type MultipartFile, type MultipartForm } from './multipart';

/**
 * multipart/form-data body (API Gateway sends it base64 encoded); the handler gets `form`.
 * Files are capped at `MAX_UPLOAD_BYTES`: the parser stops keeping bytes there and marks the
 * file truncated, which {@link requireFile} turns into a 413 instead of storing a cut file.
 */
export const multipartForm: InputStep<MultipartForm> = {
  read: ({ event }) => {
    const raw = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
    return parseMultipart(raw, event.headers?.['content-type'], { fileSize: getConfig().maxUploadBytes, files: 1, fields: 20 });
  },
};

/** The single file a form carries in `field`; 422 if absent, 413 if over the limit. */
export function requireFile(form: MultipartForm, field: string): MultipartFile {
  const file = Object.hasOwn(form, field) ? form[field] : undefined;
  if (file === undefined || typeof file === 'string') {
    throw validationFailed([{ pointer: `/${field}`, detail: `a file is required in the multipart field "${field}"` }]);
  }
  if (file.truncated) {
    throw new HttpError(413, `The file is larger than the ${getConfig().maxUploadBytes}-byte limit (MAX_UPLOAD_BYTES)`);
  }
  if (file.content.length === 0) {
    throw validationFailed([{ pointer: `/${field}`, detail: 'the file is empty' }]);
  }
  return file;
}
