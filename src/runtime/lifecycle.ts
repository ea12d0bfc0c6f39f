/** The shape every runnable component (broker, Main, services) has for the CLI harness and `up`. */
export interface RunningComponent {
  /** What peers use to reach it (stringified proxy). */
  proxy: string;
  /** Idempotent clean stop: stop announcing, unsubscribe, close connections and databases. */
  stop(): Promise<unknown>;
}
