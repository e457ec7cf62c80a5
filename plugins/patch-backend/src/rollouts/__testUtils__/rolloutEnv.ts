/*
 * A rollout test environment: a real backend (startTestBackend) on a test
 * database, with the catalog, config and notifications a scenario needs, the
 * mock scheduler to run the real registered tasks as ticks, and small local
 * HTTP servers standing in for an ITSM receiver and a service's health URL.
 * Used by the rollout scenario tests; the clock helper moves the process
 * clock (`Date.now`), which the driver, the job queue and the stores read.
 */
import {
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import {
  createBackendModule,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { notificationService } from '@backstage/plugin-notifications-node';
import { Entity } from '@backstage/catalog-model';
import { Knex } from 'knex';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { patchPlugin } from '../../plugin';
import { PatchItsmConnector, patchItsmExtensionPoint } from '../../itsm';
import { checkInAll, enrollFleet, SimulatedAgent } from '../testing/fleet';

/** The patch every scenario rolls out. @internal */
export const PATCH = 'patch:default/openssl-3.0.13';
/** The policy every scenario uses. @internal */
export const POLICY = 'rolloutpolicy:default/standard';
/** The package of {@link PATCH}. @internal */
export const PKG = {
  ecosystem: 'deb',
  name: 'openssl',
  installed: '3.0.11-1',
  fixed: '3.0.13-1',
};

/** The patch, a 30 % pilot group and the policy, plus `extra` entities. @internal */
export function catalogEntities(
  policySpec: Record<string, unknown>,
  extra: Entity[] = [],
): Entity[] {
  return [
    {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'Patch',
      metadata: { name: 'openssl-3.0.13', namespace: 'default' },
      spec: {
        type: 'security',
        // High, not critical: the policy's rule may approve it without a human.
        severity: 'high',
        owner: 'group:default/security',
        vendor: 'debian',
        targets: [
          {
            ecosystem: 'deb',
            release: 'debian:12',
            package: 'openssl',
            fixedVersion: PKG.fixed,
          },
        ],
      },
    },
    {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'PilotGroup',
      metadata: { name: 'canaries', namespace: 'default' },
      spec: {
        owner: 'group:default/ops',
        selector: {},
        sampling: { percent: 30, max: 30 },
      },
    },
    {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'RolloutPolicy',
      metadata: { name: 'standard', namespace: 'default' },
      spec: {
        owner: 'group:default/ops',
        approval: { autoApprove: [{ noObjectionDays: 0 }] },
        ...policySpec,
      },
    },
    ...extra,
  ];
}

/** A call a local receiver got. @internal */
export interface ReceivedCall {
  body: any;
  headers: http.IncomingHttpHeaders;
  status: number;
}

/**
 * A local ITSM receiver on 127.0.0.1: answers the first `failFirst` calls
 * with 503, the others with 201 and a ticket number.
 * @internal
 */
export async function startReceiver(options: { failFirst?: number } = {}) {
  const calls: ReceivedCall[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', c => (body += c));
    req.on('end', () => {
      const fail = calls.length < (options.failFirst ?? 0);
      const status = fail ? 503 : 201;
      calls.push({ body: JSON.parse(body), headers: req.headers, status });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(fail ? '{}' : JSON.stringify({ number: `INC${calls.length}` }));
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/itsm`;
  return {
    calls,
    url,
    close: () => new Promise(r => server.close(r)),
  };
}

/** A service's health URL on 127.0.0.1 that answers 200 or 503 as told. @internal */
export async function startHealthServer() {
  const state = { healthy: true, probes: 0 };
  const server = http.createServer((_req, res) => {
    state.probes++;
    res.writeHead(state.healthy ? 200 : 503);
    res.end(state.healthy ? 'ok' : 'unhealthy');
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${
    (server.address() as AddressInfo).port
  }/healthz`;
  return { state, url, close: () => new Promise(r => server.close(r)) };
}

/**
 * Moves the process clock: `Date.now()` (and so every timestamp the backend
 * writes, the driver's soaks and deadlines, the queue's leases and the
 * windows) reads `offset` ms ahead of the real time. Call `restore()` after.
 * @internal
 */
export function installClock() {
  const real = Date.now.bind(Date);
  let offset = 0;
  const spy = jest.spyOn(Date, 'now').mockImplementation(() => real() + offset);
  return {
    now: () => real() + offset,
    shift: (ms: number) => {
      offset += ms;
    },
    restore: () => spy.mockRestore(),
  };
}

/** Options of {@link startRolloutEnv}. @internal */
export interface RolloutEnvOptions {
  policySpec: Record<string, unknown>;
  /** More catalog entities (Systems with windows, Components with health URLs). */
  entities?: Entity[];
  /** The ITSM webhook URL. */
  itsmUrl?: string;
  /** More `patch.*` config. */
  patchConfig?: Record<string, unknown>;
  /** An existing database (a second replica on the same one). */
  knex?: Knex;
  /** ITSM connectors a module adds through the `patch.itsm` extension point. */
  connectors?: PatchItsmConnector[];
}

/**
 * Starts a backend with the patch plugin on the test database.
 * @internal
 */
export async function startRolloutEnv(
  databases: TestDatabases,
  databaseId: any,
  options: RolloutEnvOptions,
) {
  const knex = options.knex ?? (await databases.init(databaseId));
  const scheduler = mockServices.scheduler() as unknown as {
    factory(o?: { skipTaskRunOnStartup?: boolean }): any;
    triggerTask(id: string): Promise<void>;
  };
  const notifications: Array<{ recipients: any; payload: any }> = [];
  // The catalog serves these very objects: a test that changes one (a
  // policy's freezes) changes what the backend reads next.
  const entities = catalogEntities(options.policySpec, options.entities);
  const backend = await startTestBackend({
    features: [
      patchPlugin,
      createBackendModule({
        pluginId: 'patch',
        moduleId: 'test-itsm',
        register(reg) {
          reg.registerInit({
            deps: { itsm: patchItsmExtensionPoint },
            async init({ itsm }) {
              itsm.addConnector(...(options.connectors ?? []));
            },
          });
        },
      }),
      mockServices.database.factory({ knex }),
      catalogServiceMock.factory({ entities }),
      scheduler.factory({ skipTaskRunOnStartup: true }),
      createServiceFactory({
        service: notificationService,
        deps: {},
        factory: () => ({
          send: async (n: any) => {
            notifications.push(n);
          },
        }),
      }),
      mockServices.rootConfig.factory({
        data: {
          patch: {
            operationsGroup: 'group:default/ops',
            approvals: { policy: POLICY },
            ...(options.itsmUrl
              ? { itsm: { webhook: { url: options.itsmUrl } } }
              : {}),
            ...(options.patchConfig ?? {}),
          },
        },
      }),
    ],
  });
  const baseUrl = `http://127.0.0.1:${
    (backend.server.address() as AddressInfo).port
  }/api/patch`;
  const post = async (path: string, body: unknown = {}) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const get = async (path: string) => {
    const res = await fetch(`${baseUrl}${path}`);
    return { status: res.status, body: (await res.json()) as any };
  };
  return {
    knex,
    entities,
    baseUrl,
    post,
    get,
    notifications,
    /** One run of the rollout driver, as a replica's scheduler would run it. */
    tick: () => scheduler.triggerTask('patch-rollout-driver'),
    /** One run of the deadline enforcer. */
    enforceDeadlines: () => scheduler.triggerTask('patch-rollout-deadlines'),
    syncApprovals: () => scheduler.triggerTask('patch-approvals-sync'),
    /** One run of any scheduled task of the plugin. */
    trigger: (taskId: string) => scheduler.triggerTask(taskId),
    stop: () => backend.stop(),
  };
}

/** A started environment. @internal */
export type RolloutEnv = Awaited<ReturnType<typeof startRolloutEnv>>;

/**
 * Enrolls `size` agents over `systems` Systems (site label `site-<s % 2>`)
 * and lets the approvals area approve the patch for all of them.
 * @internal
 */
export async function startFleet(
  env: RolloutEnv,
  size: number,
  systems = 4,
): Promise<SimulatedAgent[]> {
  const agents = await enrollFleet(env.baseUrl, {
    size,
    systems,
    pkg: { ecosystem: PKG.ecosystem, name: PKG.name, version: PKG.installed },
  });
  await env.syncApprovals();
  const [row] = await env
    .knex('patch_applicability')
    .where({ patch_ref: PATCH, state: 'needed' })
    .count({ n: '*' });
  if (Number(row.n) !== size)
    throw new Error(`${row.n} of ${size} endpoints need the patch`);
  return agents;
}

/** Creates a rollout of {@link PATCH} with {@link POLICY}; returns its id. @internal */
export async function createRollout(
  env: RolloutEnv,
  emergency = false,
): Promise<string> {
  const created = await env.post('/rollouts', {
    patchRef: PATCH,
    policyRef: POLICY,
    ...(emergency ? { emergency: true } : {}),
  });
  if (created.status !== 201)
    throw new Error(
      `create: ${created.status} ${JSON.stringify(created.body)}`,
    );
  return created.body.rollout.id;
}

/** Ticks and lets every agent check in until the rollout reaches one of `states`. @internal */
export async function drive(
  env: RolloutEnv,
  agents: SimulatedAgent[],
  id: string,
  states: string[],
  rounds = 20,
) {
  for (let i = 0; i < rounds; i++) {
    await env.tick();
    const { body } = await env.get(`/rollouts/${id}`);
    if (states.includes(body.state)) return body;
    await checkInAll(agents);
  }
  return (await env.get(`/rollouts/${id}`)).body;
}

/** The rollout's detail over the portal API. @internal */
export async function detail(env: RolloutEnv, id: string) {
  return (await env.get(`/rollouts/${id}`)).body;
}

/**
 * A ring that promotes itself at once: no soak, one finished job is a
 * sample, half of them must succeed and nine in ten may fail.
 * @internal
 */
export const AUTO_RING = {
  soakMinutes: 0,
  minSample: 1,
  successThreshold: 0.5,
  failureLimit: 0.9,
  promotion: 'auto',
};

/** A patch of two packages, openssl and libssl3, both fixed in {@link PKG}. @internal */
export const TWO_PACKAGE_PATCH = 'patch:default/openssl-libssl-3.0.13';

/** The catalog entity of {@link TWO_PACKAGE_PATCH}. @internal */
export const twoPackagePatch: Entity = {
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: { name: 'openssl-libssl-3.0.13', namespace: 'default' },
  spec: {
    type: 'security',
    severity: 'high',
    owner: 'group:default/security',
    targets: ['openssl', 'libssl3'].map(name => ({
      ecosystem: 'deb',
      release: 'debian:12',
      package: name,
      fixedVersion: PKG.fixed,
    })),
  },
};

/**
 * A one-ring rollout of {@link TWO_PACKAGE_PATCH} to three endpoints of one
 * System, with openssl at the installed version of {@link PKG} and libssl3
 * at `libssl3`; created (201), not ticked yet.
 * @internal
 */
export async function startTwoPackageRollout(
  databases: TestDatabases,
  databaseId: any,
  libssl3: string,
) {
  const env = await startRolloutEnv(databases, databaseId, {
    policySpec: { rings: [{ name: 'all', ...AUTO_RING }] },
    entities: [twoPackagePatch],
  });
  const agents = await enrollFleet(env.baseUrl, {
    size: 3,
    systems: 1,
    pkg: { ecosystem: 'deb', name: 'openssl', version: PKG.installed },
    extraPackages: [{ name: 'libssl3', version: libssl3 }],
  });
  await env.syncApprovals();
  const created = await env.post('/rollouts', {
    patchRef: TWO_PACKAGE_PATCH,
    policyRef: POLICY,
  });
  expect(created.status).toBe(201);
  return { env, agents, id: created.body.rollout.id as string };
}

/** The jobs of a rollout over the portal API, of one `kind` if given. @internal */
export async function rolloutJobs(
  env: RolloutEnv,
  rolloutId: string,
  kind?: string,
) {
  const res = await env.get(
    `/jobs?rolloutId=${rolloutId}${kind ? `&kind=${kind}` : ''}&limit=1000`,
  );
  expect(res.status).toBe(200);
  return res.body.items as any[];
}

/**
 * Counts a rollout's jobs in flight (queued, leased or running) per site:
 * `sample()` returns this moment's counts, `highest` keeps each site's
 * highest count over every sample.
 * @internal
 */
export function inFlightBySite(
  env: RolloutEnv,
  rolloutId: string,
  siteOf: Map<string, string>,
) {
  const highest: Record<string, number> = {};
  const sample = async () => {
    const live = await env
      .knex('patch_jobs')
      .where({ rollout_id: rolloutId })
      .whereIn('state', ['queued', 'leased', 'running'])
      .select('endpoint_id');
    const out: Record<string, number> = {};
    for (const j of live) {
      const s = siteOf.get(j.endpoint_id)!;
      out[s] = (out[s] ?? 0) + 1;
      highest[s] = Math.max(highest[s] ?? 0, out[s]);
    }
    return out;
  };
  return { sample, highest };
}

/**
 * Up to `rounds` rounds, until the rollout completes: the agents start their
 * jobs and hold them (`afterStart` runs then), a tick, after which no site
 * may have more jobs in flight than its entry in `limits`; the agents finish,
 * a tick (`afterFinish` runs then).
 * @internal
 */
export async function runHeldRounds(
  env: RolloutEnv,
  agents: SimulatedAgent[],
  rolloutId: string,
  options: {
    rounds: number;
    limits: Record<string, number>;
    sample: () => Promise<Record<string, number>>;
    afterStart?: () => void;
    afterFinish?: () => Promise<unknown>;
  },
) {
  for (let round = 0; round < options.rounds; round++) {
    // The agents start their jobs: still in flight, nothing more goes out.
    await checkInAll(agents, { finish: false });
    options.afterStart?.();
    await env.tick();
    const during = await options.sample();
    for (const [site, max] of Object.entries(options.limits))
      expect(during[site] ?? 0).toBeLessThanOrEqual(max);
    for (const a of agents) await a.finishStarted();
    await env.tick();
    await options.afterFinish?.();
    if ((await detail(env, rolloutId)).state === 'completed') break;
  }
}

/**
 * Pilot (requires a healthy signal, soaks 10 minutes), then broad.
 * @internal
 */
export const HEALTH_GATED_POLICY = {
  rings: [
    {
      name: 'pilot',
      pilotGroup: 'pilotgroup:default/canaries',
      ...AUTO_RING,
      soakMinutes: 10,
      requireHealthySignal: true,
    },
    { name: 'broad', ...AUTO_RING },
  ],
};
