import { ApiError, call, currentAccessToken, refresh } from './api';

/**
 * Uploads, with progress and a way to stop them:
 *
 * - up to MAX_UPLOAD_BYTES (the page's `max-upload-bytes` meta tag, 4 MiB by default): one
 *   `POST /upload` (multipart/form-data) through the API;
 * - larger: a plan (`POST /uploads`), then the bytes straight to storage on presigned URLs — one
 *   PUT, or multipart parts 4 at a time, each tried up to 3 times with backoff — then
 *   `POST /uploads/{id}/complete` with the parts' ETags. Every part URL comes in the plan (the
 *   API signs them all at once, at most 10,000), so there is nothing to page through.
 *
 * XHR rather than fetch: fetch still reports no upload progress.
 */

export const PART_CONCURRENCY = 4;
export const PART_TRIES = 3;

export interface UploadHandle {
  readonly done: Promise<void>;
  abort(): void;
}

export class UploadAborted extends Error {
  constructor() {
    super('Upload cancelled');
    this.name = 'UploadAborted';
  }
}

/** Files up to this many bytes go through POST /upload. */
export function maxUploadBytes(): number {
  const value = Number(document.querySelector<HTMLMetaElement>('meta[name="max-upload-bytes"]')?.content);
  return Number.isFinite(value) && value > 0 ? value : 4 * 1024 * 1024;
}

interface XhrResult {
  readonly status: number;
  readonly body: string;
  readonly etag: string | null;
}

/** One XHR with upload progress, aborted with `signal`. Resolves for every HTTP status. */
function send(
  method: 'POST' | 'PUT',
  url: string,
  body: Blob | FormData,
  headers: Record<string, string>,
  onProgress: (loaded: number) => void,
  signal: AbortSignal,
): Promise<XhrResult> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new UploadAborted());
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    const abort = () => xhr.abort();
    signal.addEventListener('abort', abort, { once: true });
    xhr.onload = () => {
      signal.removeEventListener('abort', abort);
      resolve({ status: xhr.status, body: xhr.responseText, etag: xhr.getResponseHeader('ETag') });
    };
    xhr.onerror = () => {
      signal.removeEventListener('abort', abort);
      reject(new Error('Network error'));
    };
    xhr.onabort = () => reject(new UploadAborted());
    xhr.send(body);
  });
}

function errorFrom(result: XhrResult): ApiError {
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(result.body) as Record<string, unknown>;
  } catch {
    // S3 answers XML
  }
  const detail = typeof body.detail === 'string' ? body.detail : typeof body.message === 'string' ? body.message : `Upload failed (HTTP ${result.status})`;
  return new ApiError(result.status, detail, body);
}

const wait = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new UploadAborted());
    }, { once: true });
  });

/** A PUT to storage, tried up to PART_TRIES times (network errors and 5xx; backoff 0.5 s, 1 s). */
async function putWithRetries(url: string, blob: Blob, headers: Record<string, string>, onProgress: (loaded: number) => void, signal: AbortSignal): Promise<XhrResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      onProgress(0);
      const result = await send('PUT', url, blob, headers, onProgress, signal);
      if (result.status >= 200 && result.status < 300) return result;
      if (result.status < 500 || attempt >= PART_TRIES) throw errorFrom(result);
    } catch (error) {
      if (error instanceof UploadAborted || error instanceof ApiError || attempt >= PART_TRIES) throw error;
    }
    await wait(500 * 2 ** (attempt - 1), signal);
  }
}

interface Plan {
  readonly id: string;
  readonly upload:
    | { readonly method: 'PUT'; readonly url: string; readonly headers: Record<string, string> }
    | { readonly method: 'multipart'; readonly part_size: number; readonly parts: ReadonlyArray<{ part_number: number; url: string }> };
}

/** Browsers set these themselves and refuse (with a console error) to let a script do it. */
const FORBIDDEN_HEADERS = new Set(['content-length', 'host', 'connection']);

async function direct(file: File, onProgress: (loaded: number) => void, signal: AbortSignal): Promise<void> {
  const plan = await call<Plan>('/uploads', {
    json: { filename: file.name, content_type: file.type || 'application/octet-stream', size: file.size },
    signal,
  });
  const { upload } = plan;
  let parts: { part_number: number; etag: string }[] | undefined;
  if (upload.method === 'PUT') {
    const headers = Object.fromEntries(Object.entries(upload.headers).filter(([name]) => !FORBIDDEN_HEADERS.has(name.toLowerCase())));
    await putWithRetries(upload.url, file, headers, onProgress, signal);
  } else {
    const loaded = new Map<number, number>();
    const report = () => onProgress([...loaded.values()].reduce((sum, value) => sum + value, 0));
    const queue = [...upload.parts];
    parts = [];
    const done = parts;
    const worker = async () => {
      for (let part = queue.shift(); part; part = queue.shift()) {
        const start = (part.part_number - 1) * upload.part_size;
        const number = part.part_number;
        const result = await putWithRetries(part.url, file.slice(start, start + upload.part_size), {}, (bytes) => {
          loaded.set(number, bytes);
          report();
        }, signal);
        if (!result.etag) throw new Error('Storage sent no ETag (is CORS exposing it?)');
        done.push({ part_number: number, etag: result.etag });
      }
    };
    // One failing part stops the others: a shared controller aborts what is in flight.
    await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, upload.parts.length) }, worker));
    parts.sort((a, b) => a.part_number - b.part_number);
  }
  await call(`/uploads/${encodeURIComponent(plan.id)}/complete`, { method: 'POST', ...(parts ? { json: { parts } } : {}), signal });
}

async function throughApi(file: File, onProgress: (loaded: number) => void, signal: AbortSignal): Promise<void> {
  const form = new FormData();
  form.append('file', file, file.name);
  const attempt = async () => send('POST', '/upload', form, { Authorization: `Bearer ${await currentAccessToken()}` }, onProgress, signal);
  let result = await attempt();
  if (result.status === 401 && (await refresh())) result = await attempt();
  if (result.status < 200 || result.status >= 300) throw errorFrom(result);
}

/** Starts one upload; `onProgress(loaded, total)` follows the bytes sent. */
export function startUpload(file: File, onProgress: (loaded: number, total: number) => void): UploadHandle {
  const controller = new AbortController();
  let cancelled = false;
  const total = file.size;
  const progress = (loaded: number) => onProgress(Math.min(loaded, total), total);
  const work = file.size <= maxUploadBytes() ? throughApi(file, progress, controller.signal) : direct(file, progress, controller.signal);
  const done = work.catch((error: unknown) => {
    controller.abort(); // one part failed for good: stop the others
    throw cancelled ? new UploadAborted() : error;
  });
  return {
    done,
    abort: () => {
      cancelled = true;
      controller.abort();
    },
  };
}
