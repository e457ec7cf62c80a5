/*
 * How representative a pilot is of the fleet: the share of each value of
 * the attributes that make endpoints behave differently (OS release, site,
 * device type, department, owning team, tier) in the pilot beside the
 * fleet's, and the combinations (e.g. OS release × device type) that the
 * rest of the fleet (the broad ring) holds and the pilot does not: a patch
 * that breaks only there would pass the pilot unseen.
 */
import type { PlanEndpoint } from './selector';

/**
 * The attributes a pilot's representativeness is measured on.
 * @public
 */
export const PILOT_DIMENSIONS = [
  'osRelease',
  'site',
  'deviceType',
  'department',
  'owner',
  'tier',
] as const;

/**
 * One of {@link PILOT_DIMENSIONS}.
 * @public
 */
export type PilotDimension = (typeof PILOT_DIMENSIONS)[number];

/**
 * The pairs of dimensions whose combinations a pilot should cover.
 * @public
 */
export const PILOT_COMBINATIONS: ReadonlyArray<
  readonly [PilotDimension, PilotDimension]
> = [
  ['osRelease', 'deviceType'],
  ['osRelease', 'site'],
  ['osRelease', 'tier'],
  ['deviceType', 'site'],
];

/** The value of an unknown attribute. */
export const UNKNOWN_VALUE = '(unknown)';

/**
 * The value of one dimension for an endpoint (`(unknown)` when missing).
 * OS release is `ID VERSION_ID` (e.g. `debian 12`); site is the `location`
 * label (or `site`); tier is `tier N`.
 * @public
 */
export function dimensionValue(
  endpoint: PlanEndpoint,
  dimension: PilotDimension,
): string {
  const labels = endpoint.labels ?? {};
  let value: string | undefined;
  switch (dimension) {
    case 'osRelease': {
      const id = endpoint.osName ?? endpoint.osFamily;
      value = id
        ? [id, endpoint.osVersion].filter(Boolean).join(' ')
        : undefined;
      break;
    }
    case 'site':
      value = labels.location ?? labels.site;
      break;
    case 'deviceType':
      value = labels.deviceType ?? labels['device-type'];
      break;
    case 'department':
      value = labels.department;
      break;
    case 'owner':
      value = endpoint.ownerRef;
      break;
    case 'tier':
      value = endpoint.tier !== undefined ? `tier ${endpoint.tier}` : undefined;
      break;
    default:
      value = undefined;
  }
  return value || UNKNOWN_VALUE;
}

/**
 * One value of a dimension: its endpoints in the pilot and in the fleet.
 * @public
 */
export interface ShareRow {
  value: string;
  pilot: number;
  /** Of the pilot, 0 to 1. */
  pilotShare: number;
  fleet: number;
  /** Of the fleet, 0 to 1. */
  fleetShare: number;
}

/**
 * A combination the broad ring holds and the pilot misses.
 * @public
 */
export interface MissingCombination {
  dimensions: [PilotDimension, PilotDimension];
  values: [string, string];
  /** Endpoints of the broad ring with it. */
  endpoints: number;
}

/**
 * How representative a pilot is.
 * @public
 */
export interface PilotRepresentation {
  dimensions: Array<{ dimension: PilotDimension; rows: ShareRow[] }>;
  /** Largest first, then in the order of {@link PILOT_COMBINATIONS}. */
  missing: MissingCombination[];
}

/**
 * Measures a pilot (`pilotIds`, a subset of `fleet`) against the fleet.
 * Pure and deterministic.
 * @public
 */
export function pilotRepresentation(
  fleet: readonly PlanEndpoint[],
  pilotIds: readonly string[],
): PilotRepresentation {
  const inPilot = new Set(pilotIds);
  const pilot = fleet.filter(e => inPilot.has(e.id));
  const broad = fleet.filter(e => !inPilot.has(e.id));
  const dimensions = PILOT_DIMENSIONS.map(dimension => {
    const fleetCounts = countBy(fleet, e => dimensionValue(e, dimension));
    const pilotCounts = countBy(pilot, e => dimensionValue(e, dimension));
    const rows: ShareRow[] = [...fleetCounts.entries()]
      .map(([value, n]) => ({
        value,
        pilot: pilotCounts.get(value) ?? 0,
        pilotShare: pilot.length
          ? (pilotCounts.get(value) ?? 0) / pilot.length
          : 0,
        fleet: n,
        fleetShare: fleet.length ? n / fleet.length : 0,
      }))
      .sort(
        (a, b) => b.fleet - a.fleet || a.value.localeCompare(b.value, 'en-US'),
      );
    return { dimension, rows };
  });
  const missing: MissingCombination[] = [];
  for (const [a, b] of PILOT_COMBINATIONS) {
    const key = (e: PlanEndpoint) =>
      `${dimensionValue(e, a)}\u0000${dimensionValue(e, b)}`;
    const covered = new Set(pilot.map(key));
    for (const [combo, n] of countBy(broad, key)) {
      if (covered.has(combo)) continue;
      const [va, vb] = combo.split('\u0000');
      missing.push({ dimensions: [a, b], values: [va, vb], endpoints: n });
    }
  }
  // Stable: equal counts keep the order of PILOT_COMBINATIONS.
  missing.sort((x, y) => y.endpoints - x.endpoints);
  return { dimensions, missing };
}

function countBy<T>(items: readonly T[], key: (item: T) => string) {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}

const DIMENSION_NAMES: Record<PilotDimension, string> = {
  osRelease: 'OS release',
  site: 'site',
  deviceType: 'device type',
  department: 'department',
  owner: 'owning team',
  tier: 'tier',
};

/**
 * The combinations a pilot misses, in words: the first `named` one by one,
 * then how many more.
 * @public
 */
export function missingWarnings(
  missing: readonly MissingCombination[],
  named = 10,
): string[] {
  const out = missing
    .slice(0, named)
    .map(
      m =>
        `The pilot has no endpoint with ${DIMENSION_NAMES[m.dimensions[0]]} ${
          m.values[0]
        } and ${DIMENSION_NAMES[m.dimensions[1]]} ${
          m.values[1]
        }; the broad ring has ${m.endpoints}.`,
    );
  if (missing.length > named) {
    out.push(
      `… and ${missing.length - named} more combinations the pilot misses.`,
    );
  }
  return out;
}
