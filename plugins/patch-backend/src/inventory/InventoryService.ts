import { ConflictError } from '@backstage/errors';
import {
  applyInventoryChange,
  canonicalInventory,
} from '@patchbay/plugin-patch-common';
import { createHash } from 'node:crypto';
import { AuditLog } from '../audit/AuditLog';
import {
  InventoryChangedEvent,
  InventoryPackage,
  InventoryStore,
  PendingUpdate,
} from './InventoryStore';
import { assertValidInventory } from './validation';

/** An agent's inventory upload, as it sends it. @internal */
export interface InventoryUpload {
  hash: string;
  packages: InventoryPackage[];
  pending: PendingUpdate[];
}

/**
 * An agent's inventory sent as a change to the one the server holds: the
 * records that came and left, and the whole list of pending updates.
 * @internal
 */
export interface InventoryChangeUpload {
  /** The hash of the inventory the change applies to. */
  base: string;
  /** The agent's hash of the whole new inventory. */
  hash: string;
  added: InventoryPackage[];
  removed: InventoryPackage[];
  pending: PendingUpdate[];
}

/** The inventory hash: SHA-256 of the canonical form (patch-common). */
function inventoryDigest(
  packages: readonly InventoryPackage[],
  pending: readonly PendingUpdate[],
): string {
  return createHash('sha256')
    .update(canonicalInventory(packages, pending))
    .digest('hex');
}

/**
 * An agent's inventory uploads: a version that cannot be read is refused
 * whole (InputError, 400), never stored; a readable one replaces the
 * endpoint's inventory and is audited.
 *
 * A change (`uploadChange`) is evidence only as far as it adds up: it is
 * applied to the stored inventory when that inventory is the change's base
 * (its stored hash, and the hash of what is stored, are the base), and
 * stored when the result hashes to the agent's hash of its whole inventory.
 * Anything else is a ConflictError (409): nothing is stored, and the agent
 * sends the whole inventory.
 * @internal
 */
export class InventoryService {
  constructor(
    private readonly deps: { inventory: InventoryStore; audit: AuditLog },
  ) {}

  /** Stores an authenticated agent's upload. Throws InputError when unreadable. */
  async upload(
    agentId: string,
    upload: InventoryUpload,
  ): Promise<InventoryChangedEvent> {
    const { hash, packages, pending } = upload;
    // Each record looked up once, for the validation and the write.
    const lookedUp = this.deps.inventory.lookUp({ packages, pending });
    assertValidInventory({ packages, pending }, lookedUp.known);
    const event = await this.deps.inventory.replaceInventory(
      agentId,
      { hash, packages, pending },
      { lookedUp },
    );
    await this.audit(agentId, event);
    return event;
  }

  /** Stores an authenticated agent's change. Throws InputError, ConflictError. */
  async uploadChange(
    agentId: string,
    change: InventoryChangeUpload,
  ): Promise<InventoryChangedEvent> {
    const { base, hash, added, removed, pending } = change;
    const stored = await this.deps.inventory.getInventory(agentId);
    if (
      !stored?.hash ||
      stored.hash !== base ||
      inventoryDigest(stored.packages, stored.pending) !== base
    )
      throw new ConflictError(
        'This server does not hold the inventory the change applies to; send the whole inventory.',
      );
    const packages = applyInventoryChange(stored.packages, { added, removed });
    if (!packages)
      throw new ConflictError(
        'The change removes a package the stored inventory does not hold; send the whole inventory.',
      );
    if (inventoryDigest(packages, pending) !== hash)
      throw new ConflictError(
        'The changed inventory does not hash to the one the agent holds; send the whole inventory.',
      );
    assertValidInventory(
      { packages: added, pending },
      this.deps.inventory.lookUp({ packages: added, pending }).known,
    );
    const event = await this.deps.inventory.replaceInventory(
      agentId,
      { hash, packages, pending },
      { ifHash: base, over: stored },
    );
    await this.audit(agentId, event, {
      added: added.length,
      removed: removed.length,
    });
    return event;
  }

  private async audit(
    agentId: string,
    event: InventoryChangedEvent,
    change?: { added: number; removed: number },
  ) {
    await this.deps.audit.record({
      actor: `agent:${agentId}`,
      action: 'inventory-upload',
      outcome: 'succeeded',
      targetType: 'endpoint',
      targetId: agentId,
      details: {
        hash: event.hash,
        packages: event.packages,
        pending: event.pending,
        ...(change ? { change } : {}),
      },
    });
  }
}
