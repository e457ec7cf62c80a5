/*
 * Risk on the server, over HTTP on SQLite and PostgreSQL: the backend
 * computes each request's risk score (patch-common's riskScore) from the
 * patch and the catalog's exposure and tier of the request's endpoints,
 * stores it, and the inbox, the approvals API and the SLA report rank and
 * filter by it. Also
 * the services a request lists: the Components running on its endpoints,
 * whoever owns them (an endpoint owner's request used to list none).
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { riskScore } from '@patchbay/plugin-patch-common';
import request from 'supertest';
import { as } from './__testUtils__/harness';
import { MAX, OPS_GROUP, start } from './__testUtils__/riskWorld';
import {
  CRITICAL,
  inbox,
  MEDIUM,
  MEDIUM_REF,
  OPS,
  TEAM_A,
  TEAM_B,
} from './__testUtils__/world';

jest.setTimeout(180_000);

const mediumOf = (items: any[], groupRef: string) =>
  items.find(r => r.patchRef === MEDIUM_REF && r.groupRef === groupRef);

describe('risk on the server', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'scores from the catalog, ranks and filters the inbox and the API on %p',
    async databaseId => {
      const h = await start(databases, databaseId, { exposure: true });
      const items = await inbox(h, MAX);
      const a = mediumOf(items, TEAM_A);
      const b = mediumOf(items, TEAM_B);

      // Exposure and tier come from the catalog, with the entity they came from.
      expect(a.risk.context).toEqual({
        exposure: 'isolated',
        exposureFrom: 'resource:default/ep-a1',
      });
      expect(b.risk.context).toEqual({
        exposure: 'internet',
        exposureFrom: 'api:default/payments-api',
        tier: 1,
        tierFrom: 'system:default/payments',
      });
      // The one formula (patch-common), applied by the backend.
      expect(b.risk.score).toBe(riskScore(MEDIUM, b.risk.context).score);
      expect(b.risk.factors.find((f: any) => f.name === 'exposure')).toEqual(
        expect.objectContaining({ value: 1 }),
      );
      expect(b.risk.score).toBeGreaterThan(a.risk.score);

      // The inbox ranks by risk, highest first; sort=due by due date.
      const scores = items.map(r => r.risk.score);
      expect(scores).toEqual([...scores].sort((x, y) => y - x));
      expect(items.indexOf(b)).toBeLessThan(items.indexOf(a));
      const byDue = await inbox(h, MAX, '?sort=due');
      const due = byDue.map(r => Date.parse(r.dueAt));
      expect(due).toEqual([...due].sort((x, y) => x - y));

      // Filter by minimum risk, between the two teams' medium requests.
      const threshold = (a.risk.score + b.risk.score) / 2;
      const filtered = await inbox(h, MAX, `?minRisk=${threshold}`);
      expect(filtered.length).toBeGreaterThan(0);
      expect(filtered.every(r => r.risk.score >= threshold)).toBe(true);
      expect(filtered.map(r => r.id)).toContain(b.id);
      expect(filtered.map(r => r.id)).not.toContain(a.id);
      expect(filtered.length).toBe(
        items.filter(r => r.risk.score >= threshold).length,
      );

      // The approvals API: the same ranking and filter, for a patch.
      const api = await request(h.server)
        .get(
          `/api/patch/approvals?patchRef=${encodeURIComponent(
            MEDIUM_REF,
          )}&sort=risk&minRisk=${threshold}`,
        )
        .set('Authorization', as(OPS));
      expect(api.status).toBe(200);
      expect(api.body.items.map((r: any) => r.groupRef)).not.toContain(TEAM_A);
      expect(api.body.items.map((r: any) => r.groupRef)).toContain(TEAM_B);
      const all = await request(h.server)
        .get(
          `/api/patch/approvals?patchRef=${encodeURIComponent(
            MEDIUM_REF,
          )}&sort=risk`,
        )
        .set('Authorization', as(OPS));
      const ranked = all.body.items.map((r: any) => r.risk.score);
      expect(ranked).toEqual([...ranked].sort((x: number, y: number) => y - x));
      const bad = await request(h.server)
        .get('/api/patch/approvals/inbox?minRisk=high')
        .set('Authorization', as(MAX));
      expect(bad.status).toBe(400);

      // The SLA report: each missing patch with its risk (the highest of
      // its requests), ranked and filtered by it.
      const sla = async (query: string) => {
        const res = await request(h.server)
          .get(`/api/patch/reports/sla${query}`)
          .set('Authorization', as(OPS));
        expect(res.status).toBe(200);
        return res.body.patches as any[];
      };
      await h.runTask('patch-reports-recompute');
      const rows = await sla('?sort=risk');
      expect(rows.length).toBe(3);
      for (const row of rows) {
        const scored = await request(h.server)
          .get(
            `/api/patch/approvals?patchRef=${encodeURIComponent(row.patchRef)}`,
          )
          .set('Authorization', as(OPS));
        expect(row.risk).toBe(
          Math.max(...scored.body.items.map((r: any) => r.risk.score)),
        );
      }
      const risks = rows.map(r => r.risk);
      expect(risks).toEqual([...risks].sort((x, y) => y - x));
      const top = await sla(`?minRisk=${risks[0]}`);
      expect(top.map(r => r.patchRef)).toEqual([rows[0].patchRef]);

      // Services: the Components running there, whoever owns them. The
      // endpoint's owner (operations) owns no component, yet api runs there.
      const ops = (await inbox(h, OPS)).find(
        r => r.patchRef === MEDIUM_REF && r.groupRef === OPS_GROUP,
      );
      expect(ops.services).toEqual([
        'component:default/api',
        'component:default/ledger',
      ]);
      expect(a.services).toEqual(['component:default/web']);
      // The critical patch outranks the medium one where it lands alike.
      const critical = items.find(
        r =>
          r.groupRef === TEAM_B && r.patchRef.endsWith(CRITICAL.metadata.name),
      );
      expect(critical.risk.score).toBeGreaterThan(b.risk.score);
    },
  );

  it.each(databases.eachSupportedId())(
    'counts unknown exposure as unknown, not as the annotated one, on %p',
    async databaseId => {
      const h = await start(databases, databaseId, { exposure: false });
      const items = await inbox(h, MAX);
      const b = mediumOf(items, TEAM_B);
      expect(b.risk.context.exposure).toBeUndefined();
      const exposure = b.risk.factors.find((f: any) => f.name === 'exposure');
      expect(exposure).toEqual(
        expect.objectContaining({
          value: 0.5,
          explanation: 'Exposure unknown; counted as internal.',
        }),
      );
    },
  );
});
