/*
 * The people of the approvals and security tests: operations, members of
 * two teams, a member of a team that owns nothing, and the security group;
 * `users` maps each user to its groups (the harness's user directory).
 */
// Test helpers only, never part of the plugin's runtime.

/** Operations (it-operations). */
export const OPS = 'user:default/olga';
/** A member of team A. */
export const ALICE = 'user:default/alice';
/** A member of team B. */
export const BOB = 'user:default/bob';
/** A member of a team that owns nothing (team-c). */
export const CAROL = 'user:default/carol';
/** A member of the security group. */
export const SAM = 'user:default/sam';
/** Team A. */
export const TEAM_A = 'group:default/team-a';
/** Team B. */
export const TEAM_B = 'group:default/team-b';
/** The security group. */
export const SECURITY = 'group:default/security';

/** User → groups. */
export const users: Record<string, string[]> = {
  [OPS]: ['group:default/it-operations'],
  [ALICE]: [TEAM_A],
  [BOB]: [TEAM_B],
  [CAROL]: ['group:default/team-c'],
  [SAM]: [SECURITY],
};
