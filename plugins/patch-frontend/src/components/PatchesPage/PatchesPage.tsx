import {
  Header,
  HeaderLabel,
  Page,
  RoutedTabs,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import useAsync from 'react-use/esm/useAsync';
import { patchApiRef } from '../../api';
import { ApprovalsTab } from '../ApprovalsTab';
import { AuditTab } from '../AuditTab';
import { PilotGroupsTab } from '../PilotGroupsTab';
import { ReportsTab } from '../ReportsTab';
import { RolloutsTab } from '../RolloutsTab';

/**
 * The backend's health in the page header: a glance tells whether the data
 * below is live, and which database the plugin runs on.
 */
export const BackendStatusLabels = () => {
  const api = useApi(patchApiRef);
  const { value, loading, error } = useAsync(() => api.getHealth(), [api]);
  let status = value?.status ?? 'unknown';
  if (loading) status = 'checking…';
  if (error) status = `unreachable (${error.message})`;
  return (
    <>
      <HeaderLabel label="Backend" value={status} />
      {value && <HeaderLabel label="Database" value={value.database} />}
    </>
  );
};

/**
 * The Patches page: approvals, rollouts, pilot groups and policies, reports
 * and audit, one tab (with its own URL) each.
 * @public
 */
export const PatchesPage = () => (
  <Page themeId="tool">
    <Header
      title="Patches"
      subtitle="Approve, roll out and report on patches across your fleet"
    >
      <BackendStatusLabels />
    </Header>
    <RoutedTabs
      routes={[
        { path: '/', title: 'Approvals', children: <ApprovalsTab /> },
        { path: '/rollouts', title: 'Rollouts', children: <RolloutsTab /> },
        {
          path: '/pilot-groups',
          title: 'Pilot groups and policies',
          children: <PilotGroupsTab />,
        },
        { path: '/reports', title: 'Reports', children: <ReportsTab /> },
        { path: '/audit', title: 'Audit', children: <AuditTab /> },
      ]}
    />
  </Page>
);
