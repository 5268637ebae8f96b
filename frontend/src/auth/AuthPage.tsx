import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, call } from "../api/client";
import { keys } from "../api/queries";
import { Link, navigate } from "../lib/router";
import { Button } from "../ui/Button";
import { Field } from "../ui/Field";
import { ErrorBox } from "../ui/States";

/** Log in or sign up; both leave the browser with a session cookie and go to the app. */
export function AuthPage({ mode }: { mode: "login" | "signup" }) {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const signup = mode === "signup";

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { email: email.trim(), password };
      if (signup) await call(api.POST("/api/v1/auth/signup", { body }));
      else await call(api.POST("/api/v1/auth/login", { body }));
      queryClient.clear();
      await queryClient.fetchQuery({ queryKey: keys.me, queryFn: () => call(api.GET("/api/v1/me")) });
      navigate("/", { replace: true });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth-page">
      <div className="auth-card">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            fv
          </span>
          flowvault
        </div>
        <h1>{signup ? "Create your account" : "Log in"}</h1>
        <p className="muted">
          {signup
            ? "Automate workflows with credentials kept in one encrypted vault."
            : "Welcome back. Log in to your workspaces."}
        </p>
        <form onSubmit={submit} noValidate={false}>
          <Field label="Email" required>
            {(props) => (
              <input
                {...props}
                type="email"
                name="email"
                autoComplete="email"
                required
                value={email}
                onChange={(e) => setEmail(e.target.value)}
                autoFocus
              />
            )}
          </Field>
          <Field label="Password" required hint={signup ? "At least 10 characters." : undefined}>
            {(props) => (
              <input
                {...props}
                type="password"
                name="password"
                autoComplete={signup ? "new-password" : "current-password"}
                required
                minLength={signup ? 10 : 1}
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            )}
          </Field>
          <ErrorBox error={error} />
          <Button type="submit" variant="primary" busy={busy} className="btn-block">
            {signup ? "Sign up" : "Log in"}
          </Button>
        </form>
        <p className="auth-switch">
          {signup ? (
            <>
              Already have an account? <Link to="/login">Log in</Link>
            </>
          ) : (
            <>
              New to flowvault? <Link to="/signup">Create an account</Link>
            </>
          )}
        </p>
      </div>
    </main>
  );
}
