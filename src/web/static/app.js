// IceFlix web client: plain ES module, no build step. The session is an HttpOnly cookie (never
// visible here); the password leaves this page only as its SHA-256 (WebCrypto), as the contract expects.
const $ = (id) => document.getElementById(id);
const views = ["login-view", "search-view", "title-view", "status-view"];
let current = null; // the title shown
let statusTimer = null;

function show(view) {
  for (const v of views) $(v).hidden = v !== view;
  clearInterval(statusTimer);
  if (view !== "title-view") stopPlayer();
  if (view === "status-view") { refreshStatus(); statusTimer = setInterval(refreshStatus, 5000); }
}

function say(text, info = false) {
  $("message").textContent = text;
  $("message").className = info ? "info" : "";
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({ error: `unexpected answer (${res.status})` }));
  if (!res.ok) {
    const err = new Error(data.error || `error ${res.status}`);
    err.code = data.code;
    err.status = res.status;
    if (res.status === 401 && data.code === "login") loggedOut("Your session ended; log in again.");
    throw err;
  }
  return data;
}

async function sha256hex(text) {
  if (!crypto.subtle) throw new Error("this page needs a secure context (https, or http on localhost) to hash the password");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function loggedIn(user) {
  $("nav").hidden = false;
  $("whoami").textContent = user;
  show("search-view");
  $("search-input").focus();
}

function loggedOut(text = "") {
  $("nav").hidden = true;
  show("login-view");
  say(text, true);
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say("");
  try {
    const hash = await sha256hex($("login-password").value);
    $("login-password").value = "";
    const r = await api("POST", "/api/login", { user: $("login-user").value, passwordHash: hash });
    loggedIn(r.user);
  } catch (e) {
    say(e.code === "wrong-password" ? "Wrong user name or password." : e.message);
  }
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/api/logout").catch(() => {});
  loggedOut("Logged out.");
});

$("show-search").addEventListener("click", () => show("search-view"));
$("show-status").addEventListener("click", () => show("status-view"));
$("back").addEventListener("click", () => show("search-view"));

$("search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  say("");
  try {
    const q = new URLSearchParams({ q: $("search-input").value, mode: $("search-mode").value });
    const r = await api("GET", `/api/search?${q}`);
    renderResults(r);
  } catch (e) {
    say(e.message);
  }
});

function renderResults(r) {
  const list = $("results");
  list.replaceChildren();
  $("result-count").textContent = r.total === 0 ? "No titles found." : `${r.total} title${r.total === 1 ? "" : "s"}`;
  for (const t of r.results) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.testid = "result";
    b.dataset.mediaId = t.id;
    b.textContent = t.name || `(${t.id.slice(0, 12)}…)`;
    if (!t.available) {
      b.classList.add("muted");
      b.textContent += " — unavailable";
    } else if (t.tags.length) b.textContent += ` — ${t.tags.join(", ")}`;
    b.addEventListener("click", () => openTitle(t.id));
    li.append(b);
    list.append(li);
  }
}

async function openTitle(id) {
  say("");
  try {
    renderTitle(await api("GET", `/api/titles/${id}`));
    show("title-view");
    $("play").focus();
  } catch (e) {
    say(e.message);
  }
}

function renderTitle(t) {
  current = t;
  $("title-name").textContent = t.name || t.id;
  $("title-availability").textContent = t.available ? "Available" : "Unavailable right now (no provider holds it)";
  $("rename-input").value = t.name;
  const tags = $("tags");
  tags.replaceChildren();
  for (const tag of t.tags) {
    const li = document.createElement("li");
    li.dataset.testid = "tag";
    li.append(tag);
    const x = document.createElement("button");
    x.type = "button";
    x.dataset.testid = "tag-remove";
    x.setAttribute("aria-label", `remove tag ${tag}`);
    x.textContent = "×";
    x.addEventListener("click", () => editTags({ remove: [tag] }));
    li.append(x);
    tags.append(li);
  }
}

$("rename-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    renderTitle(await api("POST", `/api/titles/${current.id}/rename`, { name: $("rename-input").value }));
    say("Renamed.", true);
  } catch (e) {
    say(e.message);
  }
});

$("tag-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  await editTags({ add: [$("tag-input").value] });
  $("tag-input").value = "";
});

async function editTags(change) {
  try {
    renderTitle(await api("POST", `/api/titles/${current.id}/tags`, change));
  } catch (e) {
    say(e.message);
  }
}

// Playback: a ticket URL from the provider holding the file; the browser seeks with Range requests.
let resumeTries = 0;
$("play").addEventListener("click", () => play(current.id, 0));

async function play(id, at) {
  const video = $("player");
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      const t = await api("POST", `/api/titles/${id}/play`);
      video.hidden = false;
      video.src = t.url;
      if (at > 0) video.currentTime = at;
      say("");
      await video.play().catch(() => {});
      return;
    } catch (e) {
      if (e.code !== "busy") return say(e.message);
      say(`${e.message} — waiting`, true); // a browser copy is being made
      await new Promise((r) => setTimeout(r, 1000));
      if (current?.id !== id) return;
    }
  }
}

$("player").addEventListener("error", () => {
  // The ticket ended (e.g. a provider restart): one new ticket, from where it stopped.
  const video = $("player");
  if (!current || !video.src || resumeTries++ > 2) return say("Playback failed.");
  play(current.id, video.currentTime || 0);
});
$("player").addEventListener("playing", () => (resumeTries = 0));

function stopPlayer() {
  const video = $("player");
  if (!video.src) return;
  video.pause();
  video.removeAttribute("src");
  video.load();
  video.hidden = true;
  api("POST", "/api/play/stop").catch(() => {});
}

async function refreshStatus() {
  try {
    const s = await api("GET", "/api/status");
    const table = document.createElement("table");
    const head = table.insertRow();
    for (const h of ["kind", "id", "endpoint", "health", "last seen", "serving"]) head.append(Object.assign(document.createElement("th"), { textContent: h }));
    for (const i of s.instances) {
      const row = table.insertRow();
      // A provider's load, from its own /metrics: RTP streams and browser tickets.
      const serving = i.load ? `${i.load.rtpStreams} RTP · ${i.load.browserTickets} browser` : i.kind === "streaming" ? "unknown" : "";
      for (const v of [i.kind, i.id, i.endpoint, i.healthy ? "ok" : "failing", new Date(i.lastSeen).toLocaleTimeString(), serving]) row.insertCell().textContent = v;
      row.lastElementChild.dataset.testid = "serving";
    }
    const summary = document.createElement("p");
    summary.textContent = `Main ${s.main} · ${s.instances.length} instances · ${s.playing} playing now in this web server`;
    $("status").replaceChildren(summary, table);
  } catch (e) {
    say(e.message);
  }
}

api("GET", "/api/session").then((s) => (s.user ? loggedIn(s.user) : loggedOut())).catch(() => loggedOut());
