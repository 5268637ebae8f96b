import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClientProvider } from "@tanstack/react-query";
import "@xyflow/react/dist/style.css";
import "./styles.css";
import { queryClient, keys } from "./api/queries";
import { setUnauthenticatedHandler } from "./api/client";
import { App } from "./App";
import { ToastProvider } from "./ui/Toast";

setUnauthenticatedHandler(() => queryClient.setQueryData(keys.me, null));

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <ToastProvider>
        <App />
      </ToastProvider>
    </QueryClientProvider>
  </StrictMode>,
);
