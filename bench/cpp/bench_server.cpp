// The C++ RPC bench server (bench/rpc.ts): the same logic as bench/rpcServer.ts (TypeScript) and
// bench/py/bench_server.py (Python), on Ice 3.7 C++11.
//   "auth"    Authenticator: isAuthorized(t) = lookup of t in a map of BENCH_TOKENS tokens
//             ("token-0" ... "token-999"); refreshAuthorization raises Unauthorized.
//   "catalog" MediaCatalog: getTilesByName(name, exact) = the ids of bench/data/titles.tsv whose
//             lower-cased name equals (exact) or contains the lower-cased name, in file order;
//             the other operations raise WrongMediaId / Unauthorized or return nothing.
// Usage: bench_server --titles FILE [--Ice.Prop=value ...]   (endpoints: --Bench.Endpoints,
// default "tcp -h 127.0.0.1 -p 0"; one server thread unless --Ice.ThreadPool.Server.Size=N).
// Prints {"event":"ready","endpoints":"tcp -h 127.0.0.1 -p N","pid":P} and stops on SIGTERM/SIGINT.
#include <Ice/Ice.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "iceflix.h"

namespace {

constexpr int BENCH_TOKENS = 1000;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Title {
  std::string id;
  std::string folded;
};

std::vector<Title> loadTitles(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::vector<Title> titles;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    titles.push_back({line.substr(0, tab), lower(line.substr(tab + 1))});
  }
  return titles;
}

class AuthI : public IceFlix::Authenticator {
 public:
  AuthI() {
    for (int i = 0; i < BENCH_TOKENS; i++) tokens_.emplace("token-" + std::to_string(i), "user-" + std::to_string(i % 10));
  }
  std::string refreshAuthorization(std::string, std::string, const Ice::Current&) override { throw IceFlix::Unauthorized(); }
  bool isAuthorized(std::string authentication, const Ice::Current&) override {
    return tokens_.find(authentication) != tokens_.end();
  }

 private:
  std::unordered_map<std::string, std::string> tokens_;
};

class CatalogI : public IceFlix::MediaCatalog {
 public:
  explicit CatalogI(std::vector<Title> titles) : titles_(std::move(titles)) {}
  IceFlix::Media getTile(std::string id, const Ice::Current&) override { throw IceFlix::WrongMediaId(id); }
  IceFlix::StringList getTilesByName(std::string name, bool exact, const Ice::Current&) override {
    const std::string q = lower(name);
    IceFlix::StringList ids;
    for (const auto& t : titles_) {
      if (exact ? t.folded == q : t.folded.find(q) != std::string::npos) ids.push_back(t.id);
    }
    return ids;
  }
  IceFlix::StringList getTilesByTags(IceFlix::StringList, bool, const Ice::Current&) override { return {}; }
  void renameTile(std::string, std::string, std::string, const Ice::Current&) override { throw IceFlix::Unauthorized(); }
  void addTags(std::string, IceFlix::StringList, std::string, const Ice::Current&) override { throw IceFlix::Unauthorized(); }
  void removeTags(std::string, IceFlix::StringList, std::string, const Ice::Current&) override { throw IceFlix::Unauthorized(); }

 private:
  const std::vector<Title> titles_;
};

}  // namespace

int main(int argc, char* argv[]) {
  try {
    Ice::CtrlCHandler ctrlC;  // before any thread: SIGINT/SIGTERM/SIGHUP go to the callback
    std::string titlesFile;
    std::vector<std::string> iceArgs;
    for (int i = 1; i < argc; i++) {
      std::string a = argv[i];
      if (a == "--titles" && i + 1 < argc) titlesFile = argv[++i];
      else iceArgs.push_back(a);
    }
    if (titlesFile.empty()) {
      std::cerr << "usage: bench_server --titles FILE [--Ice.Prop=value ...]" << std::endl;
      return 2;
    }
    Ice::InitializationData init;
    init.properties = Ice::createProperties(iceArgs);
    Ice::CommunicatorHolder ich(init);
    auto communicator = ich.communicator();
    ctrlC.setCallback([communicator](int) { communicator->shutdown(); });
    auto props = communicator->getProperties();
    auto endpoints = props->getPropertyWithDefault("Bench.Endpoints", "tcp -h 127.0.0.1 -p 0");
    auto adapter = communicator->createObjectAdapterWithEndpoints("BenchAdapter", endpoints);
    adapter->add(std::make_shared<AuthI>(), Ice::stringToIdentity("auth"));
    adapter->add(std::make_shared<CatalogI>(loadTitles(titlesFile)), Ice::stringToIdentity("catalog"));
    adapter->activate();
    // "tcp -h 127.0.0.1 -p N -t 60000" -> "tcp -h 127.0.0.1 -p N", like the other servers print.
    std::istringstream words(adapter->getEndpoints().at(0)->toString());
    std::string w, published;
    bool afterPort = false;
    while (words >> w) {
      published += (published.empty() ? "" : " ") + w;
      if (afterPort) break;
      afterPort = (w == "-p");
    }
    std::cout << "{\"event\":\"ready\",\"endpoints\":\"" << published << "\",\"pid\":" << getpid() << "}" << std::endl;
    communicator->waitForShutdown();
  } catch (const std::exception& e) {
    std::cerr << "bench_server: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
