import { useState } from 'preact/hooks';
import { call } from './api';
import { Dialog } from './dialog';
import type { FileItem } from './files';
import { formatDate } from './format';
import { describe, type StatusApi } from './status';

const EXPIRIES: ReadonlyArray<readonly [number, string]> = [
  [3600, '1 hour'],
  [86_400, '1 day'],
  [7 * 86_400, '7 days'],
  [30 * 86_400, '30 days'],
];

interface Created {
  readonly url: string;
  readonly expires_at: string;
  readonly max_downloads: number | null;
}

/** Create a share link: expiry, optional password and download limit; then copy it. */
export function ShareDialog({ file, onClose, status }: { file: FileItem; onClose: () => void; status: StatusApi }) {
  const [expiresIn, setExpiresIn] = useState(86_400);
  const [password, setPassword] = useState('');
  const [maxDownloads, setMaxDownloads] = useState('');
  const [created, setCreated] = useState<Created | undefined>(undefined);
  const [error, setError] = useState('');
  const [copied, setCopied] = useState(false);
  const [busy, setBusy] = useState(false);

  async function create(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      const body = {
        expires_in: expiresIn,
        ...(password ? { password } : {}),
        ...(maxDownloads ? { max_downloads: Number(maxDownloads) } : {}),
      };
      setCreated(await call<Created>(`/files/${encodeURIComponent(file.id)}/shares`, { json: body }));
      status.info(`Share link created for ${file.filename}`);
    } catch (caught) {
      setError(describe(caught));
    } finally {
      setBusy(false);
    }
  }

  async function copy(): Promise<void> {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.url);
      setCopied(true);
    } catch {
      // No clipboard permission: select it for Ctrl-C instead.
      (document.getElementById('share-link') as HTMLInputElement | null)?.select();
      setError('Copy was blocked by the browser: the link is selected, press Ctrl-C (or Cmd-C).');
    }
  }

  return (
    <Dialog title={`Share ${file.filename}`} onClose={onClose}>
      {!created ? (
        <form onSubmit={(event) => void create(event)}>
          <label for="share-expiry">Expires after</label>
          <select id="share-expiry" value={String(expiresIn)} onChange={(e) => setExpiresIn(Number(e.currentTarget.value))}>
            {EXPIRIES.map(([seconds, text]) => (
              <option key={seconds} value={String(seconds)}>
                {text}
              </option>
            ))}
          </select>
          <label for="share-password">Link password (optional)</label>
          <input id="share-password" type="password" autoComplete="new-password" minLength={8} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          <label for="share-max">Maximum downloads (optional)</label>
          <input id="share-max" type="number" min={1} max={1000000} inputMode="numeric" value={maxDownloads} onInput={(e) => setMaxDownloads(e.currentTarget.value)} />
          {error && (
            <p role="alert" class="status error">
              {error}
            </p>
          )}
          <div class="actions">
            <button type="submit" disabled={busy}>
              Create link
            </button>
            <button type="button" class="secondary" onClick={onClose}>
              Close
            </button>
          </div>
        </form>
      ) : (
        <div>
          <label for="share-link">Share link</label>
          <input id="share-link" readOnly value={created.url} onFocus={(e) => e.currentTarget.select()} />
          <p class="hint">
            Works until {formatDate(created.expires_at)}
            {created.max_downloads ? `, for ${created.max_downloads} download(s)` : ''}
            {password ? '; the recipient needs the password' : ''}. It is shown only now.
          </p>
          {error && (
            <p role="alert" class="status error">
              {error}
            </p>
          )}
          <p role="status" class="hint">
            {copied ? 'Link copied to the clipboard' : ''}
          </p>
          <div class="actions">
            <button type="button" onClick={() => void copy()}>
              Copy link
            </button>
            <button type="button" class="secondary" onClick={onClose}>
              Close
            </button>
          </div>
        </div>
      )}
    </Dialog>
  );
}
