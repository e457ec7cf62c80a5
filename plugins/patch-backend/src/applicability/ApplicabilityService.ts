import { LoggerService } from '@backstage/backend-plugin-api';
import { PatchEntity } from '@patchbay/plugin-patch-common';
import {
  ApplicabilityDiff,
  ApplicabilityStore,
  StoredTarget,
  StoredInventory,
} from './ApplicabilityStore';
import { Candidate, fold } from './fold';
import { recomputeAll } from './recompute';
import { endpointMatchKey, releaseAccepts } from './release';
import {
  TargetIndex,
  candidate,
  concerning,
  indexTargets,
  keyParts,
  pendingCandidate,
  pkgKey,
  signature,
  targetsOf,
} from './targets';

export { targetsOf } from './targets';

/** What changed in one refresh, for listeners such as approvals. */
export interface ApplicabilityChange {
  /** Endpoints whose rows changed. */
  endpointIds: string[];
  /** Patches whose rows changed. */
  patchRefs: string[];
  /** True after a full recompute: listeners should look at everything. */
  full?: boolean;
  /**
   * False when no row became (or stayed, with new facts) `needed`: the
   * change only took needs away (an install verified, a package removed).
   * Absent or true: it may have added some.
   */
  addsNeeds?: boolean;
}

/** Listener of applicability changes. */
export type ApplicabilityListener = (
  change: ApplicabilityChange,
) => void | Promise<void>;

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
    const kbs = targets.filter(t => t.ecosystem === 'windows-kb');
    const kbIndex = indexTargets(kbs);
    // One snapshot: uploads go on meanwhile (see `patchesSnapshot`).
    const { inventory, pendingKbs, existing } =
      await this.store.patchesSnapshot({
        packages: {
          byName: [...byPkg.byName.keys(), ...byPkg.byBinary.keys()].map(
            keyParts,
          ),
          bySource: [...byPkg.bySource.keys()].map(keyParts),
        },
        kbNames: kbs.map(t => t.package),
        patchRefs: [...refs],
      });
    const candidates: Candidate[] = [];
    for (const row of inventory) {
      for (const t of concerning(byPkg, row)) {
        if (!releaseAccepts(t.release, row.matchKey)) continue;
        candidates.push(candidate(row.endpointId, t, row));
      }
    }
    for (const p of pendingKbs) {
      for (const t of kbIndex.byName.get(pkgKey('windows-kb', p.name)) ?? []) {
        if (!releaseAccepts(t.release, p.matchKey)) continue;
        candidates.push(pendingCandidate(p.endpointId, t, p.currentVersion));
      }
    }
    const diff = await this.store.applyDiff(existing, fold(candidates), now);
    await this.emit(diff);
    return diff;
  }

  /**
   * Recomputes one endpoint from its inventory: the path taken after every
   * inventory upload and verified install. Writes only changed rows. An
   * upload hands the inventory it stored (`stored`), which is then not
   * read back.
   */
  async refreshEndpoint(
    endpointId: string,
    options: { now?: Date; stored?: StoredInventory } = {},
  ): Promise<ApplicabilityDiff> {
    const now = options.now ?? new Date();
    const [index, { os, existing, inventory, pendingKbs }] = await Promise.all([
      this.getTargetIndex(),
      this.store.endpointSnapshot(endpointId, options.stored),
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
        candidates.push(pendingCandidate(endpointId, t, p.currentVersion));
      }
    }
    const diff = await this.store.applyDiff(existing, fold(candidates), now);
    await this.emit(diff);
    return diff;
  }

  /**
   * The full recompute: release keys of every endpoint, one verdict per
   * distinct installed version and target, one check in the database, and
   * the flagged keys folded and written as every other path does (see
   * recompute.ts).
   */
  async refreshAll(
    now = new Date(),
  ): Promise<{ upserted: number; deleted: number }> {
    const { upserted, deleted, verdicts, laps } = await recomputeAll(
      this.store,
      () => this.getTargetIndex(true),
      now,
    );
    this.logger.info(
      `Applicability full recompute: ${verdicts} verdicts, ${upserted} rows written, ${deleted} deleted; ms at ${JSON.stringify(
        laps,
      )}`,
    );
    if (upserted + deleted > 0) {
      await this.emitRaw({ endpointIds: [], patchRefs: [], full: true });
    }
    return { upserted, deleted };
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
      addsNeeds: diff.upserted.some(r => r.state === 'needed'),
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
