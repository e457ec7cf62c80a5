import { InstalledPackage, PendingUpdate } from './types';

/**
 * The `rpm -q --qf` format the dnf provider asks for: name, `[epoch:]version-release`,
 * architecture and the source RPM's file name, tab-separated (the epoch only when there is one).
 * @public
 */
export const RPM_QUERY_FORMAT =
  '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n';

/**
 * Reads a source RPM file name: `openssl-3.0.7-27.el9.src.rpm` is source
 * `openssl`, version-release `3.0.7-27.el9`. Undefined for `(none)` or
 * anything else that is not `name-version-release.(no)src.rpm`.
 * @public
 */
export function parseSourceRpm(
  file: string | undefined,
): { name: string; versionRelease: string } | undefined {
  const m = /^(.+)-([^-]+)-([^-]+)\.(?:no)?src\.rpm$/.exec(file?.trim() ?? '');
  return m ? { name: m[1], versionRelease: `${m[2]}-${m[3]}` } : undefined;
}

/**
 * Parses `rpm -qa --qf "$RPM_QUERY_FORMAT"`. `gpg-pubkey` pseudo-packages
 * (imported signing keys) are not software and are skipped. The source is the
 * SRPM's name; its version is the binary's epoch with the SRPM's
 * version-release (an SRPM file name carries no epoch).
 * @public
 */
export function parseRpmQuery(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const line of text.split('\n')) {
    const [name, version, arch, sourceRpm] = line.trim().split('\t');
    if (!name || !version || name === 'gpg-pubkey') continue;
    const srpm = parseSourceRpm(sourceRpm);
    const epoch = /^(\d+):/.exec(version)?.[1];
    out.push({
      ecosystem: 'rpm',
      name,
      version,
      arch: arch || undefined,
      ...(srpm
        ? {
            source: srpm.name,
            sourceVersion: epoch
              ? `${epoch}:${srpm.versionRelease}`
              : srpm.versionRelease,
          }
        : {}),
    });
  }
  return out;
}

/**
 * Splits `name.arch` at the last dot (names may contain dots, arches do not).
 * @public
 */
export function splitNameArch(nameArch: string): {
  name: string;
  arch?: string;
} {
  const idx = nameArch.lastIndexOf('.');
  if (idx <= 0) return { name: nameArch };
  return { name: nameArch.slice(0, idx), arch: nameArch.slice(idx + 1) };
}

/**
 * Parses `dnf check-update` / `dnf list --upgrades` output: rows of
 * `name.arch  [epoch:]version-release  repo`. dnf wraps a row whose name is
 * too long for its column onto two lines, so tokens are read as a stream.
 * Sections after "Obsoleting Packages" are not updates of installed names.
 * The installed version comes from the inventory (dnf does not print it).
 * @public
 */
export function parseDnfCheckUpdate(
  text: string,
  installed: InstalledPackage[],
): PendingUpdate[] {
  const current = new Map<string, string>();
  for (const p of installed) {
    current.set(`${p.name}.${p.arch ?? ''}`, p.version);
    if (!current.has(p.name)) current.set(p.name, p.version);
  }
  const tokens: string[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (/^Obsoleting Packages/i.test(line)) break;
    if (
      !line ||
      /^Last metadata expiration check/i.test(line) ||
      /^(Available|Installed) Upgrades/i.test(line) ||
      /^Security:/i.test(line)
    ) {
      continue;
    }
    tokens.push(...line.split(/\s+/));
  }
  const out: PendingUpdate[] = [];
  for (let i = 0; i + 2 < tokens.length; i += 3) {
    const { name, arch } = splitNameArch(tokens[i]);
    const availableVersion = tokens[i + 1];
    const source = tokens[i + 2];
    const currentVersion =
      current.get(`${name}.${arch ?? ''}`) ?? current.get(name);
    if (!currentVersion) continue;
    out.push({
      ecosystem: 'rpm',
      name,
      currentVersion,
      availableVersion,
      source,
    });
  }
  return out;
}
