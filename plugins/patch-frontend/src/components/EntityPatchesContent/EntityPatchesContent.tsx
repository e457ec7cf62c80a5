import { EmptyState } from '@backstage/core-components';
import { useEntity } from '@backstage/plugin-catalog-react';
import { EndpointPatchesContent } from './EndpointPatchesContent';
import { OwnerPatchesContent } from './OwnerPatchesContent';
import { PatchDetailsContent } from './PatchDetailsContent';

/**
 * The Patches tab of an entity page, whatever the kind: a Patch shows its
 * details, an endpoint Resource its packages and jobs, a Component, System
 * or Group its compliance and pending approvals.
 * @public
 */
export const EntityPatchesContent = () => {
  const { entity } = useEntity();
  const kind = entity.kind.toLowerCase();
  if (kind === 'patch') return <PatchDetailsContent />;
  if (kind === 'resource') {
    if ((entity.spec as { type?: string } | undefined)?.type === 'endpoint') {
      return <EndpointPatchesContent />;
    }
  } else if (['component', 'system', 'group'].includes(kind)) {
    return <OwnerPatchesContent />;
  }
  return (
    <EmptyState
      missing="info"
      title="No patch information for this entity"
      description="Patches are tracked for Components, Systems, Groups, endpoint Resources (spec.type: endpoint) and Patch entities."
    />
  );
};
