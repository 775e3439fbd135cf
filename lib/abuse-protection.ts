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
 * write): requests racing past the check at the limit each get their password compared. So the
 * limits are checked again on the outcome: a failure whose own increment went past a limit, and
 * a success that finds the limit reached by the failures racing it, answer the same 429 as a
 * refused attempt. A burst thus learns no more than the limit's worth of answers, in any number
 * of processes (the increment is atomic), and a success still writes nothing but its clear.
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
  /** Whether it carried a redeemed CAPTCHA solution, which lifts the account limit for it. */
  readonly solved: boolean;
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

/** The limit behind each 429 thrown here: its counter and the count that refused. */
const refusals = new WeakMap<object, { readonly counter: CounterKey; readonly count: Count }>();

/** 429 "Too many attempts" with `Retry-After` and whether a CAPTCHA would let the client in. */
export function tooManyAttempts(count: Count, captchaRequired: boolean, counter?: CounterKey): HttpError {
  const error = new HttpError(429, 'Too many attempts', {
    headers: { 'Retry-After': retryAfter(count) },
    extensions: { captcha_required: captchaRequired },
  });
  if (counter) refusals.set(error, { counter, count });
  return error;
}

/**
 * Whether `error` is the first refusal by its limit within that limit's window (one upsert on a
 * single row). Only the first is worth an audit row: a refused attempt costs the client nothing,
 * so a row for each would let one client grow the log without bound at its request rate. The
 * same for known and unknown emails, which share the counters.
 */
export async function firstRefusalInWindow(error: unknown): Promise<boolean> {
  const refused = typeof error === 'object' && error !== null ? refusals.get(error) : undefined;
  if (!refused) return true;
  const remaining = Math.max(1, refused.count.expiresAt - Math.floor(Date.now() / 1000));
  return (await incrementCounter({ scope: 'refused', key: counterId(refused.counter) }, remaining)).count === 1;
}

export function captchaRequired(): HttpError {
  return new HttpError(400, 'CAPTCHA required', { extensions: { captcha_required: true } });
}

/** Refuses the client outright when its address is past `IP_MAX_FAILURES`; a CAPTCHA does not help. */
function assertAddressAllowed(counts: ReadonlyMap<string, Count>, ip: string): void {
  const count = counts.get(counterId(ipCounter(ip)));
  if (count && count.count >= getConfig().abuse.ipMaxFailures) throw tooManyAttempts(count, false, ipCounter(ip));
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
    if (!lifts || !(await redeemCaptcha(attempt.captcha))) throw tooManyAttempts(account, lifts, attempt.account);
    solved = true;
  }
  return { attempt, accountFailures: account?.count ?? 0, solved };
}

const attemptCounters = (attempt: Attempt): CounterKey[] => (attempt.account ? [ipCounter(attempt.ip), attempt.account] : [ipCounter(attempt.ip)]);

/**
 * The limits again, on counts taken after the password was compared: throws the 429 when the
 * address has reached `ipLimit`, or the account `accountLimit` (unless a CAPTCHA admitted it).
 */
function assertStillWithinLimits({ attempt, solved }: AdmittedAttempt, counts: ReadonlyMap<string, Count>, ipLimit: number, accountLimit: number): void {
  const { abuse } = getConfig();
  const address = counts.get(counterId(ipCounter(attempt.ip)));
  if (address && address.count >= ipLimit) throw tooManyAttempts(address, false, ipCounter(attempt.ip));
  const account = attempt.account ? counts.get(counterId(attempt.account)) : undefined;
  if (account && account.count >= accountLimit && !solved) throw tooManyAttempts(account, abuse.captcha !== 'off', attempt.account);
}

/**
 * A wrong password (or code): one more failure for the address and the account, in one commit.
 * Throws the 429 when this failure went past a limit (attempts racing it got there first): its
 * caller must not learn that the password was wrong.
 */
export async function recordFailedAttempt(admitted: AdmittedAttempt): Promise<void> {
  const { abuse } = getConfig();
  const counts = await incrementCounters(attemptCounters(admitted.attempt), abuse.windowSeconds);
  assertStillWithinLimits(admitted, counts, abuse.ipMaxFailures + 1, abuse.loginMaxFailures + 1);
}

/**
 * A right password: throws the 429 when failures racing it have meanwhile reached a limit (one
 * read); otherwise clears the account's failures, writing nothing when there are none.
 */
export async function recordSucceededAttempt(admitted: AdmittedAttempt): Promise<void> {
  const { abuse } = getConfig();
  const { attempt } = admitted;
  const counts = await readCounters(attemptCounters(attempt));
  assertStillWithinLimits(admitted, counts, abuse.ipMaxFailures, abuse.loginMaxFailures);
  if (attempt.account && counts.has(counterId(attempt.account))) await clearCounter(attempt.account);
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

/** Account mails (password resets, verification links) per account and hour. */
export const ACCOUNT_MAILS_PER_HOUR = 5;

/**
 * Counts one mail of `kind` for an account and says whether it may go out: at most
 * {@link ACCOUNT_MAILS_PER_HOUR} an hour, so nobody can flood a mailbox through the API. The
 * count is written whether or not the mail is then sent (and, for a password reset, whether or
 * not the account exists: `account` is then the hashed email), so both cost the same.
 */
export async function allowAccountMail(kind: 'reset' | 'verify', account: string): Promise<boolean> {
  const count = await incrementCounter({ scope: 'mail', key: `${kind}:${account}` }, 3600);
  return count.count <= ACCOUNT_MAILS_PER_HOUR;
}

/** Forgets every counter an account left (it is being deleted). */
export async function forgetAccountCounters(userId: string, normalizedEmail: string): Promise<void> {
  const hashedEmail = emailAccount(normalizedEmail).key;
  for (const counter of [userAccount(userId), emailAccount(normalizedEmail), { scope: 'mail', key: `verify:${userId}` }, { scope: 'mail', key: `reset:${hashedEmail}` }] as const) {
    await clearCounter(counter);
  }
}
