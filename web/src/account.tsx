import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, forgetSession } from './api';
import { formatDate } from './format';
import { useSubmit, type StatusApi } from './status';

interface Me {
  readonly email: string;
  readonly email_verified: boolean;
  readonly created_at: string;
}

interface Session {
  readonly id: string;
  readonly created_at: string;
  readonly last_used_at: string;
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly current: boolean;
}

interface AuditEvent {
  readonly id: string;
  readonly at: string;
  readonly type: string;
  readonly ip: string | null;
  readonly user_agent: string | null;
}

/** Short browser names for user-agent strings. */
function device(userAgent: string | null): string {
  if (!userAgent) return 'Unknown device';
  const browser = /Edg\//.test(userAgent) ? 'Edge' : /Chrom(e|ium)\//.test(userAgent) ? 'Chrome' : /Firefox\//.test(userAgent) ? 'Firefox' : /Safari\//.test(userAgent) ? 'Safari' : /curl\//.test(userAgent) ? 'curl' : '';
  const os = /Android/.test(userAgent) ? 'Android' : /iPhone|iPad/.test(userAgent) ? 'iOS' : /Windows/.test(userAgent) ? 'Windows' : /Mac OS X/.test(userAgent) ? 'macOS' : /Linux/.test(userAgent) ? 'Linux' : '';
  return [browser, os].filter(Boolean).join(' on ') || userAgent.slice(0, 40);
}

/** Event types as sentences; unknown ones as they are. */
function eventText(type: string): string {
  const known: Record<string, string> = {
    'user.registered': 'Account created',
    'auth.login.succeeded': 'Signed in',
    'auth.login.failed': 'Failed sign-in',
    'auth.refresh.reused': 'A used sign-in token was replayed (session ended)',
    'auth.logout': 'Signed out',
    'auth.session.revoked': 'Session revoked',
    'auth.password.changed': 'Password changed',
    'auth.password.reset': 'Password reset',
    'auth.email.verified': 'Email address verified',
    'auth.mfa.enabled': 'Two-factor authentication turned on',
    'auth.mfa.disabled': 'Two-factor authentication turned off',
    'file.uploaded': 'File uploaded',
    'file.deleted': 'File deleted',
    'file.infected': 'Malware found in a file',
    'share.created': 'Share link created',
    'share.revoked': 'Share link revoked',
    'share.downloaded': 'Shared file downloaded',
  };
  return known[type] ?? type;
}

export function Account({ status }: { status: StatusApi }) {
  const [me, setMe] = useState<Me | undefined>(undefined);
  const [sessions, setSessions] = useState<Session[]>([]);
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [eventsCursor, setEventsCursor] = useState<string | null>(null);

  const loadSessions = () => call<{ sessions: Session[] }>('/auth/sessions').then((answer) => setSessions(answer.sessions), status.error);
  const loadEvents = (cursor?: string) =>
    call<{ events: AuditEvent[]; next_cursor: string | null }>(`/auth/events?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`).then((answer) => {
      setEvents((current) => (cursor ? [...current, ...answer.events] : answer.events));
      setEventsCursor(answer.next_cursor);
    }, status.error);

  useEffect(() => {
    call<Me>('/auth/me').then(setMe, status.error);
    void loadSessions();
    void loadEvents();
  }, []);

  async function revoke(session: Session): Promise<void> {
    try {
      await call(`/auth/sessions/${encodeURIComponent(session.id)}`, { method: 'DELETE' });
      await loadSessions();
      status.info('Session ended');
    } catch (error) {
      status.error(error);
    }
  }

  async function logOutEverywhere(): Promise<void> {
    try {
      await call('/auth/logout-all', { method: 'POST' });
      forgetSession();
    } catch (error) {
      status.error(error);
    }
  }

  return (
    <>
      <section class="card" aria-labelledby="account-title">
        <h1 id="account-title">Account</h1>
        {me && (
          <p>
            {me.email} · {me.email_verified ? 'address verified' : 'address not verified yet'} · member since {formatDate(me.created_at)}
          </p>
        )}
      </section>

      <section class="card" aria-labelledby="sessions-title">
        <h2 id="sessions-title">Sessions</h2>
        <ul class="rows" aria-label="Sessions">
          {sessions.map((session) => (
            <li key={session.id}>
              <div class="meta">
                <span class="name">
                  {device(session.user_agent)}
                  {session.current ? ' (this session)' : ''}
                </span>
                <span class="hint">
                  {session.ip ?? 'unknown address'} · last used {formatDate(session.last_used_at)}
                </span>
              </div>
              {!session.current && (
                <button type="button" class="secondary small" aria-label={`Revoke ${device(session.user_agent)} session from ${formatDate(session.created_at)}`} onClick={() => void revoke(session)}>
                  Revoke
                </button>
              )}
            </li>
          ))}
        </ul>
        <button type="button" class="secondary" onClick={() => void logOutEverywhere()}>
          Sign out everywhere
        </button>
      </section>

      <PasswordChange status={status} />
      <TwoFactor status={status} onChange={() => void loadEvents()} />

      <section class="card" aria-labelledby="events-title">
        <h2 id="events-title">Recent security events</h2>
        <ul class="rows" aria-label="Security events">
          {events.map((event) => (
            <li key={event.id}>
              <div class="meta">
                <span class="name">{eventText(event.type)}</span>
                <span class="hint">
                  {formatDate(event.at)} · {event.ip ?? 'unknown address'} · {device(event.user_agent)}
                </span>
              </div>
            </li>
          ))}
        </ul>
        {eventsCursor && (
          <button type="button" class="secondary" onClick={() => void loadEvents(eventsCursor)}>
            More events
          </button>
        )}
      </section>

      <DeleteAccount status={status} />
    </>
  );
}

function PasswordChange({ status }: { status: StatusApi }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const { busy, run } = useSubmit(status);
  function submit(event: Event): Promise<void> {
    event.preventDefault();
    return run(async () => {
      await call('/auth/password', { json: { current_password: current, new_password: next } });
      setCurrent('');
      setNext('');
      status.info('Password changed; your other sessions have ended');
    });
  }
  return (
    <section class="card" aria-labelledby="password-title">
      <h2 id="password-title">Change password</h2>
      <form onSubmit={(event) => void submit(event)}>
        <label for="current-password">Current password</label>
        <input id="current-password" type="password" autoComplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
        <label for="new-password">New password</label>
        <input id="new-password" type="password" autoComplete="new-password" required minLength={8} value={next} onInput={(e) => setNext(e.currentTarget.value)} />
        <div class="actions">
          <button type="submit" disabled={busy}>
            Change password
          </button>
        </div>
      </form>
    </section>
  );
}

/** TOTP enrolment (QR code, then a first code, then the recovery codes) and turning it off. */
function TwoFactor({ status, onChange }: { status: StatusApi; onChange: () => void }) {
  const [state, setState] = useState<'unknown' | 'off' | 'enrolling' | 'on'>('unknown');
  const [enrolment, setEnrolment] = useState<{ secret: string; otpauth_url: string } | undefined>(undefined);
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState<string[] | undefined>(undefined);
  // The QR encoder is loaded with the enrolment only: most visits never need it.
  const [qr, setQr] = useState<typeof import('./qr') | undefined>(undefined);

  async function start(): Promise<void> {
    try {
      const [answer, module] = await Promise.all([call<{ secret: string; otpauth_url: string }>('/auth/mfa/totp', { method: 'POST' }), import('./qr')]);
      setQr(module);
      setEnrolment(answer);
      setState('enrolling');
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) setState('on');
      else status.error(error);
    }
  }

  async function confirm(event: Event): Promise<void> {
    event.preventDefault();
    try {
      const answer = await call<{ recovery_codes: string[] }>('/auth/mfa/totp/confirm', { json: { code: code.trim() } });
      setRecovery(answer.recovery_codes);
      setEnrolment(undefined);
      setCode('');
      setState('on');
      status.info('Two-factor authentication is on');
      onChange();
    } catch (error) {
      status.error(error);
    }
  }

  async function disable(event: Event): Promise<void> {
    event.preventDefault();
    try {
      await call('/auth/mfa/totp', { method: 'DELETE', json: { code: code.trim() } });
      setCode('');
      setRecovery(undefined);
      setState('off');
      status.info('Two-factor authentication is off');
      onChange();
    } catch (error) {
      status.error(error);
    }
  }

  return (
    <section class="card" aria-labelledby="mfa-title">
      <h2 id="mfa-title">Two-factor authentication</h2>
      {(state === 'unknown' || state === 'off') && (
        <>
          <p class="hint">Ask for a code from an authenticator app at every sign-in.</p>
          <button type="button" onClick={() => void start()}>
            Set up two-factor authentication
          </button>
        </>
      )}
      {state === 'enrolling' && enrolment && (
        <form onSubmit={(event) => void confirm(event)}>
          <p>Scan this with your authenticator app, or type the key in:</p>
          {qr && <qr.QrCode value={enrolment.otpauth_url} label="QR code for your authenticator app" />}
          <p>
            Key: <code class="secret">{enrolment.secret}</code>
          </p>
          <label for="totp-code">Code from the app</label>
          <input id="totp-code" inputMode="numeric" autoComplete="one-time-code" required value={code} onInput={(e) => setCode(e.currentTarget.value)} />
          <div class="actions">
            <button type="submit">Turn on</button>
          </div>
        </form>
      )}
      {state === 'on' && (
        <>
          {recovery && (
            <>
              <p>Recovery codes: each works once instead of a code. Keep them somewhere safe; they are shown only now.</p>
              <ul class="codes" aria-label="Recovery codes">
                {recovery.map((value) => (
                  <li key={value}>
                    <code>{value}</code>
                  </li>
                ))}
              </ul>
            </>
          )}
          <form onSubmit={(event) => void disable(event)}>
            <p class="hint">Two-factor authentication is on.</p>
            <label for="totp-off-code">Code or recovery code</label>
            <input id="totp-off-code" autoComplete="one-time-code" required value={code} onInput={(e) => setCode(e.currentTarget.value)} />
            <div class="actions">
              <button type="submit" class="secondary">
                Turn off two-factor authentication
              </button>
            </div>
          </form>
        </>
      )}
    </section>
  );
}

function DeleteAccount({ status }: { status: StatusApi }) {
  const [password, setPassword] = useState('');
  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    try {
      await call('/auth/me', { method: 'DELETE', json: { password } });
      forgetSession();
    } catch (error) {
      status.error(error);
    }
  }
  return (
    <section class="card danger-zone" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete account</h2>
      <form onSubmit={(event) => void submit(event)}>
        <p class="hint">Deletes your files, share links and sessions for good.</p>
        <label for="delete-password">Password to confirm</label>
        <input id="delete-password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        <div class="actions">
          <button type="submit" class="danger">
            Delete account
          </button>
        </div>
      </form>
    </section>
  );
}
