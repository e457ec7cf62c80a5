/*
 * The canonical form of an endpoint's inventory: what the agent hashes for
 * its check-in and what the backend can rebuild from what it stored.
 *
 * The backend stores each distinct package record and pending update once
 * (an absent arch, source or source version as none), and an endpoint's
 * inventory as the set of its records. The canonical form is therefore
 * that set, each record's fields written unambiguously, sorted, so that both sides reach the same text from
 * the same content whatever the order or the duplicates of the lists, and a
 * change of any field the backend stores changes it. Its SHA-256 (hex) is
 * the inventory hash; it lets the backend check an inventory sent as a
 * change to the one it holds (`PATCH /agent/v1/inventory`) against the
 * agent's own hash of the whole.
 */
import type { InstalledPackage } from '../evaluation/evaluatePatch';

/** The fields of a pending update that the backend stores. @public */
export interface PendingUpdateFields {
  ecosystem: string;
  name: string;
  currentVersion: string;
  availableVersion: string;
  source?: string;
}

/**
 * One field, unambiguously: its length (in UTF-16 code units), a colon,
 * itself. Cheaper than JSON, which scans every string for what to escape.
 */
function field(value: string): string {
  return `${value.length}:${value}`;
}

/**
 * Texts of records already written, by the record object: the backend's
 * records are shared frozen objects, read again for every change.
 */
const written = new WeakMap<object, string>();

/** A package record's stored fields, an absent one as empty. */
function packageText(p: InstalledPackage): string {
  let text = written.get(p);
  if (text === undefined) {
    text = writePackage(p);
    if (Object.isFrozen(p)) written.set(p, text);
  }
  return text;
}

function writePackage(p: InstalledPackage): string {
  return (
    field(p.ecosystem) +
    field(p.name) +
    field(p.version) +
    field(p.arch ?? '') +
    field(p.source ?? '') +
    field(p.sourceVersion ?? '')
  );
}

/** A pending update's stored fields, an absent source as empty. */
function pendingText(u: PendingUpdateFields): string {
  return (
    field(u.ecosystem) +
    field(u.name) +
    field(u.currentVersion) +
    field(u.availableVersion) +
    field(u.source ?? '')
  );
}

/**
 * Distinct texts in one order on every platform: the default sort, which
 * compares UTF-16 code units (not the locale), then duplicates dropped.
 */
function sortedDistinct(texts: string[]): string[] {
  texts.sort();
  const out: string[] = [];
  for (const t of texts) if (t !== out[out.length - 1]) out.push(t);
  return out;
}

/**
 * The canonical text of an inventory: the count and the sorted distinct
 * records of its packages, then of its pending updates, a line each, every
 * field length-prefixed. Hash it with SHA-256 for the inventory hash.
 * @public
 */
export function canonicalInventory(
  packages: ReadonlyArray<InstalledPackage>,
  pending: ReadonlyArray<PendingUpdateFields>,
): string {
  const p = sortedDistinct(packages.map(packageText));
  const u = sortedDistinct(pending.map(pendingText));
  return `${p.length}\n${p.join('\n')}\n${u.length}\n${u.join('\n')}`;
}

/** A change to an inventory: the package records that left and came. @public */
export interface InventoryChange<P extends InstalledPackage> {
  added: P[];
  removed: P[];
}

/**
 * The package records of `to` not in `from` (added) and of `from` not in
 * `to` (removed), by their stored fields: an upgrade is its old record removed and its new
 * one added.
 * @public
 */
export function inventoryChange<P extends InstalledPackage>(
  from: ReadonlyArray<P>,
  to: ReadonlyArray<P>,
): InventoryChange<P> {
  const before = new Map(from.map(p => [packageText(p), p]));
  const after = new Map(to.map(p => [packageText(p), p]));
  return {
    added: [...after].filter(([k]) => !before.has(k)).map(([, p]) => p),
    removed: [...before].filter(([k]) => !after.has(k)).map(([, p]) => p),
  };
}

/**
 * `packages` with a change applied (`inventoryChange`'s inverse): its
 * removed records taken out, its added ones put in. Undefined when it
 * removes a record `packages` does not hold: the change was made against
 * another inventory.
 * @public
 */
export function applyInventoryChange<P extends InstalledPackage>(
  packages: ReadonlyArray<P>,
  change: InventoryChange<P>,
): P[] | undefined {
  const byText = new Map(packages.map(p => [packageText(p), p]));
  for (const p of change.removed) {
    if (!byText.delete(packageText(p))) return undefined;
  }
  for (const p of change.added) byText.set(packageText(p), p);
  return [...byText.values()];
}
