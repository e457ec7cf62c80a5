/**
 * @deprecated the links into the UI are not HTTP: import them from
 * `src/appLinks.ts` (ApprovalService still imports them from here); this
 * file is removed after the merge.
 */
export {
  APPROVALS_LINK,
  PATCHES_PAGE_PATH,
  ROLLOUTS_LINK_BASE,
} from '../appLinks';
