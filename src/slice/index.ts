/**
 * The one door to generated Slice code and the Ice runtime's public API. Everything else imports
 * Ice, IceStorm, IceFlix and IceFlixExt from here, so a regenerated or upgraded binding changes
 * one import site.
 */
export { Ice, IceStorm } from "ice";
export { IceFlix } from "../gen/iceflix.js";
export { IceFlixExt } from "../gen/iceflix-ext.js";
