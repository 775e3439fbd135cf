import { useState } from 'preact/hooks';
import { acceptTokens, call, type TokenPair } from './api';
import { withCaptcha } from './captcha';
import { useSubmit, type StatusApi } from './status';

type LoginAnswer = TokenPair | { mfa_required: true; mfa_token: string; expires_in: number };

/**
 * Sign in or create an account. A 429 with `captcha_required` (or CAPTCHA=always's 400) is
 * answered by solving the ALTCHA proof of work in the page and trying once more; an account with
 * MFA gets a second step asking for the authenticator code.
 */
export function SignIn({ status }: { status: StatusApi }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { busy, run } = useSubmit(status);
  const [mfa, setMfa] = useState<{ token: string } | undefined>(undefined);
  const [code, setCode] = useState('');

  async function logIn(): Promise<void> {
    const answer = await withCaptcha(status, (captcha) =>
      call<LoginAnswer>('/auth/login', { auth: false, json: { email, password, ...(captcha ? { captcha } : {}) } }),
    );
    if ('mfa_required' in answer) {
      setMfa({ token: answer.mfa_token });
      status.info('Enter the code from your authenticator app');
      return;
    }
    acceptTokens(answer);
    status.info('Signed in');
  }

  const onSubmit = (event: Event) => {
    event.preventDefault();
    void run(logIn);
  };
  const onCreate = () => {
    const form = document.getElementById('sign-in-form') as HTMLFormElement | null;
    if (form && !form.reportValidity()) return;
    void run(async () => {
      await withCaptcha(status, (captcha) => call('/auth/register', { auth: false, json: { email, password, ...(captcha ? { captcha } : {}) } }));
      status.info('Account created');
      await logIn();
    });
  };
  const onVerify = (event: Event) => {
    event.preventDefault();
    if (!mfa) return;
    void run(async () => {
      acceptTokens(await call<TokenPair>('/auth/mfa/verify', { auth: false, json: { mfa_token: mfa.token, code: code.trim() } }));
      status.info('Signed in');
    });
  };

  if (mfa) {
    return (
      <section class="card narrow" aria-labelledby="mfa-title">
        <h1 id="mfa-title">Two-factor authentication</h1>
        <form onSubmit={onVerify}>
          <label for="mfa-code">Authentication code</label>
          <input id="mfa-code" name="code" inputMode="numeric" autoComplete="one-time-code" required value={code} onInput={(e) => setCode(e.currentTarget.value)} />
          <p class="hint">The 6-digit code from your app, or one of your recovery codes.</p>
          <div class="actions">
            <button type="submit" disabled={busy}>
              Verify
            </button>
            <button type="button" class="secondary" onClick={() => setMfa(undefined)}>
              Back
            </button>
          </div>
        </form>
      </section>
    );
  }

  return (
    <section class="card narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <p class="hint">Store, share and download your files. New here? Fill in both fields and choose Create account.</p>
      <form id="sign-in-form" onSubmit={onSubmit}>
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          aria-describedby="password-hint"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <p id="password-hint" class="hint">
          New accounts: at least 8 characters.
        </p>
        <div class="actions">
          <button type="submit" disabled={busy}>
            Sign in
          </button>
          <button type="button" class="secondary" disabled={busy} onClick={onCreate}>
            Create account
          </button>
          <a href="#/forgot">Forgot your password?</a>
        </div>
      </form>
    </section>
  );
}
