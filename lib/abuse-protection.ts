import { createHash } from 'node:crypto';
import { redeemCaptcha } from './captcha';
import { getConfig } from './config';
import { HttpError } from './http/errors';
import { clearCounter, counterId, incrementCounter, incrementCounters, readCounters, type Count, type CounterKey } from './throttle';

/**
 * The abuse policy of SPEC "Abuse protection and audit", for every route that checks a secret
 * (login now; password change, account deletion, forgot, MFA and share passwords later):
 *
 * 1. per IP: past `IP_MAX_FAILURES` failures in the window, 429 with `captcha_required: false`
 *    (a CAPTCHA does not lift it);
 * 2. `CAPTCHA=always` on gated routes (register, login, forgot): 400 "CAPTCHA required" without
 *    a valid solution;
 * 3. per account: past `LOGIN_MAX_FAILURES` failures in the window, 429 with
 *    `captcha_required: true`, unless the request carries a valid solution.
 *
 * All of it before any password is looked at: the refused path does no bcrypt at all, for known
 * and unknown accounts alike. Reading the counters is one query; they are written only on
 * failures ({@link recordFailedAttempt}) and cleared by the next success, so an ordinary
 * successful login writes nothing here.
 *
 * The check and the later count are not one transaction (that would make every login a
 * write): requests racing past the check at the limit each get their password compared. The
 * count itself never loses an increment.
 */

export interface Attempt {
  /** The client address (`requestContext.http.sourceIp`). */
  readonly ip: string;
  /** The account attempted: {@link emailAccount} for login, {@link userAccount} on authenticated routes. */
  readonly account?: CounterKey;
  /** The CAPTCHA payload the request carried, if any. */
  readonly captcha?: string | undefined;
  /** Whether `CAPTCHA=always` applies to this route. */
  readonly captchaGated?: boolean;
}

export interface AdmittedAttempt {
  readonly attempt: Attempt;
  /** The account's live failure count when the attempt was admitted. */
  readonly accountFailures: number;
}

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

/** Login failures are counted per normalized email, hashed: the table holds no addresses. */
export const emailAccount = (normalizedEmail: string): CounterKey => ({ scope: 'email', key: sha256(normalizedEmail) });

/** Failures on authenticated routes are counted per user. */
export const userAccount = (userId: string): CounterKey => ({ scope: 'user', key: userId });

/** Wrong share passwords are counted per share (its id), whoever tries them. */
export const shareAccount = (shareId: string): CounterKey => ({ scope: 'share', key: shareId });

/**
 * The address a client is counted under: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its
 * /64, the smallest block a single subscriber usually gets (counting single IPv6 addresses
 * would let one client rotate through billions).
 */
export function clientAddressKey(ip: string): string {
  const address = ip.trim().toLowerCase().replace(/%.*$/, '');
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped?.[1]) return mapped[1];
  const [head = '', tail] = address.split('::', 2);
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((group) => (Number.parseInt(group, 16) || 0).toString(16))
    .join(':')}::/64`;
}

const ipCounter = (ip: string): CounterKey => ({ scope: 'ip', key: clientAddressKey(ip) });

const retryAfter = (count: Count): string => String(Math.max(1, count.expiresAt - Math.floor(Date.now() / 1000)));

/** 429 "Too many attempts" with `Retry-After` and whether a CAPTCHA would let the client in. */
export function tooManyAttempts(count: Count, captchaRequired: boolean): HttpError {
  return new HttpError(429, 'Too many attempts', {
    headers: { 'Retry-After': retryAfter(count) },
    extensions: { captcha_required: captchaRequired },
  });
}

export function captchaRequired(): HttpError {
  return new HttpError(400, 'CAPTCHA required', { extensions: { captcha_required: true } });
}

/** Refuses the client outright when its address is past `IP_MAX_FAILURES`; a CAPTCHA does not help. */
function assertAddressAllowed(counts: ReadonlyMap<string, Count>, ip: string): void {
  const count = counts.get(counterId(ipCounter(ip)));
  if (count && count.count >= getConfig().abuse.ipMaxFailures) throw tooManyAttempts(count, false);
}

/** Steps 1-3 above; throws the 429 or 400, or admits the attempt. */
export async function admitAttempt(attempt: Attempt): Promise<AdmittedAttempt> {
  const { abuse } = getConfig();
  const ip = ipCounter(attempt.ip);
  const counts = await readCounters(attempt.account ? [ip, attempt.account] : [ip]);
  assertAddressAllowed(counts, attempt.ip);

  let solved = false;
  if (abuse.captcha === 'always' && attempt.captchaGated) {
    solved = await redeemCaptcha(attempt.captcha);
    if (!solved) throw captchaRequired();
  }
  const account = attempt.account ? counts.get(counterId(attempt.account)) : undefined;
  if (account && account.count >= abuse.loginMaxFailures && !solved) {
    // With CAPTCHA=off there is nothing to solve: the client waits for the window to end.
    const lifts = abuse.captcha !== 'off';
    if (!lifts || !(await redeemCaptcha(attempt.captcha))) throw tooManyAttempts(account, lifts);
  }
  return { attempt, accountFailures: account?.count ?? 0 };
}

/** A wrong password (or code): one more failure for the address and the account, in one commit. */
export async function recordFailedAttempt({ attempt }: AdmittedAttempt): Promise<void> {
  const counters = attempt.account ? [ipCounter(attempt.ip), attempt.account] : [ipCounter(attempt.ip)];
  await incrementCounters(counters, getConfig().abuse.windowSeconds);
}

/** A success clears the account's failures; with none on record it writes nothing. */
export async function recordSucceededAttempt({ attempt, accountFailures }: AdmittedAttempt): Promise<void> {
  if (attempt.account && accountFailures > 0) await clearCounter(attempt.account);
}

/** Registration attempts that reach the email check, per address and hour. */
const REGISTRATION_WINDOW_SECONDS = 3600;

/**
 * Registration: refused while the address is past `IP_MAX_FAILURES`, needs a solution with
 * `CAPTCHA=always`, and counts one attempt against `REGISTER_MAX_PER_IP` (the count is what
 * decides, so racing registrations cannot overshoot it).
 */
export async function admitRegistration(ip: string, captcha: string | undefined): Promise<void> {
  const { abuse } = getConfig();
  assertAddressAllowed(await readCounters([ipCounter(ip)]), ip);
  if (abuse.captcha === 'always' && !(await redeemCaptcha(captcha))) throw captchaRequired();
  const count = await incrementCounter({ scope: 'register', key: clientAddressKey(ip) }, REGISTRATION_WINDOW_SECONDS);
  if (count.count > abuse.registerMaxPerIp) throw tooManyAttempts(count, false);
}
