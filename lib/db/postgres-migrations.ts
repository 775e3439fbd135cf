import type { Migration } from './migrations';

/**
 * PostgreSQL's migrations. Version numbers are shared with SQLite's (lib/db/migrations.ts): a
 * database at version N has the same tables and columns on either engine, which is what the
 * copy command (`npm run db:copy`) checks. PostgreSQL arrived at version 10, so its first
 * migration is the whole schema of SQLite's 1 to 10; every later version is written for both.
 *
 * Types follow SQLite's: timestamps stay ISO-8601 UTC text (compared as text, as in SQLite),
 * flags stay integers, sizes and Unix seconds are BIGINT (the driver hands them back as numbers).
 */
export const postgresMigrations: readonly Migration[] = [
  {
    version: 10,
    name: 'the schema of SQLite migrations 1 to 10 (users, tokens, files, sessions, abuse protection, audit, accounts, MFA, scan status, shares)',
    sql: `
      CREATE TABLE users (
        id                TEXT PRIMARY KEY,
        email             TEXT NOT NULL,
        email_key         TEXT NOT NULL UNIQUE,   -- trimmed, NFC, lower-cased
        hashed_password   TEXT NOT NULL,
        created_at        TEXT NOT NULL,
        email_verified_at TEXT
      );

      CREATE TABLE refresh_tokens (
        id          TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        family_id   TEXT NOT NULL,
        token_hash  TEXT NOT NULL UNIQUE,
        revoked     INTEGER NOT NULL DEFAULT 0,
        rotated_at  TEXT,
        expires_at  TEXT NOT NULL,
        created_at  TEXT NOT NULL
      );
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
      CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

      CREATE TABLE files (
        id               TEXT PRIMARY KEY,
        owner_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        key              TEXT NOT NULL UNIQUE,
        filename         TEXT NOT NULL,
        size             BIGINT NOT NULL,
        content_type     TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        status           TEXT NOT NULL DEFAULT 'stored' CHECK (status IN ('pending', 'stored')),
        upload_id        TEXT,
        part_size        BIGINT,
        expires_at       TEXT,
        completion_token TEXT,
        completion_until TEXT,
        list_seq         BIGINT,
        scan_status      TEXT NOT NULL DEFAULT 'unscanned' CHECK (scan_status IN ('clean', 'pending', 'infected', 'unscanned'))
      );
      CREATE INDEX files_owner_listing ON files(owner_id, status);
      CREATE INDEX files_pending_expiry ON files(expires_at) WHERE status = 'pending';
      CREATE UNIQUE INDEX files_owner_seq ON files(owner_id, list_seq);

      CREATE TABLE staging_leftovers (
        key         TEXT PRIMARY KEY,
        sweep_after TEXT NOT NULL,
        owner_id    TEXT,
        file_id     TEXT,
        size        BIGINT NOT NULL DEFAULT 0
      );
      CREATE INDEX staging_leftovers_due ON staging_leftovers(sweep_after);
      CREATE INDEX staging_leftovers_owner ON staging_leftovers(owner_id, sweep_after);

      CREATE TABLE sessions (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at   TEXT NOT NULL,
        last_used_at TEXT NOT NULL,
        expires_at   TEXT NOT NULL,
        ip           TEXT,
        user_agent   TEXT,
        ended_at     TEXT,
        -- Insertion order, the listing's tie-break within one second: SQLite's implicit rowid,
        -- made explicit under the same name, so one query serves both engines.
        rowid        BIGSERIAL NOT NULL
      );
      CREATE INDEX sessions_user ON sessions(user_id, created_at);

      CREATE TABLE throttle_counters (
        scope      TEXT NOT NULL,
        key        TEXT NOT NULL,
        count      INTEGER NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (scope, key)
      );
      CREATE INDEX throttle_counters_expiry ON throttle_counters(expires_at);

      CREATE TABLE captcha_solutions (
        challenge_hash TEXT PRIMARY KEY,
        expires_at     BIGINT NOT NULL
      );
      CREATE INDEX captcha_solutions_expiry ON captcha_solutions(expires_at);

      CREATE TABLE audit_events (
        seq        BIGSERIAL PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        user_id    TEXT,
        at         TEXT NOT NULL,
        type       TEXT NOT NULL,
        ip         TEXT,
        user_agent TEXT,
        request_id TEXT,
        details    TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX audit_events_user ON audit_events(user_id, seq);
      CREATE INDEX audit_events_at ON audit_events(at);

      CREATE TABLE account_tokens (
        token_hash TEXT PRIMARY KEY,
        purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at    TEXT
      );
      CREATE INDEX account_tokens_user ON account_tokens(user_id, purpose);
      CREATE INDEX account_tokens_expiry ON account_tokens(expires_at);

      CREATE TABLE mfa_totp (
        user_id          TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        secret_encrypted TEXT NOT NULL,
        key_id           TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        enabled_at       TEXT,
        last_used_step   BIGINT
      );

      CREATE TABLE mfa_recovery_codes (
        user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        used_at   TEXT,
        PRIMARY KEY (user_id, code_hash)
      );

      CREATE TABLE mfa_challenges (
        token_hash TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at BIGINT NOT NULL,
        failures   INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX mfa_challenges_user ON mfa_challenges(user_id);
      CREATE INDEX mfa_challenges_expiry ON mfa_challenges(expires_at);

      CREATE TABLE shares (
        id            TEXT PRIMARY KEY,
        file_id       TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        owner_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash    TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        created_at    TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        max_downloads INTEGER CHECK (max_downloads IS NULL OR max_downloads > 0),
        downloads     INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX shares_file ON shares(file_id, created_at);
      CREATE INDEX shares_owner ON shares(owner_id);
      CREATE INDEX shares_expiry ON shares(expires_at);
    `,
  },
];
