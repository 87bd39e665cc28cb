// The cluster's TLS material: a folder (cluster.tls_dir) holding the cluster's certificate
// authority and one member certificate signed by it. Every connection between the controller and
// a node is then TLS (CAF's OpenSSL module), and each side must present a certificate the
// cluster's CA signed, so a peer without the folder never gets past the TLS handshake: it never
// sends a BASP frame (whose length CAF trusts before any authentication; STACK.md). The shared
// secret's challenge-response (cluster_auth.hpp) still runs inside the tunnel.
//
//   <dir>/ca.pem    the cluster's CA certificate (trusted by every member)
//   <dir>/cert.pem  the member certificate (signed by the CA), presented by every member
//   <dir>/key.pem   its private key (mode 0600)
//
// `aha cluster certs DIR` writes such a folder (write_cluster_certs); copy it to every host.
// Members share one certificate: holding the folder is membership, like holding the secret.
// Tested by actors/cluster_tls.test.cpp; used end to end by tests/cluster.test.cpp.
#pragma once

#include <filesystem>
#include <string>

#include "core/result.hpp"

namespace aha::actors::tls {

struct tls_files {
  std::string ca;           // <dir>/ca.pem
  std::string certificate;  // <dir>/cert.pem
  std::string key;          // <dir>/key.pem
};

// The folder's three files, checked the way a TLS handshake would use them: each exists and
// parses as PEM, the key belongs to the certificate, and the certificate is signed by the CA and
// valid today. Errors name the file and what is wrong with it (`where` names the setting).
result<tls_files> load_tls_dir(const std::filesystem::path& dir, const std::string& where);

// Writes a new CA (P-256, self-signed) and a member certificate signed by it into `dir` (created
// when missing; existing files are never overwritten). The CA's private key is not kept: a
// cluster that needs another member certificate makes a new folder for every host.
status write_cluster_certs(const std::filesystem::path& dir, int valid_days);

}  // namespace aha::actors::tls
