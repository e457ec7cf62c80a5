/*
 * Gate statistics.
 *
 * A wave passes its gate only when the upper bound of a confidence interval
 * on its failure rate is under the policy's limit. We use the Wilson score
 * interval rather than a Beta posterior because:
 *  - it needs no prior: a gate must be passed on this wave's own evidence,
 *    never on the good history of other patches (history is used, openly,
 *    in the predicted impact instead);
 *  - it has a closed form, so the frontend, the backend and an operator with
 *    a calculator get the same bound;
 *  - unlike the normal (Wald) interval it behaves at small samples and at
 *    rates near zero, which is exactly a pilot: 0 failures out of 20 still
 *    has an upper bound of 16 % at 95 %, so a tiny clean pilot cannot prove
 *    a 5 % limit. Its coverage is close to the nominal level there, where
 *    the exact (Clopper-Pearson) interval is needlessly wide.
 */

/**
 * A confidence interval on a rate.
 * @public
 */
export interface RateInterval {
  /** Lower bound, 0 to 1. */
  lower: number;
  /** Upper bound, 0 to 1. */
  upper: number;
  /** Confidence level, e.g. 0.95. */
  confidence: number;
}

/** Two-sided normal quantiles for the confidence levels policies use. */
const Z_BY_CONFIDENCE: Record<string, number> = {
  '0.8': 1.2816,
  '0.9': 1.6449,
  '0.95': 1.96,
  '0.98': 2.3263,
  '0.99': 2.5758,
};

/**
 * The normal quantile of a two-sided confidence level (0.8, 0.9, 0.95,
 * 0.98 or 0.99; others fall back to 0.95).
 * @public
 */
export function zForConfidence(confidence: number): number {
  return Z_BY_CONFIDENCE[String(confidence)] ?? 1.96;
}

/**
 * The Wilson score interval for `events` out of `trials`. Counts may be
 * fractional (weighted evidence). With no trials the interval is [0, 1].
 * @public
 */
export function wilsonInterval(
  events: number,
  trials: number,
  confidence = 0.95,
): RateInterval {
  if (trials <= 0) return { lower: 0, upper: 1, confidence };
  const z = zForConfidence(confidence);
  const p = Math.min(Math.max(events / trials, 0), 1);
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const center = (p + z2 / (2 * trials)) / denominator;
  const half =
    (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) /
    denominator;
  return {
    lower: Math.max(0, center - half),
    upper: Math.min(1, center + half),
    confidence,
  };
}

/**
 * The evidence a gate is read from.
 * @public
 */
export interface GateInput {
  /** Endpoints in the wave. */
  total: number;
  /** Jobs that succeeded. */
  succeeded: number;
  /** Jobs that failed or timed out. */
  failed: number;
  /** Jobs not finished yet (not dispatched, queued, leased or running). */
  pending: number;
  /** Whether the soak time after the wave finished has elapsed. */
  soakElapsed: boolean;
  /** Results needed before the gate may pass. */
  minSample: number;
  /** Highest failure rate allowed (upper bound), 0 to 1. */
  failureLimit: number;
  /** Share of the wave's endpoints that must succeed, 0 to 1. */
  successThreshold?: number;
  /** Confidence level of the interval (default 0.95). */
  confidence?: number;
}

/**
 * What a gate decided:
 * - `pass`: the evidence says the wave is safe;
 * - `breach`: the failure rate is (or may be) over the limit: pause, notify,
 *   open a ticket;
 * - `hold`: the soak is over but there is not enough evidence (too few
 *   results, or too few successes): pause for an operator, no ticket;
 * - `wait`: keep soaking.
 * @public
 */
export type GateDecision = 'pass' | 'breach' | 'hold' | 'wait';

/**
 * A gate decision with its evidence.
 * @public
 */
export interface GateResult {
  /** The decision. */
  decision: GateDecision;
  /** Why, in one sentence for operators. */
  reason: string;
  /** Results counted (succeeded + failed). */
  finished: number;
  /** Failures counted. */
  failed: number;
  /** Observed failure rate (0 with no results). */
  failureRate: number;
  /** Wilson interval on the failure rate. */
  interval: RateInterval;
  /** The limit the upper bound is compared with. */
  failureLimit: number;
  /** The minimum sample. */
  minSample: number;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}

/**
 * Reads a wave's gate. A clear breach (the lower bound already over the
 * limit once the minimum sample has finished) is reported at once, without
 * waiting for the soak, so a bad patch stops early.
 * @public
 */
export function evaluateGate(input: GateInput): GateResult {
  const confidence = input.confidence ?? 0.95;
  const finished = input.succeeded + input.failed;
  const interval = wilsonInterval(input.failed, finished, confidence);
  const base = {
    finished,
    failed: input.failed,
    failureRate: finished > 0 ? input.failed / finished : 0,
    interval,
    failureLimit: input.failureLimit,
    minSample: input.minSample,
  };
  const evidence = `${input.failed} of ${finished} failed, upper bound ${pct(
    interval.upper,
  )} vs limit ${pct(input.failureLimit)}`;
  if (
    finished >= Math.max(input.minSample, 1) &&
    interval.lower > input.failureLimit
  ) {
    return {
      ...base,
      decision: 'breach',
      reason: `Failure rate over the limit: ${evidence}`,
    };
  }
  if (input.pending > 0 || !input.soakElapsed) {
    return { ...base, decision: 'wait', reason: `Soaking: ${evidence}` };
  }
  if (finished < input.minSample) {
    return {
      ...base,
      decision: 'hold',
      reason: `Only ${finished} results of the ${input.minSample} needed`,
    };
  }
  if (interval.upper >= input.failureLimit) {
    return {
      ...base,
      decision: 'breach',
      reason: `Failure rate may be over the limit: ${evidence}`,
    };
  }
  const successRate = input.total > 0 ? input.succeeded / input.total : 0;
  if (
    input.successThreshold !== undefined &&
    successRate < input.successThreshold
  ) {
    return {
      ...base,
      decision: 'hold',
      reason: `Only ${pct(successRate)} of the wave succeeded, ${pct(
        input.successThreshold,
      )} needed`,
    };
  }
  return { ...base, decision: 'pass', reason: `Gate passed: ${evidence}` };
}
