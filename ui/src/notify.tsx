import { Anchor, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { call, CommandError } from "./api/invoke";

export function notifyError(e: unknown, title = "Something went wrong") {
  const message = e instanceof CommandError || e instanceof Error ? e.message : String(e);
  notifications.show({ color: "red", title, message, autoClose: 10000 });
}

export function notifyOk(message: string) {
  notifications.show({ color: "teal", message });
}

/** A file was saved: says where, and offers to show it in its folder. */
export function notifySaved(message: string, path: string) {
  notifications.show({
    color: "teal",
    autoClose: 8000,
    message: (
      <>
        <Text size="sm">{message}</Text>
        <Anchor component="button" size="sm" data-testid="show-in-folder"
          onClick={() => void call("show_in_folder", { path }).catch((e) => notifyError(e, "The folder could not be opened"))}>
          Show in folder
        </Anchor>
      </>
    ),
  });
}
