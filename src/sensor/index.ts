/** The sensor side: synthetic patients, the beat message and its topic, and the MQTT beat publisher. */
export {
  beatMessageSchema,
  beatTopic,
  deviceOfTopic,
  deviceOfPatient,
  RR_MIN_MS,
  RR_MAX_MS,
  type BeatMessage,
} from './message.js';
export {
  SyntheticPatient,
  syntheticPatients,
  syntheticSeries,
  patientId,
  prng,
  type PatientParams,
  type Episode,
  type SyntheticBeat,
} from './synthetic.js';
export {
  startSensorFleet,
  devicePassword,
  type SensorFleet,
  type SensorFleetOptions,
  type SensorFleetStats,
  type ClockStep,
  type BeatAck,
} from './publisher.js';
export { readMqttCa } from './tls.js';
export { ReplayPatient, recordedBeatTimesMs, replayKind, type BeatSource } from './replay.js';
