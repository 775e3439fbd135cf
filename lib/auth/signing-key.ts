import { createHash, createSecretKey, type KeyObject } from 'node:crypto';
import { getSecretString, SecretsManagerError } from '../aws/secrets-manager';
import { getConfig } from '../config';

/** The key new tokens are signed with, and the `kid` header that names it. */
export interface SigningKey {
  readonly kid: string;
  readonly key: KeyObject;
}

/** The secret that signs, and the one before it that still verifies (during a rotation). */
export interface SecretVersions {
  readonly current: string;
  readonly previous?: string | undefined;
}

/** Where the secrets come from. */
export interface KeySource {
  load(): Promise<SecretVersions>;
  /** Whether the secret can change under a running container (Secrets Manager), so re-reading can help. */
  readonly changes: boolean;
}

const KID_LABEL = 'secure-upload-api jwt kid v1\0';
const KID_FORMAT = /^[0-9a-f]{16}$/;

/**
 * The `kid` of a secret: the first 16 hex characters of SHA-256 over a fixed label and the
 * secret. A new secret gives a new kid; the kid reveals nothing a token's own HMAC does not.
 */
export const keyIdOf = (secret: string): string => createHash('sha256').update(KID_LABEL).update(secret, 'utf8').digest('hex').slice(0, 16);

/** Whether a header value could be one of our kids at all (anything else is never worth a re-read). */
export const isKeyId = (value: unknown): value is string => typeof value === 'string' && KID_FORMAT.test(value);

/** How long a container trusts the secrets it read before reading them again. */
export const KEY_REFRESH_MS = 5 * 60_000;
/** At most this often a token with a kid the container does not know makes it re-read early. */
export const UNKNOWN_KID_REFRESH_MS = 60_000;

interface KeySet {
  readonly signing: SigningKey;
  readonly verifying: ReadonlyMap<string, KeyObject>;
}

/**
 * The HS256 keys of this container: one that signs, and every one that verifies, by kid.
 *
 * KeyObjects are made once per secret (jsonwebtoken verifies ~50x faster with a KeyObject than
 * with a string) and kept across re-reads while the secret stays. With a source that changes
 * (Secrets Manager), the secrets are read again at most every {@link KEY_REFRESH_MS}, and at
 * once, at most every {@link UNKNOWN_KID_REFRESH_MS}, when a token names a kid not known here
 * (another container may already sign with a rotated secret). A failed re-read keeps the keys
 * already known and tries again a minute later; a failed first read fails the request and the
 * next request tries again, so a failure never poisons the container.
 */
export class JwtKeyRing {
  #set: KeySet | undefined;
  #loading: Promise<KeySet> | undefined;
  #nextRefreshAt = 0;
  #lastUnknownKidRefreshAt = Number.NEGATIVE_INFINITY;
  #keyObjects = new Map<string, KeyObject>();

  constructor(
    private readonly source: KeySource,
    private readonly now: () => number = Date.now,
  ) {}

  async signingKey(): Promise<SigningKey> {
    return (await this.#current()).signing;
  }

  /** The key for a token's kid, or undefined when no key of ours has that kid (the token is refused). */
  async verificationKey(kid: unknown): Promise<KeyObject | undefined> {
    if (!isKeyId(kid)) return undefined; // no kid, or not one of ours: re-reading cannot find it
    const set = await this.#current();
    const key = set.verifying.get(kid);
    if (key || !this.source.changes) return key;
    if (!this.#loading) {
      const now = this.now();
      if (now - this.#lastUnknownKidRefreshAt < UNKNOWN_KID_REFRESH_MS) return undefined;
      this.#lastUnknownKidRefreshAt = now;
    }
    return (await this.#load()).verifying.get(kid);
  }

  #current(): Promise<KeySet> | KeySet {
    if (!this.#set || (this.source.changes && this.now() >= this.#nextRefreshAt)) return this.#load();
    return this.#set;
  }

  /** One read at a time: concurrent callers share it. */
  #load(): Promise<KeySet> {
    this.#loading ??= (async () => {
      try {
        const set = this.#build(await this.source.load());
        this.#set = set;
        this.#nextRefreshAt = this.now() + KEY_REFRESH_MS;
        return set;
      } catch (error) {
        if (!this.#set) throw error;
        warn('Could not re-read the JWT secret; keeping the keys already known', { error: String(error) });
        this.#nextRefreshAt = this.now() + UNKNOWN_KID_REFRESH_MS;
        return this.#set;
      } finally {
        this.#loading = undefined;
      }
    })();
    return this.#loading;
  }

  #build(versions: SecretVersions): KeySet {
    const keyObjects = new Map<string, KeyObject>();
    const keyFor = (secret: string): SigningKey => {
      const kid = keyIdOf(secret);
      const key = keyObjects.get(kid) ?? this.#keyObjects.get(kid) ?? createSecretKey(Buffer.from(secret, 'utf8'));
      keyObjects.set(kid, key);
      return { kid, key };
    };
    const signing = keyFor(versions.current);
    if (versions.previous !== undefined) keyFor(versions.previous);
    this.#keyObjects = keyObjects; // secrets no longer current or previous are forgotten
    return { signing, verifying: keyObjects };
  }
}

/** Locally: `JWT_SECRET` signs, `JWT_PREVIOUS_SECRET` (if set) still verifies; neither changes while running. */
function configuredSource(): KeySource {
  const { secret, previousSecret, secretArn } = getConfig().jwt;
  if (secret) return { changes: false, load: () => Promise.resolve({ current: secret, previous: previousSecret }) };
  if (!secretArn) throw new Error('No JWT secret configured');
  return secretsManagerSource(secretArn);
}

/**
 * In AWS: the secret's `AWSCURRENT` version signs, `AWSPREVIOUS` (absent until the first
 * rotation) still verifies. Both are read in parallel with the lean signed GetSecretValue, so
 * a cold start waits for one round trip, not two.
 */
export function secretsManagerSource(secretArn: string): KeySource {
  return {
    changes: true,
    load: async () => {
      // Both settle before anything is decided, so no read is left running behind a failure.
      const [currentRead, previousRead] = await Promise.allSettled([
        getSecretString(secretArn),
        getSecretString(secretArn, { versionStage: 'AWSPREVIOUS' }),
      ]);
      if (currentRead.status === 'rejected') throw currentRead.reason;
      const current = currentRead.value;
      let previous: string | undefined;
      if (previousRead.status === 'fulfilled') previous = previousRead.value;
      else if (!(previousRead.reason instanceof SecretsManagerError && previousRead.reason.code === 'ResourceNotFoundException')) {
        throw previousRead.reason; // no rotation yet is fine; any other failure is a failed read
      }
      if (Buffer.byteLength(current) < 32) throw new Error('JWT secret from Secrets Manager is shorter than 32 bytes');
      if (previous !== undefined && Buffer.byteLength(previous) < 32) {
        warn('The AWSPREVIOUS JWT secret is shorter than 32 bytes; it does not verify tokens');
        return { current };
      }
      return { current, previous };
    },
  };
}

/**
 * Loaded on first use: the logger reads its level when it is loaded, and this module is loaded
 * early (test helpers reset it), before a test may have set the level it wants to see.
 */
function warn(message: string, extra?: Record<string, unknown>): void {
  void import('../logger').then(({ logger }) => logger.warn(message, extra ?? {}));
}

let ring: JwtKeyRing | undefined;
let clock: (() => number) | undefined;

/** This container's key ring, made on first use from the configuration. */
export function getJwtKeys(): JwtKeyRing {
  ring ??= new JwtKeyRing(configuredSource(), clock);
  return ring;
}

/** The key new tokens are signed with. */
export function getSigningKey(): Promise<SigningKey> {
  return getJwtKeys().signingKey();
}

/** Forgets the keys (tests, the local runtime); `now` gives the next ring a clock (tests). */
export function resetSigningKey(options: { readonly now?: () => number } = {}): void {
  ring = undefined;
  clock = options.now;
}
