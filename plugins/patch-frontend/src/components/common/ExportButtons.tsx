import { useState } from 'react';
import Button from '@material-ui/core/Button';
import GetAppIcon from '@material-ui/icons/GetApp';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { download } from './download';

/** The formats the backend's exports come in. */
export type ExportFormat = 'csv' | 'json';

/**
 * An "Export CSV" and an "Export JSON" button: each fetches its export and
 * saves it under `fileName(format)`; a failure is an error alert. Both are
 * disabled while one runs, and when `disabled`.
 */
export const ExportButtons = (props: {
  fetch: (format: ExportFormat) => Promise<Blob>;
  fileName: (format: ExportFormat) => string;
  disabled?: boolean;
}) => {
  const alertApi = useApi(alertApiRef);
  const [busy, setBusy] = useState(false);
  const exportAs = async (format: ExportFormat) => {
    setBusy(true);
    try {
      download(await props.fetch(format), props.fileName(format));
    } catch (e) {
      alertApi.post({ message: (e as Error).message, severity: 'error' });
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      {(['csv', 'json'] as const).map(format => (
        <Button
          key={format}
          startIcon={<GetAppIcon />}
          disabled={props.disabled || busy}
          onClick={() => exportAs(format)}
        >
          Export {format.toUpperCase()}
        </Button>
      ))}
    </>
  );
};
