/** What services import: a TaskControl controller helper (taskcontrol/). */
export {
  parseTaskControlRequest,
  serveTaskControl,
  type ControllerServer,
  type Decide,
} from './taskcontrol/controller.ts';
export { shardGuard, type ShardGuardOptions } from './taskcontrol/shard-guard.ts';
