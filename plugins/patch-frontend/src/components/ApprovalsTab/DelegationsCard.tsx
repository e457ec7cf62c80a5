import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
  Table,
  TableColumn,
} from '@backstage/core-components';
import {
  alertApiRef,
  identityApiRef,
  useApi,
} from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  patchApprovalDelegatePermission,
  type PatchApiSchemas,
} from '@patchbay/plugin-patch-common';
import useAsync from 'react-use/esm/useAsync';
import { patchApiRef } from '../../api';
import { useLiveAsync } from '../../hooks';
import { dateTime } from '../common';

type Delegation = PatchApiSchemas['ApprovalDelegation'];

const columns: TableColumn<Delegation>[] = [
  { title: 'Group', field: 'groupRef' },
  { title: 'Delegated to', field: 'delegateRef' },
  { title: 'From', render: d => dateTime(d.startsAt) },
  { title: 'Until', render: d => dateTime(d.endsAt) },
  { title: 'Reason', field: 'reason' },
  { title: 'By', field: 'createdBy' },
];

/**
 * Delegations of the signed-in user's groups: who decides for them while
 * they are away, until when. Members delegate a group to another group or a
 * user for a period, and revoke a delegation; both need
 * `patch.approval.delegate`, and the backend checks membership.
 */
export const DelegationsCard = () => {
  const api = useApi(patchApiRef);
  const alertApi = useApi(alertApiRef);
  const identityApi = useApi(identityApiRef);
  const { allowed } = usePermission({
    permission: patchApprovalDelegatePermission,
  });
  const groups = useAsync(async () => {
    const { ownershipEntityRefs } = await identityApi.getBackstageIdentity();
    return ownershipEntityRefs.filter(r => r.startsWith('group:'));
  }, [identityApi]);
  const list = useLiveAsync(
    async () => api.listDelegations({ active: true }),
    [api],
    60_000,
  );
  const [groupRef, setGroupRef] = useState('');
  const [delegateRef, setDelegateRef] = useState('');
  const [until, setUntil] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const group = groupRef || groups.value?.[0] || '';
  const mine = (list.value ?? []).filter(d =>
    (groups.value ?? []).includes(d.groupRef),
  );

  const run = async (fn: () => Promise<unknown>, done: string) => {
    setBusy(true);
    try {
      await fn();
      alertApi.post({ message: done, severity: 'success' });
      list.reload();
    } catch (e) {
      alertApi.post({ message: (e as Error).message, severity: 'error' });
    } finally {
      setBusy(false);
    }
  };
  const create = () =>
    run(async () => {
      await api.createDelegation({
        groupRef: group,
        delegateRef: delegateRef.trim(),
        endsAt: `${until}T23:59:59.999Z`,
        reason: reason.trim(),
      });
      setDelegateRef('');
      setReason('');
    }, `Approvals of ${group} delegated to ${delegateRef.trim()}`);

  return (
    <InfoCard title="Delegated approvers">
      <Box
        display="flex"
        flexWrap="wrap"
        alignItems="center"
        style={{ gap: 16 }}
        mb={2}
        role="group"
        aria-label="New delegation"
      >
        <TextField
          select
          id="patch-delegation-group"
          label="Group"
          value={group}
          style={{ minWidth: 200 }}
          onChange={e => setGroupRef(e.target.value)}
        >
          {(groups.value ?? []).map(g => (
            <MenuItem key={g} value={g}>
              {g}
            </MenuItem>
          ))}
        </TextField>
        <TextField
          id="patch-delegation-delegate"
          label="Delegate to (group or user ref)"
          placeholder="group:default/release-managers"
          value={delegateRef}
          onChange={e => setDelegateRef(e.target.value)}
        />
        <TextField
          id="patch-delegation-until"
          label="Until"
          type="date"
          value={until}
          InputLabelProps={{ shrink: true }}
          onChange={e => setUntil(e.target.value)}
        />
        <TextField
          id="patch-delegation-reason"
          label="Reason"
          value={reason}
          onChange={e => setReason(e.target.value)}
        />
        <Button
          variant="contained"
          color="primary"
          disabled={
            !allowed ||
            busy ||
            !group ||
            !delegateRef.trim() ||
            !until ||
            !reason.trim()
          }
          onClick={create}
        >
          Delegate
        </Button>
      </Box>
      {list.loading && <Progress />}
      {list.error && !list.value && <ResponseErrorPanel error={list.error} />}
      {list.value && (
        <Table<Delegation>
          options={{ search: false, paging: false, toolbar: false }}
          columns={[
            ...columns,
            {
              title: '',
              render: d => (
                <Button
                  size="small"
                  aria-label={`Revoke the delegation of ${d.groupRef} to ${d.delegateRef}`}
                  disabled={!allowed || busy}
                  onClick={() =>
                    run(
                      () => api.revokeDelegation(d.id),
                      `Delegation to ${d.delegateRef} revoked`,
                    )
                  }
                >
                  Revoke
                </Button>
              ),
            },
          ]}
          data={mine}
          emptyContent={
            <Box p={2}>
              No active delegation for your groups. Delegate a group's approvals
              above while its members are away.
            </Box>
          }
        />
      )}
    </InfoCard>
  );
};
