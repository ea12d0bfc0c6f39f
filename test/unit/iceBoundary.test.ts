import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Ice, IceFlix, IceFlixExt } from "../../src/slice/index.js";
import { mapDispatchError } from "../../src/runtime/iceBoundary.js";
import { createLogger } from "../../src/runtime/logger.js";

const log = createLogger("test", "silent");

describe("iceBoundary.mapDispatchError", () => {
  it("passes Slice exceptions and ObjectNotExist through unchanged", () => {
    const wrong = new IceFlix.WrongMediaId("x");
    assert.equal(mapDispatchError(wrong, undefined, log), wrong);
    const one = new Ice.ObjectNotExistException();
    assert.equal(mapDispatchError(one, undefined, log), one);
  });

  it("turns an unexpected error into InternalError with a request id and no stack or path", () => {
    const mapped = mapDispatchError(new Error("boom at /home/secret/file.ts:1"), undefined, log);
    assert.ok(mapped instanceof IceFlixExt.InternalError);
    assert.match(mapped.requestId, /^[0-9a-f-]{36}$/);
    assert.ok(!JSON.stringify(mapped).includes("/home/secret"));
  });

  it("turns malformed arguments into InvalidArgument", () => {
    const mapped = mapDispatchError(new Ice.UnmarshalOutOfBoundsException(), undefined, log);
    assert.ok(mapped instanceof IceFlixExt.InvalidArgument);
  });
});

describe("iceBoundary.mapDispatchError, protocol errors", () => {
  it("treats an unsupported encoding in the arguments as malformed input, not an internal error", () => {
    const mapped = mapDispatchError(new Ice.UnsupportedEncodingException(), undefined, log);
    assert.ok(mapped instanceof IceFlixExt.InvalidArgument);
  });
});
