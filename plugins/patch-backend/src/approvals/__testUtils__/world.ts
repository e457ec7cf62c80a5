/*
 * The world of the approvals tests (approvals.test.ts, approvalRules.test.ts):
 * two teams, three components, five endpoints (one shared by two teams),
 * patches from real AlmaLinux advisories, one rollout policy; and the
 * helpers that read inboxes and post decisions over HTTP.
 */
// Test helpers only, never part of the plugin's runtime.
import { Entity } from '@backstage/catalog-model';
import {
  PatchEntity,
  patchEntitiesFromOsv,
} from '@patchbay/plugin-patch-common';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { ApprovalStore } from '../ApprovalStore';
import { as, enrollAgent, Harness, uploadInventory } from './harness';

import { OPS, SECURITY } from './people';

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
} from './people';

export function advisory(file: string): PatchEntity {
  const json = JSON.parse(
    fs.readFileSync(path.join(__dirname, '..', '__fixtures__', file), 'utf8'),
  );
  const [patch] = patchEntitiesFromOsv(json);
  return patch;
}

// Real advisories; published dates set near "now" so due dates are in the future.
export const published = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
export const LOW = advisory('ALSA-2026_39317.json'); // libxml2, Low
export const MEDIUM = advisory('ALSA-2026_39316.json'); // cups, Moderate
export const CRITICAL = advisory('ALSA-2026_39319.json'); // git-lfs, Important → critical here
for (const p of [LOW, MEDIUM, CRITICAL]) p.spec.published = published;
CRITICAL.spec.severity = 'critical';

export const ref = (e: Entity) =>
  `${e.kind.toLocaleLowerCase('en-US')}:default/${e.metadata.name}`;
export const LOW_REF = ref(LOW);
export const MEDIUM_REF = ref(MEDIUM);
export const CRITICAL_REF = ref(CRITICAL);

export function endpoint(name: string, owner: string): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Resource',
    metadata: { name },
    spec: { type: 'endpoint', owner },
  };
}

export function component(
  name: string,
  owner: string,
  dependsOn: string[],
  system?: string,
): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner,
      dependsOn,
      ...(system ? { system } : {}),
    },
  };
}

export const entities: Entity[] = [
  endpoint('ep-1', 'team-a'),
  endpoint('ep-2', 'team-a'),
  endpoint('ep-3', 'team-a'), // shared: team-b's api runs here too
  endpoint('ep-4', 'team-b'),
  endpoint('ep-5', 'team-b'),
  component('web', 'team-a', [
    'resource:ep-1',
    'resource:ep-2',
    'resource:ep-3',
  ]),
  component('api', 'team-b', ['resource:ep-3', 'resource:ep-4'], 'payments'),
  component('batch', 'team-b', ['resource:ep-5'], 'payments'),
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'System',
    metadata: { name: 'payments' },
    spec: { owner: 'team-b' },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'RolloutPolicy',
    metadata: { name: 'default' },
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
            when: { severity: ['critical'], knownExploited: true },
          },
        ],
        slaDays: { critical: 7, high: 30, medium: 60, low: 120 },
      },
    },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'User',
    metadata: { name: 'dana' },
    spec: { memberOf: ['team-b'] },
  },
  LOW,
  MEDIUM,
  CRITICAL,
];

// Installed versions below every fixed version: all three patches apply.
export const oldPackages = [
  { ecosystem: 'rpm', name: 'libxml2', version: '2.9.13-9.el9_6' },
  { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-33.el9' },
  { ecosystem: 'rpm', name: 'git-lfs', version: '3.6.1-1.el9' },
  { ecosystem: 'rpm', name: 'bash', version: '5.1.8-9.el9' },
];

export async function inbox(h: Harness, user: string, query = '') {
  const res = await request(h.server)
    .get(`/api/patch/approvals/inbox${query}`)
    .set('Authorization', as(user));
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
  expect(res.status).toBe(200);
  return res.body.items as any[];
}

export async function approvalService(h: Harness) {
  // What rollouts read, over the same database.
  const store = new ApprovalStore(h.knex);
  return {
    approvals: {
      approvedEndpoints: (p: string) => store.approvedEndpoints(p),
      neededEndpoints: (p: string) => store.neededEndpoints(p),
    },
  };
}

/** Enrolls ep-1..ep-5 with the old packages (ep-5 has cups fixed) and syncs. */
export async function fleet(h: Harness) {
  const agents = new Map<string, { agentId: string; auth: string }>();
  for (const name of ['ep-1', 'ep-2', 'ep-3', 'ep-4', 'ep-5']) {
    const agent = await enrollAgent(h, OPS, name);
    agents.set(name, agent);
    await uploadInventory(
      h,
      agent.auth,
      name === 'ep-5'
        ? [
            ...oldPackages.filter(p => p.name !== 'cups'),
            { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-39.el9_8' },
          ]
        : oldPackages,
    );
  }
  await h.runTask('patch-approvals-sync');
  return (name: string) => agents.get(name)!.agentId;
}

/** The catalog above with another approval policy. */
export function withApproval(approval: Record<string, unknown>): Entity[] {
  return entities.map(e =>
    e.kind === 'RolloutPolicy'
      ? { ...e, spec: { ...(e.spec as any), approval } }
      : e,
  );
}

export async function decide(
  h: Harness,
  user: string,
  body: Record<string, any>,
) {
  return request(h.server)
    .post('/api/patch/approvals/decide')
    .set('Authorization', as(user))
    .send(await seen(h, body));
}

/** A decide body with the states the requests are in now (what a decider saw). */
export async function seen(h: Harness, body: Record<string, any>) {
  const rows = await h
    .knex('patch_approval_requests')
    .whereIn('id', body.ids)
    .select('id', 'state');
  return {
    ...body,
    expectedStates: Object.fromEntries(rows.map(r => [r.id, r.state])),
  };
}

export const endpointIds = (r: any) =>
  r.endpoints.map((e: any) => e.endpointId).sort();
