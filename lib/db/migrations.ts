import type { Database } from 'better-sqlite3';

// SQLite's migrations; PostgreSQL's are in postgres-migrations.ts, under the same version numbers.

/** A schema change. Append only: a released migration is never edited, only followed. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'users, refresh tokens, files',
    sql: `
      CREATE TABLE users (
        id              TEXT PRIMARY KEY,
        email           TEXT NOT NULL,
        -- trimmed, NFC, lower-cased: what uniqueness and login compare
        email_key       TEXT NOT NULL UNIQUE,
        hashed_password TEXT NOT NULL,
        created_at      TEXT NOT NULL
      ) STRICT;

      CREATE TABLE refresh_tokens (
        id          TEXT PRIMARY KEY,              -- the token's jti
        user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        family_id   TEXT NOT NULL,                 -- one login and all its rotations
        token_hash  TEXT NOT NULL UNIQUE,          -- SHA-256 hex; the token itself is never stored
        revoked     INTEGER NOT NULL DEFAULT 0,
        rotated_at  TEXT,                          -- set when exchanged for a successor
        expires_at  TEXT NOT NULL,
        created_at  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
      CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

      CREATE TABLE files (
        id           TEXT PRIMARY KEY,
        owner_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        key          TEXT NOT NULL UNIQUE,
        filename     TEXT NOT NULL,
        size         INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        created_at   TEXT NOT NULL
      ) STRICT;
      CREATE INDEX files_owner_created ON files(owner_id, created_at DESC, id DESC);
    `,
  },
  {
    version: 2,
    name: 'direct uploads: pending files and multipart state',
    sql: `
      -- 'stored': listed and counted; 'pending': planned direct upload, counted against the
      -- quota until it completes or expires (then swept).
      ALTER TABLE files ADD COLUMN status TEXT NOT NULL DEFAULT 'stored' CHECK (status IN ('pending', 'stored'));
      ALTER TABLE files ADD COLUMN upload_id TEXT;   -- S3 multipart UploadId
      ALTER TABLE files ADD COLUMN part_size INTEGER;
      ALTER TABLE files ADD COLUMN expires_at TEXT;  -- pending only
      DROP INDEX files_owner_created;
      -- listing walks this index backwards: rowid (implicit last column) is insertion order
      CREATE INDEX files_owner_listing ON files(owner_id, status);
      CREATE INDEX files_pending_expiry ON files(expires_at) WHERE status = 'pending';
    `,
  },
  {
    version: 3,
    name: 'completion claims, staging leftovers, per-owner list order (issue 7 review)',
    sql: `
      -- One completion at a time per plan: the claimant's random token, and when its claim
      -- lapses (a completion that crashed frees the plan). Pending rows only.
      ALTER TABLE files ADD COLUMN completion_token TEXT;
      ALTER TABLE files ADD COLUMN completion_until TEXT;

      -- Every staging key a presigned PUT URL was signed for, and when that URL is surely dead
      -- (the plan's expiry). The URL can write the key again after its plan completed, was
      -- refused, or its file was deleted: the sweep deletes the key once the URL has expired.
      -- Its own table, not a files column, because those rows may be gone by then.
      CREATE TABLE staging_leftovers (
        key         TEXT PRIMARY KEY,
        sweep_after TEXT NOT NULL
      ) STRICT;
      CREATE INDEX staging_leftovers_due ON staging_leftovers(sweep_after);

      -- The file's place in its owner's list (1, 2, ... in upload order): the listing's keyset,
      -- so a cursor carries the owner's own position, not the table-wide rowid (which told how
      -- many files everyone had uploaded). Existing rows are numbered in rowid order.
      ALTER TABLE files ADD COLUMN list_seq INTEGER;
      UPDATE files SET list_seq = numbered.seq
        FROM (SELECT rowid AS row_id, ROW_NUMBER() OVER (PARTITION BY owner_id ORDER BY rowid) AS seq FROM files) AS numbered
        WHERE files.rowid = numbered.row_id;
      CREATE UNIQUE INDEX files_owner_seq ON files(owner_id, list_seq);
    `,
  },
  {
    version: 4,
    name: 'staging leftovers count against their owner\'s quota (issue 7 attack review)',
    sql: `
      -- Whose staging key it is, for which file, and how many bytes its URL can write (the
      -- signed Content-Length): once the file's row is gone (refused, deleted), those bytes
      -- count against the owner's quota until the URL has expired. Rows from before this
      -- version have no owner and count for nobody.
      ALTER TABLE staging_leftovers ADD COLUMN owner_id TEXT;
      ALTER TABLE staging_leftovers ADD COLUMN file_id TEXT;
      ALTER TABLE staging_leftovers ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX staging_leftovers_owner ON staging_leftovers(owner_id, sweep_after);
    `,
  },
  {
    version: 5,
    name: 'sessions: one row per refresh-token family',
    sql: `
      CREATE TABLE sessions (
        id           TEXT PRIMARY KEY,     -- the refresh-token family id; claim sid of its access tokens
        user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at   TEXT NOT NULL,        -- the login
        last_used_at TEXT NOT NULL,        -- the last login or refresh; ordinary requests never write
        expires_at   TEXT NOT NULL,        -- of its newest refresh token: the session cannot outlive it
        ip           TEXT,                 -- of the last login or refresh
        user_agent   TEXT,
        ended_at     TEXT                  -- logout, revocation, reuse detection: its access tokens die
      ) STRICT;
      CREATE INDEX sessions_user ON sessions(user_id, created_at);

      -- Every family that can still refresh becomes a live session (no ip or user agent known).
      INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at)
        SELECT family_id, MIN(user_id), MIN(created_at), MAX(created_at), MAX(expires_at)
          FROM refresh_tokens
         GROUP BY family_id
        HAVING MAX(revoked = 0 AND expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) = 1;
    `,
  },
  {
    version: 6,
    name: 'abuse protection counters, used CAPTCHA solutions, audit events',
    sql: `
      -- One row per thing being counted: scope 'email' (login; key = SHA-256 of the normalized
      -- email), 'user', 'ip' (failures per client address) or 'register' (attempts per address).
      -- Written only when something is counted (a failure, a registration), never on an
      -- ordinary success; updated by one upsert, so racing containers never lose a count.
      CREATE TABLE throttle_counters (
        scope      TEXT NOT NULL,
        key        TEXT NOT NULL,
        count      INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,                -- Unix seconds: the end of the count's window
        PRIMARY KEY (scope, key)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX throttle_counters_expiry ON throttle_counters(expires_at);

      -- A CAPTCHA solution works once: its challenge is kept until the challenge expires.
      CREATE TABLE captcha_solutions (
        challenge_hash TEXT PRIMARY KEY,            -- SHA-256 hex of the challenge's signature
        expires_at     INTEGER NOT NULL             -- Unix seconds
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX captcha_solutions_expiry ON captcha_solutions(expires_at);

      -- No foreign key on user_id: audit rows outlive the account (they keep only the id).
      CREATE TABLE audit_events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order: paging, newest first
        id         TEXT NOT NULL UNIQUE,              -- UUID, what clients see
        user_id    TEXT,
        at         TEXT NOT NULL,                     -- ISO-8601 UTC
        type       TEXT NOT NULL,
        ip         TEXT,
        user_agent TEXT,
        request_id TEXT,
        details    TEXT NOT NULL DEFAULT '{}'         -- JSON object of scalars
      ) STRICT;
      CREATE INDEX audit_events_user ON audit_events(user_id, seq);
      CREATE INDEX audit_events_at ON audit_events(at);
    `,
  },
  {
    version: 7,
    name: 'accounts: email verification, one-time account tokens (verify email, reset password)',
    sql: `
      -- When the address was proven (a verification link, or a password reset through it).
      -- Accounts from before this version stay unverified: nobody has proven them yet. With
      -- EMAIL_VERIFICATION=required their next correct login mails them a fresh link.
      ALTER TABLE users ADD COLUMN email_verified_at TEXT;

      -- Links mailed to a person: only the SHA-256 of the token is kept, each works once
      -- (used_at), until expires_at. Swept a day after they are used or expired.
      CREATE TABLE account_tokens (
        token_hash TEXT PRIMARY KEY,              -- SHA-256 hex of the token in the link
        purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at    TEXT
      ) STRICT;
      CREATE INDEX account_tokens_user ON account_tokens(user_id, purpose);
      CREATE INDEX account_tokens_expiry ON account_tokens(expires_at);
    `,
  },
  {
    version: 8,
    name: 'TOTP MFA: encrypted secrets, hashed recovery codes, pending MFA logins',
    sql: `
      -- One TOTP secret per user: pending (enabled_at NULL) until a first code confirms it.
      -- The secret is AES-256-GCM ciphertext (iv, ciphertext and tag, base64url, dot-separated)
      -- under the key named by key_id, so keys can rotate; the base32 secret is never stored.
      CREATE TABLE mfa_totp (
        user_id          TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        secret_encrypted TEXT NOT NULL,
        key_id           TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        enabled_at       TEXT,
        -- The newest RFC 6238 time step accepted: codes of this step or earlier are refused (no replay).
        last_used_step   INTEGER
      ) STRICT;

      -- Single-use recovery codes, SHA-256 hex of the normalized code; shown once at confirmation.
      CREATE TABLE mfa_recovery_codes (
        user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        used_at   TEXT,
        PRIMARY KEY (user_id, code_hash)
      ) STRICT;

      -- A login whose password was right, waiting for its code: the opaque mfa_token, hashed.
      CREATE TABLE mfa_challenges (
        token_hash TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL,               -- Unix seconds
        failures   INTEGER NOT NULL DEFAULT 0      -- wrong codes; at the limit the token is dead
      ) STRICT;
      CREATE INDEX mfa_challenges_user ON mfa_challenges(user_id);
      CREATE INDEX mfa_challenges_expiry ON mfa_challenges(expires_at);
    `,
  },
  {
    version: 9,
    name: 'scan status of every file (scan gate)',
    sql: `
      -- 'clean': a scanner found nothing; 'pending': GuardDuty has not answered yet (or an inline
      -- scan has not run: a planned direct upload); 'infected': GuardDuty found a threat after
      -- the file was stored (its object is deleted); 'unscanned': stored with SCANNER=none. Files
      -- stored before the scan gate were never scanned. Only 'clean' and 'unscanned' are served.
      ALTER TABLE files ADD COLUMN scan_status TEXT NOT NULL DEFAULT 'unscanned'
        CHECK (scan_status IN ('clean', 'pending', 'infected', 'unscanned'));
    `,
  },
  {
    version: 10,
    name: 'share links',
    sql: `
      -- A revocable link to one stored file. The token (256 random bits) is never stored, only
      -- its SHA-256. Deleting the file, or its owner, ends its shares (cascade); revoking one
      -- deletes its row, so a revoked token matches nothing, like an unknown one.
      CREATE TABLE shares (
        id            TEXT PRIMARY KEY,
        file_id       TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        owner_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash    TEXT NOT NULL UNIQUE,           -- SHA-256 hex of the token
        password_hash TEXT,                           -- bcrypt; NULL: no password
        created_at    TEXT NOT NULL,
        expires_at    TEXT NOT NULL,                  -- ISO-8601 UTC; compared as text
        max_downloads INTEGER CHECK (max_downloads IS NULL OR max_downloads > 0),
        downloads     INTEGER NOT NULL DEFAULT 0      -- raised only by a conditional UPDATE
      ) STRICT;
      CREATE INDEX shares_file ON shares(file_id, created_at);
      CREATE INDEX shares_owner ON shares(owner_id);
      CREATE INDEX shares_expiry ON shares(expires_at);
    `,
  },
];

/**
 * Brings the schema up to date in one `BEGIN IMMEDIATE` transaction, so that cold starts of
 * several containers racing on one database apply each migration exactly once. A no-op (one
 * read) when already current.
 *
 * Applies every migration whose version is not recorded yet, in version order, not only those
 * above the highest recorded one: versions are claimed by branches developed in parallel, so a
 * database may already carry 5 when 3 and 4 arrive with a later merge. Such migrations are
 * independent by construction (each branch wrote its own against the released schema).
 *
 * @returns the versions applied by this call
 */
export function migrateSqlite(db: Database, list: readonly Migration[] = migrations): number[] {
  const ordered = [...list].sort((a, b) => a.version - b.version);
  for (let i = 1; i < ordered.length; i += 1) {
    if (ordered[i]?.version === ordered[i - 1]?.version) throw new Error(`Two migrations claim version ${ordered[i]?.version}`);
  }
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  ) STRICT`);
  const pending = () => {
    const done = new Set((db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((row) => row.version));
    return ordered.filter((migration) => !done.has(migration.version));
  };
  if (pending().length === 0) return [];

  const apply = db.transaction(() => {
    const applied: number[] = [];
    for (const migration of pending()) { // re-read under the write lock: another container may have won
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        new Date().toISOString(),
      );
      applied.push(migration.version);
    }
    return applied;
  });
  return apply.immediate();
}

