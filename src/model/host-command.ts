/**
 * A command from the control plane to one host's agent (/hostcmds/HOST/ID): written by the server
 * (remediation's `restart-runtime`), seen by the agent through its watch, and answered by the agent
 * in the same record (`result`). The server reads the answer and deletes the record.
 */

/** What an agent can be told to do. */
export type HostCommandAction = 'restart-runtime';

export interface HostCommand {
  id: string;
  host: string;
  action: HostCommandAction;
  /** Why, in words (the remediation rule and its reason). */
  reason: string;
  /** When it was written (ms). */
  at: number;
  /** The agent's answer: done, or failed with why. */
  result?: HostCommandResult;
}

export interface HostCommandResult {
  ok: boolean;
  /** What was done (ok), or what went wrong. */
  detail: string;
  at: number;
}

/** `GET /v1/hosts/:id/commands`: the host's commands not answered yet, and the store revision read at. */
export interface HostCommandsView {
  revision: number;
  commands: HostCommand[];
}
