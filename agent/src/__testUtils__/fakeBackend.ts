import {
  createServer,
  IncomingMessage,
  Server,
  ServerResponse,
} from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import { createHash, randomUUID } from 'node:crypto';
import {
  applyInventoryChange,
  canonicalInventory,
} from '@patchbay/plugin-patch-common';

/** A job as the fake backend keeps it. */
export interface FakeJob {
  id: string;
  endpointId: string;
  kind: 'scan' | 'install' | 'verify' | 'rollback';
  payload: Record<string, unknown>;
  attempt: number;
  state: 'queued' | 'leased' | 'running' | 'succeeded' | 'failed' | 'timed_out';
  timeoutSeconds: number;
}

/**
 * A small, real HTTP server on 127.0.0.1 that implements the agent API
 * contract (enroll, check-in, inventory, start, result with idempotency on
 * (job, attempt)), with dials to misbehave. For the agent's own tests only.
 */
export class FakeBackend {
  readonly tokens = new Set<string>(['good-token']);
  readonly agents = new Map<
    string,
    {
      secret: string;
      machineId: string;
      inventoryHash?: string;
      /** The stored inventory, as the backend rebuilds it for a change. */
      packages?: any[];
      pending?: any[];
    }
  >();
  readonly jobs = new Map<string, FakeJob>();
  /** Every result report, duplicates included. */
  readonly reports: Array<{ jobId: string; body: any; duplicate: boolean }> =
    [];
  readonly stored = new Map<string, any>();
  /** Whole inventories stored (PUT). */
  readonly inventories: any[] = [];
  /** Changes stored (PATCH), and changes refused with a 409. */
  readonly changes: any[] = [];
  changesRefused = 0;
  checkIns = 0;
  checkInBodies: any[] = [];
  /** Every enrollment request body (tokens and secrets included: test data only). */
  enrollBodies: any[] = [];
  intervalSeconds = 0.05;
  maintenanceWindows: unknown[] | undefined;
  /** Answer the next n check-ins with this status (and Retry-After). */
  private failures: Array<{ status: number; retryAfter?: number }> = [];
  /** Answer the next n inventory uploads with 429 and this Retry-After (shed, as the backend does). */
  private shedUploads: number[] = [];
  /** Inventory uploads shed so far. */
  uploadsShed = 0;
  /** While true, connections are destroyed without an answer (a network cut). */
  down = false;
  /** Lease jobs even when the agent asked for none (a misbehaving server). */
  ignoreMaxJobs = false;
  private server?: Server;
  private sockets = new Set<Socket>();
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      if (this.down) {
        req.socket.destroy();
        return;
      }
      this.handle(req, res).catch(error => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { name: 'Error', message: String(error) } }),
        );
      });
    });
    this.server.on('connection', s => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>(resolve =>
      this.server!.listen(0, '127.0.0.1', resolve),
    );
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/api/patch`;
    return this;
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>(
      resolve => this.server?.close(() => resolve()) ?? resolve(),
    );
  }

  failCheckIns(n: number, status: number, retryAfter?: number) {
    for (let i = 0; i < n; i++) this.failures.push({ status, retryAfter });
  }

  /** Sheds the next n inventory uploads: 429 with Retry-After. */
  shedInventories(n: number, retryAfter: number) {
    for (let i = 0; i < n; i++) this.shedUploads.push(retryAfter);
  }

  /** Cuts the network: open keep-alive connections die too. */
  cut() {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore() {
    this.down = false;
  }

  addJob(
    endpointId: string,
    kind: FakeJob['kind'],
    payload: Record<string, unknown>,
    timeoutSeconds = 60,
  ): FakeJob {
    const job: FakeJob = {
      id: randomUUID(),
      endpointId,
      kind,
      payload,
      attempt: 0,
      state: 'queued',
      timeoutSeconds,
    };
    this.jobs.set(job.id, job);
    return job;
  }

  /** Hands an already-leased job out again (what a backend does when a lease lapses). */
  releaseLease(jobId: string, sameAttempt = true) {
    const job = this.jobs.get(jobId)!;
    job.state = 'queued';
    if (sameAttempt) job.attempt -= 1;
  }

  private json(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private error(
    res: ServerResponse,
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ) {
    this.json(res, status, { error: { name: 'Error', message } }, headers);
  }

  private async body(req: IncomingMessage): Promise<any> {
    let text = '';
    for await (const chunk of req) text += chunk;
    return text ? JSON.parse(text) : {};
  }

  private auth(req: IncomingMessage): string | undefined {
    const m = /^Agent ([^.]+)\.(.+)$/.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    const agent = this.agents.get(m[1]);
    return agent && agent.secret === m[2] ? m[1] : undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '').replace(/^\/api\/patch/, '');
    const body = await this.body(req);
    if (req.method === 'POST' && path === '/agent/v1/enroll') {
      this.enrollBodies.push(body);
      if (!this.tokens.has(body.token))
        return this.error(res, 401, 'Invalid enrollment token');
      const existing = [...this.agents.entries()].find(
        ([, a]) => a.machineId === body.machineId,
      );
      const agentId = existing?.[0] ?? `ep-${this.agents.size + 1}`;
      const secret = randomUUID();
      this.agents.set(agentId, { secret, machineId: body.machineId });
      return this.json(res, 201, {
        agentId,
        secret,
        endpointRef: `resource:default/${body.hostname}`,
        checkInIntervalSeconds: this.intervalSeconds,
      });
    }
    if (
      !/^\/agent\/v1\/(checkin|inventory|jobs\/[^/]+\/(start|result))$/.test(
        path,
      )
    ) {
      return this.error(res, 404, `No route ${req.method} ${path}`);
    }
    const agentId = this.auth(req);
    if (!agentId) return this.error(res, 401, 'Agent authentication failed');
    const agent = this.agents.get(agentId)!;

    if (req.method === 'POST' && path === '/agent/v1/checkin') {
      this.checkIns++;
      this.checkInBodies.push(body);
      // As the contract says: a missing or different machine id is a possible clone.
      if (body.machineId !== agent.machineId) {
        return this.error(
          res,
          401,
          'This credential belongs to another machine',
        );
      }
      const failure = this.failures.shift();
      if (failure) {
        return this.error(
          res,
          failure.status,
          'Busy',
          failure.retryAfter !== undefined
            ? { 'retry-after': String(failure.retryAfter) }
            : {},
        );
      }
      const max = this.ignoreMaxJobs ? 16 : body.maxJobs ?? 1;
      const leased = [...this.jobs.values()]
        .filter(j => j.endpointId === agentId && j.state === 'queued')
        .slice(0, max);
      for (const j of leased) {
        j.state = 'leased';
        j.attempt += 1;
      }
      return this.json(res, 200, {
        inventoryRequested: agent.inventoryHash !== body.inventoryHash,
        jobs: leased.map(j => ({
          id: j.id,
          attempt: j.attempt,
          kind: j.kind,
          leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
          timeoutSeconds: j.timeoutSeconds,
          payload: j.payload,
        })),
        nextCheckInSeconds: this.intervalSeconds,
        ...(this.maintenanceWindows
          ? { maintenanceWindows: this.maintenanceWindows }
          : {}),
      });
    }
    if (
      (req.method === 'PUT' || req.method === 'PATCH') &&
      path === '/agent/v1/inventory'
    ) {
      const shed = this.shedUploads.shift();
      if (shed !== undefined) {
        this.uploadsShed++;
        return this.error(res, 429, 'Too many uploads in flight', {
          'retry-after': String(shed),
        });
      }
      if (req.method === 'PATCH') {
        // As the backend: applied to the stored inventory when it is the
        // base, stored when the result hashes to the agent's hash.
        const digest = (packages: any[], pending: any[]) =>
          createHash('sha256')
            .update(canonicalInventory(packages, pending))
            .digest('hex');
        const packages =
          agent.packages &&
          agent.inventoryHash === body.base &&
          digest(agent.packages, agent.pending ?? []) === body.base
            ? applyInventoryChange(agent.packages, body)
            : undefined;
        if (!packages || digest(packages, body.pending) !== body.hash) {
          this.changesRefused++;
          return this.error(res, 409, 'Send the whole inventory');
        }
        agent.inventoryHash = body.hash;
        agent.packages = packages;
        agent.pending = body.pending;
        this.changes.push(body);
        return this.json(res, 200, {
          accepted: true,
          packages: packages.length,
          pending: body.pending.length,
        });
      }
      agent.inventoryHash = body.hash;
      agent.packages = body.packages;
      agent.pending = body.pending;
      this.inventories.push(body);
      return this.json(res, 200, {
        accepted: true,
        packages: body.packages.length,
        pending: body.pending.length,
      });
    }
    const m = /^\/agent\/v1\/jobs\/([^/]+)\/(start|result)$/.exec(path);
    if (req.method === 'POST' && m) {
      const job = this.jobs.get(decodeURIComponent(m[1]));
      if (!job || job.endpointId !== agentId)
        return this.error(res, 404, 'No such job');
      const key = `${job.id}#${body.attempt}`;
      if (m[2] === 'start') {
        if (
          body.attempt !== job.attempt ||
          !['leased', 'running'].includes(job.state)
        ) {
          return this.error(res, 409, 'The lease is gone');
        }
        job.state = 'running';
        return this.json(res, 200, {
          jobId: job.id,
          attempt: job.attempt,
          state: job.state,
        });
      }
      if (this.stored.has(key)) {
        this.reports.push({ jobId: job.id, body, duplicate: true });
        return this.json(res, 200, {
          jobId: job.id,
          attempt: body.attempt,
          state: job.state,
          duplicate: true,
        });
      }
      if (body.attempt !== job.attempt)
        return this.error(res, 409, 'Not the current attempt');
      this.stored.set(key, body);
      this.reports.push({ jobId: job.id, body, duplicate: false });
      job.state = body.status;
      return this.json(res, 200, {
        jobId: job.id,
        attempt: body.attempt,
        state: job.state,
        duplicate: false,
      });
    }
    return this.error(res, 404, `No route ${req.method} ${path}`);
  }
}
