/*
 * Release matching between patch targets and endpoints, shared by the
 * backend's applicability and every other caller of evaluatePatch.
 *
 * A target names a release as `<os id>:<version>` (e.g. `debian:12`,
 * `ubuntu:22.04`) or a bare `<os id>` when the advisory names none. An
 * endpoint has one key of the same shape from its reported OS, a bare
 * `<os id>` when its version is unknown, or `*` when even the OS is unknown.
 */

/**
 * Endpoint release key of an endpoint whose OS release is unknown: it
 * matches every target, since ruling a patch out needs a known release.
 * @public
 */
export const ANY_RELEASE = '*';

/**
 * Whether an endpoint with release key `endpointKey` (`debian:12`, a bare
 * `debian`, or {@link ANY_RELEASE}) is concerned by a target release. An
 * exact release accepts itself and its bare os id; a bare os id (or an
 * empty release) accepts every release of that os; `*` accepts everything.
 * @public
 */
export function releaseAccepts(
  targetRelease: string,
  endpointKey: string,
): boolean {
  if (endpointKey === ANY_RELEASE) return true;
  const rel = targetRelease.toLocaleLowerCase('en-US');
  if (!rel || rel === endpointKey) return true;
  const osId = rel.split(':')[0];
  if (endpointKey === osId) return true;
  return !rel.includes(':') && endpointKey.split(':')[0] === osId;
}
