/*
 * History in the blast radius, over HTTP on SQLite and PostgreSQL: a rollout
 * whose pilot (the endpoints of system-0) fails pauses on a gate breach and
 * raises an ITSM incident; the approval requests of system-0's team then
 * show the incident, the failed jobs and the paused rollout, with links,
 * while those of system-1 (never in a wave) show none of it.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { PatchItsmIncident } from '../itsm';
import { checkInAll } from '../rollouts/testing/fleet';
import {
  createRollout,
  drive,
  PATCH,
  startFleet,
  startRolloutEnv,
} from '../rollouts/__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const SYSTEM_0 = 'system:default/system-0';

/** Pilot: system-0's endpoints; then everyone. A breach pauses in the pilot. */
const policySpec = {
  rings: [
    {
      name: 'pilot',
      pilotGroup: 'pilotgroup:default/system-0',
      soakMinutes: 0,
      minSample: 2,
      successThreshold: 0.5,
      failureLimit: 0.1,
      promotion: 'auto',
    },
    {
      name: 'broad',
      soakMinutes: 0,
      minSample: 2,
      successThreshold: 0.5,
      failureLimit: 0.1,
      promotion: 'auto',
    },
  ],
};

describe('history in the blast radius', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'shows past incidents, failed jobs and paused rollouts of the systems touched on %p',
    async databaseId => {
      const incidents: PatchItsmIncident[] = [];
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec,
        entities: [
          {
            apiVersion: 'patchbay.dev/v1alpha1',
            kind: 'PilotGroup',
            metadata: { name: 'system-0', namespace: 'default' },
            spec: {
              owner: 'group:default/ops',
              selector: { systems: [SYSTEM_0] },
            },
          },
        ],
        connectors: [
          {
            name: 'recorder',
            async openIncident(incident) {
              incidents.push(incident);
              return { reference: `INC-${incidents.length}` };
            },
          },
        ],
      });
      // 8 endpoints over two systems (even: system-0); system-0's all fail.
      const agents = await startFleet(env, 8, 2);
      agents.forEach((a, i) => {
        if (i % 2 === 0) a.failureRate = 1;
      });
      const id = await createRollout(env);
      const paused = await drive(env, agents, id, ['paused', 'completed']);
      expect(paused.state).toBe('paused');
      // The outbox delivers the incident on the next driver tick.
      await env.tick();
      await checkInAll(agents);

      const requests = (
        await env.get(`/approvals?patchRef=${encodeURIComponent(PATCH)}`)
      ).body.items as any[];
      const bySystem = (s: string) =>
        requests.find(r => r.endpoints.every((e: any) => e.systemRef === s));
      const touched = (await env.get(`/approvals/${bySystem(SYSTEM_0).id}`))
        .body;
      const spared = (
        await env.get(`/approvals/${bySystem('system:default/system-1').id}`)
      ).body;

      const h = touched.history;
      expect(h.systems).toEqual([SYSTEM_0]);
      // The paused rollout, its gate breached.
      expect(h.rollouts.total).toBe(1);
      expect(h.rollouts.items[0]).toMatchObject({
        rolloutId: id,
        patchRef: PATCH,
        state: 'paused',
        breached: true,
      });
      // The incident, with the ticket the connector opened.
      expect(h.incidents.total).toBe(1);
      expect(h.incidents.items[0]).toMatchObject({
        rolloutId: id,
        kind: 'gate-breach',
        patchRef: PATCH,
      });
      expect(h.incidents.items[0].incidentId).toBe(incidents[0].incidentId);
      expect(h.incidents.items[0].deliveries).toEqual([
        { connector: 'recorder', state: 'delivered', reference: 'INC-1' },
      ]);
      // Every failed install on system-0's endpoints, and nothing else.
      const failed = await env
        .knex('patch_jobs as j')
        .join('patch_endpoints as e', 'e.id', 'j.endpoint_id')
        .where({ 'e.system_ref': SYSTEM_0, 'j.state': 'failed' })
        .select('j.id');
      expect(failed.length).toBeGreaterThan(0);
      expect(h.jobs.total).toBe(failed.length);
      expect(h.jobs.items.map((j: any) => j.jobId).sort()).toEqual(
        failed.map(j => j.id).sort(),
      );
      expect(
        h.jobs.items.every(
          (j: any) =>
            j.state === 'failed' &&
            j.kind === 'install' &&
            j.systemRef === SYSTEM_0 &&
            j.rolloutId === id,
        ),
      ).toBe(true);

      // System-1 was never in a wave: no history.
      expect(spared.history).toMatchObject({
        incidents: { total: 0 },
        jobs: { total: 0 },
        rollouts: { total: 0 },
      });
      await env.stop();
    },
  );
});
