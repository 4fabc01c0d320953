export { resolveProbePort, runProbe, type ProbeExec, type ProbeResult, type ProbeTarget } from './probe.ts';
export {
  ProbeLoop,
  realTimers,
  type ProbeKind,
  type ProbeLoopOptions,
  type ProbeState,
  type Timers,
} from './probe-loop.ts';
