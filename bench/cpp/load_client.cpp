// The load generator of the RPC and login benchmarks (bench/rpc.ts, bench/login.ts): a C++ Ice 3.7
// (C++11 mapping) client that keeps many asynchronous twoway calls in flight over several
// connections, and measures calls/s and per-call latency in a fixed window.
//
//   load_client --proxy PRX --op isAuthorized|getTilesByName|getTile|getAuthenticator|refreshAuthorization
//               [--arg A] [--arg2 B] [--exact 0|1] [--connections 4] [--inflight 16]
//               [--seconds 5] [--warmup 1] [--Ice.Prop=value ...]
//
//   isAuthorized          --arg TOKEN
//   getTilesByName        --arg NAME --exact 0|1
//   getTile               --arg MEDIA_ID (every reply's id must be MEDIA_ID)
//   getAuthenticator      (Main; every reply must be a proxy)
//   refreshAuthorization  --arg USER[,USER...] (call i uses user i mod n) --arg2 PASSWORD_HASH
//
// `--connections` separate connections (ice_connectionId), `--inflight` calls in flight on each:
// every reply's callback issues the next call on the same slot. Before the load, one synchronous
// call per connection checks the server answers; its result is printed as "sample" (the runner
// compares samples across servers) and every later reply must match it (same bool, same list
// size, a non-empty token). stdout, one JSON object per line:
//   {"event":"measure-start"}  when the measured window opens
//   {"event":"measure-end"}    when it closes (in-flight calls then drain, unmeasured)
//   {"calls":..,"seconds":..,"callsPerSecond":..,"p50Ms":..,"p99Ms":..,"maxMs":..,"connections":..,
//    "inflight":..,"errors":..,"sample":..[,"error":".."]}
// Exit status 1 (and an "error" field) if a call failed or returned something unexpected.
#include <Ice/Ice.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "iceflix.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t nowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void emit(const std::string& line) {
  std::cout << line << std::endl;  // endl flushes: the runner samples CPU when it reads these lines
}

enum class Op { IsAuthorized, GetTilesByName, GetTile, GetAuthenticator, RefreshAuthorization };

struct Options {
  std::string proxy;
  Op op = Op::IsAuthorized;
  std::string opName = "isAuthorized";
  std::string arg;
  std::string arg2;
  bool exact = false;
  int connections = 4;
  int inflight = 16;
  double seconds = 5;
  double warmup = 1;
  std::vector<std::string> iceArgs;
};

struct State {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> windowStart{INT64_MAX};
  std::atomic<int64_t> windowEnd{INT64_MAX};
  std::atomic<int> idle{0};
  int slots = 0;
  std::mutex mutex;
  std::condition_variable allIdle;
  std::atomic<int> errors{0};
  std::string firstError;  // under mutex
  // expectations from the synchronous check
  bool expectBool = false;
  size_t expectSize = 0;
  std::vector<std::string> users;
};

struct Slot {
  int index = 0;
  std::shared_ptr<IceFlix::AuthenticatorPrx> auth;
  std::shared_ptr<IceFlix::MediaCatalogPrx> catalog;
  std::shared_ptr<IceFlix::MainPrx> main;
  int64_t t0 = 0;
  uint64_t issued = 0;
  std::vector<uint32_t> latencyNs;  // completed inside the window; only this slot's callbacks touch it
};

const Options* gOpt = nullptr;
State* gState = nullptr;

void issue(Slot* s);

void fail(Slot* s, const std::string& why) {
  (void)s;
  State& st = *gState;
  {
    std::lock_guard<std::mutex> lock(st.mutex);
    if (st.firstError.empty()) st.firstError = why;
  }
  st.errors++;
  st.stop = true;
}

void completed(Slot* s) {
  const int64_t t = nowNs();
  State& st = *gState;
  if (t >= st.windowStart.load(std::memory_order_relaxed) && t <= st.windowEnd.load(std::memory_order_relaxed)) {
    const int64_t d = t - s->t0;
    s->latencyNs.push_back(static_cast<uint32_t>(std::min<int64_t>(d, UINT32_MAX)));
  }
  issue(s);
}

void onException(Slot* s, std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    fail(s, std::string(gOpt->opName) + ": " + ex.what());
  }
  issue(s);
}

void issue(Slot* s) {
  State& st = *gState;
  if (st.stop.load(std::memory_order_relaxed)) {
    if (++st.idle == st.slots) {
      std::lock_guard<std::mutex> lock(st.mutex);
      st.allIdle.notify_all();
    }
    return;
  }
  s->t0 = nowNs();
  const uint64_t n = s->issued++;
  switch (gOpt->op) {
    case Op::IsAuthorized:
      s->auth->isAuthorizedAsync(
          gOpt->arg,
          [s](bool r) {
            if (r != gState->expectBool) fail(s, "isAuthorized: unexpected result");
            completed(s);
          },
          [s](std::exception_ptr e) { onException(s, e); });
      break;
    case Op::GetTilesByName:
      s->catalog->getTilesByNameAsync(
          gOpt->arg, gOpt->exact,
          [s](IceFlix::StringList r) {
            if (r.size() != gState->expectSize) fail(s, "getTilesByName: unexpected result size");
            completed(s);
          },
          [s](std::exception_ptr e) { onException(s, e); });
      break;
    case Op::GetTile:
      s->catalog->getTileAsync(
          gOpt->arg,
          [s](IceFlix::Media r) {
            if (r.id != gOpt->arg || !r.provider) fail(s, "getTile: unexpected result");
            completed(s);
          },
          [s](std::exception_ptr e) { onException(s, e); });
      break;
    case Op::GetAuthenticator:
      s->main->getAuthenticatorAsync(
          [s](std::shared_ptr<IceFlix::AuthenticatorPrx> r) {
            if (!r) fail(s, "getAuthenticator: null proxy");
            completed(s);
          },
          [s](std::exception_ptr e) { onException(s, e); });
      break;
    case Op::RefreshAuthorization: {
      const auto& user = st.users[(static_cast<size_t>(s->index) + n) % st.users.size()];
      s->auth->refreshAuthorizationAsync(
          user, gOpt->arg2,
          [s](std::string token) {
            if (token.empty()) fail(s, "refreshAuthorization: empty token");
            completed(s);
          },
          [s](std::exception_ptr e) { onException(s, e); });
      break;
    }
  }
}

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "load_client: " << why << "\n"
            << "usage: load_client --proxy PRX --op isAuthorized|getTilesByName|getTile|getAuthenticator|refreshAuthorization [--arg A] [--arg2 B]\n"
            << "       [--exact 0|1] [--connections N] [--inflight M] [--seconds S] [--warmup W] [--Ice.Prop=value ...]"
            << std::endl;
  std::exit(2);
}

Options parse(int argc, char* argv[]) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--proxy") o.proxy = value();
    else if (a == "--op") o.opName = value();
    else if (a == "--arg") o.arg = value();
    else if (a == "--arg2") o.arg2 = value();
    else if (a == "--exact") o.exact = value() == "1";
    else if (a == "--connections") o.connections = std::stoi(value());
    else if (a == "--inflight") o.inflight = std::stoi(value());
    else if (a == "--seconds") o.seconds = std::stod(value());
    else if (a == "--warmup") o.warmup = std::stod(value());
    else if (a.rfind("--Ice.", 0) == 0 || a.rfind("--IceSSL.", 0) == 0) o.iceArgs.push_back(a);
    else usage("unknown argument " + a);
  }
  if (o.proxy.empty()) usage("--proxy is required");
  if (o.opName == "isAuthorized") o.op = Op::IsAuthorized;
  else if (o.opName == "getTilesByName") o.op = Op::GetTilesByName;
  else if (o.opName == "getTile") o.op = Op::GetTile;
  else if (o.opName == "getAuthenticator") o.op = Op::GetAuthenticator;
  else if (o.opName == "refreshAuthorization") o.op = Op::RefreshAuthorization;
  else usage("unknown --op " + o.opName);
  if (o.connections < 1 || o.inflight < 1 || o.seconds <= 0 || o.warmup < 0) usage("bad --connections/--inflight/--seconds/--warmup");
  return o;
}

std::string result(const Options& o, State& st, std::vector<std::unique_ptr<Slot>>& slots, const std::string& sample) {
  std::vector<uint32_t> all;
  for (auto& s : slots) all.insert(all.end(), s->latencyNs.begin(), s->latencyNs.end());
  const double seconds = (st.windowEnd - st.windowStart) / 1e9;
  auto pct = [&](double q) -> std::string {
    if (all.empty()) return "null";
    size_t i = static_cast<size_t>(std::max(0.0, std::ceil(q * all.size()) - 1));
    i = std::min(i, all.size() - 1);
    std::nth_element(all.begin(), all.begin() + static_cast<long>(i), all.end());
    std::ostringstream v;
    v << all[i] / 1e6;
    return v.str();
  };
  std::ostringstream out;
  out.precision(10);
  const std::string p50 = pct(0.50), p99 = pct(0.99), max = pct(1.0);
  out << "{\"calls\":" << all.size() << ",\"seconds\":" << seconds << ",\"callsPerSecond\":" << (seconds > 0 ? all.size() / seconds : 0)
      << ",\"p50Ms\":" << p50 << ",\"p99Ms\":" << p99 << ",\"maxMs\":" << max << ",\"connections\":" << o.connections
      << ",\"inflight\":" << o.inflight << ",\"errors\":" << st.errors.load() << ",\"sample\":" << sample;
  if (!st.firstError.empty()) out << ",\"error\":" << jsonString(st.firstError);
  out << "}";
  return out.str();
}

}  // namespace

int main(int argc, char* argv[]) {
  Options o = parse(argc, argv);
  gOpt = &o;
  State st;
  gState = &st;
  if (o.op == Op::RefreshAuthorization) {
    std::stringstream users(o.arg);
    std::string u;
    while (std::getline(users, u, ',')) {
      if (!u.empty()) st.users.push_back(u);
    }
    if (st.users.empty()) usage("refreshAuthorization needs --arg USER[,USER...]");
  }
  try {
    Ice::InitializationData init;
    init.properties = Ice::createProperties(o.iceArgs);
    Ice::CommunicatorHolder ich(init);
    auto communicator = ich.communicator();
    auto base = communicator->stringToProxy(o.proxy)->ice_twoway();

    std::vector<std::unique_ptr<Slot>> slots;
    std::string sample = "null";
    for (int c = 0; c < o.connections; c++) {
      auto prx = base->ice_connectionId("bench-" + std::to_string(c));
      auto auth = Ice::uncheckedCast<IceFlix::AuthenticatorPrx>(prx);
      auto catalog = Ice::uncheckedCast<IceFlix::MediaCatalogPrx>(prx);
      auto main = Ice::uncheckedCast<IceFlix::MainPrx>(prx);
      // Opens the connection and checks the answer before anything is timed.
      switch (o.op) {
        case Op::IsAuthorized: {
          bool r = auth->isAuthorized(o.arg);
          if (c == 0) st.expectBool = r, sample = r ? "true" : "false";
          else if (r != st.expectBool) throw std::runtime_error("isAuthorized answers differ between connections");
          break;
        }
        case Op::GetTilesByName: {
          auto r = catalog->getTilesByName(o.arg, o.exact);
          if (c == 0) {
            st.expectSize = r.size();
            sample = "[";
            for (size_t i = 0; i < r.size(); i++) sample += (i ? "," : "") + jsonString(r[i]);
            sample += "]";
          } else if (r.size() != st.expectSize) {
            throw std::runtime_error("getTilesByName answers differ between connections");
          }
          break;
        }
        case Op::GetTile: {
          auto r = catalog->getTile(o.arg);
          if (r.id != o.arg || !r.provider) throw std::runtime_error("getTile returned another id or no provider");
          if (c == 0) sample = "{\"id\":" + jsonString(r.id) + ",\"name\":" + jsonString(r.info.name) + "}";
          break;
        }
        case Op::GetAuthenticator: {
          if (!main->getAuthenticator()) throw std::runtime_error("getAuthenticator returned a null proxy");
          if (c == 0) sample = "\"(a proxy)\"";
          break;
        }
        case Op::RefreshAuthorization: {
          auto token = auth->refreshAuthorization(st.users[0], o.arg2);
          if (token.empty()) throw std::runtime_error("refreshAuthorization returned an empty token");
          if (c == 0) sample = "\"(token of " + std::to_string(token.size()) + " bytes)\"";
          break;
        }
      }
      for (int k = 0; k < o.inflight; k++) {
        auto s = std::make_unique<Slot>();
        s->index = static_cast<int>(slots.size());
        s->auth = auth;
        s->catalog = catalog;
        s->main = main;
        s->latencyNs.reserve(1 << 16);
        slots.push_back(std::move(s));
      }
    }
    st.slots = static_cast<int>(slots.size());

    for (auto& s : slots) issue(s.get());
    std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));

    st.windowStart = nowNs();
    emit("{\"event\":\"measure-start\"}");
    const int64_t deadline = st.windowStart + static_cast<int64_t>(o.seconds * 1e9);
    while (!st.stop && nowNs() < deadline) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(50'000'000, std::max<int64_t>(0, deadline - nowNs()))));
    }
    st.windowEnd = nowNs();
    st.stop = true;
    emit("{\"event\":\"measure-end\"}");
    {
      std::unique_lock<std::mutex> lock(st.mutex);
      if (!st.allIdle.wait_for(lock, std::chrono::seconds(30), [&] { return st.idle.load() == st.slots; })) {
        if (st.firstError.empty()) st.firstError = "in-flight calls did not complete within 30 s";
      }
    }
    bool failed;
    {
      std::lock_guard<std::mutex> lock(st.mutex);
      failed = !st.firstError.empty();
    }
    emit(result(o, st, slots, sample));
    if (failed) std::_Exit(1);  // slots may still be referenced by stuck calls: do not destroy them
    return 0;
  } catch (const std::exception& e) {
    std::ostringstream out;
    out << "{\"calls\":0,\"errors\":1,\"error\":" << jsonString(e.what()) << "}";
    emit(out.str());
    return 1;
  }
}
