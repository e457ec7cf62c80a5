/*
 * Release matching between patch targets and endpoints.
 *
 * A target names a release as `<os id>:<version>` (e.g. `almalinux:9`,
 * `ubuntu:22.04`) or a bare `<os id>` when the advisory names none. Each
 * endpoint gets one match key of the same shape from its reported OS, or
 * `*` when its release is unknown: the issue asks to match on release only
 * when the endpoint's release is known, so `*` matches every target.
 * Expanding each target to the match keys it accepts turns release matching
 * into an equality join, which the full recompute needs to stay fast.
 */
import {
  ANY_RELEASE as COMMON_ANY_RELEASE,
  releaseAccepts as commonReleaseAccepts,
} from '@patchbay/plugin-patch-common';

/** Match key of an endpoint whose OS release is unknown (patch-common's). */
export const ANY_RELEASE = COMMON_ANY_RELEASE;

/** Distributions whose release is `major.minor` rather than `major`. */
const MINOR_RELEASES = new Set(['ubuntu', 'alpine']);

const OS_IDS: Array<[RegExp, string]> = [
  [/almalinux|alma linux/, 'almalinux'],
  [/rocky/, 'rocky'],
  [/red ?hat|rhel/, 'rhel'],
  [/centos/, 'centos'],
  [/fedora/, 'fedora'],
  [/debian/, 'debian'],
  [/ubuntu/, 'ubuntu'],
  [/alpine/, 'alpine'],
  [/windows/, 'windows'],
];

/**
 * The match key of an endpoint from its reported OS: `<os id>:<release>`,
 * `<os id>` when the version is missing, or {@link ANY_RELEASE}.
 */
export function endpointMatchKey(os: {
  family?: string | null;
  name?: string | null;
  version?: string | null;
}): string {
  const text = `${os.name ?? ''}`.toLocaleLowerCase('en-US').trim();
  let id = OS_IDS.find(([re]) => re.test(text))?.[1];
  if (!id && text) id = text.split(/[^a-z0-9]+/)[0] || undefined;
  if (!id && os.family?.toLocaleLowerCase('en-US') === 'windows') {
    id = 'windows';
  }
  if (!id) return ANY_RELEASE;
  const version = os.version?.trim();
  if (!version || id === 'windows') return id;
  const parts = version.split(/[^0-9]+/).filter(Boolean);
  if (parts.length === 0) return id;
  const release = MINOR_RELEASES.has(id)
    ? parts.slice(0, 2).join('.')
    : parts[0];
  return `${id}:${release}`;
}

/**
 * The endpoint match keys a target release accepts, among the keys known in
 * the fleet. An exact release accepts itself, its bare os id (endpoint with
 * unknown version) and `*`; a bare os id accepts every release of that os.
 */
export function targetMatchKeys(
  release: string,
  knownKeys: Iterable<string>,
): string[] {
  const rel = release.toLocaleLowerCase('en-US');
  // A target without a release applies to every release.
  if (!rel) return [ANY_RELEASE, ...knownKeys];
  const osId = rel.split(':')[0];
  const keys = new Set<string>([ANY_RELEASE, rel, osId]);
  if (!rel.includes(':')) {
    for (const key of knownKeys) {
      if (key.split(':')[0] === osId) keys.add(key);
    }
  }
  return [...keys];
}

/**
 * Whether an endpoint with `matchKey` is concerned by a target release:
 * patch-common's rule, the one `evaluatePatch` applies.
 */
export const releaseAccepts = commonReleaseAccepts;
