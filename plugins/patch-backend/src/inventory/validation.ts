/*
 * Validation of an inventory upload, before anything of it is written.
 *
 * Applicability can only be as true as the versions it reads: a version
 * that its ecosystem cannot parse is refused here, with a 400 that names
 * the package and the part that is wrong, so that the agent's operator
 * sees it and the stored inventory stays the last good one. The rule is the
 * one applicability reads versions with (strict), so that nothing accepted
 * here is later unreadable there.
 */
import { InputError } from '@backstage/errors';
import { isValidInstalledVersion } from '@patchbay/plugin-patch-common';
import type { InventoryPackage, PendingUpdate } from './InventoryStore';

/**
 * Whether an installed version is readable in its ecosystem by the rule
 * applicability reads it with (patch-common's `isValidInstalledVersion`:
 * deb, rpm and apk strictly, other ecosystems any non-empty string).
 */
export function checkInstalledVersion(
  ecosystem: string,
  version: unknown,
): { ok: true } | { ok: false; part: string; reason: string } {
  if (typeof version !== 'string') {
    return { ok: false, part: 'version', reason: 'is not a string' };
  }
  return isValidInstalledVersion(ecosystem, version);
}

/** One refused field of an upload. */
export interface InventoryProblem {
  /** `packages[3].version`, `pending[0].availableVersion`, ... */
  field: string;
  ecosystem: string;
  name: string;
  value: string;
  part: string;
  reason: string;
}

/**
 * Records already stored, whose versions were read when they were first
 * stored (records are content-addressed and never change): not read again.
 */
export interface KnownRecords {
  /** `index`: the package's place in the list validated. */
  package(p: InventoryPackage, index: number): boolean;
  pending(u: PendingUpdate, index: number): boolean;
}

const NONE_KNOWN: KnownRecords = {
  package: () => false,
  pending: () => false,
};

/** At most this many problems are named in one answer; the count says the rest. */
const MAX_NAMED = 5;

/**
 * Every unreadable version of an upload: installed versions and source
 * versions of the packages, current and available versions of the pending
 * updates.
 */
export function findInventoryProblems(
  inventory: {
    packages: InventoryPackage[];
    pending: PendingUpdate[];
  },
  known: KnownRecords = NONE_KNOWN,
): InventoryProblem[] {
  const problems: InventoryProblem[] = [];
  const check = (
    field: string,
    item: { ecosystem: string; name: string },
    value: unknown,
  ) => {
    const result = checkInstalledVersion(item.ecosystem, value);
    if (!result.ok) {
      problems.push({
        field,
        ecosystem: item.ecosystem,
        name: item.name,
        value: String(value),
        part: result.part,
        reason: result.reason,
      });
    }
  };
  inventory.packages.forEach((p, i) => {
    if (known.package(p, i)) return;
    check(`packages[${i}].version`, p, p.version);
    if (p.sourceVersion !== undefined) {
      check(`packages[${i}].sourceVersion`, p, p.sourceVersion);
    }
    if (p.source !== undefined && p.source.trim().length === 0) {
      problems.push({
        field: `packages[${i}].source`,
        ecosystem: p.ecosystem,
        name: p.name,
        value: p.source,
        part: 'source',
        reason: 'is empty',
      });
    }
  });
  inventory.pending.forEach((u, i) => {
    if (known.pending(u, i)) return;
    check(`pending[${i}].currentVersion`, u, u.currentVersion);
    check(`pending[${i}].availableVersion`, u, u.availableVersion);
  });
  return problems;
}

/**
 * Refuses an upload with an unreadable version: an InputError (400) whose
 * message names the packages, the fields and the parts that are wrong.
 */
export function assertValidInventory(
  inventory: {
    packages: InventoryPackage[];
    pending: PendingUpdate[];
  },
  known?: KnownRecords,
): void {
  const problems = findInventoryProblems(inventory, known);
  if (problems.length === 0) return;
  const named = problems
    .slice(0, MAX_NAMED)
    .map(
      p =>
        `${p.field}: ${p.ecosystem} package ${
          p.name
        } has version ${JSON.stringify(p.value)} whose ${p.part} ${p.reason}`,
    );
  const more =
    problems.length > MAX_NAMED
      ? `; and ${problems.length - MAX_NAMED} more`
      : '';
  throw new InputError(
    `Inventory refused, nothing was stored: ${
      problems.length
    } unreadable version${problems.length === 1 ? '' : 's'}: ${named.join(
      '; ',
    )}${more}`,
  );
}
