/*
 * The fleet benchmark at CI size (bench/fleet): a few hundred simulated
 * agents with real-sized inventories over real HTTP against a backend
 * process on PostgreSQL, from enrollment to a verified three-ring rollout.
 * It asserts behaviour, not timing: no result lost, none duplicated, every
 * endpoint that needs the patch verified. PostgreSQL only (the benchmark's
 * database; skipped without BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING).
 * FLEET_TEST_AGENTS sets the size (default 300: on the shared 2-core machine
 * each real-sized inventory upload takes a good part of a second).
 */
import { lastLine, runFleet } from '../bench/fleet/run';

jest.setTimeout(900_000);

const pgUrl = process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
const AGENTS = Number(process.env.FLEET_TEST_AGENTS ?? 300);

// Opt-in (PATCHBAY_FLEET_TEST=1): alone it passes in about two minutes, but
// inside the whole parallel suite on this 2-core machine its rollout stalled
// in the pilot ring in one CI run (0.4 % verified after 600 s): not yet a
// behaviour test the suite can rely on; see issue 17.
(pgUrl && process.env.PATCHBAY_FLEET_TEST === '1' ? describe : describe.skip)(
  'fleet benchmark, CI size',
  () => {
    it('enrolls, inventories and rolls out to every needing endpoint, verified, with nothing lost or duplicated', async () => {
      const result = await runFleet({
        agents: AGENTS,
        // A 60 s check-in every 3 s.
        daySeconds: 4320,
        pgUrl: pgUrl!,
        steadySeconds: 6,
        rolloutTimeoutSeconds: 600,
        // 1 % of 270 needing endpoints is a pilot of 3 (0 of 3 has a Wilson
        // upper bound of 56 %), 10 % of the rest a wave of 27 (12 %). Each
        // ring's gate waits for the fewest results that can pass its limit
        // (bench/fleet/run.ts, minSampleFor): 2, then 9.
        failureLimits: [0.7, 0.3, 0.3],
      });
      // eslint-disable-next-line no-console
      console.log(lastLine(result));
      expect(result.notes).toEqual([]);
      expect(result.needing).toBeGreaterThan(0);
      expect(result.lost).toBe(0);
      expect(result.duplicated).toBe(0);
      expect(result.verifiedPct).toBe(100);
    });
  },
);
