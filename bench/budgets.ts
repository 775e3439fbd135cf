/** How a subject series relates to its baseline, and whether that stays within budget. */

export interface Verdict {
  /** The relation as measured: `1.012x` or `+0.041 ms`. */
  readonly relation: string;
  /** The budget in the same terms, or `-` for an informational row. */
  readonly budget: string;
  /** Undefined when there is no budget (information only). */
  readonly pass: boolean | undefined;
}

/** subject / baseline must lie within [min, max]. */
export function ratioWithin(subject: number, baseline: number, limits: { readonly min?: number; readonly max: number }): Verdict {
  const ratio = subject / baseline;
  const min = limits.min ?? Number.NEGATIVE_INFINITY;
  return {
    relation: `${ratio.toFixed(3)}x`,
    budget: limits.min === undefined ? `<= ${limits.max}x` : `${limits.min}x - ${limits.max}x`,
    pass: ratio >= min && ratio <= limits.max,
  };
}

/** subject - baseline must not exceed `maxMs`. */
export function differenceAtMost(subject: number, baseline: number, maxMs: number): Verdict {
  const difference = subject - baseline;
  return {
    relation: `${difference >= 0 ? '+' : ''}${difference.toFixed(3)} ms`,
    budget: `<= +${maxMs} ms`,
    pass: difference <= maxMs,
  };
}

/** The ratio, reported without a budget. */
export function ratioOnly(subject: number, baseline: number): Verdict {
  return { relation: `${(subject / baseline).toFixed(2)}x`, budget: '-', pass: undefined };
}
