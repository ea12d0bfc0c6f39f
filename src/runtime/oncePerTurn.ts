/**
 * A check that runs at most once per event-loop task: the requests of one read burst (parsed
 * and dispatched in one turn by src/ice-server) share it, instead of each paying for it.
 *
 * Why this sees everything it must: the flag is reset by a microtask, i.e. as soon as the current
 * task ends. Every request answered before that reset was already read when the check ran; a
 * request sent after another process committed a change (a CLI edit, another replica) is read
 * in a later task, which runs the check again. So a change is never missed by a request sent
 * after it committed.
 */
export function oncePerTurn(check: () => void): () => void {
  let checked = false;
  const reset = () => {
    checked = false;
  };
  return () => {
    if (checked) return;
    checked = true;
    queueMicrotask(reset);
    check();
  };
}
