import { useState } from 'preact/hooks';
import { ApiError, call } from './api';
import { withCaptcha } from './captcha';
import { useSubmit, type StatusApi } from './status';

/**
 * A password-protected share link, opened in a browser: `GET /s/{token}` sends page loads here
 * (`/#/s/{token}`), and the password goes to `POST /s/{token}`, which answers the file's
 * presigned URL. Anyone with the link and the password may use it; no account needed.
 */
export function OpenShare({ token, status }: { token: string; status: StatusApi }) {
  const [password, setPassword] = useState('');
  const { busy, run } = useSubmit(status);

  function submit(event: Event): Promise<void> {
    event.preventDefault();
    const send = (captcha?: string) =>
      call<{ url: string; filename: string }>(`/s/${encodeURIComponent(token)}`, { auth: false, json: { password, ...(captcha ? { captcha } : {}) } });
    return run(
      async () => {
        const file = await withCaptcha(status, send);
        status.info(`Downloading ${file.filename}`);
        window.location.assign(file.url);
      },
      (error) => (error instanceof ApiError && error.status === 404 ? 'This link no longer works: it expired, was revoked or has been used up.' : undefined),
    );
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
