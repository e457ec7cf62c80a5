/*
 * yarn bench:report — the compliance reports at fleet scale, on PostgreSQL.
 *
 * Creates a database of its own (dropped at the end, pass or fail), runs
 * every migration, and fills it with 100,000 endpoints over 50 systems (in 5
 * domains, 100 components) and 20 groups (4 departments of 4 teams), 1,000
 * Patch entities, 15 applicability rows per endpoint (10 needed, 5 installed:
 * 1.5 M rows) and a verified install job for each installed one (500,000
 * jobs). Then it measures:
 *
 *   recompute_ms   the full recompute (catalog read, per-endpoint figures,
 *                  aggregation over the hierarchy, node rows, today's
 *                  snapshot): the median of 3 runs after one warm-up;
 *   report_p95_ms  the owner / system report (a node with its children and
 *                  its 90-day trend, what the portal opens) for random
 *                  systems and groups, 500 requests one after another.
 *
 * Options (environment): PATCHBAY_BENCH_PG (default
 * postgresql://postgres@127.0.0.1:5432), BENCH_ENDPOINTS, BENCH_PATCHES.
 * The last line reads exactly:
 *   endpoints=<n> patches=<n> report_p95_ms=<n> recompute_ms=<n>
 */
import { Entity } from '@backstage/catalog-model';
import knexFactory, { Knex } from 'knex';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseReportStore } from '../src/reports/DatabaseReportStore';
import { ReportService } from '../src/reports/ReportService';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 100_000);
const PATCHES = Number(process.env.BENCH_PATCHES ?? 1_000);
const SYSTEMS = 50;
const DOMAINS = 5;
const DEPARTMENTS = 4;
const TEAMS_PER_DEPARTMENT = 4;
const NEEDED_PER_ENDPOINT = 10;
const INSTALLED_PER_ENDPOINT = 5;
const REPORT_REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500);
const BASE =
  process.env.PATCHBAY_BENCH_PG ?? 'postgresql://postgres@127.0.0.1:5432';

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const entity = (
  kind: string,
  name: string,
  spec: object,
  relations?: any[],
): Entity => ({
  apiVersion:
    kind === 'Patch' ? 'patchbay.dev/v1alpha1' : 'backstage.io/v1alpha1',
  kind,
  metadata: { name, namespace: 'default' },
  spec: spec as any,
  ...(relations ? { relations } : {}),
});

function catalogEntities(): Entity[] {
  const out: Entity[] = [];
  for (let d = 0; d < DOMAINS; d++)
    out.push(entity('Domain', `domain-${d}`, { owner: 'dept-0' }));
  for (let s = 0; s < SYSTEMS; s++) {
    out.push(
      entity('System', `sys-${s}`, {
        owner: `team-${s % 16}`,
        domain: `domain-${s % DOMAINS}`,
      }),
    );
    // Two components per system; each runs on 20 named endpoints of it.
    for (let c = 0; c < 2; c++) {
      const deps = Array.from({ length: 20 }, (_, k) => {
        const i = s + SYSTEMS * (c * 20 + k);
        return { type: 'dependsOn', targetRef: `resource:default/ep-${i}` };
      });
      out.push(
        entity(
          'Component',
          `sys-${s}-svc-${c}`,
          {
            type: 'service',
            lifecycle: 'production',
            owner: `team-${(s + c) % 16}`,
            system: `sys-${s}`,
          },
          deps,
        ),
      );
    }
  }
  for (let d = 0; d < DEPARTMENTS; d++) {
    const teams = Array.from(
      { length: TEAMS_PER_DEPARTMENT },
      (_, t) => `team-${d * TEAMS_PER_DEPARTMENT + t}`,
    );
    out.push(
      entity('Group', `dept-${d}`, { type: 'department', children: teams }),
    );
    for (const team of teams)
      out.push(
        entity('Group', team, {
          type: 'team',
          parent: `dept-${d}`,
          children: [],
        }),
      );
  }
  const severities = [
    'critical',
    'high',
    'high',
    'medium',
    'medium',
    'medium',
    'low',
    'low',
  ];
  const now = Date.now();
  for (let p = 0; p < PATCHES; p++) {
    out.push(
      entity('Patch', `p-${p}`, {
        type: 'security',
        severity: severities[p % severities.length],
        published: new Date(
          now - ((p * 7919) % 180) * 86_400_000,
        ).toISOString(),
        ...(p % 25 === 0
          ? {
              knownExploited: true,
              kevDueDate: new Date(now - 86_400_000 * 3)
                .toISOString()
                .slice(0, 10),
            }
          : {}),
        targets: [],
        owner: 'security',
      }),
    );
  }
  out.push(
    entity('RolloutPolicy', 'standard', {
      owner: 'it-operations',
      rings: [],
      approval: { slaDays: { critical: 7, high: 30, medium: 90, low: 180 } },
    }),
  );
  return out;
}

async function seed(knex: Knex): Promise<void> {
  const t0 = performance.now();
  const groups = DEPARTMENTS * TEAMS_PER_DEPARTMENT;
  await knex.raw(
    `insert into patch_endpoints (id, machine_id, hostname, entity_ref, owner_ref, system_ref, labels,
       location, device_type, department, secret_hash, enrolled_at, last_seen_at)
     select 'ep-' || i, 'm-' || i, 'ep-' || i || '.example.com', 'resource:default/ep-' || i,
       'group:default/team-' || (i % ${groups}), 'system:default/sys-' || (i % ${SYSTEMS}), '{}',
       'site-' || (i % 7), 'server', 'dept-' || (i % ${DEPARTMENTS}), repeat('x', 64), now(), now()
     from generate_series(0, ${ENDPOINTS - 1}) i`,
  );
  const per = NEEDED_PER_ENDPOINT + INSTALLED_PER_ENDPOINT;
  await knex.raw(
    `insert into patch_applicability (endpoint_id, patch_ref, package, ecosystem, installed_version,
       fixed_version, state, updated_at)
     select 'ep-' || i, 'patch:default/p-' || ((i * 7 + k * 131) % ${PATCHES}), 'pkg-' || k, 'deb', '1.0', '1.1',
       case when k < ${NEEDED_PER_ENDPOINT} then 'needed' else 'installed' end, now()
     from generate_series(0, ${ENDPOINTS - 1}) i, generate_series(0, ${
      per - 1
    }) k`,
  );
  await knex.raw(
    `insert into patch_jobs (id, endpoint_id, kind, state, payload, attempt, max_attempts, timeout_seconds,
       patch_ref, created_by, created_at, updated_at, finished_at)
     select 'job-' || i || '-' || k, 'ep-' || i, 'install', 'succeeded', '{}', 1, 3, 600,
       'patch:default/p-' || ((i * 7 + k * 131) % ${PATCHES}), 'bench', now(), now(),
       now() - ((i + k) % 30) * interval '1 day'
     from generate_series(0, ${
       ENDPOINTS - 1
     }) i, generate_series(${NEEDED_PER_ENDPOINT}, ${per - 1}) k`,
  );
  await knex.raw('analyze');
  log(`seeded in ${Math.round(performance.now() - t0)} ms`);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  ];
}

async function main() {
  const dbName = `patchbay_bench_report_${process.pid}`;
  const admin = knexFactory({ client: 'pg', connection: BASE });
  await admin.raw(`create database ${dbName}`);
  const url = new URL(BASE);
  url.pathname = `/${dbName}`;
  const knex = knexFactory({
    client: 'pg',
    connection: url.toString(),
    pool: { min: 1, max: 5 },
  });
  try {
    await knex.migrate.latest({
      directory: path.resolve(__dirname, '../migrations'),
    });
    await seed(knex);
    const entities = catalogEntities();
    const catalog = {
      async getEntities(request: { filter?: Array<{ kind: string }> }) {
        const kinds = new Set(
          (request.filter ?? []).map(f => f.kind.toLocaleLowerCase('en-US')),
        );
        return {
          items: entities.filter(e =>
            kinds.has(e.kind.toLocaleLowerCase('en-US')),
          ),
        };
      },
    };
    const service = new ReportService({
      store: new DatabaseReportStore(knex),
      catalog: catalog as any,
      auth: { getOwnServiceCredentials: async () => ({}) } as any,
      logger: {
        debug() {},
        info() {},
        warn() {},
        error() {},
        child() {
          return this;
        },
      } as any,
    });

    await service.recompute();
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const summary = await service.recompute();
      runs.push(performance.now() - t);
      log(
        `recompute ${i + 1}: ${Math.round(runs[i])} ms (${
          summary.endpoints
        } endpoints, ${summary.nodes} nodes)`,
      );
    }
    const recomputeMs = percentile(runs, 50);

    const refs = [
      ...Array.from({ length: SYSTEMS }, (_, s) => `system:default/sys-${s}`),
      ...Array.from(
        { length: DEPARTMENTS },
        (_, d) => `group:default/dept-${d}`,
      ),
      ...Array.from(
        { length: DEPARTMENTS * TEAMS_PER_DEPARTMENT },
        (_, t) => `group:default/team-${t}`,
      ),
    ];
    const latencies: number[] = [];
    let checksum = 0;
    for (let i = 0; i < REPORT_REQUESTS; i++) {
      const ref = refs[(i * 37) % refs.length];
      const t = performance.now();
      const report = await service.nodeReport(ref);
      // Serialized as the route would, so that cost is counted too.
      checksum += JSON.stringify(report).length > 0 ? report.node.endpoints : 0;
      latencies.push(performance.now() - t);
    }
    log(
      `report p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(
        latencies,
        99,
      ).toFixed(1)} ms (checksum ${checksum})`,
    );

    // The live drill-down (missing patches against the SLA) for context.
    const drill: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await service.sla({ system: `system:default/sys-${i % SYSTEMS}` });
      drill.push(performance.now() - t);
    }
    log(`sla drill-down by system p95 ${percentile(drill, 95).toFixed(1)} ms`);

    const fleet = await service.nodeReport('fleet');
    log(`fleet: ${JSON.stringify(fleet.node)}`);
    process.stdout.write(
      `endpoints=${ENDPOINTS} patches=${PATCHES} report_p95_ms=${Math.round(
        percentile(latencies, 95),
      )} recompute_ms=${Math.round(recomputeMs)}\n`,
    );
  } finally {
    await knex.destroy();
    if (process.env.BENCH_KEEP) log(`kept database ${dbName}`);
    else await admin.raw(`drop database if exists ${dbName}`);
    await admin.destroy();
  }
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
