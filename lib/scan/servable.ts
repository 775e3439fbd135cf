/** Whether a file may be served (URL, share, download): only `clean`, or `unscanned` (scanner `none`). */
export function isServable(file: { readonly scan_status?: string | null }): boolean {
  return file.scan_status == null || file.scan_status === 'clean' || file.scan_status === 'unscanned';
}
