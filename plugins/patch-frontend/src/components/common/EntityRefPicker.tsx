import { useMemo, useState } from 'react';
import CircularProgress from '@material-ui/core/CircularProgress';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Autocomplete from '@material-ui/lab/Autocomplete';
import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import { useApi } from '@backstage/core-plugin-api';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import useAsync from 'react-use/esm/useAsync';
import useDebounce from 'react-use/esm/useDebounce';

/** An entity the picker offers: its ref and how to show it. */
export interface EntityRefChoice {
  ref: string;
  /** The profile's display name, else the title, else the name. */
  label: string;
}

type CatalogApi = typeof catalogApiRef.T;
type EntityFilter = Record<string, string | string[]>;

/** How many choices the list shows at most. */
export const ENTITY_REF_SEARCH_LIMIT = 20;
/** How long typing has to pause before the catalog is asked. */
export const ENTITY_REF_SEARCH_DEBOUNCE_MS = 250;

/** The kinds searched unless told otherwise: Users and Groups. */
export const USERS_AND_GROUPS: readonly string[] = ['user', 'group'];
/** What a choice needs of an entity; nothing else is fetched. */
const FIELDS = [
  'kind',
  'metadata.name',
  'metadata.namespace',
  'metadata.title',
  'spec.profile.displayName',
];
/** Where the typed term is looked for (a substring match, any case). */
const SEARCHED_FIELDS = [
  'metadata.name',
  'metadata.title',
  'spec.profile.displayName',
];

const toChoice = (e: Entity): EntityRefChoice => {
  const profile = (e.spec?.profile ?? {}) as { displayName?: string };
  return {
    ref: stringifyEntityRef(e),
    label: profile.displayName ?? e.metadata.title ?? e.metadata.name,
  };
};

/** What the field shows for a choice. */
const optionLabel = (d: EntityRefChoice) =>
  d.label === d.ref ? d.ref : `${d.label} (${d.ref})`;

/**
 * A typed term read as a (possibly partial) entity ref: `kind:namespace/name`,
 * `kind:name`, `namespace/name`, each part optional but the separators, so
 * `group:default/ops`, `user:default/car`, `user:` and `default/` all count.
 * Only a term with a `:` or a `/` and nothing but the characters of kinds,
 * namespaces and names counts, so "Ops / SRE" stays a plain display-name
 * search. Undefined when the term is not ref-like or names a kind other than
 * the searched ones (lowercase; Users and Groups unless told otherwise).
 */
export const parseRefTerm = (
  term: string,
  searchedKinds: readonly string[] = USERS_AND_GROUPS,
): { kinds: string[]; namespace?: string; name: string } | undefined => {
  const match =
    /^(?:([a-z][a-z0-9-]*):)?(?:([a-z0-9][a-z0-9._-]*)\/)?([a-z0-9._-]*)$/i.exec(
      term,
    );
  if (!match || !/[:/]/.test(term)) return undefined;
  const [, kind, namespace, name] = match;
  const kinds = kind
    ? searchedKinds.filter(k => k === kind.toLowerCase())
    : [...searchedKinds];
  if (kinds.length === 0) return undefined;
  return { kinds, namespace: namespace?.toLowerCase(), name };
};

/**
 * Asks the catalog for the entities of the given kinds (Users and Groups
 * unless told otherwise) matching a typed term, at most `limit` of them,
 * best matches first, without duplicates.
 *
 * The term is always searched as a substring of the name, the title and the
 * profile's display name (the catalog's full-text filter). The catalog has
 * no entity-ref field to search, so a term that looks like an entity ref
 * (see {@link parseRefTerm}) is in addition taken apart: its kind and
 * namespace narrow the filter, and its name part is looked up exactly (so a
 * complete ref such as `group:default/ops` is found even when a hundred
 * names contain "ops" and sort before it) and as a substring of the name (so
 * a partial ref such as `user:default/car` finds carol). Those two run beside
 * the plain search; exact, then ref, then plain matches come first in that
 * order. Each filter is a list of one-kind objects rather than one `kind`
 * array, so that the namespace and name conditions hold for every kind.
 */
export async function searchEntityRefs(
  catalogApi: Pick<CatalogApi, 'queryEntities'>,
  term: string,
  limit: number,
  kinds: readonly string[] = USERS_AND_GROUPS,
): Promise<EntityRefChoice[]> {
  if (!term) return [];
  const query = (filter: EntityFilter[], fullText?: [string, string[]]) =>
    catalogApi
      .queryEntities({
        filter,
        fields: FIELDS,
        limit,
        orderFields: { field: 'metadata.name', order: 'asc' },
        totalItems: 'exclude',
        ...(fullText && {
          fullTextFilter: { term: fullText[0], fields: fullText[1] },
        }),
      })
      .then(r => r.items);

  const searches: Promise<Entity[]>[] = [];
  const ref = parseRefTerm(term, kinds);
  if (ref) {
    const byKind = (extra: EntityFilter) =>
      ref.kinds.map(kind => ({
        kind,
        ...(ref.namespace && { 'metadata.namespace': ref.namespace }),
        ...extra,
      }));
    if (ref.name) {
      searches.push(
        query(
          byKind({
            'metadata.namespace': ref.namespace ?? 'default',
            'metadata.name': ref.name,
          }),
        ),
        query(byKind({}), [ref.name, ['metadata.name']]),
      );
    } else {
      searches.push(query(byKind({})));
    }
  }
  searches.push(query([{ kind: [...kinds] }], [term, SEARCHED_FIELDS]));

  const seen = new Set<string>();
  const found: EntityRefChoice[] = [];
  for (const entity of (await Promise.all(searches)).flat()) {
    const choice = toChoice(entity);
    if (!seen.has(choice.ref)) {
      seen.add(choice.ref);
      found.push(choice);
    }
  }
  return found.slice(0, limit);
}

/** "users and groups" for ['user', 'group']. */
const kindsNoun = (kinds: readonly string[]) =>
  kinds.map(k => `${k}s`).join(' and ');

/**
 * Picks a User or Group (or an entity of other kinds) from the catalog, so
 * nobody has to know an entity ref by heart. The catalog may hold many
 * thousands of users, so nothing is loaded up front: once typing pauses the
 * catalog is searched for the term (see {@link searchEntityRefs}) and the
 * first {@link ENTITY_REF_SEARCH_LIMIT} matches are offered, less the
 * excluded refs. A value given from outside rather than picked (say the
 * signed-in user) is shown as its ref. The input keeps the given id, so the
 * label belongs to it.
 */
export const EntityRefPicker = (props: {
  id: string;
  label: string;
  helperText?: string;
  placeholder?: string;
  /** The entity ref chosen, or '' for none. */
  value: string;
  onChange: (ref: string) => void;
  /** Refs never offered nor shown as the value, e.g. the group delegated. */
  exclude?: readonly string[];
  /** The lowercase kinds searched; Users and Groups unless told otherwise. */
  kinds?: readonly string[];
  required?: boolean;
  fullWidth?: boolean;
  margin?: 'none' | 'dense' | 'normal';
}) => {
  const catalogApi = useApi(catalogApiRef);
  const kindsKey = (props.kinds ?? USERS_AND_GROUPS).join(',');
  const kinds = useMemo(() => kindsKey.split(','), [kindsKey]);
  const noun = kindsNoun(kinds);
  const exclude = props.exclude ?? [];
  const [term, setTerm] = useState('');
  const [searched, setSearched] = useState('');
  useDebounce(() => setSearched(term), ENTITY_REF_SEARCH_DEBOUNCE_MS, [term]);
  // More than shown, in case excluded refs are among them. Each answer
  // carries its term: in the render right after the debounce, the previous
  // term's answer is still there (not yet loading), and must not flash as
  // the new term's.
  const search = useAsync(
    async () => ({
      term: searched,
      items: await searchEntityRefs(
        catalogApi,
        searched,
        ENTITY_REF_SEARCH_LIMIT + exclude.length,
        kinds,
      ),
    }),
    [catalogApi, searched, kinds, exclude.length],
  );
  const searching =
    term !== searched ||
    search.loading ||
    (!search.error && search.value?.term !== searched);
  const shown =
    searching || search.error
      ? []
      : (search.value?.items ?? [])
          .filter(d => !exclude.includes(d.ref))
          .slice(0, ENTITY_REF_SEARCH_LIMIT);

  // The choice is kept apart from the results, which change with every term.
  const [selected, setSelected] = useState<EntityRefChoice | null>(null);
  // A value from outside; the same object while the value stays, since the
  // field resets its text whenever the value object changes.
  const given = useMemo(
    () => (props.value ? { ref: props.value, label: props.value } : null),
    [props.value],
  );
  let value: EntityRefChoice | null = null;
  if (props.value && !exclude.includes(props.value)) {
    value = selected?.ref === props.value ? selected : given;
  }

  let noOptionsText = 'No match';
  if (search.error) noOptionsText = 'The search failed';
  else if (!term) noOptionsText = 'Type a name or an entity ref';

  return (
    <Autocomplete<EntityRefChoice>
      id={props.id}
      style={props.fullWidth ? undefined : { minWidth: 320 }}
      fullWidth={props.fullWidth}
      // The chosen value stays among the options (MUI expects it there), but
      // the list shows exactly what the catalog found for the term.
      options={
        value && !shown.some(d => d.ref === value!.ref)
          ? [...shown, value]
          : shown
      }
      filterOptions={() => shown}
      loading={searching && !!term}
      loadingText="Searching…"
      noOptionsText={noOptionsText}
      value={value}
      getOptionLabel={optionLabel}
      getOptionSelected={(o, v) => o.ref === v.ref}
      onInputChange={(_, text, reason) =>
        // A reset puts the chosen label in the field: no search for that.
        setTerm(reason === 'input' ? text.trim() : '')
      }
      onChange={(_, d) => {
        setSelected(d);
        props.onChange(d?.ref ?? '');
      }}
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
          label={props.label}
          placeholder={props.placeholder ?? 'Type a name'}
          required={props.required}
          margin={props.margin}
          error={!!search.error}
          helperText={
            search.error
              ? `Could not search ${noun}: ${search.error.message}`
              : props.helperText
          }
          InputProps={{
            ...params.InputProps,
            endAdornment: (
              <>
                {searching && term ? (
                  <CircularProgress
                    color="inherit"
                    size={16}
                    aria-label={`Searching ${noun}`}
                  />
                ) : null}
                {params.InputProps.endAdornment}
              </>
            ),
          }}
        />
      )}
    />
  );
};
