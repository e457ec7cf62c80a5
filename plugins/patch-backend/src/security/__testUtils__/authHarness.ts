/*
 * A test backend for the security tests (auth-*.test.ts): the patch plugin
 * over real HTTP on a TestDatabases database, with a catalog whose calls are
 * counted and the SQL statements the plugin runs recorded.
 */
// Test helpers only, never part of the plugin's runtime.
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabaseId,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { createServiceFactory } from '@backstage/backend-plugin-api';
import { Entity } from '@backstage/catalog-model';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { Knex } from 'knex';
import request from 'supertest';
import { patchPlugin } from '../../plugin';

/** An operator's (allowed) portal credential. @internal */
export const operator = mockCredentials.user.header('user:default/ops');

/** A started backend. @internal */
export interface SecurityHarness {
  server: any;
  knex: Knex;
  /** Calls the plugin made to the catalog, by method. */
  catalogCalls: string[];
  /** SQL statements the plugin ran since the last `resetQueries()`. */
  queries: string[];
  resetQueries(): void;
}

/** Starts the patch plugin with the given `patch` config. @internal */
export async function startSecurityBackend(
  databases: TestDatabases,
  databaseId: TestDatabaseId,
  options: {
    patch?: Record<string, unknown>;
    entities?: Entity[];
    deny?: boolean;
  } = {},
): Promise<SecurityHarness> {
  const knex = await databases.init(databaseId);
  const catalogCalls: string[] = [];
  const catalog = catalogServiceMock({ entities: options.entities ?? [] });
  const counted = new Proxy(catalog, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        catalogCalls.push(String(prop));
        return value.apply(target, args);
      };
    },
  });
  const { server } = await startTestBackend({
    features: [
      patchPlugin,
      mockServices.database.factory({ knex }),
      createServiceFactory({
        service: catalogServiceRef,
        deps: {},
        factory: () => counted,
      }),
      mockServices.rootConfig.factory({
        data: {
          patch: {
            jobs: { reaperIntervalSeconds: 3600 },
            ...options.patch,
          },
        },
      }),
      ...(options.deny
        ? [mockServices.permissions.factory({ result: AuthorizeResult.DENY })]
        : []),
    ],
  });
  const harness: SecurityHarness = {
    server,
    knex,
    catalogCalls,
    queries: [],
    resetQueries: () => {
      harness.queries.length = 0;
    },
  };
  knex.on('query', (q: { sql: string }) => harness.queries.push(q.sql));
  return harness;
}

/** Creates an enrollment token as the operator. @internal */
export async function createToken(
  h: SecurityHarness,
  body: Record<string, unknown> = {},
): Promise<string> {
  const res = await request(h.server)
    .post('/api/patch/enrollment-tokens')
    .set('Authorization', operator)
    .send({ maxUses: 100, ...body });
  if (res.status !== 201) throw new Error(`token: ${res.status}`);
  return res.body.token;
}

/** POST /agent/v1/enroll. @internal */
export function enroll(
  h: SecurityHarness,
  token: string,
  machineId: string,
  extra: Record<string, unknown> = {},
) {
  return request(h.server)
    .post('/api/patch/agent/v1/enroll')
    .send({ token, machineId, hostname: `${machineId}.example.com`, ...extra });
}

/** POST /agent/v1/checkin. @internal */
export function checkIn(
  h: SecurityHarness,
  auth: string,
  body: Record<string, unknown> = {},
) {
  return request(h.server)
    .post('/api/patch/agent/v1/checkin')
    .set('Authorization', auth)
    .send({ inventoryHash: 'h0', ...body });
}

/** An enrolled agent: its id, secret, Authorization header and machine id. @internal */
export async function enrolledAgent(
  h: SecurityHarness,
  machineId: string,
  tokenBody: Record<string, unknown> = {},
) {
  const res = await enroll(h, await createToken(h, tokenBody), machineId);
  if (res.status !== 201) throw new Error(`enroll: ${res.status}`);
  return {
    agentId: res.body.agentId as string,
    secret: res.body.secret as string,
    auth: `Agent ${res.body.agentId}.${res.body.secret}`,
    machineId,
  };
}
