/*
 * The simulated fleet, osquery-perf style: N agents in this one process,
 * each only a few fields (credentials, base image, drift seed, inventory
 * generation, whether the patch is installed), driven by a timing wheel.
 *
 * Each agent does what the real agent does, over the agent API only:
 * enroll with the token; check in with its inventory hash and `maxJobs: 1`
 * at the `nextCheckInSeconds` the server answers (the interval is the
 * backend's `patch.agent.checkInIntervalSeconds`, scaled by the simulated
 * day); upload its full inventory when the server asks for it
 * (`inventoryRequested`) — shed, it still runs the answer's jobs and checks
 * in again after the `Retry-After`, holding none of the simulator's
 * in-flight places while it waits; and for a
 * leased job: start it, take the simulated provider's install time (2 s ±
 * 50 %), report per package, then check in again a second later, whose
 * answer asks for the new inventory at the agent's turn (which is what
 * verifies the install on the server), as the real agent does
 * (agent/src/Agent.ts: after a job, the next check-in comes after
 * `minIntervalSeconds`, and the inventory goes when asked). Until the
 * twenty-ninth session the simulator uploaded right after the result and
 * retried every refusal: at 100,000 agents 1.1 million refused uploads in a
 * broad ring that the real agent does not send. A 429 on a check-in is retried after
 * its `Retry-After`. As the real agent, a check-in that fails in any way
 * (a network error, a 5xx) is followed by the next one an interval later,
 * and a result that could not be delivered is sent again (the agent's
 * outbox): an agent never stops checking in, whatever one request met.
 *
 * What is recorded: every check-in's latency (from the moment its request
 * has a socket) with a phase tag and a time bucket, how late the wheel
 * dispatched it, and every job handed out and reported, to count lost and
 * duplicated results at the end.
 */
import { FleetInventories, InventoryState } from './inventory';
import { EnrollOutcome, enrollAgents } from './enrollment';
import { Answer, FleetHttp } from './http';

/** One simulated agent. */
interface Agent {
  index: number;
  auth: string;
  machineId: string;
  image: number;
  seed: number;
  generation: number;
  patched: boolean;
  /** Hash of the current inventory. */
  hash: string;
  /** Hash of the inventory the server last stored. */
  stored?: string;
  /** What made the inventory the server last stored (a change's base). */
  storedState?: InventoryState;
  /** An install of the rollout is running: the agent checks in meanwhile. */
  installing: boolean;
  /**
   * The wheel slot of the agent's next check-in: an agent scheduled again
   * (a second after a job) leaves its earlier slot, which is skipped.
   */
  slot?: number;
  /** A check-in of the agent is out (one at a time, as the real agent). */
  turning?: boolean;
  /** Check in a second after the one that is out (a job ended meanwhile). */
  soon?: boolean;
}

/** A reported job, for the final accounting. */
export interface ReportedJob {
  agent: number;
  status: number;
  /**
   * The server answered `duplicate` to the first post of the result (a
   * repeat after a post that got no answer is the server's deduplication
   * at work, not a duplicate).
   */
  duplicate: boolean;
}

/** Counters and series of a run. */
export class FleetStats {
  phase: 'enroll' | 'before' | 'during' | 'after' = 'enroll';
  readonly latencies: Record<string, number[]> = {
    enroll: [],
    before: [],
    during: [],
    after: [],
  };
  /** Check-in latencies by time bucket (seconds since start / bucketSeconds). */
  readonly buckets: number[][] = [];
  checkIns = 0;
  shed = 0;
  errors = 0;
  uploads = 0;
  uploadShed = 0;
  uploadBytes = 0;
  /** Uploads stored as a change to the stored inventory (PATCH). */
  changes = 0;
  /** Changes the backend could not apply (409), then sent whole. */
  changesRefused = 0;
  firstError?: string;
  /** How late the wheel dispatched check-ins, ms (sampled). */
  readonly lateness: number[] = [];
  /** Jobs handed out: job id → times. */
  readonly leased = new Map<string, number>();
  /** Jobs handed out again after the agent reported their result. */
  leasedAfterResult = 0;
  /** Results reported: job id → answer. */
  readonly reported = new Map<string, ReportedJob>();
  /** Install jobs per agent. */
  readonly installsOf = new Map<number, number>();

  constructor(readonly t0: number, readonly bucketSeconds: number) {}

  record(res: Answer) {
    this.checkIns++;
    this.latencies[this.phase].push(res.ms);
    const b = Math.floor((Date.now() - this.t0) / 1000 / this.bucketSeconds);
    (this.buckets[b] ??= []).push(res.ms);
  }

  error(what: string) {
    this.errors++;
    this.firstError ??= what;
  }
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** The fleet: enrollment, the check-in loop, jobs. */
export class Fleet {
  readonly agents: Agent[] = [];
  private readonly wheel = new Map<number, number[]>();
  private wheelAt = 0;
  private readonly slotMs = 25;
  private readonly backlog: Array<{ i: number; due: number; slot: number }> =
    [];
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  private running = false;
  private readonly jobsRunning = new Set<Promise<void>>();
  /** Jobs being run now (a job handed out again meanwhile is run once). */
  private readonly jobsInHand = new Set<string>();
  /** Enrolled agents whose first inventory is not stored yet. */
  pendingFirstUpload = 0;
  /** When the last first inventory was stored. */
  lastFirstUploadAt = 0;

  constructor(
    private readonly http: FleetHttp,
    private readonly inventories: FleetInventories,
    readonly stats: FleetStats,
    private readonly options: {
      /** Base check-in interval in real seconds (the backend's setting). */
      intervalSeconds: number;
      /** Most requests in flight at once (the socket pool). */
      maxInFlight: number;
      /** Mean install time, ms. */
      installMs: number;
    },
  ) {}

  /**
   * Enrolls `count` agents with `concurrency` enrollments in flight
   * (enrollment.ts); each enrolled agent checks in at once, as the real
   * agent does after enrolling.
   */
  async enroll(
    token: string,
    count: number,
    concurrency: number,
  ): Promise<EnrollOutcome> {
    this.start();
    return await enrollAgents(this.http, {
      token,
      count,
      concurrency,
      onEnrolled: (i, auth, machineId) => this.add(i, auth, machineId),
    });
  }

  private add(i: number, auth: string, machineId: string) {
    const image = i % this.inventories.imageCount;
    const seed = 7919 * (i + 1);
    const agent: Agent = {
      index: i,
      auth,
      machineId,
      image,
      seed,
      generation: 0,
      patched: false,
      hash: this.inventories.hashOf({
        image,
        seed,
        generation: 0,
        patched: false,
      }),
      installing: false,
    };
    this.agents[i] = agent;
    this.pendingFirstUpload++;
    // The first check-in right away: it asks for the inventory.
    this.schedule(i, Date.now());
  }

  /** Endpoints whose inventory needs the patch (and so the rollout). */
  needing(): number {
    return this.agents.filter(a => this.inventories.imageNeedsPatch(a.image))
      .length;
  }

  /** Changes the inventory of `count` random agents (a new generation). */
  churn(count: number) {
    for (let k = 0; k < count && this.agents.length > 0; k++) {
      const a = this.agents[Math.floor(Math.random() * this.agents.length)];
      if (!a) continue;
      a.generation++;
      a.hash = this.inventories.hashOf(a);
    }
  }

  private schedule(i: number, at: number) {
    // Never into a slot the wheel has passed already.
    const slot = Math.max(Math.floor(at / this.slotMs), this.wheelAt);
    const agent = this.agents[i];
    if (agent) agent.slot = slot;
    let list = this.wheel.get(slot);
    if (!list) this.wheel.set(slot, (list = []));
    list.push(i);
  }

  private start() {
    if (this.running) return;
    this.running = true;
    this.wheelAt = Math.floor(Date.now() / this.slotMs);
    this.timer = setInterval(() => this.tick(), this.slotMs);
  }

  private tick() {
    const now = Date.now();
    const nowSlot = Math.floor(now / this.slotMs);
    for (; this.wheelAt <= nowSlot; this.wheelAt++) {
      const list = this.wheel.get(this.wheelAt);
      if (!list) continue;
      this.wheel.delete(this.wheelAt);
      for (const i of list)
        this.backlog.push({
          i,
          due: this.wheelAt * this.slotMs,
          slot: this.wheelAt,
        });
    }
    this.pump();
  }

  private pump() {
    while (
      this.running &&
      this.backlog.length > 0 &&
      this.inFlight < this.options.maxInFlight
    ) {
      const { i, due, slot } = this.backlog.shift()!;
      const a = this.agents[i];
      // Scheduled again while it waited here (a second after a job): the
      // later entry is the one that counts.
      if (a.slot !== slot) continue;
      // One check-in of an agent at a time, as the real agent's loop: due
      // while its last one is still out, it comes a second after that one.
      if (a.turning) {
        a.soon = true;
        continue;
      }
      if (Math.random() < 0.05) this.stats.lateness.push(Date.now() - due);
      this.inFlight++;
      a.turning = true;
      this.turn(a)
        .catch(e => {
          // The real agent checks in again an interval later, whatever
          // went wrong; an agent that stopped here would never lease its
          // rollout's job, and its wave would wait for it.
          this.stats.error(`agent ${i}: ${e}`);
          if (this.running)
            this.schedule(i, Date.now() + this.nextIn(undefined));
        })
        .finally(() => {
          a.turning = false;
          if (a.soon) this.checkInSoon(a);
          this.inFlight--;
          this.pump();
        });
    }
  }

  /** The agent's next check-in a second on (plus up to 10 %), as after a job. */
  private checkInSoon(a: Agent) {
    a.soon = false;
    if (this.running) this.schedule(a.index, Date.now() + this.nextIn(1));
  }

  /** Stops the check-ins and waits for the running ones and their jobs. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    while (this.inFlight > 0 || this.jobsRunning.size > 0) {
      await Promise.all([...this.jobsRunning]);
      await sleep(50);
    }
  }

  /**
   * The next check-in: after a Retry-After as the real agent (at least what
   * the server asked, plus up to 10 %), else after the interval.
   */
  private nextIn(retryAfter: number | undefined): number {
    if (retryAfter !== undefined)
      return retryAfter * 1000 * (1 + 0.1 * Math.random());
    return this.options.intervalSeconds * 1000;
  }

  /** One check-in of one agent and what follows from it. */
  private async turn(a: Agent): Promise<void> {
    const res = await this.http.request(
      'POST',
      '/agent/v1/checkin',
      JSON.stringify({
        inventoryHash: a.hash,
        maxJobs: 1,
        machineId: a.machineId,
      }),
      { authorization: a.auth },
    );
    if (res.status === 429) {
      this.stats.shed++;
      this.schedule(a.index, Date.now() + this.nextIn(res.retryAfter));
      return;
    }
    if (res.status !== 200) {
      this.stats.error(`check-in ${res.status} ${res.body.slice(0, 200)}`);
      this.schedule(a.index, Date.now() + this.nextIn(undefined));
      return;
    }
    this.stats.record(res);
    const body = JSON.parse(res.body) as {
      inventoryRequested: boolean;
      jobs: Array<{ id: string; attempt: number; kind: string; payload: any }>;
      nextCheckInSeconds: number;
    };
    if (
      process.env.FLEET_DEBUG &&
      a.stored === undefined &&
      !body.inventoryRequested
    )
      this.stats.error(
        `not asked: agent ${a.index} hash ${a.hash} ${res.body.slice(0, 300)}`,
      );
    // As the real agent: one upload; shed, the answer's jobs still run and
    // the agent comes back after the Retry-After (not waiting in the turn).
    let retryAfter: number | undefined;
    if (body.inventoryRequested && !a.installing) {
      const upload = await this.upload(a);
      if (typeof upload === 'number') retryAfter = upload;
    }
    for (const job of body.jobs) {
      const run = this.runJob(a, job).catch(e => this.stats.error(String(e)));
      this.jobsRunning.add(run);
      run.finally(() => this.jobsRunning.delete(run));
    }
    if (this.running)
      this.schedule(
        a.index,
        Date.now() +
          (retryAfter !== undefined
            ? this.nextIn(retryAfter)
            : body.nextCheckInSeconds * 1000),
      );
  }

  /**
   * Uploads the agent's inventory once, as the real agent when its check-in
   * asked: a change to the inventory the server stored, whole the first
   * time or when the server cannot apply the change. True when stored, else
   * the Retry-After (seconds) of a shed upload, or false.
   */
  private async upload(a: Agent): Promise<true | number | false> {
    const state: InventoryState = {
      image: a.image,
      seed: a.seed,
      generation: a.generation,
      patched: a.patched,
    };
    const hash = a.hash;
    let body: string | Buffer | undefined;
    let res: Answer | undefined;
    if (a.storedState && a.stored !== hash) {
      body = this.inventories.change(a.storedState, state, a.stored!, hash);
      res = await this.http.request('PATCH', '/agent/v1/inventory', body, {
        authorization: a.auth,
      });
      if (res.status === 409 || res.status === 400) {
        this.stats.changesRefused++;
        res = undefined;
      } else if (res.status === 200) this.stats.changes++;
    }
    if (!res) {
      body = this.inventories.body(state, hash);
      res = await this.http.request('PUT', '/agent/v1/inventory', body, {
        authorization: a.auth,
      });
    }
    if (res.status === 200) {
      this.stats.uploads++;
      this.stats.uploadBytes += Buffer.byteLength(body!);
      if (a.stored === undefined) {
        this.pendingFirstUpload--;
        this.lastFirstUploadAt = Date.now();
      }
      a.stored = hash;
      a.storedState = state;
      return true;
    }
    if (res.status === 429) {
      this.stats.uploadShed++;
      return res.retryAfter ?? 1;
    }
    this.stats.error(`inventory ${res.status} ${res.body.slice(0, 200)}`);
    return false;
  }

  /** Runs a leased job as the simulated provider would, then reports it. */
  private async runJob(
    a: Agent,
    job: { id: string; attempt: number; kind: string; payload: any },
  ): Promise<void> {
    const times = (this.stats.leased.get(job.id) ?? 0) + 1;
    this.stats.leased.set(job.id, times);
    if (job.kind === 'install')
      this.stats.installsOf.set(
        a.index,
        (this.stats.installsOf.get(a.index) ?? 0) + 1,
      );
    if (this.stats.reported.has(job.id)) {
      this.stats.leasedAfterResult++; // handed out again after its result
      return;
    }
    // Handed out again while it runs: the agent runs it once. Handed out
    // again after an attempt that never started (its lease ran out), it is
    // a new attempt, run as any other.
    if (this.jobsInHand.has(job.id)) return;
    this.jobsInHand.add(job.id);
    a.installing = true;
    try {
      const started = await this.retrying(() =>
        this.http.request(
          'POST',
          `/agent/v1/jobs/${job.id}/start`,
          JSON.stringify({ attempt: job.attempt }),
          { authorization: a.auth },
        ),
      );
      if (started.status !== 200) {
        if (started.status !== 409)
          this.stats.error(`start ${started.status} ${started.body}`);
        return;
      }
      const startedAt = new Date().toISOString();
      await sleep(this.options.installMs * (0.5 + Math.random()));
      const listed: Array<{ name: string; version: string }> =
        Array.isArray(job.payload?.packages) && job.payload.packages.length
          ? job.payload.packages
          : [{ name: job.payload?.package, version: job.payload?.version }];
      if (job.kind === 'install') a.patched = true;
      a.hash = this.inventories.hashOf(a);
      // Kept until delivered, as in the agent's outbox: the server stores a
      // result once per (job, attempt) and answers a repeat as a duplicate.
      let posts = 0;
      const res = await this.retrying(() => {
        posts++;
        return this.http.request(
          'POST',
          `/agent/v1/jobs/${job.id}/result`,
          JSON.stringify({
            attempt: job.attempt,
            status: 'succeeded',
            startedAt,
            finishedAt: new Date().toISOString(),
            installedVersion: listed[0]?.version,
            packages: listed.map(p => ({
              name: p.name,
              after: p.version,
              state: 'fixed',
            })),
          }),
          { authorization: a.auth },
        );
      });
      let duplicate = false;
      if (res.status === 200)
        duplicate = posts === 1 && Boolean(JSON.parse(res.body).duplicate);
      else this.stats.error(`result ${res.status} ${res.body.slice(0, 200)}`);
      this.stats.reported.set(job.id, {
        agent: a.index,
        status: res.status,
        duplicate,
      });
    } finally {
      a.installing = false;
      this.jobsInHand.delete(job.id);
      // As the real agent after a job, whatever its outcome: the next
      // check-in a second on, which asks for the new inventory that
      // verifies it (after the check-in out now, if one is).
      if (a.turning) a.soon = true;
      else this.checkInSoon(a);
    }
  }

  /**
   * A job's request, sent again after a network error or a 5xx (the
   * agent's retry of its outbox), up to a few minutes; other answers are
   * the caller's.
   */
  private async retrying(send: () => Promise<Answer>): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await send();
        if (res.status < 500 || attempt >= 30) return res;
        this.stats.error(`job request ${res.status} ${res.body.slice(0, 200)}`);
      } catch (error) {
        if (attempt >= 30) throw error;
        this.stats.error(`job request: ${error}`);
      }
      await sleep(Math.min(10_000, 500 * attempt));
    }
  }
}
