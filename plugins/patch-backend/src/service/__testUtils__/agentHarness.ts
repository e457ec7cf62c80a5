/* The agent API's test harness: a backend with the plugin, enrollment, check-ins, jobs. */

import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabaseId,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { Entity } from '@backstage/catalog-model';
import { Knex } from 'knex';
import request from 'supertest';
import { patchPlugin } from '../../plugin';

export const operator = mockCredentials.user.header('user:default/ops');
export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export interface Harness {
  server: any;
  knex: Knex;
}

export async function startBackend(
  databases: TestDatabases,
  databaseId: TestDatabaseId,
  options: {
    patch?: Record<string, unknown>;
    deny?: boolean;
    entities?: Entity[];
  } = {},
): Promise<Harness> {
  const knex = await databases.init(databaseId);
  const { server } = await startTestBackend({
    features: [
      patchPlugin,
      mockServices.database.factory({ knex }),
      catalogServiceMock.factory({ entities: options.entities ?? [] }),
      mockServices.rootConfig.factory({
        data: {
          patch: {
            agent: { authCacheSeconds: 30, ...(options.patch?.agent ?? {}) },
            jobs: {
              reaperIntervalSeconds: 3600,
              ...(options.patch?.jobs ?? {}),
            },
            ...(options.patch?.endpoints
              ? { endpoints: options.patch.endpoints }
              : {}),
          },
        },
      }),
      ...(options.deny
        ? [mockServices.permissions.factory({ result: AuthorizeResult.DENY })]
        : []),
    ],
  });
  return { server, knex };
}

export async function createToken(
  h: Harness,
  body: Record<string, unknown> = {},
): Promise<string> {
  const res = await request(h.server)
    .post('/api/patch/enrollment-tokens')
    .set('Authorization', operator)
    .send({ maxUses: 100, ...body });
  expect(res.status).toBe(201);
  return res.body.token;
}

/** The machine id of each enrolled credential: check-ins send it, as agents do. */
export const machineOf = new Map<string, string>();

export async function enroll(
  h: Harness,
  token: string,
  machineId: string,
  extra: Record<string, unknown> = {},
) {
  const res = await request(h.server)
    .post('/api/patch/agent/v1/enroll')
    .send({ token, machineId, hostname: `${machineId}.example.com`, ...extra });
  if (res.status === 201) {
    machineOf.set(`Agent ${res.body.agentId}.${res.body.secret}`, machineId);
  }
  return res;
}

export async function enrolledAgent(h: Harness, machineId = 'machine-1') {
  const token = await createToken(h);
  const res = await enroll(h, token, machineId, {
    os: { family: 'debian', name: 'Debian', version: '12' },
  });
  expect(res.status).toBe(201);
  return {
    agentId: res.body.agentId as string,
    auth: `Agent ${res.body.agentId}.${res.body.secret}`,
    secret: res.body.secret as string,
    machineId,
  };
}

export function checkIn(
  h: Harness,
  auth: string,
  body: Record<string, unknown> = {},
) {
  const machineId = machineOf.get(auth);
  return request(h.server)
    .post('/api/patch/agent/v1/checkin')
    .set('Authorization', auth)
    .send({
      inventoryHash: 'h0',
      ...(machineId ? { machineId } : {}),
      ...body,
    });
}

export async function createJobs(
  h: Harness,
  endpointIds: string[],
  body: Record<string, unknown> = {},
): Promise<string[]> {
  const res = await request(h.server)
    .post('/api/patch/jobs')
    .set('Authorization', operator)
    .send({
      endpointIds,
      kind: 'install',
      payload: { ecosystem: 'deb', package: 'openssl', version: '3.0.15-1' },
      // Job delivery is the subject here, not approvals: install jobs go
      // through the audited emergency path (the mock policy allows it).
      patchRef: 'patch:default/openssl-test',
      emergency: true,
      reason: 'job delivery test',
      ...body,
    });
  expect(res.status).toBe(201);
  return res.body.jobIds;
}

export function postResult(
  h: Harness,
  auth: string,
  jobId: string,
  body: Record<string, unknown>,
) {
  return request(h.server)
    .post(`/api/patch/agent/v1/jobs/${jobId}/result`)
    .set('Authorization', auth)
    .send(body);
}

export function startJob(
  h: Harness,
  auth: string,
  jobId: string,
  attempt: number,
) {
  return request(h.server)
    .post(`/api/patch/agent/v1/jobs/${jobId}/start`)
    .set('Authorization', auth)
    .send({ attempt });
}

export async function getJob(h: Harness, jobId: string) {
  const res = await request(h.server)
    .get(`/api/patch/jobs/${jobId}`)
    .set('Authorization', operator);
  expect(res.status).toBe(200);
  return res.body;
}
