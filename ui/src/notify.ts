import { notifications } from "@mantine/notifications";
import { CommandError } from "./api/invoke";

export function notifyError(e: unknown, title = "Something went wrong") {
  const message = e instanceof CommandError || e instanceof Error ? e.message : String(e);
  notifications.show({ color: "red", title, message, autoClose: 10000 });
}

export function notifyOk(message: string) {
  notifications.show({ color: "teal", message });
}
