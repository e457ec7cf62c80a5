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
 *     with location, device type and department labels;
 *  4. once applicability and the demo policy's auto-approvals exist, starts a
 *     rollout of an auto-approved patch with the demo RolloutPolicy, so the
 *     rollout dashboard moves ring by ring while high and critical patches
 *     wait in the teams' inboxes.
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
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BASE = (process.env.PATCHBAY_URL ?? 'http://localhost:7007').replace(
  /\/$/,
  '',
);
const AGENTS = Number(process.env.PATCHBAY_DEMO_AGENTS ?? 500);
const FAILURE_RATE = Number(process.env.PATCHBAY_DEMO_FAILURE_RATE ?? 0.01);
const ROLLOUT_PATCH = process.env.PATCHBAY_DEMO_PATCH;
const POLICY = process.env.PATCHBAY_DEMO_POLICY;

/** The demo teams (examples/org.yaml) and their systems (examples/entities.yaml), with their share of the fleet. */
const TEAMS = [
  {
    owner: 'group:default/team-payments',
    system: 'system:default/payments',
    share: 0.3,
    prefix: 'pay',
  },
  {
    owner: 'group:default/team-storefront',
    system: 'system:default/storefront',
    share: 0.3,
    prefix: 'shop',
  },
  {
    owner: 'group:default/team-platform',
    system: 'system:default/platform',
    share: 0.25,
    prefix: 'plat',
  },
  {
    owner: 'group:default/team-data',
    system: 'system:default/analytics',
    share: 0.15,
    prefix: 'data',
  },
];
const SITES = ['berlin', 'dublin', 'virginia', 'singapore'];
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

async function startAgents(
  token: string,
  root: string,
  agents: PatchAgent[],
): Promise<void> {
  const tokens: Array<(typeof TEAMS)[number] & { token: string }> = [];
  for (const team of TEAMS) {
    const created = await api(token, 'POST', '/api/patch/enrollment-tokens', {
      description: `Demo fleet: ${team.owner}`,
      ownerRef: team.owner,
      systemRef: team.system,
      // The token decides the labels ownership may depend on; agents only
      // add their own (location, device type).
      labels: {
        department:
          team.owner === 'group:default/team-data' ? 'data' : 'engineering',
      },
      maxUses: AGENTS,
      expiresInSeconds: 3600,
    });
    tokens.push({ ...team, token: created.token as string });
  }

  const plan = Array.from({ length: AGENTS }, (_, i) => {
    // Deterministic spread over teams by share.
    let acc = 0;
    const x = (i + 0.5) / AGENTS;
    const team =
      tokens.find(t => (acc += t.share) >= x) ?? tokens[tokens.length - 1];
    return { i, team };
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
          location: SITES[i % SITES.length],
          site: SITES[i % SITES.length],
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
      const provider = new SimulatedProvider({
        seed: 1000 + i,
        packageCount: 400,
        pendingProbability: 0.7,
        failureRate: FAILURE_RATE,
        installDurationMs: 3000,
        hostname,
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

/**
 * Starts one rollout, of the most widely needed patch whose approvals are
 * all in (the demo policy auto-approves low and medium), once the backend
 * has computed applicability for the fleet.
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
  for (let attempt = 0; attempt < 120; attempt++) {
    const policyRef = await findPolicy(token);
    if (!policyRef) {
      if (attempt % 10 === 0) log('waiting for a RolloutPolicy in the catalog');
      await sleep(5000);
      continue;
    }
    const candidates = ROLLOUT_PATCH
      ? [ROLLOUT_PATCH]
      : [
          'patch:default/debian12-libpng-1.6.39-deb12u6',
          'patch:default/debian12-xz-utils-5.4.1-deb12u2',
          'patch:default/debian12-jq-1.6-deb12u3',
          'patch:default/debian12-tzdata-2026f',
        ];
    token = await guestToken();
    for (const patchRef of candidates) {
      try {
        const preview = await api(
          token,
          'POST',
          '/api/patch/rollouts/preview',
          { patchRef, policyRef },
        );
        const size = (preview?.waves ?? []).reduce(
          (n: number, w: any) => n + (w.size ?? 0),
          0,
        );
        const first = preview?.waves?.[0]?.size ?? 0;
        if (size === 0 || first === 0) {
          if (attempt % 6 === 0) {
            log(
              `waiting for approved endpoints of ${patchRef} (eligible: ${
                preview?.eligible ?? 0
              })`,
            );
          }
          continue;
        }
        const created = await api(token, 'POST', '/api/patch/rollouts', {
          patchRef,
          policyRef,
        });
        log(
          `started rollout ${created.rollout.id} of ${patchRef} with ${policyRef}: ${size} endpoints in ${preview.waves.length} waves`,
        );
        return;
      } catch (error) {
        if (attempt % 10 === 0)
          log(`rollout of ${patchRef} not ready: ${(error as Error).message}`);
      }
    }
    await sleep(5000);
  }
  log('gave up starting a rollout: no approved endpoints after 10 minutes');
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
    if (root) await rm(root, { recursive: true, force: true });
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
    root = await mkdtemp(join(tmpdir(), 'patchbay-demo-fleet-'));
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
      const errors = agents.filter(
        a => a.status().consecutiveErrors > 0,
      ).length;
      const busy = agents.filter(a => a.status().currentJob).length;
      log(
        `${agents.length} agents (${
          count ?? '?'
        } enrolled), ${busy} running a job, ${errors} with check-in errors`,
      );
    }
  }
}

main().catch(error => {
  console.error(`[demo-fleet] ${error?.stack ?? error}`);
  process.exit(1);
});
