/*
 * Applicability benchmark: `yarn bench:applicability [--endpoints N]
 * [--packages P] [--patches M] [--universe U] [--pg postgresql://...]`.
 *
 * 1. Creates a database of its own (patchbay_bench_appl_<pid>) on PostgreSQL
 *    and runs the plugin's migrations.
 * 2. Generates the fleet in SQL: N endpoints over four releases (almalinux:8,
 *    almalinux:9 on rpm; debian:12, ubuntu:22.04 on deb), each with P
 *    installed packages drawn uniformly from a repository of U package names
 *    (default 20,000, the order of a distribution's binary package count),
 *    each package in one of three versions (below, at, above the fix).
 * 3. M patches, each for one release, with 1 to 3 targets.
 * 4. Cold full recompute (empty table), then `full_ms`: the scheduled full
 *    recompute in steady state after 1% of the endpoints drifted (their
 *    inventory changed behind the hooks' back), which is what the safety
 *    net is for. One path for both: the check in SQL, the one fold of the
 *    flagged keys (see src/applicability/recompute.ts).
 * 5. `incremental_p99_ms`: one endpoint's inventory changes (one package
 *    moves version), then `refreshEndpoint`, 300 times, p99; each reads
 *    records no earlier one read. Then the same with every record already
 *    in the process's memory (a running backend's case), printed only.
 * 6. Drops its database. The last line is
 *    `endpoints=<n> patches=<n> full_ms=<n> incremental_p99_ms=<n>`.
 */

/* eslint-disable no-console */

import { PatchEntity } from '@patchbay/plugin-patch-common';
import knexFactory, { Knex } from 'knex';
import path from 'node:path';
import { ApplicabilityService } from '../src/applicability/ApplicabilityService';
import { ApplicabilityStore } from '../src/applicability/ApplicabilityStore';
import { InventoryStore } from '../src/inventory/InventoryStore';

function arg(name: string, fallback: string): string {
  const argv = process.argv;
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find(a => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3) ?? fallback;
}

const ENDPOINTS = Number(arg('endpoints', '100000'));
const PACKAGES = Number(arg('packages', '300'));
const PATCHES = Number(arg('patches', '1000'));
const UNIVERSE = Number(arg('universe', '20000'));
const PG = arg(
  'pg',
  process.env.PATCHBAY_BENCH_PG ?? 'postgresql://postgres@127.0.0.1:5432',
);

const RELEASES = [
  {
    key: 'almalinux:8',
    ecosystem: 'rpm',
    family: 'rhel',
    name: 'AlmaLinux',
    version: '8.10',
    suffix: '.el8',
  },
  {
    key: 'almalinux:9',
    ecosystem: 'rpm',
    family: 'rhel',
    name: 'AlmaLinux',
    version: '9.6',
    suffix: '.el9',
  },
  {
    key: 'debian:12',
    ecosystem: 'deb',
    family: 'debian',
    name: 'Debian GNU/Linux',
    version: '12',
    suffix: '',
  },
  {
    key: 'ubuntu:22.04',
    ecosystem: 'deb',
    family: 'debian',
    name: 'Ubuntu',
    version: '22.04',
    suffix: '',
  },
];

const logger = {
  info: (m: string) => (process.env.BENCH_VERBOSE ? console.log(m) : undefined),
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
  debug: () => {},
  child: () => logger,
} as any;

/** A small deterministic PRNG (mulberry32), so runs are comparable. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const result = await fn();
  return [result, Number(process.hrtime.bigint() - start) / 1e6];
}

async function generate(db: Knex) {
  // Endpoints: release = i % 4.
  await db.raw(
    `INSERT INTO patch_endpoints (id, machine_id, hostname, entity_ref, os_family, os_name, os_version, secret_hash, enrolled_at)
     SELECT 'ep-' || i, 'm-' || i, 'host-' || i, 'resource:default/host-' || i,
            (ARRAY[?, ?, ?, ?])[i % 4 + 1], (ARRAY[?, ?, ?, ?])[i % 4 + 1], (ARRAY[?, ?, ?, ?])[i % 4 + 1],
            'x', now()
     FROM generate_series(0, ? - 1) AS i`,
    [
      ...RELEASES.map(r => r.family),
      ...RELEASES.map(r => r.name),
      ...RELEASES.map(r => r.version),
      ENDPOINTS,
    ],
  );
  // Inventories as the store holds them (src/inventory/sql.ts): every
  // distinct package record once, each endpoint's inventory the array of its
  // record ids. Records of name n: id = n * 9 + s * 3 + v + 1, s the
  // release's flavour (rpm .el8, rpm .el9, deb) and v the version: 1.0
  // (below the fix), 1.1 (the fix), 1.2 (above). Keys as the store builds
  // them (fields joined by U+0001).
  await db.raw(
    `INSERT INTO patch_package_records (id, key, ecosystem, name, version, arch)
     SELECT n * 9 + s * 3 + v + 1,
            eco || chr(1) || 'pkg' || n || chr(1) || ver || chr(1) || 'x86_64' || chr(1) || chr(1),
            eco, 'pkg' || n, ver, 'x86_64'
     FROM generate_series(0, ? - 1) AS n
     CROSS JOIN generate_series(0, 2) AS s
     CROSS JOIN generate_series(0, 2) AS v
     CROSS JOIN LATERAL (SELECT (ARRAY['rpm', 'rpm', 'deb'])[s + 1] AS eco,
                                '1.' || v || '-1' || (ARRAY['.el8', '.el9', ''])[s + 1] AS ver) AS f`,
    [UNIVERSE],
  );
  await db.raw(
    `SELECT setval(pg_get_serial_sequence('patch_package_records', 'id'), (SELECT max(id) FROM patch_package_records))`,
  );
  // P packages per endpoint: name and version from a hash of (endpoint,
  // slot); release = e % 4 (almalinux:8, almalinux:9, debian:12, ubuntu:22.04).
  const indexes = await db.raw(
    `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'patch_endpoint_inventories' AND indexname NOT LIKE '%pkey'`,
  );
  for (const ix of indexes.rows) await db.raw(`DROP INDEX ${ix.indexname}`);
  await db.raw(
    `INSERT INTO patch_endpoint_inventories (endpoint_id, record_ids)
     SELECT 'ep-' || e,
            ARRAY(SELECT DISTINCT (abs(hashint4(e * 1000 + j)) % ?) * 9 + LEAST(e % 4, 2) * 3
                                  + abs(hashint4(e * 7919 + j * 31)) % 3 + 1
                  FROM generate_series(0, ? - 1) AS j ORDER BY 1)
     FROM generate_series(0, ? - 1) AS e`,
    [UNIVERSE, PACKAGES, ENDPOINTS],
  );
  // No changes since the base, no pending updates (the drift below edits
  // the bases).
  await db.raw(
    `INSERT INTO patch_endpoint_inventory_changes (endpoint_id, added_ids, removed_ids, pending_ids)
     SELECT endpoint_id, '{}', '{}', '{}' FROM patch_endpoint_inventories`,
  );
  for (const ix of indexes.rows) await db.raw(ix.indexdef);
  await db.raw('VACUUM ANALYZE patch_package_records');
  await db.raw('VACUUM ANALYZE patch_endpoint_inventories');
  await db.raw('VACUUM ANALYZE patch_endpoint_inventory_changes');
  await db.raw('VACUUM ANALYZE patch_endpoints');
}

function patches(): Array<{ ref: string; entity: PatchEntity }> {
  const random = rng(42);
  const out = [];
  for (let i = 0; i < PATCHES; i++) {
    const release = RELEASES[i % RELEASES.length];
    const n = 1 + Math.floor(random() * 3);
    const targets = [];
    for (let t = 0; t < n; t++) {
      targets.push({
        ecosystem: release.ecosystem as any,
        release: release.key,
        package: `pkg${Math.floor(random() * UNIVERSE)}`,
        fixedVersion: `1.1-1${release.suffix}`,
      });
    }
    const entity = {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'Patch',
      metadata: { name: `bench-${i}` },
      spec: {
        type: 'security',
        severity: 'high',
        owner: 'group:default/ops',
        targets,
      },
    } as PatchEntity;
    out.push({ ref: `patch:default/bench-${i}`, entity });
  }
  return out;
}

async function main() {
  // --reuse <db>: run the measurements on a database a previous `--keep` run generated.
  const reuse = arg('reuse', '');
  const dbName = reuse || `patchbay_bench_appl_${process.pid}`;
  const admin = knexFactory({ client: 'pg', connection: PG });
  if (!reuse) await admin.raw(`CREATE DATABASE ${dbName}`);
  const url = new URL(PG);
  url.pathname = `/${dbName}`;
  const db = knexFactory({
    client: 'pg',
    connection: url.toString(),
    pool: { min: 1, max: 4 },
  });
  try {
    await db.migrate.latest({
      directory: path.resolve(__dirname, '../migrations'),
    });
    if (reuse) {
      await db('patch_applicability').delete();
      await db('patch_endpoint_releases').delete();
    } else {
      const [, genMs] = await time(() => generate(db));
      console.log(
        `generated ${ENDPOINTS} endpoints × ${PACKAGES} packages in ${Math.round(
          genMs,
        )} ms`,
      );
    }

    const inventory = new InventoryStore(db);
    const store = new ApplicabilityStore(db, { inventory });
    const service = new ApplicabilityService(store, logger);
    const list = patches();
    // syncPatches stores the targets and refreshes each changed patch on its own;
    // here the cold full recompute below is the measured way in, so store them directly.
    await store.replaceTargets(
      list.map(p => p.ref),
      list.flatMap(p =>
        p.entity.spec.targets.map(t => ({
          patchRef: p.ref,
          ecosystem: t.ecosystem,
          release: t.release,
          package: t.package,
          fixedVersion: t.fixedVersion,
        })),
      ),
    );
    const [cold, coldMs] = await time(() => service.refreshAll());
    const [{ count }] = await db('patch_applicability').count({ count: '*' });
    const [{ needed }] = await db('patch_applicability')
      .where({ state: 'needed' })
      .count({ needed: '*' });
    console.log(
      `cold full recompute: ${Math.round(coldMs)} ms, ${
        cold.upserted
      } rows written (${count} stored, ${needed} needed)`,
    );
    await db.raw('VACUUM ANALYZE patch_applicability');

    // Drift: 1% of the endpoints change one package version without a hook.
    const drift = Math.max(1, Math.floor(ENDPOINTS / 100));
    // (A needed record moves to version 1.2, the last of its name's three.)
    await db.raw(
      `UPDATE patch_endpoint_inventories x
       SET record_ids = ARRAY(SELECT CASE WHEN u.id = d.old THEN d.old - (d.old - 1) % 3 + 2 ELSE u.id END
                              FROM unnest(x.record_ids) AS u(id))
       FROM (SELECT a.endpoint_id, min(r.id) AS old
             FROM patch_applicability a
             JOIN patch_endpoint_inventories xi ON xi.endpoint_id = a.endpoint_id
             CROSS JOIN unnest(xi.record_ids) AS u(id)
             JOIN patch_package_records r ON r.id = u.id AND r.name = a.package
             WHERE a.state = 'needed'
               AND a.endpoint_id IN (SELECT 'ep-' || (g * 100) FROM generate_series(0, ? - 1) g)
             GROUP BY a.endpoint_id) AS d
       WHERE x.endpoint_id = d.endpoint_id`,
      [drift],
    );
    const [steady, fullMs] = await time(() => service.refreshAll());
    console.log(
      `steady full recompute: ${Math.round(fullMs)} ms, ${
        steady.upserted
      } rows fixed, ${steady.deleted} deleted`,
    );
    const [again, againMs] = await time(() => service.refreshAll());
    console.log(
      `steady full recompute, nothing changed: ${Math.round(againMs)} ms, ${
        again.upserted + again.deleted
      } rows changed`,
    );

    // Incremental: one changed inventory, then refreshEndpoint (the path
    // of a verified install: the inventory read from the database). First
    // as a fresh process meets it (each endpoint's records read from the
    // database: this fleet's 180,000 records are each held by ~170
    // endpoints, so nearly every refresh reads records no earlier one read),
    // then with the records in memory, as a running backend holds them once
    // it has read them (records never change; see inventory/records.ts).
    const incremental = async (seed: number) => {
      const random = rng(seed);
      const samples: number[] = [];
      for (let i = 0; i < 330; i++) {
        const e = Math.floor(random() * ENDPOINTS);
        const id = `ep-${e}`;
        // Its first package moves between versions 1.0 and 1.2.
        await db.raw(
          `UPDATE patch_endpoint_inventories
           SET record_ids[1] = CASE WHEN (record_ids[1] - 1) % 3 = 0 THEN record_ids[1] + 2
                                    ELSE record_ids[1] - (record_ids[1] - 1) % 3 END
           WHERE endpoint_id = ?`,
          [id],
        );
        const [, ms] = await time(() => service.refreshEndpoint(id));
        if (i >= 30) samples.push(ms); // the first ones warm the target index and the pool
      }
      samples.sort((a, b) => a - b);
      return {
        p50: samples[Math.floor(samples.length / 2)],
        p99: samples[
          Math.min(samples.length - 1, Math.ceil(samples.length * 0.99) - 1)
        ],
        n: samples.length,
      };
    };
    const fresh = await incremental(7);
    console.log(
      `incremental: p50 ${fresh.p50.toFixed(2)} ms, p99 ${fresh.p99.toFixed(
        2,
      )} ms over ${fresh.n} refreshes`,
    );
    const ids = await db('patch_package_records').pluck('id');
    await inventory.recordsOf({ recordIds: ids.map(Number), pendingIds: [] });
    const warm = await incremental(11);
    console.log(
      `incremental, every record in memory: p50 ${warm.p50.toFixed(
        2,
      )} ms, p99 ${warm.p99.toFixed(2)} ms over ${warm.n} refreshes`,
    );
    console.log(
      `endpoints=${ENDPOINTS} patches=${PATCHES} full_ms=${Math.round(
        fullMs,
      )} incremental_p99_ms=${fresh.p99.toFixed(2)}`,
    );
  } finally {
    await db.destroy();
    if (process.argv.includes('--keep') || reuse)
      console.log(`kept database ${dbName}`);
    else await admin.raw(`DROP DATABASE IF EXISTS ${dbName}`);
    await admin.destroy();
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
