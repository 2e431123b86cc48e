/** Stable codes for the HRV core's errors; re-exported by the project registry in src/errors.ts. */
export const HRV_ERROR_CODES = {
  HRV_ERR_INPUT: 'invalid input to an HRV function',
  HRV_ERR_TOO_SHORT: 'too few beats or too short a signal for the requested analysis',
  HRV_ERR_SAMPLING_RATE: 'sampling rate outside the supported range',
} as const;

export type HrvErrorCode = keyof typeof HRV_ERROR_CODES;

/** An error raised by the pure HRV core; `code` is stable, `message` names the problem. */
export class HrvError extends Error {
  readonly code: HrvErrorCode;
  constructor(code: HrvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HrvError';
    this.code = code;
  }
}

/** Bad content in an input text (RR or signal file): names the source, the 1-based line where known, and the problem. */
export class HrvInputError extends HrvError {
  readonly source: string;
  readonly line: number | undefined;
  readonly problem: string;
  constructor(source: string, line: number | undefined, problem: string) {
    super('HRV_ERR_INPUT', `${source}${line === undefined ? '' : `:${line}`}: ${problem}`);
    this.name = 'HrvInputError';
    this.source = source;
    this.line = line;
    this.problem = problem;
  }
}
