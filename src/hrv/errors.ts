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
