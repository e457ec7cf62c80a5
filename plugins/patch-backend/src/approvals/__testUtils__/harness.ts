/*
 * Test harness of the approvals area: the real plugin on a real database
 * behind real HTTP, with the catalog, the user directory, notifications and
 * the scheduler as test doubles, and Patchbay's own permission policy
 * answering the permission checks in process (the permission backend's
 * HTTP hop is Backstage's, not the subject here).
 */
import {
  BackstageCredentials,
  coreServices,
  createServiceFactory,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabaseId,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  AuthorizeResult,
  isResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  NotificationSendOptions,
  notificationService,
} from '@backstage/plugin-notifications-node';
import { Knex } from 'knex';
import request from 'supertest';
import { patchPlugin } from '../../plugin';
import { PatchbayPermissionPolicy } from '../../permissions/policy';

/** A started backend and its handles. */
export interface Harness {
  server: any;
  knex: Knex;
  notifications: NotificationSendOptions[];
  /** Runs a scheduled task of the plugin now, by id. */
  runTask(id: string): Promise<void>;
}

/** The Authorization header of a mock user. */
export const as = (userRef: string) => mockCredentials.user.header(userRef);

/** Starts the plugin with the given catalog, users (ref → groups) and config. */
export async function startHarness(
  databases: TestDatabases,
  databaseId: TestDatabaseId,
  options: {
    entities: Entity[];
    users: Record<string, string[]>;
    config?: Record<string, unknown>;
    /** Every permission check says DENY, for users and services alike. */
    denyAll?: boolean;
    /** Permission names refused to everyone, whatever the policy says. */
    deny?: string[];
    /** More features (e.g. a test double of another Backstage service). */
    features?: Parameters<typeof startTestBackend>[0]['features'];
  },
): Promise<Harness> {
  const knex = await databases.init(databaseId);
  const notifications: NotificationSendOptions[] = [];
  const tasks = new Map<string, () => Promise<void>>();
  const policy = new PatchbayPermissionPolicy({
    operationsGroup: 'group:default/it-operations',
    securityGroup: 'group:default/security',
  });
  const infoOf = (credentials: BackstageCredentials) => {
    const principal = credentials.principal as {
      type: string;
      userEntityRef?: string;
    };
    if (principal.type !== 'user' || !principal.userEntityRef) return undefined;
    const ref = principal.userEntityRef;
    return {
      userEntityRef: ref,
      ownershipEntityRefs: [ref, ...(options.users[ref] ?? [])],
    };
  };
  const denyAll: PermissionsService = {
    async authorizeConditional(requests) {
      return requests.map(() => ({ result: AuthorizeResult.DENY })) as any;
    },
    async authorize(requests) {
      return requests.map(() => ({ result: AuthorizeResult.DENY })) as any;
    },
  };
  const permissions: PermissionsService = {
    async authorizeConditional(requests, { credentials }) {
      const info = infoOf(credentials);
      return Promise.all(
        requests.map(r =>
          info
            ? policy.handle({ permission: r.permission }, {
                credentials,
                info,
              } as any)
            : Promise.resolve({ result: AuthorizeResult.ALLOW } as any),
        ),
      );
    },
    async authorize(requests, { credentials }) {
      const info = infoOf(credentials);
      return Promise.all(
        requests.map(async r => {
          if (options.deny?.includes(r.permission.name)) {
            return { result: AuthorizeResult.DENY };
          }
          if (!info) return { result: AuthorizeResult.ALLOW };
          const d = await policy.handle({ permission: r.permission }, {
            credentials,
            info,
          } as any);
          // Conditional answers need a resource; the routes ask for those conditionally.
          if (
            d.result === AuthorizeResult.CONDITIONAL ||
            (isResourcePermission(r.permission) &&
              d.result !== AuthorizeResult.ALLOW)
          ) {
            return { result: AuthorizeResult.DENY };
          }
          return { result: d.result };
        }),
      ) as any;
    },
  };
  const { server } = await startTestBackend({
    features: [
      patchPlugin,
      mockServices.database.factory({ knex }),
      catalogServiceMock.factory({ entities: options.entities }),
      mockServices.rootConfig.factory({
        data: {
          patch: {
            operationsGroup: 'group:default/it-operations',
            securityGroup: 'group:default/security',
            ...(options.config ?? {}),
          },
        },
      }),
      createServiceFactory({
        service: coreServices.permissions,
        deps: {},
        factory: () => (options.denyAll ? denyAll : permissions),
      }),
      createServiceFactory({
        service: coreServices.userInfo,
        deps: {},
        factory: () => ({
          async getUserInfo(credentials: BackstageCredentials) {
            const info = infoOf(credentials);
            if (!info) throw new Error('not a user');
            return info;
          },
        }),
      }),
      createServiceFactory({
        service: notificationService,
        deps: {},
        factory: () => ({
          async send(sent: NotificationSendOptions) {
            notifications.push(sent);
          },
        }),
      }),
      mockServices.scheduler.mock({
        async scheduleTask(task: any) {
          tasks.set(task.id, async () => task.fn(new AbortController().signal));
        },
      }).factory,
      ...(options.features ?? []),
    ],
  });
  return {
    server,
    knex,
    notifications,
    async runTask(id: string) {
      const fn = tasks.get(id);
      if (!fn)
        throw new Error(`No task ${id}; have ${[...tasks.keys()].join(', ')}`);
      await fn();
    },
  };
}

/** Enrolls an agent the way the agent does, returning its id and auth header. */
export async function enrollAgent(
  h: Harness,
  operator: string,
  hostname: string,
  os = { family: 'rhel', name: 'AlmaLinux', version: '9.6' },
): Promise<{ agentId: string; auth: string }> {
  const token = await request(h.server)
    .post('/api/patch/enrollment-tokens')
    .set('Authorization', as(operator))
    .send({ maxUses: 1 });
  if (token.status !== 201)
    throw new Error(`token: ${token.status} ${JSON.stringify(token.body)}`);
  const res = await request(h.server)
    .post('/api/patch/agent/v1/enroll')
    .send({
      token: token.body.token,
      machineId: `machine-${hostname}`,
      hostname,
      os,
    });
  if (res.status !== 201)
    throw new Error(`enroll: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    agentId: res.body.agentId,
    auth: `Agent ${res.body.agentId}.${res.body.secret}`,
  };
}

/** Uploads an inventory through the agent API. */
export async function uploadInventory(
  h: Harness,
  auth: string,
  packages: Array<{ ecosystem: string; name: string; version: string }>,
) {
  const res = await request(h.server)
    .put('/api/patch/agent/v1/inventory')
    .set('Authorization', auth)
    .send({
      hash: `h-${JSON.stringify(packages).length}-${Date.now()}`,
      packages,
      pending: [],
    });
  if (res.status !== 200)
    throw new Error(`inventory: ${res.status} ${JSON.stringify(res.body)}`);
}
