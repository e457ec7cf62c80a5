/*
 * One fleet run, from enrollment to a verified rollout (see main.ts for the
 * command and README.md for the method). Phases:
 *
 * 1. enroll: the agents enroll through the enrollment API (one token,
 *    `maxUses` N) with `enrollConcurrency` enrollments in flight (default
 *    64; enrollment.ts: only successes count), and each
 *    checks in at once, which asks for and uploads its full inventory. Ends
 *    when every inventory is stored (`inventories_s`, from the first
 *    enrollment).
 * 2. before: the steady fleet checks in for `steadySeconds` (at least two
 *    intervals); check-in p50/p99 and the backend's CPU per check-in.
 * 3. the operator: triggers the approvals sync (the medium patch is
 *    auto-approved by the policy), waits until the plan preview's eligible
 *    endpoints reach the needing ones, and creates the rollout (three rings:
 *    1 % pilot, 10 %, broad; zero soak, automatic promotion).
 * 4. during: until 99 % of the needing endpoints are verified
 *    (`rollout_verified_s`, from the rollout's creation; the same from the
 *    broad ring's start is printed too), then up to a grace period for the
 *    rest; progress is read from GET /rollouts/{id} every `pollSeconds` (5 s,
 *    as the portal's rollout page).
 * 5. accounting over GET /jobs: lost results (reported but not stored as
 *    such), duplicated ones (a second install for one endpoint, a job handed
 *    out again after its result, a `duplicate` answer), verified share.
 * 6. storage per 1,000 endpoints, peak RSS, and a cold full applicability
 *    recompute (its table emptied, `ApplicabilityService.refreshAll` timed
 *    in this process on the fleet's database, the backend idle).
 * Inventories change all along: 1 % of the fleet per simulated hour.
 */
import { LoggerService } from '@backstage/backend-plugin-api';
import { ApplicabilityService } from '../../src/applicability/ApplicabilityService';
import { ApplicabilityStore } from '../../src/applicability/ApplicabilityStore';
import { Fleet, FleetStats } from './agents';
import {
  cpuMs,
  FleetBackend,
  rssMb,
  startBackend,
  storageSizes,
} from './backend';
import { FleetHttp, quantile } from './http';
import { FleetInventories, PATCH_FIXED, PATCH_SOURCE } from './inventory';
import { FleetResult, FleetRunOptions, ProgressPoint } from './types';

export type { FleetResult, FleetRunOptions, ProgressPoint } from './types';

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const PATCH = 'patch:default/debian12-curl-7.88.1-10-deb12u15';
const POLICY = 'rolloutpolicy:default/fleet';

/**
 * The fewest results with which a ring without failures can pass its gate:
 * the Wilson upper bound of 0 failures in n, z²/(n + z²) at 95 %, must be
 * under the failure limit. With fewer, the gate would breach on a clean
 * first result (0 of 1 has an upper bound of 79 %).
 */
const minSampleFor = (limit: number) =>
  Math.floor(1.96 ** 2 * (1 / limit - 1)) + 1;

const ring = (name: string, percent: number | undefined, limit: number) => ({
  name,
  ...(percent ? { percent } : {}),
  soakMinutes: 0,
  minSample: minSampleFor(limit),
  successThreshold: 0.9,
  failureLimit: limit,
  promotion: 'auto',
});

/** The catalog of the run: the patch, the policy, the owning group. */
export const fleetEntities = (limits = [0.5, 0.2, 0.1]) => [
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Group',
    metadata: { name: 'fleet-ops', namespace: 'default' },
    spec: { type: 'team', children: [] },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'Patch',
    metadata: {
      name: 'debian12-curl-7.88.1-10-deb12u15',
      namespace: 'default',
    },
    spec: {
      type: 'security',
      severity: 'medium',
      owner: 'group:default/fleet-ops',
      targets: [
        {
          ecosystem: 'deb',
          release: 'debian:12',
          package: PATCH_SOURCE,
          packageType: 'source',
          fixedVersion: PATCH_FIXED,
        },
      ],
    },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'RolloutPolicy',
    metadata: { name: 'fleet', namespace: 'default' },
    spec: {
      owner: 'group:default/fleet-ops',
      // A pilot of 1 % is small: its Wilson bound with no failures needs a
      // looser limit than the larger rings.
      rings: [
        ring('pilot', 1, limits[0]),
        ring('early', 10, limits[1]),
        ring('broad', undefined, limits[2]),
      ],
      approval: {
        autoApprove: [{ severity: ['low', 'medium'], noObjectionDays: 0 }],
      },
    },
  },
];

function patchConfig(intervalSeconds: number) {
  const hourly = {
    frequency: { hours: 1 },
    timeout: { minutes: 30 },
    initialDelay: { hours: 1 },
  };
  return {
    agent: { checkInIntervalSeconds: intervalSeconds },
    approvals: {
      approvers: 'endpoint-owner',
      policy: POLICY,
      schedules: {
        sync: {
          frequency: { seconds: 60 },
          timeout: { minutes: 30 },
          initialDelay: { seconds: 5 },
        },
        // A short initial delay: a global task's worker (and so a trigger
        // over HTTP) starts only after it.
        fullRecompute: { ...hourly, initialDelay: { seconds: 5 } },
        due: hourly,
      },
    },
    rollouts: {
      driver: {
        schedule: { frequency: { seconds: 3 }, timeout: { minutes: 10 } },
      },
    },
    reports: { schedule: hourly },
  };
}

/** Triggers a scheduled task over HTTP and waits for its run to end; ms. */
async function runTask(http: FleetHttp, id: string): Promise<number> {
  const state = async () => {
    const { tasks } = await http.portal(
      'GET',
      '/.backstage/scheduler/v1/tasks',
    );
    return tasks.find((t: any) => t.taskId === id)?.taskState;
  };
  while ((await state())?.status === 'running') await sleep(100);
  const t0 = Date.now();
  await http.portal('POST', `/.backstage/scheduler/v1/tasks/${id}/trigger`);
  for (;;) {
    await sleep(100);
    const s = await state();
    const ended = s?.lastRunEndedAt ? Date.parse(s.lastRunEndedAt) : 0;
    if (s?.status !== 'running' && ended >= t0 - 1000) return Date.now() - t0;
    if (Date.now() - t0 > 1_800_000) throw new Error(`${id} did not end`);
  }
}

/**
 * The in-process recompute's logger: its info lines (the recompute's steps
 * and their times) into the run's log, warnings and errors to stderr.
 */
const recomputeLogger = (log: (line: string) => void): LoggerService => {
  const logger: LoggerService = {
    info: (message: string) => log(message),
    debug: () => {},
    warn: (message: string) => console.warn(message),
    error: (message: string) => console.error(message),
    child: () => logger,
  };
  return logger;
};

/** Runs the fleet benchmark. */
export async function runFleet(options: FleetRunOptions): Promise<FleetResult> {
  const log = options.log ?? (() => {});
  const scale = options.daySeconds / 86400;
  const interval = Math.max(0.5, Math.round(60 * scale * 10) / 10);
  const notes: string[] = [];
  log(
    `fleet: ${options.agents} agents, check-in every ${interval} s (60 s at a ${options.daySeconds} s day)`,
  );
  const inventories = new FleetInventories();
  const backend: FleetBackend = await startBackend({
    pgUrl: options.pgUrl,
    entities: fleetEntities(options.failureLimits),
    patchConfig: patchConfig(interval),
    nodeOptions: [
      ...(options.cpuProfileDir
        ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`]
        : []),
      ...(options.backendNodeOptions ?? []),
    ],
  });
  log(`backend ${backend.pid}, log ${backend.logFile}`);
  const http = new FleetHttp(backend.baseUrl, options.maxInFlight ?? 256);
  const t0 = Date.now();
  const bucketSeconds = Math.max(1, Math.round(interval / 2));
  const stats = new FleetStats(t0, bucketSeconds);
  const fleet = new Fleet(http, inventories, stats, {
    intervalSeconds: interval,
    maxInFlight: options.maxInFlight ?? 256,
    installMs: 2000,
  });
  const progress: ProgressPoint[] = [];
  // Inventory churn: 1 % of the fleet per simulated hour, spread over it.
  const churnEvery = Math.max(1000, (3600 * scale * 1000) / 60);
  let churnDebt = 0;
  const churn = setInterval(() => {
    churnDebt +=
      (fleet.agents.length * 0.01 * churnEvery) / (3600 * scale * 1000);
    const n = Math.floor(churnDebt);
    churnDebt -= n;
    fleet.churn(n);
  }, churnEvery);
  let failed = false;
  try {
    const { token } = await http.portal('POST', '/enrollment-tokens', {
      description: 'fleet benchmark',
      ownerRef: 'group:default/fleet-ops',
      systemRef: 'system:default/fleet',
      maxUses: options.agents,
      expiresInSeconds: 86400,
    });
    // 1. enroll and upload.
    const enrolled = await fleet.enroll(
      token,
      options.agents,
      options.enrollConcurrency ?? 64,
    );
    // Successful enrollments only (enrollment.ts).
    const enrollPerS = enrolled.perSecond;
    log(
      `enrolled ${enrolled.enrolled} of ${
        options.agents
      } in ${enrolled.seconds.toFixed(1)} s (${enrollPerS.toFixed(0)}/s, ${
        options.enrollConcurrency ?? 64
      } in flight; p50/p99 ${enrolled.p50Ms.toFixed(
        0,
      )}/${enrolled.p99Ms.toFixed(0)} ms; ${enrolled.limited} limited, ${
        enrolled.errors
      } errors retried, ${enrolled.failed} failed${
        enrolled.firstFailure ? `: ${enrolled.firstFailure}` : ''
      })`,
    );
    if (enrolled.failed > 0)
      notes.push(
        `${enrolled.failed} of ${options.agents} agents did not enroll (first: ${enrolled.firstFailure}); enroll_per_s counts the ${enrolled.enrolled} that did`,
      );
    let waitLog = Date.now();
    while (fleet.pendingFirstUpload > 0) {
      await sleep(500);
      if (Date.now() - waitLog > 10_000) {
        waitLog = Date.now();
        log(
          `waiting for inventories: ${fleet.pendingFirstUpload} missing, ${
            stats.uploads
          } stored, ${stats.uploadShed} shed, ${stats.checkIns} check-ins, ${
            stats.errors
          } errors${
            stats.firstError ? ` (first: ${stats.firstError})` : ''
          }${rssNote(backend.pid)}`,
        );
      }
      const limitS = options.inventoryTimeoutSeconds ?? 3600;
      if (Date.now() - t0 > limitS * 1000)
        throw new Error(
          `inventories not stored within ${limitS} s (--inventory-timeout)`,
        );
    }
    const inventoriesS = (fleet.lastFirstUploadAt - t0) / 1000;
    log(
      `every inventory stored after ${inventoriesS.toFixed(1)} s (${
        stats.uploads
      } uploads, ${stats.uploadShed} shed and retried)`,
    );

    // 2. before.
    stats.phase = 'before';
    const steady = options.steadySeconds ?? Math.max(2 * interval, 10);
    const cpu0 = cpuMs(backend.pid);
    const n0 = stats.checkIns;
    await sleep(steady * 1000);
    const cpuPerCheckin =
      (cpuMs(backend.pid) - cpu0) / Math.max(1, stats.checkIns - n0);
    const before = stats.latencies.before;
    log(
      `steady: ${before.length} check-ins in ${steady} s, p50 ${quantile(
        before,
        0.5,
      ).toFixed(1)} ms, p99 ${quantile(before, 0.99).toFixed(
        1,
      )} ms, backend ${cpuPerCheckin.toFixed(2)} CPU ms per check-in`,
    );

    // 3. the operator.
    const needing = fleet.needing();
    await runTask(http, 'patch-approvals-sync');
    let eligible = 0;
    const waitFrom = Date.now();
    for (;;) {
      const preview = await http.portal('POST', '/rollouts/preview', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      eligible = Number(preview.eligible ?? 0);
      if (eligible >= needing || Date.now() - waitFrom > 600_000) break;
      log(
        `preview: ${eligible} of ${needing} needing endpoints eligible; syncing approvals again`,
      );
      await runTask(http, 'patch-approvals-sync');
    }
    if (eligible < needing)
      notes.push(
        `only ${eligible} of ${needing} needing endpoints were eligible`,
      );
    const created = await http.portal('POST', '/rollouts', {
      patchRef: PATCH,
      policyRef: POLICY,
    });
    const rolloutId = created.rollout.id;
    const rolloutStart = Date.now();
    stats.phase = 'during';
    log(
      `rollout ${rolloutId} started: ${eligible} eligible of ${needing} needing`,
    );

    // 4. during.
    const deadline =
      rolloutStart + (options.rolloutTimeoutSeconds ?? 1800) * 1000;
    let at99: number | undefined;
    let broadStart: number | undefined;
    let lastLog = 0;
    let pollFailures = 0;
    // As an operator's open page: every 5 s by default.
    const pollMs = Math.max(0.1, options.pollSeconds ?? 5) * 1000;
    for (;;) {
      await sleep(pollMs);
      if (backend.exitCode() !== null)
        throw new Error(
          `the backend exited (code ${backend.exitCode()}) during the rollout; its log: ${
            backend.logFile
          }`,
        );
      let detail: any;
      try {
        detail = await http.portal('GET', `/rollouts/${rolloutId}`);
      } catch (error) {
        // As an operator's page would: note it and look again. A backend
        // that answers nothing until the deadline ends the wait there.
        pollFailures++;
        if (pollFailures === 1 || pollFailures % 30 === 0)
          log(`rollout page not answered (${pollFailures}): ${error}`);
        if (Date.now() > deadline) break;
        continue;
      }
      const verified = Number(detail.progress?.verified ?? 0);
      progress.push({
        t: (Date.now() - t0) / 1000,
        verified,
        planned: Number(detail.progress?.planned ?? 0),
      });
      const broad = (detail.waves ?? []).find(
        (w: any) => w.ring === 'broad' && w.startedAt,
      );
      if (broad && broadStart === undefined)
        broadStart = Date.parse(broad.startedAt);
      if (at99 === undefined && verified >= 0.99 * needing) at99 = Date.now();
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(
          `rollout: ${verified}/${needing} verified, state ${
            detail.state
          }, waves ${(detail.waves ?? [])
            .map((w: any) => `${w.ring}:${w.state}:${w.size}`)
            .join(' ')}${rssNote(backend.pid)}`,
        );
      }
      // A gate that stopped the rollout (a breach, or a hold: too few
      // results to decide) pauses it until an operator acts: no point in
      // waiting for the deadline.
      const stopped = (detail.waves ?? []).find(
        (w: any) => w.state === 'breached' || w.state === 'held',
      );
      if (stopped) {
        notes.push(
          `wave ${stopped.ring} ${stopped.state}: ${JSON.stringify(
            stopped.gate,
          )}`,
        );
        log(notes[notes.length - 1]);
        break;
      }
      const grace =
        !options.untilAllVerified &&
        at99 !== undefined &&
        Date.now() - at99 > Math.max(3 * interval * 1000, 10_000);
      if (verified >= needing || grace || Date.now() > deadline) break;
    }
    if (pollFailures > 0)
      notes.push(
        `the rollout page did not answer ${pollFailures} of the operator's polls`,
      );
    stats.phase = 'after';
    await fleet.stop();
    clearInterval(churn);

    // 5. accounting.
    const jobs: any[] = [];
    for (let offset = 0; ; offset += 10_000) {
      const page = await http.portal(
        'GET',
        `/jobs?rolloutId=${rolloutId}&limit=10000&offset=${offset}`,
      );
      jobs.push(...page.items);
      if (page.items.length < 10_000) break;
    }
    const installs = jobs.filter(j => j.kind === 'install');
    const byId = new Map(installs.map(j => [j.id, j]));
    let lost = 0;
    for (const [id, r] of stats.reported) {
      const job = byId.get(id);
      if (r.status !== 200 || !job || job.state !== 'succeeded') lost++;
    }
    const endpointsWithInstall = new Map<string, number>();
    for (const j of installs)
      endpointsWithInstall.set(
        j.endpointId,
        (endpointsWithInstall.get(j.endpointId) ?? 0) + 1,
      );
    let duplicated = 0;
    for (const n of endpointsWithInstall.values()) duplicated += n - 1;
    duplicated += stats.leasedAfterResult;
    for (const r of stats.reported.values()) if (r.duplicate) duplicated++;
    const verifiedEndpoints = new Set(
      installs
        .filter(j => j.verification === 'verified')
        .map(j => j.endpointId),
    );
    const verifiedPct = (100 * verifiedEndpoints.size) / Math.max(1, needing);
    log(
      `jobs: ${installs.length} installs, ${stats.reported.size} reported, ${verifiedEndpoints.size} endpoints verified`,
    );
    log(
      `errors: ${stats.errors}${
        stats.firstError ? ` (first: ${stats.firstError})` : ''
      }; ${
        http.retried
      } request(s) sent again after a reset of a reused socket`,
    );
    for (const j of installs.filter(i => !stats.reported.has(i.id)))
      log(
        `not reported: job ${j.id} endpoint ${j.endpointId} ${
          j.state
        } attempt ${j.attempt} verification ${j.verification}, handed out ${
          stats.leased.get(j.id) ?? 0
        } time(s); ${JSON.stringify(j)}`,
      );

    // 6. storage, memory, cold recompute.
    const rss = rssMb(backend.pid);
    const knex = backend.knex();
    const sizes = await storageSizes(knex);
    let coldMs = NaN;
    try {
      const appl = await knex.raw(
        `select count(*)::int as n from patch_applicability`,
      );
      log(
        `cold recompute: emptying ${appl.rows[0].n} applicability rows, then a full recompute`,
      );
      await knex.raw('delete from patch_applicability');
      // The recompute itself, timed here on the fleet's database (as
      // bench:applicability does): the scheduled task would add the
      // scheduler's poll (0-5 s after a trigger) and the approvals' reconcile.
      const service = new ApplicabilityService(
        new ApplicabilityStore(knex),
        recomputeLogger(log),
      );
      const coldStart = Date.now();
      await service.refreshAll();
      coldMs = Date.now() - coldStart;
      const after = await knex.raw(
        `select count(*)::int as n from patch_applicability`,
      );
      log(`cold recompute: ${coldMs} ms, ${after.rows[0].n} rows written`);
    } catch (error) {
      notes.push(`cold recompute not measured: ${error}`);
    }
    const all = [...stats.latencies.before, ...stats.latencies.during];
    const buckets = stats.buckets.map((b, i) => ({
      t: i * bucketSeconds,
      p50: b?.length ? quantile(b, 0.5) : NaN,
      p99: b?.length ? quantile(b, 0.99) : NaN,
      n: b?.length ?? 0,
    }));
    return {
      agents: options.agents,
      needing,
      enrollPerS,
      inventoriesS,
      checkinP50Before: quantile(stats.latencies.before, 0.5),
      checkinP99Before: quantile(stats.latencies.before, 0.99),
      checkinP50During: quantile(stats.latencies.during, 0.5),
      checkinP99During: quantile(stats.latencies.during, 0.99),
      checkinP99: quantile(all, 0.99),
      rolloutStartT: (rolloutStart - t0) / 1000,
      broadStartT: broadStart ? (broadStart - t0) / 1000 : undefined,
      rolloutVerifiedS: at99 ? (at99 - rolloutStart) / 1000 : NaN,
      broadVerifiedS:
        at99 && broadStart ? (at99 - broadStart) / 1000 : undefined,
      verifiedPct,
      lost,
      duplicated,
      backendCpuMsPerCheckin: cpuPerCheckin,
      backendRssMb: rss.peak,
      dbMbPer1k: sizes.relevantBytes / 1048576 / (options.agents / 1000),
      dbTotalMbPer1k: sizes.databaseBytes / 1048576 / (options.agents / 1000),
      tables: sizes.tables,
      coldRecomputeMs: coldMs,
      shed: stats.shed,
      uploadShed: stats.uploadShed,
      changes: stats.changes,
      changesRefused: stats.changesRefused,
      uploadBytes: stats.uploadBytes,
      errors: stats.errors,
      firstError: stats.firstError,
      latenessP99: quantile(stats.lateness, 0.99),
      bucketSeconds,
      buckets,
      progress,
      notes,
    };
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    clearInterval(churn);
    await fleet.stop().catch(() => undefined);
    http.destroy();
    await backend.stop();
    await backend.cleanup({ keepLog: failed });
  }
}

/** The last line of the benchmark. */
export function lastLine(r: FleetResult): string {
  const n = (v: number | undefined, digits = 0) =>
    v === undefined || Number.isNaN(v) ? 'NaN' : v.toFixed(digits);
  return `agents=${r.agents} enroll_per_s=${n(r.enrollPerS)} inventories_s=${n(
    r.inventoriesS,
  )} checkin_p99_ms=${n(r.checkinP99)} rollout_verified_s=${n(
    r.rolloutVerifiedS,
  )} verified_pct=${n(r.verifiedPct, 1)} lost=${r.lost} duplicated=${
    r.duplicated
  } backend_rss_mb=${n(r.backendRssMb)} db_mb_per_1k=${n(
    r.dbMbPer1k,
    1,
  )} cold_recompute_ms=${n(r.coldRecomputeMs)}`;
}

/** The backend's RSS now and its peak so far, for the progress lines. */
function rssNote(pid: number): string {
  const rss = rssMb(pid);
  return `; backend RSS ${rss.now.toFixed(0)} MB (peak ${rss.peak.toFixed(0)})`;
}
