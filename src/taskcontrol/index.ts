/**
 * TaskControl: a job's external controller is asked before disruptive operations on its tasks
 * (replace for an update, move for a drain, replacing tasks lost with their host). The gate is
 * pure (gate.ts); the ledger and the requests live in task-control.ts, used by the server's
 * scheduler loop. The wire format is in model/taskcontrol.ts; docs/taskcontrol.md describes it.
 */
export { TaskControl, type TaskControlOptions } from './task-control.ts';
export { gatePlan, operationOf, type GateResult } from './gate.ts';
export { callController, type ControllerAnswer } from './controller-client.ts';
