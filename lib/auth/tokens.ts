import { randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { getConfig } from '../config';
import { unauthorized } from '../http/errors';

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
}

export interface SignedToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresAt: Date;
}

export function signToken(
  key: KeyObject,
  type: TokenType,
  userId: string,
  extra: { readonly fam?: string } = {},
): SignedToken {
  const { jwt: settings } = getConfig();
  const ttl = type === 'access' ? settings.accessTtlSeconds : settings.refreshTtlSeconds;
  const jti = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const token = jwt.sign({ ...extra, type }, key, {
    algorithm: ALGORITHM,
    header: { alg: ALGORITHM, typ: HEADER_TYP[type] },
    subject: userId,
    jwtid: jti,
    issuer: settings.issuer,
    audience: settings.audience,
    expiresIn: ttl,
  });
  return { token, jti, expiresAt: new Date((now + ttl) * 1000) };
}

/**
 * Verifies signature (HS256 only), `iss`, `aud`, `exp`, the header `typ` and the `type` claim.
 * Any failure is a 401 problem with the seed's wording: "Token has expired" for an expired
 * token, "Could not validate credentials" for everything else (forged, malformed, wrong type).
 */
export function verifyToken(key: KeyObject, token: string, type: TokenType): TokenClaims {
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
