/*
 * Predicted impact: how likely the patch is to fail on the next endpoints.
 *
 * The estimate combines the patch's own results so far with the history of
 * similar patches (same package: full weight; same vendor only: half). The
 * history acts as a prior worth at most `maxHistoryWeight` results, so that a
 * long good history cannot drown a bad pilot: this is a Beta posterior with a
 * capped, informative prior, summarised by its mean and a Wilson interval at
 * the effective sample size. It is always returned with its evidence.
 */
import { RateInterval, wilsonInterval } from './gates';

/**
 * Success and failure counts.
 * @public
 */
export interface OutcomeCounts {
  /** Installs that succeeded. */
  succeeded: number;
  /** Installs that failed or timed out. */
  failed: number;
}

/**
 * The results of one similar patch.
 * @public
 */
export interface SimilarPatchHistory extends OutcomeCounts {
  /** Entity ref of the patch. */
  patchRef: string;
  /** Why it is similar: same package (weight 1) or same vendor (weight 0.5). */
  similarity: 'package' | 'vendor';
}

/**
 * Input of {@link predictImpact}.
 * @public
 */
export interface ImpactInput {
  /** The patch's own results so far. */
  current: OutcomeCounts;
  /** Similar patches' results. */
  history: SimilarPatchHistory[];
  /** Most results the history may count for (default 50). */
  maxHistoryWeight?: number;
  /** Confidence level (default 0.95). */
  confidence?: number;
}

/**
 * A failure-risk estimate with its evidence.
 * @public
 */
export interface ImpactPrediction {
  /** Estimated failure rate, 0 to 1; absent when there is no evidence at all. */
  estimate?: number;
  /** Interval on the estimate. */
  interval: RateInterval;
  /** low (< 2 % upper bound), medium (< 10 %), high, or unknown (no evidence). */
  level: 'low' | 'medium' | 'high' | 'unknown';
  /** The evidence behind the figure. */
  evidence: {
    /** The patch's own results and their interval. */
    current: OutcomeCounts & { interval: RateInterval };
    /** Similar patches' pooled results and their interval. */
    history: OutcomeCounts & {
      patches: number;
      byPackage: number;
      byVendor: number;
      interval: RateInterval;
      /** How many results the history counted for in the estimate. */
      weight: number;
    };
  };
  /** One sentence for people. */
  summary: string;
}

/**
 * Estimates a patch's failure risk from its results and similar patches.
 * @public
 */
export function predictImpact(input: ImpactInput): ImpactPrediction {
  const confidence = input.confidence ?? 0.95;
  const cap = input.maxHistoryWeight ?? 50;
  let hs = 0;
  let hf = 0;
  let ws = 0;
  let wf = 0;
  for (const h of input.history) {
    const w = h.similarity === 'package' ? 1 : 0.5;
    hs += h.succeeded;
    hf += h.failed;
    ws += w * h.succeeded;
    wf += w * h.failed;
  }
  const weighted = ws + wf;
  const scale = weighted > cap ? cap / weighted : 1;
  const priorS = ws * scale;
  const priorF = wf * scale;
  const cs = input.current.succeeded;
  const cf = input.current.failed;
  const n = cs + cf + priorS + priorF;
  const failures = cf + priorF;
  const interval = wilsonInterval(failures, n, confidence);
  const estimate = n > 0 ? failures / n : undefined;
  let level: ImpactPrediction['level'] = 'unknown';
  if (n > 0) {
    if (interval.upper < 0.02) level = 'low';
    else if (interval.upper < 0.1) level = 'medium';
    else level = 'high';
  }
  const patches = input.history.length;
  const summary =
    n === 0
      ? 'No results yet for this patch or similar patches.'
      : `Estimated failure rate ${(estimate! * 100).toFixed(1)} % (${(
          interval.lower * 100
        ).toFixed(1)}–${(interval.upper * 100).toFixed(1)} % at ${
          confidence * 100
        } %), from ${cf} of ${cs + cf} failed on this patch and ${hf} of ${
          hs + hf
        } on ${patches} similar patch${patches === 1 ? '' : 'es'}.`;
  return {
    estimate,
    interval,
    level,
    evidence: {
      current: {
        succeeded: cs,
        failed: cf,
        interval: wilsonInterval(cf, cs + cf, confidence),
      },
      history: {
        succeeded: hs,
        failed: hf,
        patches,
        byPackage: input.history.filter(h => h.similarity === 'package').length,
        byVendor: input.history.filter(h => h.similarity === 'vendor').length,
        interval: wilsonInterval(hf, hs + hf, confidence),
        weight: priorS + priorF,
      },
    },
    summary,
  };
}
