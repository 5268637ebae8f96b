import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a `flowvault serve` on port 8000; `npm run build` writes dist/,
// which the Python server serves at `/`.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  server: { proxy: { "/api": "http://127.0.0.1:8000", "/hooks": "http://127.0.0.1:8000" } },
});
