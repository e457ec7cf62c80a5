import { ReactNode } from 'react';
import { makeStyles } from '@material-ui/core/styles';

const useStyles = makeStyles({
  // Narrower cell padding than the dense default (16 px left, 24 px right),
  // for tables with many short numeric columns, so they fit a 1280 px window
  // (a rollout's Waves table, nine columns, was 4 px too wide there at 8 px
  // with a paused rollout's states and counts).
  root: {
    '& th, & td': { paddingLeft: 6, paddingRight: 6 },
  },
});

/** Wraps a table whose many columns need narrower padding to fit. */
export const CompactTable = (props: { children: ReactNode }) => {
  const classes = useStyles();
  return <div className={classes.root}>{props.children}</div>;
};
