import { LoggerService } from '@backstage/backend-plugin-api';
import { PatchEntity } from '@patchbay/plugin-patch-common';
import {
  ApplicabilityDiff,
  ApplicabilityRow,
  ApplicabilityStore,
  InventoryRow,
  StoredTarget,
  Verdict,
} from './ApplicabilityStore';
import { endpointMatchKey, releaseAccepts, targetMatchKeys } from './release';
import {
  candidateRank,
  comparedVersion,
  decideState,
  rankState,
} from './verdict';

/** What changed in one refresh, for listeners such as approvals. */
export interface ApplicabilityChange {
  /** Endpoints whose rows changed. */
  endpointIds: string[];
  /** Patches whose rows changed. */
  patchRefs: string[];
  /** True after a full recompute: listeners should look at everything. */
  full?: boolean;
}

/** Listener of applicability changes. */
export type ApplicabilityListener = (
  change: ApplicabilityChange,
) => void | Promise<void>;

/**
 * Targets by what an inventory row must carry to be concerned: its name
 * (binary targets), its source, a row without a source being its own
 * (source targets), or its name when it is its own source (the binaries a
 * source target names, Ubuntu).
 */
interface TargetIndex {
  byName: Map<string, StoredTarget[]>;
  bySource: Map<string, StoredTarget[]>;
  byBinary: Map<string, StoredTarget[]>;
}
/** Where the full recompute finds the targets of each way of joining. */
const WAYS = {
  name: 'byName',
  source: 'bySource',
  binary: 'byBinary',
  pending: 'byName',
} as const;
const pkgKey = (ecosystem: string, name: string) => `${ecosystem}\u0000${name}`;
const keyParts = (key: string) => {
  const [ecosystem, name] = key.split('\u0000');
  return { ecosystem, name };
};

/**
 * Decides which endpoint needs which patch, from inventory × patch targets
 * with `compareVersions`. Three ways in: one endpoint (its inventory
 * changed), some patches (their targets changed in the catalog), and the
 * full recompute (the safety net, scheduled).
 */
export class ApplicabilityService {
  private targetIndex?: Promise<TargetIndex>;
  private readonly listeners: ApplicabilityListener[] = [];

  constructor(
    private readonly store: ApplicabilityStore,
    private readonly logger: LoggerService,
  ) {}

  /** Subscribes to changes; returns the unsubscribe function. */
  onChanged(listener: ApplicabilityListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Brings the stored targets in line with the catalog's patches and
   * refreshes the patches whose targets changed. Returns their refs.
   */
  async syncPatches(
    patches: Array<{ ref: string; entity: PatchEntity }>,
  ): Promise<string[]> {
    const wanted = new Map<string, StoredTarget[]>();
    for (const p of patches) wanted.set(p.ref, targetsOf(p.ref, p.entity));
    const stored = new Map<string, StoredTarget[]>();
    for (const t of await this.store.listTargets()) {
      const list = stored.get(t.patchRef) ?? [];
      list.push(t);
      stored.set(t.patchRef, list);
    }
    const changed: string[] = [];
    for (const [ref, targets] of wanted) {
      if (signature(targets) !== signature(stored.get(ref) ?? []))
        changed.push(ref);
    }
    for (const ref of stored.keys()) if (!wanted.has(ref)) changed.push(ref);
    if (changed.length === 0) return [];
    const changedSet = new Set(changed);
    await this.store.replaceTargets(
      changed,
      [...wanted].filter(([ref]) => changedSet.has(ref)).flatMap(([, t]) => t),
    );
    this.targetIndex = undefined;
    await this.refreshPatches(changed);
    return changed;
  }

  /** Recomputes the rows of some patches across the fleet. */
  async refreshPatches(
    patchRefs: string[],
    now = new Date(),
  ): Promise<ApplicabilityDiff> {
    const refs = new Set(patchRefs);
    const targets = (await this.store.listTargets()).filter(t =>
      refs.has(t.patchRef),
    );
    const byPkg = indexTargets(targets);
    const inventory = await this.store.getInventoryForPackages({
      byName: [...byPkg.byName.keys(), ...byPkg.byBinary.keys()].map(keyParts),
      bySource: [...byPkg.bySource.keys()].map(keyParts),
    });
    const candidates: Candidate[] = [];
    for (const row of inventory) {
      for (const t of concerning(byPkg, row)) {
        if (!releaseAccepts(t.release, row.matchKey)) continue;
        candidates.push(candidate(row.endpointId, t, row));
      }
    }
    const kbs = targets.filter(t => t.ecosystem === 'windows-kb');
    if (kbs.length > 0) {
      const kbIndex = indexTargets(kbs);
      for (const p of await this.store.getPendingForKbs(
        kbs.map(t => t.package),
      )) {
        for (const t of kbIndex.byName.get(pkgKey('windows-kb', p.name)) ??
          []) {
          if (!releaseAccepts(t.release, p.matchKey)) continue;
          candidates.push({
            endpointId: p.endpointId,
            target: t,
            version: p.currentVersion,
            rank: candidateRank('windows-kb', 'needed'),
          });
        }
      }
    }
    const desired = fold(candidates);
    const existing = await this.store.rowsForPatches([...refs]);
    const diff = await this.store.applyDiff(existing, desired, now);
    await this.emit(diff);
    return diff;
  }

  /**
   * Recomputes one endpoint from its inventory: the path taken after every
   * inventory upload and verified install. Writes only changed rows.
   */
  async refreshEndpoint(
    endpointId: string,
    now = new Date(),
  ): Promise<ApplicabilityDiff> {
    const [index, { os, existing, inventory, pendingKbs }] = await Promise.all([
      this.getTargetIndex(),
      this.store.endpointSnapshot(endpointId),
    ]);
    if (!os) {
      // Revoked or gone: nothing applies any more.
      const diff = await this.store.applyDiff(existing, [], now);
      await this.emit(diff);
      return diff;
    }
    const matchKey = endpointMatchKey(os);
    if (os.matchKey !== matchKey) {
      await this.store.setReleaseKey(endpointId, matchKey);
    }
    const candidates: Candidate[] = [];
    for (const row of inventory) {
      for (const t of concerning(index, row)) {
        if (!releaseAccepts(t.release, matchKey)) continue;
        candidates.push(candidate(endpointId, t, row));
      }
    }
    for (const p of pendingKbs) {
      for (const t of index.byName.get(pkgKey('windows-kb', p.name)) ?? []) {
        if (!releaseAccepts(t.release, matchKey)) continue;
        candidates.push({
          endpointId,
          target: t,
          version: p.currentVersion,
          rank: candidateRank('windows-kb', 'needed'),
        });
      }
    }
    const diff = await this.store.applyDiff(existing, fold(candidates), now);
    await this.emit(diff);
    return diff;
  }

  /**
   * The full recompute: release keys of every endpoint, one verdict per
   * distinct installed version and target, then one set operation in the
   * database. See the design note in ApplicabilityStore.
   */
  async refreshAll(
    now = new Date(),
  ): Promise<{ upserted: number; deleted: number }> {
    const t0 = Date.now();
    const lap: Record<string, number> = {};
    const mark = (name: string) => {
      lap[name] = Date.now() - t0;
    };
    // Independent reads and writes side by side: the release keys of the
    // fleet (its OS combinations first), the targets, and the distinct
    // installed versions.
    const [combos, { idx: index, versions }] = await Promise.all([
      this.store.listOsCombos().then(async list => {
        const keyed = list.map(c => ({ ...c, key: endpointMatchKey(c) }));
        await this.store.syncReleaseKeysByOs(keyed);
        return keyed;
      }),
      this.getTargetIndex(true).then(async idx => ({
        idx,
        versions: await this.store.listTargetedVersions({
          byName: [...idx.byName.keys()].map(keyParts),
          bySource: [...idx.bySource.keys()].map(keyParts),
          byBinary: [...idx.byBinary.keys()].map(keyParts),
        }),
      })),
    ]);
    mark('releases+versions');
    // Only keys some endpoint has: each extra key would repeat the join.
    const known = new Set(combos.map(c => c.key));
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
      const byWay = index[WAYS[v.via]];
      // The row as the rule reads it: for a source verdict, `version` is
      // the source version.
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
      for (const t of byWay.get(pkgKey(v.ecosystem, v.name)) ?? []) {
        // Verdicts are decided once per (ecosystem, name or source, version).
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
    // A pending KB is needed wherever its release is concerned (and the KB
    // is not present: a present one ranks above).
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
    mark('compare');
    await this.store.replaceVerdicts(verdicts);
    mark('stage');
    const result = await this.store.applyVerdicts(now);
    mark('apply');
    this.logger.info(
      `Applicability full recompute: ${verdicts.length} verdicts, ${
        result.upserted
      } rows written, ${result.deleted} deleted; ms at ${JSON.stringify(lap)}`,
    );
    if (result.upserted + result.deleted > 0) {
      await this.emitRaw({ endpointIds: [], patchRefs: [], full: true });
    }
    return result;
  }

  private async getTargetIndex(reload = false): Promise<TargetIndex> {
    if (!this.targetIndex || reload) {
      this.targetIndex = this.store.listTargets().then(indexTargets);
      this.targetIndex.catch(() => {
        this.targetIndex = undefined;
      });
    }
    return this.targetIndex;
  }

  private async emit(diff: ApplicabilityDiff): Promise<void> {
    if (diff.upserted.length === 0 && diff.deleted.length === 0) return;
    const endpoints = new Set<string>();
    const patches = new Set<string>();
    for (const r of [...diff.upserted, ...diff.deleted]) {
      endpoints.add(r.endpointId);
      patches.add(r.patchRef);
    }
    await this.emitRaw({
      endpointIds: [...endpoints],
      patchRefs: [...patches],
    });
  }

  private async emitRaw(change: ApplicabilityChange): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener(change);
      } catch (error) {
        // A failing listener must not undo or block applicability itself.
        this.logger.warn(`Applicability listener failed: ${error}`);
      }
    }
  }
}

interface Candidate {
  endpointId: string;
  target: StoredTarget;
  version: string;
  rank: number;
}

/** Folds candidates into one row per (endpoint, patch, package), as the SQL path does. */
function fold(candidates: Candidate[]): ApplicabilityRow[] {
  const rows = new Map<string, { row: ApplicabilityRow; rank: number }>();
  for (const c of candidates) {
    const key = `${c.endpointId}\u0000${c.target.patchRef}\u0000${c.target.package}`;
    const prev = rows.get(key);
    if (!prev) {
      rows.set(key, {
        rank: c.rank,
        row: {
          endpointId: c.endpointId,
          patchRef: c.target.patchRef,
          package: c.target.package,
          ecosystem: c.target.ecosystem,
          installedVersion: c.version,
          fixedVersion: c.target.fixedVersion,
          state: rankState(c.rank),
        },
      });
      continue;
    }
    prev.rank = Math.max(prev.rank, c.rank);
    prev.row.state = rankState(prev.rank);
    // Same tie-breaks as MIN() in SQL, so both paths store the same row.
    if (c.version < prev.row.installedVersion)
      prev.row.installedVersion = c.version;
    if (c.target.fixedVersion < prev.row.fixedVersion)
      prev.row.fixedVersion = c.target.fixedVersion;
    if (c.target.ecosystem < prev.row.ecosystem)
      prev.row.ecosystem = c.target.ecosystem;
  }
  return [...rows.values()].map(v => v.row);
}

/** One raw candidate of an inventory row for a target that concerns it. */
function candidate(
  endpointId: string,
  target: StoredTarget,
  row: InventoryRow,
): Candidate {
  return {
    endpointId,
    target,
    version: comparedVersion(target, row),
    rank: candidateRank(target.ecosystem, decideState(target, row)),
  };
}

function indexTargets(targets: StoredTarget[]): TargetIndex {
  const index: TargetIndex = {
    byName: new Map(),
    bySource: new Map(),
    byBinary: new Map(),
  };
  const add = (
    map: Map<string, StoredTarget[]>,
    key: string,
    t: StoredTarget,
  ) => {
    const list = map.get(key) ?? [];
    list.push(t);
    map.set(key, list);
  };
  for (const t of targets) {
    if (t.packageType !== 'source') {
      add(index.byName, pkgKey(t.ecosystem, t.package), t);
      continue;
    }
    add(index.bySource, pkgKey(t.ecosystem, t.package), t);
    // Ubuntu names the binaries of a source. A named binary that reports
    // another source (neither the target's nor its own) is not found: the
    // full recompute joins these by index and that case has none.
    for (const name of new Set(t.binaries ?? [])) {
      if (name !== t.package) add(index.byBinary, pkgKey(t.ecosystem, name), t);
    }
  }
  return index;
}

/** The targets that concern an inventory row, each once. */
function concerning(index: TargetIndex, row: InventoryRow): StoredTarget[] {
  const name = pkgKey(row.ecosystem, row.name);
  const source = pkgKey(row.ecosystem, row.source ?? row.name);
  const byName = index.byName.get(name) ?? [];
  const bySource = index.bySource.get(source) ?? [];
  const byBinary = source === name ? index.byBinary.get(name) ?? [] : [];
  if (bySource.length === 0 && byBinary.length === 0) return byName;
  return [...byName, ...bySource, ...byBinary];
}

/** The targets of a Patch entity, as stored. */
export function targetsOf(ref: string, entity: PatchEntity): StoredTarget[] {
  return (entity.spec?.targets ?? []).map(t => ({
    patchRef: ref,
    ecosystem: t.ecosystem,
    release: (t.release ?? '').toLocaleLowerCase('en-US'),
    package: t.package,
    fixedVersion: t.fixedVersion,
    ...(t.packageType === 'source'
      ? {
          packageType: 'source' as const,
          ...(t.binaries?.length ? { binaries: [...t.binaries].sort() } : {}),
        }
      : {}),
  }));
}

function signature(targets: StoredTarget[]): string {
  return targets
    .map(
      t =>
        `${t.ecosystem}|${t.release}|${t.package}|${t.fixedVersion}|${
          t.packageType ?? 'binary'
        }|${(t.binaries ?? []).join(',')}`,
    )
    .sort()
    .join('\n');
}
