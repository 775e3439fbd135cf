/**
 * Imported first by bench/run.ts: the handlers' logger reads its level when its module loads,
 * which is before the bench runtime sets anything. The access and audit lines every request now
 * writes at INFO would otherwise land between the progress lines (and cost each request a write).
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
