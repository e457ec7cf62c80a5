import { Link } from '@backstage/core-components';
import { useRouteRef } from '@backstage/core-plugin-api';
import { rootRouteRef } from '../../routes';

/** Link from an inbox row to its request page. */
export const RequestLink = (props: { id: string }) => {
  const root = useRouteRef(rootRouteRef);
  return (
    <Link to={`${root()}/requests/${encodeURIComponent(props.id)}`}>
      Open the request: what it fixes, services, history
    </Link>
  );
};
