// `aha cluster certs DIR [--days N]`: makes the cluster's TLS folder (ca.pem, cert.pem, key.pem;
// actors/cluster_tls.hpp) to copy to every host and name in cluster.tls_dir / `aha node --tls-dir`.
// Exit status: 0 written, 1 could not write (an existing file is never replaced), 2 usage.
#include <iostream>

#include "actors/cluster_tls.hpp"
#include "cli/command.hpp"

namespace {

constexpr const char* kUsage = "usage: aha cluster certs DIR [--days N]   (default 365 days)";

int cluster(aha::cli::arguments& args) {
  auto days_text = args.option("--days");
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("cluster", unknown);
  if (positional.size() != 2 || positional[0] != "certs") return aha::cli::usage_error("cluster", kUsage);
  int days = 365;
  if (days_text) {
    try {
      std::size_t used = 0;
      days = std::stoi(*days_text, &used);
      if (used != days_text->size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      return aha::cli::usage_error("cluster", "--days takes a whole number of days");
    }
  }
  const std::string dir = positional[1];
  if (auto s = aha::actors::tls::write_cluster_certs(dir, days); !s) {
    std::cerr << s.error().message << "\n";
    return 1;
  }
  if (auto check = aha::actors::tls::load_tls_dir(dir, dir); !check) {  // what a node will check, once
    std::cerr << "aha cluster certs: wrote " << dir << " but it does not check: " << check.error().message << "\n";
    return 1;
  }
  std::cout << "wrote " << dir << "/ca.pem, cert.pem and key.pem (valid " << days << " days)\n"
            << "copy the folder to every host (key.pem is the cluster's membership: keep it private), then\n"
            << "  controller: aha train CONFIG --set cluster.listen=IP:PORT --set cluster.tls_dir=" << dir << "\n"
            << "  each node:  aha node --join IP:PORT --secret-file FILE --tls-dir " << dir << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("cluster", "make the cluster's TLS certificates (aha cluster certs DIR)", cluster);
