// The one typed door to the Rust side. The command map (every command, its
// arguments and its result) is generated from src-tauri/app/src/command_map.rs.
import { invoke } from "@tauri-apps/api/core";
import type { Commands, NoArgs } from "./generated/commands";
import type { ErrorCode } from "./generated/ErrorCode";
import type { IpcError } from "./generated/IpcError";
import type { Problem } from "./generated/Problem";

export type { Commands };

/** A command's failure: branch on `code`, never on `message`. */
export class CommandError extends Error {
  readonly code: ErrorCode;
  readonly problems: Problem[];
  constructor(e: IpcError) {
    super(e.message);
    this.code = e.code;
    this.problems = e.problems;
  }
}

function isIpcError(e: unknown): e is IpcError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export async function call<K extends keyof Commands>(
  command: K,
  ...args: Commands[K][0] extends NoArgs ? [] : [Commands[K][0]]
): Promise<Commands[K][1]> {
  try {
    return await invoke<Commands[K][1]>(command, args[0] ?? {});
  } catch (e) {
    if (isIpcError(e)) throw new CommandError(e);
    throw new CommandError({ code: "internal", message: String(e), problems: [] });
  }
}

/** A command's error in words: its problems' messages, or its message. */
export function errorText(e: unknown): string {
  if (e instanceof CommandError && e.problems.length) return e.problems.map((p) => p.message).join("; ");
  return e instanceof Error ? e.message : String(e);
}
