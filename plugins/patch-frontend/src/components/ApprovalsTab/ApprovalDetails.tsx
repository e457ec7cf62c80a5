import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import List from '@material-ui/core/List';
import ListItem from '@material-ui/core/ListItem';
import ListItemText from '@material-ui/core/ListItemText';
import Typography from '@material-ui/core/Typography';
import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { EntityRefLink, EntityRefLinks } from '@backstage/plugin-catalog-react';
import { useApi } from '@backstage/core-plugin-api';
import useAsync from 'react-use/esm/useAsync';
import {
  ApprovalRequest,
  PredictedImpact,
  RiskScore,
  patchApiRef,
} from '../../api';
import { useBlastRadius } from '../../hooks';
import { dateTime, percent } from '../common';
import { RequestLink } from './RequestLink';

const Section = (props: { title: string; children: React.ReactNode }) => (
  <Box mb={2} component="section" aria-label={props.title}>
    <Typography variant="subtitle2" component="h3" gutterBottom>
      {props.title}
    </Typography>
    {props.children}
  </Box>
);

/** The score and the factors that make it up, largest first. */
export const RiskFactors = (props: { risk?: RiskScore }) => {
  if (!props.risk) {
    return (
      <Typography variant="body2" color="textSecondary">
        Not scored yet.
      </Typography>
    );
  }
  const factors = [...props.risk.factors].sort((a, b) => b.points - a.points);
  return (
    <>
      <Typography variant="h6" component="p">
        {props.risk.score} / 100
      </Typography>
      <List dense disablePadding aria-label="Risk factors">
        {factors.map(f => (
          <ListItem key={f.name} disableGutters>
            <ListItemText
              // Long refs ("api:default/checkout-api") wrap inside the card.
              style={{ minWidth: 0, overflowWrap: 'anywhere' }}
              primary={`${f.name}: +${f.points}`}
              secondary={f.detail}
            />
          </ListItem>
        ))}
      </List>
    </>
  );
};

/** The predicted failure risk, with its evidence. */
export const PredictedImpactView = (props: { impact?: PredictedImpact }) => {
  const i = props.impact;
  if (!i || i.failureRate === undefined) {
    return (
      <Typography variant="body2" color="textSecondary" component="span">
        No installs of this or similar patches yet, so no prediction.
      </Typography>
    );
  }
  return (
    <Typography variant="body2" component="span">
      {i.level ? `${i.level} risk: ` : ''}
      {percent(i.failureRate, 1)} expected failures
      {i.lower !== undefined && i.upper !== undefined
        ? ` (interval ${percent(i.lower, 1)}–${percent(i.upper, 1)})`
        : ''}
      , from {i.failures} failed of {i.sample} installs
      {i.basis ? ` — ${i.basis.replace(/\.$/, '')}` : ''}.
    </Typography>
  );
};

/**
 * The prediction for the request's patch: the request's own when it carries
 * one, otherwise asked of the backend when the details open (one call per
 * opened request, not per inbox row).
 */
const PatchImpact = (props: { request: ApprovalRequest }) => {
  const api = useApi(patchApiRef);
  const { request } = props;
  const { value, loading } = useAsync(
    async () => request.predictedImpact ?? api.getPatchImpact(request.patchRef),
    [api, request],
  );
  if (loading) return <Progress />;
  // No prediction is an answer too: the view says there is no evidence yet.
  return <PredictedImpactView impact={value} />;
};

const BlastRadiusView = (props: { request: ApprovalRequest }) => {
  const { value, loading, error } = useBlastRadius(props.request);
  if (loading) return <Progress />;
  if (error) return <ResponseErrorPanel error={error} />;
  if (!value) return null;
  return (
    <>
      <Typography variant="body2">
        Systems touched ({value.systems.length}):{' '}
        {value.systems.length ? (
          <EntityRefLinks entityRefs={value.systems} defaultKind="system" />
        ) : (
          'none'
        )}
      </Typography>
      <Typography variant="body2">
        Components consuming their APIs ({value.consumers.length}):{' '}
        {value.consumers.length ? (
          <EntityRefLinks
            entityRefs={value.consumers}
            defaultKind="component"
          />
        ) : (
          'none'
        )}
      </Typography>
    </>
  );
};

/** Everything a group member needs to decide on one request. */
export const ApprovalDetails = (props: { request: ApprovalRequest }) => {
  const { request } = props;
  return (
    <Box
      p={2}
      aria-label={`Details of ${request.patchTitle ?? request.patchRef}`}
    >
      <Box mb={1}>
        <RequestLink id={request.id} />
      </Box>
      <Grid container spacing={3}>
        <Grid item xs={12} md={4}>
          <Section title={`Endpoints (${request.endpoints.length})`}>
            <List dense disablePadding>
              {request.endpoints.slice(0, 50).map(e => (
                <ListItem key={e.id} disableGutters>
                  {e.entityRef ? (
                    <EntityRefLink entityRef={e.entityRef} title={e.hostname} />
                  ) : (
                    e.hostname ?? e.id
                  )}
                </ListItem>
              ))}
            </List>
            {request.endpoints.length > 50 && (
              <Typography variant="caption">
                and {request.endpoints.length - 50} more
              </Typography>
            )}
          </Section>
          <Section title={`Services (${request.services.length})`}>
            {request.services.length ? (
              <EntityRefLinks
                entityRefs={request.services}
                defaultKind="component"
              />
            ) : (
              <Typography variant="body2">No services run there.</Typography>
            )}
          </Section>
        </Grid>
        <Grid item xs={12} md={4}>
          <Section title="Blast radius">
            <BlastRadiusView request={request} />
          </Section>
          <Section title="Predicted impact">
            <PatchImpact request={request} />
          </Section>
        </Grid>
        <Grid item xs={12} md={4}>
          <Section title="Risk score">
            <RiskFactors risk={request.risk} />
          </Section>
          {request.decisions && request.decisions.length > 0 && (
            <Section title="Decisions">
              <List dense disablePadding>
                {request.decisions.map(d => (
                  <ListItem key={`${d.actor}-${d.at}`} disableGutters>
                    <ListItemText
                      primary={`${d.decision}${
                        d.scope ? ` (${d.scope})` : ''
                      } by ${d.actor}`}
                      secondary={`${dateTime(d.at)}${
                        d.comment ? ` — ${d.comment}` : ''
                      }`}
                    />
                  </ListItem>
                ))}
              </List>
            </Section>
          )}
        </Grid>
      </Grid>
    </Box>
  );
};
