/** Plain-text tables for the terminal. */

export interface Column {
  readonly title: string;
  readonly align?: 'left' | 'right';
}

/** Space-separated columns sized to their widest cell, with a rule under the header. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, index) => Math.max(column.title.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((column, index) => {
        const cell = cells[index] ?? '';
        const width = widths[index] ?? 0;
        return column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.title)), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
