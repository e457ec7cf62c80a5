import { useCallback, useState } from 'react';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';

/**
 * One request at a time, usually behind a confirmation: `asking` holds what
 * the dialog asks about (set it with `ask`). `run` sends the request and
 * posts its outcome as an alert (the message the request resolves to, as a
 * transient success; or the error's message), then closes the dialog and
 * calls `onChanged` whether the request succeeded or not, since a refused
 * request may mean the state moved on under the user. `busy` is true while a
 * request is in flight.
 */
export function useAlertedRequest<T = never>(onChanged: () => void) {
  const alertApi = useApi(alertApiRef);
  const [asking, ask] = useState<T>();
  const [busy, setBusy] = useState(false);

  const run = useCallback(
    async (request: () => Promise<string>) => {
      setBusy(true);
      try {
        const message = await request();
        alertApi.post({ message, severity: 'success', display: 'transient' });
      } catch (e) {
        alertApi.post({ message: (e as Error).message, severity: 'error' });
      } finally {
        setBusy(false);
        ask(undefined);
        onChanged();
      }
    },
    [alertApi, onChanged],
  );

  return { asking, ask, busy, run };
}
