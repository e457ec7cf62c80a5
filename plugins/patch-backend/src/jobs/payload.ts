/*
 * The one builder of install, verify and rollback payloads (CONTRACT §4).
 *
 * An agent installs what the payload lists and nothing else, so a payload
 * that names one package of a patch that needs three makes a partial
 * install look like a success. Every job that changes packages therefore
 * carries `packages`: every package the patch needs on that endpoint, from
 * the endpoint's applicability rows, and, for a source target, every
 * installed binary of that source (with `source` set; `version` is then the
 * source version the binary's source version must reach). The first
 * package is repeated in the old single-package fields for old agents.
 */
import { JsonObject } from '@backstage/types';
import { InstalledPackage } from '@patchbay/plugin-patch-common';

/** One package of a job payload (CONTRACT §4). @public */
export interface PayloadPackage {
  name: string;
  /** install/verify: the fixed version; rollback: the version installed by the patch. */
  version: string;
  /** Set for a binary of a source target: `version` is the source version to reach. */
  source?: string;
  /** The version before the install: what a rollback goes back to. */
  previousVersion?: string;
  /** rollback: the install's result says it was not installed before; the rollback removes it. */
  absentBefore?: boolean;
  arch?: string;
}

/** One applicability row of the endpoint for the patch. @public */
export interface PayloadNeed {
  package: string;
  ecosystem: string;
  installedVersion?: string;
  fixedVersion: string;
}

/** A patch target, as far as the payload needs it (CONTRACT §2). @public */
export interface PayloadTarget {
  ecosystem: string;
  package: string;
  fixedVersion: string;
  packageType?: 'binary' | 'source';
  binaries?: string[];
}

/** One installed package of the endpoint (inventory, CONTRACT §1). @public */
export type PayloadInstalled = InstalledPackage;

/** What `buildJobPayload` needs. @public */
export interface JobPayloadInput {
  kind: 'install' | 'verify' | 'rollback';
  patchRef: string;
  rolloutId?: string;
  /** The endpoint's applicability rows of the patch. */
  needs: PayloadNeed[];
  /** The patch's targets; used for source targets and when there are no rows. */
  targets?: PayloadTarget[];
  /** The endpoint's installed packages; needed only for source targets. */
  installed?: PayloadInstalled[];
  /** Members added as they are (bandwidth, maintenance windows). */
  extra?: JsonObject;
}

/** The packages of an install/verify job: every package the patch needs on the endpoint. @public */
export function payloadPackages(
  input: Pick<JobPayloadInput, 'needs' | 'targets' | 'installed'>,
): { ecosystem?: string; packages: PayloadPackage[] } {
  const targets = input.targets ?? [];
  const sourceTargets = targets.filter(t => t.packageType === 'source');
  const out = new Map<string, PayloadPackage>();
  let ecosystem: string | undefined;
  const add = (p: PayloadPackage) => {
    const key = `${p.name}\u0000${p.arch ?? ''}`;
    if (!out.has(key)) out.set(key, p);
  };
  for (const need of input.needs) {
    ecosystem ??= need.ecosystem;
    const source = sourceTargets.find(
      t =>
        t.ecosystem === need.ecosystem &&
        (t.package === need.package || t.binaries?.includes(need.package)),
    );
    if (!source) {
      add({
        name: need.package,
        version: need.fixedVersion,
        ...(need.installedVersion
          ? { previousVersion: need.installedVersion }
          : {}),
      });
      continue;
    }
    // A source target: every installed binary built from that source.
    const binaries = (input.installed ?? []).filter(
      p =>
        p.ecosystem === source.ecosystem &&
        ((p.source ?? p.name) === source.package ||
          source.binaries?.includes(p.name)),
    );
    if (binaries.length === 0) {
      // The inventory says nothing of the binaries (an agent that reports
      // no source): the row's package, marked as a source, so the agent
      // does not mistake the source version for its binary version.
      add({
        name: need.package,
        version: need.fixedVersion,
        source: source.package,
        ...(need.installedVersion
          ? { previousVersion: need.installedVersion }
          : {}),
      });
    }
    for (const b of binaries)
      add({
        name: b.name,
        version: need.fixedVersion,
        source: source.package,
        previousVersion: b.version,
        ...(b.arch ? { arch: b.arch } : {}),
      });
  }
  if (out.size === 0 && targets.length > 0) {
    // No rows (an endpoint added by hand): the patch's first target.
    const t = targets[0];
    ecosystem = t.ecosystem;
    add({
      name: t.package,
      version: t.fixedVersion,
      ...(t.packageType === 'source' ? { source: t.package } : {}),
    });
  }
  // By name, so the first one (the old agents' package) does not depend on
  // the order rows come back in.
  const packages = [...out.values()].sort(
    (a, b) =>
      a.name.localeCompare(b.name, 'en-US') ||
      (a.arch ?? '').localeCompare(b.arch ?? '', 'en-US'),
  );
  return { ecosystem, packages };
}

/**
 * The payload of an install or verify job for one endpoint: the old fields
 * (the first package) and `packages` with all of them. Builds nothing for
 * rollback; see `rollbackPayload`.
 * @public
 */
export function buildJobPayload(input: JobPayloadInput): JsonObject {
  const { ecosystem, packages } = payloadPackages(input);
  const first = packages[0];
  return {
    patchRef: input.patchRef,
    ...(input.rolloutId ? { rolloutId: input.rolloutId } : {}),
    ecosystem: ecosystem ?? null,
    package: first?.name ?? null,
    version: first?.version ?? null,
    ...(first?.previousVersion !== undefined
      ? { previousVersion: first.previousVersion }
      : {}),
    packages: packages as unknown as JsonObject[],
    ...(input.extra ?? {}),
  };
}

/**
 * `buildJobPayload` for the endpoints of one job: what is common to them is
 * given once, and endpoints with the same inputs (the same applicability
 * rows in the same order and, where given, the same installed packages)
 * get the same payload object, built once. A wave of 100,000 endpoints
 * that need the same package builds one payload, and the job queue writes
 * its text once for all of them (`creation.ts`). Do not mutate the
 * payloads it returns.
 * @internal
 */
export function sharedPayloads(
  common: Omit<JobPayloadInput, 'needs' | 'installed'>,
): (
  needs: PayloadNeed[],
  installed?: PayloadInstalled[],
  /** Members of this endpoint's payload only (e.g. its site's mirror). */
  own?: JsonObject,
) => JsonObject {
  const built = new Map<string, JsonObject>();
  // Endpoints that need the same packages often share one list: its key
  // is built once.
  const keys = new WeakMap<PayloadNeed[], string>();
  const needsKey = (needs: PayloadNeed[]) => {
    let key = keys.get(needs);
    if (key === undefined) {
      key = '';
      for (const n of needs)
        key += `${n.package}\u0000${n.ecosystem}\u0000${
          n.installedVersion ?? ''
        }\u0000${n.fixedVersion}\u0001`;
      keys.set(needs, key);
    }
    return key;
  };
  return (needs, installed, own) => {
    let key = needsKey(needs);
    if (installed) key += `\u0002${JSON.stringify(installed)}`;
    const hasOwn = own !== undefined && Object.keys(own).length > 0;
    if (hasOwn) key += `\u0003${JSON.stringify(own)}`;
    let payload = built.get(key);
    if (!payload) {
      payload = buildJobPayload({
        ...common,
        needs,
        installed,
        ...(hasOwn ? { extra: { ...common.extra, ...own } } : {}),
      });
      built.set(key, payload);
    }
    return payload;
  };
}

/**
 * The payload of a rollback job from the payload of the install it undoes
 * and the agent's per-package evidence (`before` is the version each
 * package had). For old agents the single fields say: install `version`
 * (the version to go back to) over `previousVersion` (the patched one).
 * @public
 */
export function rollbackPayload(args: {
  patchRef: string;
  rolloutId?: string;
  install: JsonObject;
  /** The install result's packages (CONTRACT §5), when the agent sent them. */
  resultPackages?: Array<{ name: string; before?: string }>;
  /** The install result's single `previousVersion`, from old agents. */
  previousVersion?: string;
}): JsonObject {
  const before = new Map(
    (args.resultPackages ?? [])
      .filter(p => p.before)
      .map(p => [p.name, p.before!]),
  );
  // Listed by the agent without a version before: the install added it.
  const added = new Set(
    (args.resultPackages ?? []).filter(p => !p.before).map(p => p.name),
  );
  const listed = Array.isArray(args.install.packages)
    ? (args.install.packages as unknown as PayloadPackage[])
    : [];
  // Old install payloads name one package in the single fields only.
  let installPackages: PayloadPackage[] = listed;
  if (listed.length === 0 && args.install.package) {
    installPackages = [
      {
        name: String(args.install.package),
        version: String(args.install.version ?? ''),
        ...(args.install.previousVersion
          ? { previousVersion: String(args.install.previousVersion) }
          : {}),
      },
    ];
  }
  const packages = installPackages.map((p, i) => {
    const back =
      before.get(p.name) ??
      (i === 0 ? args.previousVersion : undefined) ??
      p.previousVersion;
    return {
      name: p.name,
      version: p.version,
      ...(p.source ? { source: p.source } : {}),
      ...(back !== undefined ? { previousVersion: back } : {}),
      ...(back === undefined && added.has(p.name)
        ? { absentBefore: true }
        : {}),
      ...(p.arch ? { arch: p.arch } : {}),
    };
  });
  const first = packages[0];
  return {
    patchRef: args.patchRef,
    ...(args.rolloutId ? { rolloutId: args.rolloutId } : {}),
    ecosystem: (args.install.ecosystem ?? null) as any,
    package: first?.name ?? null,
    version: (first?.previousVersion ?? null) as any,
    previousVersion: first?.version ?? null,
    packages: packages as unknown as JsonObject[],
    // The install's throttle and site mirror serve its rollback too.
    ...(args.install.distribution
      ? { distribution: args.install.distribution }
      : {}),
  };
}
