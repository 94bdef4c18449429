import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Tauri loads the built files through its own protocol; the dev server is for `tauri dev`.
export default defineConfig({
  plugins: [react()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "safari16", outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
});
