import { InstalledPackage, PendingUpdate } from './types';

/**
 * The `dpkg-query -W -f` format the apt provider asks for: name, version,
 * architecture, the abbreviated status, and the source package's name and
 * version, tab-separated.
 * @public
 */
export const DPKG_QUERY_FORMAT =
  '${binary:Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\t${source:Package}\\t${source:Version}\\n';

/** One row of {@link DPKG_QUERY_FORMAT}, whatever its status. */
export interface DpkgRow {
  name: string;
  version: string;
  arch?: string;
  status: string;
  source?: string;
  sourceVersion?: string;
}

/**
 * Parses rows of {@link DPKG_QUERY_FORMAT} (the two source columns may be
 * missing, as in output of the older four-column format), every status kept.
 * @public
 */
export function parseDpkgRows(text: string): DpkgRow[] {
  const out: DpkgRow[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [rawName, version, arch, status = 'ii', source, sourceVersion] =
      line.split('\t');
    if (!rawName || !version) continue;
    // Multi-arch "same" packages are shown as name:arch; advisories use the bare name.
    const name = rawName.replace(/:[a-z0-9-]+$/, '');
    out.push({
      name,
      version,
      arch: arch || undefined,
      status: status.trim(),
      source: source?.trim() || undefined,
      sourceVersion: sourceVersion?.trim() || undefined,
    });
  }
  return out;
}

/** Whether a dpkg status abbreviation means the package's files are installed and configured. */
export function dpkgInstalled(status: string): boolean {
  return status.length >= 2 && status[1] === 'i';
}

/**
 * Parses `dpkg-query -W -f="$DPKG_QUERY_FORMAT"`. Only packages whose files
 * are installed count (`ii`, and `hi` for held ones); `rc` (removed, config
 * left) and half-installed states do not. `source` is the source package
 * (dpkg prints the binary's own name when there is no `Source:` field) and
 * `sourceVersion` its version (differs for binNMUs: `1.2-3+b1` from `1.2-3`).
 * @public
 */
export function parseDpkgQuery(text: string): InstalledPackage[] {
  return parseDpkgRows(text)
    .filter(r => dpkgInstalled(r.status))
    .map(r => ({
      ecosystem: 'deb' as const,
      name: r.name,
      version: r.version,
      arch: r.arch,
      ...(r.source ? { source: r.source } : {}),
      ...(r.sourceVersion ? { sourceVersion: r.sourceVersion } : {}),
    }));
}

/**
 * Parses `apt list --upgradable` (stdout): lines such as
 * `krb5-locales/oldstable,oldstable-security 1.20.1-2+deb12u5 all [upgradable from: 1.20.1-2+deb12u3]`.
 * The `Listing...` header and apt's CLI warning are skipped.
 * @public
 */
export function parseAptListUpgradable(text: string): PendingUpdate[] {
  const out: PendingUpdate[] = [];
  const re =
    /^([^\s/]+)\/(\S+)\s+(\S+)\s+(\S+)\s+\[upgradable from:\s+([^\]\s]+)\]/;
  for (const line of text.split('\n')) {
    const m = re.exec(line.trim());
    if (!m) continue;
    out.push({
      ecosystem: 'deb',
      name: m[1],
      currentVersion: m[5],
      availableVersion: m[3],
      source: m[2],
    });
  }
  return out;
}

/**
 * Parses the `Inst` lines of `apt-get -s upgrade` (or `-s install`):
 * `Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])`.
 * A package that is new (no `[old]`) has no current version and is skipped:
 * it is a dependency, not an update.
 * @public
 */
export function parseAptGetSimulate(text: string): PendingUpdate[] {
  const out: PendingUpdate[] = [];
  const re = /^Inst\s+(\S+)\s+\[([^\]]+)\]\s+\((\S+)\s+([^[]*?)\s*\[[^\]]*\]\)/;
  for (const line of text.split('\n')) {
    const m = re.exec(line.trim());
    if (!m) continue;
    out.push({
      ecosystem: 'deb',
      name: m[1].replace(/:[a-z0-9-]+$/, ''),
      currentVersion: m[2],
      availableVersion: m[3],
      source: m[4] || undefined,
    });
  }
  return out;
}

/**
 * Parses the summary line of `apt-get -s upgrade`, e.g.
 * `121 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.`
 * @public
 */
export function parseAptGetSummary(text: string):
  | {
      upgraded: number;
      newlyInstalled: number;
      toRemove: number;
      notUpgraded: number;
    }
  | undefined {
  const m =
    /(\d+) upgraded, (\d+) newly installed, (\d+) to remove and (\d+) not upgraded/.exec(
      text,
    );
  if (!m) return undefined;
  return {
    upgraded: Number(m[1]),
    newlyInstalled: Number(m[2]),
    toRemove: Number(m[3]),
    notUpgraded: Number(m[4]),
  };
}

/**
 * Splits a Debian `Packages` index into stanzas of fields (used by the
 * simulated provider's catalogue and by tests; continuation lines are joined).
 * @public
 */
export function parseDebianPackagesIndex(
  text: string,
): Array<Record<string, string>> {
  const stanzas: Array<Record<string, string>> = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last: string | undefined;
    for (const line of block.split('\n')) {
      if (/^\s/.test(line) && last) {
        fields[last] += `\n${line.trim()}`;
        continue;
      }
      const idx = line.indexOf(':');
      if (idx <= 0) continue;
      last = line.slice(0, idx);
      fields[last] = line.slice(idx + 1).trim();
    }
    if (fields.Package) stanzas.push(fields);
  }
  return stanzas;
}
