import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import "@mantine/charts/styles.css";
import "@mantine/dates/styles.css";
import React from "react";
import ReactDOM from "react-dom/client";
import { MantineProvider, createTheme } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { App } from "./App";

// No browser context menu (Back, Reload, Inspect Element) on the console's
// pages: only where it serves the user, in editable fields and on selected text
// (cut, copy, paste).
document.addEventListener("contextmenu", (e) => {
  const target = e.target instanceof Element ? e.target : null;
  const editable = target?.closest("input, textarea, [contenteditable=true]");
  const selected = (window.getSelection()?.toString() ?? "") !== "";
  if (!editable && !selected) e.preventDefault();
});

const theme = createTheme({ primaryColor: "teal", defaultRadius: "sm" });

ReactDOM.createRoot(document.getElementById("root")!).render(
  <React.StrictMode>
    {/* "auto": light or dark following the system. */}
    <MantineProvider theme={theme} defaultColorScheme="auto">
      <Notifications position="bottom-right" />
      <App />
    </MantineProvider>
  </React.StrictMode>,
);
