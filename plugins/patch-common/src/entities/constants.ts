/**
 * The apiVersion of every Patchbay catalog kind.
 * @public
 */
export const PATCHBAY_API_VERSION = 'patchbay.dev/v1alpha1';

/**
 * Kind names of the Patchbay catalog kinds.
 * @public
 */
export const PATCH_KIND = 'Patch';
/** @public */
export const PILOT_GROUP_KIND = 'PilotGroup';
/** @public */
export const ROLLOUT_POLICY_KIND = 'RolloutPolicy';

/**
 * A patch replaces an older patch (Patch → Patch).
 * @public
 */
export const RELATION_SUPERSEDES = 'supersedes';
/**
 * Reverse of {@link RELATION_SUPERSEDES} (older Patch → newer Patch).
 * @public
 */
export const RELATION_SUPERSEDED_BY = 'supersededBy';
/**
 * A pilot group lists an endpoint explicitly (PilotGroup → Resource).
 * Distinct from the catalog's `hasMember` (Group → User) so that the two
 * kinds of membership never mix in queries.
 * @public
 */
export const RELATION_HAS_PILOT_MEMBER = 'hasPilotMember';
/**
 * Reverse of {@link RELATION_HAS_PILOT_MEMBER} (Resource → PilotGroup).
 * @public
 */
export const RELATION_PILOT_MEMBER_OF = 'pilotMemberOf';
/**
 * A rollout policy uses a pilot group in one of its rings
 * (RolloutPolicy → PilotGroup).
 * @public
 */
export const RELATION_USES_PILOT_GROUP = 'usesPilotGroup';
/**
 * Reverse of {@link RELATION_USES_PILOT_GROUP} (PilotGroup → RolloutPolicy).
 * @public
 */
export const RELATION_PILOT_GROUP_OF = 'pilotGroupOf';

/**
 * Annotation on a System or Component: its service tier, `'1'` is the most
 * critical. Read by `riskScore`.
 * @public
 */
export const ANNOTATION_TIER = 'patchbay.dev/tier';
/**
 * Annotation on an endpoint Resource, a Component, a System or an API: how
 * reachable it is, `internet`, `internal` or `isolated`. An API's exposure
 * (its visibility) counts for the Components that provide it. Read by
 * `exposureFromEntities` for the risk score.
 * @public
 */
export const ANNOTATION_EXPOSURE = 'patchbay.dev/exposure';
/**
 * Annotation on an endpoint Resource: the agent id it stands for.
 * @public
 */
export const ANNOTATION_ENDPOINT_ID = 'patchbay.dev/endpoint-id';
/**
 * Annotation on a Patch emitted by the advisory provider: the OSV ecosystem
 * strings the advisory was read from, comma separated.
 * @public
 */
export const ANNOTATION_OSV_ECOSYSTEMS = 'patchbay.dev/osv-ecosystems';
/**
 * Annotation on a Patch: the advisory source that produced it (`osv`, or
 * absent for hand-written patches).
 * @public
 */
export const ANNOTATION_ADVISORY_SOURCE = 'patchbay.dev/advisory-source';
