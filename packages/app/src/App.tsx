import { createApp } from '@backstage/frontend-defaults';
import catalogPlugin from '@backstage/plugin-catalog/alpha';
import orgPlugin from '@backstage/plugin-org/alpha';
import notificationsPlugin from '@backstage/plugin-notifications/alpha';
import signalsPlugin from '@backstage/plugin-signals/alpha';
import patchPlugin from '@patchbay/plugin-patch/alpha';
import { patchbayScorecardModule } from './scorecard';
import { signInModule } from './signIn';

export default createApp({
  features: [
    catalogPlugin,
    orgPlugin,
    notificationsPlugin,
    signalsPlugin,
    patchPlugin,
    // The Patchbay scorecard (Tech Insights checks on Patchbay's facts) on
    // the overview of Components, Systems and Groups.
    patchbayScorecardModule,
    // The demo's people beside the guest (app-config.demo.yaml).
    signInModule,
  ],
});
