/** Runs a system tool (mount, umount, mknod) and reports its outcome as a value. */
import { execFile } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (e.g. through the oci runtime's fork helper instead of a spawn from this process). */
export type CommandRunner = (
  file: string,
  args: string[],
  options?: { cwd?: string },
) => Promise<CommandResult>;

export function runCommand(
  file: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          resolve({ code: 127, stdout, stderr: stderr || err.message });
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}
