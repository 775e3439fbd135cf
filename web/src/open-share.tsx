import { useState } from 'preact/hooks';
import { ApiError, call } from './api';
import { withCaptcha } from './captcha';
import type { StatusApi } from './status';

/**
 * A password-protected share link, opened in a browser: `GET /s/{token}` sends page loads here
 * (`/#/s/{token}`), and the password goes to `POST /s/{token}`, which answers the file's
 * presigned URL. Anyone with the link and the password may use it; no account needed.
 */
export function OpenShare({ token, status }: { token: string; status: StatusApi }) {
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    status.clear();
    const send = (captcha?: string) =>
      call<{ url: string; filename: string }>(`/s/${encodeURIComponent(token)}`, { auth: false, json: { password, ...(captcha ? { captcha } : {}) } });
    try {
      const file = await withCaptcha(status, send);
      status.info(`Downloading ${file.filename}`);
      window.location.assign(file.url);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) status.error('This link no longer works: it expired, was revoked or has been used up.');
      else status.error(error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card narrow" aria-labelledby="open-share-title">
      <h1 id="open-share-title">Shared file</h1>
      <p class="hint">This link is protected by a password. Ask the person who sent it.</p>
      <form onSubmit={(event) => void submit(event)}>
        <label for="open-share-password">Link password</label>
        <input id="open-share-password" type="password" autoComplete="off" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        <div class="actions">
          <button type="submit" disabled={busy}>
            Download
          </button>
        </div>
      </form>
    </section>
  );
}
