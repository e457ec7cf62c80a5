/*
 * Links into the Patchbay UI, for notifications and ITSM tickets. The UI is
 * patch-frontend's page at `/patches` (its tabs: approvals at the root,
 * `rollouts`, `rollouts/<id>`, `pilot-groups`, `reports`, `audit`); every
 * link the backend emits is built here, and auth-links.test.ts resolves
 * each one it emits against the app's routes.
 */

/** The path of the Patches page in the app. @internal */
export const PATCHES_PAGE_PATH = '/patches';

/** The approvals inbox (the Patches page's first tab). @internal */
export const APPROVALS_LINK = PATCHES_PAGE_PATH;

/** The rollouts tab; a rollout's page is `<this>/<rollout id>`. @internal */
export const ROLLOUTS_LINK_BASE = `${PATCHES_PAGE_PATH}/rollouts`;

/**
 * An approval request's page; with `decide=approve` it opens the one-click
 * approval of the emergency path (the request page's confirm button).
 * @internal
 */
export function approvalRequestLink(
  requestId: string,
  options: { decide?: 'approve' } = {},
): string {
  return `${PATCHES_PAGE_PATH}/requests/${encodeURIComponent(requestId)}${
    options.decide ? `?decide=${options.decide}` : ''
  }`;
}
