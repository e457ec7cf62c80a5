import { LoggerService } from '@backstage/backend-plugin-api';
import { PatchEntity } from '@patchbay/plugin-patch-common';
import {
  ApplicabilityDiff,
  ApplicabilityRow,
  ApplicabilityStore,
  StoredTarget,
  Verdict,
} from './ApplicabilityStore';
import { endpointMatchKey, releaseAccepts, targetMatchKeys } from './release';
import { candidateRank, decideState, rankState } from './verdict';

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

type TargetIndex = Map<string, StoredTarget[]>;
const pkgKey = (ecosystem: string, name: string) => `${ecosystem}\u0000${name}`;

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
    const pkgs = new Map<string, { ecosystem: string; name: string }>();
    for (const t of targets)
      pkgs.set(pkgKey(t.ecosystem, t.package), {
        ecosystem: t.ecosystem,
        name: t.package,
      });
    const inventory = await this.store.getInventoryForPackages([
      ...pkgs.values(),
    ]);
    const byPkg = indexTargets(targets);
    const candidates: Candidate[] = [];
    for (const row of inventory) {
      for (const t of byPkg.get(pkgKey(row.ecosystem, row.name)) ?? []) {
        if (!releaseAccepts(t.release, row.matchKey)) continue;
        const state = decideState(t.ecosystem, row.version, t.fixedVersion);
        if (state)
          candidates.push({
            endpointId: row.endpointId,
            target: t,
            version: row.version,
            rank: candidateRank(t.ecosystem, state),
          });
      }
    }
    const kbs = targets.filter(t => t.ecosystem === 'windows-kb');
    if (kbs.length > 0) {
      const kbIndex = indexTargets(kbs);
      for (const p of await this.store.getPendingForKbs(
        kbs.map(t => t.package),
      )) {
        for (const t of kbIndex.get(pkgKey('windows-kb', p.name)) ?? []) {
          candidates.push({
            endpointId: p.endpointId,
            target: t,
            version: p.currentVersion,
            rank: 2,
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
      const targets = index.get(pkgKey(row.ecosystem, row.name));
      if (!targets) continue;
      for (const t of targets) {
        if (!releaseAccepts(t.release, matchKey)) continue;
        const state = decideState(t.ecosystem, row.version, t.fixedVersion);
        if (state)
          candidates.push({
            endpointId,
            target: t,
            version: row.version,
            rank: candidateRank(t.ecosystem, state),
          });
      }
    }
    for (const p of pendingKbs) {
      for (const t of index.get(pkgKey('windows-kb', p.name)) ?? []) {
        candidates.push({
          endpointId,
          target: t,
          version: p.currentVersion,
          rank: 2,
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
    const [combos, index, versions] = await Promise.all([
      this.store.listOsCombos().then(async list => {
        const keyed = list.map(c => ({ ...c, key: endpointMatchKey(c) }));
        await this.store.syncReleaseKeysByOs(keyed);
        return keyed;
      }),
      this.getTargetIndex(true),
      this.store.listTargetedVersions(),
    ]);
    mark('releases+versions');
    // Only keys some endpoint has: each extra key would repeat the join.
    const known = new Set(combos.map(c => c.key));
    const verdicts: Verdict[] = [];
    const keysByRelease = new Map<string, string[]>();
    for (const v of versions) {
      for (const t of index.get(pkgKey(v.ecosystem, v.name)) ?? []) {
        const state = decideState(t.ecosystem, v.version, t.fixedVersion);
        if (!state) continue;
        let matchKeys = keysByRelease.get(t.release);
        if (!matchKeys) {
          matchKeys = targetMatchKeys(t.release, known).filter(k =>
            known.has(k),
          );
          keysByRelease.set(t.release, matchKeys);
        }
        for (const matchKey of matchKeys) {
          verdicts.push({
            ecosystem: t.ecosystem,
            package: t.package,
            version: v.version,
            matchKey,
            patchRef: t.patchRef,
            fixedVersion: t.fixedVersion,
            state,
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

function indexTargets(targets: StoredTarget[]): TargetIndex {
  const index: TargetIndex = new Map();
  for (const t of targets) {
    const key = pkgKey(t.ecosystem, t.package);
    const list = index.get(key) ?? [];
    list.push(t);
    index.set(key, list);
  }
  return index;
}

/** The targets of a Patch entity, as stored. */
export function targetsOf(ref: string, entity: PatchEntity): StoredTarget[] {
  return (entity.spec?.targets ?? []).map(t => ({
    patchRef: ref,
    ecosystem: t.ecosystem,
    release: (t.release ?? '').toLocaleLowerCase('en-US'),
    package: t.package,
    fixedVersion: t.fixedVersion,
  }));
}

function signature(targets: StoredTarget[]): string {
  return targets
    .map(t => `${t.ecosystem}|${t.release}|${t.package}|${t.fixedVersion}`)
    .sort()
    .join('\n');
}
