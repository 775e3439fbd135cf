import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { getConfig } from '../config';
import { unauthorized } from '../http/errors';
import { getJwtKeys, type JwtKeyRing, type SigningKey } from './signing-key';

export type TokenType = 'access' | 'refresh';

/** Header `typ` per token type (RFC 9068 for access tokens), checked besides the seed's `type` claim. */
const HEADER_TYP: Readonly<Record<TokenType, string>> = { access: 'at+jwt', refresh: 'rt+jwt' };
const ALGORITHM = 'HS256';

export interface TokenClaims {
  readonly sub: string;
  readonly jti: string;
  readonly type: TokenType;
  readonly iat: number;
  readonly exp: number;
  /** Refresh tokens only: the family (one login and its rotations). */
  readonly fam?: string;
  /** Access tokens only: the session (= the refresh-token family) the token belongs to. */
  readonly sid?: string;
}

export interface SignedToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresAt: Date;
}

/** Signs a token with the current key; its `kid` header names that key for verification. */
export function signToken(
  signing: SigningKey,
  type: TokenType,
  userId: string,
  extra: { readonly fam?: string; readonly sid?: string } = {},
): SignedToken {
  const { jwt: settings } = getConfig();
  const ttl = type === 'access' ? settings.accessTtlSeconds : settings.refreshTtlSeconds;
  const jti = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const token = jwt.sign({ ...extra, type }, signing.key, {
    algorithm: ALGORITHM,
    header: { alg: ALGORITHM, typ: HEADER_TYP[type], kid: signing.kid },
    subject: userId,
    jwtid: jti,
    issuer: settings.issuer,
    audience: settings.audience,
    expiresIn: ttl,
  });
  return { token, jti, expiresAt: new Date((now + ttl) * 1000) };
}

/**
 * Verifies the signature (HS256 only, with the key the `kid` header names), `iss`, `aud`,
 * `exp`, the header `typ` and the `type` claim. Any failure is a 401 problem with the seed's
 * wording: "Token has expired" for an expired token, "Could not validate credentials" for
 * everything else (forged, malformed, wrong type, a kid of no key we hold, or no kid on an
 * access token; a refresh token without kid is from before key ids and verifies with the
 * current key only).
 */
export async function verifyToken(token: string, type: TokenType, keys: JwtKeyRing = getJwtKeys()): Promise<TokenClaims> {
  const kid = headerKid(token);
  // A refresh token without kid was minted before key ids existed: only the current key may
  // verify it (so deploying key ids logs nobody out). Access tokens live minutes: always strict.
  const key = kid === undefined && type === 'refresh' ? (await keys.signingKey()).key : await keys.verificationKey(kid);
  if (!key) throw unauthorized('Could not validate credentials', 'invalid_token');
  const { jwt: settings } = getConfig();
  let decoded: jwt.Jwt;
  try {
    decoded = jwt.verify(token, key, {
      algorithms: [ALGORITHM],
      issuer: settings.issuer,
      audience: settings.audience,
      complete: true,
    });
  } catch (error) {
    if (error instanceof jwt.TokenExpiredError) throw unauthorized('Token has expired', 'invalid_token');
    throw unauthorized('Could not validate credentials', 'invalid_token');
  }
  const payload = decoded.payload;
  if (
    decoded.header.typ !== HEADER_TYP[type] ||
    typeof payload !== 'object' ||
    payload.type !== type ||
    typeof payload.sub !== 'string' ||
    typeof payload.jti !== 'string' ||
    typeof payload.exp !== 'number' ||
    typeof payload.iat !== 'number'
  ) {
    throw unauthorized('Could not validate credentials', 'invalid_token');
  }
  return payload as unknown as TokenClaims;
}

/** The `kid` of a token's header, read without verifying anything (it only picks the key). */
function headerKid(token: string): unknown {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot > 1024) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    return header && typeof header === 'object' ? (header as { kid?: unknown }).kid : undefined;
  } catch {
    return undefined;
  }
}
