import { ReactNode } from 'react';
import { makeStyles } from '@material-ui/core/styles';

const useStyles = makeStyles({
  // Narrower cell padding than the dense default (16 px left, 24 px right),
  // for tables with many short numeric columns, so they fit a 1280 px window.
  root: {
    '& th, & td': { paddingLeft: 8, paddingRight: 8 },
  },
});

/** Wraps a table whose many columns need narrower padding to fit. */
export const CompactTable = (props: { children: ReactNode }) => {
  const classes = useStyles();
  return <div className={classes.root}>{props.children}</div>;
};
