import { useEffect, useRef, useState } from 'preact/hooks';
import { call } from './api';
import { Dialog } from './dialog';
import { formatBytes, formatDate } from './format';
import { ShareDialog } from './share';
import type { StatusApi } from './status';
import { describe } from './status';
import { startUpload, UploadAborted, type UploadHandle } from './upload';

export interface FileItem {
  readonly id: string;
  readonly filename: string;
  readonly size: number;
  readonly content_type: string;
  readonly created_at: string;
  readonly scan_status?: string;
}

interface Upload {
  readonly key: number;
  readonly name: string;
  loaded: number;
  total: number;
  state: 'uploading' | 'done' | 'failed' | 'cancelled';
  error?: string;
  handle?: UploadHandle;
}

const PAGE_SIZE = 20;
let uploadKeys = 0;

/** Upload (picker or drop), the list with paging, and per file: download, share, delete. */
export function Files({ status }: { status: StatusApi }) {
  const [files, setFiles] = useState<FileItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [dragging, setDragging] = useState(false);
  const [sharing, setSharing] = useState<FileItem | undefined>(undefined);
  const [deleting, setDeleting] = useState<FileItem | undefined>(undefined);
  const picker = useRef<HTMLInputElement>(null);

  async function load(more = false): Promise<void> {
    setLoading(true);
    try {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE), ...(more && cursor ? { cursor } : {}) });
      const page = await call<{ files: FileItem[]; next_cursor: string | null }>(`/files?${query}`);
      setFiles((current) => (more ? [...current, ...page.files] : page.files));
      setCursor(page.next_cursor);
    } catch (error) {
      status.error(error);
    } finally {
      setLoading(false);
    }
  }

  useEffect(() => {
    void load();
  }, []);

  const update = (key: number, change: Partial<Upload>) =>
    setUploads((current) => current.map((upload) => (upload.key === key ? { ...upload, ...change } : upload)));

  function upload(list: Iterable<File>): void {
    const chosen = [...list];
    if (chosen.length === 0) {
      status.error('Choose a file first');
      return;
    }
    status.clear();
    for (const file of chosen) {
      const key = ++uploadKeys;
      const handle = startUpload(file, (loaded, total) => update(key, { loaded, total }));
      // Newest first; finished entries stay (at 100%) until the next ones push them out.
      setUploads((current) => [{ key, name: file.name, loaded: 0, total: file.size, state: 'uploading' as const, handle }, ...current].slice(0, 8));
      handle.done.then(
        () => {
          update(key, { state: 'done', loaded: file.size, handle: undefined });
          status.info(`Uploaded ${file.name}`);
          void load();
        },
        (error: unknown) => {
          const cancelled = error instanceof UploadAborted;
          update(key, { state: cancelled ? 'cancelled' : 'failed', error: cancelled ? undefined : describe(error), handle: undefined });
          if (cancelled) status.info(`Cancelled ${file.name}`);
          else status.error(`${file.name}: ${describe(error)}`);
        },
      );
    }
    if (picker.current) picker.current.value = '';
  }

  async function download(file: FileItem): Promise<void> {
    try {
      const { url } = await call<{ url: string | null }>(`/files/${encodeURIComponent(file.id)}`);
      if (!url) {
        status.error(`${file.filename} cannot be downloaded (scan ${file.scan_status ?? 'pending'})`);
        return;
      }
      // A presigned link that answers as an attachment: the browser saves it, the page stays.
      window.location.assign(url);
    } catch (error) {
      status.error(error);
    }
  }

  async function remove(file: FileItem): Promise<void> {
    setDeleting(undefined);
    try {
      await call(`/files/${encodeURIComponent(file.id)}`, { method: 'DELETE' });
      setFiles((current) => current.filter((item) => item.id !== file.id));
      status.info(`Deleted ${file.filename}`);
    } catch (error) {
      status.error(error);
    }
  }

  return (
    <>
      <section class="card" aria-labelledby="upload-title">
        <h1 id="upload-title">Upload</h1>
        <form
          aria-label="Upload files"
          class={dragging ? 'drop dragging' : 'drop'}
          onSubmit={(event) => {
            event.preventDefault();
            upload(picker.current?.files ?? []);
          }}
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            upload(event.dataTransfer?.files ?? []);
          }}
        >
          <p class="hint">Drop files here, or choose them:</p>
          <label for="file">File</label>
          <input id="file" name="file" type="file" multiple ref={picker} />
          <div class="actions">
            <button type="submit">Upload</button>
          </div>
        </form>
        {uploads.length > 0 && (
          <ul class="uploads" aria-label="Uploads">
            {uploads.map((item) => {
              const percent = item.total ? Math.floor((item.loaded / item.total) * 100) : item.state === 'done' ? 100 : 0;
              return (
                <li key={item.key}>
                  <span class="name">{item.name}</span>
                  <div
                    class="bar"
                    role="progressbar"
                    aria-label={item.name}
                    aria-valuemin={0}
                    aria-valuemax={100}
                    aria-valuenow={percent}
                    aria-valuetext={`${percent}% (${formatBytes(item.loaded)} of ${formatBytes(item.total)})`}
                  >
                    <div class={`fill ${item.state}`} style={{ width: `${percent}%` }} />
                  </div>
                  <span class="state">
                    {item.state === 'uploading' ? `${percent}%` : item.state === 'done' ? 'Done' : item.state === 'cancelled' ? 'Cancelled' : `Failed: ${item.error ?? ''}`}
                  </span>
                  {item.state === 'uploading' && (
                    <button type="button" class="secondary small" aria-label={`Cancel ${item.name}`} onClick={() => item.handle?.abort()}>
                      Cancel
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </section>

      <section class="card" aria-labelledby="files-title">
        <h2 id="files-title">Your files</h2>
        {!loading && files.length === 0 && <p class="hint">No files yet.</p>}
        <ul class="files" aria-label="Files" aria-busy={loading}>
          {files.map((file) => (
            <li key={file.id} aria-label={file.filename}>
              <div class="meta">
                <span class="name">{file.filename}</span>
                <span class="hint">
                  {formatBytes(file.size)} · {formatDate(file.created_at)}
                </span>
              </div>
              <div class="actions">
                <button type="button" class="secondary small" onClick={() => void download(file)}>
                  Download
                </button>
                <button type="button" class="secondary small" onClick={() => setSharing(file)}>
                  Share
                </button>
                <button type="button" class="danger small" onClick={() => setDeleting(file)}>
                  Delete
                </button>
              </div>
            </li>
          ))}
        </ul>
        {cursor && (
          <button type="button" class="secondary" disabled={loading} onClick={() => void load(true)}>
            Load more
          </button>
        )}
      </section>

      {sharing && <ShareDialog file={sharing} onClose={() => setSharing(undefined)} status={status} />}
      {deleting && (
        <Dialog title={`Delete ${deleting.filename}?`} onClose={() => setDeleting(undefined)}>
          <p>The file and its share links are gone for good.</p>
          <div class="actions">
            <button type="button" class="danger" onClick={() => void remove(deleting)}>
              Delete
            </button>
            <button type="button" class="secondary" onClick={() => setDeleting(undefined)}>
              Cancel
            </button>
          </div>
        </Dialog>
      )}
    </>
  );
}
