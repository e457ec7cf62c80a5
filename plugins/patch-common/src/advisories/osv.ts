import {
  ANNOTATION_ADVISORY_SOURCE,
  ANNOTATION_OSV_ECOSYSTEMS,
  PATCHBAY_API_VERSION,
  PATCH_KIND,
} from '../entities/constants';
import { validatePatchEntity } from '../entities/PatchEntityV1alpha1';
import { PATCH_SEVERITIES } from '../entities/types';
import type {
  PatchCvss,
  PatchEntity,
  PatchReference,
  PatchSeverity,
  PatchTarget,
  PatchType,
  VersionEcosystem,
} from '../entities/types';
import { parseVersion } from '../versions';
import { cvssFromVector, severityFromCvss } from './cvss';

/**
 * Thrown when an OSV advisory cannot become a Patch. The message starts with
 * the advisory id (or `<unknown id>`) and says why.
 * @public
 */
export class AdvisoryError extends Error {
  /** The advisory id, when the advisory had a readable one. */
  readonly advisoryId?: string;
  /** Why the advisory was refused. */
  readonly reason: string;

  constructor(advisoryId: string | undefined, reason: string) {
    super(`Advisory ${advisoryId ?? '<unknown id>'}: ${reason}`);
    this.name = 'AdvisoryError';
    this.advisoryId = advisoryId;
    this.reason = reason;
  }
}

/**
 * Options of {@link patchEntitiesFromOsv}.
 * @public
 */
export interface OsvMappingOptions {
  /** Owner of the emitted patches; default `group:default/it-operations`. */
  owner?: string;
  /** Catalog namespace of the emitted patches; default `default`. */
  namespace?: string;
}

/**
 * Default owner of ingested patches: the operations group of the demo org.
 * @public
 */
export const DEFAULT_PATCH_OWNER = 'group:default/it-operations';

interface EcosystemInfo {
  ecosystem: VersionEcosystem;
  osId: string;
  vendor: string;
  release?: string;
  /** The ecosystem's advisories name source packages (Debian, Ubuntu). */
  sourcePackages?: boolean;
}

/**
 * Maps an OSV ecosystem string (`Debian:12`, `Ubuntu:22.04:LTS`,
 * `Ubuntu:Pro:18.04:LTS`, `AlmaLinux:9`, `Rocky Linux:9`,
 * `Red Hat:enterprise_linux:9::appstream`, `Alpine:v3.20`, `Alpine`, ...) to
 * the Patchbay ecosystem, os id and release; undefined for ecosystems whose
 * packages Patchbay does not manage (npm, PyPI, ...).
 * @public
 */
export function mapOsvEcosystem(osvEcosystem: string):
  | {
      ecosystem: VersionEcosystem;
      /** `<os id>:<version>` or a bare `<os id>`. */
      release: string;
      vendor: string;
    }
  | undefined {
  const info = readEcosystem(osvEcosystem);
  if (!info) return undefined;
  return {
    ecosystem: info.ecosystem,
    release: info.release ? `${info.osId}:${info.release}` : info.osId,
    vendor: info.vendor,
  };
}

function readEcosystem(osvEcosystem: string): EcosystemInfo | undefined {
  const parts = osvEcosystem.split(':').map(p => p.trim());
  const name = parts[0].toLowerCase();
  const rest = parts.slice(1).filter(Boolean);
  // The first part that looks like a version number is the release: Ubuntu
  // puts "Pro" before it and "LTS" after it, Red Hat a product name before.
  const numeric = (re: RegExp) => rest.map(p => re.exec(p)?.[1]).find(Boolean);
  switch (name) {
    case 'debian':
      return {
        ecosystem: 'deb',
        osId: 'debian',
        vendor: 'Debian',
        release: numeric(/^(\d+)$/),
        sourcePackages: true,
      };
    case 'ubuntu':
      return {
        ecosystem: 'deb',
        osId: 'ubuntu',
        vendor: 'Ubuntu',
        release: numeric(/^(\d+\.\d+)$/),
        sourcePackages: true,
      };
    case 'almalinux':
      return {
        ecosystem: 'rpm',
        osId: 'almalinux',
        vendor: 'AlmaLinux',
        release: numeric(/^(\d+)(?:\.\d+)?$/),
      };
    case 'rocky linux':
    case 'rocky':
      return {
        ecosystem: 'rpm',
        osId: 'rocky',
        vendor: 'Rocky Linux',
        release: numeric(/^(\d+)(?:\.\d+)?$/),
      };
    case 'red hat':
    case 'redhat':
      // e.g. "Red Hat:enterprise_linux:9::appstream" or "Red Hat:rhel_eus:9.4::baseos"
      return {
        ecosystem: 'rpm',
        osId: 'rhel',
        vendor: 'Red Hat',
        release: numeric(/^(\d+)(?:\.\d+)*$/),
      };
    case 'alpine':
      return {
        ecosystem: 'apk',
        osId: 'alpine',
        vendor: 'Alpine',
        release: numeric(/^v?(\d+\.\d+)$/),
      };
    case 'cleanstart':
      // CleanStart OS is built with apk; its advisories name no release.
      return { ecosystem: 'apk', osId: 'cleanstart', vendor: 'CleanStart' };
    default:
      return undefined;
  }
}

const CVE = /^CVE-\d{4}-\d{4,}$/;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Whether a package URL names a source package: `arch=source` among its
 * qualifiers (`pkg:deb/debian/openssl?arch=source`,
 * `pkg:deb/ubuntu/php8.1@8.1.2-1ubuntu2.22?arch=source&distro=jammy`).
 */
function purlIsSource(purl: unknown): boolean {
  if (typeof purl !== 'string') return false;
  const query = purl.split('#')[0].split('?')[1];
  if (!query) return false;
  return query
    .split('&')
    .some(q => q.toLowerCase() === 'arch=source' || q === 'arch=src');
}

/**
 * The binary package names of an affected entry, from Ubuntu's
 * `ecosystem_specific.binaries`: `[{ binary_name, binary_version }]` (plain
 * strings are taken too). Unique, in the advisory's order.
 */
function binariesOf(entry: Record<string, unknown>): string[] {
  const es = isRecord(entry.ecosystem_specific) ? entry.ecosystem_specific : {};
  if (!Array.isArray(es.binaries)) return [];
  const names = new Set<string>();
  for (const b of es.binaries) {
    const name = isRecord(b) ? b.binary_name : b;
    if (typeof name === 'string' && name.trim()) names.add(name.trim());
  }
  return [...names];
}

/**
 * The catalog entity name for an advisory id: lower case, [a-z0-9] with
 * [-_.] between, at most 63 characters (e.g. ALSA-2026:9692 → alsa-2026-9692).
 * @public
 */
export function entityNameFromAdvisoryId(id: string): string {
  const name = id
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[-_.]{2,}/g, '-')
    .replace(/^[-_.]+|[-_.]+$/g, '');
  return name.slice(0, 63).replace(/[-_.]+$/, '');
}

const VENDOR_SEVERITY: Record<string, PatchSeverity> = {
  critical: 'critical',
  important: 'high',
  high: 'high',
  moderate: 'medium',
  medium: 'medium',
  low: 'low',
  negligible: 'low',
  unimportant: 'low',
};

function vendorSeverity(
  adv: Record<string, unknown>,
): PatchSeverity | undefined {
  // Red Hat family summaries: "Important: openssl security update".
  const summary = typeof adv.summary === 'string' ? adv.summary : '';
  const m = /^(critical|important|moderate|low):/i.exec(summary.trim());
  if (m) return VENDOR_SEVERITY[m[1].toLowerCase()];
  // GHSA, Debian, Ubuntu and others keep it in database_specific.
  const ds = isRecord(adv.database_specific) ? adv.database_specific : {};
  for (const key of ['severity', 'urgency']) {
    const v = ds[key];
    if (typeof v === 'string' && VENDOR_SEVERITY[v.toLowerCase()]) {
      return VENDOR_SEVERITY[v.toLowerCase()];
    }
  }
  // Debian: the security tracker's urgency per affected package; the
  // worst one rates the advisory ("not yet assigned" says nothing).
  let urgency: PatchSeverity | undefined;
  for (const a of Array.isArray(adv.affected) ? adv.affected : []) {
    const es =
      isRecord(a) && isRecord(a.ecosystem_specific) ? a.ecosystem_specific : {};
    const u = typeof es.urgency === 'string' ? es.urgency.toLowerCase() : '';
    const v = VENDOR_SEVERITY[u.replace(/\*+$/, '')];
    if (
      v &&
      (!urgency ||
        PATCH_SEVERITIES.indexOf(v) < PATCH_SEVERITIES.indexOf(urgency))
    ) {
      urgency = v;
    }
  }
  if (urgency) return urgency;
  // Ubuntu: severity: [{ type: 'Ubuntu', score: 'medium' }].
  if (Array.isArray(adv.severity)) {
    for (const s of adv.severity) {
      if (isRecord(s) && s.type === 'Ubuntu' && typeof s.score === 'string') {
        const v = VENDOR_SEVERITY[s.score.toLowerCase()];
        if (v) return v;
      }
    }
  }
  return undefined;
}

function worstCvss(adv: Record<string, unknown>): PatchCvss | undefined {
  const vectors: string[] = [];
  const collect = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const s of list) {
      if (isRecord(s) && typeof s.score === 'string') vectors.push(s.score);
    }
  };
  collect(adv.severity);
  if (Array.isArray(adv.affected)) {
    for (const a of adv.affected) if (isRecord(a)) collect(a.severity);
  }
  let worst: PatchCvss | undefined;
  for (const v of vectors) {
    const c = cvssFromVector(v);
    if (c && (!worst || c.score > worst.score)) worst = c;
  }
  return worst;
}

function typeOf(id: string, summary: string): PatchType {
  // Errata prefixes: xxSA security, xxBA bug fix, xxEA enhancement.
  const prefix = /^([A-Z]+)-/.exec(id)?.[1] ?? '';
  if (/BA$/.test(prefix)) return 'bugfix';
  if (/EA$/.test(prefix)) return 'feature';
  if (
    /^(?:none:\s*)?.*\bbug ?fix\b/i.test(summary) &&
    !/security/i.test(summary)
  ) {
    return 'bugfix';
  }
  return 'security';
}

function isoDate(id: string, field: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) {
    throw new AdvisoryError(id, `${field} is not a date: ${JSON.stringify(v)}`);
  }
  // Normalise to RFC 3339 so the schema's date-time format accepts it.
  return new Date(Date.parse(v)).toISOString().replace('.000Z', 'Z');
}

const ROLLBACK: Record<string, string> = {
  deb: 'Reinstall the previous version with apt-get install <package>=<version> (kept in /var/cache/apt/archives or on snapshot.debian.org), then restart the services that use it.',
  rpm: 'Run dnf history undo <transaction> (or dnf downgrade <package>), then restart the services that use it.',
  apk: 'Reinstall the previous version with apk add <package>=<version> from a cached or pinned repository, then restart the services that use it.',
};

/**
 * Maps one OSV advisory to Patch entities: one Patch per advisory, with one
 * entry in `spec.targets` per (ecosystem, release, package, fixed version)
 * taken from the `fixed` events of its ECOSYSTEM ranges. `versions[]` lists
 * are ignored on purpose: some feeds list the fixed version there (see the
 * corpus notes), and ranges are the normative part of OSV. Affected entries
 * of ecosystems Patchbay does not manage are left out.
 *
 * Debian and Ubuntu name source packages: their targets (and any whose purl
 * says `arch=source`) get `packageType: 'source'`, with Ubuntu's
 * `ecosystem_specific.binaries` names kept as `binaries`; the release key
 * comes from the ecosystem (`Debian:12` → `debian:12`, `Ubuntu:22.04:LTS`
 * → `ubuntu:22.04`).
 *
 * Pure: no I/O. Every result passes {@link validatePatchEntity}.
 *
 * @throws AdvisoryError naming the advisory id and the reason when the
 *   advisory is malformed (missing fields, wrong types, no supported
 *   ecosystem, no fixed version, an unreadable fixed version)
 * @public
 */
export function patchEntitiesFromOsv(
  advisory: unknown,
  options: OsvMappingOptions = {},
): PatchEntity[] {
  if (!isRecord(advisory)) {
    throw new AdvisoryError(undefined, 'is not a JSON object');
  }
  const rawId = advisory.id;
  if (typeof rawId !== 'string' || rawId.trim() === '') {
    throw new AdvisoryError(
      undefined,
      'has no id (a non-empty string is required)',
    );
  }
  const id = rawId.trim();
  const fail = (reason: string): never => {
    throw new AdvisoryError(id, reason);
  };
  const name = entityNameFromAdvisoryId(id);
  if (!name) fail('id cannot be turned into an entity name');

  const summary = advisory.summary;
  if (summary !== undefined && typeof summary !== 'string') {
    fail('summary is not a string');
  }
  const details = advisory.details;
  if (details !== undefined && typeof details !== 'string') {
    fail('details is not a string');
  }
  if (!Array.isArray(advisory.affected)) {
    fail(
      advisory.affected === undefined
        ? 'has no affected list'
        : 'affected is not a list',
    );
  }
  const affected = advisory.affected as unknown[];
  if (advisory.withdrawn !== undefined && advisory.withdrawn !== null) {
    fail('is withdrawn');
  }

  const targets: PatchTarget[] = [];
  const seen = new Set<string>();
  const vendors = new Set<string>();
  const osvEcosystems = new Set<string>();
  const unsupported = new Set<string>();
  let supportedEntries = 0;
  affected.forEach((entry, i) => {
    const where = `affected[${i}]`;
    if (!isRecord(entry)) fail(`${where} is not an object`);
    const a = entry as Record<string, unknown>;
    if (!isRecord(a.package)) fail(`${where}.package is missing`);
    const pkg = a.package as Record<string, unknown>;
    if (typeof pkg.ecosystem !== 'string' || !pkg.ecosystem.trim()) {
      fail(`${where}.package.ecosystem is missing or not a string`);
    }
    if (typeof pkg.name !== 'string' || !pkg.name.trim()) {
      fail(`${where}.package.name is missing or not a string`);
    }
    const ecosystemName = (pkg.ecosystem as string).trim();
    const info = readEcosystem(ecosystemName);
    if (!info) {
      unsupported.add(ecosystemName);
      return;
    }
    supportedEntries++;
    vendors.add(info.vendor);
    osvEcosystems.add(ecosystemName);
    const release = info.release ? `${info.osId}:${info.release}` : info.osId;
    // Debian and Ubuntu track source packages (`openssl`), endpoints run
    // their binaries (`libssl3`): such targets match by source name.
    const source = info.sourcePackages === true || purlIsSource(pkg.purl);
    const binaries = source ? binariesOf(a) : [];
    if (a.ranges !== undefined && !Array.isArray(a.ranges)) {
      fail(`${where}.ranges is not a list`);
    }
    ((a.ranges as unknown[]) ?? []).forEach((range, j) => {
      if (!isRecord(range)) fail(`${where}.ranges[${j}] is not an object`);
      const r = range as Record<string, unknown>;
      if (typeof r.type !== 'string')
        fail(`${where}.ranges[${j}].type is missing`);
      // GIT and SEMVER ranges speak of source commits and library versions,
      // not of distribution packages.
      if (r.type !== 'ECOSYSTEM') return;
      if (!Array.isArray(r.events))
        fail(`${where}.ranges[${j}].events is not a list`);
      (r.events as unknown[]).forEach((event, k) => {
        if (!isRecord(event))
          fail(`${where}.ranges[${j}].events[${k}] is not an object`);
        const fixed = (event as Record<string, unknown>).fixed;
        if (fixed === undefined) return;
        if (typeof fixed !== 'string' || !fixed.trim()) {
          fail(
            `${where}.ranges[${j}].events[${k}].fixed is not a version string`,
          );
        }
        const fixedVersion = (fixed as string).trim();
        try {
          parseVersion(info.ecosystem, fixedVersion);
        } catch (e) {
          fail(`fixed version of ${pkg.name}: ${(e as Error).message}`);
        }
        const target: PatchTarget = {
          ecosystem: info.ecosystem,
          release,
          package: (pkg.name as string).trim(),
          fixedVersion,
          ...(source ? { packageType: 'source' as const } : {}),
          ...(source && binaries.length ? { binaries } : {}),
        };
        const key = `${target.ecosystem}|${target.release}|${
          target.packageType ?? 'binary'
        }|${target.package}|${target.fixedVersion}`;
        if (!seen.has(key)) {
          seen.add(key);
          targets.push(target);
        }
      });
    });
  });
  if (supportedEntries === 0) {
    fail(
      unsupported.size
        ? `no affected package in a supported ecosystem (found ${[
            ...unsupported,
          ].join(', ')})`
        : 'affected is empty',
    );
  }
  if (targets.length === 0)
    fail('has no fixed version for any affected package');

  const cves = new Set<string>();
  const addCves = (list: unknown, field: string) => {
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) fail(`${field} is not a list`);
    for (const v of list as unknown[]) {
      if (typeof v === 'string' && CVE.test(v.trim().toUpperCase())) {
        cves.add(v.trim().toUpperCase());
      }
    }
  };
  addCves(advisory.aliases, 'aliases');
  addCves(advisory.related, 'related');
  addCves(advisory.upstream, 'upstream');
  if (CVE.test(id)) cves.add(id);

  const references: PatchReference[] = [];
  if (
    advisory.references !== undefined &&
    !Array.isArray(advisory.references)
  ) {
    fail('references is not a list');
  }
  for (const ref of (advisory.references as unknown[]) ?? []) {
    if (isRecord(ref) && typeof ref.url === 'string' && ref.url.trim()) {
      references.push(
        typeof ref.type === 'string'
          ? { type: ref.type, url: ref.url.trim() }
          : { url: ref.url.trim() },
      );
    }
  }

  const published = isoDate(id, 'published', advisory.published);
  const modified = isoDate(id, 'modified', advisory.modified);
  const cvss = worstCvss(advisory);
  const vendor = vendorSeverity(advisory);
  const type = typeOf(id, (summary as string | undefined) ?? '');
  let severity: PatchSeverity;
  let severitySource: 'vendor' | 'cvss' | 'default';
  if (vendor) {
    severity = vendor;
    severitySource = 'vendor';
  } else if (cvss) {
    severity = severityFromCvss(cvss.score);
    severitySource = 'cvss';
  } else {
    // Nothing said: a bug fix is routine, an unrated security fix is not.
    severity = type === 'security' ? 'medium' : 'low';
    severitySource = 'default';
  }

  const title = [id, (summary as string | undefined)?.trim()]
    .filter(Boolean)
    .join(' ')
    .slice(0, 200);
  const ecosystems = [...new Set(targets.map(t => t.ecosystem))];
  const advisoryLink = references.find(r => r.type === 'ADVISORY');
  const entity: PatchEntity = {
    apiVersion: PATCHBAY_API_VERSION,
    kind: PATCH_KIND,
    metadata: {
      name,
      namespace: options.namespace ?? 'default',
      title,
      ...(details
        ? { description: (details as string).trim().slice(0, 2000) }
        : {}),
      annotations: {
        [ANNOTATION_ADVISORY_SOURCE]: 'osv',
        [ANNOTATION_OSV_ECOSYSTEMS]: [...osvEcosystems].join(','),
      },
      tags: [...ecosystems, severity, type],
      ...(advisoryLink
        ? { links: [{ url: advisoryLink.url, title: 'Advisory' }] }
        : {}),
    },
    spec: {
      type,
      severity,
      severitySource,
      ...(cves.size ? { cves: [...cves].sort() } : {}),
      ...(cvss ? { cvss } : {}),
      knownExploited: false,
      ...(published ? { published } : {}),
      ...(modified ? { modified } : {}),
      targets,
      ...(ecosystems.length === 1
        ? { rollbackNotes: ROLLBACK[ecosystems[0]] }
        : {}),
      ...(targets.some(
        t =>
          /^(kernel|linux-image)(-|$)/.test(t.package) ||
          (t.packageType === 'source' && /^linux(-|$)/.test(t.package)),
      )
        ? { rebootRequired: true }
        : {}),
      owner: options.owner ?? DEFAULT_PATCH_OWNER,
      vendor: [...vendors].join(', '),
      advisoryId: id,
      ...(references.length ? { references: references.slice(0, 50) } : {}),
    },
  };
  const check = validatePatchEntity(entity);
  if (!check.valid) {
    fail(
      `does not make a valid Patch: ${check.errors
        .map(e => `${e.field} ${e.message}`)
        .join('; ')}`,
    );
  }
  return [entity];
}
