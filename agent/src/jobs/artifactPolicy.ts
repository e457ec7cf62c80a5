import { pathToFileURL } from 'node:url';
import type { Artifact } from '../download/download';

/**
 * The agent's local rule for `payload.artifact` (a package file downloaded
 * from a URL and installed as root): off unless the machine's owner turned it
 * on and named the URL prefixes it may come from.
 * @public
 */
export interface ArtifactPolicy {
  enabled: boolean;
  allowedSources: string[];
}

/**
 * Why an artifact job is refused, or undefined when it may run. The prefix
 * is compared on the parsed URL, so `https://repo.example/x` does not allow
 * `https://repo.example.evil/`: a prefix without a path gets one.
 * @public
 */
export function artifactRefusal(
  artifact: Partial<Artifact>,
  policy: ArtifactPolicy | undefined,
  packageCount: number,
): string | undefined {
  const url = String(artifact.url ?? '');
  if (!policy?.enabled) {
    return `Artifact installs are disabled on this agent (artifacts.enabled is false in its configuration); ${
      url || 'the artifact'
    } was not downloaded.`;
  }
  if (!artifact.url || !artifact.sha256) {
    return 'The job names an artifact without a url and sha256.';
  }
  if (packageCount !== 1) {
    return `An artifact job installs exactly one package; this one names ${packageCount}.`;
  }
  let parsed: URL;
  try {
    // An absolute path (a mounted share) is compared as the file: URL it is.
    parsed = url.startsWith('/') ? pathToFileURL(url) : new URL(url);
  } catch {
    return `The artifact URL "${url}" is not a URL.`;
  }
  const allowed = policy.allowedSources.some(prefix => {
    let p: URL;
    try {
      p = new URL(prefix);
    } catch {
      return false;
    }
    const path = p.pathname.endsWith('/') ? p.pathname : `${p.pathname}/`;
    return (
      parsed.protocol === p.protocol &&
      parsed.host === p.host &&
      !parsed.username &&
      !parsed.password &&
      (parsed.pathname === p.pathname || parsed.pathname.startsWith(path))
    );
  });
  if (!allowed) {
    return `The artifact URL ${url} is not under any of this agent's artifacts.allowedSources; it was not downloaded.`;
  }
  return undefined;
}
