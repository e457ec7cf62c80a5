import { createContext, useCallback, useContext } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { patchApprovalDecidePermission } from '@patchbay/plugin-patch-common';
import useAsync from 'react-use/esm/useAsync';
import { ApprovalDecisionKind, ApprovalRequest, patchApiRef } from '../../api';
import { useAlertedRequest } from '../common';

/** A decision the user is about to confirm. */
export interface PendingDecision {
  decision: ApprovalDecisionKind;
  requests: ApprovalRequest[];
}

/** Lets the table's row buttons open the decision dialog of their table. */
export const DecisionContext = createContext<{
  ask: (decision: PendingDecision) => void;
}>({ ask: () => {} });

/** Opens the decision dialog for some requests. */
export const useAskDecision = () => useContext(DecisionContext).ask;

/**
 * Whether the user may decide on every one of the given requests. The
 * decide permission is a resource permission (the owning group's members
 * may decide), so each request is asked for by its id; the permission API
 * batches the checks into one HTTP call.
 */
export function useMayDecide(requestIds: string[]) {
  const permissionApi = useApi(permissionApiRef);
  const key = requestIds.join(',');
  const state = useAsync(async () => {
    if (requestIds.length === 0) return false;
    const answers = await Promise.all(
      requestIds.map(resourceRef =>
        permissionApi.authorize({
          permission: patchApprovalDecidePermission,
          resourceRef,
        }),
      ),
    );
    return answers.every(a => a.result === AuthorizeResult.ALLOW);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [permissionApi, key]);
  return { allowed: state.value === true, loading: state.loading };
}

const pastTense: Record<ApprovalDecisionKind, string> = {
  approve: 'Approved',
  reject: 'Rejected',
  defer: 'Deferred',
};

/** Sends decisions to the backend and reports the outcome. */
export function useSendDecision(onDone: () => void) {
  const api = useApi(patchApiRef);
  const { busy, run } = useAlertedRequest(onDone);
  const send = useCallback(
    (pending: PendingDecision, comment: string, deferUntil?: string) =>
      run(async () => {
        const results = await api.decide({
          requestIds: pending.requests.map(r => r.id),
          expectedStates: Object.fromEntries(
            pending.requests.map(r => [r.id, r.state]),
          ),
          decision: pending.decision,
          comment: comment || undefined,
          deferUntil,
        });
        const failed = results.filter(r => !r.ok);
        // Posted as the error alert, like a refused call.
        if (failed.length)
          throw new Error(
            `${failed.length} of ${results.length} decisions failed: ${failed
              .map(f => f.error)
              .filter(Boolean)
              .join('; ')}`,
          );
        return `${pastTense[pending.decision]} ${results.length} request${
          results.length === 1 ? '' : 's'
        }`;
      }),
    [api, run],
  );
  return { send, busy };
}
