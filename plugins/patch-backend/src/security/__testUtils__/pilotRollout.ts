/*
 * The health-gated pilot scenario shared by the security tests that need a
 * rollout to run (auth-catalog.test.ts: the health probe; auth-links.test.ts:
 * notification links), with rolloutEnv's HEALTH_GATED_POLICY: a Component
 * naming a health URL and depending on the fleet's endpoint Resources, and
 * the steps that bring the pilot into its soak.
 */
// Test helpers only, never part of the plugin's runtime.
import { Entity } from '@backstage/catalog-model';
import { ANNOTATION_HEALTH_URL } from '../../rollouts/RolloutCatalog';
import { checkInAll } from '../../rollouts/testing/fleet';
import {
  createRollout,
  installClock,
  RolloutEnv,
  startFleet,
} from '../../rollouts/__testUtils__/rolloutEnv';

/** The endpoint Resource ref of fleet member `i`. */
const resourceRef = (prefix: string, i: number) =>
  `resource:default/${prefix}-${i}`;

/**
 * A Component of team-0 with a health URL, depending on the Resources
 * `<prefix>-0` … `<prefix>-<size-1>`. @internal
 */
export function healthComponent(
  name: string,
  url: string,
  prefix: string,
  size: number,
): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name,
      namespace: 'default',
      annotations: { [ANNOTATION_HEALTH_URL]: url },
    },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner: 'group:default/team-0',
      dependsOn: Array.from({ length: size }, (_, i) => resourceRef(prefix, i)),
    },
  };
}

/** Installs the test clock before each test and restores it after. @internal */
export function useClock() {
  let clock: ReturnType<typeof installClock>;
  beforeEach(() => {
    clock = installClock();
  });
  afterEach(() => clock.restore());
}

/**
 * Enrolls `size` agents as the Resources `<prefix>-<i>`, creates the
 * rollout, and runs it into the pilot's soak; returns the rollout id.
 * @internal
 */
export async function runPilotIntoSoak(
  env: RolloutEnv,
  prefix: string,
  size: number,
): Promise<string> {
  const agents = await startFleet(env, size);
  for (const [i, a] of agents.entries()) {
    await env
      .knex('patch_endpoints')
      .where({ id: a.id })
      .update({ entity_ref: resourceRef(prefix, i) });
  }
  const id = await createRollout(env);
  await env.tick();
  await checkInAll(agents);
  await env.tick();
  return id;
}
