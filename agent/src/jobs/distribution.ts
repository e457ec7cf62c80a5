// zod's v3 API, as in config.ts (less resident memory in the daemon).
import { z } from 'zod/v3';
import type { JobDistribution } from '../providers/types';

/** http(s) only, and no white space: the URL goes into a sources file line. */
const url = z
  .string()
  .regex(/^https?:\/\/\S+$/, 'must be an http(s) URL without white space');

const schema = z
  .object({
    throttleKiBps: z.number().int().min(1).optional(),
    site: z.string().optional(),
    proxy: url.optional(),
    mirrors: z
      .array(
        z
          .object({
            origin: z
              .string()
              .regex(
                /^[a-z][a-z0-9+.-]*:\S+$/,
                'must be a URI without white space',
              )
              .optional(),
            // Goes into `--setopt=<repo>.baseurl=`: an id or a glob, nothing else.
            repo: z
              .string()
              .regex(/^[A-Za-z0-9_.:*?[\]-]+$/, 'must be a repository id')
              .optional(),
            url,
          })
          .refine(m => !!m.origin || !!m.repo, 'needs origin or repo'),
      )
      .optional(),
  })
  .passthrough();

/**
 * Reads `payload.distribution`: the settings, undefined when absent, or a
 * message saying what is wrong (the job then fails: a job is never run with
 * settings it could not read).
 * @public
 */
export function parseJobDistribution(
  value: unknown,
): JobDistribution | undefined | { error: string } {
  if (value === undefined || value === null) return undefined;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data as JobDistribution;
  return {
    error: `The job's distribution settings are invalid: ${parsed.error.issues
      .map(i => `distribution.${i.path.join('.')} ${i.message}`)
      .join('; ')}.`,
  };
}
