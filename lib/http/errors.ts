/** One field-level validation failure, RFC 9457 style: a JSON pointer into the request. */
export interface FieldError {
  readonly pointer: string;
  readonly detail: string;
}

export interface HttpErrorOptions {
  readonly title?: string;
  readonly errors?: readonly FieldError[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Problem type URI; `about:blank` (the status' own meaning) when absent. */
  readonly type?: string;
  readonly cause?: unknown;
  /** Extra problem members (RFC 9457 extensions), e.g. `captcha_required`; never internals. */
  readonly extensions?: Readonly<Record<string, string | number | boolean>>;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * The project's one HTTP error. Domain code throws it; the problem+json middleware turns it
 * into a response. `detail` is shown to the client, so it must never carry internals.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors: readonly FieldError[] | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly type: string;
  readonly extensions: Readonly<Record<string, string | number | boolean>>;

  constructor(status: number, detail: string, options: HttpErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.title = options.title ?? TITLES[status] ?? 'Error';
    this.detail = detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.type = options.type ?? 'about:blank';
    this.extensions = options.extensions ?? {};
  }
}

export const titleFor = (status: number): string => TITLES[status] ?? 'Error';

/**
 * 401 with the `WWW-Authenticate: Bearer` challenge of RFC 6750: no error code when the request
 * carried no credentials at all, `invalid_token` when it carried bad ones.
 */
export function unauthorized(detail = 'Could not validate credentials', error?: 'invalid_token'): HttpError {
  const challenge = error ? `Bearer error="${error}", error_description="${detail}"` : 'Bearer';
  return new HttpError(401, detail, { headers: { 'WWW-Authenticate': challenge } });
}

export function validationFailed(errors: readonly FieldError[]): HttpError {
  const first = errors[0];
  const detail = first ? `${first.pointer || 'body'}: ${first.detail}` : 'The request is invalid';
  return new HttpError(422, detail, { errors });
}
