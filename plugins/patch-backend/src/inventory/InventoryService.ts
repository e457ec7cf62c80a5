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
 * An agent's inventory uploads: a version that cannot be read is refused
 * whole (InputError, 400), never stored; a readable one replaces the
 * endpoint's inventory and is audited.
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
    assertValidInventory({ packages, pending }, this.deps.inventory.known);
    const event = await this.deps.inventory.replaceInventory(agentId, {
      hash,
      packages,
      pending,
    });
    await this.deps.audit.record({
      actor: `agent:${agentId}`,
      action: 'inventory-upload',
      outcome: 'succeeded',
      targetType: 'endpoint',
      targetId: agentId,
      details: { hash, packages: event.packages, pending: event.pending },
    });
    return event;
  }
}
