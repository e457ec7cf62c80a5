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
 * A succeeded rollback waits the same way; it is verified when the
 * inventory shows every package of the job back at its version from before
 * (rollouts/rollbackEvidence.ts), otherwise it fails the same way.
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
import { Endpoint, EndpointStore } from '../endpoints/EndpointStore';
import { EndpointInventory, InventoryStore } from '../inventory/InventoryStore';
import { rollbackEvidence } from '../rollouts/rollbackEvidence';
import { RolloutCatalog } from '../rollouts/RolloutCatalog';
import { Job, JobQueue } from './JobQueue';

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
      await this.verifyEndpoint(event.endpointId, event.inventory, event.os);
    });
  }

  /**
   * Settles the endpoint's pending installs against its stored inventory:
   * `stored` and the endpoint's `os` when the caller holds them (the upload
   * that just stored it), else read.
   */
  async verifyEndpoint(
    endpointId: string,
    stored?: EndpointInventory,
    os?: Endpoint['os'],
  ): Promise<VerificationReport> {
    const report: VerificationReport = {
      verified: [],
      unverified: [],
      undecided: [],
    };
    const pending = await this.deps.jobs.pendingVerifications(endpointId);
    if (pending.length === 0) return report;
    const [inventory, endpointOs] = await Promise.all([
      stored ?? this.deps.inventory.getInventory(endpointId),
      os ?? this.deps.endpoints.getEndpoint(endpointId).then(e => e?.os),
    ]);
    const refs = [
      ...new Set(
        pending
          .filter(j => j.kind !== 'rollback')
          .map(j => j.patchRef)
          .filter((r): r is string => !!r),
      ),
    ];
    let targets = new Map<string, PatchTarget[]>();
    try {
      targets = await this.deps.targetsOf(refs);
    } catch (error) {
      this.deps.logger.warn(
        `Cannot read patches ${refs.join(', ')} to verify installs: ${error}`,
      );
    }
    const release = endpointOs ? endpointMatchKey(endpointOs) : '*';
    for (const job of pending) {
      if (job.kind === 'rollback') {
        await this.settleRollback(job, inventory, report);
        continue;
      }
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
            job,
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
        await this.deps.jobs.settleVerification(job, 'unverified', message, {
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

  /**
   * A rollback is verified when the inventory shows every package of the
   * job back at its version from before (absent if the install added it);
   * rollouts/rollbackEvidence.ts.
   */
  private async settleRollback(
    job: Job,
    inventory: EndpointInventory | undefined,
    report: VerificationReport,
  ): Promise<void> {
    if (!inventory) {
      report.undecided.push(job.id);
      return;
    }
    const evidence = rollbackEvidence(job.payload ?? {}, inventory.packages);
    const outcome = evidence.ok ? 'verified' : 'unverified';
    const message = evidence.ok
      ? `Inventory ${inventory.hash ?? ''} shows every package rolled back`
      : `Reported rolled back, but the next inventory shows ${evidence.wrong.join(
          '; ',
        )}`;
    if (
      await this.deps.jobs.settleVerification(job, outcome, message, {
        inventoryHash: inventory.hash ?? null,
      })
    )
      report[outcome].push(job.id);
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
