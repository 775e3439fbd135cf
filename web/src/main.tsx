import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Account } from './account';
import { hasStoredSession, onAuthChange, refresh, signOut } from './api';
import { Files } from './files';
import { OpenShare } from './open-share';
import { ForgotPassword, ResetPassword } from './password-reset';
import { SignIn } from './sign-in';
import { Status, useStatus } from './status';
import './style.css';

type Page = 'files' | 'account' | 'forgot' | { share: string } | { reset: string };
/**
 * `#/account`; `#/s/{token}` (a password-protected share link, from GET /s/{token});
 * `#/forgot`; `#/reset/{token}` (a password reset link, from GET /auth/password/reset); else files.
 */
const pageFromHash = (): Page => {
  const share = /^#\/s\/([\w-]+)$/.exec(location.hash);
  if (share?.[1]) return { share: share[1] };
  const reset = /^#\/reset\/([\w-]+)$/.exec(location.hash);
  if (reset?.[1]) return { reset: reset[1] };
  if (location.hash === '#/forgot') return 'forgot';
  return location.hash === '#/account' ? 'account' : 'files';
};

function App() {
  // 'unknown' while a stored refresh token is being tried after a reload.
  const [auth, setAuth] = useState<'unknown' | 'in' | 'out'>(hasStoredSession() ? 'unknown' : 'out');
  const [page, setPage] = useState<Page>(pageFromHash());
  const status = useStatus();

  useEffect(() => onAuthChange((signedIn) => setAuth(signedIn ? 'in' : 'out')), []);
  useEffect(() => {
    if (auth !== 'unknown') return;
    refresh().then(
      (ok) => setAuth(ok ? 'in' : 'out'),
      () => {
        setAuth('out');
        status.error('Could not reach the server to restore your session');
      },
    );
  }, []);
  useEffect(() => {
    const follow = () => setPage(pageFromHash());
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  useEffect(() => {
    document.title =
      typeof page === 'object'
        ? 'share' in page
          ? 'Shared file · Secure Upload'
          : 'New password · Secure Upload'
        : page === 'forgot'
          ? 'Reset password · Secure Upload'
          : auth !== 'in' ? 'Sign in · Secure Upload' : page === 'account' ? 'Account · Secure Upload' : 'Files · Secure Upload';
  }, [auth, page]);

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Secure Upload</span>
        {auth === 'in' && (
          <nav aria-label="Main">
            <a href="#/" aria-current={page === 'files' ? 'page' : undefined}>
              Files
            </a>
            <a href="#/account" aria-current={page === 'account' ? 'page' : undefined}>
              Account
            </a>
            <button type="button" class="link" onClick={() => void signOut().then(() => status.info('Signed out'))}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        <Status status={status} />
        {typeof page === 'object' ? (
          'share' in page ? (
            <OpenShare token={page.share} status={status} />
          ) : (
            <ResetPassword token={page.reset} status={status} />
          )
        ) : page === 'forgot' ? (
          <ForgotPassword status={status} />
        ) : (
          <>
            {auth === 'unknown' && <p aria-busy="true">Restoring your session…</p>}
            {auth === 'out' && <SignIn status={status} />}
          </>
        )}
        {auth === 'in' && page === 'files' && <Files status={status} />}
        {auth === 'in' && page === 'account' && <Account status={status} />}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
