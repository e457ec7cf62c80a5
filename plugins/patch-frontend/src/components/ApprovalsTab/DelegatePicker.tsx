import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Autocomplete from '@material-ui/lab/Autocomplete';
import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import { useApi } from '@backstage/core-plugin-api';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import useAsync from 'react-use/esm/useAsync';

/** A User or Group a group's approvals may be delegated to. */
export interface Delegate {
  ref: string;
  /** The profile's display name, else the title, else the name. */
  label: string;
}

const toDelegate = (e: Entity): Delegate => {
  const profile = (e.spec?.profile ?? {}) as { displayName?: string };
  return {
    ref: stringifyEntityRef(e),
    label: profile.displayName ?? e.metadata.title ?? e.metadata.name,
  };
};

/** What the field shows for a choice; also what typing is matched against. */
const optionLabel = (d: Delegate) =>
  d.label === d.ref ? d.ref : `${d.label} (${d.ref})`;

/**
 * Picks the User or Group a group's approvals go to, from the catalog, so
 * nobody has to know an entity ref by heart; typing filters by display name
 * and by ref. The backend refuses anything but a User or Group of the
 * catalog, and the group itself, which is therefore not offered.
 */
export const DelegatePicker = (props: {
  id: string;
  /** The entity ref chosen, or '' for none. */
  value: string;
  /** The group being delegated. */
  groupRef: string;
  onChange: (ref: string) => void;
}) => {
  const catalogApi = useApi(catalogApiRef);
  const delegates = useAsync(async () => {
    const { items } = await catalogApi.getEntities({
      filter: { kind: ['user', 'group'] },
      fields: [
        'kind',
        'metadata.name',
        'metadata.namespace',
        'metadata.title',
        'spec.profile.displayName',
      ],
      order: { field: 'metadata.name', order: 'asc' },
    });
    return items.map(toDelegate);
  }, [catalogApi]);
  const options = (delegates.value ?? []).filter(d => d.ref !== props.groupRef);
  const value = options.find(d => d.ref === props.value) ?? null;

  return (
    <Autocomplete<Delegate>
      id={props.id}
      style={{ minWidth: 320 }}
      options={options}
      loading={delegates.loading}
      value={value}
      getOptionLabel={optionLabel}
      getOptionSelected={(o, v) => o.ref === v.ref}
      onChange={(_, d) => props.onChange(d?.ref ?? '')}
      renderOption={d => (
        <div>
          <Typography variant="body2">{d.label}</Typography>
          <Typography variant="caption" color="textSecondary">
            {d.ref}
          </Typography>
        </div>
      )}
      renderInput={params => (
        <TextField
          {...params}
          label="Delegate to (user or group)"
          placeholder="Type a name"
          error={!!delegates.error}
          helperText={
            delegates.error
              ? `Could not load users and groups: ${delegates.error.message}`
              : undefined
          }
        />
      )}
    />
  );
};
