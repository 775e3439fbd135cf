/** ISO-8601 UTC to the second, the seed's shape: `2024-01-15T10:30:00Z`. */
export function isoSeconds(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
