import { ReactNode, useState } from 'react';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { ConfirmDialog } from './ConfirmDialog';

/** An action of a card: what it does, and what to tell the user after. */
export interface CardAction {
  /** Calls the backend. */
  run: () => Promise<unknown>;
  /** The success message. */
  done: string;
  /** Put before the backend's message when the call fails. */
  failed?: string;
}

/** An action that asks first: the question of its dialog. */
export interface ConfirmedAction extends CardAction {
  title: string;
  confirmLabel: string;
  /** What happens, in the dialog's text. */
  explain: ReactNode;
  danger?: boolean;
}

/**
 * Runs a card's actions one at a time and reports each outcome as an alert,
 * with `onDone` after a success so the card reloads. `ask` first shows a
 * {@link ConfirmDialog} (render `dialog` in the card) and runs the action
 * only when it is confirmed; `run` runs at once, for actions whose form was
 * the asking. `busy` is true while an action is in flight.
 */
export function useConfirmedAction(onDone: () => void) {
  const alertApi = useApi(alertApiRef);
  const [asking, setAsking] = useState<ConfirmedAction>();
  const [busy, setBusy] = useState(false);

  const run = async (action: CardAction) => {
    setBusy(true);
    try {
      await action.run();
      alertApi.post({ message: action.done, severity: 'success' });
      onDone();
    } catch (e) {
      const message = (e as Error).message;
      alertApi.post({
        message: action.failed ? `${action.failed}: ${message}` : message,
        severity: 'error',
      });
    } finally {
      setBusy(false);
    }
  };

  const dialog = asking ? (
    <ConfirmDialog
      open
      title={asking.title}
      confirmLabel={asking.confirmLabel}
      danger={asking.danger}
      busy={busy}
      // The request is in flight: closing now would hide its outcome.
      onClose={() => !busy && setAsking(undefined)}
      onConfirm={async () => {
        await run(asking);
        setAsking(undefined);
      }}
    >
      {asking.explain}
    </ConfirmDialog>
  ) : null;

  return { busy, run, ask: setAsking, dialog };
}
