/**
 * `npm run bench [-- --strict] [--only WORD]`: the local runtime in this process, each
 * comparison measured side by side, one table with ratios and PASS/FAIL against the budgets.
 * Exits 0 whatever the verdicts unless `--strict` is given (then 1 on any FAIL). `--only`
 * (repeatable) runs just the comparisons whose title contains the word, e.g. `--only upload`.
 */
import './quiet-logs';
import os from 'node:os';
import { startBenchRuntime } from './bench-runtime';
import { measureBundles } from './bundles';
import { comparisons, type ComparisonResult } from './comparisons';
import { DB_LOAD_TITLE, measureDatabaseLoad } from './db-load';
import { renderTable, type Column } from './table';

const COLUMNS: readonly Column[] = [
  { title: 'measure' },
  { title: 'n', align: 'right' },
  { title: 'median/mean ms' },
  { title: 'compared with' },
  { title: 'ratio/diff', align: 'right' },
  { title: 'budget' },
  { title: 'result' },
];

function resultWord(pass: boolean | undefined): string {
  if (pass === undefined) return 'info';
  return pass ? 'PASS' : 'FAIL  <--';
}

/** Two rows per comparison, the subject with its verdict, then its baseline; then any breakdown. */
function tableRows(results: readonly ComparisonResult[]): string[][] {
  return results.flatMap(({ subject, baseline, verdict, breakdown = [] }) => [
    [subject.label, String(subject.n), subject.stat, baseline.label, verdict.relation, verdict.budget, resultWord(verdict.pass)],
    [`  ${baseline.label}`, String(baseline.n), baseline.stat, '', '', '', ''],
    ...breakdown.map((row) => [`    ${row.label}`, row.n ? String(row.n) : '', row.stat, `share of ${subject.label.split(',')[0]}`, row.share, '', '']),
  ]);
}

/** The title of the bundle measurement, for `--only` (it runs apart from the HTTP comparisons). */
const BUNDLES_TITLE = 'function bundles against SDK-only stubs';

/**
 * `--only WORD` (repeatable): just the comparisons whose title contains one of the words
 * (`--only bundles` for the function bundles alone).
 */
function selected(argv: readonly string[]): { comparisons: typeof comparisons; bundles: boolean; database: boolean } {
  const words = argv.flatMap((arg, index) => (arg === '--only' && argv[index + 1] ? [argv[index + 1]!.toLowerCase()] : []));
  if (words.length === 0) return { comparisons, bundles: true, database: true };
  const chosen = comparisons.filter((comparison) => words.some((word) => comparison.title.toLowerCase().includes(word)));
  const bundles = words.some((word) => BUNDLES_TITLE.includes(word));
  const database = words.some((word) => DB_LOAD_TITLE.includes(word));
  if (chosen.length === 0 && !bundles && !database) {
    throw new Error(`--only ${words.join(', ')}: no comparison matches (${[...comparisons.map((c) => c.title), BUNDLES_TITLE, DB_LOAD_TITLE].join('; ')})`);
  }
  return { comparisons: chosen, bundles, database };
}

function machineInfo(bcryptRounds: number): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  return [
    `node ${process.version} on ${os.platform()}/${os.arch()}, ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), load ${load}`,
    `bcrypt cost ${bcryptRounds} (BCRYPT_ROUNDS)`,
  ].join('\n');
}

/** The HTTP comparisons, against the local runtime started in this process. */
async function runComparisons(chosen: typeof comparisons, results: ComparisonResult[]): Promise<void> {
  const runtime = await startBenchRuntime();
  try {
    console.log(machineInfo(runtime.context.bcryptRounds));
    console.log(`API ${runtime.context.apiUrl}\n`);
    for (const comparison of chosen) {
      const began = Date.now();
      process.stdout.write(`measuring ${comparison.title}... `);
      results.push(await comparison.run(runtime.context));
      console.log(`${((Date.now() - began) / 1000).toFixed(1)} s`);
    }
  } finally {
    await runtime.close();
  }
}

async function main(): Promise<void> {
  const strict = process.argv.includes('--strict');
  const chosen = selected(process.argv.slice(2));
  const started = Date.now();
  const results: ComparisonResult[] = [];
  if (chosen.comparisons.length > 0) await runComparisons(chosen.comparisons, results);
  if (chosen.bundles) {
    // The deployable bundles, measured after the runtime is gone so nothing competes for the CPU.
    const began = Date.now();
    console.log(`measuring ${BUNDLES_TITLE}...`);
    results.push(...measureBundles((line) => console.log(`  ${line}`)));
    console.log(`  ${((Date.now() - began) / 1000).toFixed(1)} s`);
  }

  if (chosen.database) {
    const began = Date.now();
    console.log(`measuring ${DB_LOAD_TITLE}...`);
    results.push(...(await measureDatabaseLoad((line) => console.log(`  ${line}`))));
    console.log(`  ${((Date.now() - began) / 1000).toFixed(1)} s`);
  }

  console.log(`\n${renderTable(COLUMNS, tableRows(results))}\n`);
  for (const [index, result] of results.entries()) {
    if (result.note) console.log(`note ${index + 1}: ${result.subject.label}: ${result.note}`);
  }
  const failed = results.filter((result) => result.verdict.pass === false).length;
  console.log(`\n${failed ? `FAIL: ${failed} of ${results.length} budgets exceeded` : 'PASS: every budget met'} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (failed && strict) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
