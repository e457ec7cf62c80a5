import { ExecError, ExecFn, ExecResult } from '../providers/exec';

/**
 * An ExecFn for tests: records every call and answers from a script of
 * (matcher → result) pairs.
 */
export function recordingExec(
  answers: Array<[RegExp, Partial<ExecResult>]>,
): ExecFn & { calls: string[][] } {
  const calls: string[][] = [];
  const fn = (async (
    command: string,
    args: string[],
    options?: { okCodes?: number[] },
  ) => {
    calls.push([command, ...args]);
    const line = [command, ...args].join(' ');
    const hit = answers.find(([re]) => re.test(line));
    const result: ExecResult = { code: 0, stdout: '', stderr: '', ...hit?.[1] };
    if (result.code !== 0 && !options?.okCodes?.includes(result.code)) {
      throw new ExecError(line, result);
    }
    return result;
  }) as ExecFn & { calls: string[][] };
  fn.calls = calls;
  return fn;
}
