/*
 * Patch targets as applicability matches them against installed packages:
 * the targets of a Patch entity as stored, an index of them by what an
 * inventory row must carry to be concerned, and the raw candidate of a row
 * for a target (decided by patch-common's rule, see verdict.ts).
 */
import { PatchEntity } from '@patchbay/plugin-patch-common';
import { Candidate } from './fold';
import { InventoryRow, PackageKey, StoredTarget } from './store/types';
import { candidateRank, comparedVersion, decideState } from './verdict';

/**
 * Targets by what an inventory row must carry to be concerned: its name
 * (binary targets), its source, a row without a source being its own
 * (source targets), or its name when it is its own source (the binaries a
 * source target names, Ubuntu).
 */
export interface TargetIndex {
  byName: Map<string, StoredTarget[]>;
  bySource: Map<string, StoredTarget[]>;
  byBinary: Map<string, StoredTarget[]>;
}

/** The index key of a package. */
export const pkgKey = (ecosystem: string, name: string) =>
  `${ecosystem}\u0000${name}`;

/** The package of an index key. */
export const keyParts = (key: string): PackageKey => {
  const [ecosystem, name] = key.split('\u0000');
  return { ecosystem, name };
};

/** Indexes targets by the ways they concern inventory rows. */
export function indexTargets(targets: StoredTarget[]): TargetIndex {
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
export function concerning(
  index: TargetIndex,
  row: InventoryRow,
): StoredTarget[] {
  const name = pkgKey(row.ecosystem, row.name);
  const source = pkgKey(row.ecosystem, row.source ?? row.name);
  const byName = index.byName.get(name) ?? [];
  const bySource = index.bySource.get(source) ?? [];
  const byBinary = source === name ? index.byBinary.get(name) ?? [] : [];
  if (bySource.length === 0 && byBinary.length === 0) return byName;
  return [...byName, ...bySource, ...byBinary];
}

/** The raw candidate of an inventory row for a target that concerns it. */
export function candidate(
  endpointId: string,
  target: StoredTarget,
  row: InventoryRow,
): Candidate {
  return {
    endpointId,
    patchRef: target.patchRef,
    package: target.package,
    ecosystem: target.ecosystem,
    installedVersion: comparedVersion(target, row),
    fixedVersion: target.fixedVersion,
    rank: candidateRank(target.ecosystem, decideState(target, row)),
  };
}

/**
 * The raw candidate of a pending KB: needed (a present KB of the same
 * target ranks above it).
 */
export function pendingCandidate(
  endpointId: string,
  target: StoredTarget,
  currentVersion: string,
): Candidate {
  return {
    endpointId,
    patchRef: target.patchRef,
    package: target.package,
    ecosystem: target.ecosystem,
    installedVersion: currentVersion,
    fixedVersion: target.fixedVersion,
    rank: candidateRank('windows-kb', 'needed'),
  };
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

/** A comparable text of a patch's targets: equal when nothing changed. */
export function signature(targets: StoredTarget[]): string {
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
