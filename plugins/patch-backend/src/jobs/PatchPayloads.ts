import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import { InventoryStore } from '../inventory/InventoryStore';
import {
  buildJobPayload,
  PayloadInstalled,
  PayloadNeed,
  PayloadTarget,
} from './payload';

const ID_BATCH = 1000;

/**
 * Payloads of install and verify jobs an operator creates for a patch: per
 * endpoint, every package the patch needs there (its applicability rows;
 * for a source target every installed binary), through the one payload
 * builder. Reads `patch_applicability` and, only for source targets,
 * the installed binaries of those sources (`InventoryStore.binariesOf`).
 * @internal
 */
export class PatchPayloads {
  private readonly inventory: InventoryStore;

  constructor(private readonly db: Knex) {
    this.inventory = new InventoryStore(db);
  }

  /**
   * The payload of each endpoint: `base` (bandwidth, artifact, ...) with
   * the package fields and `packages` of the patch on that endpoint.
   */
  async forEndpoints(args: {
    kind: 'install' | 'verify';
    patchRef: string;
    endpointIds: string[];
    base: JsonObject;
    targets?: PayloadTarget[];
  }): Promise<Map<string, JsonObject>> {
    const needs = new Map<string, Array<PayloadNeed & { state: string }>>();
    const sources = (args.targets ?? []).filter(
      t => t.packageType === 'source',
    );
    for (let i = 0; i < args.endpointIds.length; i += ID_BATCH) {
      const part = args.endpointIds.slice(i, i + ID_BATCH);
      const rows = await this.db('patch_applicability')
        .where('patch_ref', args.patchRef)
        .whereIn('endpoint_id', part)
        .select(
          'endpoint_id',
          'package',
          'ecosystem',
          'installed_version',
          'fixed_version',
          'state',
        );
      for (const r of rows as any[]) {
        const list = needs.get(r.endpoint_id) ?? [];
        list.push({
          package: r.package,
          ecosystem: r.ecosystem,
          installedVersion: r.installed_version,
          fixedVersion: r.fixed_version,
          state: r.state,
        });
        needs.set(r.endpoint_id, list);
      }
    }
    // Only source targets need the inventory (every binary of the source).
    const installed: Map<string, PayloadInstalled[]> =
      await this.inventory.binariesOf(args.endpointIds, sources);
    const out = new Map<string, JsonObject>();
    for (const endpointId of args.endpointIds) {
      const rows = needs.get(endpointId) ?? [];
      // An install takes what is needed; a verify checks every package.
      const needed = rows.filter(r => r.state === 'needed');
      const chosen =
        args.kind === 'install' && needed.length > 0 ? needed : rows;
      const built = buildJobPayload({
        kind: args.kind,
        patchRef: args.patchRef,
        needs: chosen,
        targets: args.targets,
        installed: installed.get(endpointId),
      });
      // Without rows or targets the operator's own package fields stand.
      out.set(
        endpointId,
        (built.packages as unknown[]).length > 0
          ? { ...args.base, ...built }
          : { ...built, ...args.base },
      );
    }
    return out;
  }
}
