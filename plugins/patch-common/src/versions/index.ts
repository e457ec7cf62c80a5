import type { VersionEcosystem } from '../entities/types';
import { compareApkParsed, parseApkVersion, formatApkVersion } from './apk';
import type { ApkVersion } from './apk';
import { compareDebParsed, parseDebVersion, formatDebVersion } from './deb';
import type { DebVersion } from './deb';
import { InvalidVersionError } from './errors';
import { compareRpmParsed, parseRpmVersion, formatRpmVersion } from './rpm';
import type { RpmVersion } from './rpm';

export { InvalidVersionError } from './errors';
export type { DebVersion } from './deb';
export type { RpmVersion } from './rpm';
export type { ApkVersion, ApkSuffixName } from './apk';

/**
 * A version read in its ecosystem.
 * @public
 */
export type ParsedVersion = DebVersion | RpmVersion | ApkVersion;

/**
 * The ecosystems {@link compareVersions} orders.
 * @public
 */
export const VERSION_ECOSYSTEMS: readonly VersionEcosystem[] = [
  'deb',
  'rpm',
  'apk',
];

/**
 * Whether a string names an ecosystem {@link compareVersions} orders.
 * @public
 */
export function isVersionEcosystem(value: unknown): value is VersionEcosystem {
  return value === 'deb' || value === 'rpm' || value === 'apk';
}

function checkInput(ecosystem: unknown, s: unknown): asserts s is string {
  if (!isVersionEcosystem(ecosystem)) {
    throw new InvalidVersionError(
      String(ecosystem),
      String(s),
      'ecosystem',
      'is not one of deb, rpm, apk',
    );
  }
  if (typeof s !== 'string') {
    throw new InvalidVersionError(
      ecosystem,
      String(s),
      'version',
      'is not a string',
    );
  }
}

/**
 * Reads a version string strictly: deb as dpkg's parseversion() (its
 * warnings are errors here too), rpm as `[epoch:]version[-release]` with the
 * characters rpmbuild allows, apk by the apk-package(5) grammar.
 *
 * @throws InvalidVersionError naming the part that is wrong
 * @public
 */
export function parseVersion(ecosystem: 'deb', s: string): DebVersion;
/** @public */
export function parseVersion(ecosystem: 'rpm', s: string): RpmVersion;
/** @public */
export function parseVersion(ecosystem: 'apk', s: string): ApkVersion;
/** @public */
export function parseVersion(
  ecosystem: VersionEcosystem,
  s: string,
): ParsedVersion;
export function parseVersion(
  ecosystem: VersionEcosystem,
  s: string,
): ParsedVersion {
  checkInput(ecosystem, s);
  switch (ecosystem) {
    case 'deb':
      return parseDebVersion(s, true);
    case 'rpm':
      return parseRpmVersion(s, true);
    default:
      return parseApkVersion(s, true);
  }
}

/**
 * Writes a parsed version back as a string; `formatVersion(parseVersion(e,
 * s))` orders equal to `s` and is `s` itself for canonical input.
 * @public
 */
export function formatVersion(v: ParsedVersion): string {
  switch (v.ecosystem) {
    case 'deb':
      return formatDebVersion(v);
    case 'rpm':
      return formatRpmVersion(v);
    default:
      return formatApkVersion(v);
  }
}

const sign = (n: number): -1 | 0 | 1 => {
  if (n === 0) return 0;
  return n < 0 ? -1 : 1;
};

/**
 * Orders two versions of one ecosystem exactly as its package manager does:
 * dpkg (epoch, upstream, revision with verrevcmp, '~' before everything),
 * rpm (epoch:version-release, each with rpmvercmp, '~' and '^'), apk
 * (numbers, letter, suffixes, -rN). Like the package managers it orders
 * versions that {@link parseVersion} would refuse for style (a Debian
 * upstream that starts with a letter, an apk version with a trailing
 * oddity); it throws only when a string cannot be a version at all.
 *
 * compareVersions(e, b, a) is always -compareVersions(e, a, b).
 *
 * @returns -1 when a is older, 0 when equal, 1 when a is newer
 * @throws InvalidVersionError naming the part that is wrong
 * @public
 */
export function compareVersions(
  ecosystem: VersionEcosystem,
  a: string,
  b: string,
): -1 | 0 | 1 {
  checkInput(ecosystem, a);
  checkInput(ecosystem, b);
  switch (ecosystem) {
    case 'deb':
      return sign(
        compareDebParsed(parseDebVersion(a, false), parseDebVersion(b, false)),
      );
    case 'rpm':
      if (a.length === 0 || b.length === 0) {
        // Parse only to throw the error that names the empty string.
        parseRpmVersion(a, false);
        parseRpmVersion(b, false);
      }
      return sign(
        compareRpmParsed(parseRpmVersion(a, false), parseRpmVersion(b, false)),
      );
    default:
      return sign(
        compareApkParsed(
          parseApkVersion(a, false),
          parseApkVersion(b, false),
          a,
          b,
        ),
      );
  }
}

/**
 * True when `installed` is older than `fixed`, i.e. the endpoint still needs
 * the fix.
 * @public
 */
export function isVersionBelow(
  ecosystem: VersionEcosystem,
  installed: string,
  fixed: string,
): boolean {
  return compareVersions(ecosystem, installed, fixed) < 0;
}
