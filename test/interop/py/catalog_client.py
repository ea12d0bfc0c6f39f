#!/usr/bin/env python3
"""A Python client of IceFlix::MediaCatalog for the catalog tests (python3-zeroc-ice).

  catalog_client.py PROXY OPS_JSON [--ext]

OPS_JSON is a list of calls, run in order; each records {"ok": result} or {"error": {...}} so one
failure does not hide the others. The last stdout line is {"results": [...]}.

  {"op": "getTile", "id": ID}                  -> {"id", "provider", "provider_identity", "name", "tags"}
  {"op": "getTilesByName", "name": S, "exact": B}
  {"op": "getTilesByTags", "tags": L, "all": B}
  {"op": "renameTile", "id": ID, "name": S, "token": T}
  {"op": "addTags" | "removeTags", "id": ID, "tags": L, "token": T}
  {"op": "raw", "operation": OP, "args": [...]}  ice_invoke with the arguments encoded by hand
                                                 (str, bool, list of str), so the reply of a user
                                                 exception can be read as bytes: {"ok": bool,
                                                 "type_id", "reason"}
  {"op": "ping"}

Big arguments are generated here: a string may be {"repeat": S, "times": N} and a tag list
{"gen": PREFIX, "count": N} (PREFIX0 … PREFIX<N-1>).
--ext loads iceflix-ext.ice (module IceFlixExt) first, as an extension-aware client would.
"""
import json
import struct
import sys

import Ice

from iceflix_peer import IceFlix, communicator, load_ext


def expand(v):
    if isinstance(v, dict) and "repeat" in v:
        return v["repeat"] * v["times"]
    if isinstance(v, dict) and "gen" in v:
        return ["%s%d" % (v["gen"], i) for i in range(v["count"])]
    return v


def exc_info(e):
    info = {"type": type(e).__name__}
    try:
        info["ice_id"] = e.ice_id()
    except Exception:  # noqa: BLE001
        pass
    for attr in ("id", "unknown", "reason", "requestId"):
        v = getattr(e, attr, None)
        if isinstance(v, str):
            info[attr] = v[:300]
    return info


def encode_size(n):
    return bytes([n]) if n < 255 else b"\xff" + struct.pack("<i", n)


def encode(arg):
    if isinstance(arg, bool):
        return b"\x01" if arg else b"\x00"
    if isinstance(arg, str):
        b = arg.encode("utf-8")
        return encode_size(len(b)) + b
    if isinstance(arg, list):
        return encode_size(len(arg)) + b"".join(encode(a) for a in arg)
    raise TypeError("cannot encode %r" % (arg,))


def read_string(buf, pos):
    n = buf[pos]
    pos += 1
    if n == 255:
        (n,) = struct.unpack_from("<i", buf, pos)
        pos += 4
    return buf[pos:pos + n].decode("utf-8"), pos + n


def raw(catalog, operation, args):
    """ice_invoke; a user exception's first slice is decoded by hand: type id, first string member."""
    params = b"".join(encode(expand(a)) for a in args)
    ok, out = catalog.ice_invoke(operation, Ice.OperationMode.Normal, struct.pack("<i", 6 + len(params)) + b"\x01\x01" + params)
    if ok:
        return {"ok": True}
    pos = 6
    flags = out[pos]
    type_id, pos = read_string(out, pos + 1)
    if flags & 0x10:
        pos += 4
    reason = read_string(out, pos)[0] if pos < len(out) else None
    return {"ok": False, "type_id": type_id, "reason": reason}


def run(catalog, op):
    kind = op["op"]
    if kind == "getTile":
        m = catalog.getTile(expand(op["id"]))
        return {"id": m.id, "provider": str(m.provider) if m.provider else None,
                "provider_identity": Ice.identityToString(m.provider.ice_getIdentity()) if m.provider else None,
                "name": m.info.name, "tags": list(m.info.tags)}
    if kind == "getTilesByName":
        return list(catalog.getTilesByName(expand(op["name"]), op.get("exact", False)))
    if kind == "getTilesByTags":
        return list(catalog.getTilesByTags(expand(op["tags"]), op.get("all", False)))
    if kind == "renameTile":
        return catalog.renameTile(expand(op["id"]), expand(op["name"]), op.get("token", "good"))
    if kind in ("addTags", "removeTags"):
        return getattr(catalog, kind)(expand(op["id"]), expand(op["tags"]), op.get("token", "good"))
    if kind == "raw":
        return raw(catalog, op["operation"], op["args"])
    if kind == "ping":
        catalog.ice_ping()
        return True
    raise ValueError("unknown op " + kind)


def main():
    proxy, ops = sys.argv[1], json.loads(sys.argv[2])
    if "--ext" in sys.argv[3:]:
        load_ext()
    comm = communicator()
    try:
        catalog = IceFlix.MediaCatalogPrx.uncheckedCast(comm.stringToProxy(proxy))
        results = []
        for op in ops:
            try:
                results.append({"ok": run(catalog, op)})
            except Exception as e:  # noqa: BLE001
                results.append({"error": exc_info(e)})
        print(json.dumps({"results": results}), flush=True)
    finally:
        comm.destroy()


if __name__ == "__main__":
    main()
