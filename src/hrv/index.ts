/**
 * hrvault's HRV core: beat detection (ECG, PPG), beat labels, RR cleaning, the standard HRV measure set,
 * windows and a streaming window. Pure: no I/O, no dependency on the rest of hrvault.
 */
export * from './types.js';
export { HrvError, HrvInputError, HRV_ERROR_CODES, type HrvErrorCode } from './errors.js';
export { followsGap, contiguousRuns, successiveDifferences, seriesFromIntervals, sliceSeries } from './segments.js';
export { nnSeriesFromBeats, rrAllSeriesFromBeats, windowOf, type LabelledBeat } from './annotations.js';
export { nnFromLabelledBeats, type LabelledNn } from './annotations.js';
export { timeDomain, nnHistogram, tinn, sampleSd, HISTOGRAM_BIN_MS } from './time-domain.js';
export { nonlinear, poincare, sampleEntropy, dfaAlpha, dfaScales, DFA_SCALES_ALPHA1, DFA_SCALES_ALPHA2 } from './nonlinear.js';
export { frequencyDomain, welchPsd, lombPsd, bandPower, type Psd } from './frequency.js';
export { analyze, analyzeWindows, type WindowOptions } from './windows.js';
export { StreamingHrvWindow } from './streaming.js';
export { originalBlockMeasures, blockLfHf, type OriginalBlockMeasures } from './original.js';
export { butterBandpass, butterHighpass, butterLowpass, filtfilt, movingAverage, type Sos } from './filters.js';
export { detectEcgBeats, ECG_MIN_FS_HZ, ECG_MAX_FS_HZ, type EcgDetectOptions } from './ecg-detect.js';
export {
  detectPpgBeats,
  detectPpg,
  ppgIntervals,
  rrSummary,
  ppgAgreement,
  rankPpgChannels,
  PPG_RESAMPLE_HZ,
  type PpgDetectOptions,
  type PpgDetection,
  type PpgPolarity,
  type PpgIntervals,
  type RrSummary,
  type PpgAgreement,
  type PpgChannelScore,
} from './ppg-detect.js';
export { labelBeats, classifyBeats } from './beat-labels.js';
export { matchBeats, scoreLabel, median, type BeatMatch, type LabelScore } from './beat-matching.js';
export { parseRrText, formatRrCsv } from './rr-text.js';
export { parseSignalText, type SignalText } from './signal-text.js';
export { MAX_ABS_SIGNAL, FS_MISMATCH, rateFromTimes } from './signal-text.js';
export { MAX_FILE_RR_MS } from './rr-text.js';
export { MAX_WINDOWS } from './windows.js';
export { cleanRr, type RrCleaningReport, type RrCleaningOptions } from './rr-clean.js';
export { prng } from './prng.js';
export { mixNoise, qrsAmplitude, NOISE_TYPES, type NoiseType, type NoiseOptions, type NoisyEcg } from './noise-stress.js';
export { evaluateRecord, ec57Class, type RecordScore } from './detector-eval.js';
export {
  assessRhythm,
  judgeRhythm,
  AF_IRREGULARITY_THRESHOLD,
  AF_MIN_PAIRS,
  AF_MAX_ECTOPIC_FRACTION,
  AF_MAX_DELTA_AUTOCORR,
  type RhythmAssessment,
} from './rhythm.js';
export { type MissedBeatRun } from './rr-clean.js';
export { type AnalysedWindow, PARTIAL_COVERAGE } from './windows.js';
export { DEFAULT_PSD, MIN_BAND_SEGMENT_S, splineGain } from './frequency.js';
