/*
 * Benchmark of version ordering and advisory ingestion (`yarn bench:versions`).
 *
 * Measures, on the corpus fixtures kept in the repository:
 *   - compareVersions calls per second for deb, rpm and apk (each call parses
 *     both strings, as applicability does);
 *   - OSV advisories mapped to validated Patch entities per second, with KEV
 *     and EPSS enrichment;
 * and, as the platform's own ceiling in the same run, plain JavaScript
 * string comparisons and JSON.parse of the same advisory documents, so the
 * figures can be read as ratios on any machine. The last line is key=value
 * pairs for scripts.
 */
/* eslint-disable no-console */
import * as fs from 'fs';
import * as path from 'path';
import {
  compareVersions,
  enrichWithEpss,
  enrichWithKev,
  parseEpssCsv,
  parseKev,
  patchEntitiesFromOsv,
} from '../src';
import type { VersionEcosystem } from '../src';

const ROOT = path.join(__dirname, '..', 'src');
const MIN_MS = Number(process.env.BENCH_MIN_MS ?? 1500);

function readJson(p: string): any {
  return JSON.parse(fs.readFileSync(path.join(ROOT, p), 'utf8'));
}

/** Runs `fn` (which does `ops` operations) until MIN_MS passed; returns ops per second. */
function measure(ops: number, fn: () => void): number {
  fn(); // warm-up, so the JIT has seen the code
  let done = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < MIN_MS) {
    fn();
    done += ops;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return Math.round((done / elapsed) * 1000);
}

const pairs: Record<VersionEcosystem, Array<[string, string]>> = {
  deb: [
    ...readJson('versions/__fixtures__/deb/osv_scalibr_generated_pairs.json'),
    ...readJson('versions/__fixtures__/deb/upstream_pairs.json'),
  ].map((p: any) => [p.a, p.b]),
  rpm: [
    ...readJson('versions/__fixtures__/rpm/upstream_pairs.json'),
    ...readJson('versions/__fixtures__/rpm/osv_scalibr_redhat_pairs.json'),
  ].map((p: any) => [p.a, p.b]),
  apk: readJson(
    'versions/__fixtures__/apk/osv_scalibr_generated_pairs.json',
  ).map((p: any) => [p.a, p.b]),
};

// The rpm corpus is small and full of oddities; add the real EVRs of the
// AlmaLinux fixtures (epochs, module builds) paired with a neighbour.
const osvDir = path.join(ROOT, 'advisories', '__fixtures__', 'osv');
const advisoryTexts: string[] = [];
for (const dir of ['almalinux', 'cleanstart']) {
  for (const f of fs.readdirSync(path.join(osvDir, dir)).sort()) {
    if (f.endsWith('.json') && !f.startsWith('_')) {
      advisoryTexts.push(fs.readFileSync(path.join(osvDir, dir, f), 'utf8'));
    }
  }
}
const evrs = advisoryTexts
  .map(t => JSON.parse(t))
  .filter(a =>
    String(a.affected?.[0]?.package?.ecosystem).startsWith('AlmaLinux'),
  )
  .flatMap(a =>
    a.affected.flatMap((x: any) =>
      x.ranges.flatMap((r: any) =>
        r.events.map((e: any) => e.fixed).filter(Boolean),
      ),
    ),
  );
for (let i = 1; i < evrs.length; i++) pairs.rpm.push([evrs[i - 1], evrs[i]]);

const results: Record<string, number> = {};
for (const eco of ['deb', 'rpm', 'apk'] as const) {
  const list = pairs[eco];
  let sink = 0;
  results[`${eco}_cmp_per_s`] = measure(list.length, () => {
    for (const [a, b] of list) sink += compareVersions(eco, a, b);
  });
  if (sink === Infinity) console.log(sink); // keep the work observable
  console.log(
    `${eco}: ${list.length} pairs, ${results[`${eco}_cmp_per_s`].toLocaleString(
      'en-US',
    )} comparisons/s`,
  );
}

const allStrings = pairs.deb;
let strSink = 0;
results.str_cmp_per_s = measure(allStrings.length, () => {
  for (const [a, b] of allStrings) {
    if (a !== b) strSink += a < b ? -1 : 1;
  }
});
console.log(
  `ceiling: ${results.str_cmp_per_s.toLocaleString(
    'en-US',
  )} plain string comparisons/s (${strSink ? 'ok' : ''})`,
);

const kev = parseKev(
  fs.readFileSync(
    path.join(
      ROOT,
      'advisories/__fixtures__/kev/known_exploited_vulnerabilities.json',
    ),
    'utf8',
  ),
);
const epss = parseEpssCsv(
  fs.readFileSync(
    path.join(ROOT, 'advisories/__fixtures__/epss/epss_sample.csv'),
    'utf8',
  ),
);
let patches = 0;
results.advisories_per_s = measure(advisoryTexts.length, () => {
  for (const text of advisoryTexts) {
    for (const p of patchEntitiesFromOsv(JSON.parse(text))) {
      enrichWithEpss(enrichWithKev(p, kev), epss);
      patches++;
    }
  }
});
results.json_parse_per_s = measure(advisoryTexts.length, () => {
  for (const text of advisoryTexts) JSON.parse(text);
});
console.log(
  `advisories: ${
    advisoryTexts.length
  } OSV documents (${patches} patches made), ${results.advisories_per_s.toLocaleString(
    'en-US',
  )} advisories/s mapped, validated and enriched; ceiling ${results.json_parse_per_s.toLocaleString(
    'en-US',
  )} JSON.parse/s`,
);

const ratio = (a: number, b: number) => (a / b).toFixed(3);
console.log(
  `deb_cmp_per_s=${results.deb_cmp_per_s} rpm_cmp_per_s=${results.rpm_cmp_per_s} apk_cmp_per_s=${results.apk_cmp_per_s} ` +
    `advisories_per_s=${results.advisories_per_s} str_cmp_per_s=${results.str_cmp_per_s} json_parse_per_s=${results.json_parse_per_s} ` +
    `deb_vs_str_ratio=${ratio(
      results.deb_cmp_per_s,
      results.str_cmp_per_s,
    )} advisories_vs_json_ratio=${ratio(
      results.advisories_per_s,
      results.json_parse_per_s,
    )}`,
);
