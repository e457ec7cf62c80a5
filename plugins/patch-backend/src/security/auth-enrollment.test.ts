/*
 * Findings "any enrollment token takes over any endpoint" and "clone
 * detection is dead", over real HTTP on SQLite and PostgreSQL.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { AGENT_AUTH_FAILURE_BODY } from '../agent/AgentAuth';
import {
  checkIn,
  createToken,
  enroll,
  enrolledAgent,
  operator,
  SecurityHarness,
  startSecurityBackend,
} from './__testUtils__/authHarness';

jest.setTimeout(120_000);

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function endpointRow(h: SecurityHarness, id: string) {
  return h.knex('patch_endpoints').where({ id }).first();
}

describe('enrollment cannot be hijacked', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });

  it.each(databases.eachSupportedId())(
    'another token cannot take over an enrolled machine id; proof of credentials or a one-time grant can, on %p',
    async databaseId => {
      const h = await startSecurityBackend(databases, databaseId, {
        patch: { agent: { reenrollGrantSeconds: 2 } },
      });
      const victim = await enrolledAgent(h, 'machine-victim', {
        ownerRef: 'group:default/team-payments',
        systemRef: 'system:default/payments',
        labels: { location: 'berlin' },
      });
      const before = await endpointRow(h, victim.agentId);

      // An attacker with a token of another team and the public machine id.
      const attackerToken = await createToken(h, {
        ownerRef: 'group:default/team-attacker',
        labels: { location: 'nowhere' },
      });
      const hijack = await enroll(h, attackerToken, 'machine-victim', {
        hostname: 'evil',
        labels: { location: 'nowhere' },
      });
      expect(hijack.status).toBe(401);
      expect(hijack.body).toEqual(AGENT_AUTH_FAILURE_BODY);
      // Wrong proof: refused too.
      const wrongProof = await enroll(h, attackerToken, 'machine-victim', {
        credentials: { agentId: victim.agentId, secret: 'x'.repeat(43) },
      });
      expect(wrongProof.status).toBe(401);
      // The endpoint is untouched and the real agent keeps working.
      expect(await endpointRow(h, victim.agentId)).toEqual(before);
      await checkIn(h, victim.auth, { machineId: victim.machineId }).expect(
        200,
      );

      // The machine itself, with proof of its credentials: same endpoint,
      // rotated secret; owner and labels from the (new) token.
      const own = await enroll(h, await createToken(h), 'machine-victim', {
        credentials: { agentId: victim.agentId, secret: victim.secret },
      });
      expect(own.status).toBe(201);
      expect(own.body.agentId).toBe(victim.agentId);
      await checkIn(h, victim.auth, { machineId: victim.machineId }).expect(
        401,
      );
      const current = { agentId: own.body.agentId, secret: own.body.secret };

      // A revoked endpoint does not come back with proof of credentials...
      await request(h.server)
        .post(`/api/patch/endpoints/${victim.agentId}/revoke`)
        .set('Authorization', operator)
        .expect(200);
      const revokedProof = await enroll(
        h,
        await createToken(h),
        'machine-victim',
        { credentials: current },
      );
      expect(revokedProof.status).toBe(401);
      expect((await endpointRow(h, victim.agentId)).revoked_at).toBeTruthy();

      // ...only through an operator's grant: one use, audited.
      const grant = await request(h.server)
        .post(`/api/patch/endpoints/${victim.agentId}/reenroll`)
        .set('Authorization', operator);
      expect(grant.status).toBe(200);
      expect(grant.body).toMatchObject({
        endpointId: victim.agentId,
        machineId: 'machine-victim',
        grantedBy: 'user:default/ops',
      });
      const back = await enroll(h, await createToken(h), 'machine-victim');
      expect(back.status).toBe(201);
      expect(back.body.agentId).toBe(victim.agentId);
      const again = await enroll(h, await createToken(h), 'machine-victim');
      expect(again.status).toBe(401);

      // A grant expires.
      await request(h.server)
        .post(`/api/patch/endpoints/${victim.agentId}/reenroll`)
        .set('Authorization', operator)
        .expect(200);
      await sleep(2100);
      expect(
        (await enroll(h, await createToken(h), 'machine-victim')).status,
      ).toBe(401);

      const audit = await h
        .knex('patch_audit_events')
        .whereIn('action', ['agent-reenroll-grant', 'agent-reenroll'])
        .orderBy('id')
        .select('action', 'actor', 'details');
      expect(audit.map(a => a.action)).toEqual([
        'agent-reenroll',
        'agent-reenroll-grant',
        'agent-reenroll',
        'agent-reenroll-grant',
      ]);
      expect(audit[0].details).toContain('"via":"credentials"');
      expect(audit[2].details).toContain('"via":"grant"');
      expect(await h.knex('patch_endpoints')).toHaveLength(1);
    },
  );

  it.each(databases.eachSupportedId())(
    'the grant route is the enrollment permission, on %p',
    async databaseId => {
      const h = await startSecurityBackend(databases, databaseId, {
        deny: true,
      });
      const res = await request(h.server)
        .post('/api/patch/endpoints/any/reenroll')
        .set('Authorization', operator);
      expect(res.status).toBe(403);
    },
  );

  it.each(databases.eachSupportedId())(
    "owner, system and ownership labels come from the token; the agent's labels only add, on %p",
    async databaseId => {
      const h = await startSecurityBackend(databases, databaseId, {
        patch: {
          endpoints: {
            protectedLabels: ['ring'],
            rules: [
              {
                labels: { department: 'finance' },
                owner: 'group:default/finance',
                system: 'system:default/erp',
              },
            ],
          },
        },
      });
      const token = await createToken(h, {
        ownerRef: 'group:default/team-payments',
        systemRef: 'system:default/payments',
        labels: { location: 'berlin' },
      });
      const res = await enroll(h, token, 'machine-labels', {
        labels: {
          // Would match the finance rule, override the token, join a ring.
          department: 'finance',
          location: 'dublin',
          ring: 'pilot',
          // Would make another team's Component run here (always protected).
          components: 'checkout-api',
          // Harmless: added.
          rack: 'r12',
        },
      });
      expect(res.status).toBe(201);
      const row = await endpointRow(h, res.body.agentId);
      expect(row.owner_ref).toBe('group:default/team-payments');
      expect(row.system_ref).toBe('system:default/payments');
      expect(JSON.parse(row.labels)).toEqual({
        location: 'berlin',
        rack: 'r12',
      });
      expect(row.location).toBe('berlin');
      expect(row.department).toBeNull();

      // The rule applies when the token says so.
      const finance = await createToken(h, {
        labels: { department: 'finance' },
      });
      const ok = await enroll(h, finance, 'machine-finance');
      const financeRow = await endpointRow(h, ok.body.agentId);
      expect(financeRow.owner_ref).toBe('group:default/finance');
    },
  );
});

describe('clone detection', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });

  it.each(databases.eachSupportedId())(
    'a check-in without a machine id is refused (401) and audited as a possible clone, on %p',
    async databaseId => {
      const h = await startSecurityBackend(databases, databaseId);
      const agent = await enrolledAgent(h, 'machine-clone');
      const before = await endpointRow(h, agent.agentId);

      const missing = await checkIn(h, agent.auth);
      expect(missing.status).toBe(401);
      expect(missing.body).toEqual(AGENT_AUTH_FAILURE_BODY);
      const other = await checkIn(h, agent.auth, { machineId: 'elsewhere' });
      expect(other.status).toBe(401);
      // No heartbeat was recorded for either.
      expect((await endpointRow(h, agent.agentId)).last_seen_at).toEqual(
        before.last_seen_at,
      );
      const flagged = await h
        .knex('patch_audit_events')
        .where({ action: 'agent-clone-suspected' })
        .orderBy('id')
        .select('target_id', 'message');
      expect(flagged).toEqual([
        {
          target_id: agent.agentId,
          message: expect.stringMatching(/without a machine id/),
        },
        {
          target_id: agent.agentId,
          message: expect.stringMatching(/another machine \(elsewhere\)/),
        },
      ]);
      await checkIn(h, agent.auth, { machineId: agent.machineId }).expect(200);
    },
  );
});
