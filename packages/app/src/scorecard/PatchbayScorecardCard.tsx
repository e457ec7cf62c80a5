/*
 * The Patchbay scorecard of a Component, System or Group: the Tech Insights
 * checks on Patchbay's facts (the patch backend's `techInsightsModulePatchFacts`
 * writes them; app-config.yaml configures the checks), run for the entity on
 * the page through the tech-insights backend.
 *
 * The demo's own card, in the place of the community frontend plugin
 * (@backstage-community/plugin-tech-insights), which the package registry
 * this project installs from does not serve. It reads the same backend API
 * with the community's own client, so an adopter who has that plugin gets
 * the same checks on its scorecard.
 */
import { useMemo } from 'react';
import useAsync from 'react-use/esm/useAsync';
import List from '@material-ui/core/List';
import ListItem from '@material-ui/core/ListItem';
import ListItemIcon from '@material-ui/core/ListItemIcon';
import ListItemText from '@material-ui/core/ListItemText';
import Typography from '@material-ui/core/Typography';
import CheckCircleIcon from '@material-ui/icons/CheckCircle';
import ErrorIcon from '@material-ui/icons/Error';
import HelpIcon from '@material-ui/icons/Help';
import { getCompoundEntityRef } from '@backstage/catalog-model';
import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import {
  discoveryApiRef,
  identityApiRef,
  useApi,
} from '@backstage/frontend-plugin-api';
import { useEntity } from '@backstage/plugin-catalog-react';
import type {
  CheckResult,
  FactResponse,
} from '@backstage-community/plugin-tech-insights-common';
import { TechInsightsClient } from '@backstage-community/plugin-tech-insights-common/client';

/**
 * The id of Patchbay's fact retriever (PATCH_FACT_RETRIEVER_ID of
 * @patchbay/plugin-patch-backend, a backend package the app does not
 * import): a check on its facts belongs on this card.
 */
export const PATCHBAY_FACT_RETRIEVER_ID = 'patchbayPatchFactRetriever';

/** The facts a check read, as the card says them. */
function factsText(facts: FactResponse): string {
  return Object.entries(facts)
    .map(([name, f]) => `${name}: ${String(f.value)}`)
    .join(', ');
}

/** One check on the card: passed, failed, or not evaluated (a fact unknown). */
interface Row {
  id: string;
  name: string;
  description: string;
  outcome: 'passed' | 'failed' | 'unknown';
  facts?: FactResponse;
}

const ICONS = {
  passed: <CheckCircleIcon style={{ color: '#2e7d32' }} titleAccess="Passed" />,
  failed: <ErrorIcon color="error" titleAccess="Failed" />,
  unknown: <HelpIcon color="disabled" titleAccess="Not evaluated" />,
};

/**
 * Runs the Patchbay checks (those on Patchbay's facts) for the entity on
 * the page and lists each with its outcome and the facts it read.
 */
export const PatchbayScorecardCard = () => {
  const { entity } = useEntity();
  const discoveryApi = useApi(discoveryApiRef);
  const identityApi = useApi(identityApiRef);
  const client = useMemo(
    () => new TechInsightsClient({ discoveryApi, identityApi }),
    [discoveryApi, identityApi],
  );
  const ref = getCompoundEntityRef(entity);
  const { kind, namespace, name } = ref;
  const state = useAsync(async (): Promise<Row[]> => {
    const checks = (await client.getAllChecks()).filter(c =>
      c.factIds.includes(PATCHBAY_FACT_RETRIEVER_ID),
    );
    if (checks.length === 0) return [];
    const results: CheckResult[] = await client.runChecks(
      { kind, namespace, name },
      checks.map(c => c.id),
    );
    // The fact checker leaves out a check whose facts the entity lacks
    // (no endpoints: no compliance): listed as not evaluated, never passed.
    return checks.map(c => {
      const r = results.find(x => x.check.id === c.id);
      let outcome: Row['outcome'] = 'unknown';
      if (r) outcome = r.result === true ? 'passed' : 'failed';
      return {
        id: c.id,
        name: c.name,
        description: c.description,
        outcome,
        facts: r?.facts,
      };
    });
  }, [client, kind, namespace, name]);

  let body;
  if (state.loading) body = <Progress />;
  else if (state.error) body = <ResponseErrorPanel error={state.error} />;
  else if (state.value!.length === 0) {
    body = (
      <Typography variant="body2">
        No check on Patchbay's facts is configured. Add them under{' '}
        <code>techInsights.factChecker.checks</code> with{' '}
        <code>factIds: [{PATCHBAY_FACT_RETRIEVER_ID}]</code>.
      </Typography>
    );
  } else {
    body = (
      <List dense disablePadding>
        {state.value!.map(r => (
          <ListItem key={r.id} disableGutters>
            <ListItemIcon>{ICONS[r.outcome]}</ListItemIcon>
            <ListItemText
              primary={r.name}
              // Wrapped, never cut at the card's edge.
              secondaryTypographyProps={{
                component: 'div',
                style: { whiteSpace: 'normal', overflowWrap: 'anywhere' },
              }}
              secondary={
                <>
                  <div>{r.description}</div>
                  <div>
                    {r.facts
                      ? factsText(r.facts)
                      : 'Not evaluated: a fact it reads is unknown here (no endpoints, or no verified install yet).'}
                  </div>
                </>
              }
            />
          </ListItem>
        ))}
      </List>
    );
  }
  return (
    <InfoCard
      title="Patchbay scorecard"
      subheader="Tech Insights checks on this entity's patch facts"
    >
      {body}
    </InfoCard>
  );
};
