import Chip from '@material-ui/core/Chip';
import { makeStyles } from '@material-ui/core/styles';
import type { Severity } from '../../api';

const useStyles = makeStyles(theme => ({
  critical: {
    backgroundColor: theme.palette.error.dark,
    color: theme.palette.error.contrastText,
  },
  high: {
    backgroundColor: theme.palette.error.main,
    color: theme.palette.error.contrastText,
  },
  medium: {
    backgroundColor: theme.palette.warning.main,
    color: theme.palette.warning.contrastText,
  },
  low: {
    backgroundColor: theme.palette.info.main,
    color: theme.palette.info.contrastText,
  },
}));

/** A patch's severity as a coloured chip. */
export const SeverityChip = (props: { severity?: Severity }) => {
  const classes = useStyles();
  if (!props.severity) return null;
  return (
    <Chip
      size="small"
      label={props.severity}
      className={classes[props.severity]}
    />
  );
};

/** The known-exploited (CISA KEV) marker. */
export const KevChip = (props: { knownExploited?: boolean }) =>
  props.knownExploited ? (
    <Chip
      size="small"
      variant="outlined"
      color="secondary"
      label="KEV"
      title="A fixed CVE is in the CISA Known Exploited Vulnerabilities catalog"
    />
  ) : null;
