/*
 * The canonical form of an endpoint's inventory: what the agent hashes for
 * its check-in and what the backend can rebuild from what it stored.
 *
 * The backend stores each distinct package record and pending update once
 * (an absent arch, source or source version as none), and an endpoint's
 * inventory as the set of its records. The canonical form is therefore
 * that set, each record's fields as a JSON array, sorted, so that both sides reach the same text from
 * the same content whatever the order or the duplicates of the lists, and a
 * change of any field the backend stores changes it. Its SHA-256 (hex) is
 * the inventory hash; it lets the backend check an inventory sent as a
 * change to the one it holds (`PATCH /agent/v1/inventory`) against the
 * agent's own hash of the whole.
 */

/** The fields of an installed package that the backend stores. @public */
export interface InventoryPackageFields {
  ecosystem: string;
  name: string;
  version: string;
  arch?: string;
  source?: string;
  sourceVersion?: string;
}

/** The fields of a pending update that the backend stores. @public */
export interface PendingUpdateFields {
  ecosystem: string;
  name: string;
  currentVersion: string;
  availableVersion: string;
  source?: string;
}

/** A package record's stored fields as one line, an absent field as empty. */
function packageText(p: InventoryPackageFields): string {
  return JSON.stringify([
    p.ecosystem,
    p.name,
    p.version,
    p.arch ?? '',
    p.source ?? '',
    p.sourceVersion ?? '',
  ]);
}

/** A pending update's stored fields as one line, an absent source as empty. */
function pendingText(u: PendingUpdateFields): string {
  return JSON.stringify([
    u.ecosystem,
    u.name,
    u.currentVersion,
    u.availableVersion,
    u.source ?? '',
  ]);
}

/** Distinct strings in one order on every platform (UTF-16 code units). */
function sortedSet(keys: string[]): string[] {
  return [...new Set(keys)].sort((a, b) => {
    if (a === b) return 0;
    return a < b ? -1 : 1;
  });
}

/**
 * The canonical text of an inventory: the sorted distinct records of its
 * packages and of its pending updates, as JSON. Hash it with SHA-256 for the
 * inventory hash.
 * @public
 */
export function canonicalInventory(
  packages: ReadonlyArray<InventoryPackageFields>,
  pending: ReadonlyArray<PendingUpdateFields>,
): string {
  const lines = (texts: string[]) => sortedSet(texts).join(',');
  return `[[${lines(packages.map(packageText))}],[${lines(
    pending.map(pendingText),
  )}]]`;
}

/** A change to an inventory: the package records that left and came. @public */
export interface InventoryChange<P extends InventoryPackageFields> {
  added: P[];
  removed: P[];
}

/**
 * The package records of `to` not in `from` (added) and of `from` not in
 * `to` (removed), by their stored fields: an upgrade is its old record removed and its new
 * one added.
 * @public
 */
export function inventoryChange<P extends InventoryPackageFields>(
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
export function applyInventoryChange<P extends InventoryPackageFields>(
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
