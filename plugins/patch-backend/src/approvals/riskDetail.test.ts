/*
 * "What the patch fixes, at a glance", over HTTP on SQLite and PostgreSQL:
 * GET /approvals/{id} answers the advisory (summary, CVEs, CVSS, KEV, EPSS),
 * each endpoint's packages installed → fixed (evaluatePatch on the uploaded
 * inventory) and the services that really run there with their Systems,
 * whoever owns them; only to a reader of the request.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { as } from './__testUtils__/harness';
import { MAX, OPS_GROUP, start } from './__testUtils__/riskWorld';
import {
  CAROL,
  inbox,
  MEDIUM,
  MEDIUM_REF,
  OPS,
  TEAM_B,
} from './__testUtils__/world';

jest.setTimeout(180_000);

describe('a request opened', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'shows what it fixes, where, and the services there on %p',
    async databaseId => {
      const h = await start(databases, databaseId, { exposure: true });
      const b = (await inbox(h, MAX)).find(
        r => r.patchRef === MEDIUM_REF && r.groupRef === TEAM_B,
      );
      const res = await request(h.server)
        .get(`/api/patch/approvals/${b.id}`)
        .set('Authorization', as(MAX));
      expect(res.status).toBe(200);
      const d = res.body;

      // The advisory, from the Patch entity.
      expect(d.advisory).toMatchObject({
        title: MEDIUM.metadata.title,
        severity: 'medium',
        cves: MEDIUM.spec.cves,
        knownExploited: false,
      });
      expect(d.advisory.summary).toContain('CUPS');
      expect(d.advisory.cvss).toEqual(MEDIUM.spec.cvss);

      // The package on the endpoint: installed → fixed, needed.
      const cups = MEDIUM.spec.targets.find(t => t.package === 'cups')!;
      expect(d.fixes.total).toBe(1);
      expect(d.fixes.items).toEqual([
        expect.objectContaining({
          hostname: 'ep-b1',
          endpointRef: 'resource:default/ep-b1',
          state: 'needed',
          packages: [
            expect.objectContaining({
              name: 'cups',
              installedVersion: '1:2.3.3op2-33.el9',
              fixedVersion: cups.fixedVersion,
              state: 'needed',
            }),
          ],
        }),
      ]);

      // The services that run there, with their System and owner.
      expect(d.runningServices).toEqual([
        {
          ref: 'component:default/api',
          systemRef: 'system:default/payments',
          ownerRef: 'group:default/team-b',
          endpoints: 1,
        },
        {
          ref: 'component:default/ledger',
          systemRef: 'system:default/payments',
          ownerRef: 'group:default/team-b',
          endpoints: 1,
        },
      ]);
      // The endpoint owner (operations) owns no Component there, yet the
      // service running there is shown (it used to say "no services").
      const ops = (await inbox(h, OPS)).find(
        r => r.patchRef === MEDIUM_REF && r.groupRef === OPS_GROUP,
      );
      const opsDetail = await request(h.server)
        .get(`/api/patch/approvals/${ops.id}`)
        .set('Authorization', as(OPS));
      expect(opsDetail.status).toBe(200);
      expect(opsDetail.body.runningServices.map((s: any) => s.ref)).toEqual([
        'component:default/api',
        'component:default/ledger',
      ]);
      // No history yet on these systems.
      expect(d.history).toEqual({
        systems: ['system:default/payments'],
        incidents: { items: [], total: 0 },
        jobs: { items: [], total: 0 },
        rollouts: { items: [], total: 0 },
      });

      // Someone who may not read the request learns nothing about it.
      const other = await request(h.server)
        .get(`/api/patch/approvals/${b.id}`)
        .set('Authorization', as(CAROL));
      expect(other.status).toBe(404);
      expect(other.body.advisory).toBeUndefined();
    },
  );
});
