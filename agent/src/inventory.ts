/*
 * The agent's inventory: read from the provider (kept for
 * `inventoryRefreshSeconds`), hashed in its canonical form for the check-in,
 * and sent when the backend asks: whole the first time, then as a change to
 * the inventory the backend last stored from this agent (the records that
 * came and left: two after an install, instead of a thousand). The backend
 * applies a change only when it holds its base and the result hashes to the
 * agent's hash of its whole inventory; when it cannot (409, or an older
 * backend without the route), the whole inventory goes in the same call.
 */
import { createHash } from 'node:crypto';
import {
  canonicalInventory,
  inventoryChange,
} from '@patchbay/plugin-patch-common';
import { AgentEvents, TypedEmitter } from './events';
import { AgentApi, ApiError } from './http/AgentApi';
import { AgentLogger } from './logger';
import {
  InstalledPackage,
  PatchProvider,
  PendingUpdate,
} from './providers/types';

/**
 * The hash the check-in carries: sorts both lists in place (for the upload),
 * then hashes the inventory's canonical form (patch-common's
 * `canonicalInventory`: every field the backend stores, source names and
 * versions included), so any change the backend would store makes the
 * server ask for the inventory again, and the backend can recompute it from
 * what it stored (which is how it checks an inventory sent as a change).
 * @public
 */
export function inventoryHash(
  packages: InstalledPackage[],
  pending: PendingUpdate[],
): string {
  const sortKey = (p: { name: string; arch?: string }) =>
    `${p.name}\0${p.arch ?? ''}`;
  packages.sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
  pending.sort((a, b) => a.name.localeCompare(b.name));
  return createHash('sha256')
    .update(canonicalInventory(packages, pending))
    .digest('hex');
}

/** Answers to a change that mean "send the whole inventory". */
const SEND_WHOLE = new Set([400, 404, 405, 409, 413]);

/** One reading of the inventory, with its hash. */
export interface CollectedInventory {
  hash: string;
  packages: InstalledPackage[];
  pending: PendingUpdate[];
  at: number;
}

/** Reads, hashes and sends the agent's inventory (see the note at the top). */
export class InventoryReporter {
  private cache: CollectedInventory | undefined;
  /** The inventory the backend last stored from this agent (this run). */
  private lastSent: { hash: string; packages: InstalledPackage[] } | undefined;

  constructor(
    private readonly deps: {
      provider: PatchProvider;
      api: AgentApi;
      logger: AgentLogger;
      events: TypedEmitter<AgentEvents>;
      refreshSeconds: number;
    },
  ) {}

  /** The inventory, read again when older than the refresh interval or when forced. */
  async collect(force = false): Promise<CollectedInventory> {
    const { provider, logger, refreshSeconds } = this.deps;
    const age = this.cache ? Date.now() - this.cache.at : Infinity;
    if (!force && this.cache && age < refreshSeconds * 1000) return this.cache;
    const [packages, pending] = await Promise.all([
      provider.inventory({ logger }),
      provider.pendingUpdates({ logger }),
    ]);
    const hash = inventoryHash(packages, pending);
    this.cache = { hash, packages, pending, at: Date.now() };
    return this.cache;
  }

  /** Forgets the last reading (a job changed the machine). */
  invalidate(): void {
    this.cache = undefined;
  }

  /** Reads the inventory and sends it, as a change when the backend can apply one. */
  async send(): Promise<{ packages: number; pending: number }> {
    const { api, logger, events } = this.deps;
    const inv = await this.collect(true);
    const collectedAt = new Date(inv.at).toISOString();
    let change: { added: number; removed: number } | undefined;
    const last = this.lastSent;
    if (last && last.hash !== inv.hash) {
      const { added, removed } = inventoryChange(last.packages, inv.packages);
      try {
        await api.patchInventory({
          base: last.hash,
          hash: inv.hash,
          collectedAt,
          added,
          removed,
          pending: inv.pending,
        });
        change = { added: added.length, removed: removed.length };
      } catch (error) {
        if (!(error instanceof ApiError && SEND_WHOLE.has(error.status!)))
          throw error;
        logger.info(
          'The backend could not apply the change; sending the whole inventory',
          { reason: error.message },
        );
      }
    }
    if (!change) {
      await api.putInventory({
        hash: inv.hash,
        collectedAt,
        packages: inv.packages,
        pending: inv.pending,
      });
    }
    this.lastSent = { hash: inv.hash, packages: inv.packages };
    logger.info('Inventory sent', {
      packages: inv.packages.length,
      pending: inv.pending.length,
      ...(change ?? {}),
    });
    events.emit('inventory:sent', {
      hash: inv.hash,
      packages: inv.packages.length,
      pending: inv.pending.length,
      ...(change ? { change } : {}),
    });
    return { packages: inv.packages.length, pending: inv.pending.length };
  }
}
