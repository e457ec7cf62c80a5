/*
 * A small catalog for the security tests: two teams, endpoints owned by
 * each, one service running on endpoints of both, two hand-written patches
 * (one critical with a security stage, one medium) and one rollout policy.
 * Inventory goes through the agent API, as an agent would send it.
 */
import { Entity } from '@backstage/catalog-model';
import request from 'supertest';
import {
  as,
  enrollAgent,
  Harness,
  uploadInventory,
} from '../../approvals/__testUtils__/harness';
import { OPS, SAM, SECURITY } from '../../approvals/__testUtils__/people';

export {
  ALICE,
  BOB,
  CAROL,
  OPS,
  SAM,
  SECURITY,
  TEAM_A,
  TEAM_B,
  users,
} from '../../approvals/__testUtils__/people';

function patch(name: string, severity: string, pkg: string, fixed: string) {
  return {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'Patch',
    metadata: { name },
    spec: {
      type: 'security',
      severity,
      published: new Date(Date.now() - 86400000).toISOString(),
      owner: 'group:default/security',
      targets: [
        {
          ecosystem: 'rpm',
          release: 'almalinux:9',
          package: pkg,
          fixedVersion: fixed,
        },
      ],
    },
  } as Entity;
}

/** A critical patch: owners, then the security stage. */
export const CRITICAL_REF = 'patch:default/sec-openssl';
/** A medium patch: owners only. */
export const MEDIUM_REF = 'patch:default/sec-cups';

/** A rollout policy with one ring, a security stage for critical patches. */
export function policy(name = 'standard'): Entity {
  return {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'RolloutPolicy',
    metadata: { name },
    spec: {
      owner: 'group:default/it-operations',
      rings: [
        {
          name: 'all',
          soakMinutes: 0,
          successThreshold: 0.9,
          failureLimit: 0.1,
          promotion: 'auto',
        },
      ],
      approval: {
        autoApprove: [{ severity: ['low'] }],
        stages: [
          {
            name: 'security',
            group: SECURITY,
            when: { severity: ['critical'] },
          },
        ],
      },
    },
  };
}

function endpoint(name: string, owner: string): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Resource',
    metadata: { name },
    spec: { type: 'endpoint', owner },
  };
}

/** Endpoint names: ep-1..ep-3 of team A, ep-4 of team B, ep-5 of team A (enrolled late). */
export const entities: Entity[] = [
  endpoint('ep-1', 'team-a'),
  endpoint('ep-2', 'team-a'),
  endpoint('ep-3', 'team-a'),
  endpoint('ep-4', 'team-b'),
  endpoint('ep-5', 'team-a'),
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'User',
    metadata: { name: 'dana' },
    spec: { memberOf: ['team-a'] },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Group',
    metadata: { name: 'risk-board' },
    spec: { type: 'team', children: [] },
  },
  patch('sec-openssl', 'critical', 'openssl', '1:3.2.2-7.el9'),
  patch('sec-cups', 'medium', 'cups', '1:2.3.3op2-39.el9'),
  policy(),
];

/** Packages older than both fixes. */
export const oldPackages = [
  { ecosystem: 'rpm', name: 'openssl', version: '1:3.0.7-27.el9' },
  { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-33.el9' },
];

/** Enrolls endpoints by name and uploads old inventories; returns name → agent. */
export async function enroll(
  h: Harness,
  names: string[],
): Promise<Map<string, { agentId: string; auth: string }>> {
  const agents = new Map<string, { agentId: string; auth: string }>();
  for (const name of names) {
    const agent = await enrollAgent(h, OPS, name);
    agents.set(name, agent);
    await uploadInventory(h, agent.auth, oldPackages);
  }
  await h.runTask('patch-approvals-sync');
  return agents;
}

/** The approval requests of a patch, read as operations. */
export async function requestsOf(h: Harness, patchRef: string) {
  const res = await request(h.server)
    .get(`/api/patch/approvals?patchRef=${encodeURIComponent(patchRef)}`)
    .set('Authorization', as(SAM));
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
  return res.body.items as any[];
}

/** Posts a decision with the states given as seen. */
export function decide(
  h: Harness,
  user: string,
  ids: string[],
  action: string,
  expectedStates: Record<string, string>,
  comment = 'security test',
) {
  return request(h.server)
    .post('/api/patch/approvals/decide')
    .set('Authorization', as(user))
    .send({ ids, action, comment, expectedStates });
}
