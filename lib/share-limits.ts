/**
 * The bounds of a share link's settings, in a module of their own: the request schemas and
 * lib/shares.ts both read them, and neither may pull the other (zod, the database) into
 * bundles that do not need it.
 */

/** Longest `expires_in`: 30 days. */
export const SHARE_MAX_EXPIRES_IN = 2_592_000;
/** `expires_in` when left out: a day. */
export const SHARE_DEFAULT_EXPIRES_IN = 86_400;
/** Highest `max_downloads`; leaving it out (or null) means no limit until the share expires. */
export const SHARE_MAX_DOWNLOADS = 1_000_000;
