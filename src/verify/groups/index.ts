/** Every check group, in the order they run. */
import type { CheckGroup } from "../types.js";
import { mainGroup } from "./main.js";
import { authGroup } from "./auth.js";
import { catalogGroup } from "./catalog.js";
import { providerGroup } from "./provider.js";
import { controllerGroup } from "./controller.js";
import { eventsGroup } from "./events.js";
import { robustnessGroup } from "./robustness.js";

export const GROUPS: readonly CheckGroup[] = [mainGroup, authGroup, catalogGroup, providerGroup, controllerGroup, eventsGroup, robustnessGroup];
export const GROUP_NAMES = GROUPS.map((g) => g.name);
