import type { PatchEntity } from '../entities/types';
import { parseCsv } from './kev';

/**
 * EPSS figures of one CVE.
 * @public
 */
export interface EpssEntry {
  /** Probability of exploitation in the next 30 days, 0 to 1. */
  score: number;
  /** Percentile among all scored CVEs, 0 to 1. */
  percentile: number;
}

/**
 * EPSS figures indexed by CVE id.
 * @public
 */
export type EpssIndex = Map<string, EpssEntry>;

/**
 * Reads EPSS scores from CSV: FIRST's daily file (`#model_version:...`
 * comment line, header `cve,epss,percentile`) or the headerless
 * `CVE;epss;percentile` lines of the API crawls. Rows that do not parse are
 * skipped.
 * @public
 */
export function parseEpssCsv(text: string): EpssIndex {
  const body = text.replace(/^\uFEFF/, '');
  const firstLine =
    body.split(/\r?\n/).find(l => l.trim() && !l.startsWith('#')) ?? '';
  const delimiter =
    firstLine.includes(';') && !firstLine.includes(',') ? ';' : ',';
  const index: EpssIndex = new Map();
  for (const row of parseCsv(body, delimiter)) {
    if (!row[0] || row[0].startsWith('#')) continue;
    const cve = row[0].trim().toUpperCase();
    if (!/^CVE-\d{4}-\d{4,}$/.test(cve)) continue; // header or junk
    const score = Number(row[1]);
    const percentile = Number(row[2]);
    if (
      !Number.isFinite(score) ||
      !Number.isFinite(percentile) ||
      score < 0 ||
      score > 1 ||
      percentile < 0 ||
      percentile > 1
    ) {
      continue;
    }
    index.set(cve, { score, percentile });
  }
  return index;
}

/**
 * Sets `spec.epss` on a copy of the patch to the figures of its fixed CVE
 * with the highest EPSS score; leaves it unset when none is scored.
 * @public
 */
export function enrichWithEpss(
  patch: PatchEntity,
  epss: EpssIndex,
): PatchEntity {
  let best: { cve: string; entry: EpssEntry } | undefined;
  for (const cve of patch.spec.cves ?? []) {
    const entry = epss.get(cve.toUpperCase());
    if (entry && (!best || entry.score > best.entry.score)) {
      best = { cve: cve.toUpperCase(), entry };
    }
  }
  const spec = { ...patch.spec };
  if (best) {
    spec.epss = {
      score: best.entry.score,
      percentile: best.entry.percentile,
      cve: best.cve,
    };
  } else {
    delete spec.epss;
  }
  return { ...patch, spec };
}
