/*
 * The demo fleet: hundreds of simulated endpoint agents in this one process.
 *
 *   yarn demo:fleet                      (backend on http://localhost:7007)
 *   PATCHBAY_URL=http://host:7007 PATCHBAY_DEMO_AGENTS=500 yarn demo:fleet
 *
 * What it does, against a running backend:
 *  1. signs in as the demo's guest (the guest provider of app-config.demo.yaml;
 *     the guest is a member of it-operations, which may create enrollment
 *     tokens and rollouts), so no dev-only route is needed;
 *  2. creates one enrollment token per demo team, carrying the team as owner
 *     and its system, so every endpoint is owned from its first check-in;
 *  3. enrolls and runs the agents with the agent's `simulated` provider
 *     (package sets from a real Debian 12 machine, agent/fixtures/apt), each
 *     with location, device type and department labels, and a realistic
 *     starting point (./spread.ts): most demo patches installed almost
 *     everywhere, a backlog of a few patches per team (some past their SLA),
 *     and the newest medium patch missing on about a third of the fleet;
 *  4. once the backend sees as many approved endpoints needing that patch as
 *     the fleet planned, starts its rollout with the demo RolloutPolicy, so
 *     the rollout dashboard moves ring by ring while high and critical
 *     patches wait in the teams' inboxes;
 *  5. prints, once a minute, what a visitor can look at now.
 *
 * State (agent credentials, outboxes) lives in a fresh temporary folder per
 * run, so a clean start is a clean fleet. SIGINT / SIGTERM drain and stop.
 */
import {
  createAgent,
  enroll,
  PatchAgent,
  silentLogger,
  SimulatedProvider,
  agentConfigSchema,
} from '@patchbay/patch-agent';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  dueAt,
  endpointOptions,
  neededPatches,
  readDemoPatches,
  ROLLOUT_SOURCE,
  siteOf,
  slaDaysOf,
  teamOf,
  componentOf,
  TEAMS,
} from './spread';

const BASE = (process.env.PATCHBAY_URL ?? 'http://localhost:7007').replace(
  /\/$/,
  '',
);
const AGENTS = Number(process.env.PATCHBAY_DEMO_AGENTS ?? 500);
/**
 * Share of the broad ring's endpoints (Virginia, Singapore) needing the
 * rolled-out patch whose installs fail: 3 endpoints of the default fleet.
 */
const FAILURE_RATE = Number(process.env.PATCHBAY_DEMO_FAILURE_RATE ?? 0.045);
const POLICY = process.env.PATCHBAY_DEMO_POLICY;
/**
 * Where the agents keep their state; by default a fresh temporary folder per
 * run, removed at the end. The e2e suites share one so that the second
 * suite's fleet is the same machines, holding their credentials.
 */
const STATE_DIR = process.env.PATCHBAY_DEMO_STATE_DIR || undefined;
const PATCHES = readDemoPatches();
const ROLLOUT_PATCH =
  process.env.PATCHBAY_DEMO_PATCH ??
  PATCHES.find(p => p.source === ROLLOUT_SOURCE)?.ref ??
  'patch:default/debian12-libpng-1.6.39-deb12u6';

const DEVICE_TYPES = [
  'server',
  'server',
  'server',
  'vm',
  'vm',
  'container-host',
];

const log = (msg: string) => console.log(`[demo-fleet] ${msg}`);
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function waitForBackend(): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${BASE}/api/patch/health`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (i % 15 === 0) log(`waiting for ${BASE}/api/patch/health`);
    await sleep(2000);
  }
}

/** A Backstage token of the demo's guest user. */
async function guestToken(): Promise<string> {
  for (let i = 0; ; i++) {
    const res = await fetch(`${BASE}/api/auth/guest/refresh?env=development`, {
      headers: { 'x-requested-with': 'XMLHttpRequest' },
    }).catch(() => undefined);
    if (res?.ok) {
      const body: any = await res.json();
      const token = body?.backstageIdentity?.token;
      if (token) return token;
    }
    if (i % 10 === 0) log('waiting for guest sign-in (auth backend)');
    await sleep(2000);
  }
}

async function api(
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    throw new Error(
      `${method} ${path} → ${res.status} ${json?.error?.message ?? text}`,
    );
  }
  return json;
}

/** What the fleet set up on one endpoint. */
interface PlannedEndpoint {
  hostname: string;
  owner: string;
  site: string;
  /** Refs of the demo patches it still needs. */
  needs: string[];
  failsInstalls: boolean;
}

/** The endpoints of the current run, as planned (./spread.ts). */
const planned: PlannedEndpoint[] = [];

async function startAgents(
  token: string,
  root: string,
  agents: PatchAgent[],
): Promise<void> {
  // One token per team and Component: the token decides the labels
  // ownership depends on (the department, and `components`, which relates
  // the endpoint to the Component running there); agents only add their own
  // (location, device type).
  const tokens: Array<
    (typeof TEAMS)[number] & { component: string; token: string }
  > = [];
  for (const team of TEAMS) {
    for (const component of team.components) {
      const created = await api(token, 'POST', '/api/patch/enrollment-tokens', {
        description: `Demo fleet: ${team.owner}, ${component}`,
        ownerRef: team.owner,
        systemRef: team.system,
        labels: {
          department:
            team.owner === 'group:default/team-data' ? 'data' : 'engineering',
          components: component,
        },
        maxUses: AGENTS,
        expiresInSeconds: 3600,
      });
      tokens.push({ ...team, component, token: created.token as string });
    }
  }

  const plan = Array.from({ length: AGENTS }, (_, i) => {
    const { owner } = teamOf(i, AGENTS);
    const component = componentOf(i, AGENTS);
    return {
      i,
      team: tokens.find(t => t.owner === owner && t.component === component)!,
    };
  });

  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const { i, team } = plan[next++];
      const hostname = `${team.prefix}-${String(i).padStart(4, '0')}`;
      const config = agentConfigSchema.parse({
        backendUrl: `${BASE}/api/patch`,
        stateDir: join(root, hostname),
        provider: 'simulated',
        hostname,
        machineId: `demo-${hostname}`,
        labels: {
          location: siteOf(i),
          site: siteOf(i),
          'device-type': DEVICE_TYPES[i % DEVICE_TYPES.length],
          department:
            team.owner === 'group:default/team-data' ? 'data' : 'engineering',
        },
        // Until the server says otherwise; jitter spreads the first check-ins.
        checkIn: {
          defaultIntervalSeconds: 20,
          minIntervalSeconds: 5,
          jitterRatio: 0.3,
        },
        log: { level: 'error' },
      });
      const options = endpointOptions(i, AGENTS, PATCHES, FAILURE_RATE);
      const provider = new SimulatedProvider({
        ...options,
        installDurationMs: 3000,
        hostname,
      });
      planned.push({
        hostname,
        owner: team.owner,
        site: siteOf(i),
        needs: neededPatches(
          await provider.inventory(),
          options.pendingSources,
          PATCHES,
        ),
        failsInstalls: options.failureRate > 0,
      });
      const credentials = await enroll({
        url: `${BASE}/api/patch`,
        token: team.token,
        config,
        provider,
      });
      const agent = await createAgent({
        config,
        provider,
        credentials,
        logger: silentLogger,
        lock: false,
      });
      await agent.start();
      agents.push(agent);
    }
  };
  // A few enrollments at a time: quick, and gentle on an embedded SQLite.
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function findPolicy(token: string): Promise<string | undefined> {
  if (POLICY) return POLICY;
  const items: any[] = await api(
    token,
    'GET',
    '/api/catalog/entities?filter=kind=RolloutPolicy&fields=kind,metadata.name,metadata.namespace',
  ).catch(() => []);
  const names = items.map(
    e =>
      `rolloutpolicy:${e.metadata.namespace ?? 'default'}/${e.metadata.name}`,
  );
  return names.find(n => /demo|standard/.test(n)) ?? names[0];
}

/** Endpoints of the plan that need `patchRef`. */
const plannedNeeding = (patchRef: string) =>
  planned.filter(e => e.needs.includes(patchRef)).length;

/**
 * Starts the rollout of ROLLOUT_PATCH (auto-approved by the demo policy)
 * once the backend has computed applicability and approvals for the fleet:
 * when 95 % of the endpoints the fleet planned are approved and need it,
 * or, should some never show up, two minutes after the first ones did. Endpoints that
 * arrive later still join: the broad ring takes every eligible endpoint
 * when it starts.
 */
async function startRollout(initialToken: string): Promise<void> {
  let token = initialToken;
  const existing = await api(token, 'GET', '/api/patch/rollouts').catch(
    () => undefined,
  );
  if ((existing?.items ?? []).length > 0) {
    log('a rollout exists already; not starting another');
    return;
  }
  const patchRef = ROLLOUT_PATCH;
  const expected = plannedNeeding(patchRef);
  let firstSeen: number | undefined;
  for (let attempt = 0; attempt < 120; attempt++) {
    token = await guestToken();
    const policyRef = await findPolicy(token);
    if (!policyRef) {
      if (attempt % 10 === 0) log('waiting for a RolloutPolicy in the catalog');
      await sleep(5000);
      continue;
    }
    try {
      const preview = await api(token, 'POST', '/api/patch/rollouts/preview', {
        patchRef,
        policyRef,
      });
      const waves: any[] = preview?.waves ?? [];
      const size = waves.reduce((n: number, w: any) => n + (w.size ?? 0), 0);
      const first = waves[0]?.size ?? 0;
      const eligible = Number(preview?.eligible ?? 0);
      if (size > 0 && first > 0) firstSeen ??= Date.now();
      const waited = firstSeen ? Date.now() - firstSeen : 0;
      // 95 %: the pilot is sized by then; the last few join the broad ring.
      const enough = eligible >= Math.ceil(expected * 0.95);
      if (first === 0 || (!enough && waited < 120_000)) {
        if (attempt % 6 === 0) {
          log(
            `waiting for approved endpoints of ${patchRef}: ${eligible} of the ${expected} planned${
              attempt >= 24 && eligible === 0
                ? ` (none after 2 minutes: does the backend match ${ROLLOUT_SOURCE} as a SOURCE package? Its binaries are named otherwise)`
                : ''
            }`,
          );
        }
        await sleep(5000);
        continue;
      }
      const created = await api(token, 'POST', '/api/patch/rollouts', {
        patchRef,
        policyRef,
      });
      log(
        `started rollout ${
          created.rollout.id
        } of ${patchRef} with ${policyRef}: ${size} endpoints (${expected} planned) in ${
          waves.length
        } waves (${waves.map(w => `${w.ring} ${w.size}`).join(', ')})`,
      );
      return;
    } catch (error) {
      if (attempt % 10 === 0)
        log(`rollout of ${patchRef} not ready: ${(error as Error).message}`);
      await sleep(5000);
    }
  }
  log('gave up starting a rollout: no approved endpoints after 10 minutes');
}

/** The plan in a few lines: who needs what, what is overdue. */
async function logPlan(token: string): Promise<void> {
  const policies: any[] = await api(
    token,
    'GET',
    '/api/catalog/entities?filter=kind=RolloutPolicy&fields=spec.approval.slaDays',
  ).catch(() => []);
  const sla = slaDaysOf(policies);
  const now = Date.now();
  const compliant = planned.filter(e => e.needs.length === 0).length;
  log(
    `planned: ${compliant} of ${planned.length} endpoints miss no demo patch; ${
      planned.filter(e => e.failsInstalls).length
    } fail every install (${[
      ...new Set(planned.filter(e => e.failsInstalls).map(e => e.site)),
    ].join(', ')})`,
  );
  for (const patch of PATCHES) {
    const needing = planned.filter(e => e.needs.includes(patch.ref));
    if (needing.length === 0) continue;
    const due = dueAt(patch, sla);
    const teams = [...new Set(needing.map(e => e.owner))]
      .map(
        o =>
          `${o.replace(/^group:default\/team-/, '')} ${
            needing.filter(e => e.owner === o).length
          }`,
      )
      .join(', ');
    log(
      `  ${patch.ref} (${patch.severity}, due ${due
        .toISOString()
        .slice(0, 10)}${due.getTime() < now ? ', OVERDUE' : ''}${
        patch.ref === ROLLOUT_PATCH ? ', rolled out' : ''
      }): ${needing.length} endpoints (${teams})`,
    );
  }
}

/**
 * One line of what a visitor can look at now: the rollout, the guest's
 * inbox, the fleet's compliance. Whatever cannot be read shows as "?".
 */
async function statusLine(
  agents: PatchAgent[],
  enrolled: number | undefined,
): Promise<string> {
  const token = await guestToken();
  const get = (path: string) => api(token, 'GET', path).catch(() => undefined);
  const [rollouts, inbox, fleet] = await Promise.all([
    get(`/api/patch/rollouts?patchRef=${encodeURIComponent(ROLLOUT_PATCH)}`),
    get('/api/patch/approvals/inbox'),
    get('/api/patch/reports/compliance/node?ref=fleet'),
  ]);
  const parts: string[] = [];
  const errors = agents.filter(a => a.status().consecutiveErrors > 0).length;
  parts.push(
    `${agents.length} agents, ${enrolled ?? '?'} enrolled${
      errors ? `, ${errors} with check-in errors` : ''
    }`,
  );
  const rollout = rollouts?.items?.[0];
  if (rollout) {
    const detail = await get(`/api/patch/rollouts/${rollout.id}`);
    const waves: any[] = detail?.waves ?? [];
    const sum = (k: string) =>
      waves.reduce((n, w) => n + Number(w.counts?.[k] ?? 0), 0);
    const ring = rollout.rings?.[rollout.currentRing] ?? '?';
    parts.push(
      `rollout ${String(rollout.id).slice(0, 8)} ${
        rollout.state
      }, ring ${ring}: ${sum('succeeded') + sum('failed')}/${waves.reduce(
        (n, w) => n + Number(w.size ?? 0),
        0,
      )} done, ${sum('failed')} failed (Patches › Rollouts)`,
    );
  } else {
    parts.push('no rollout yet');
  }
  if (inbox) {
    const pending = (inbox.items ?? []).filter(
      (r: any) => r.state === 'pending',
    ).length;
    parts.push(
      `${pending} approvals pending for the guest (Patches › Approvals)`,
    );
  }
  const node = fleet?.node;
  if (node) {
    const pct = (x: unknown) =>
      typeof x === 'number' ? `${Math.round(x * 100)} %` : '?';
    parts.push(
      `fleet ${pct(node.compliantShare)} compliant, ${pct(
        node.withinSlaShare,
      )} within SLA, ${node.missing?.total ?? '?'} missing installs, ${
        node.overdue ?? '?'
      } overdue (Patches › Reports)`,
    );
  }
  return parts.join(' | ');
}

/** Endpoints the backend knows, or undefined when it cannot be asked. */
async function enrolledCount(): Promise<number | undefined> {
  try {
    const token = await guestToken();
    const list = await api(token, 'GET', '/api/patch/endpoints?limit=1');
    return Number(list.totalCount);
  } catch {
    return undefined;
  }
}

async function main() {
  const agents: PatchAgent[] = [];
  let root: string | undefined;
  let stopping = false;

  const stopFleet = async () => {
    await Promise.allSettled(agents.map(a => a.stop({ abort: true })));
    agents.length = 0;
    planned.length = 0;
    // A state folder given by PATCHBAY_DEMO_STATE_DIR is kept: a later fleet
    // re-enrolls with the credentials it holds (re-enrolling a machine
    // without them is refused).
    if (root && !STATE_DIR) await rm(root, { recursive: true, force: true });
  };
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping the fleet');
    await stopFleet();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const startFleet = async () => {
    await waitForBackend();
    const token = await guestToken();
    if (STATE_DIR) await mkdir(STATE_DIR, { recursive: true });
    root = STATE_DIR ?? (await mkdtemp(join(tmpdir(), 'patchbay-demo-fleet-')));
    log(
      `starting ${AGENTS} simulated agents against ${BASE} (state in ${root})`,
    );
    const started = Date.now();
    await startAgents(token, root, agents);
    log(
      `${agents.length} agents enrolled and running in ${Math.round(
        (Date.now() - started) / 1000,
      )} s`,
    );
    await logPlan(await guestToken()).catch(() => undefined);
    // The guest token is short-lived; startRollout takes fresh ones.
    void startRollout(await guestToken());
  };

  const startWithRetries = async () => {
    for (;;) {
      try {
        await startFleet();
        return;
      } catch (error) {
        // The backend went away mid-enrollment (e.g. a dev-server reload).
        log(`enrollment failed, starting over: ${(error as Error).message}`);
        await stopFleet();
        await sleep(5000);
      }
    }
  };

  await startWithRetries();
  for (let tick = 1; !stopping; tick++) {
    await sleep(30_000);
    const count = await enrolledCount();
    // The embedded default keeps its database in memory: a backend restart
    // (e.g. the dev server reloading) forgets every endpoint. Enroll again.
    if (count === 0 && agents.length > 0) {
      log(
        'the backend forgot the fleet (restarted with an in-memory database); enrolling again',
      );
      await stopFleet();
      await startWithRetries();
      continue;
    }
    if (tick % 2 === 0) {
      log(
        await statusLine(agents, count).catch(
          error => `status unavailable: ${(error as Error).message}`,
        ),
      );
    }
  }
}

main().catch(error => {
  console.error(`[demo-fleet] ${error?.stack ?? error}`);
  process.exit(1);
});
