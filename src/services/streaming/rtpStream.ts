/**
 * What a StreamController needs from whatever sends its RTP: a gst-launch pipeline (GstPipeline)
 * or the in-process passthrough (InProcessStream). Both report how they ended, once.
 */
import type { PipelineEnd } from "./gstPipeline.js";

export type StreamEnd =
  | PipelineEnd
  /** The in-process stream met data it cannot send (a file cut short or damaged): `reason` says how. */
  | { kind: "damaged"; reason: string };

export interface RtpStream {
  /** Settles once the stream has ended, however it ended (never rejects). */
  readonly finished: Promise<StreamEnd>;
  /** Ends the stream (idempotent); resolves when nothing more is sent. */
  stop(): Promise<StreamEnd>;
  /** The process that sends, when it is one (gst-launch). */
  readonly pid?: number;
}
