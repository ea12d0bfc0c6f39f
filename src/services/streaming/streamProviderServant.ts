/** StreamProviderI: the StreamProvider servant (spec §5); translates calls into the media library and controllers. */
import { Ice, IceFlix, IceFlixExt } from "../../slice/index.js";
import { wrongMediaId } from "../../runtime/wrongMediaId.js";
import type { MediaLibrary } from "./mediaLibrary.js";
import type { MediaAnnouncer } from "./mediaAnnouncer.js";
import type { StreamAuth } from "./streamAuth.js";
import type { StreamControllers } from "./streamControllers.js";
import type { BrowserPlayback } from "./browserPlayback.js";

export interface StreamProviderState {
  library: MediaLibrary;
  announcer: MediaAnnouncer;
  auth: StreamAuth;
  controllers: StreamControllers;
  playback: BrowserPlayback;
}

/** How long getStream waits for the first folder scan before calling an id unknown. */
const FIRST_SCAN_WAIT_MS = 3000;

export class StreamProviderI extends IceFlixExt.StreamProviderExt {
  constructor(private readonly state: StreamProviderState) {
    super();
  }

  /** Unauthorized (bad token) before WrongMediaId (unknown id) before Busy (at the limit). */
  async getStream(id: string, authentication: string, _current: Ice.Current): Promise<IceFlix.StreamControllerPrx> {
    const owner = await this.state.auth.authorize(authentication);
    let media = this.state.library.get(id);
    if (!media) {
      // Right after a (re)start the library may still be loading: a bounded wait, not a wrong "unknown".
      await this.state.library.whenFirstScanned(FIRST_SCAN_WAIT_MS);
      media = this.state.library.get(id);
    }
    // Any length or shape: WrongMediaId (the contract's), echoed cut so the reply stays small.
    if (!media) throw wrongMediaId(id);
    return this.state.controllers.create(media, owner);
  }

  isAvailable(id: string, _current: Ice.Current): boolean {
    return this.state.library.has(id);
  }

  /** A browser's ticket to play `id` over HTTP (IceFlixExt, browserPlayback.ts). */
  getPlaybackUrl(id: string, authentication: string, _current: Ice.Current): Promise<IceFlixExt.PlaybackTicket> {
    return this.state.playback.getPlaybackUrl(id, authentication);
  }

  refreshPlayback(url: string, authentication: string, _current: Ice.Current): Promise<IceFlixExt.PlaybackTicket> {
    return this.state.playback.refreshPlayback(url, authentication);
  }

  /** Returns at once; the announcements follow (a large folder must not hold the caller). */
  reannounceMedia(_current: Ice.Current): void {
    this.state.announcer.reannounce(this.state.library.list());
  }
}
