import { createRouteRef } from '@backstage/core-plugin-api';

/**
 * Route of the Patches page.
 * @public
 */
export const rootRouteRef = createRouteRef({ id: 'patch' });
