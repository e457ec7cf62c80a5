import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  evaluatePatch,
  patchEntitiesFromOsv,
} from '@patchbay/plugin-patch-common';
import { SimulatedProvider } from './simulated';
// The demo scripts are no workspace package; the fleet's plan lives there.
// eslint-disable-next-line @backstage/no-relative-monorepo-imports
import {
  BACKLOG,
  DEMO_ADVISORIES,
  dueAt,
  endpointOptions,
  neededPatches,
  readDemoPatches,
  ROLLOUT_SOURCE,
  siteOf,
  slaDaysOf,
  teamOf,
} from '../../../scripts/demo/spread';

// The demo fleet's starting point (scripts/demo/spread.ts), built as
// scripts/demo/fleet.ts builds it: 500 simulated endpoints, judged with the
// backend's own verdict (evaluatePatch on the catalog's targets of the demo
// advisories). The fleet's expectations must match that verdict, the spread
// must look like a real fleet, and the rolled-out patch must give the demo
// policy's gates (examples/patchbay.yaml) enough endpoints to pass.
const AGENTS = 500;
const FAILURE_RATE = 0.045;
const ROOT = resolve(__dirname, '..', '..', '..');
const patches = readDemoPatches();
const targets = new Map(
  patches.map(p => {
    const file = readFileSync(
      resolve(DEMO_ADVISORIES, `${p.ref.split('/')[1].toUpperCase()}.json`),
      'utf8',
    );
    return [p.ref, patchEntitiesFromOsv(JSON.parse(file))[0].spec.targets];
  }),
);
// The policies' SLA days, as written in examples/patchbay.yaml.
const policies = [
  ...readFileSync(resolve(ROOT, 'examples', 'patchbay.yaml'), 'utf8').matchAll(
    /slaDays:\s*\{([^}]*)\}/g,
  ),
].map(m => ({
  spec: {
    approval: {
      slaDays: Object.fromEntries(
        m[1].split(',').map(kv => {
          const [k, v] = kv.split(':').map(x => x.trim());
          return [k, Number(v)];
        }),
      ),
    },
  },
}));

interface Built {
  i: number;
  owner: string;
  site: string;
  fails: boolean;
  expected: string[];
  verdict: string[];
  /** Patches whose verdict is neither needed, installed nor not-applicable. */
  unsure: string[];
}

async function buildFleet(): Promise<Built[]> {
  const fleet: Built[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const options = endpointOptions(i, AGENTS, patches, FAILURE_RATE);
    const inventory = await new SimulatedProvider(options).inventory();
    const states = patches.map(p => ({
      ref: p.ref,
      state: evaluatePatch(targets.get(p.ref)!, {
        release: 'debian:12',
        packages: inventory,
      }).state,
    }));
    const verdict = states.filter(v => v.state === 'needed').map(v => v.ref);
    const unsure = states
      .filter(v => !['needed', 'installed', 'not-applicable'].includes(v.state))
      .map(v => v.ref);
    fleet.push({
      i,
      owner: teamOf(i, AGENTS).owner,
      site: siteOf(i),
      fails: options.failureRate > 0,
      expected: neededPatches(inventory, options.pendingSources, patches),
      verdict,
      unsure,
    });
  }
  return fleet;
}

describe('the demo fleet', () => {
  let fleet: Built[];
  beforeAll(async () => {
    fleet = await buildFleet();
  });
  const rolloutRef = () => patches.find(p => p.source === ROLLOUT_SOURCE)!.ref;

  it('expects exactly what the backend verdict says, endpoint by endpoint, and nothing unknown', () => {
    expect(patches.length).toBeGreaterThanOrEqual(8);
    for (const e of fleet) {
      expect({ i: e.i, needs: e.verdict }).toEqual({
        i: e.i,
        needs: e.expected,
      });
    }
    expect(fleet.flatMap(e => e.unsure)).toEqual([]);
  });

  it('is mostly up to date, with a backlog of a few patches per team, some overdue', () => {
    const upToDate = fleet.filter(e => e.verdict.length === 0).length;
    expect(upToDate / AGENTS).toBeGreaterThan(0.5);
    // Most endpoints miss at most one patch of the thirteen.
    expect(
      fleet.filter(e => e.verdict.length <= 1).length / AGENTS,
    ).toBeGreaterThan(0.9);

    const sla = slaDaysOf(policies);
    expect(sla).toEqual({ critical: 3, high: 14, medium: 30, low: 90 });
    // Overdue as the reports judge it, on the day these dates were chosen for.
    const now = Date.parse('2026-12-03T07:00:00Z');
    for (const [owner, backlog] of Object.entries(BACKLOG)) {
      const team = fleet.filter(e => e.owner === owner);
      const backlogRefs = patches
        .filter(p => Object.keys(backlog).includes(p.source))
        .map(p => p.ref);
      const needing = (ref: string) =>
        team.filter(e => e.verdict.includes(ref)).length;
      // A few patches each, on a share of the team's endpoints.
      for (const ref of backlogRefs) {
        expect({ ref, n: needing(ref) > 1 }).toEqual({ ref, n: true });
        expect(needing(ref)).toBeLessThan(team.length * 0.2);
      }
      const waiting = patches.filter(p => backlogRefs.includes(p.ref));
      // Something for the team's inbox (high or critical, not auto-approved)...
      expect(waiting.some(p => ['critical', 'high'].includes(p.severity))).toBe(
        true,
      );
      // ...and something past its SLA.
      expect(waiting.some(p => dueAt(p, sla).getTime() < now)).toBe(true);
    }
  });

  it('gives the rolled-out patch enough endpoints for every ring, and its failures only to the broad ring', () => {
    const ref = rolloutRef();
    const needing = fleet.filter(e => e.verdict.includes(ref));
    const at = (site: string) => needing.filter(e => e.site === site).length;
    // Pilot: 25 % of the Berlin endpoints that need it (at most 20); its
    // gate passes 0 failures of 9. Expected 25 % of 75: about 18.
    expect(at('berlin')).toBeGreaterThanOrEqual(70);
    // Early ring (Dublin): 0 failures pass its 15 % limit from 22 results.
    expect(at('dublin')).toBeGreaterThanOrEqual(25);
    // A minority of the fleet: most endpoints do not need it.
    expect(needing.length).toBeLessThan(AGENTS * 0.4);

    const failing = fleet.filter(e => e.fails);
    expect(failing.length).toBe(3);
    for (const e of failing) {
      expect(['virginia', 'singapore']).toContain(e.site);
      expect(e.verdict).toContain(ref);
    }
  });
});
