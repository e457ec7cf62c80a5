import { createFrontendModule } from '@backstage/frontend-plugin-api';
import { EntityCardBlueprint } from '@backstage/plugin-catalog-react/alpha';

/**
 * The Patchbay scorecard on the overview of every Component, System and
 * Group (entity-card:catalog/patchbay-scorecard): the Tech Insights checks
 * on Patchbay's facts for the entity (see PatchbayScorecardCard).
 */
export const patchbayScorecardModule = createFrontendModule({
  pluginId: 'catalog',
  extensions: [
    EntityCardBlueprint.make({
      name: 'patchbay-scorecard',
      params: {
        // A predicate object, as the Patches tab's: a string filter prints a
        // deprecation warning on every entity page.
        filter: { kind: { $in: ['component', 'system', 'group'] } },
        loader: () =>
          import('./PatchbayScorecardCard').then(m => (
            <m.PatchbayScorecardCard />
          )),
      },
    }),
  ],
});
