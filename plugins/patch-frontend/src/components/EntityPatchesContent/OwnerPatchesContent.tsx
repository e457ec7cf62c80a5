import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';
import { stringifyEntityRef } from '@backstage/catalog-model';
import {
  Gauge,
  InfoCard,
  Progress,
  ResponseErrorPanel,
  StructuredMetadataTable,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { useEntity } from '@backstage/plugin-catalog-react';
import { SEVERITIES, patchApiRef } from '../../api';
import { useLiveAsync } from '../../hooks';
import { ApprovalTable } from '../ApprovalsTab';
import { EntityRiskExceptionsCard } from '../RiskExceptions';

/**
 * The Patches tab of a Component, System or Group: compliance, overdue
 * patches, and the approval requests still open for it. A Component or
 * System also lists its risk exceptions, and a missing patch of its open
 * requests can be excepted from here (a Group is no scope of an exception).
 */
export const OwnerPatchesContent = () => {
  const { entity } = useEntity();
  const entityRef = stringifyEntityRef(entity);
  const api = useApi(patchApiRef);
  const summary = useLiveAsync(
    () => api.getEntitySummary(entityRef),
    [api, entityRef],
  );

  if (summary.loading) return <Progress />;
  if (summary.error && !summary.value) {
    return <ResponseErrorPanel error={summary.error} />;
  }
  const s = summary.value!;
  const kind = entity.kind.toLocaleLowerCase('en-US');
  const patches = [
    ...new Map(
      s.pendingApprovals.map(r => [
        r.patchRef,
        { ref: r.patchRef, label: r.patchTitle ?? r.patchRef },
      ]),
    ).values(),
  ];
  const compliance = s.endpoints > 0 ? s.compliantEndpoints / s.endpoints : 1;
  return (
    <Grid container spacing={3}>
      <Grid item xs={12} md={4}>
        <InfoCard title="Compliance">
          {s.endpoints === 0 ? (
            <Typography variant="body2">
              No endpoint runs under {entity.metadata.name} yet. Endpoints
              appear when their agents enroll and a Component depends on them (
              <code>spec.dependsOn: [resource:&lt;name&gt;]</code>).
            </Typography>
          ) : (
            <Gauge value={compliance} />
          )}
        </InfoCard>
      </Grid>
      <Grid item xs={12} md={8}>
        <InfoCard title="Missing patches">
          <StructuredMetadataTable
            metadata={{
              endpoints: s.endpoints,
              'compliant endpoints': s.compliantEndpoints,
              overdue: (
                <Typography
                  variant="body2"
                  color={s.overdue > 0 ? 'error' : 'inherit'}
                >
                  {s.overdue}
                </Typography>
              ),
              ...Object.fromEntries(
                SEVERITIES.map(sev => [sev, s.missingBySeverity[sev] ?? 0]),
              ),
              // Not in the counts above: needed, but the risk is accepted.
              'excepted (risk accepted)': s.excepted,
            }}
          />
        </InfoCard>
      </Grid>
      <Grid item xs={12}>
        <ApprovalTable
          title="Pending approvals"
          requests={s.pendingApprovals}
          onChanged={summary.reload}
          emptyMessage="No approval request is open here. Requests appear when a patch applies to an endpoint this entity owns or runs on."
        />
      </Grid>
      {(kind === 'component' || kind === 'system') && (
        <Grid item xs={12}>
          <EntityRiskExceptionsCard
            patches={patches}
            onChanged={summary.reload}
          />
        </Grid>
      )}
    </Grid>
  );
};
