/*
 * What an endpoint's inventory says of a rollback job: every package of the
 * job must be back at the version it had before the install (`previousVersion`
 * in the rollback payload, jobs/payload.ts), or absent when the install had
 * added it (`absentBefore`, from the install's own per-package evidence). The agent's "succeeded" is a claim; this is
 * the evidence that settles it (jobs/verification.ts).
 */
import { JsonObject } from '@backstage/types';
import { PayloadPackage } from '../jobs/payload';

/** An installed package, as far as the evidence needs it. @internal */
export interface InstalledPackage {
  name: string;
  version: string;
  arch?: string;
}

/** The verdict on one rollback job. @internal */
export interface RollbackEvidence {
  /** Every package is where the rollback wanted it. */
  ok: boolean;
  /** The packages that are not, in words ("openssl 3.0.13-1, wanted 3.0.11-1"). */
  wrong: string[];
}

/** An explicit epoch 0 is the same version as none (dpkg and rpm agree). */
const norm = (v: string) => v.replace(/^0:/, '');

/**
 * The packages a rollback payload undoes: `packages`, or the single fields
 * of an old payload (`package` goes back to `version`).
 */
export function rollbackPackages(payload: JsonObject): PayloadPackage[] {
  if (Array.isArray(payload.packages) && payload.packages.length > 0)
    return payload.packages as unknown as PayloadPackage[];
  if (!payload.package) return [];
  return [
    {
      name: String(payload.package),
      version: String(payload.previousVersion ?? ''),
      ...(payload.version ? { previousVersion: String(payload.version) } : {}),
    },
  ];
}

/**
 * Whether the inventory shows every package of the rollback back where it
 * was. Fails closed: a payload that names no package is never verified.
 * @internal
 */
export function rollbackEvidence(
  payload: JsonObject,
  installed: InstalledPackage[],
): RollbackEvidence {
  const packages = rollbackPackages(payload);
  if (packages.length === 0)
    return { ok: false, wrong: ['the rollback names no package'] };
  const wrong: string[] = [];
  for (const p of packages) {
    const present = installed.filter(
      i => i.name === p.name && (!p.arch || !i.arch || i.arch === p.arch),
    );
    if (p.absentBefore && !p.previousVersion) {
      // Added by the install: the rollback removes it.
      if (present.length > 0)
        wrong.push(
          `${p.name} ${present[0].version}, wanted absent (the install added it)`,
        );
      continue;
    }
    if (!p.previousVersion) {
      // Nothing says where it was: never verified (fail closed).
      wrong.push(`${p.name}: no version from before the install is known`);
      continue;
    }
    const back = norm(p.previousVersion);
    if (present.length === 0) {
      wrong.push(`${p.name} absent, wanted ${p.previousVersion}`);
    } else if (present.some(i => norm(i.version) !== back)) {
      wrong.push(
        `${p.name} ${
          present.find(i => norm(i.version) !== back)!.version
        }, wanted ${p.previousVersion}`,
      );
    }
  }
  return { ok: wrong.length === 0, wrong };
}
