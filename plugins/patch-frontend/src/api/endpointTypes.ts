/* An endpoint: its agent, packages, needed patches and jobs. */

/** Health of an endpoint's agent. @public */
export type AgentHealth = 'healthy' | 'stale' | 'offline' | 'revoked';

/** A job for an endpoint. @public */
export interface EndpointJob {
  /** Job id. */
  id: string;
  /** scan, install, verify or rollback. */
  kind: string;
  /** Current state. */
  state: string;
  /** Of a succeeded install: pending (awaiting verification), verified, or unverified (then failed). */
  verification?: 'pending' | 'verified' | 'unverified';
  /** Patch the job is for. */
  patchRef?: string;
  /** Rollout the job belongs to. */
  rolloutId?: string;
  /** Attempt number. */
  attempt?: number;
  /** When it was created (ISO 8601). */
  createdAt?: string;
  /** When it finished (ISO 8601). */
  finishedAt?: string;
  /** The agent's message. */
  message?: string;
}

/** A package on an endpoint. @public */
export interface EndpointPackage {
  /** Ecosystem, e.g. deb. */
  ecosystem: string;
  /** Package name. */
  name: string;
  /** Installed version. */
  version: string;
  /** Version the package manager offers, for pending updates. */
  availableVersion?: string;
  /** Patch that requires the update, if any. */
  patchRef?: string;
}

/** A patch an endpoint needs: one of its packages is below the patch's fixed version. @public */
export interface NeededPatch {
  /** Entity ref of the Patch. */
  patchRef: string;
  /** Ecosystem, e.g. deb. */
  ecosystem: string;
  /** Package name. */
  package: string;
  /** Installed version. */
  installedVersion: string;
  /** The patch's fixed version. */
  fixedVersion: string;
}

/** An endpoint with its inventory, pending updates, jobs and agent health. @public */
export interface EndpointDetail {
  /** Agent id. */
  id: string;
  /** Host name. */
  hostname: string;
  /** Entity ref of the endpoint Resource. */
  entityRef?: string;
  /** OS, for people. */
  os?: string;
  /** Agent version. */
  agentVersion?: string;
  /** Last check-in (ISO 8601). */
  lastSeenAt?: string;
  /** Enrollment (ISO 8601). */
  enrolledAt?: string;
  /** Health of the agent. */
  health: AgentHealth;
  /** Installed packages. */
  installed: EndpointPackage[];
  /** Pending updates, each with the patch that requires it when one does. */
  pending: EndpointPackage[];
  /** The patches this endpoint needs (applicability), by package. */
  needed: NeededPatch[];
  /** Recent jobs, newest first. */
  jobs: EndpointJob[];
}
