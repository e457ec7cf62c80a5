/*
 * The full recompute: the scheduled safety net that repairs whatever the
 * incremental paths missed (an inventory changed behind the hooks' back, a
 * revoked endpoint, a lost event).
 *
 * Design note. The fleet is large (100,000 endpoints × ~300 packages = 30M
 * inventory rows) and the patch set moderate (1,000 patches), so the full
 * recompute never compares versions per inventory row. It:
 *   1. brings the release key of every endpoint in line with its reported
 *      OS (one key per OS combination, computed here, joined in SQL), and
 *      reads the distinct (ecosystem, name or source, version) of the
 *      targeted packages, side by side;
 *   2. decides needed / installed / unknown once per distinct version and
 *      target with patch-common's rule, into staged verdicts, each saying
 *      how it joins the inventory (`via`: by name, by source, by a binary
 *      of a source, or a pending KB);
 *   3. lets the database join inventory × verdicts × release keys into raw
 *      candidates and compare them with the stored rows (store/sql.ts):
 *      only the keys that may be wrong come back, then their candidates;
 *   4. folds those with the one fold (fold.ts) and writes the difference
 *      with the one write (`applyDiff`), as the incremental paths do.
 * The same steps run on PostgreSQL and SQLite; their statements differ only
 * behind `DialectStore` (store/).
 */
import { ApplicabilityStore } from './ApplicabilityStore';
import { fold, rankedCandidate } from './fold';
import { endpointMatchKey, targetMatchKeys } from './release';
import { InventoryRow, TargetedVersion, Verdict } from './store/types';
import { TargetIndex, keyParts, pkgKey } from './targets';
import { decideState } from './verdict';

/** Where the verdicts of each way of joining find their targets. */
const WAYS = {
  name: 'byName',
  source: 'bySource',
  binary: 'byBinary',
  pending: 'byName',
} as const;

/** What a full recompute did, with the time of each step. */
export interface RecomputeResult {
  upserted: number;
  deleted: number;
  verdicts: number;
  /** Milliseconds since the start at the end of each step. */
  laps: Record<string, number>;
}

/** Runs the full recompute (see the note at the top). */
export async function recomputeAll(
  store: ApplicabilityStore,
  loadTargets: () => Promise<TargetIndex>,
  now: Date,
): Promise<RecomputeResult> {
  const t0 = Date.now();
  const laps: Record<string, number> = {};
  const mark = (name: string) => {
    laps[name] = Date.now() - t0;
  };
  // Step 1: independent reads and writes side by side.
  const [staged, combos, { index, versions }] = await Promise.all([
    store.listStagedVerdicts(),
    store.listOsCombos().then(async list => {
      const keyed = list.map(c => ({ ...c, key: endpointMatchKey(c) }));
      await store.syncReleaseKeysByOs(keyed);
      return keyed;
    }),
    loadTargets().then(async idx => ({
      index: idx,
      versions: await store.listTargetedVersions({
        byName: [...idx.byName.keys()].map(keyParts),
        bySource: [...idx.bySource.keys()].map(keyParts),
        byBinary: [...idx.byBinary.keys()].map(keyParts),
      }),
    })),
  ]);
  mark('releases+versions');
  // Step 2: only release keys some endpoint has: each extra key would
  // repeat the join.
  const verdicts = decideVerdicts(
    index,
    versions,
    new Set(combos.map(c => c.key)),
  );
  mark('decide');
  await store.replaceVerdicts(verdicts, staged);
  mark('stage');
  // Step 3.
  const { stored, candidates } = await store.check(
    new Set(verdicts.map(v => v.via)),
  );
  mark('check');
  // Step 4.
  const diff = await store.applyDiff(
    stored,
    fold(candidates.map(rankedCandidate)),
    now,
  );
  mark('fold+write');
  return {
    upserted: diff.upserted.length,
    deleted: diff.deleted.length,
    verdicts: verdicts.length,
    laps,
  };
}

/**
 * One verdict per distinct installed version, target and release key the
 * target accepts among `known`; and a pending-KB verdict per KB target and
 * release key (a pending KB is needed where its release is concerned; a
 * present one ranks above).
 */
function decideVerdicts(
  index: TargetIndex,
  versions: TargetedVersion[],
  known: Set<string>,
): Verdict[] {
  const verdicts: Verdict[] = [];
  const keysByRelease = new Map<string, string[]>();
  const keysOf = (release: string) => {
    let matchKeys = keysByRelease.get(release);
    if (!matchKeys) {
      matchKeys = targetMatchKeys(release, known).filter(k => known.has(k));
      keysByRelease.set(release, matchKeys);
    }
    return matchKeys;
  };
  for (const v of versions) {
    // The row as the rule reads it: for a source verdict, `version` is the
    // source version.
    const row: InventoryRow =
      v.via === 'name'
        ? { ecosystem: v.ecosystem, name: v.name, version: v.version }
        : {
            ecosystem: v.ecosystem,
            name: v.name,
            version: v.version,
            source: v.name,
            sourceVersion: v.version,
          };
    for (const t of index[WAYS[v.via]].get(pkgKey(v.ecosystem, v.name)) ?? []) {
      const state = decideState(t, row);
      for (const matchKey of keysOf(t.release)) {
        verdicts.push({
          ecosystem: t.ecosystem,
          package: t.package,
          via: v.via,
          name: v.name,
          version: v.version,
          matchKey,
          patchRef: t.patchRef,
          fixedVersion: t.fixedVersion,
          state,
        });
      }
    }
  }
  for (const targets of index.byName.values()) {
    for (const t of targets) {
      if (t.ecosystem !== 'windows-kb') continue;
      for (const matchKey of keysOf(t.release)) {
        verdicts.push({
          ecosystem: t.ecosystem,
          package: t.package,
          via: 'pending',
          name: t.package,
          version: '',
          matchKey,
          patchRef: t.patchRef,
          fixedVersion: t.fixedVersion,
          state: 'needed',
        });
      }
    }
  }
  return verdicts;
}
