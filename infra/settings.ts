import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/**
 * How the better-sqlite3 layer is produced; see docs/deploy.md "Which driver build".
 * `auto`: compile locally on a Linux x86_64 host, in Docker anywhere else.
 */
export type DriverBuild = 'auto' | 'local' | 'docker';

/**
 * Everything that differs between deployments. Comes from CDK context (`-c key=value` or
 * `cdk.json`), never from edits to the stack.
 */
export interface StackSettings {
  /** `prod` unless told otherwise; part of the stack name. */
  readonly stage: string;
  /** Bucket, file system, secret and log groups. RETAIN unless `removalPolicy=destroy` (default for stage `dev`). */
  readonly removalPolicy: RemovalPolicy;
  /** Browser origins allowed to call the API and to PUT/POST/GET presigned URLs. Empty: no CORS. */
  readonly corsOrigins: readonly string[];
  /**
   * Steady-state requests per second on the API's default stage. A backstop against runaway
   * cost only: it is shared by every client, so a low value lets one client starve everyone.
   */
  readonly throttleRate: number;
  readonly throttleBurst: number;
  readonly logRetention: RetentionDays;
  /**
   * Reserved concurrency for each function that mounts the database; undefined: none (see
   * docs/deploy.md: a new account's concurrency quota of 10 makes any reservation fail).
   */
  readonly dbReservedConcurrency: number | undefined;
  /** AZs that get a Secrets Manager interface endpoint (each costs ~$7.30/month). */
  readonly secretsEndpointAzs: 1 | 2;
  readonly driverBuild: DriverBuild;
  /**
   * The two AZs to use, by name; default: the region's first two. Needed where one of those
   * does not host Lambda (use1-az3 in us-east-1, whose name differs per account).
   */
  readonly availabilityZones: readonly string[] | undefined;
  /**
   * Per-route backstop for the bcrypt routes (login, register): each request costs ~0.6 GB-s.
   * Shared by all clients, so it must stay far above what one client may send: abuse is
   * limited per account and per address in the database (LOGIN_MAX_FAILURES, IP_MAX_FAILURES,
   * REGISTER_MAX_PER_IP) and per client volume by CloudFront + AWS WAF (README).
   */
  readonly authThrottleRate: number;
  readonly authThrottleBurst: number;
  /** X-Ray tracing through Powertools Tracer (`-c tracing=true`); off: no tracer code is bundled. */
  readonly tracing: boolean;
  /** Subscribed to the alarm topic (AWS sends a confirmation mail first); none by default. */
  readonly alarmEmail: string | undefined;
  /**
   * The From of the mails the API sends (verification, password reset), an address or domain
   * verified in SES. Unset: mail is off in AWS, and no queue, mailer or SQS endpoint is created.
   */
  readonly mailFrom: string | undefined;
  /**
   * Base of the links in mails (and share URLs): a custom domain or a front end. Default: the
   * API's own URL.
   */
  readonly appUrl: string | undefined;
  /**
   * `EMAIL_VERIFICATION` of every function (`-c emailVerification=off|optional|required`,
   * default `optional`); always `off` without `mailFrom`, since no link could be sent.
   */
  readonly emailVerification: 'off' | 'optional' | 'required';
  /**
   * Malware scanning of uploads in AWS (`-c scanner=guardduty`): a GuardDuty Malware Protection
   * plan on the bucket, its results recorded through EventBridge, reads of unscanned objects
   * denied by the bucket policy. `none` (default): files are recorded `unscanned`.
   */
  readonly scanner: 'none' | 'guardduty';
  /**
   * Where the data lives (`-c database=aurora`): `sqlite` (default) is better-sqlite3 on EFS with
   * the driver layer; `aurora` is Aurora PostgreSQL Serverless v2 scaling to 0 ACU, credentials
   * in Secrets Manager, and no EFS, no layer. See docs/deploy.md "Aurora PostgreSQL".
   */
  readonly database: 'sqlite' | 'aurora';
  /**
   * With `database=aurora`: the most ACUs the cluster may scale to (`-c auroraMaxCapacity=`, 1 to
   * 256 in steps of 0.5, default 4). Bounds the bill under load and sets max_connections (~900
   * at 4 ACU), which must exceed the database functions' concurrent containers.
   */
  readonly auroraMaxCapacity: number;
}

/** Reads context the way `app.node.tryGetContext` hands it over: strings from `-c`, JSON values from cdk.json. */
export type ContextReader = (key: string) => unknown;

export class SettingsError extends Error {
  override name = 'SettingsError';
}

function text(read: ContextReader, key: string): string | undefined {
  const value = read(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value).trim();
  throw new SettingsError(`context ${key} must be a string or a number`);
}

function wholeNumber(read: ContextReader, key: string, min: number, max: number): number | undefined {
  const raw = text(read, key);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new SettingsError(`context ${key} must be a whole number from ${min} to ${max}, got ${raw}`);
  }
  return Number(raw);
}

function oneOf<T extends string>(read: ContextReader, key: string, allowed: readonly T[]): T | undefined {
  const raw = text(read, key)?.toLowerCase();
  if (raw === undefined) return undefined;
  const match = allowed.find((candidate) => candidate === raw);
  if (!match) throw new SettingsError(`context ${key} must be one of ${allowed.join(', ')}, got ${raw}`);
  return match;
}

function origins(read: ContextReader): string[] {
  const value = read('corsOrigins');
  const list = Array.isArray(value) ? value.map(String) : (text(read, 'corsOrigins') ?? '').split(',');
  const cleaned = list.map((origin) => origin.trim().replace(/\/+$/, '')).filter(Boolean);
  for (const origin of cleaned) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new SettingsError(`context corsOrigins: ${origin} is not an origin like https://app.example.com`);
    }
  }
  return cleaned;
}

function availabilityZones(read: ContextReader): string[] | undefined {
  const raw = text(read, 'availabilityZones');
  if (raw === undefined) return undefined;
  const zones = raw.split(',').map((zone) => zone.trim()).filter(Boolean);
  if (zones.length !== 2 || zones.some((zone) => !/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/.test(zone))) {
    throw new SettingsError(`context availabilityZones must be two AZ names like us-east-1a,us-east-1b, got ${raw}`);
  }
  return zones;
}

function email(read: ContextReader, key: string): string | undefined {
  const raw = text(read, key);
  if (raw === undefined) return undefined;
  // What SNS accepts as an email endpoint: one address, no display name, no list.
  if (raw.length > 254 || !/^[^@\s,;<>"]+@[^@\s,;<>"]+\.[^@\s,;<>".]+$/.test(raw)) {
    throw new SettingsError(`context ${key} must be one e-mail address like ops@example.com, got ${raw}`);
  }
  return raw;
}

function mailFrom(read: ContextReader): string | undefined {
  const raw = text(read, 'mailFrom');
  if (raw === undefined) return undefined;
  // One address, optionally with a display name: what lib/config.ts accepts as MAIL_FROM.
  if (raw.length > 320 || !/^([^\r\n<>@"]*<)?[^@\s,;<>"]+@[^@\s,;<>"]+\.[^@\s,;<>".]+>?$/.test(raw) || raw.includes('<') !== raw.endsWith('>')) {
    throw new SettingsError(`context mailFrom must be an address like no-reply@example.com or "Uploads <no-reply@example.com>", got ${raw}`);
  }
  return raw;
}

function appUrl(read: ContextReader): string | undefined {
  const raw = text(read, 'appUrl');
  if (raw === undefined) return undefined;
  if (!/^https:\/\/[^/\s]+(\/[^\s]*)?$/.test(raw) || !URL.canParse(raw)) {
    throw new SettingsError(`context appUrl must be an https URL like https://files.example.com, got ${raw}`);
  }
  return raw.replace(/\/+$/, '');
}

function scanner(read: ContextReader): 'none' | 'guardduty' {
  const raw = text(read, 'scanner')?.toLowerCase();
  if (raw === 'clamd') {
    throw new SettingsError('context scanner=clamd: no clamd runs in AWS; use scanner=guardduty (GuardDuty Malware Protection for S3) or leave it unset');
  }
  return oneOf(read, 'scanner', ['none', 'guardduty'] as const) ?? 'none';
}

function capacity(read: ContextReader): number {
  const raw = text(read, 'auroraMaxCapacity');
  if (raw === undefined) return 4;
  const value = Number(raw);
  if (!/^\d+(\.[05])?$/.test(raw) || value < 1 || value > 256) {
    throw new SettingsError(`context auroraMaxCapacity must be ACUs from 1 to 256 in steps of 0.5, got ${raw}`);
  }
  return value;
}

const RETENTIONS = Object.values(RetentionDays).filter((value): value is RetentionDays => typeof value === 'number');

/** Validated settings with defaults; throws a one-line {@link SettingsError}. */
export function readSettings(read: ContextReader): StackSettings {
  const stage = text(read, 'stage') ?? 'prod';
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(stage)) throw new SettingsError(`context stage must be lowercase letters, digits, dashes (max 20), got ${stage}`);
  const removal = oneOf(read, 'removalPolicy', ['retain', 'destroy'] as const) ?? (stage === 'dev' ? 'destroy' : 'retain');
  const retentionDays = wholeNumber(read, 'logRetentionDays', 1, 3653) ?? 30;
  const logRetention = RETENTIONS.find((days) => days === retentionDays);
  if (logRetention === undefined) throw new SettingsError(`context logRetentionDays must be one of ${RETENTIONS.join(', ')}`);
  const endpointAzs = wholeNumber(read, 'secretsEndpointAzs', 1, 2) ?? 1;
  return {
    stage,
    removalPolicy: removal === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    corsOrigins: origins(read),
    throttleRate: wholeNumber(read, 'throttleRate', 1, 10_000) ?? 500,
    throttleBurst: wholeNumber(read, 'throttleBurst', 1, 5_000) ?? 1000,
    logRetention,
    dbReservedConcurrency: wholeNumber(read, 'dbReservedConcurrency', 1, 1_000),
    secretsEndpointAzs: endpointAzs === 2 ? 2 : 1,
    driverBuild: oneOf(read, 'driverBuild', ['auto', 'local', 'docker'] as const) ?? 'auto',
    availabilityZones: availabilityZones(read),
    authThrottleRate: wholeNumber(read, 'authThrottleRate', 1, 10_000) ?? 100,
    authThrottleBurst: wholeNumber(read, 'authThrottleBurst', 1, 5_000) ?? 200,
    tracing: oneOf(read, 'tracing', ['true', 'false'] as const) === 'true',
    alarmEmail: email(read, 'alarmEmail'),
    mailFrom: mailFrom(read),
    appUrl: appUrl(read),
    emailVerification: mailFrom(read) === undefined ? 'off' : (oneOf(read, 'emailVerification', ['off', 'optional', 'required'] as const) ?? 'optional'),
    scanner: scanner(read),
    database: oneOf(read, 'database', ['sqlite', 'aurora'] as const) ?? 'sqlite',
    auroraMaxCapacity: capacity(read),
  };
}
