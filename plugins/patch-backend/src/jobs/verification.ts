/*
 * Server-side verification of installs (CONTRACT §6).
 *
 * An agent's "succeeded" is a claim. A succeeded install stays
 * `verification: 'pending'` until the endpoint uploads its next inventory;
 * then the patch is evaluated on that inventory: installed → `verified`;
 * still needed or unknown → the job becomes `failed` and `unverified`
 * (audited by the queue), the endpoint's applicability is refreshed from the
 * same inventory (so its row stays or returns to needed), and the rollout's
 * gate counts a failure. Gates and progress count verified successes only.
 *
 * What cannot be evaluated (the patch is not readable from the catalog)
 * stays pending: it is never counted as a success, and the next inventory
 * tries again.
 */
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  evaluatePatch,
  PatchEvaluation,
  PatchTarget,
} from '@patchbay/plugin-patch-common';
import { endpointMatchKey } from '../applicability/release';
import { EndpointStore } from '../endpoints/EndpointStore';
import { InventoryStore } from '../inventory/InventoryStore';
import { RolloutCatalog } from '../rollouts/RolloutCatalog';
import { JobQueue } from './JobQueue';

/** What the verifier needs. @internal */
export interface JobVerifierDeps {
  jobs: JobQueue;
  inventory: InventoryStore;
  endpoints: EndpointStore;
  /** The targets of the patches, by ref; missing ones are left out. */
  targetsOf(patchRefs: string[]): Promise<Map<string, PatchTarget[]>>;
  /** Recomputes the endpoint's applicability from its stored inventory. */
  refreshApplicability?(endpointId: string): Promise<unknown>;
  logger: LoggerService;
}

/** What one verification pass did. @internal */
export interface VerificationReport {
  verified: string[];
  unverified: string[];
  /** Left pending: the patch could not be read. */
  undecided: string[];
}

/**
 * Settles an endpoint's installs awaiting verification against its
 * inventory. See the note at the top of the file.
 * @internal
 */
export class JobVerifier {
  constructor(private readonly deps: JobVerifierDeps) {}

  /** Subscribes to inventory uploads; returns the unsubscribe function. */
  start(): () => void {
    return this.deps.inventory.onInventoryChanged(async event => {
      await this.verifyEndpoint(event.endpointId);
    });
  }

  /** Settles the endpoint's pending installs against its stored inventory. */
  async verifyEndpoint(endpointId: string): Promise<VerificationReport> {
    const report: VerificationReport = {
      verified: [],
      unverified: [],
      undecided: [],
    };
    const pending = await this.deps.jobs.pendingVerifications(endpointId);
    if (pending.length === 0) return report;
    const [inventory, endpoint] = await Promise.all([
      this.deps.inventory.getInventory(endpointId),
      this.deps.endpoints.getEndpoint(endpointId),
    ]);
    const refs = [
      ...new Set(pending.map(j => j.patchRef).filter((r): r is string => !!r)),
    ];
    let targets = new Map<string, PatchTarget[]>();
    try {
      targets = await this.deps.targetsOf(refs);
    } catch (error) {
      this.deps.logger.warn(
        `Cannot read patches ${refs.join(', ')} to verify installs: ${error}`,
      );
    }
    const release = endpoint ? endpointMatchKey(endpoint.os) : '*';
    for (const job of pending) {
      const patchTargets = job.patchRef ? targets.get(job.patchRef) : undefined;
      if (!inventory || !patchTargets) {
        report.undecided.push(job.id);
        continue;
      }
      const evaluation: PatchEvaluation = evaluatePatch(patchTargets, {
        release,
        packages: inventory.packages,
        pending: inventory.pending,
      });
      if (evaluation.state === 'installed') {
        if (
          await this.deps.jobs.settleVerification(
            job.id,
            'verified',
            `Inventory ${inventory.hash ?? ''} shows ${job.patchRef} installed`,
          )
        )
          report.verified.push(job.id);
        continue;
      }
      const missing = evaluation.packages
        .filter(p => p.state !== 'installed')
        .map(p => `${p.name} ${p.installedVersion} (fixed ${p.fixedVersion})`);
      const message =
        evaluation.state === 'not-applicable'
          ? `Reported success, but the next inventory has no package of ${job.patchRef}`
          : `Reported success, but the next inventory shows ${job.patchRef} ${
              evaluation.state
            }: ${missing.join(', ')}`;
      if (
        await this.deps.jobs.settleVerification(job.id, 'unverified', message, {
          evaluation: evaluation.state,
          inventoryHash: inventory.hash ?? null,
        })
      )
        report.unverified.push(job.id);
    }
    if (report.unverified.length > 0 && this.deps.refreshApplicability) {
      // The endpoint still needs the patch: its row stays (or is back to)
      // needed, from the same inventory.
      await this.deps.refreshApplicability(endpointId);
    }
    return report;
  }
}

/**
 * Starts verifying installs on every inventory upload: the patches' targets
 * come from the catalog, the applicability refresh from the approvals area.
 * @internal
 */
export function startJobVerification(
  ctx: {
    jobs: JobQueue;
    inventory: InventoryStore;
    endpoints: EndpointStore;
    logger: LoggerService;
    approvals?: {
      applicability: { refreshEndpoint(id: string): Promise<unknown> };
    };
  },
  catalog: RolloutCatalog,
): JobVerifier {
  const verifier = new JobVerifier({
    jobs: ctx.jobs,
    inventory: ctx.inventory,
    endpoints: ctx.endpoints,
    targetsOf: async refs => {
      const out = new Map<string, PatchTarget[]>();
      const wanted = new Map(refs.map(r => [r.toLocaleLowerCase('en-US'), r]));
      for (const patch of await catalog.getPatches(refs)) {
        const ref = `patch:${patch.metadata.namespace ?? 'default'}/${
          patch.metadata.name
        }`.toLocaleLowerCase('en-US');
        const asked = wanted.get(ref);
        if (asked) out.set(asked, patch.spec.targets ?? []);
      }
      return out;
    },
    refreshApplicability: ctx.approvals
      ? async id => {
          await ctx.approvals!.applicability.refreshEndpoint(id);
        }
      : undefined,
    logger: ctx.logger.child({ area: 'job-verification' }),
  });
  verifier.start();
  return verifier;
}
