import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Tooltip from '@material-ui/core/Tooltip';
import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { EntityRefLink, useEntity } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import { patchExceptionCreatePermission } from '@patchbay/plugin-patch-common';
import { patchApiRef, RiskException } from '../../api';
import { useLiveAsync } from '../../hooks';
import { dateTime, useConfirmedAction } from '../common';
import {
  ExceptionChoice,
  RequestExceptionDialog,
} from './RequestExceptionDialog';

/** Shown on the disabled button, so a user knows why and whom to ask. */
export const EXCEPTION_DENIED =
  'You may not create risk exceptions (patch.exception.create); ask the security group';

const columns: TableColumn<RiskException>[] = [
  {
    title: 'Patch',
    highlight: true,
    render: e => <EntityRefLink entityRef={e.patchRef} />,
  },
  { title: 'Scope', render: e => <EntityRefLink entityRef={e.scopeRef} /> },
  { title: 'Reason', field: 'reason' },
  { title: 'Compensating control', field: 'compensatingControl' },
  { title: 'Accepted by', field: 'approver' },
  { title: 'Expires', render: e => dateTime(e.expiresAt) },
];

/**
 * The active risk exceptions of a scope (an endpoint, Component or System)
 * or of a patch, with "Request exception" and revoke. Requesting needs
 * `patch.exception.create` (the button is disabled with the reason when it
 * is denied); the backend also checks ownership of the scope and asks for
 * the security group on critical or known-exploited patches, and says so in
 * the dialog. Revoking asks first, since the patch becomes required again
 * on the scope at once; it needs no permission of its own: the backend lets
 * the creator, the scope's owners and the security group revoke, and answers
 * anyone else with an error that is shown.
 */
export const RiskExceptionsCard = (props: {
  /** Exceptions of this scope, or of this patch. */
  query: { scopeRef: string } | { patchRef: string };
  /** Patches a new exception may be for. */
  patches: ExceptionChoice[];
  /** Scopes a new exception may cover. */
  scopes: ExceptionChoice[];
  /** Called after a change, so the figures around the card reload. */
  onChanged?: () => void;
}) => {
  const api = useApi(patchApiRef);
  const alertApi = useApi(alertApiRef);
  const { allowed, loading } = usePermission({
    permission: patchExceptionCreatePermission,
  });
  const [open, setOpen] = useState(false);
  const key = JSON.stringify(props.query);
  const list = useLiveAsync(
    () => api.listExceptions({ ...props.query, active: true }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [api, key],
    60_000,
  );
  const changed = () => {
    list.reload();
    props.onChanged?.();
  };
  const revoke = useConfirmedAction(changed);
  const nothingToExcept =
    props.patches.length === 0 || props.scopes.length === 0;

  return (
    <InfoCard
      title="Risk exceptions"
      action={
        <Tooltip title={!allowed && !loading ? EXCEPTION_DENIED : ''}>
          <span>
            <Button
              variant="outlined"
              color="primary"
              disabled={!allowed || loading || nothingToExcept}
              onClick={() => setOpen(true)}
            >
              Request exception
            </Button>
          </span>
        </Tooltip>
      }
    >
      {list.loading && <Progress />}
      {list.error && !list.value && <ResponseErrorPanel error={list.error} />}
      {list.value && (
        <Table<RiskException>
          options={{
            search: false,
            paging: false,
            toolbar: false,
            padding: 'dense',
          }}
          columns={[
            ...columns,
            {
              title: '',
              render: e => (
                <Button
                  size="small"
                  aria-label={`Revoke the exception of ${e.patchRef} on ${e.scopeRef}`}
                  disabled={revoke.busy}
                  onClick={() =>
                    revoke.ask({
                      title: 'Revoke this risk exception?',
                      confirmLabel: 'Revoke',
                      danger: true,
                      explain: `The patch ${e.patchRef} becomes required again on ${e.scopeRef}: where it is not installed it counts as missing again, and as overdue past its due date.`,
                      run: () => api.revokeException(e.id),
                      done: `Exception of ${e.patchRef} on ${e.scopeRef} revoked; the patch is required again`,
                      failed: 'Could not revoke the exception',
                    })
                  }
                >
                  Revoke
                </Button>
              ),
            },
          ]}
          data={list.value}
          emptyContent={
            <Box p={2}>
              No active risk exception. When a patch cannot be installed yet,
              request an exception with a reason and an expiry: it is then
              counted as excepted, not missing, until it expires.
            </Box>
          }
        />
      )}
      {revoke.dialog}
      <RequestExceptionDialog
        open={open}
        patches={props.patches}
        scopes={props.scopes}
        allowed={allowed}
        onClose={() => setOpen(false)}
        onCreated={e => {
          setOpen(false);
          alertApi.post({
            message: `Exception of ${e.patchRef} on ${
              e.scopeRef
            } created until ${dateTime(e.expiresAt)}`,
            severity: 'success',
          });
          changed();
        }}
      />
    </InfoCard>
  );
};

/**
 * The risk exceptions of the page's entity (an endpoint Resource, a
 * Component or a System), which is also the only scope a new one may cover.
 */
export const EntityRiskExceptionsCard = (props: {
  /** Patches a new exception may be for. */
  patches: ExceptionChoice[];
  /** Called after a change, so the figures around the card reload. */
  onChanged?: () => void;
}) => {
  const { entity } = useEntity();
  const scopeRef = stringifyEntityRef(entity);
  return (
    <RiskExceptionsCard
      query={{ scopeRef }}
      patches={props.patches}
      scopes={[
        {
          ref: scopeRef,
          label: entity.metadata.title ?? entity.metadata.name,
        },
      ]}
      onChanged={props.onChanged}
    />
  );
};
