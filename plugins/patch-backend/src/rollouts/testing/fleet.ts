/*
 * Simulated agents for the rollout tests, the multi-process scenarios and
 * the dispatch benchmark. They talk to a real backend over HTTP, through the
 * same agent API routes as the real agent: enroll with a token, check in
 * (which leases jobs), start, report. Installs set every package of the
 * payload to its `version`, rollbacks set them back, and the agent reports
 * per package and then uploads its inventory, as the real agent does; a
 * failure rate decides, by a deterministic hash of the agent and job, which
 * installs fail. `lies` and `skipPackages` make the agents the evidence
 * must catch.
 */
import { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { samplePosition } from '@patchbay/plugin-patch-common';

/** One simulated agent. @internal */
export class SimulatedAgent {
  /** Installed versions by package. */
  readonly versions = new Map<string, string>();
  /** Jobs this agent was handed, by id, with how often. */
  readonly leased = new Map<string, number>();
  /** Share of installs that fail, 0 to 1. */
  failureRate = 0;
  /** Reports installs as succeeded without installing anything (and says nothing per package). */
  lies = false;
  /** Packages it does not install, while it still reports `succeeded` (with the evidence). */
  readonly skipPackages = new Set<string>();
  /** Uploads its inventory after each job (default true), as the real agent does. */
  uploadAfterJobs = true;
  /** The ecosystem of its packages. */
  ecosystem = 'deb';
  /** The last check-in answer. */
  lastCheckIn?: { jobs: unknown[]; maintenanceWindows?: unknown[] };

  constructor(
    /** The backend the agent talks to; a test may point it at another replica. */
    public baseUrl: string,
    readonly id: string,
    private readonly secret: string,
    /** The machine id it enrolled with; every check-in sends it. */
    readonly machineId?: string,
  ) {}

  private headers() {
    return {
      authorization: `Agent ${this.id}.${this.secret}`,
      'content-type': 'application/json',
    };
  }

  /** Jobs started by `checkIn({ finish: false })`, waiting for `finishStarted()`. */
  readonly started: Array<{
    id: string;
    attempt: number;
    kind: string;
    payload: any;
  }> = [];

  /**
   * One check-in: leases jobs and runs them to their result (`run: false`
   * only leases; `finish: false` leases and starts). Returns the jobs handled.
   */
  async checkIn(
    options: { run?: boolean; finish?: boolean } = {},
  ): Promise<number> {
    const res = await fetch(`${this.baseUrl}/agent/v1/checkin`, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({
        inventoryHash: 'simulated',
        maxJobs: 4,
        machineId: this.machineId,
      }),
    });
    if (!res.ok)
      throw new Error(
        `check-in of ${this.id}: ${res.status} ${await res.text()}`,
      );
    const body = (await res.json()) as {
      jobs: Array<{ id: string; attempt: number; kind: string; payload: any }>;
      maintenanceWindows?: unknown[];
    };
    this.lastCheckIn = body;
    for (const job of body.jobs)
      this.leased.set(job.id, (this.leased.get(job.id) ?? 0) + 1);
    if (options.run === false) return body.jobs.length;
    for (const job of body.jobs) {
      if (!(await this.start(job))) continue; // cancelled meanwhile: nothing to run
      if (options.finish === false) this.started.push(job);
      else await this.finish(job);
    }
    return body.jobs.length;
  }

  /** Uploads the agent's inventory: its installed packages, nothing pending. */
  async uploadInventory(ecosystem: string = this.ecosystem): Promise<void> {
    this.ecosystem = ecosystem;
    const packages = [...this.versions.entries()].map(([name, version]) => ({
      ecosystem,
      name,
      version,
    }));
    const res = await fetch(`${this.baseUrl}/agent/v1/inventory`, {
      method: 'PUT',
      headers: this.headers(),
      body: JSON.stringify({
        hash: `h-${packages.map(p => p.version).join(',')}`,
        packages,
        pending: [],
      }),
    });
    if (!res.ok)
      throw new Error(
        `inventory of ${this.id}: ${res.status} ${await res.text()}`,
      );
  }

  /** Reports the jobs started earlier. */
  async finishStarted(): Promise<void> {
    for (const job of this.started.splice(0)) await this.finish(job);
  }

  private async start(job: { id: string; attempt: number }): Promise<boolean> {
    const start = await fetch(`${this.baseUrl}/agent/v1/jobs/${job.id}/start`, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ attempt: job.attempt }),
    });
    return start.ok;
  }

  private async finish(job: {
    id: string;
    attempt: number;
    kind: string;
    payload: any;
  }) {
    const listed: Array<{
      name: string;
      version: string;
      previousVersion?: string;
    }> =
      Array.isArray(job.payload.packages) && job.payload.packages.length > 0
        ? job.payload.packages
        : [
            {
              name: String(job.payload.package),
              version: String(job.payload.version),
            },
          ];
    const first = listed[0].name;
    const before = this.versions.get(first);
    let status: 'succeeded' | 'failed' = 'succeeded';
    let packages:
      | Array<{ name: string; before?: string; after?: string; state: string }>
      | undefined;
    if (
      job.kind === 'install' &&
      samplePosition(`${this.id}/${job.payload.patchRef}`, 'fail') <
        this.failureRate
    ) {
      status = 'failed';
    } else if (!(this.lies && job.kind === 'install')) {
      packages = listed.map(p => {
        const was = this.versions.get(p.name);
        // A rollback goes back to `previousVersion`; old payloads carry it in `version`.
        const to =
          job.kind === 'rollback'
            ? p.previousVersion ?? String(job.payload.version)
            : p.version;
        if (!this.skipPackages.has(p.name)) this.versions.set(p.name, to);
        const now = this.versions.get(p.name);
        return {
          name: p.name,
          ...(was !== undefined ? { before: was } : {}),
          ...(now !== undefined ? { after: now } : {}),
          state: now === to ? 'fixed' : 'not-fixed',
        };
      });
    }
    const result = await fetch(
      `${this.baseUrl}/agent/v1/jobs/${job.id}/result`,
      {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify({
          attempt: job.attempt,
          status,
          previousVersion: before,
          installedVersion: this.versions.get(first),
          message: status === 'failed' ? 'simulated failure' : undefined,
          ...(packages ? { packages } : {}),
        }),
      },
    );
    if (!result.ok)
      throw new Error(
        `result of ${job.id}: ${result.status} ${await result.text()}`,
      );
    if (this.uploadAfterJobs) await this.uploadInventory();
  }
}

/** Options of {@link enrollFleet}. @internal */
export interface FleetOptions {
  /** Agents to enroll. */
  size: number;
  /** Systems to spread them over (round robin), each owned by `group:default/team-<i>`. */
  systems?: number;
  /** The package every agent has installed, and its version. */
  pkg?: { ecosystem: string; name: string; version: string };
  /** More packages every agent has installed, in the same ecosystem. */
  extraPackages?: Array<{ name: string; version: string }>;
  /** Upload each agent's inventory after enrolling (default true). */
  uploadInventory?: boolean;
  /** Sends requests with this header value as the portal user (default: none, mock credentials). */
  portalHeaders?: Record<string, string>;
}

/**
 * Enrolls a fleet through the agent API: one enrollment token per System
 * (owner, system and a site label come from the token), then one enrollment
 * per agent.
 * @internal
 */
export async function enrollFleet(
  baseUrl: string,
  options: FleetOptions,
): Promise<SimulatedAgent[]> {
  const systems = options.systems ?? 4;
  const pkg = options.pkg ?? {
    ecosystem: 'deb',
    name: 'openssl',
    version: '3.0.11-1',
  };
  const tokens: string[] = [];
  for (let s = 0; s < systems; s++) {
    const res = await fetch(`${baseUrl}/enrollment-tokens`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.portalHeaders ?? {}),
      },
      body: JSON.stringify({
        description: `fleet system ${s}`,
        ownerRef: `group:default/team-${s}`,
        systemRef: `system:default/system-${s}`,
        labels: { site: `site-${s % 2}` },
        maxUses: options.size,
        expiresInSeconds: 3600,
      }),
    });
    if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
    tokens.push(((await res.json()) as any).token);
  }
  const agents: SimulatedAgent[] = [];
  const runId = randomUUID().slice(0, 8);
  for (let i = 0; i < options.size; i++) {
    const res = await fetch(`${baseUrl}/agent/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: tokens[i % systems],
        machineId: `sim-${runId}-${i}`,
        hostname: `sim-${runId}-${i}`,
        os: { family: 'debian', name: 'debian', version: '12' },
      }),
    });
    if (!res.ok) throw new Error(`enroll: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as any;
    const agent = new SimulatedAgent(
      baseUrl,
      body.agentId,
      body.secret,
      `sim-${runId}-${i}`,
    );
    agent.versions.set(pkg.name, pkg.version);
    agent.ecosystem = pkg.ecosystem;
    for (const extra of options.extraPackages ?? [])
      agent.versions.set(extra.name, extra.version);
    if (options.uploadInventory !== false)
      await agent.uploadInventory(pkg.ecosystem);
    agents.push(agent);
  }
  return agents;
}

/**
 * Marks the endpoints as needing the patch and approved by their owners, in
 * the approvals area's tables (what its reconcile would write), so that
 * rollouts can be tested without going through the approval inbox.
 * @internal
 */
export async function seedApproved(
  knex: Knex,
  patchRef: string,
  endpointIds: string[],
  pkg: { ecosystem: string; name: string; installed: string; fixed: string },
): Promise<void> {
  const now = new Date().toISOString();
  const requestId = randomUUID();
  await knex('patch_approval_requests').insert({
    id: requestId,
    patch_ref: patchRef,
    group_ref: 'group:default/all-owners',
    stage: 'owners',
    state: 'approved',
    known_exploited: false,
    created_at: now,
    updated_at: now,
  });
  for (let i = 0; i < endpointIds.length; i += 500) {
    const part = endpointIds.slice(i, i + 500);
    await knex('patch_applicability').insert(
      part.map(id => ({
        endpoint_id: id,
        patch_ref: patchRef,
        package: pkg.name,
        ecosystem: pkg.ecosystem,
        installed_version: pkg.installed,
        fixed_version: pkg.fixed,
        state: 'needed',
        updated_at: now,
      })),
    );
    await knex('patch_approval_request_endpoints').insert(
      part.map(id => ({ request_id: requestId, endpoint_id: id })),
    );
    // An approval covers the endpoints it was given for (written by the decision).
    await knex('patch_approval_coverage').insert(
      part.map(id => ({ request_id: requestId, endpoint_id: id })),
    );
  }
}

/** Checks in every agent once, a few at a time. Returns jobs handled. @internal */
export async function checkInAll(
  agents: SimulatedAgent[],
  options: { concurrency?: number; run?: boolean; finish?: boolean } = {},
): Promise<number> {
  const concurrency = options.concurrency ?? 16;
  let handled = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < agents.length) {
        const agent = agents[next++];
        // Awaited first: `handled += await ...` would read `handled`
        // before the await and lose the other workers' counts.
        const n = await agent.checkIn({
          run: options.run,
          finish: options.finish,
        });
        handled += n;
      }
    }),
  );
  return handled;
}
