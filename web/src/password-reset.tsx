import { useState } from 'preact/hooks';
import { ApiError, call } from './api';
import { withCaptcha } from './captcha';
import { useSubmit, type StatusApi } from './status';

/**
 * "Forgot your password?": `POST /auth/password/forgot`. The API answers 202 whether or not the
 * account exists, and so does this page: it never says which addresses have accounts.
 */
export function ForgotPassword({ status }: { status: StatusApi }) {
  const [email, setEmail] = useState('');
  const { busy, run } = useSubmit(status);
  const [sent, setSent] = useState(false);

  function submit(event: Event): Promise<void> {
    event.preventDefault();
    return run(async () => {
      await withCaptcha(status, (captcha) => call('/auth/password/forgot', { auth: false, json: { email, ...(captcha ? { captcha } : {}) } }));
      setSent(true);
      status.info('If an account uses that address, a reset link is on its way.');
    });
  }

  return (
    <section class="card narrow" aria-labelledby="forgot-title">
      <h1 id="forgot-title">Reset your password</h1>
      <p class="hint">Enter your account's address and we will mail you a link to choose a new password.</p>
      <form onSubmit={(event) => void submit(event)}>
        <label for="forgot-email">Email</label>
        <input id="forgot-email" type="email" autoComplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        <div class="actions">
          <button type="submit" disabled={busy || sent}>
            Send reset link
          </button>
          <a href="#/">Back to sign in</a>
        </div>
      </form>
    </section>
  );
}

/**
 * Where the mail's reset link lands (`GET /auth/password/reset?token=` redirects to
 * `/#/reset/{token}`): a new password, then `POST /auth/password/reset`. Every session ends, so
 * the person signs in again with the new password.
 */
export function ResetPassword({ token, status }: { token: string; status: StatusApi }) {
  const [password, setPassword] = useState('');
  const { busy, run } = useSubmit(status);

  function submit(event: Event): Promise<void> {
    event.preventDefault();
    return run(
      async () => {
        await call('/auth/password/reset', { auth: false, json: { token, new_password: password } });
        location.hash = '#/';
        status.info('Your password is changed. Sign in with the new one.');
      },
      (error) => (error instanceof ApiError && error.status === 400 ? 'This link has been used already or has expired. Ask for a new one.' : undefined),
    );
  }

  return (
    <section class="card narrow" aria-labelledby="reset-title">
      <h1 id="reset-title">Choose a new password</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label for="reset-password">New password</label>
        <input
          id="reset-password"
          type="password"
          autoComplete="new-password"
          required
          minLength={8}
          aria-describedby="reset-hint"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <p id="reset-hint" class="hint">
          At least 8 characters. Every device signed in to your account is signed out.
        </p>
        <div class="actions">
          <button type="submit" disabled={busy}>
            Set new password
          </button>
          <a href="#/forgot">Ask for a new link</a>
        </div>
      </form>
    </section>
  );
}
