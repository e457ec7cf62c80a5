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
import { identityApiRef, useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  patchApprovalDelegatePermission,
  type PatchApiSchemas,
} from '@patchbay/plugin-patch-common';
import useAsync from 'react-use/esm/useAsync';
import { patchApiRef } from '../../api';
import { useLiveAsync } from '../../hooks';
import { dateTime, EntityRefPicker, useConfirmedAction } from '../common';

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
 * user of the catalog for a period, and revoke a delegation after a
 * confirmation; both need `patch.approval.delegate`, and the backend checks
 * membership.
 */
export const DelegationsCard = () => {
  const api = useApi(patchApiRef);
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
  const group = groupRef || groups.value?.[0] || '';
  // The picker never offers the group itself (the backend refuses it).
  const delegate = delegateRef === group ? '' : delegateRef;
  const mine = (list.value ?? []).filter(d =>
    (groups.value ?? []).includes(d.groupRef),
  );

  const action = useConfirmedAction(list.reload);
  const busy = action.busy;
  const create = () =>
    action.run({
      run: async () => {
        await api.createDelegation({
          groupRef: group,
          delegateRef: delegate,
          endsAt: `${until}T23:59:59.999Z`,
          reason: reason.trim(),
        });
        setDelegateRef('');
        setReason('');
      },
      done: `Approvals of ${group} delegated to ${delegate}`,
    });

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
        <EntityRefPicker
          id="patch-delegation-delegate"
          label="Delegate to (user or group)"
          value={delegate}
          // The backend refuses delegating a group to itself.
          exclude={[group]}
          onChange={setDelegateRef}
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
            !allowed || busy || !group || !delegate || !until || !reason.trim()
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
                    action.ask({
                      title: 'Revoke this delegation?',
                      confirmLabel: 'Revoke',
                      danger: true,
                      explain: `From now on ${d.delegateRef} no longer decides on the approvals of ${d.groupRef}.`,
                      run: () => api.revokeDelegation(d.id),
                      done: `Delegation to ${d.delegateRef} revoked`,
                    })
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
      {action.dialog}
    </InfoCard>
  );
};
