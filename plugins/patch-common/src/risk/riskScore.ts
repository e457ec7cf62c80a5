import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import { ANNOTATION_EXPOSURE, ANNOTATION_TIER } from '../entities/constants';
import type { PatchEntity, PatchSeverity } from '../entities/types';

/**
 * How reachable the endpoints that need a patch are.
 * @public
 */
export type Exposure = 'internet' | 'internal' | 'isolated';

/**
 * What riskScore knows besides the patch: where it would land.
 * @public
 */
export interface RiskContext {
  /** Exposure of the most exposed endpoint that needs the patch. */
  exposure?: Exposure;
  /**
   * Service tier of the most critical System or Component on those
   * endpoints, 1 being the most critical (see {@link tierFromEntities}).
   */
  tier?: number;
  /** Entity ref the exposure was read from, for the explanation. */
  exposureFrom?: string;
  /** Entity ref the tier was read from, for the explanation. */
  tierFrom?: string;
}

/**
 * One factor of a risk score: `contribution = weight × value × 100`.
 * @public
 */
export interface RiskFactor {
  /** cvss, knownExploited, epss, exposure or tier. */
  name: 'cvss' | 'knownExploited' | 'epss' | 'exposure' | 'tier';
  /** Share of the score this factor can give, 0 to 1; the weights sum to 1. */
  weight: number;
  /** How strongly the factor applies, 0 to 1. */
  value: number;
  /** Points it adds to the score (0 to 100 in all). */
  contribution: number;
  /** One sentence for the UI. */
  explanation: string;
}

/**
 * A risk score and the factors that made it.
 * @public
 */
export interface RiskScore {
  /** 0 (no risk) to 100, one decimal. */
  score: number;
  /** Every factor, in a fixed order, so the UI can explain a ranking. */
  factors: RiskFactor[];
}

/**
 * Weights of the factors. CVSS says how bad a flaw is, KEV that it is being
 * used now, EPSS how likely use is soon; exposure and tier say how much the
 * organisation has at stake. Known exploitation weighs most after CVSS
 * because CISA's due dates make it the most urgent signal there is.
 * @public
 */
export const RISK_WEIGHTS = {
  cvss: 0.35,
  knownExploited: 0.25,
  epss: 0.15,
  exposure: 0.15,
  tier: 0.1,
} as const;

// When no CVSS score is known, the vendor's severity stands in for it, at
// the middle of its CVSS band.
const SEVERITY_AS_CVSS: Record<PatchSeverity, number> = {
  critical: 9.5,
  high: 8,
  medium: 5.5,
  low: 2,
};

const EXPOSURE_VALUE: Record<Exposure, number> = {
  internet: 1,
  internal: 0.5,
  isolated: 0.1,
};

const round = (n: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/**
 * The most critical service tier among catalog entities (annotation
 * `patchbay.dev/tier` on Systems and Components, '1' most critical); undefined
 * when none carries a readable tier.
 * @public
 */
export function tierFromEntities(entities: Entity[]): number | undefined {
  let best: number | undefined;
  for (const e of entities) {
    if (e.kind !== 'System' && e.kind !== 'Component') continue;
    const raw = e.metadata.annotations?.[ANNOTATION_TIER];
    const tier = raw !== undefined ? Number.parseInt(raw, 10) : NaN;
    if (
      Number.isInteger(tier) &&
      tier >= 1 &&
      (best === undefined || tier < best)
    ) {
      best = tier;
    }
  }
  return best;
}

const EXPOSURES: Exposure[] = ['internet', 'internal', 'isolated'];

/**
 * Whether a value is an {@link Exposure}.
 * @public
 */
export function isExposure(value: unknown): value is Exposure {
  return EXPOSURES.includes(value as Exposure);
}

/**
 * The risk context of catalog entities where a patch would land: the most
 * exposed of their `patchbay.dev/exposure` annotations (endpoint Resources,
 * Components, Systems, and the APIs the Components provide: an API's
 * visibility), the most critical tier of the Systems and Components (see
 * {@link tierFromEntities}), and which entity each came from. An annotation
 * that is not one of the three exposures is ignored (unknown).
 * @public
 */
export function riskContextOf(entities: Entity[]): RiskContext {
  const out: RiskContext = {};
  for (const e of entities) {
    if (!['Resource', 'Component', 'System', 'API'].includes(e.kind)) continue;
    const raw = e.metadata.annotations?.[ANNOTATION_EXPOSURE]?.trim();
    if (!isExposure(raw)) continue;
    if (!out.exposure || EXPOSURE_VALUE[raw] > EXPOSURE_VALUE[out.exposure]) {
      out.exposure = raw;
      out.exposureFrom = stringifyEntityRef(e);
    }
  }
  const tier = tierFromEntities(entities);
  if (tier !== undefined) {
    out.tier = tier;
    const from = entities.find(
      e =>
        (e.kind === 'System' || e.kind === 'Component') &&
        Number.parseInt(e.metadata.annotations?.[ANNOTATION_TIER] ?? '', 10) ===
          tier,
    );
    if (from) out.tierFrom = stringifyEntityRef(from);
  }
  return out;
}

/**
 * The context of many landing places together (the endpoints of one
 * request): the most exposed exposure and the most critical tier.
 * @public
 */
export function mergeRiskContexts(contexts: RiskContext[]): RiskContext {
  const out: RiskContext = {};
  for (const c of contexts) {
    if (
      c.exposure &&
      (!out.exposure ||
        EXPOSURE_VALUE[c.exposure] > EXPOSURE_VALUE[out.exposure])
    ) {
      out.exposure = c.exposure;
      out.exposureFrom = c.exposureFrom;
    }
    if (c.tier !== undefined && (out.tier === undefined || c.tier < out.tier)) {
      out.tier = c.tier;
      out.tierFrom = c.tierFrom;
    }
  }
  return out;
}

/**
 * Scores how urgently a patch should be installed, 0 to 100, and returns the
 * factors behind the number. Pure; unknown inputs count as middling (0.5)
 * for exposure and tier, and as absent (0) for KEV and EPSS.
 * @public
 */
export function riskScore(
  patch: PatchEntity,
  context: RiskContext = {},
): RiskScore {
  const spec = patch.spec;
  const factors: RiskFactor[] = [];
  const add = (
    name: RiskFactor['name'],
    value: number,
    explanation: string,
  ) => {
    const weight = RISK_WEIGHTS[name];
    const v = Math.min(1, Math.max(0, value));
    factors.push({
      name,
      weight,
      value: round(v, 4),
      contribution: round(weight * v * 100, 2),
      explanation,
    });
  };

  if (spec.cvss) {
    add(
      'cvss',
      spec.cvss.score / 10,
      `CVSS ${spec.cvss.version ?? ''} base score ${
        spec.cvss.score
      } of 10.`.replace('  ', ' '),
    );
  } else {
    const s = SEVERITY_AS_CVSS[spec.severity];
    add(
      'cvss',
      s / 10,
      `No CVSS score; severity ${spec.severity} counts as ${s} of 10.`,
    );
  }

  add(
    'knownExploited',
    spec.knownExploited ? 1 : 0,
    spec.knownExploited
      ? `A fixed CVE is in the CISA KEV catalog${
          spec.kevDueDate ? ` (due ${spec.kevDueDate})` : ''
        }.`
      : 'No fixed CVE is in the CISA KEV catalog.',
  );

  if (spec.epss) {
    add(
      'epss',
      spec.epss.percentile,
      `EPSS ${(spec.epss.score * 100).toFixed(
        1,
      )}% chance of exploitation in 30 days${
        spec.epss.cve ? ` (${spec.epss.cve})` : ''
      }, higher than ${(spec.epss.percentile * 100).toFixed(
        1,
      )}% of scored CVEs.`,
    );
  } else {
    add('epss', 0, 'No EPSS score for the fixed CVEs.');
  }

  if (context.exposure) {
    add(
      'exposure',
      EXPOSURE_VALUE[context.exposure],
      `Most exposed endpoint is ${context.exposure}${
        context.exposureFrom ? ` (${context.exposureFrom})` : ''
      }.`,
    );
  } else {
    add('exposure', 0.5, 'Exposure unknown; counted as internal.');
  }

  if (
    context.tier !== undefined &&
    Number.isFinite(context.tier) &&
    context.tier >= 1
  ) {
    // Tier 1 = 1, tier 2 = 0.67, tier 3 = 0.33, tier 4 and below = 0.1.
    const t = Math.floor(context.tier);
    const value = t >= 4 ? 0.1 : (4 - t) / 3;
    add(
      'tier',
      value,
      `Most critical service on the endpoints is tier ${t}${
        context.tierFrom ? ` (${context.tierFrom})` : ''
      }.`,
    );
  } else {
    add('tier', 0.5, 'Service tier unknown; counted as middling.');
  }

  const score = round(
    factors.reduce((sum, f) => sum + f.contribution, 0),
    1,
  );
  return { score, factors };
}
