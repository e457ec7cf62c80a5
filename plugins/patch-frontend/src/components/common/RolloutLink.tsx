import { Link } from '@backstage/core-components';
import { useRouteRef } from '@backstage/core-plugin-api';
import { rootRouteRef } from '../../routes';

/**
 * Link to a rollout's page under the Patches page (which a legacy app must
 * mount, as the install steps say).
 */
export const RolloutLink = (props: { id: string; label?: string }) => {
  const root = useRouteRef(rootRouteRef);
  return (
    <Link
      to={`${root()}/rollouts/${encodeURIComponent(props.id)}`}
      title={`Rollout ${props.id}`}
    >
      {props.label ?? props.id.slice(0, 8)}
    </Link>
  );
};
